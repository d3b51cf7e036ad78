"""Where an artifact came from: package versions, host, time and the code's commit."""

from __future__ import annotations

import datetime as _dt
import functools
import platform
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["git_commit", "provenance"]


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The checkout's commit (``-dirty`` if modified), or None outside a git checkout.

    Read once per process: a long training records the commit of the code it
    runs, not whatever the checkout moved to while it ran (processes that
    record provenance call this when they start).
    """
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout
        return rev + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(**extra: Any) -> dict:
    """Package versions, host and time, plus ``extra`` (seed, samples seen...)."""
    import brian2

    from . import __version__

    versions = {"stdp_ray": __version__, "brian2": brian2.__version__, "numpy": np.__version__,
                "python": platform.python_version()}
    try:
        import ray

        versions["ray"] = ray.__version__
    except ImportError:  # pragma: no cover - ray is a dependency
        pass
    info = {"versions": versions, "host": platform.node(), "commit": git_commit(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    info.update(extra)
    return info
