"""Names of older layouts, still read until :data:`READ_UNTIL`.

Run directories and ensemble roots written by earlier builds of stdp-ray 0.1
differ from the current layout (:mod:`stdp_ray.rundir.layout`) in three places:

- ensemble members are ``seed-<seed>/`` instead of ``seed=<seed>/``;
- a phase's manifest sits inside its folder (``responses/phase=test/_manifest.json``)
  or inside the dataset (``responses/_manifests/phase=test.json``) instead of
  beside it (``_manifests/responses/phase=test.json``);
- an interrupted checkpoint left ``train/checkpoints/.ckpt.<random>``.

The readers here find those; each logs once per directory that it read an
older layout and how to migrate it (``scripts/migrate_results.py``). Writers
always write the current layout: a phase's manifest moves out the next time a
command writes it. These readers are kept through the 0.1 releases and
removed in :data:`READ_UNTIL` (README, "Run directory and table schemas"); a
test fails once the package's version reaches it, as a reminder.

This module imports nothing of the current layout, so that the layout can
fall back on it.
"""

from __future__ import annotations

import logging
import os
from ..location import as_path
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["READ_UNTIL", "MEMBER_PREFIX", "MANIFEST_FILE", "CHECKPOINT_TEMPORARY_GLOB",
           "older_member_dir", "older_manifest_paths", "older_member_dirs"]

#: The first version that no longer reads the layouts named here.
READ_UNTIL = "0.2.0"

#: Ensemble members of older roots: ``seed-<seed>``.
MEMBER_PREFIX = "seed-"
#: A phase's manifest inside its folder.
MANIFEST_FILE = "_manifest.json"
#: The folder of manifests inside the dataset (``responses/_manifests/<folder>.json``).
_DATASET_MANIFESTS_DIR = "_manifests"
#: What an interrupted checkpoint write of older versions left (relative to the checkpoints).
CHECKPOINT_TEMPORARY_GLOB = ".ckpt.*"

_warned: set[str] = set()


def _note(path: Path, what: str) -> None:
    """Log once per ``path`` that an older layout was read there."""
    key = f"{what}:{path}"
    if key in _warned:
        return
    _warned.add(key)
    logger.warning("%s: %s of an older layout, read until stdp-ray %s; migrate with "
                   "`python scripts/migrate_results.py %s`", path, what, READ_UNTIL, path)


def older_member_dir(root: str | os.PathLike, seed: int) -> Path | None:
    """``ROOT/seed-<seed>`` if an older version made that member, else None."""
    path = as_path(root) / f"{MEMBER_PREFIX}{int(seed)}"
    if not path.is_dir():
        return None
    _note(as_path(root), f"member {path.name}")
    return path


def older_member_dirs(root: str | os.PathLike) -> list[Path]:
    """Every ``ROOT/seed-<n>`` directory (members of an older ensemble root)."""
    return sorted(p for p in as_path(root).glob(f"{MEMBER_PREFIX}*")
                  if p.is_dir() and p.name[len(MEMBER_PREFIX):].isdigit())


def older_manifest_paths(phase_path: str | os.PathLike) -> list[Path]:
    """Where older versions kept a phase's manifest: inside the folder, then in the dataset."""
    phase_path = as_path(phase_path)
    return [phase_path / MANIFEST_FILE,
            phase_path.parent / _DATASET_MANIFESTS_DIR / f"{phase_path.name}.json"]


def note_manifest(path: Path) -> None:
    """Log (once) that a phase's manifest was read from an older place."""
    _note(path, "phase manifest")
