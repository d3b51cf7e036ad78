"""Test helpers built on the package: write IDX files atomically, verify MNIST checksums.

These served only the tests, so they live here rather than in
:mod:`stdp_ray.data`. :func:`write_idx` encodes with :func:`idx_helpers.idx_bytes`
(written independently of :mod:`stdp_ray.idx`) and writes through
:func:`stdp_ray.atomic.atomic_file`; :func:`verify_mnist` checks a directory
against a checksum table with the package's own lookup and MD5.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from idx_helpers import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, idx_bytes
from stdp_ray.data import FILE_NAMES, check_checksums, find_file
from stdp_ray.idx import as_path, md5_of
from stdp_ray.atomic import atomic_file

logger = logging.getLogger(__name__)

ALL_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write a ``uint8`` array as an IDX file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.  If it ends with ``.gz`` the file is gzip-compressed
        (deterministically: no timestamp or name in the gzip header).
        The parent directory must exist.
    array : numpy.ndarray
        ``uint8`` array with 1 to 255 dimensions, e.g. ``(n,)`` labels or
        ``(n, 28, 28)`` images.

    Returns
    -------
    pathlib.Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    TypeError
        If ``path`` is not path-like, ``array`` is not a numpy array, or its
        dtype is not ``uint8``.
    ValueError
        If ``array`` is 0-dimensional, has more than 255 dimensions or a
        dimension that does not fit in 32 bits.
    FileNotFoundError
        If the parent directory of ``path`` does not exist.
    """
    path = as_path(path, "path")
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{path}: array must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype != np.uint8:
        raise TypeError(f"{path}: array dtype is {array.dtype}, must be uint8")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"{path}: array.ndim == {array.ndim}, must be between 1 and 255")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"{path}: array shape {array.shape} has a dimension >= 2**32, "
                         "not representable in IDX")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: parent directory {path.parent} does not exist")
    content = idx_bytes(array)
    with atomic_file(path, durable=True) as fh:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
                gz.write(content)
        else:
            fh.write(content)
    return path


def verify_mnist(directory: str | os.PathLike[str], *,
                 checksums: Mapping[str, str] | None = None) -> dict[str, bool]:
    """Check the four MNIST files against their MD5 checksums.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the files (raw, or with ``.gz`` appended; a
        compressed file is checked on its decompressed content).
    checksums : mapping, optional
        ``{raw file name: md5 hex}``; defaults to :data:`stdp_ray.data.MNIST_MD5`.

    Returns
    -------
    dict of str to bool
        For each raw file name, ``True`` if the file exists and its content
        has the expected MD5.  Missing or unreadable files give ``False``.
    """
    directory = as_path(directory, "directory")
    table = check_checksums(checksums)
    result: dict[str, bool] = {}
    for name in FILE_NAMES:
        path = find_file(directory, name)
        if path is None:
            result[name] = False
            continue
        try:
            actual = md5_of(path)
        except (OSError, EOFError, zlib.error) as exc:
            logger.warning("verify: cannot read %s: %s", path, exc)
            result[name] = False
            continue
        result[name] = actual == table[name]
    return result


def md5_hex(path: Path) -> str:
    """MD5 of a file's content, decompressed if it is gzip (independent of the package)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return hashlib.md5(raw).hexdigest()


def checksums_of(directory: Path, gz: bool = False) -> dict[str, str]:
    """The checksum table of the four files in ``directory`` (``.gz`` copies if ``gz``)."""
    suffix = ".gz" if gz else ""
    return {name: md5_hex(directory / f"{name}{suffix}") for name in ALL_NAMES}


def leftovers(directory: Path) -> list[str]:
    """Temporary files a fetch or write may have left behind."""
    return sorted(p.name for p in directory.iterdir()
                  if p.name.startswith(".") or p.name.endswith(".part"))
