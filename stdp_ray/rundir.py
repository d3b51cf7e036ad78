"""The run directory and the ensemble root: every path, table and record in them.

This module is the one owner of their layout. Every other module reaches a
file of a run directory through the names, functions and records here; none
spells a file name of its own. It owns

- the names of files and directories (the constants below), part names
  (:func:`part_name`, :func:`part_paths`), checkpoint names
  (:func:`checkpoint_name`, :func:`latest_checkpoint`) and member directories
  (:func:`member_dir`) and where a phase's manifest sits (:func:`manifest_path`);
- which files are derived from a phase (:func:`derived_files`);
- the temporaries that interrupted writes leave and the sweep that removes
  them (:data:`TEMPORARY_GLOBS`, :func:`sweep_temporaries`);
- the Arrow schemas of its tables and every builder of them, and Parquet I/O
  (:func:`write_table`, :func:`read_table`, :func:`read_parts`);
- the typed records of its JSON files, each with one writer and one reader:
  :class:`RunRecord` (``config.json``), :class:`PhaseManifest`
  (``_manifests/responses/phase=<phase>.json``), :class:`RunMetrics` (a run's ``metrics.json``),
  :class:`EnsembleSettings` (``ensemble.json``), :class:`EnsembleMetrics` (an
  ensemble's ``metrics.json``) and :class:`CheckpointState` (a checkpoint's
  ``state.json``). Readers accept the files of older versions: a key they
  lack reads as None.

Layout of a run directory::

    RUN_DIR/
      config.json                     the run's configuration, seed, provenance
      network/                        the network artifact (see stdp_ray.artifact)
      train/stats/part-*.parquet      one row per training sample
      train/checkpoints/ckpt-*/       training checkpoints (state.json, arrays.npz, dynamic.npz)
      train/snapshots/snap-*/         networks kept every --eval-every samples (never pruned)
      curve/snap-*/phase=*/           responses of each snapshot (labels, then test)
      curve/curve.parquet             the learning curve: one row per snapshot and label set
      curve/learning_curve.png, curve/receptive_fields_over_training.png
      responses/phase=observe/part-*.parquet
      responses/phase=test/part-*.parquet
      _manifests/responses/phase=observe.json, phase=test.json   what the parts were computed from
      assignments.parquet             one row per excitatory neuron
      predictions.parquet             one row per test sample
      metrics.json                    accuracy, confusion matrix, timings
      report/                         figures, training_summary.csv, report.md
      .lock                           held by the process working on it (stdp_ray.locks)

Layout of an ensemble root::

    ROOT/
      ensemble.json                   Config, seeds, settings
      seed=1/ seed=2/ ...             run directories (train, observe, test), hive-named;
                                      older roots have seed-1/ ... (still read and resumed)
      ensemble_predictions.parquet    per test sample: label, both ensemble predictions
      metrics.json                    member accuracies, mean member, accuracy vs K
      report/                         ensemble_accuracy.png, report.md

Layout of a sweep root (one run directory per point and seed, named as hive
partitions so that readers recover the settings and the seed)::

    ROOT/
      sweep.json                      base Config, grid, seeds, sample counts
      nu_post=0.005/theta_plus_mV=0.03/seed=1/   a run directory
      ...
      sweep.parquet                   one row per point and seed: settings, accuracy, ...
      sweep.png                       accuracy against each swept setting

Datasets and manifests: a dataset folder (``responses/``, a phase's folder)
holds Parquet parts only, so that ``pyarrow.dataset``, duckdb and polars read
it as it is (hive partitioning recovers ``phase``; over an ensemble root also
``seed``). What a phase's parts were computed from sits outside the dataset,
in ``_manifests/<dataset>/<folder>.json`` beside it (:func:`manifest_path`).
Run directories written before held it inside the folder as
``_manifest.json``; it is still read there, and moved out the next time a
command writes the phase (:func:`read_manifest`, :func:`write_manifest`).

Part names: parts are ``part-<index>.parquet``, the index (the chunk of a
phase, the first sample of a stats part) written with 6 digits at least
(:func:`part_name`). Before this module owned them, training statistics were
named with 9 digits; every reader takes the index from the name, whatever its
width, and orders parts by it, so run directories of both kinds are read.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import artifact, atomic, location
from .config import Config, config_from_dict, config_to_dict
from .network import NUM_CLASSES
from .atomic import atomic_write_bytes, atomic_write_json
from .location import as_path
from .reading import ArtifactError, load_json

logger = logging.getLogger(__name__)

__all__ = [
    # names
    "RUN_CONFIG_FILE", "NETWORK_DIR", "TRAIN_DIR", "STATS_DIR", "CHECKPOINTS_DIR",
    "RESPONSES_DIR", "MANIFESTS_DIR", "LEGACY_MANIFEST_FILE", "ASSIGNMENTS_FILE",
    "PREDICTIONS_FILE", "METRICS_FILE",
    "REPORT_DIR", "REPORT_MD", "CONFUSION_PNG", "RECEPTIVE_FIELDS_PNG", "TRAINING_CURVES_PNG",
    "TRAINING_SUMMARY_CSV", "ENSEMBLE_PNG", "CHECKPOINT_STATE", "CHECKPOINT_ARRAYS",
    "CHECKPOINT_DYNAMIC", "ENSEMBLE_FILE", "ENSEMBLE_METRICS_FILE", "ENSEMBLE_PREDICTIONS_FILE",
    "PHASES", "SNAPSHOTS_DIR", "CURVE_DIR", "CURVE_FILE", "CURVE_PNG", "SNAPSHOTS_PNG",
    "TABLE_SCHEMA_VERSION", "COLUMN_UNITS", "table_metadata", "read_table_metadata",
    "SWEEP_FILE", "SWEEP_SUMMARY_FILE", "SWEEP_PNG", "sweep_point_dir", "setting_text",
    "read_sweep_summary",
    "SweepSettings", "write_sweep_settings", "read_sweep_settings", "sweep_summary_table",
    # paths
    "PART_GLOB", "phase_dir", "member_dir", "manifest_path", "stored_manifest_path",
    "remove_phase", "part_name", "part_index", "part_paths", "stats_dir",
    "checkpoints_dir", "checkpoint_name",
    "checkpoint_dirs", "latest_checkpoint", "derived_files", "snapshots_dir", "snapshot_name",
    "snapshot_dirs", "curve_point_dir", "curve_phase_dir",
    # temporaries
    "TEMPORARY_GLOBS", "sweep_temporaries",
    # tables
    "RESPONSES_SCHEMA", "TRAIN_STATS_SCHEMA", "ASSIGNMENTS_SCHEMA", "PREDICTIONS_SCHEMA",
    "ENSEMBLE_PREDICTIONS_SCHEMA", "responses_table", "train_stats_table", "assignments_table",
    "predictions_table", "ensemble_predictions_table", "counts_matrix", "write_table",
    "read_table", "read_parts",
    # records
    "RunRecord", "write_run_record", "read_run_record", "PhaseManifest", "write_manifest",
    "read_manifest", "RunMetrics", "write_metrics", "read_metrics", "EnsembleSettings",
    "write_ensemble_settings", "read_ensemble_settings", "EnsembleMember", "EnsembleMetrics",
    "write_ensemble_metrics", "read_ensemble_metrics", "CURVE_SCHEMA", "curve_table", "CheckpointState",
    "write_checkpoint_state", "read_checkpoint_state", "provenance_commit",
]

# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------
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
#: Per-phase records of what the parts were computed from (:class:`PhaseManifest`),
#: one per phase folder, beside the folders (:func:`manifest_path`).
MANIFESTS_DIR = "_manifests"
#: Where older versions kept a phase's manifest: inside its folder (still read).
LEGACY_MANIFEST_FILE = "_manifest.json"
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
#: Members are hive-named (``seed=<seed>``); roots of older versions used ``seed-<seed>``.
_MEMBER_PREFIX = "seed="
_LEGACY_MEMBER_PREFIX = "seed-"

# A sweep root.
SWEEP_FILE = "sweep.json"
SWEEP_SUMMARY_FILE = "sweep.parquet"
SWEEP_PNG = "sweep.png"

#: Glob of the parts of a partitioned table (:func:`part_name`).
PART_GLOB = "part-*.parquet"
_PART_RE = re.compile(r"part-(\d+)\.parquet")
_CHECKPOINT_RE = re.compile(rf"{_CHECKPOINT_PREFIX}(\d+)")
_SNAPSHOT_RE = re.compile(rf"{_SNAPSHOT_PREFIX}(\d+)")


# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------
def phase_dir(run_dir: str | os.PathLike, phase: str) -> Path:
    """``RUN_DIR/responses/phase=<phase>``: the responses of observe or test."""
    if phase not in PHASES:
        raise ValueError(f"phase == {phase!r}, must be one of {PHASES}")
    return as_path(run_dir) / RESPONSES_DIR / f"phase={phase}"


def member_dir(root: str | os.PathLike, seed: int) -> Path:
    """The run directory of the ensemble member trained with ``seed``.

    ``ROOT/seed=<seed>`` (a hive partition: readers of the root recover the
    seed), or ``ROOT/seed-<seed>`` where an older version made that one and
    there is no ``seed=<seed>``: such roots are read and resumed in place.
    """
    root = as_path(root)
    current = root / f"{_MEMBER_PREFIX}{int(seed)}"
    legacy = root / f"{_LEGACY_MEMBER_PREFIX}{int(seed)}"
    if not os.path.lexists(current) and legacy.is_dir():
        return legacy
    return current


def manifest_path(phase_path: str | os.PathLike) -> Path:
    """Where the manifest of a phase folder sits: outside its dataset, beside the dataset's root.

    ``RUN_DIR/responses/phase=test`` -> ``RUN_DIR/_manifests/responses/phase=test.json``:
    never inside ``responses/``, so that every dataset reader (polars too,
    which reads every file of a directory) finds only Parquet parts there.
    """
    phase_path = as_path(phase_path)
    dataset = phase_path.parent
    return dataset.parent / MANIFESTS_DIR / dataset.name / f"{phase_path.name}.json"


def remove_phase(phase_path: str | os.PathLike) -> None:
    """Remove a phase folder's parts and its manifest (wherever a version put it)."""
    phase_path = as_path(phase_path)
    for path in (manifest_path(phase_path), *_legacy_manifest_paths(phase_path)):
        atomic.remove_path(path)
    atomic.remove_path(phase_path)


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


def part_name(index: int) -> str:
    """File name of part ``index`` of a partitioned table (6 digits at least)."""
    return f"part-{index:06d}.parquet"


def part_index(path: str | os.PathLike) -> int | None:
    """The index in a part's file name (any number of digits), or None if it is no part."""
    m = _PART_RE.fullmatch(Path(path).name)
    return int(m.group(1)) if m else None


def part_paths(directory: str | os.PathLike) -> list[Path]:
    """The ``part-*.parquet`` files of a directory, in order of their index.

    Names of any width are read (older training statistics have 9 digits, see
    the module docstring); a name without an index sorts last, by name.
    """
    def key(p: Path):
        index = part_index(p)
        return (index is None, index or 0, p.name)

    return sorted(as_path(directory).glob(PART_GLOB), key=key)


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
    for p in as_path(directory).glob(f"{_CHECKPOINT_PREFIX}*"):
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
    for p in snapshots_dir(train_dir).glob(f"{_SNAPSHOT_PREFIX}*"):
        m = _SNAPSHOT_RE.fullmatch(p.name)
        if m and not p.is_symlink() and (p / artifact.NETWORK_JSON).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


#: Files computed from a phase's responses (and so from the network).
_DERIVED = {"observe": (ASSIGNMENTS_FILE, PREDICTIONS_FILE, METRICS_FILE,
                        f"{NETWORK_DIR}/{artifact.ASSIGNMENTS_NPZ}"),
            "test": (PREDICTIONS_FILE, METRICS_FILE)}


def derived_files(run_dir: str | os.PathLike, phase: str) -> list[Path]:
    """The files computed from ``phase``'s responses: stale once those change."""
    return [as_path(run_dir) / name for name in _DERIVED[phase]]


# --------------------------------------------------------------------------
# Temporaries of interrupted writes
# --------------------------------------------------------------------------
#: What interrupted writes of a run's own steps leave (globs relative to the run
#: directory): network replacements and imports (atomic.atomic_directory), files
#: (atomic.atomic_file) and checkpoints, today's (``.ckpt-<n>.<random>``) and
#: those of stdp-ray before rundir owned them (``.ckpt.<random>``). ``report/``
#: is left alone: reports are written without the lock.
TEMPORARY_GLOBS = (
    atomic.temporary_directory_glob(NETWORK_DIR),
    atomic.TEMPORARY_FILE_GLOB,
    f"{NETWORK_DIR}/{atomic.TEMPORARY_FILE_GLOB}",
    f"{TRAIN_DIR}/**/{atomic.TEMPORARY_FILE_GLOB}",
    f"{CHECKPOINTS_DIR}/{atomic.temporary_directory_glob(_CHECKPOINT_PREFIX + '*')}",
    f"{CHECKPOINTS_DIR}/.ckpt.*",
    f"{RESPONSES_DIR}/**/{atomic.TEMPORARY_FILE_GLOB}",
    f"{MANIFESTS_DIR}/**/{atomic.TEMPORARY_FILE_GLOB}",
)


def sweep_temporaries(run_dir: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Remove what interrupted writes left in ``run_dir``; returns what was removed.

    Call only while holding the directory's lock (a concurrent writer's
    temporaries would go too). A network replacement interrupted between its
    two renames left ``.network.old`` and no ``network/``: the old network is
    put back first. ``recursive=False`` looks at ``run_dir``'s own files only
    (an ensemble root, whose members have their own locks). A run directory on
    object storage also loses its interrupted uploads there (directory
    artifacts without their commit marker, :func:`stdp_ray.location.sweep_incomplete`).
    """
    run_dir = as_path(run_dir)
    net = run_dir / NETWORK_DIR
    old = atomic.replaced_directory(net)
    if recursive and old.is_dir() and not net.exists():
        os.replace(old, net)
        logger.warning("%s: restored %s from %s (a replacement was interrupted)", run_dir,
                       net.name, old.name)
    removed = []
    for pattern in TEMPORARY_GLOBS if recursive else (atomic.TEMPORARY_FILE_GLOB,):
        for path in sorted(run_dir.glob(pattern)):
            atomic.remove_path(path)
            removed.append(path)
    if removed:
        logger.info("%s: removed %d temporary file(s) of interrupted writes", run_dir,
                    len(removed))
    location.sweep_incomplete(run_dir, recursive=recursive)
    return removed


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------
#: One row per presented sample of observe or test.
RESPONSES_SCHEMA = pa.schema([
    pa.field("sample", pa.int64(), nullable=False),         # index in the split
    pa.field("label", pa.int8(), nullable=False),           # true class
    pa.field("counts", pa.list_(pa.int32()), nullable=False),  # spikes per exc neuron
    pa.field("total_spikes", pa.int32(), nullable=False),   # sum of counts
    pa.field("intensity", pa.float32(), nullable=False),    # intensity of the final presentation
    pa.field("presentations", pa.int16(), nullable=False),  # presentations needed (1 = first)
    pa.field("failed", pa.bool_(), nullable=False),         # still < min_spikes at max intensity
    pa.field("chunk", pa.int32(), nullable=False),          # chunk that simulated it
])

#: One row per training sample.
TRAIN_STATS_SCHEMA = pa.schema([
    pa.field("sample", pa.int64(), nullable=False),         # 0-based training step
    pa.field("image", pa.int64(), nullable=False),          # index of the training image
    pa.field("label", pa.int8(), nullable=False),
    pa.field("total_spikes", pa.int32(), nullable=False),   # response spikes (final presentation)
    pa.field("intensity", pa.float32(), nullable=False),
    pa.field("presentations", pa.int16(), nullable=False),
    pa.field("failed", pa.bool_(), nullable=False),
    pa.field("w_mean", pa.float64(), nullable=False),       # input weights after the sample
    pa.field("w_std", pa.float64(), nullable=False),
    pa.field("theta_mean_mV", pa.float64(), nullable=False),
    pa.field("theta_std_mV", pa.float64(), nullable=False),
    pa.field("seconds", pa.float64(), nullable=False),      # wall time of the sample
])

#: One row per excitatory neuron.
ASSIGNMENTS_SCHEMA = pa.schema([
    pa.field("neuron", pa.int32(), nullable=False),
    pa.field("assigned_class", pa.int8(), nullable=False),
    pa.field("class_rates", pa.list_(pa.float64(), NUM_CLASSES),
             nullable=False),  # mean response per class
])

#: One row per test sample.
PREDICTIONS_SCHEMA = pa.schema([
    pa.field("sample", pa.int64(), nullable=False),
    pa.field("label", pa.int8(), nullable=False),
    pa.field("predicted", pa.int8(), nullable=False),
    pa.field("correct", pa.bool_(), nullable=False),
    pa.field("scores", pa.list_(pa.float64(), NUM_CLASSES), nullable=False),  # per-class mean
])

#: One row per test sample of an ensemble (nullable fields: as written since the first
#: ensembles, so their files keep this schema).
ENSEMBLE_PREDICTIONS_SCHEMA = pa.schema([
    pa.field("sample", pa.int64()),
    pa.field("label", pa.int8()),
    pa.field("predicted_sum", pa.int8()),                   # by the sum of members' scores
    pa.field("predicted_vote", pa.int8()),                  # by majority vote
    pa.field("scores_sum", pa.list_(pa.float64(), NUM_CLASSES)),  # members' scores summed
])


#: One row per (snapshot, label set) of a learning curve (:mod:`stdp_ray.curve`).
CURVE_SCHEMA = pa.schema([
    pa.field("samples_seen", pa.int64(), nullable=False),   # training samples of the snapshot
    pa.field("epochs", pa.float64(), nullable=False),       # samples_seen / training images
    pa.field("label_samples", pa.int64(), nullable=False),  # training images labels came from
    pa.field("test_samples", pa.int64(), nullable=False),   # test images scored
    pa.field("accuracy", pa.float64(), nullable=False),     # fraction correct (0..1)
    pa.field("classes_covered", pa.int16(), nullable=False),  # classes assigned to >= 1 neuron
    pa.field("n_failed", pa.int64(), nullable=False),       # test samples < min_spikes at max
    pa.field("mean_spikes", pa.float64(), nullable=False),  # test response spikes per sample
    pa.field("mean_presentations", pa.float64(), nullable=False),  # per test sample
    pa.field("theta_mean_mV", pa.float64(), nullable=False),  # adaptive threshold, mean
    pa.field("network", pa.string(), nullable=False),       # network fingerprint
])


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


def curve_table(rows: list[Mapping[str, Any]]) -> pa.Table:
    """Build a :data:`CURVE_SCHEMA` table from rows (dicts of its columns), in curve order."""
    rows = sorted(rows, key=lambda r: (r["samples_seen"], r["label_samples"]))
    return pa.Table.from_pylist(list(rows), schema=CURVE_SCHEMA)


def responses_table(samples, labels, counts, intensities, presentations, failed,
                    chunk: int) -> pa.Table:
    """Build a :data:`RESPONSES_SCHEMA` table from per-sample arrays."""
    counts = np.asarray(counts, dtype=np.int32)
    n, width = counts.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    counts_col = pa.ListArray.from_arrays(pa.array(offsets), pa.array(counts.reshape(-1)))
    return pa.Table.from_arrays([
        pa.array(np.asarray(samples, dtype=np.int64)),
        pa.array(np.asarray(labels, dtype=np.int8)),
        counts_col,
        pa.array(counts.sum(axis=1).astype(np.int32)),
        pa.array(np.asarray(intensities, dtype=np.float32)),
        pa.array(np.asarray(presentations, dtype=np.int16)),
        pa.array(np.asarray(failed, dtype=bool)),
        pa.array(np.full(n, chunk, dtype=np.int32)),
    ], schema=RESPONSES_SCHEMA)


def train_stats_table(rows: list[Mapping[str, Any]]) -> pa.Table:
    """Build a :data:`TRAIN_STATS_SCHEMA` table from per-sample rows (dicts of its columns)."""
    return pa.Table.from_pylist(list(rows), schema=TRAIN_STATS_SCHEMA)


def assignments_table(assignments: np.ndarray, class_rates: np.ndarray) -> pa.Table:
    """Build the :data:`ASSIGNMENTS_SCHEMA` table (one row per neuron).

    Parameters
    ----------
    assignments : ndarray, (n_neurons,) int
    class_rates : ndarray, (10, n_neurons)
        Mean response (spikes per presentation) of each neuron to each class.
    """
    n = len(assignments)
    flat = pa.array(np.asarray(class_rates, dtype=np.float64).T.reshape(-1))
    return pa.Table.from_arrays([
        pa.array(np.arange(n, dtype=np.int32)),
        pa.array(np.asarray(assignments, dtype=np.int8)),
        pa.FixedSizeListArray.from_arrays(flat, NUM_CLASSES),
    ], schema=ASSIGNMENTS_SCHEMA)


def predictions_table(samples, labels, predicted, scores) -> pa.Table:
    """Build a :data:`PREDICTIONS_SCHEMA` table from arrays (``scores``: (n, 10))."""
    scores = np.asarray(scores, dtype=np.float64)
    flat = pa.array(scores.reshape(-1))
    return pa.Table.from_arrays([
        pa.array(np.asarray(samples, dtype=np.int64)),
        pa.array(np.asarray(labels, dtype=np.int8)),
        pa.array(np.asarray(predicted, dtype=np.int8)),
        pa.array(np.asarray(labels) == np.asarray(predicted)),
        pa.FixedSizeListArray.from_arrays(flat, NUM_CLASSES),
    ], schema=PREDICTIONS_SCHEMA)


def ensemble_predictions_table(samples, labels, predicted_sum, predicted_vote,
                               scores_sum) -> pa.Table:
    """Build an :data:`ENSEMBLE_PREDICTIONS_SCHEMA` table from arrays (``scores_sum``: (n, 10))."""
    return pa.Table.from_arrays([
        pa.array(np.asarray(samples), pa.int64()),
        pa.array(np.asarray(labels), pa.int8()),
        pa.array(np.asarray(predicted_sum), pa.int8()),
        pa.array(np.asarray(predicted_vote), pa.int8()),
        pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(scores_sum).reshape(-1)),
                                          NUM_CLASSES),
    ], schema=ENSEMBLE_PREDICTIONS_SCHEMA)


def counts_matrix(table: pa.Table) -> np.ndarray:
    """The ``counts`` list column as an (n_samples, n_neurons) int32 array."""
    col = table.column("counts").combine_chunks()
    if len(col) == 0:
        return np.zeros((0, 0), dtype=np.int32)
    flat = col.flatten().to_numpy(zero_copy_only=False)
    return flat.reshape(len(col), -1).astype(np.int32)


#: Version of the tables' layout, in every Parquet file's key-value metadata.
TABLE_SCHEMA_VERSION = 1

#: Unit of each column that has one (written into the metadata of the tables holding it).
COLUMN_UNITS = {
    "counts": "spikes", "total_spikes": "spikes", "presentations": "presentations",
    "intensity": "multiple of the base input rate (pixel / input_rate_divisor Hz)",
    "w_mean": "conductance jump (dimensionless)", "w_std": "conductance jump (dimensionless)",
    "theta_mean_mV": "mV", "theta_std_mV": "mV", "seconds": "s", "training_seconds": "s",
    "class_rates": "spikes per presentation", "scores": "spikes per presentation",
    "scores_sum": "spikes per presentation", "accuracy": "fraction (0..1)",
}

#: Key-value metadata keys (each prefixed ``stdp_ray.``).
_META_PREFIX = "stdp_ray."


def table_metadata(table: pa.Table, identity: Mapping[str, Any] | None = None) -> dict:
    """The key-value metadata written with ``table``: schema version, units, run identity.

    Keys: ``stdp_ray.schema_version``, ``stdp_ray.version`` (the package),
    ``stdp_ray.units`` (JSON: column -> unit, for the columns that have one) and
    each item of ``identity`` (e.g. ``seed``, ``network`` hash, ``config`` hash)
    as ``stdp_ray.<key>``; values are strings (JSON for non-strings).
    """
    import json

    from . import __version__

    units = {c: COLUMN_UNITS[c] for c in table.column_names if c in COLUMN_UNITS}
    meta = {"schema_version": str(TABLE_SCHEMA_VERSION), "version": __version__,
            "units": json.dumps(units, sort_keys=True)}
    for key, value in (identity or {}).items():
        meta[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return {f"{_META_PREFIX}{k}": v for k, v in meta.items()}


def read_table_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``stdp_ray.*`` key-value metadata of a Parquet file (prefix removed; {} if none)."""
    raw = pq.read_schema(path).metadata or {}
    return {k.decode()[len(_META_PREFIX):]: v.decode() for k, v in raw.items()
            if k.decode().startswith(_META_PREFIX)}


def write_table(path: str | os.PathLike, table: pa.Table,
                identity: Mapping[str, Any] | None = None) -> Path:
    """Write a Parquet file atomically, with :func:`table_metadata` (and ``identity``)."""
    buf = io.BytesIO()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           **table_metadata(table, identity)})
    pq.write_table(table, buf, compression="zstd")
    return atomic_write_bytes(path, buf.getvalue())


def read_table(path: str | os.PathLike, schema: pa.Schema | None = None) -> pa.Table:
    """Read one Parquet file, optionally checking its schema."""
    table = pq.read_table(path)
    if schema is not None and not table.schema.equals(schema, check_metadata=False):
        raise ValueError(f"{path}: schema {table.schema} differs from the expected {schema}")
    return table


def read_parts(directory: str | os.PathLike, schema: pa.Schema) -> pa.Table:
    """Concatenate the parts of a directory (:func:`part_paths`) in order of their index."""
    parts = part_paths(directory)
    if not parts:
        return schema.empty_table()
    return pa.concat_tables([read_table(p, schema) for p in parts])


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------
def _from_mapping(cls, raw: Mapping[str, Any], **overrides):
    """An instance of dataclass ``cls`` from ``raw``: missing keys None, unknown keys ignored."""
    values = {f.name: raw.get(f.name) for f in dataclasses.fields(cls)}
    values.update(overrides)
    return cls(**values)


def _to_dict(record) -> dict:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def provenance_commit(provenance: Mapping[str, Any] | None) -> str | None:
    """The commit a provenance record names, under its current or an older key.

    Current records hold ``commit``; older ones held ``git_commit`` or put it
    among the versions (``versions.commit``, ``versions.git``).
    """
    prov = provenance or {}
    versions = prov.get("versions") or {}
    for value in (prov.get("commit"), prov.get("git_commit"), versions.get("commit"),
                  versions.get("git")):
        if value is not None:
            return value
    return None


@dataclass(frozen=True)
class RunRecord:
    """``config.json``: what a run directory was created with.

    Attributes
    ----------
    config : Config
        The model and simulation settings.
    seed : int
        Seeds the initial network and every input spike train.
    provenance : dict
        Versions, host, commit and creation time (:func:`stdp_ray.provenance.provenance`)
        of the call that created the run; not compared.
    """

    config: Config
    seed: int
    provenance: dict = field(default_factory=dict, compare=False)


def write_run_record(run_dir: str | os.PathLike, record: RunRecord) -> Path:
    """Write ``RUN_DIR/config.json`` (atomically)."""
    return atomic_write_json(as_path(run_dir) / RUN_CONFIG_FILE,
                             {"config": config_to_dict(record.config), "seed": int(record.seed),
                              "provenance": dict(record.provenance)})


def read_run_record(run_dir: str | os.PathLike) -> RunRecord:
    """Read ``RUN_DIR/config.json``.

    Raises
    ------
    ArtifactError
        If the file is missing, not JSON, or not a valid run configuration.
    """
    path = as_path(run_dir) / RUN_CONFIG_FILE
    raw = load_json(path)
    try:
        return RunRecord(config_from_dict(raw.get("config"), source=str(path)),
                         int(raw["seed"]), raw.get("provenance") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: invalid run configuration ({exc})") from exc


@dataclass(frozen=True)
class PhaseManifest:
    """A phase's manifest (:func:`manifest_path`): what its parts were computed from.

    Parts are reused only while every field matches. Files written before a
    field existed read it as None (``data`` before stdp-ray 3e80d80).

    Attributes
    ----------
    phase : str
        "observe" or "test".
    seed : int
        The run's seed (keys the input spike trains).
    chunk_size : int
        Samples per chunk (part).
    n_samples : int
        Samples presented.
    first_sample : int
        Index in its split of the first sample presented.
    network : str
        Fingerprint of the network (:func:`stdp_ray.network.network_fingerprint`).
    model : str
        Hash of the model configuration (:meth:`stdp_ray.config.Config.model_hash`).
    data : str or None
        Fingerprint of the samples presented (:func:`stdp_ray.data.samples_fingerprint`).
    arithmetic : str or None
        None where the responses come from an exact engine (native, standalone,
        runtime: bit-identical, so interchangeable, as in every manifest before
        the fast engine), ``"fast"`` where from the fast engine (its responses
        differ in rounding: the parts of the two never mix).
    """

    phase: str | None = None
    seed: int | None = None
    chunk_size: int | None = None
    n_samples: int | None = None
    first_sample: int | None = None
    network: str | None = None
    model: str | None = None
    data: str | None = None
    arithmetic: str | None = None

    def diff(self, other: "PhaseManifest") -> dict[str, tuple[Any, Any]]:
        """``{field: (value here, value in other)}`` for each field that differs."""
        mine, theirs = _to_dict(self), _to_dict(other)
        return {k: (v, theirs[k]) for k, v in mine.items() if theirs[k] != v}


def write_manifest(phase_path: str | os.PathLike, manifest: PhaseManifest) -> Path:
    """Write a phase folder's manifest at :func:`manifest_path` (atomically).

    A manifest an older version left inside the folder is removed once the new
    one is in place (it moves out).
    """
    path = manifest_path(phase_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = _to_dict(manifest)
    if record["arithmetic"] is None:  # exact engines: the manifest of every earlier version
        del record["arithmetic"]
    written = atomic_write_json(path, record)
    for old in _legacy_manifest_paths(phase_path):
        if old.exists():
            atomic.remove_path(old)
    return written


def _legacy_manifest_paths(phase_path: str | os.PathLike) -> list[Path]:
    """Where earlier versions kept a phase's manifest: inside the folder
    (``_manifest.json``) and, briefly, in the dataset (``responses/_manifests/<folder>.json``)."""
    phase_path = as_path(phase_path)
    return [phase_path / LEGACY_MANIFEST_FILE,
            phase_path.parent / MANIFESTS_DIR / f"{phase_path.name}.json"]


def stored_manifest_path(phase_path: str | os.PathLike) -> Path | None:
    """The file a phase's manifest is read from: :func:`manifest_path`, else the
    older ``<folder>/_manifest.json``; None if there is neither."""
    for path in (manifest_path(phase_path), *_legacy_manifest_paths(phase_path)):
        if path.is_file():
            return path
    return None


def read_manifest(phase_path: str | os.PathLike) -> PhaseManifest | None:
    """A phase folder's manifest, or None if it has none.

    Read from :func:`manifest_path`, else from inside the folder
    (``_manifest.json``, where older versions wrote it).

    Raises
    ------
    ArtifactError
        If the file is not a JSON object.
    """
    path = stored_manifest_path(phase_path)
    if path is None:
        return None
    return _from_mapping(PhaseManifest, load_json(path))


@dataclass(frozen=True)
class RunMetrics:
    """A run's ``metrics.json``: the test result and how it was computed.

    Files of older versions may lack any field but ``confusion_matrix``; it
    then reads as None.

    Attributes
    ----------
    confusion_matrix : list of list of int
        (10, 10) counts, rows true class, columns predicted class.
    accuracy : float
        Fraction of test samples predicted right (0 to 1).
    n_samples : int
        Test samples.
    n_failed : int
        Test samples still under ``min_spikes`` at ``max_intensity``.
    mean_presentations : float
        Presentations per test sample (1 = first).
    mean_spikes : float
        Response spikes per test sample (final presentation).
    wall_seconds : float
        Wall time of the test call, in seconds.
    simulate_seconds : float
        Wall time of the simulation of the test phase, in seconds.
    chunks, chunks_computed : int
        Chunks of the phase; chunks simulated by this call (the rest were on disk).
    chunk_size : int
        Samples per chunk.
    workers : int
        Most chunks in flight at once.
    nodes : int
        Ray nodes that simulated chunks.
    chunk_nodes : dict of str to str
        Ray node id that simulated each chunk computed by this call.
    backend : str
        Simulation engine.
    seed : int
        The run's seed.
    network : str
        Fingerprint of the tested network.
    n_neurons : int
        Excitatory neurons.
    training_samples : int or None
        Samples the network was trained on.
    observe_samples : int or None
        Samples of the label assignment (observe phase).
    provenance : dict
        Versions, host, commit and time of the test call; see :func:`provenance_commit`.
    """

    confusion_matrix: list
    accuracy: float | None = None
    n_samples: int | None = None
    n_failed: int | None = None
    mean_presentations: float | None = None
    mean_spikes: float | None = None
    wall_seconds: float | None = None
    simulate_seconds: float | None = None
    chunks: int | None = None
    chunks_computed: int | None = None
    chunk_size: int | None = None
    workers: int | None = None
    nodes: int | None = None
    chunk_nodes: dict | None = None
    backend: str | None = None
    seed: int | None = None
    network: str | None = None
    n_neurons: int | None = None
    training_samples: int | None = None
    observe_samples: int | None = None
    provenance: dict | None = None

    def to_dict(self) -> dict:
        """The record as its JSON object."""
        return _to_dict(self)


def write_metrics(run_dir: str | os.PathLike, metrics: RunMetrics) -> Path:
    """Write ``RUN_DIR/metrics.json`` (atomically)."""
    return atomic_write_json(as_path(run_dir) / METRICS_FILE, metrics.to_dict())


def read_metrics(run_dir: str | os.PathLike) -> RunMetrics | None:
    """``RUN_DIR/metrics.json``, or None if the run has not been tested.

    Raises
    ------
    ArtifactError
        If the file is not a JSON object or has no ``confusion_matrix``.
    """
    path = as_path(run_dir) / METRICS_FILE
    if not path.is_file():
        return None
    raw = load_json(path)
    if "confusion_matrix" not in raw:
        raise ArtifactError(f"{path}: has no 'confusion_matrix'")
    return _from_mapping(RunMetrics, raw)


@dataclass(frozen=True)
class EnsembleSettings:
    """``ensemble.json``: what an ensemble root was created with (it marks the root).

    Attributes
    ----------
    config : Config or None
        The members' configuration (None in a hand-written file without one).
    seeds : list of int
        One member per seed, in member order (as stored: checked by the caller).
    samples : int or None
        Training samples per member.
    observe_samples, test_samples : int or None
        Samples of each member's observe and test phases (None: all).
    """

    config: Config | None
    seeds: Any
    samples: int | None = None
    observe_samples: int | None = None
    test_samples: int | None = None


def write_ensemble_settings(root: str | os.PathLike, settings: EnsembleSettings) -> Path:
    """Write ``ROOT/ensemble.json`` (atomically)."""
    record = _to_dict(settings)
    record["config"] = config_to_dict(settings.config)
    return atomic_write_json(as_path(root) / ENSEMBLE_FILE, record)


def read_ensemble_settings(root: str | os.PathLike) -> EnsembleSettings:
    """Read ``ROOT/ensemble.json``.

    Raises
    ------
    ArtifactError
        If it is missing, not a JSON object, or holds an invalid configuration.
    """
    path = as_path(root) / ENSEMBLE_FILE
    raw = load_json(path)
    config = None
    if raw.get("config") is not None:
        try:
            config = config_from_dict(raw["config"], source=str(path))
        except (TypeError, ValueError) as exc:
            raise ArtifactError(str(exc)) from exc
    return _from_mapping(EnsembleSettings, raw, config=config)


@dataclass(frozen=True)
class EnsembleMember:
    """One member of an ensemble's metrics.

    Attributes
    ----------
    seed : int
    accuracy : float
        The member's test accuracy (0 to 1).
    run_dir : str
        Its run directory: absolute, else relative to the root.
    training_samples : int or None
        Samples it was trained on.
    """

    seed: int
    accuracy: float
    run_dir: str
    training_samples: int | None = None


@dataclass(frozen=True)
class EnsembleMetrics:
    """An ensemble root's ``metrics.json``: members alone and combined, against K.

    The file starts with ``accuracy``, that of all members combined by summed
    class scores (``ensemble_accuracy_sum``), as a run's ``metrics.json`` does.

    "K" takes the first K members in seed order. Files of older versions may
    lack any field but ``members``, ``k``, ``accuracy_sum`` and
    ``accuracy_vote``; it then reads as None.

    Attributes
    ----------
    members : list of EnsembleMember
        At least one, in member order.
    k : list of int
        Ensemble sizes 1..K.
    accuracy_sum, accuracy_vote : list of float
        Accuracy (0 to 1) of the first K members combined by summed class
        scores and by majority vote, one per entry of ``k``.
    mean_member_accuracy : float or None
    ensemble_accuracy_sum, ensemble_accuracy_vote : float or None
        Accuracy of all members combined.
    n_samples : int or None
        Test samples.
    n_neurons : int or None
        Excitatory neurons per member.
    samples : int or None
        Training samples per member.
    observe_samples : int or None
        Samples of each member's label assignment.
    provenance : dict or None
        Versions, host, commit and time of the call that combined them.
    """

    members: list
    k: list
    accuracy_sum: list
    accuracy_vote: list
    mean_member_accuracy: float | None = None
    ensemble_accuracy_sum: float | None = None
    ensemble_accuracy_vote: float | None = None
    n_samples: int | None = None
    n_neurons: int | None = None
    samples: int | None = None
    observe_samples: int | None = None
    provenance: dict | None = None

    def to_dict(self) -> dict:
        """The record as its JSON object."""
        record = _to_dict(self)
        record["members"] = [_to_dict(m) for m in self.members]
        # The headline, as in a run's metrics.json: all members, summed class scores.
        accuracy = self.ensemble_accuracy_sum if self.ensemble_accuracy_sum is not None \
            else (self.accuracy_sum[-1] if self.accuracy_sum else None)
        return {"accuracy": accuracy, **record}


def write_ensemble_metrics(root: str | os.PathLike, metrics: EnsembleMetrics) -> Path:
    """Write ``ROOT/metrics.json`` (atomically)."""
    return atomic_write_json(as_path(root) / ENSEMBLE_METRICS_FILE, metrics.to_dict())


def read_ensemble_metrics(root: str | os.PathLike) -> EnsembleMetrics | None:
    """``ROOT/metrics.json``, or None if the ensemble is unfinished.

    Raises
    ------
    ValueError
        If it is not a JSON object (:class:`~stdp_ray.reading.ArtifactError`),
        lacks a required key, has no members, a member without ``seed``,
        ``accuracy`` and ``run_dir``, or lists of K of unequal lengths; the
        message names the file.
    """
    path = as_path(root) / ENSEMBLE_METRICS_FILE
    if not path.is_file():
        return None
    raw = load_json(path)
    missing = [k for k in ("members", "k", "accuracy_sum", "accuracy_vote") if k not in raw]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    members = raw["members"]
    if not isinstance(members, list) or not members:
        raise ValueError(f"{path}: 'members' must be a non-empty list")
    for i, mem in enumerate(members):
        if not isinstance(mem, dict) or not {"seed", "accuracy", "run_dir"} <= set(mem):
            raise ValueError(f"{path}: members[{i}] must be an object with 'seed', "
                             "'accuracy' and 'run_dir'")
    for key in ("k", "accuracy_sum", "accuracy_vote"):
        if not isinstance(raw[key], list):
            raise ValueError(f"{path}: '{key}' must be a list")
    if not len(raw["k"]) == len(raw["accuracy_sum"]) == len(raw["accuracy_vote"]):
        raise ValueError(f"{path}: 'k', 'accuracy_sum' and 'accuracy_vote' must have the same "
                         f"length, got {len(raw['k'])}, {len(raw['accuracy_sum'])}, "
                         f"{len(raw['accuracy_vote'])}")
    return _from_mapping(EnsembleMetrics, raw,
                         members=[_from_mapping(EnsembleMember, m) for m in members])


@dataclass(frozen=True)
class CheckpointState:
    """A training checkpoint's ``state.json``: where training stands and what it belongs to.

    Attributes
    ----------
    samples_done : int
        Training samples done when it was taken.
    seed : int or None
        The run's seed.
    model : str or None
        Hash of the model configuration (:meth:`stdp_ray.config.Config.model_hash`).
    config : dict or None
        The configuration, serialised (:func:`stdp_ray.config.config_to_dict`).
    checksums : dict or None
        SHA-256 of the checkpoint's other files (:data:`CHECKPOINT_ARRAYS`,
        :data:`CHECKPOINT_DYNAMIC`), by file name; None in checkpoints of
        older versions.
    node : str or None
        The Ray node whose training actor wrote it (None outside Ray and in
        checkpoints of older versions).
    """

    samples_done: int
    seed: int | None = None
    model: str | None = None
    config: dict | None = None
    checksums: dict | None = None
    node: str | None = None


def write_checkpoint_state(checkpoint: str | os.PathLike, record: CheckpointState) -> Path:
    """Write a checkpoint directory's ``state.json`` (atomically)."""
    return atomic_write_json(as_path(checkpoint) / CHECKPOINT_STATE, _to_dict(record))


def read_checkpoint_state(checkpoint: str | os.PathLike) -> CheckpointState:
    """Read a checkpoint directory's ``state.json``.

    Raises
    ------
    ArtifactError
        If it is missing, not a JSON object, or has no integer ``samples_done``.
    """
    path = as_path(checkpoint) / CHECKPOINT_STATE
    raw = load_json(path)
    try:
        done = int(raw.get("samples_done", 0))
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: samples_done == {raw.get('samples_done')!r}, must be "
                            "an integer") from exc
    sums = raw.get("checksums")
    if sums is not None and not (isinstance(sums, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in sums.items())):
        raise ArtifactError(f"{path}: checksums must map file names to hex digests")
    return _from_mapping(CheckpointState, raw, samples_done=done)


@dataclass(frozen=True)
class SweepSettings:
    """``sweep.json``: what a sweep root was created with (it marks the root).

    Attributes
    ----------
    config : Config
        The base configuration; each point replaces the swept fields.
    grid : dict
        ``{field: [values]}`` in the order given; the points are their product.
    seeds : list of int
        Each point is trained once per seed.
    samples : int
        Training samples of every run.
    observe_samples, test_samples : int or None
        Samples of each run's observe and test phases (None: all).
    """

    config: Config
    grid: dict
    seeds: list
    samples: int
    observe_samples: int | None = None
    test_samples: int | None = None


def write_sweep_settings(root: str | os.PathLike, settings: SweepSettings) -> Path:
    """Write ``ROOT/sweep.json`` (atomically)."""
    record = _to_dict(settings)
    record["config"] = config_to_dict(settings.config)
    record["grid"] = {k: list(v) for k, v in settings.grid.items()}
    return atomic_write_json(as_path(root) / SWEEP_FILE, record)


def read_sweep_settings(root: str | os.PathLike) -> SweepSettings:
    """Read ``ROOT/sweep.json``.

    Raises
    ------
    ArtifactError
        If it is missing, not a JSON object, or holds an invalid configuration.
    """
    path = as_path(root) / SWEEP_FILE
    raw = load_json(path)
    try:
        config = config_from_dict(raw["config"], source=str(path))
        grid = {str(k): list(v) for k, v in dict(raw["grid"]).items()}
        return _from_mapping(SweepSettings, raw, config=config, grid=grid,
                             seeds=[int(x) for x in raw["seeds"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: invalid sweep settings ({exc})") from exc


#: The columns of ``sweep.parquet`` after the swept settings (one column each, typed as
#: the Config field).
SWEEP_SUMMARY_COLUMNS = pa.schema([
    ("seed", pa.int64()),
    ("accuracy", pa.float64()),
    ("n_samples", pa.int64()),
    ("n_failed", pa.int64()),
    ("train_failed", pa.int64()),
    ("training_samples", pa.int64()),
    ("training_seconds", pa.float64()),
    ("run_dir", pa.string()),
])

_SETTING_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(),
                  "float | None": pa.float64()}


def sweep_summary_table(rows: list[Mapping[str, Any]], grid_fields: list[str]) -> pa.Table:
    """``sweep.parquet``: one row per point and seed.

    Columns: ``point`` (its directory, e.g. ``nu_post=0.005/theta_plus_mV=0.03``),
    each swept field (typed as in :class:`~stdp_ray.config.Config`), then
    :data:`SWEEP_SUMMARY_COLUMNS`: ``seed``, ``accuracy`` (test), ``n_samples``
    (test samples), ``n_failed`` (test samples still under ``min_spikes`` at
    ``max_intensity``), ``train_failed`` (the same in training),
    ``training_samples``, ``training_seconds`` (sum of the per-sample times) and
    ``run_dir`` (relative to the root).
    """
    types = {f.name: _SETTING_TYPES[str(f.type)] for f in dataclasses.fields(Config)}
    schema = pa.schema([("point", pa.string())]
                       + [(name, types[name]) for name in grid_fields]
                       + list(SWEEP_SUMMARY_COLUMNS))
    return pa.Table.from_pylist([dict(r) for r in rows], schema=schema)


def read_sweep_summary(root: str | os.PathLike, grid_fields: list[str]) -> pa.Table:
    """Read ``ROOT/sweep.parquet``, checking its columns against the sweep's fields.

    Parameters
    ----------
    root : path
        The sweep's directory.
    grid_fields : list of str
        The swept settings (``sweep.json``'s grid), in order.

    Returns
    -------
    pyarrow.Table
        As :func:`sweep_summary_table` writes it.

    Raises
    ------
    ArtifactError
        If it is missing, not Parquet, or has other columns or types.
    """
    path = as_path(root) / SWEEP_SUMMARY_FILE
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (the sweep has not finished a run yet)")
    expected = sweep_summary_table([], grid_fields).schema
    try:
        return read_table(path, expected)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: not a sweep summary ({str(exc).splitlines()[0]})") from exc
