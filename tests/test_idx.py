"""The IDX format: reading (raw or gzip), malformed headers and data, and the IDX writer
that the tests use (:func:`mnist_helpers.write_idx`)."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from idx_helpers import idx_bytes, write_bytes
from mnist_helpers import leftovers, write_idx

from stdp_ray import atomic
from stdp_ray.idx import MnistFormatError, md5_of, md5_of_raw, read_idx


ARRAYS = {
    "labels": np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.uint8),
    "images": np.arange(5 * 28 * 28, dtype=np.int64).reshape(5, 28, 28).astype(np.uint8),
    "matrix": np.arange(12, dtype=np.uint8).reshape(3, 4),
    "empty": np.zeros((0, 28, 28), dtype=np.uint8),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("key", sorted(ARRAYS))
def test_read_idx_round_trip(tmp_path: Path, key: str, gz: bool) -> None:
    array = ARRAYS[key]
    path = write_bytes(tmp_path / ("f.idx.gz" if gz else "f.idx"), idx_bytes(array), gz=gz)
    out = read_idx(path)
    assert out.dtype == np.uint8
    assert out.shape == array.shape
    assert out.flags.c_contiguous and out.flags.writeable
    np.testing.assert_array_equal(out, array)


def test_read_idx_detects_gzip_by_magic_not_suffix(tmp_path: Path) -> None:
    array = ARRAYS["labels"]
    path = write_bytes(tmp_path / "labels-no-suffix", idx_bytes(array), gz=True)
    np.testing.assert_array_equal(read_idx(path), array)


def test_read_idx_raw_file_with_gz_suffix(tmp_path: Path) -> None:
    array = ARRAYS["labels"]
    path = write_bytes(tmp_path / "mislabelled.gz", idx_bytes(array), gz=False)
    np.testing.assert_array_equal(read_idx(path), array)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("key", sorted(ARRAYS))
def test_write_idx_round_trip_and_format(tmp_path: Path, key: str, gz: bool) -> None:
    array = ARRAYS[key]
    path = tmp_path / ("out.gz" if gz else "out")
    assert write_idx(path, array) == path
    np.testing.assert_array_equal(read_idx(path), array)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") is gz
    assert (gzip.decompress(raw) if gz else raw) == idx_bytes(array)
    assert leftovers(tmp_path) == []


def test_write_idx_gz_is_deterministic(tmp_path: Path) -> None:
    write_idx(tmp_path / "a.gz", ARRAYS["images"])
    write_idx(tmp_path / "b.gz", ARRAYS["images"])
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_write_idx_non_contiguous_input(tmp_path: Path) -> None:
    array = ARRAYS["images"][:, ::2, ::2]
    write_idx(tmp_path / "f", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "f"), array)


def test_write_idx_is_atomic_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "labels"
    write_idx(path, ARRAYS["labels"])
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("simulated failure during rename")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError, match="simulated failure"):
        write_idx(path, ARRAYS["matrix"])
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("array", "exc", "match"),
    [
        ([1, 2, 3], TypeError, r"array must be a numpy\.ndarray, got list"),
        (np.zeros(3, dtype=np.float32), TypeError, r"dtype is float32, must be uint8"),
        (np.zeros(3, dtype=np.int64), TypeError, r"dtype is int64, must be uint8"),
        (np.array(3, dtype=np.uint8), ValueError, r"array\.ndim == 0, must be between 1 and 255"),
    ],
    ids=["list", "float32", "int64", "0-d"],
)
def test_write_idx_rejects_bad_arrays(tmp_path: Path, array, exc, match: str) -> None:
    path = tmp_path / "out"
    with pytest.raises(exc, match=match) as info:
        write_idx(path, array)
    assert str(path) in str(info.value)
    assert not path.exists()


def test_write_idx_missing_parent(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "out"
    with pytest.raises(FileNotFoundError, match=re.escape(f"parent directory {tmp_path / 'nope'} does not exist")):
        write_idx(path, ARRAYS["labels"])


@pytest.mark.parametrize("bad", [123, None, 4.5])
def test_read_idx_rejects_non_path(bad) -> None:
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        read_idx(bad)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "absent"))):
        read_idx(tmp_path / "absent")


LABELS5 = np.array([0, 1, 2, 3, 4], dtype=np.uint8)
IMAGES2 = np.full((2, 28, 28), 7, dtype=np.uint8)

MALFORMED = {
    "empty file": (b"", r"header is 0 bytes, expected at least 4 \(magic number\); file is truncated or empty"),
    "short magic": (b"\x00\x00\x08", r"header is 3 bytes, expected at least 4"),
    "nonzero first bytes": (
        idx_bytes(LABELS5, magic_override=b"\x12\x34\x08\x01"),
        r"first two bytes are 0x12 0x34, must be 0x00 0x00",
    ),
    "png header": (b"\x89PNG\r\n\x1a\n" + bytes(20), r"first two bytes are 0x89 0x50, must be 0x00 0x00"),
    "type float32": (
        idx_bytes(LABELS5, magic_override=b"\x00\x00\x0d\x01"),
        r"data type byte is 0x0d \(float \(float32\)\), must be 0x08 \(unsigned byte\)",
    ),
    "type signed byte": (
        idx_bytes(LABELS5, magic_override=b"\x00\x00\x09\x01"),
        r"data type byte is 0x09 \(signed byte\), must be 0x08",
    ),
    "type unknown": (
        idx_bytes(LABELS5, magic_override=b"\x00\x00\x42\x01"),
        r"data type byte is 0x42 \(unknown\), must be 0x08",
    ),
    "zero dims": (b"\x00\x00\x08\x00", r"number of dimensions == 0, must be >= 1"),
    "truncated dims": (
        idx_bytes(IMAGES2)[:10],
        r"header declares 3 dimensions needing 12 bytes of sizes, got 6; file is truncated",
    ),
    "truncated images": (
        idx_bytes(IMAGES2, truncate=1),
        r"data section is 1567 bytes, expected 1568 bytes for dimensions 2x28x28; file is truncated",
    ),
    "truncated labels": (
        idx_bytes(LABELS5, truncate=3),
        r"data section is 2 bytes, expected 5 bytes for dimensions 5; file is truncated",
    ),
    "huge declared dims": (
        idx_bytes(IMAGES2, dims_override=(0xFFFFFFFF, 28, 28)),
        r"data section is 1568 bytes, expected 3367254359280 bytes",
    ),
    "trailing bytes": (
        idx_bytes(IMAGES2, trailing=b"\x00\x01\x02"),
        r"data section is 1571 bytes, expected 1568 bytes for dimensions 2x28x28; file has 3 trailing bytes",
    ),
    "labels with 4 trailing bytes": (
        idx_bytes(LABELS5, trailing=b"\x00" * 4),
        r"data section is 9 bytes, expected 5 bytes .*4 trailing bytes",
    ),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_read_idx_rejects_malformed(tmp_path: Path, case: str, gz: bool) -> None:
    content, match = MALFORMED[case]
    path = write_bytes(tmp_path / "bad-idx", content, gz=gz)
    with pytest.raises(MnistFormatError, match=match) as info:
        read_idx(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "content",
    [b"\x1f\x8b" + b"garbage" * 10, gzip.compress(idx_bytes(IMAGES2))[:-12]],
    ids=["not-deflate", "truncated-stream"],
)
def test_read_idx_rejects_corrupt_gzip(tmp_path: Path, content: bytes) -> None:
    path = write_bytes(tmp_path / "bad.gz", content)
    with pytest.raises(MnistFormatError, match=re.escape(f"{path}: corrupt gzip stream")):
        read_idx(path)


def test_mnist_format_error_is_value_error() -> None:
    assert issubclass(MnistFormatError, ValueError)


def test_md5_of_is_the_content_md5_and_md5_of_raw_the_stored_bytes(tmp_path: Path) -> None:
    content = idx_bytes(ARRAYS["labels"])
    raw = write_bytes(tmp_path / "raw", content)
    gz = write_bytes(tmp_path / "packed", content, gz=True)
    expected = hashlib.md5(content).hexdigest()
    assert md5_of(raw) == md5_of(gz) == md5_of_raw(raw) == expected
    assert md5_of_raw(gz) != expected
