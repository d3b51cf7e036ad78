"""Reading files a run or artifact directory holds, as data from whoever wrote them.

Every reader here opens a file without following a symbolic link
(:func:`open_regular`: neither the file itself nor, below a run directory's
root, any directory on its way, :func:`stdp_ray.confine.check`) and bounds what it reads: JSON up to
:data:`MAX_JSON_BYTES` (:func:`load_json`), ``.npz`` member by member with
each header (shape, dtype) checked before any data is read and no pickle ever
loaded (:func:`load_npz`). What is missing or malformed is an
:class:`ArtifactError` naming the file and what is wrong.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

from . import confine
from .errors import InputError

__all__ = ["ArtifactError", "open_regular", "load_json", "load_npz", "sha256_of",
           "MAX_JSON_BYTES"]

#: Largest JSON file read from an artifact or run directory.
MAX_JSON_BYTES = 16 * 2**20


class ArtifactError(InputError):
    """A network directory, checkpoint or run file is missing, malformed or incompatible."""


def open_regular(path: str | os.PathLike):
    """Open ``path`` for binary reading without following a symbolic link.

    Below a run directory's root, no directory on its way may be a link
    either (:func:`stdp_ray.confine.check`).

    Raises
    ------
    ArtifactError
        If it is missing, a symbolic link or not a regular file.
    LinkInsideError
        If a directory on its way below a run directory's root is a link.
    """
    path = Path(confine.check(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ArtifactError(f"{path}: is a symbolic link; refusing to follow it") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ArtifactError(f"{path}: is not a regular file")
    return os.fdopen(fd, "rb")


def load_npz(path: str | os.PathLike, required: tuple[str, ...] = (), *,
             shapes: Mapping[str, tuple[int, ...] | None] | None = None,
             max_elements: int | None = None, max_members: int = 64,
             kinds: str = "fiub") -> dict[str, np.ndarray]:
    """Load an ``.npz`` safely; ArtifactError names the file and what is wrong.

    The file is opened without following a symbolic link; each member's npy
    header (shape, dtype) is checked before any of its data is read, no pickle
    is ever loaded, and only the members asked for are read.

    Parameters
    ----------
    path : path
    required : tuple of str
        Members that must be present.
    shapes : mapping of str to tuple or None, optional
        The members to read and the shape each must have (None: any shape up
        to ``max_elements``). Given, only these members are read (others are
        ignored, unread); without it every member is read (at most
        ``max_members`` of them).
    max_elements : int, optional
        Most elements of a member whose shape is not fixed (default: no limit
        beyond the zip entry's stated size).
    max_members : int
        Most members read when ``shapes`` is not given.
    kinds : str
        The dtype kinds allowed (numpy ``dtype.kind`` letters).
    """
    path = Path(path)
    with open_regular(path) as fh:
        try:
            with zipfile.ZipFile(fh) as zf:
                entries = {name[:-4]: zf.getinfo(name) for name in zf.namelist()
                           if name.endswith(".npy")}
                missing = [k for k in required if k not in entries]
                if missing:
                    raise ArtifactError(f"{path}: missing arrays {missing} (has "
                                        f"{sorted(entries)[:20]})")
                if shapes is None:
                    if len(entries) > max_members:
                        raise ArtifactError(f"{path}: holds {len(entries)} arrays, at most "
                                            f"{max_members} expected")
                    wanted = {k: None for k in entries}
                else:
                    wanted = {k: v for k, v in shapes.items() if k in entries}
                return {k: _read_member(zf, entries[k], path, k, shape, max_elements, kinds)
                        for k, shape in wanted.items()}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile,
                NotImplementedError) as exc:
            if isinstance(exc, ArtifactError):
                raise
            raise ArtifactError(f"{path}: not a readable .npz file ({exc})") from exc


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, name: str,
                 shape: tuple[int, ...] | None, max_elements: int | None,
                 kinds: str) -> np.ndarray:
    """One npz member, its header checked before its data is read."""
    fmt = np.lib.format
    source = f"{path}: {name}"
    with zf.open(info) as fp:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            found, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            found, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ArtifactError(f"{source}: npy format version {version} not supported")
        if dtype.hasobject:
            raise ArtifactError(f"{path}: not a readable .npz file ({name} is an object "
                                "array, never loaded: allow_pickle=False)")
        if dtype.kind not in kinds or dtype.fields is not None:
            raise ArtifactError(f"{source} has dtype {dtype}, not allowed (kinds {kinds!r})")
        if shape is not None and tuple(found) != tuple(shape):
            raise ArtifactError(f"{source} has shape {tuple(found)}, must be {tuple(shape)}")
        count = int(np.prod(found, dtype=object))
        limit = int(np.prod(shape, dtype=object)) if shape is not None else max_elements
        if limit is not None and count > limit:
            raise ArtifactError(f"{source} has {count} elements (shape {tuple(found)}), at "
                                f"most {limit} expected")
        nbytes = count * dtype.itemsize
        if info.file_size < nbytes:
            raise ArtifactError(f"{source}: header claims {nbytes} bytes of data, the file "
                                f"holds {info.file_size}")
        data = fp.read(nbytes)
        if len(data) != nbytes:
            raise ArtifactError(f"{source}: truncated ({len(data)} of {nbytes} bytes)")
    arr = np.frombuffer(data, dtype=dtype)
    if fortran:
        return arr.reshape(found[::-1]).transpose().copy()
    return arr.reshape(found).copy()


def load_json(path: str | os.PathLike) -> dict:
    """Read a JSON object; ArtifactError names the file and what is wrong.

    The file is opened without following a symbolic link and read up to
    :data:`MAX_JSON_BYTES`.
    """
    path = Path(path)
    with open_regular(path) as fh:
        text = fh.read(MAX_JSON_BYTES + 1)
    if len(text) > MAX_JSON_BYTES:
        raise ArtifactError(f"{path}: larger than {MAX_JSON_BYTES} bytes")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a regular file (not followed through a link)."""
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
