"""The IDX file format: reading and checking IDX files, and the MD5 of their content.

IDX is the format of the MNIST files: a 4-byte magic number (two zero bytes,
a data-type byte, the number of dimensions), one big-endian 32-bit size per
dimension, then the data. :func:`read_idx` parses the header from the magic
number and dimension count and checks the data against it, so that a defect
of the original script (Diehl & Cook's code), which skipped 4 of the 8 header
bytes of the label files and so shifted every label by one image, cannot
recur. Files may be gzip-compressed, whatever their suffix.

This module knows nothing of MNIST's splits or file names
(:mod:`stdp_ray.data`) nor of where the files come from (:mod:`stdp_ray.fetch`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from .errors import InputError

__all__ = ["MnistFormatError", "read_idx", "open_maybe_gzip", "md5_of", "md5_of_raw", "new_md5",
           "as_path", "GZIP_MAGIC", "READ_CHUNK"]

logger = logging.getLogger(__name__)

#: First two bytes of a gzip stream.
GZIP_MAGIC = b"\x1f\x8b"
#: Bytes read at a time from a file or stream.
READ_CHUNK = 1 << 20
_UBYTE = 0x08
_IDX_TYPES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short (int16)",
    0x0C: "int (int32)",
    0x0D: "float (float32)",
    0x0E: "double (float64)",
}


class MnistFormatError(InputError):
    """An IDX/MNIST file is malformed or inconsistent with its partner file."""


def as_path(value: object, name: str) -> Path:
    """``value`` as a Path; TypeError or ValueError naming argument ``name`` otherwise."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(value).__name__}")
    path = Path(value)
    if str(value) == "":
        raise ValueError(f"{name} is an empty string, must name a path")
    return path


def new_md5():  # noqa: ANN201 - hashlib's hash type is private
    """A fresh MD5 hash object (a checksum, not a security measure)."""
    return hashlib.md5(usedforsecurity=False)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


@contextlib.contextmanager
def open_maybe_gzip(path: Path) -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading, decompressing if it starts with 1f 8b."""
    if _is_gzip(path):
        with gzip.open(path, "rb") as fh:
            yield fh  # type: ignore[misc]
    else:
        with open(path, "rb") as fh:
            yield fh


def _read_upto(fh: IO[bytes], n: int) -> bytes:
    """Read up to ``n`` bytes, looping over short reads."""
    parts = []
    remaining = n
    while remaining > 0:
        chunk = fh.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _count_rest(fh: IO[bytes]) -> int:
    total = 0
    while chunk := fh.read(READ_CHUNK):
        total += len(chunk)
    return total


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file of unsigned bytes.

    Parameters
    ----------
    path : str or os.PathLike
        File to read.  Gzip compression is detected from the ``1f 8b`` magic
        bytes, whatever the file's suffix.

    Returns
    -------
    numpy.ndarray
        A writable, C-contiguous ``uint8`` array whose shape is the
        dimensions stored in the header.

    Raises
    ------
    TypeError
        If ``path`` is not a str or path-like.
    FileNotFoundError
        If ``path`` does not exist.
    MnistFormatError
        If the header is malformed (non-zero leading bytes, a data type other
        than unsigned byte ``0x08``, zero dimensions, a short header), if the
        data section is shorter or longer than the product of the dimensions,
        or if the gzip stream is corrupt.  The message names ``path``.
    """
    path = as_path(path, "path")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: IDX file not found")
    try:
        with open_maybe_gzip(path) as fh:
            dims = _read_header(fh, path)
            buf = _read_data(fh, path, dims)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise MnistFormatError(f"{path}: corrupt gzip stream ({exc})") from exc
    logger.debug("read %s: shape %s", path, dims)
    return np.frombuffer(buf, dtype=np.uint8).reshape(dims)


def _read_header(fh, path: Path) -> tuple[int, ...]:
    """The dimensions an IDX header of unsigned bytes declares (MnistFormatError otherwise)."""
    magic = _read_upto(fh, 4)
    if len(magic) < 4:
        raise MnistFormatError(f"{path}: header is {len(magic)} bytes, expected at least 4 "
                               "(magic number); file is truncated or empty")
    if magic[0] != 0 or magic[1] != 0:
        raise MnistFormatError(f"{path}: first two bytes are 0x{magic[0]:02x} "
                               f"0x{magic[1]:02x}, must be 0x00 0x00 (magic 0x{magic.hex()} "
                               "is not an IDX header)")
    type_code, ndim = magic[2], magic[3]
    if type_code != _UBYTE:
        kind = _IDX_TYPES.get(type_code, "unknown")
        raise MnistFormatError(f"{path}: data type byte is 0x{type_code:02x} ({kind}), must "
                               "be 0x08 (unsigned byte)")
    if ndim == 0:
        raise MnistFormatError(f"{path}: number of dimensions == 0, must be >= 1")
    dim_bytes = _read_upto(fh, 4 * ndim)
    if len(dim_bytes) < 4 * ndim:
        raise MnistFormatError(f"{path}: header declares {ndim} dimensions needing "
                               f"{4 * ndim} bytes of sizes, got {len(dim_bytes)}; file is "
                               "truncated")
    return tuple(int.from_bytes(dim_bytes[4 * i: 4 * i + 4], "big") for i in range(ndim))


def _read_data(fh, path: Path, dims: tuple[int, ...]) -> bytearray:
    """Exactly the product of ``dims`` bytes, the rest of the file (MnistFormatError otherwise).

    The buffer grows with the data actually present, so a corrupt header
    declaring huge dimensions cannot force a huge allocation.
    """
    expected = 1
    for d in dims:
        expected *= d
    buf = bytearray()
    while len(buf) < expected:
        chunk = fh.read(min(READ_CHUNK, expected - len(buf)))
        if not chunk:
            break
        buf += chunk
    shape = "x".join(map(str, dims))
    if len(buf) < expected:
        raise MnistFormatError(f"{path}: data section is {len(buf)} bytes, expected {expected} "
                               f"bytes for dimensions {shape}; file is truncated")
    extra = _count_rest(fh)
    if extra:
        raise MnistFormatError(f"{path}: data section is {expected + extra} bytes, expected "
                               f"{expected} bytes for dimensions {shape}; file has {extra} "
                               "trailing bytes")
    return buf


def md5_of(path: Path) -> str:
    """MD5 of the (decompressed, if gzip) content of ``path``."""
    digest = new_md5()
    with open_maybe_gzip(path) as fh:
        while chunk := fh.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def md5_of_raw(path: Path) -> str:
    """MD5 of the bytes of ``path`` as stored (no decompression)."""
    digest = new_md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
