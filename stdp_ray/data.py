"""The data sets of the MNIST format on disk: their files, their checksums, loading a split.

:func:`load_mnist` reads one split (the raw IDX files or their ``.gz``
copies, through :func:`stdp_ray.idx.read_idx`) and checks shapes, counts and
labels; :func:`default_data_dir` says where the files are by default and
:func:`samples_fingerprint` names a selection of samples in manifests. The
known data sets (:data:`DATASETS`: MNIST, Fashion-MNIST, KMNIST) share the
file names and sizes and differ in their published MD5 checksums, which are
here; any other directory of IDX files of that shape is read unverified
(``--no-verify``). :func:`data_record` is what a run records of the files it
used. Putting the files in place is :mod:`stdp_ray.fetch`'s business, the IDX
format :mod:`stdp_ray.idx`'s.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .idx import MnistFormatError, as_path, md5_of_raw, read_idx
from .network import NUM_CLASSES

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "DATA_DIR_ENV",
    "Dataset",
    "DatasetError",
    "check_dataset",
    "data_record",
    "dataset_of",
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



class DatasetError(InputError):
    """A data set that is unknown, or not the one a run was made with."""


@dataclass(frozen=True)
class Dataset:
    """One published data set of the MNIST format: the same four file names and sizes.

    Attributes
    ----------
    name : str
        What ``--dataset`` calls it.
    title : str
        Its name in reports.
    raw_md5 : dict or None
        Published MD5 of each file's raw (decompressed) content; None where
        only the ``.gz`` files' checksums are published.
    gz_md5 : dict or None
        Published MD5 of each ``<name>.gz`` file as distributed.
    url : str
        Where its four ``.gz`` files are published (a base URL).
    """

    name: str
    title: str
    raw_md5: dict[str, str] | None
    gz_md5: dict[str, str] | None
    url: str


#: The data set of a run that records none (every run made before data sets could be chosen).
DEFAULT_DATASET = "mnist"

#: The known data sets by their ``--dataset`` name.
DATASETS: dict[str, Dataset] = {
    "mnist": Dataset("mnist", "MNIST", MNIST_MD5, None, "https://yann.lecun.com/exdb/mnist/"),
    # Zalando's README (github.com/zalandoresearch/fashion-mnist, "Get the Data") publishes
    # the MD5 of the four .gz files only.
    "fashion-mnist": Dataset("fashion-mnist", "Fashion-MNIST", None, {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    }, "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    # KMNIST's README (github.com/rois-codh/kmnist) publishes no checksum; these are the
    # MD5s of its four .gz files as torchvision's datasets.KMNIST lists them (the
    # checksums every KMNIST download through torchvision is checked against).
    "kmnist": Dataset("kmnist", "Kuzushiji-MNIST", None, {
        "train-images-idx3-ubyte": "bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte": "e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte": "5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte": "7320c461ea6c1c855c0b718fb2a4b134",
    }, "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
}


def check_dataset(name: object, verify: bool = True) -> str:
    """``name`` if it is a data set that can be read as asked, else DatasetError naming ``--dataset``.

    A known name (:data:`DATASETS`) is always accepted; any other name only
    with ``verify=False`` (a directory of IDX files of one's own: there is no
    published checksum to check it against).
    """
    if not isinstance(name, str) or not name.strip():
        raise DatasetError(f"--dataset == {name!r}, must be a non-empty name")
    if name in DATASETS or not verify:
        return name
    import difflib

    close = difflib.get_close_matches(name, list(DATASETS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise DatasetError(f"--dataset {name!r} unknown: {hint}must be one of "
                       f"{', '.join(DATASETS)}, or any name with --no-verify and --data-dir "
                       "for a directory of other IDX files")


def dataset_of(record: Mapping | None) -> str:
    """The data set a run's data record names (:data:`DEFAULT_DATASET` where it names none)."""
    name = (record or {}).get("dataset")
    return name if isinstance(name, str) and name else DEFAULT_DATASET


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


def find_file(directory: Path, name: str, prefer_gz: bool = False) -> Path | None:
    """Return ``directory/name`` or ``directory/name.gz`` (raw preferred unless
    ``prefer_gz``), or None."""
    candidates = (directory / name, directory / f"{name}.gz")
    for candidate in (candidates[::-1] if prefer_gz else candidates):
        if candidate.is_file():
            return candidate
    return None


def _missing_message(directory: Path, names: list[str], dataset: str = DEFAULT_DATASET) -> str:
    wanted = ", ".join(f"{n} (or {n}.gz)" for n in names)
    if dataset == DEFAULT_DATASET:
        return (
            f"MNIST files missing in {directory}: expected {wanted}. "
            f"Run `stdp-ray data fetch` to download them, or set ${DATA_DIR_ENV} to a directory holding them."
        )
    known = DATASETS.get(dataset)
    where = (f"download them from {known.url} (`stdp-ray data fetch --dataset {dataset}` "
             "says how)" if known else "put them there")
    return (f"{known.title if known else dataset} files missing in {directory}: expected "
            f"{wanted}; {where}, or give --data-dir")


def load_mnist(directory: str | os.PathLike[str], split: str, *,
               dataset: str = DEFAULT_DATASET,
               verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of a data set of the MNIST format with full validation.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the raw IDX files, or the same names with ``.gz``
        appended (the raw file wins if both exist).
    split : {"train", "test"}
        Which split to load.
    dataset : str, default "mnist"
        The data set the files must be (:data:`DATASETS`): a file of the real
        data set's shape is checked against its published MD5. Another name
        needs ``verify=False``.
    verify : bool, default True
        Whether to check the files against the data set's published MD5s.

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
    DatasetError
        If ``dataset`` is unknown and ``verify`` is True.
    MnistFormatError
        If a file is malformed, the images are not 3-D 28x28 (magic
        ``0x00000803``), the labels are not 1-D (magic ``0x00000801``), the
        image and label counts differ, a split is empty, or a label is
        outside 0..9, or a file of the real shape does not have its published
        MD5 (or has none published in the form it is in: a decompressed
        Fashion-MNIST or KMNIST file, whose ``.gz`` alone has a published MD5).
    """
    check_dataset(dataset, verify)
    known = DATASETS.get(dataset) if verify else None
    image_path, label_path = _split_files(directory, split, dataset,
                                          prefer_gz=known is not None and known.raw_md5 is None)
    images, labels = read_idx(image_path), read_idx(label_path)
    _check_split(images, labels, image_path, label_path)
    if known is not None:
        verify_real_mnist(image_path, images, known)
        verify_real_mnist(label_path, labels, known)
    n = images.shape[0]
    images = np.ascontiguousarray(images.reshape(n, IMAGE_SHAPE[0] * IMAGE_SHAPE[1]))
    labels = np.ascontiguousarray(labels)
    logger.info("loaded %s %s split from %s: %d images%s", dataset, split, directory, n,
                "" if verify else " (not verified)")
    return images, labels


def data_record(directory: str | os.PathLike[str], splits: tuple[str, ...], *,
                dataset: str = DEFAULT_DATASET, verify: bool = True) -> dict:
    """What a run records of the data it used: the data set and each file's MD5.

    Parameters
    ----------
    directory : str or os.PathLike
        The data directory the splits were read from.
    splits : tuple of str
        The splits used (the files of others are not read).
    dataset, verify
        As given to :func:`load_mnist`.

    Returns
    -------
    dict
        ``{"dataset": name, "verified": bool, "files": {file name: md5}}``,
        the file name as found (``.gz`` included) and the MD5 of its bytes as
        stored (the form the published checksums take).
    """
    directory = as_path(directory, "directory")
    known = DATASETS.get(dataset) if verify else None
    files = {}
    for split in splits:
        for path in _split_files(directory, split, dataset,
                                 prefer_gz=known is not None and known.raw_md5 is None):
            files[path.name] = md5_of_raw(path)
    return {"dataset": dataset, "verified": bool(verify and dataset in DATASETS),
            "files": files}



def _split_files(directory: str | os.PathLike[str], split: str,
                 dataset: str = DEFAULT_DATASET, prefer_gz: bool = False) -> tuple[Path, Path]:
    """The image and label files of ``split`` in ``directory`` (raw, else ``.gz``; the
    other way round with ``prefer_gz``)."""
    directory = as_path(directory, "directory")
    if not isinstance(split, str):
        raise TypeError(f"split must be a str, got {type(split).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split == {split!r}, must be one of {SPLITS}")
    names = MNIST_FILES[split]
    if not directory.is_dir():
        raise FileNotFoundError(f"data directory {directory} does not exist. "
                                + _missing_message(directory, list(names.values()), dataset))
    found = {kind: find_file(directory, name, prefer_gz) for kind, name in names.items()}
    missing = [names[kind] for kind, p in found.items() if p is None]
    if missing:
        raise FileNotFoundError(_missing_message(directory, missing, dataset))
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


def verify_real_mnist(path: Path, content: np.ndarray, dataset: Dataset | None = None) -> None:
    """Check a loaded file against its data set's published MD5 (MNIST's by default).

    The check applies to a file whose content has the real file's shape
    (:data:`REAL_SHAPES`: 60,000 or 10,000 images or labels): one that claims
    to be the real data set must be it, byte for byte. Smaller files (the
    tests' synthetic ones, a subset made on purpose) are not checked. Where
    the data set publishes the MD5 of the raw content (MNIST) it is taken of
    the content as decoded (also for a ``.gz`` file); where it publishes only
    the ``.gz`` files' (Fashion-MNIST, KMNIST) it is taken of the ``.gz`` file
    as stored, and a decompressed file cannot be checked (refused: keep the
    ``.gz`` or pass ``--no-verify``). The result is remembered by the file's
    size and modification time in :data:`VERIFIED_CACHE` beside it, so a
    rerun reads no byte twice; a file damaged later changes its size or mtime
    and is checked again (the cache guards against damage, not against
    someone who can write the directory).

    Raises
    ------
    MnistFormatError
        Naming the damaged file and both checksums.
    """
    dataset = dataset or DATASETS[DEFAULT_DATASET]
    gz = path.name.endswith(".gz")
    name = path.name[:-3] if gz else path.name
    if REAL_SHAPES.get(name) != content.shape:
        return
    if dataset.raw_md5 is not None:
        expected = dataset.raw_md5[name]
    elif gz and dataset.gz_md5 is not None:
        expected = dataset.gz_md5[name]
    else:
        raise MnistFormatError(
            f"{path}: cannot be checked: {dataset.title} publishes the MD5 of {name}.gz only; "
            f"keep {name}.gz as published, or pass --no-verify")
    st = path.stat()
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": expected}
    cache_path = path.parent / VERIFIED_CACHE
    cache = _read_cache(cache_path)
    if cache.get(path.name) == key:
        return
    if dataset.raw_md5 is not None:
        digest = hashlib.md5(usedforsecurity=False)
        digest.update(int(0x0800 | content.ndim).to_bytes(4, "big"))
        for dim in content.shape:
            digest.update(int(dim).to_bytes(4, "big"))
        digest.update(np.ascontiguousarray(content).data)
        actual, what = digest.hexdigest(), "its content"
    else:
        actual, what = md5_of_raw(path), "the file"
    if actual != expected:
        published = name if dataset.raw_md5 is not None else f"{name}.gz"
        raise MnistFormatError(
            f"{path}: damaged: MD5 of {what} is {actual}, the published {published} has "
            f"{expected}{'' if dataset.name == DEFAULT_DATASET else f' ({dataset.title})'}; "
            f"fetch it again (`stdp-ray data fetch"
            f"{'' if dataset.name == DEFAULT_DATASET else ' --dataset ' + dataset.name}`)"
            f"{'' if dataset.name == DEFAULT_DATASET else ', or pass --no-verify'}")
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


def default_data_dir(dataset: str = DEFAULT_DATASET) -> Path:
    """Directory where a data set is stored by default.

    Parameters
    ----------
    dataset : str, default "mnist"
        The data set (:data:`DATASETS`, or another name).

    Returns
    -------
    pathlib.Path
        For MNIST, ``$STDP_RAY_DATA`` if set and non-empty. Otherwise
        ``$XDG_DATA_HOME/stdp_ray/<dataset>`` if ``XDG_DATA_HOME`` is set to
        an absolute path (relative values are ignored, as the XDG spec asks),
        else ``~/.local/share/stdp_ray/<dataset>``.
    """
    override = os.environ.get(DATA_DIR_ENV, "")
    if override and dataset == DEFAULT_DATASET:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "stdp_ray" / dataset
    return Path.home() / ".local" / "share" / "stdp_ray" / dataset
