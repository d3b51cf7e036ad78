"""Node-local directories the package keeps outside any run directory.

One environment variable, :data:`CACHE_ENV`, moves all of them (a node whose
home directory is small or shared); otherwise they live under the user's
cache directory (``$XDG_CACHE_HOME/stdp_ray``, else ``~/.cache/stdp_ray``).
This module imports nothing of the package, so that any module may ask it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "user_cache_dir"]

#: The environment variable naming the node-local cache directory.
CACHE_ENV = "STDP_RAY_CACHE"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/stdp_ray``, else ``~/.cache/stdp_ray`` (:data:`CACHE_ENV` not read)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stdp_ray"
