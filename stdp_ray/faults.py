"""Fault injection: the one seam through which tests reach into production code.

Production code marks a few named points (:data:`POINTS`) with
:func:`crash_point` or :func:`pause_point`. A point does nothing unless its
environment variable names a file that holds the point's token, which only a
test sets (before Ray starts the workers that inherit it): so these calls cost
one dictionary lookup in normal runs, and no other module reads the variables.

- :func:`crash_point`: the process that reaches the point with the matching
  token deletes the file and exits at once, as a crash would; the next
  attempt (Ray's retry or restart) finds no file and carries on.
- :func:`pause_point`: every process that reaches the point waits there
  until the test removes the file (so that it can kill a node at a known
  point of a training).
- :func:`fail_point`: every process that reaches the point raises the
  ``OSError`` of a full disk (``ENOSPC``) until the test removes the file.

A test arms a point with :func:`arm`: the environment variable to set, and
the token written into the file.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["POINTS", "crash_point", "pause_point", "fail_point", "arm", "env_var"]

#: Every fault point: its name, the environment variable naming its file, and its token's form.
POINTS: dict[str, tuple[str, str]] = {
    # evaluation: the Ray task of chunk N exits (its retry must write chunk N once)
    "chunk": ("STDP_RAY_FAULT_FILE", "chunk {}"),
    # training: the training actor exits before sample K (Ray restarts it from a checkpoint)
    "train-sample": ("STDP_RAY_TRAIN_FAULT_FILE", "sample {}"),
    # training: the training actor waits before sample K (a test kills its node meanwhile)
    "train-pause": ("STDP_RAY_TRAIN_PAUSE_FILE", "sample {}"),
    # sweeps: the driver exits after run K of a sweep (a rerun resumes it)
    "sweep-run": ("STDP_RAY_SWEEP_FAULT_FILE", "run {}"),
    # atomic writes: writing a file of this name fails as on a full disk (ENOSPC)
    "disk-full": ("STDP_RAY_DISK_FULL_FILE", "write {}"),
}


def env_var(point: str) -> str:
    """The environment variable of ``point`` (KeyError naming the known points)."""
    try:
        return POINTS[point][0]
    except KeyError:
        raise KeyError(f"fault point {point!r} unknown, must be one of {sorted(POINTS)}") \
            from None


def arm(point: str, path: str | os.PathLike, at: int | str) -> dict[str, str]:
    """Write ``point``'s token for ``at`` into ``path``; returns the environment to set."""
    Path(path).write_text(POINTS[point][1].format(at))
    return {env_var(point): str(path)}


def _armed(point: str, at: int | str) -> tuple[Path, str] | None:
    """The file and token of ``point`` if this process's environment arms it at ``at``."""
    variable, form = POINTS[point]
    path = os.environ.get(variable)
    if not path:
        return None
    token = form.format(at)
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return (Path(path), token) if text == token else None


def crash_point(point: str, at: int) -> None:
    """Exit this process if ``point`` is armed at ``at`` (deleting its file first)."""
    armed = _armed(point, at)
    if armed is None:
        return
    os.unlink(armed[0])
    logger.warning("fault injection: process %d exits at %s", os.getpid(), armed[1])
    os._exit(1)


def pause_point(point: str, at: int, poll: float = 0.1) -> None:
    """Wait while ``point`` is armed at ``at`` (the test removes the file)."""
    armed = _armed(point, at)
    if armed is None:
        return
    logger.warning("fault injection: process %d waits at %s", os.getpid(), armed[1])
    while _armed(point, at) is not None:
        time.sleep(poll)


def fail_point(point: str, at: int | str) -> None:
    """Raise the ``OSError`` of a full disk (``ENOSPC``) if ``point`` is armed at ``at``."""
    if _armed(point, at) is not None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
