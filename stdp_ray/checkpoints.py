"""Training checkpoints read back: checked against the run, the newest intact one found.

A checkpoint (``RUN_DIR/train/checkpoints/ckpt-<samples>/``, written by
:meth:`stdp_ray.trainer.Trainer.checkpoint`) holds everything needed to
continue exactly: weights, theta, delays, the simulator's dynamic state and
the number of samples done, with the SHA-256 of its arrays in its
``state.json``. This module is the one check of a checkpoint, made by the
driver before training starts (:func:`check_resumable`) and by the trainer
that resumes (:func:`newest_usable_checkpoint`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from . import rundir
from .artifact import NETWORK_ARRAYS, network_shapes, validate_arrays
from .config import Config
from .errors import InputError
from .network import FrozenNetwork
from .reading import ArtifactError, load_npz, sha256_of

logger = logging.getLogger(__name__)

__all__ = ["Checkpoint", "read_checkpoint", "newest_usable_checkpoint", "check_resumable",
           "CHECKPOINT_FILES", "TrainingError", "ForeignCheckpointError"]


class TrainingError(InputError):
    """Training cannot go on as asked (checkpoints of another run, fewer samples...)."""


class ForeignCheckpointError(ArtifactError):
    """A checkpoint intact but of another run (seed or model configuration)."""


@dataclass(frozen=True)
class Checkpoint:
    """A training checkpoint read back: enough to continue exactly.

    Attributes
    ----------
    path : Path
        Its directory.
    samples_done : int
        Training samples done when it was taken.
    arrays : FrozenNetwork
        Weights, theta (mV) and delays (ms), checked against the configuration.
    dynamic : dict of str to ndarray or None
        The simulator's dynamic state (potentials, conductances, traces,
        network time); None where only the checkpoint's validity was asked.
    """

    path: Path
    samples_done: int
    arrays: FrozenNetwork
    dynamic: dict | None


def read_checkpoint(ckpt: str | os.PathLike, cfg: Config, seed: int, *,
                    dynamic: bool = True) -> Checkpoint:
    """Read a checkpoint and check that this run (``cfg``, ``seed``) can continue from it.

    The one check of a checkpoint, made by the driver before it starts
    training (:func:`check_resumable`) and by the trainer that resumes.

    Parameters
    ----------
    ckpt : path
        A checkpoint directory (see :func:`stdp_ray.rundir.latest_checkpoint`).
    cfg : Config
    seed : int
    dynamic : bool
        Also read the simulator's dynamic state.

    Raises
    ------
    ArtifactError
        If it belongs to another seed or model configuration, or a file is
        missing or malformed.
    """
    ckpt = Path(ckpt)
    info = rundir.read_checkpoint_state(ckpt)
    if info.seed != seed:
        raise ForeignCheckpointError(f"{ckpt}: checkpoint of seed {info.seed}, this run has seed {seed}")
    if info.model != cfg.model_hash():
        raise ForeignCheckpointError(f"{ckpt}: checkpoint of another model configuration "
                            f"({info.model} != {cfg.model_hash()})")
    for name, expected in (info.checksums or {}).items():
        if name not in CHECKPOINT_FILES:
            raise ArtifactError(f"{ckpt / rundir.CHECKPOINT_STATE}: checksum of unknown file "
                                f"{name!r}")
        found = sha256_of(ckpt / name)
        if found != expected:
            raise ArtifactError(f"{ckpt / name}: damaged (sha256 {found[:12]}..., "
                                f"{rundir.CHECKPOINT_STATE} records {expected[:12]}...)")
    path = ckpt / rundir.CHECKPOINT_ARRAYS
    raw = load_npz(path, NETWORK_ARRAYS, shapes=network_shapes(cfg))
    arrays = validate_arrays(FrozenNetwork(raw["weights"], raw["theta_mV"], raw["delays_ms"]),
                             cfg, str(path))
    # The simulator's state: neuron and synapse variables, none larger than the weights.
    state = load_npz(ckpt / rundir.CHECKPOINT_DYNAMIC, kinds="fiub",
                     max_elements=cfg.n_input * cfg.n_neurons) if dynamic else None
    return Checkpoint(ckpt, info.samples_done, arrays, state)


#: The files of a checkpoint whose SHA-256 its state.json records.
CHECKPOINT_FILES = (rundir.CHECKPOINT_ARRAYS, rundir.CHECKPOINT_DYNAMIC)


def newest_usable_checkpoint(train_dir: str | os.PathLike, cfg: Config, seed: int, *,
                             dynamic: bool = True) -> Checkpoint | None:
    """The newest checkpoint of ``train_dir`` that reads back intact, or None without one.

    A damaged checkpoint (a checksum that does not match, a malformed file,
    a ``state.json`` that is not valid JSON however it is damaged) is reported
    in one warning line naming the previous one, which is tried next; a
    checkpoint of another run (:class:`ForeignCheckpointError`) is never skipped.
    Where no earlier checkpoint remains, no warning promises one.

    Raises
    ------
    ArtifactError
        If checkpoints exist but none is intact (the newest one's error).
    ForeignCheckpointError
        If the newest checkpoint belongs to another seed or configuration.
    """
    found = rundir.checkpoint_dirs(rundir.checkpoints_dir(train_dir))
    first_error = None
    for older, ckpt in reversed(list(enumerate(found))):
        try:
            return read_checkpoint(ckpt, cfg, seed, dynamic=dynamic)
        except ForeignCheckpointError:
            raise
        except ArtifactError as exc:  # any damage, state.json's included (nested too deeply...)
            if older:
                logger.warning("checkpoint %s is damaged (%s); using the previous one, %s",
                               ckpt.name, exc, found[older - 1].name)
            elif first_error is not None:  # the newest one's error is raised: this one's is lost
                logger.warning("checkpoint %s is damaged (%s); no earlier checkpoint remains",
                               ckpt.name, exc)
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return None


def check_resumable(train_dir: str | os.PathLike, cfg: Config, seed: int, samples: int) -> int:
    """Check, in the driver, that ``train_dir``'s newest checkpoint can be continued to
    ``samples``; returns the samples it holds (0 without one).

    ``train_dir`` is ``RUN_DIR/train`` (:data:`stdp_ray.rundir.TRAIN_DIR`).
    """
    ckpt = newest_usable_checkpoint(train_dir, cfg, seed, dynamic=False)
    if ckpt is None:
        return 0
    done = ckpt.samples_done
    if done > samples:
        raise TrainingError(f"--samples == {samples}, but {Path(train_dir).parent} has already "
                            f"trained {done} samples; use a new run directory for fewer")
    return done


