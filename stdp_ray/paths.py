"""Node-local directories the package keeps outside any run directory.

One environment variable, :data:`CACHE_ENV`, moves all of them (a node whose
home directory is small or shared); otherwise they live under the user's
cache directory (``$XDG_CACHE_HOME/stdp_ray``, else ``~/.cache/stdp_ray``).
Either way :func:`cache_dir` is their one root and every one of them lies
inside it: ``standalone/`` (compiled standalone builds), ``native/`` and
``fast/`` (the kernels compiled by a checkout), ``cython-<flags>/`` (the
runtime engine's Cython cache), ``mirrors/`` (copies of run directories on
object storage).
This module imports nothing of the package, so that any module may ask it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "user_cache_dir", "cache_dir"]

#: The environment variable naming the node-local cache directory.
CACHE_ENV = "STDP_RAY_CACHE"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/stdp_ray``, else ``~/.cache/stdp_ray`` (:data:`CACHE_ENV` not read)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stdp_ray"


def cache_dir() -> Path:
    """The root of every node-local directory: ``$STDP_RAY_CACHE``, else :func:`user_cache_dir`."""
    root = os.environ.get(CACHE_ENV)
    return Path(root) if root else user_cache_dir()
