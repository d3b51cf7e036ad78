"""Mirrors: each write reaches the store as one object, directory artifacts committed last,
interrupted uploads never read and swept, nothing pulled that would leave the mirror
(moto's S3 server on 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from storage_helpers import HOLD, mirrors_left, private_cache  # noqa: F401 - autouse
from stdp_ray import atomic, leases, location, locks, mirrors, rundir



# --------------------------------------------------------------------------
# Writes: one object per file, directory artifacts committed last
# --------------------------------------------------------------------------
def test_files_and_directories_reach_the_store_and_removals_follow(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with location.open_location(uri, write=True) as local:
        atomic.atomic_write_json(local / "metrics.json", {"accuracy": 0.5})
        with atomic.atomic_directory(local / "network") as tmp:
            atomic.atomic_write_bytes(tmp / "arrays.npz", b"arrays")
            atomic.atomic_write_bytes(tmp / "network.json", b"{}")
        keys = s3_server.keys(s3_bucket)
        assert keys["run/metrics.json"] == b'{\n  "accuracy": 0.5\n}\n'
        assert keys["run/network/arrays.npz"] == b"arrays"
        assert f"run/network/{mirrors.COMMIT_MARKER}" in keys
        assert f"run/network/{mirrors.PENDING_MARKER}" not in keys
        assert not any("/." in k and mirrors.COMMIT_MARKER not in k
                       and leases.LOCK_FILE not in k for k in keys)  # no temporaries
        # Replaced: the old files go, the new ones come, the marker is written again.
        with atomic.atomic_directory(local / "network") as tmp:
            atomic.atomic_write_bytes(tmp / "network.json", b'{"v": 2}')
        keys = s3_server.keys(s3_bucket)
        assert "run/network/arrays.npz" not in keys
        assert keys["run/network/network.json"] == b'{"v": 2}'
        atomic.remove_path(local / "network")
        atomic.remove_path(local / "metrics.json")
    assert s3_server.keys(s3_bucket) == {}


def test_an_interrupted_directory_upload_is_never_read_and_the_next_writer_sweeps_it(
        s3_server, s3_bucket):
    s3 = s3_server.client()
    ckpt = f"run/{rundir.CHECKPOINTS_DIR}/{rundir.checkpoint_name(20)}"
    good = f"run/{rundir.CHECKPOINTS_DIR}/{rundir.checkpoint_name(10)}"
    # As a writer killed mid-upload leaves it: pending marker and some files, no commit.
    for key, body in ((f"{ckpt}/{mirrors.PENDING_MARKER}", b""),
                      (f"{ckpt}/{rundir.CHECKPOINT_ARRAYS}", b"half"),
                      (f"{good}/{rundir.CHECKPOINT_STATE}", b"{}"),
                      (f"{good}/{mirrors.COMMIT_MARKER}", b"{}")):
        s3.put_object(Bucket=s3_bucket, Key=key, Body=body)
    uri = f"s3://{s3_bucket}/run"
    local = location.read_location(uri)
    assert rundir.latest_checkpoint(rundir.checkpoints_dir(local / rundir.TRAIN_DIR)).name \
        == rundir.checkpoint_name(10)
    assert not (local / rundir.CHECKPOINTS_DIR / rundir.checkpoint_name(20)).exists()
    with location.open_location(uri, write=True) as local:
        with locks.directory_lock(local):
            rundir.sweep_temporaries(local)
    keys = s3_server.keys(s3_bucket)
    assert not any(k.startswith(ckpt) for k in keys)
    assert f"{good}/{rundir.CHECKPOINT_STATE}" in keys


def test_an_upload_that_never_completed_leaves_no_object(s3_server, s3_bucket):
    s3 = s3_server.client()
    # A large file goes up in parts; killed before the last, nothing is visible.
    upload = s3.create_multipart_upload(Bucket=s3_bucket, Key="run/metrics.json")
    s3.upload_part(Bucket=s3_bucket, Key="run/metrics.json", UploadId=upload["UploadId"],
                   PartNumber=1, Body=b"x" * 1024)
    local = location.read_location(f"s3://{s3_bucket}/run")
    assert not (local / "metrics.json").exists()
    assert s3_server.keys(s3_bucket) == {}


def test_an_object_name_that_would_leave_the_mirror_is_never_pulled(s3_server, s3_bucket,
                                                                    tmp_path):
    s3 = s3_server.client()
    outside = tmp_path / "outside.txt"
    for key in (f"run/{outside}", "run/../escaped.txt", "run/a//b.txt", "run/ok.txt"):
        s3.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    local = location.read_location(f"s3://{s3_bucket}/run")
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*")) == ["ok.txt"]
    assert not outside.exists()
    assert not (local.parent / "escaped.txt").exists()


def test_mirrors_of_killed_processes_of_this_machine_are_removed(s3_server, s3_bucket,
                                                                 private_cache):
    child = subprocess.Popen([sys.executable, "-c", HOLD, f"s3://{s3_bucket}/run", "60"],
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "STDP_RAY_CACHE": str(private_cache)})
    assert child.stdout.readline().strip() == "held"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert [n for n in mirrors_left(private_cache) if f"-{child.pid}-" in n]
    other = private_cache / "mirrors" / f"run-{'0' * 12}-elsewhere-{child.pid}-abc"
    other.mkdir()  # another machine's (a shared home directory): not ours to judge
    location.read_location(f"s3://{s3_bucket}/other")
    left = mirrors_left(private_cache)
    assert not [n for n in left if n.startswith("run-") and "elsewhere" not in n]
    assert other.name in left
