"""Names of the files and directories of a run directory, an ensemble root and a sweep root.

The layout itself is drawn in :mod:`stdp_ray.rundir`; this module names each
file (the constants) and builds each path (the functions), so that no other
module spells one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

from . import legacy
from .. import artifact, confine
from ..location import as_path

__all__ = [
    "RUN_CONFIG_FILE", "NETWORK_DIR", "TRAIN_DIR", "STATS_DIR", "CHECKPOINTS_DIR",
    "SNAPSHOTS_DIR", "CURVE_DIR", "CURVE_FILE", "CURVE_PNG", "SNAPSHOTS_PNG", "RESPONSES_DIR",
    "MANIFESTS_DIR", "ASSIGNMENTS_FILE", "PREDICTIONS_FILE", "METRICS_FILE", "PHASES",
    "REPORT_DIR", "REPORT_MD", "CONFUSION_PNG", "RECEPTIVE_FIELDS_PNG", "TRAINING_CURVES_PNG",
    "TRAINING_SUMMARY_CSV", "ENSEMBLE_PNG", "CHECKPOINT_STATE", "CHECKPOINT_ARRAYS",
    "CHECKPOINT_DYNAMIC", "CHECKPOINT_GLOB", "ENSEMBLE_FILE", "ENSEMBLE_METRICS_FILE",
    "ENSEMBLE_PREDICTIONS_FILE",
    "SWEEP_FILE", "SWEEP_SUMMARY_FILE", "SWEEP_PNG", "STOP_FILE",
    "phase_dir", "member_dir", "setting_text", "sweep_point_dir", "stats_dir", "stop_file",
    "checkpoints_dir", "checkpoint_name", "checkpoint_dirs", "latest_checkpoint",
    "snapshots_dir", "snapshot_name", "snapshot_dirs", "curve_point_dir", "curve_phase_dir",
    "derived_files",
]

RUN_CONFIG_FILE = "config.json"
NETWORK_DIR = "network"
#: Training's directory: its statistics and checkpoints live below it.
TRAIN_DIR = "train"
_STATS = "stats"
_CHECKPOINTS = "checkpoints"
_SNAPSHOTS = "snapshots"
STATS_DIR = f"{TRAIN_DIR}/{_STATS}"
CHECKPOINTS_DIR = f"{TRAIN_DIR}/{_CHECKPOINTS}"
#: Networks kept at fixed points of training (``--eval-every``), never pruned.
SNAPSHOTS_DIR = f"{TRAIN_DIR}/{_SNAPSHOTS}"
#: The learning curve: one evaluation per snapshot (:mod:`stdp_ray.curve`).
CURVE_DIR = "curve"
CURVE_FILE = "curve.parquet"
CURVE_PNG = "learning_curve.png"
SNAPSHOTS_PNG = "receptive_fields_over_training.png"
RESPONSES_DIR = "responses"
#: Per-phase records of what the parts were computed from, one per phase folder, beside
#: the folders (:func:`stdp_ray.rundir.manifests.manifest_path`).
MANIFESTS_DIR = "_manifests"
ASSIGNMENTS_FILE = "assignments.parquet"
PREDICTIONS_FILE = "predictions.parquet"
METRICS_FILE = "metrics.json"
#: The phases of evaluation, each with its directory of responses.
PHASES = ("observe", "test")

#: Reports (:mod:`stdp_ray.report`), of a run directory and of an ensemble root.
REPORT_DIR = "report"
REPORT_MD = "report.md"
CONFUSION_PNG = "confusion.png"
RECEPTIVE_FIELDS_PNG = "receptive_fields.png"
TRAINING_CURVES_PNG = "training_curves.png"
TRAINING_SUMMARY_CSV = "training_summary.csv"
ENSEMBLE_PNG = "ensemble_accuracy.png"

#: A checkpoint directory ``ckpt-<samples done>`` and its files.
_CHECKPOINT_PREFIX = "ckpt-"
#: Glob of the checkpoint directories in a checkpoints' directory.
CHECKPOINT_GLOB = f"{_CHECKPOINT_PREFIX}*"
#: A snapshot: a network directory (:func:`stdp_ray.artifact.save_network`)
#: ``snap-<samples done>``.
_SNAPSHOT_PREFIX = "snap-"
CHECKPOINT_STATE = "state.json"
CHECKPOINT_ARRAYS = "arrays.npz"
CHECKPOINT_DYNAMIC = "dynamic.npz"

#: An ensemble root: its settings mark the directory as an ensemble; its
#: metrics file has the run's name but the ensemble's keys.
ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_METRICS_FILE = METRICS_FILE
ENSEMBLE_PREDICTIONS_FILE = "ensemble_predictions.parquet"
#: Members are hive-named: ``seed=<seed>``.
_MEMBER_PREFIX = "seed="

# A sweep root.
SWEEP_FILE = "sweep.json"
SWEEP_SUMMARY_FILE = "sweep.parquet"
SWEEP_PNG = "sweep.png"

_CHECKPOINT_RE = re.compile(rf"{_CHECKPOINT_PREFIX}(\d+)")
_SNAPSHOT_RE = re.compile(rf"{_SNAPSHOT_PREFIX}(\d+)")


def phase_dir(run_dir: str | os.PathLike, phase: str) -> Path:
    """``RUN_DIR/responses/phase=<phase>``: the responses of observe or test."""
    if phase not in PHASES:
        raise ValueError(f"phase == {phase!r}, must be one of {PHASES}")
    return as_path(run_dir) / RESPONSES_DIR / f"phase={phase}"



def member_dir(root: str | os.PathLike, seed: int) -> Path:
    """The run directory of the ensemble member trained with ``seed``.

    ``ROOT/seed=<seed>`` (a hive partition: readers of the root recover the
    seed), or ``ROOT/seed-<seed>`` where an older version made that one and
    there is no ``seed=<seed>`` (:func:`stdp_ray.rundir.legacy.older_member_dir`).
    """
    current = as_path(root) / f"{_MEMBER_PREFIX}{int(seed)}"
    if not os.path.lexists(current):
        return legacy.older_member_dir(root, seed) or current
    return current


def setting_text(value: Any) -> str:
    """A setting's value as it appears in a directory name (``0.005``, ``400``, ``native``)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def sweep_point_dir(root: str | os.PathLike, point: Mapping[str, Any], seed: int) -> Path:
    """``ROOT/<field>=<value>/.../seed=<seed>``: the run directory of one point and seed.

    One directory level per swept field, in the grid's order, named as hive
    partitions (:func:`setting_text`).
    """
    path = as_path(root)
    for name, value in point.items():
        path = path / f"{name}={setting_text(value)}"
    return path / f"seed={int(seed)}"



def stats_dir(train_dir: str | os.PathLike) -> Path:
    """The training statistics' directory below ``train_dir`` (``RUN_DIR/train``)."""
    return as_path(train_dir) / _STATS


#: Written by the driver into ``RUN_DIR/train`` on an interrupt: the trainer
#: stops after its current sample (and checkpoints); removed by the driver.
STOP_FILE = ".stop"


def stop_file(train_dir: str | os.PathLike) -> Path:
    """The stop request of a training (``RUN_DIR/train/.stop``)."""
    return as_path(train_dir) / STOP_FILE


def checkpoints_dir(train_dir: str | os.PathLike) -> Path:
    """The checkpoints' directory below ``train_dir`` (``RUN_DIR/train``)."""
    return as_path(train_dir) / _CHECKPOINTS


def checkpoint_name(samples_done: int) -> str:
    """Directory name of the checkpoint taken after ``samples_done`` samples."""
    return f"{_CHECKPOINT_PREFIX}{samples_done:09d}"


def checkpoint_dirs(directory: str | os.PathLike, *, complete: bool = True) -> list[Path]:
    """The checkpoints in ``directory`` (a checkpoints' directory), oldest first.

    With ``complete`` only those that hold their state file (written last);
    otherwise every directory named as a checkpoint.
    """
    found = []
    for p in confine.check(as_path(directory)).glob(CHECKPOINT_GLOB):
        m = _CHECKPOINT_RE.fullmatch(p.name)
        if m and (not complete or (p / CHECKPOINT_STATE).is_file()):
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint in ``directory`` (a checkpoints' directory), or None."""
    found = checkpoint_dirs(directory)
    return found[-1] if found else None


def snapshots_dir(train_dir: str | os.PathLike) -> Path:
    """The snapshots' directory below ``train_dir`` (``RUN_DIR/train``)."""
    return as_path(train_dir) / _SNAPSHOTS


def snapshot_name(samples_done: int) -> str:
    """Directory name of the network snapshot taken after ``samples_done`` samples."""
    return f"{_SNAPSHOT_PREFIX}{samples_done:09d}"


def snapshot_dirs(train_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(samples done, directory)`` of every complete snapshot below ``train_dir``, in order.

    A snapshot is complete once it holds its ``network.json`` (written last,
    in a directory renamed into place).
    """
    found = []
    for p in confine.check(snapshots_dir(train_dir)).glob(f"{_SNAPSHOT_PREFIX}*"):
        m = _SNAPSHOT_RE.fullmatch(p.name)
        if m and not p.is_symlink() and (p / artifact.NETWORK_JSON).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)




def curve_point_dir(run_dir: str | os.PathLike, samples_seen: int) -> Path:
    """``RUN_DIR/curve/snap-<samples>``: the responses of one snapshot's evaluation."""
    return as_path(run_dir) / CURVE_DIR / snapshot_name(samples_seen)


def curve_phase_dir(run_dir: str | os.PathLike, samples_seen: int, phase: str,
                    n_samples: int) -> Path:
    """The responses of one snapshot to the first ``n_samples`` images of ``phase``'s split.

    ``curve/snap-<samples>/phase=<phase>/n=<n_samples>``: each set of images
    has its own directory, so asking for more label images later adds one
    instead of clashing with the manifest of another.
    """
    if phase not in PHASES:
        raise ValueError(f"phase == {phase!r}, must be one of {PHASES}")
    return curve_point_dir(run_dir, samples_seen) / f"phase={phase}" / f"n={int(n_samples)}"



_DERIVED = {"observe": (ASSIGNMENTS_FILE, PREDICTIONS_FILE, METRICS_FILE,
                        f"{NETWORK_DIR}/{artifact.ASSIGNMENTS_NPZ}"),
            "test": (PREDICTIONS_FILE, METRICS_FILE)}


def derived_files(run_dir: str | os.PathLike, phase: str) -> list[Path]:
    """The files computed from ``phase``'s responses: stale once those change."""
    return [as_path(run_dir) / name for name in _DERIVED[phase]]
