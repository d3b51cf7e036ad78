"""Run directories that cannot reach outside themselves: no link below a root is followed.

A run directory (or an ensemble or sweep root, or the mirror of one on object
storage) is registered as a *root* when a command opens it
(:func:`add_root`: :func:`stdp_ray.location.open_location`,
:func:`~stdp_ray.location.read_location`, the run directory's lock, the
training actor). From then on every path of the package below a root is
checked before it is opened, created, written, listed or removed
(:func:`check`): each of its components below the root is looked at with
``lstat``, and a symbolic link among them is refused (:class:`LinkInsideError`,
exit status 2) instead of being followed. The root itself may be a link (the
user chose it), and so may anything above it.

The check is made by the package's few writers and readers, not by each
caller: :mod:`stdp_ray.atomic` (every file and directory written, every
removal), :func:`stdp_ray.reading.open_regular` (every file read, Parquet
included), :func:`make_dirs` (every directory created) and the listings of
:mod:`stdp_ray.rundir`. It protects against links a run directory holds (one
received from someone else, or tampered with); it does not guard against
another process replacing a component by a link while a command works (the
directory's lock keeps other stdp-ray processes out).

Roots are kept for the life of the process. A path below several roots (a
member below its ensemble root) is checked from the outermost one. This
module imports nothing of the package but its errors, so that every module
may use it.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from .errors import InputError

__all__ = ["LinkInsideError", "add_root", "root_of", "check", "make_dirs"]

_ROOTS: set[str] = set()
_LOCK = threading.Lock()


class LinkInsideError(InputError):
    """A symbolic link below a run directory's root, refused rather than followed (exit 2)."""


def add_root(path: str | os.PathLike) -> None:
    """Register ``path`` (a run directory, an ensemble or sweep root) as a root.

    Both its absolute path and, where it differs, the path with every link
    resolved are registered, so that a path derived from either is checked.
    """
    absolute = os.path.abspath(path)
    with _LOCK:
        _ROOTS.add(absolute)
        _ROOTS.add(os.path.realpath(absolute))


def root_of(path: str | os.PathLike) -> str | None:
    """The outermost registered root that ``path`` lies in (or is), or None."""
    absolute = os.path.abspath(path)
    found = None
    with _LOCK:
        roots = tuple(_ROOTS)
    for root in roots:
        inside = absolute == root or absolute.startswith(root.rstrip(os.sep) + os.sep)
        if inside and (found is None or len(root) < len(found)):
            found = root
    return found


def check(path: str | os.PathLike) -> Path:
    """``path`` as a Path, once no component of it below its root is a symbolic link.

    Components that do not exist (yet) end the check: nothing below them
    exists either. A path below no registered root is not checked.

    Raises
    ------
    LinkInsideError
        Naming the first component that is a link (and ``path`` where it lies
        further down).
    """
    result = path if isinstance(path, Path) else Path(path)
    root = root_of(path)
    if root is None:
        return result
    current = root
    for part in os.path.relpath(os.path.abspath(path), root).split(os.sep):
        if part in ("", "."):
            continue
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            break
        if stat.S_ISLNK(mode):
            below = "" if current == os.path.abspath(path) else f" (on the way to {path})"
            raise LinkInsideError(f"{current}: is a symbolic link inside the run directory "
                                  f"{root}{below}; refusing to follow it (replace it by what "
                                  "it points to, or remove it)")
    return result


def make_dirs(path: str | os.PathLike) -> Path:
    """Create the directory ``path`` and its missing parents, no link followed (:func:`check`).

    Returns ``path`` as given (a :class:`~stdp_ray.location.Location` stays one).
    """
    check(path)
    result = path if isinstance(path, Path) else Path(path)
    result.mkdir(parents=True, exist_ok=True)
    return result
