"""The MNIST data set on disk: loading a split, the default directory, the checksum
table, and the fingerprint of a selection of samples."""

from __future__ import annotations

import json
import os
import re
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
from mnist_helpers import ALL_NAMES, checksums_of, verify_mnist

from stdp_ray import data
from stdp_ray.data import DATA_DIR_ENV, FILE_NAMES, default_data_dir, load_mnist
from stdp_ray.idx import MnistFormatError, md5_of_raw, read_idx




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


# --------------------------------------------------------------------------
# Files of the real data set's shape are MD5-verified at load
# --------------------------------------------------------------------------
@pytest.fixture
def full_size_test_split(synthetic: Path) -> Path:
    """The test split with 10,000 images and labels (the real shape, not the real content)."""
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, 10_000).astype(np.uint8)
    write_bytes(synthetic / TEST_LABELS, idx_bytes(labels))
    images = (rng.random((10_000, 28, 28)) < 0.2).astype(np.uint8) * 200
    write_bytes(synthetic / TEST_IMAGES, idx_bytes(images), gz=False)
    return synthetic


@pytest.mark.parametrize("name", [TEST_IMAGES, TEST_LABELS])
def test_a_damaged_file_of_the_real_shape_is_refused_by_name(full_size_test_split, name):
    pattern = (rf"{re.escape(str(full_size_test_split / name))}: damaged: MD5 of its content "
               rf"is [0-9a-f]{{32}}, the published {name} has {data.MNIST_MD5[name]}; fetch it "
               r"again")
    if name == TEST_LABELS:  # images first: make them pass by their cache entry
        _cache_as_verified(full_size_test_split, TEST_IMAGES)
    with pytest.raises(MnistFormatError, match=pattern):
        load_mnist(full_size_test_split, "test")


def _cache_as_verified(directory: Path, name: str) -> None:
    st = (directory / name).stat()
    cache = directory / data.VERIFIED_CACHE
    entries = json.loads(cache.read_text()) if cache.exists() else {}
    entries[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": data.MNIST_MD5[name]}
    cache.write_text(json.dumps(entries))


def test_a_verified_file_is_not_read_again_until_its_size_or_mtime_changes(
        full_size_test_split):
    for name in (TEST_IMAGES, TEST_LABELS):
        _cache_as_verified(full_size_test_split, name)
    images, labels = load_mnist(full_size_test_split, "test")  # the cache vouches for both
    assert images.shape == (10_000, 784) and labels.shape == (10_000,)
    os.utime(full_size_test_split / TEST_LABELS, ns=(1, 1))  # touched: checked again
    with pytest.raises(MnistFormatError, match=f"{TEST_LABELS}: damaged"):
        load_mnist(full_size_test_split, "test")


def test_smaller_synthetic_files_are_not_checked_against_the_published_md5(synthetic):
    images, _ = load_mnist(synthetic, "train")
    assert len(images) == 40
    assert not (synthetic / data.VERIFIED_CACHE).exists()


# --------------------------------------------------------------------------
# Other data sets of the MNIST format: their published checksums, --no-verify
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "kmnist"])
def test_every_known_data_set_has_a_published_md5_for_each_of_its_four_files(name):
    known = data.DATASETS[name]
    table = known.raw_md5 if known.raw_md5 is not None else known.gz_md5
    assert sorted(table) == sorted(FILE_NAMES)
    assert all(re.fullmatch(r"[0-9a-f]{32}", md5) for md5 in table.values())


def test_fashion_mnist_checksums_are_the_ones_zalando_publishes():
    assert data.DATASETS["fashion-mnist"].gz_md5[TRAIN_IMAGES] == \
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d"


@pytest.fixture
def fashion_shaped(tmp_path, monkeypatch) -> Path:
    """A Fashion-MNIST test split of the synthetic files (.gz), taken for the real shape,
    its published MD5s those of the files written."""
    directory = make_synthetic_mnist(tmp_path / "fashion", n_train=40, n_test=20, seed=4,
                                     gz=True)
    sums = {name: md5_of_raw(directory / f"{name}.gz") for name in FILE_NAMES}
    monkeypatch.setitem(data.REAL_SHAPES, TEST_IMAGES, (20, 28, 28))
    monkeypatch.setitem(data.REAL_SHAPES, TEST_LABELS, (20,))
    fake = data.Dataset("fashion-mnist", "Fashion-MNIST", None, sums, "https://example/")
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", fake)
    return directory


def test_a_fashion_mnist_gz_file_with_its_published_md5_loads(fashion_shaped):
    images, labels = load_mnist(fashion_shaped, "test", dataset="fashion-mnist")
    assert images.shape == (20, 784) and labels.shape == (20,)


def test_mnist_files_are_refused_as_fashion_mnist_naming_the_file_and_the_option(
        fashion_shaped):
    other = make_synthetic_mnist(fashion_shaped.parent / "other", n_train=40, n_test=20,
                                 seed=9, gz=True)
    with pytest.raises(MnistFormatError,
                       match=rf"{TEST_IMAGES}.gz: damaged: MD5 of the file is [0-9a-f]{{32}}, "
                             rf"the published {TEST_IMAGES}.gz has [0-9a-f]{{32}} "
                             r"\(Fashion-MNIST\); fetch it again \(`stdp-ray data fetch "
                             r"--dataset fashion-mnist`\), or pass --no-verify"):
        load_mnist(other, "test", dataset="fashion-mnist")
    images, _ = load_mnist(other, "test", dataset="fashion-mnist", verify=False)
    assert len(images) == 20


def test_a_decompressed_fashion_mnist_file_cannot_be_checked_and_says_so(fashion_shaped):
    import gzip

    for name in (TEST_IMAGES, TEST_LABELS):
        (fashion_shaped / name).write_bytes(gzip.decompress((fashion_shaped / f"{name}.gz")
                                                            .read_bytes()))
        (fashion_shaped / f"{name}.gz").unlink()
    with pytest.raises(MnistFormatError, match=rf"{TEST_IMAGES}: cannot be checked: "
                                               rf"Fashion-MNIST publishes the MD5 of "
                                               rf"{TEST_IMAGES}.gz only; keep {TEST_IMAGES}.gz "
                                               r"as published, or pass --no-verify"):
        load_mnist(fashion_shaped, "test", dataset="fashion-mnist")


@pytest.mark.parametrize("name,verify,match", [
    ("fashion", True, r"--dataset 'fashion' unknown: did you mean 'fashion-mnist'\?"),
    ("cifar", True, r"--dataset 'cifar' unknown: must be one of mnist, fashion-mnist, "
                     r"kmnist, or any name with --no-verify"),
    ("", False, r"--dataset == '', must be a non-empty name"),
])
def test_an_unknown_data_set_is_refused_unless_unverified(synthetic, name, verify, match):
    with pytest.raises(data.DatasetError, match=match):
        load_mnist(synthetic, "test", dataset=name, verify=verify)


def test_any_name_reads_a_directory_of_idx_files_with_no_verify(synthetic):
    images, _ = load_mnist(synthetic, "train", dataset="my-digits", verify=False)
    assert len(images) == 40


def test_the_data_record_names_the_data_set_and_each_files_md5(synthetic, sums):
    record = data.data_record(synthetic, ("train", "test"), dataset="kmnist", verify=False)
    assert record == {"dataset": "kmnist", "verified": False, "files": sums}


@pytest.mark.parametrize("dataset,expected", [
    ("mnist", "from-env"), ("fashion-mnist", "xdg/stdp_ray/fashion-mnist"),
    ("kmnist", "xdg/stdp_ray/kmnist")])
def test_stdp_ray_data_is_mnist_s_directory_only(tmp_path, monkeypatch, dataset, expected):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir(dataset) == tmp_path / expected


def test_missing_fashion_mnist_files_say_where_they_are_published(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r"Fashion-MNIST files missing in .*: expected "
                             r"train-images-idx3-ubyte \(or train-images-idx3-ubyte.gz\).*; "
                             r"download them from http://fashion-mnist"):
        load_mnist(tmp_path, "train", dataset="fashion-mnist")
