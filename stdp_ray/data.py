"""The MNIST data set on disk: its files, their checksums, loading a split.

:func:`load_mnist` reads one split (the raw IDX files or their ``.gz``
copies, through :func:`stdp_ray.idx.read_idx`) and checks shapes, counts and
labels; :func:`default_data_dir` says where the files are by default and
:func:`samples_fingerprint` names a selection of samples in manifests. The
file names and their published MD5 checksums are here; putting the files in
place is :mod:`stdp_ray.fetch`'s business, the IDX format :mod:`stdp_ray.idx`'s.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .idx import MnistFormatError, as_path, read_idx
from .network import NUM_CLASSES

__all__ = [
    "DATA_DIR_ENV",
    "FILE_NAMES",
    "IMAGE_SHAPE",
    "MNIST_FILES",
    "MNIST_MD5",
    "SPLITS",
    "check_checksums",
    "default_data_dir",
    "find_file",
    "load_mnist",
    "samples_fingerprint",
    "verify_real_mnist",
    "REAL_SHAPES",
    "VERIFIED_CACHE",
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

#: Environment variable overriding :func:`default_data_dir`.
DATA_DIR_ENV = "STDP_RAY_DATA"

#: Rows and columns of one MNIST image.
IMAGE_SHAPE: tuple[int, int] = (28, 28)


def check_checksums(checksums: object) -> dict[str, str]:
    """A checksum table for the four files: :data:`MNIST_MD5` if None, else checked.

    Raises
    ------
    TypeError, ValueError
        If ``checksums`` is not a mapping of each of :data:`FILE_NAMES` to a
        32-digit MD5 hex digest.
    """
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


def find_file(directory: Path, name: str) -> Path | None:
    """Return ``directory/name`` or ``directory/name.gz`` (raw preferred), or None."""
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
    image_path, label_path = _split_files(directory, split)
    images, labels = read_idx(image_path), read_idx(label_path)
    _check_split(images, labels, image_path, label_path)
    verify_real_mnist(image_path, images)
    verify_real_mnist(label_path, labels)
    n = images.shape[0]
    images = np.ascontiguousarray(images.reshape(n, IMAGE_SHAPE[0] * IMAGE_SHAPE[1]))
    labels = np.ascontiguousarray(labels)
    logger.info("loaded MNIST %s split from %s: %d images", split, directory, n)
    return images, labels



def _split_files(directory: str | os.PathLike[str], split: str) -> tuple[Path, Path]:
    """The image and label files of ``split`` in ``directory`` (raw, else ``.gz``)."""
    directory = as_path(directory, "directory")
    if not isinstance(split, str):
        raise TypeError(f"split must be a str, got {type(split).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split == {split!r}, must be one of {SPLITS}")
    names = MNIST_FILES[split]
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory {directory} does not exist. "
                                + _missing_message(directory, list(names.values())))
    found = {kind: find_file(directory, name) for kind, name in names.items()}
    missing = [names[kind] for kind, p in found.items() if p is None]
    if missing:
        raise FileNotFoundError(_missing_message(directory, missing))
    return found["images"], found["labels"]


def _check_split(images: np.ndarray, labels: np.ndarray, image_path: Path,
                 label_path: Path) -> None:
    """MnistFormatError unless ``images`` are n 28x28 images with n labels in 0..9."""
    if images.ndim != 3:
        raise MnistFormatError(f"{image_path}: magic 0x{0x0800 | images.ndim:08x} "
                               f"({images.ndim}-D), expected 0x00000803 (3-D unsigned-byte "
                               "images)")
    if images.shape[1:] != IMAGE_SHAPE:
        raise MnistFormatError(f"{image_path}: images are {images.shape[1]}x{images.shape[2]},"
                               f" must be {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}")
    if labels.ndim != 1:
        raise MnistFormatError(f"{label_path}: magic 0x{0x0800 | labels.ndim:08x} "
                               f"({labels.ndim}-D), expected 0x00000801 (1-D unsigned-byte "
                               "labels)")
    if images.shape[0] != labels.shape[0]:
        raise MnistFormatError(f"image/label count mismatch: {image_path} holds "
                               f"{images.shape[0]} images but {label_path} holds "
                               f"{labels.shape[0]} labels")
    if images.shape[0] == 0:
        raise MnistFormatError(f"{image_path}: images == 0, must be >= 1")
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise MnistFormatError(f"{label_path}: {bad.size} labels outside "
                               f"0..{NUM_CLASSES - 1}, first at index {bad[0]} with value "
                               f"{labels[bad[0]]}")


#: Shape of each real MNIST file's content: a file of that shape must have its MD5.
REAL_SHAPES: dict[str, tuple[int, ...]] = {
    "train-images-idx3-ubyte": (60_000, *IMAGE_SHAPE),
    "train-labels-idx1-ubyte": (60_000,),
    "t10k-images-idx3-ubyte": (10_000, *IMAGE_SHAPE),
    "t10k-labels-idx1-ubyte": (10_000,),
}

#: The cache of verified files in the data directory: name -> size, mtime, md5.
VERIFIED_CACHE = ".stdp_ray-verified.json"


def verify_real_mnist(path: Path, content: np.ndarray) -> None:
    """Check a loaded MNIST file against its published MD5 (:data:`MNIST_MD5`).

    The check applies to a file whose content has the real file's shape
    (:data:`REAL_SHAPES`: 60,000 or 10,000 images or labels): one that claims
    to be the real data set must be it, byte for byte. Smaller files (the
    tests' synthetic ones, a subset made on purpose) are not checked. The
    MD5 is taken of the content as decoded (the raw IDX bytes, also for a
    ``.gz`` file) and remembered by the file's size and modification time in
    :data:`VERIFIED_CACHE` beside it, so a rerun reads no byte twice; a file
    damaged later changes its size or mtime and is checked again (the cache
    guards against damage, not against someone who can write the directory).

    Raises
    ------
    MnistFormatError
        Naming the damaged file and both checksums.
    """
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if REAL_SHAPES.get(name) != content.shape:
        return
    st = path.stat()
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": MNIST_MD5[name]}
    cache_path = path.parent / VERIFIED_CACHE
    cache = _read_cache(cache_path)
    if cache.get(path.name) == key:
        return
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(int(0x0800 | content.ndim).to_bytes(4, "big"))
    for dim in content.shape:
        digest.update(int(dim).to_bytes(4, "big"))
    digest.update(np.ascontiguousarray(content).data)
    if digest.hexdigest() != MNIST_MD5[name]:
        raise MnistFormatError(
            f"{path}: damaged: MD5 of its content is {digest.hexdigest()}, the published "
            f"{name} has {MNIST_MD5[name]}; fetch it again (`stdp-ray data fetch`)")
    cache[path.name] = key
    try:
        from .atomic import atomic_write_json

        atomic_write_json(cache_path, cache)
    except OSError as exc:  # a read-only data directory: check again next time
        logger.debug("%s: not written (%s)", cache_path, exc)


def _read_cache(path: Path) -> dict:
    from .reading import ArtifactError, load_json

    try:
        return load_json(path)
    except (ArtifactError, OSError):
        return {}


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
