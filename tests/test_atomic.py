"""Atomic writes: a file or directory replaced whole or not at all, no temporaries left."""

from __future__ import annotations

import fnmatch
import os

import numpy as np
import pytest

from stdp_ray import atomic
from stdp_ray.atomic import atomic_save_npz, atomic_write_bytes


def _boom(*args, **kwargs):
    raise RuntimeError("boom: simulated failure")



def test_atomic_write_bytes_writes(tmp_path):
    path = atomic_write_bytes(tmp_path / "sub" / "f.bin", b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]


@pytest.mark.parametrize("data, patch_replace, exc, match", [
    ("a str, not bytes", False, TypeError, r"bytes-like object is required"),
    (b"new contents", True, RuntimeError, r"boom: simulated failure"),
], ids=["write-fails", "rename-fails"])
def test_atomic_write_bytes_leaves_no_temp_file(tmp_path, monkeypatch, data, patch_replace, exc,
                                                match):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    if patch_replace:
        monkeypatch.setattr(atomic.os, "replace", _boom)
    with pytest.raises(exc, match=match):
        atomic_write_bytes(path, data)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    assert path.read_bytes() == b"old"


def test_atomic_save_npz_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "a.npz"
    monkeypatch.setattr(atomic.os, "replace", _boom)
    with pytest.raises(RuntimeError, match=r"boom: simulated failure"):
        atomic_save_npz(path, x=np.arange(3))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_gives_the_mode_asked_for_else_the_umask_default(tmp_path):
    import stat

    mask = os.umask(0o077)
    try:
        with atomic.atomic_file(tmp_path / "private") as fh:
            fh.write(b"x")
        with atomic.atomic_file(tmp_path / "shared", mode=0o644, durable=True) as fh:
            fh.write(b"y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o644
    assert (tmp_path / "shared").read_bytes() == b"y"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private", "shared"]


def test_the_temporary_globs_match_what_interrupted_writes_leave(tmp_path):
    d = tmp_path / "net"
    with pytest.raises(RuntimeError):
        with atomic.atomic_directory(d):
            with atomic.atomic_file(tmp_path / "f.bin"):
                left = sorted(p.name for p in tmp_path.iterdir())
                raise RuntimeError("interrupted")
    assert len(left) == 2 and list(tmp_path.iterdir()) == []
    temp_dir, temp_file = sorted(left, key=lambda n: n.endswith(".tmp"))
    assert fnmatch.fnmatch(temp_dir, atomic.temporary_directory_glob("net"))
    assert fnmatch.fnmatch(temp_file, atomic.TEMPORARY_FILE_GLOB)
    assert fnmatch.fnmatch(atomic.replaced_directory(d).name,
                           atomic.temporary_directory_glob("net"))

