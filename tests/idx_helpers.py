"""Helpers that build IDX files and a tiny synthetic MNIST for the test-suite.

The encoding here is written independently of :mod:`stdp_ray.data` (with
:mod:`struct`), so tests of the reader do not just check the writer against
itself.

The synthetic data set is designed to be trivially separable: class ``c``
lights a 4x8 block of pixels whose position depends only on ``c`` (two rows
of five blocks, no two blocks overlap), with intensities 180-255 and about
10 % of the block's pixels dropped, over sparse background noise of at most
40.  :func:`class_mask` gives each class's block so training/evaluation
tests can reason about it.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

ROWS = COLS = 28
NUM_CLASSES = 10

#: Raw MNIST file names (duplicated from stdp_ray.data on purpose).
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"

_BLOCK_H, _BLOCK_W = 8, 4


def idx_bytes(
    array: np.ndarray,
    magic_override: bytes | None = None,
    dims_override: tuple[int, ...] | None = None,
    trailing: bytes = b"",
    truncate: int = 0,
) -> bytes:
    """Encode ``array`` as IDX bytes, optionally malformed.

    Parameters
    ----------
    array : numpy.ndarray
        Data; written as its raw bytes after the header (use ``uint8`` for a
        well-formed file).
    magic_override : bytes, optional
        4 bytes replacing the magic number ``00 00 08 <ndim>``.
    dims_override : tuple of int, optional
        Dimension sizes written instead of ``array.shape``.
    trailing : bytes, default b""
        Extra bytes appended after the data.
    truncate : int, default 0
        Number of bytes removed from the end.

    Returns
    -------
    bytes
        The encoded file content.
    """
    array = np.ascontiguousarray(array)
    magic = bytes([0, 0, 0x08, array.ndim]) if magic_override is None else magic_override
    if len(magic) != 4:
        raise ValueError(f"magic_override is {len(magic)} bytes, must be 4")
    dims = array.shape if dims_override is None else dims_override
    raw = magic + struct.pack(f">{len(dims)}I", *dims) + array.tobytes() + trailing
    return raw[: len(raw) - truncate] if truncate else raw


def write_bytes(path: Path, content: bytes, gz: bool = False) -> Path:
    """Write ``content`` to ``path`` (gzip-compressed, deterministically, if ``gz``)."""
    path = Path(path)
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    return path


def class_mask(label: int) -> np.ndarray:
    """Boolean 28x28 mask of the block lit by class ``label``.

    Classes 0-4 sit in a row of blocks at rows 4-11, classes 5-9 at rows
    16-23; columns start at ``2 + 5 * (label % 5)``.
    """
    if not 0 <= label < NUM_CLASSES:
        raise ValueError(f"label == {label}, must be in 0..9")
    mask = np.zeros((ROWS, COLS), dtype=bool)
    top = 4 if label < 5 else 16
    left = 2 + 5 * (label % 5)
    mask[top : top + _BLOCK_H, left : left + _BLOCK_W] = True
    return mask


def synthetic_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images ``(n, 28, 28)`` uint8 for the given labels (see module docstring)."""
    n = len(labels)
    noise = rng.integers(0, 41, size=(n, ROWS, COLS), dtype=np.uint8)
    noise[rng.random((n, ROWS, COLS)) < 0.9] = 0  # sparse background
    images = noise
    masks = np.stack([class_mask(c) for c in range(NUM_CLASSES)])[labels]
    keep = rng.random((n, ROWS, COLS)) >= 0.1
    bright = rng.integers(180, 256, size=(n, ROWS, COLS), dtype=np.uint8)
    lit = masks & keep
    images[lit] = bright[lit]
    return images


def synthetic_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels covering 0-9 as evenly as possible, in random order."""
    labels = np.arange(n, dtype=np.uint8) % NUM_CLASSES
    rng.shuffle(labels)
    return labels


def make_synthetic_mnist(
    directory: str | Path,
    n_train: int = 60,
    n_test: int = 30,
    seed: int = 0,
    gz: bool = False,
) -> Path:
    """Write a tiny, easily separable MNIST look-alike with the real file names.

    Parameters
    ----------
    directory : str or pathlib.Path
        Created if needed.
    n_train, n_test : int
        Number of images in each split (>= 1).
    seed : int
        Everything is deterministic given the seed.
    gz : bool
        Write ``<name>.gz`` files instead of raw ones.

    Returns
    -------
    pathlib.Path
        ``directory``.
    """
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train == {n_train}, n_test == {n_test}, both must be >= 1")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    suffix = ".gz" if gz else ""
    for rng, n, img_name, lbl_name in (
        (train_rng, n_train, TRAIN_IMAGES, TRAIN_LABELS),
        (test_rng, n_test, TEST_IMAGES, TEST_LABELS),
    ):
        labels = synthetic_labels(n, rng)
        images = synthetic_images(labels, rng)
        write_bytes(directory / f"{img_name}{suffix}", idx_bytes(images), gz=gz)
        write_bytes(directory / f"{lbl_name}{suffix}", idx_bytes(labels), gz=gz)
    return directory
