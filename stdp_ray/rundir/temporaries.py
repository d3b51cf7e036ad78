"""What interrupted writes leave in a run directory, and the sweep that removes it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from . import legacy
from .. import atomic, confine
from .. import location
from ..location import as_path
from .layout import (CHECKPOINT_GLOB, CHECKPOINTS_DIR, MANIFESTS_DIR, NETWORK_DIR, RESPONSES_DIR,
                     TRAIN_DIR)

logger = logging.getLogger(__name__)

__all__ = ["TEMPORARY_GLOBS", "sweep_temporaries"]

#: What interrupted writes of a run's own steps leave (globs relative to the run
#: directory): network replacements and imports (atomic.atomic_directory), files
#: (atomic.atomic_file) and checkpoints (``.ckpt-<n>.<random>``, and those of older
#: versions, :data:`stdp_ray.rundir.legacy.CHECKPOINT_TEMPORARY_GLOB`). ``report/``
#: is left alone: reports are written without the lock.
TEMPORARY_GLOBS = (
    atomic.temporary_directory_glob(NETWORK_DIR),
    atomic.TEMPORARY_FILE_GLOB,
    f"{NETWORK_DIR}/{atomic.TEMPORARY_FILE_GLOB}",
    f"{TRAIN_DIR}/**/{atomic.TEMPORARY_FILE_GLOB}",
    f"{CHECKPOINTS_DIR}/{atomic.temporary_directory_glob(CHECKPOINT_GLOB)}",
    f"{CHECKPOINTS_DIR}/{legacy.CHECKPOINT_TEMPORARY_GLOB}",
    f"{RESPONSES_DIR}/**/{atomic.TEMPORARY_FILE_GLOB}",
    f"{MANIFESTS_DIR}/**/{atomic.TEMPORARY_FILE_GLOB}",
)


def _listed(run_dir: Path, pattern: str) -> Path:
    """The directory ``pattern`` lists below ``run_dir``: its components without a wildcard.

    Checked before it is listed (:func:`stdp_ray.confine.check`): no link is
    listed through; ``**`` itself never descends into one.
    """
    literal = []
    for part in pattern.split("/")[:-1]:
        if any(c in part for c in "*?["):
            break
        literal.append(part)
    return run_dir.joinpath(*literal)


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
        confine.check(old)
        os.replace(old, net)
        logger.warning("%s: restored %s from %s (a replacement was interrupted)", run_dir,
                       net.name, old.name)
    removed = []
    for pattern in TEMPORARY_GLOBS if recursive else (atomic.TEMPORARY_FILE_GLOB,):
        confine.check(_listed(run_dir, pattern))
        for path in sorted(run_dir.glob(pattern)):
            atomic.remove_path(path)
            removed.append(path)
    if removed:
        logger.info("%s: removed %d temporary file(s) of interrupted writes", run_dir,
                    len(removed))
    location.sweep_incomplete(run_dir, recursive=recursive)
    return removed
