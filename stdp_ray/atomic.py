"""Atomic writes: the only writers (and :func:`remove_path` the only remover) of run directories.

Files are written under a temporary name and renamed into place
(:func:`atomic_file`, :func:`atomic_write_bytes`, :func:`atomic_write_json`,
:func:`atomic_save_npz`), directories likewise (:func:`atomic_directory`), so a
reader never sees half a file or half an artifact. This module also names the
temporaries they leave when interrupted (:data:`TEMPORARY_FILE_GLOB`,
:func:`temporary_directory_glob`), so that sweeps match exactly what they write.

Every path is checked first (:func:`stdp_ray.confine.check`): below a run
directory's root no symbolic link is followed, for writing or removal.

Each writer takes the path it writes as given: a
:class:`~stdp_ray.location.Location` whose mirror is a remote directory has
each completed file uploaded, each directory artifact uploaded with its commit
marker last and each removal propagated, through that mirror
(:class:`~stdp_ray.mirrors.Mirror`). Any other path is local and nothing else
happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import confine
from .faults import fail_point
from .location import location_mirror
from .reading import ArtifactError, open_regular

__all__ = ["atomic_file", "atomic_directory", "atomic_write_bytes", "atomic_write_json",
           "atomic_save_npz", "remove_path", "copy_known_files", "publish_mode",
           "TEMPORARY_FILE_GLOB", "temporary_directory_glob", "replaced_directory"]

#: Glob of the temporary files :func:`atomic_file` leaves when a write is
#: interrupted (``.<name>.<random>.tmp``), for the sweeps that remove them.
TEMPORARY_FILE_GLOB = ".*.tmp"


def temporary_directory_glob(name: str) -> str:
    """Glob of what :func:`atomic_directory` leaves beside ``name`` when interrupted.

    Its temporary (``.<name>.<random>``) and the replaced directory
    (``.<name>.old``, see :func:`replaced_directory`); ``name`` may itself be
    a glob.
    """
    return f".{name}.*"


def replaced_directory(directory: str | os.PathLike) -> Path:
    """Where :func:`atomic_directory` moves an existing ``directory`` during its swap."""
    directory = Path(directory)
    return directory.with_name(f".{directory.name}.old")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, mode: int | None = None, durable: bool = False):
    """Open a temporary binary file beside ``path``; on success it replaces ``path``.

    The temporary is ``.<name>.<random>.tmp`` (:data:`TEMPORARY_FILE_GLOB`),
    fsynced before the rename. On any error it is removed and ``path`` is left
    as it was.

    Parameters
    ----------
    path : path
        The file to write; its parent directories are created.
    mode : int, optional
        Permission bits of the file (default ``0o666`` less the umask, as
        ``open`` gives).
    durable : bool
        Also fsync the directory after the rename (best effort), so that the
        rename itself survives a power loss.
    """
    mirror = location_mirror(path)
    path = Path(confine.check(path))
    confine.make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fail_point("disk-full", path.name)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is None:
            publish_mode(tmp)
        else:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise _naming(exc, path) from exc
    except BaseException:
        _unlink(tmp)
        raise
    if durable:
        _fsync_directory(path.parent)
    if mirror is not None:
        mirror.file_written(path)


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc``, or the same error naming ``path`` where it names no file (a failed write)."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


def _fsync_directory(directory: Path) -> None:
    """Best-effort fsync of a directory, so that a rename in it is durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(directory: str | os.PathLike):
    """Fill a temporary directory beside ``directory``; on success it replaces ``directory``.

    The temporary is ``.<name>.<random>``; an existing ``directory`` is first
    renamed to ``.<name>.old`` (:func:`replaced_directory`) and removed after
    the swap (the window between the two renames is what a run directory's
    sweep repairs); :func:`temporary_directory_glob` matches both. On any error
    the temporary is removed and ``directory`` is left as it was. The parent
    directory is fsynced after the renames, so that they survive a power loss.
    """
    mirror = location_mirror(directory)
    directory = Path(confine.check(directory))
    confine.make_dirs(directory.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        yield tmp
        publish_mode(tmp, directory=True)
        if directory.exists():
            old = replaced_directory(directory)
            remove_path(old)
            os.replace(directory, old)
            os.replace(tmp, directory)
            remove_path(old)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_directory(directory.parent)
    if mirror is not None:
        mirror.directory_written(directory)



def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    with atomic_file(path) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` through a temporary file and a rename."""
    with atomic_file(path) as fh:
        np.savez(fh, **arrays)
    return Path(path)


def copy_known_files(source: str | os.PathLike, dest: str | os.PathLike,
                     names: tuple[str, ...], required: tuple[str, ...] = ()) -> list[str]:
    """Copy the regular files ``names`` of ``source`` into ``dest``; nothing else.

    Links are refused, never followed; other files in ``source`` are ignored.
    Returns the names copied.

    Raises
    ------
    ArtifactError
        If a file of ``required`` is missing, or one of ``names`` is a link or
        not a regular file.
    """
    source, dest = Path(source), Path(confine.check(dest))
    copied = []
    for name in names:
        if not os.path.lexists(source / name):
            if name in required:
                raise ArtifactError(f"{source / name}: file not found")
            continue
        with open_regular(source / name) as src:
            try:
                with open(dest / name, "xb") as out:
                    shutil.copyfileobj(src, out)
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as exc:
                raise _naming(exc, dest / name) from exc
        copied.append(name)
    return copied


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_mode(path: str | os.PathLike, directory: bool = False) -> None:
    """Give a temporary file/dir (created private) the usual permissions before its rename."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def remove_path(path: str | os.PathLike) -> None:
    """Remove a file, link or directory tree; nothing if it does not exist.

    Below a run directory's root, a path with a link among its components
    (itself included) is refused (:func:`stdp_ray.confine.check`), never
    followed nor removed. Given a Location with a mirror, the removal reaches the store too
    (:meth:`stdp_ray.mirrors.Mirror.path_removed`).
    """
    mirror = location_mirror(path)
    path = Path(confine.check(path))
    directory = path.is_dir() and not path.is_symlink()
    if directory:
        shutil.rmtree(path, ignore_errors=True)
    else:
        _unlink(path)
    if mirror is not None:
        mirror.path_removed(path, directory)


def _unlink(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
