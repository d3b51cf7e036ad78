"""Run directories on object storage: URIs, bad input, leases and interrupted uploads,
against a real S3-protocol server (moto's, on 127.0.0.1); no simulation, no Ray."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stdp_ray import cli, rundir, state, storage
from stdp_ray.cli import main


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test's mirrors in its own node-local cache (checked for leftovers)."""
    monkeypatch.setenv("STDP_RAY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def mirrors_left(cache: Path) -> list[str]:
    mirrors = cache / "mirrors"
    return sorted(p.name for p in mirrors.iterdir()) if mirrors.is_dir() else []


# --------------------------------------------------------------------------
# URIs (no server)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("runs/a", Path("runs/a")), ("/abs/run", Path("/abs/run")),
    ("file:///abs/run", Path("/abs/run")), ("file://localhost/abs/run", Path("/abs/run"))])
def test_paths_and_file_uris_are_local_directories(text, expected):
    assert storage.parse_location(text) == expected
    assert not storage.is_remote(text)


@pytest.mark.parametrize("text,match", [
    ("foo://bucket/run", r"^foo://bucket/run: unknown storage scheme 'foo'"),
    ("hdfs://host/run", r"^hdfs://host/run: unknown storage scheme 'hdfs'"),
    ("s3:///run", r"^s3:///run: no bucket"),
    ("s3://bucket/run?endpoint_override=127.0.0.1:9000",
     r"options in the URI are not accepted; the endpoint, region and credentials come from "
     r"the environment"),
    ("s3://KEY:SECRET@bucket/run", r"^s3://\*\*\*@bucket/run: credentials in the URI are not"),
    ("s3://bucket/a/../b", r"must not hold empty, '\.' or '\.\.' parts"),
    ("file://otherhost/run", r"a file:// URI must be file:///ABSOLUTE/PATH")])
def test_a_malformed_uri_is_refused_before_any_connection(text, match):
    with pytest.raises(storage.StorageError, match=match):
        storage.parse_location(text)


# --------------------------------------------------------------------------
# Bad input: one line naming the URI and the cause, exit 2, nothing written
# --------------------------------------------------------------------------
def _no_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


#: (case, change to the environment, the bucket to name, the cause expected)
BAD_INPUT = [
    ("unreachable endpoint", {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, "own",
     r"cannot connect to the endpoint \(http://127\.0\.0\.1:1\)"),
    ("missing bucket", {}, "missing", r"bucket 'no-such-bucket' does not exist"),
    ("unknown access key", {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}, "own",
     r"the access key is not known to the store \(AWS_ACCESS_KEY_ID\)"),
    ("wrong secret key", {"AWS_SECRET_ACCESS_KEY": "wrong"}, "own",
     r"the secret key does not match the access key \(AWS_SECRET_ACCESS_KEY\)"),
    ("missing credentials", None, "own", r"refused without credentials: none in the "
                                         r"environment"),
]


@pytest.mark.parametrize("case,env,bucket,cause", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_a_store_that_cannot_be_used_exits_2_naming_the_uri_and_the_cause(
        s3_server, s3_bucket, monkeypatch, tmp_path, caplog, mnist_dir, private_cache,
        no_ray_start, case, env, bucket, cause):
    name = s3_bucket if bucket == "own" else "no-such-bucket"
    uri = f"s3://{name}/runs/n10"
    if env is None:
        _no_credentials(monkeypatch, tmp_path)
    else:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
    status = main(["train", uri, "--neurons", "10", "--samples", "2", "--data-dir",
                   str(mnist_dir), "--no-progress"])
    assert status == cli.EXIT_USAGE
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and not errors[0].exc_info
    message = errors[0].getMessage()
    assert "\n" not in message and message.startswith(f"{uri}: ")
    assert re.search(cause, message), message
    assert len(message) < 250
    assert s3_server.keys(s3_bucket) == {}  # nothing written
    assert mirrors_left(private_cache) == []


@pytest.mark.parametrize("argv", [
    ["observe", "{uri}"], ["test", "{uri}"], ["run", "{uri}", "--samples", "2"],
    ["ensemble", "{uri}", "--seeds", "1,2", "--samples", "2"], ["report", "{uri}"],
    ["import", "{network}", "{uri}"], ["import", "{uri}", "{local}"], ["curve", "{uri}"],
    ["sweep", "{uri}", "--grid", "nu_post=0.01", "--samples", "2"],
    ["config", "show", "{uri}"]], ids=lambda argv: " ".join(argv[:2]))
def test_every_command_takes_a_uri_and_refuses_a_missing_bucket(s3_server, tmp_path, caplog,
                                                                mnist_dir, argv):
    uri = "s3://no-such-bucket/run"
    argv = [a.format(uri=uri, network=tmp_path / "net", local=tmp_path / "run") for a in argv]
    if argv[0] not in ("report", "import", "config"):
        argv += ["--data-dir", str(mnist_dir)]
    assert main(argv) == cli.EXIT_USAGE
    assert "s3://no-such-bucket/run: bucket 'no-such-bucket' does not exist" in caplog.text
    assert not (tmp_path / "run").exists()


def test_an_unknown_scheme_exits_2_on_the_command_line(tmp_path, caplog, mnist_dir):
    assert main(["test", "foo://bucket/run", "--data-dir", str(mnist_dir)]) == cli.EXIT_USAGE
    assert "foo://bucket/run: unknown storage scheme 'foo'" in caplog.text


# --------------------------------------------------------------------------
# Leases: one writer per remote directory
# --------------------------------------------------------------------------
HOLD = """\
import sys, time
from stdp_ray import storage
storage.LEASE_SECONDS = float(sys.argv[2])
with storage.open_location(sys.argv[1], write=True):
    print("held", flush=True)
    time.sleep(600)
"""


def hold_lease(uri: str, seconds: float = 60.0) -> subprocess.Popen:
    """A process holding ``uri``'s lease (for ``seconds``, renewed) until killed."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, uri, str(seconds)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_writer_is_refused_while_the_lease_is_held(s3_server, s3_bucket, caplog,
                                                            mnist_dir):
    uri = f"s3://{s3_bucket}/run"
    child = hold_lease(uri)
    try:
        assert main(["test", uri, "--data-dir", str(mnist_dir)]) == cli.EXIT_FAILURE
        assert re.search(rf"{re.escape(uri)}: in use by another stdp-ray process \(pid "
                         rf"{child.pid} on \S+ lease [0-9a-f]+, lease until ", caplog.text)
        with pytest.raises(state.DirectoryBusyError, match=f"pid {child.pid} on"):
            with storage.open_location(uri, write=True):
                pass
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_a_lease_is_released_at_the_end_and_taken_over_once_expired(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with storage.open_location(uri, write=True):
        assert f"run/{state.LOCK_FILE}" in s3_server.keys(s3_bucket)
    assert s3_server.keys(s3_bucket) == {}  # released
    # A holder killed outright leaves its lease; it blocks until it expires.
    child = hold_lease(uri, seconds=3)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    with pytest.raises(state.DirectoryBusyError):
        with storage.open_location(uri, write=True):
            pass
    time.sleep(3.5)
    with storage.open_location(uri, write=True) as local:
        assert storage.held_lease_owner(local).startswith(f"pid {os.getpid()} on ")


def test_training_actors_check_the_lease_object(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with storage.open_location(uri, write=True) as local:
        owner = state.lock_owner(local)
        state.check_lease(storage.portable(local), owner)  # held: no error
        with pytest.raises(state.LeaseLostError, match="not by this worker's driver"):
            state.check_lease(uri, owner.replace("lease", "lease f"))
    with pytest.raises(state.LeaseLostError, match="holds no lease: the driver .* is gone"):
        state.check_lease(uri, owner)


def test_a_writer_whose_lease_was_taken_over_writes_nothing_more(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with storage.open_location(uri, write=True) as local:
        state.atomic_write_bytes(local / "a.txt", b"mine")
        s3_server.client().put_object(Bucket=s3_bucket, Key=f"run/{state.LOCK_FILE}",
                                      Body=b'{"owner": "pid 1 on elsewhere lease 00"}')
        storage.mirror_of(local)[0].leases[""].renew()  # what the renewing thread does
        with pytest.raises(state.LeaseLostError, match="lease lost: now held by 'pid 1 on"):
            state.atomic_write_bytes(local / "b.txt", b"mine too")
    assert set(s3_server.keys(s3_bucket)) == {"run/a.txt", f"run/{state.LOCK_FILE}"}


def test_a_member_directory_takes_its_own_lease(s3_server, s3_bucket):
    root = f"s3://{s3_bucket}/ens"
    with storage.open_location(root, write=True) as local:
        with state.directory_lock(local):  # the root's: already held
            with state.directory_lock(local / "seed=1"):
                child = subprocess.run(
                    [sys.executable, "-c", HOLD, f"{root}/seed=1", "60"], capture_output=True,
                    text=True, timeout=60)
                assert child.returncode != 0
                assert "in use by another stdp-ray process" in child.stderr
        assert f"ens/seed=1/{state.LOCK_FILE}" not in s3_server.keys(s3_bucket)


# --------------------------------------------------------------------------
# Writes: one object per file, directory artifacts committed last
# --------------------------------------------------------------------------
def test_files_and_directories_reach_the_store_and_removals_follow(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with storage.open_location(uri, write=True) as local:
        state.atomic_write_json(local / "metrics.json", {"accuracy": 0.5})
        with state.atomic_directory(local / "network") as tmp:
            state.atomic_write_bytes(tmp / "arrays.npz", b"arrays")
            state.atomic_write_bytes(tmp / "network.json", b"{}")
        keys = s3_server.keys(s3_bucket)
        assert keys["run/metrics.json"] == b'{\n  "accuracy": 0.5\n}\n'
        assert keys["run/network/arrays.npz"] == b"arrays"
        assert f"run/network/{storage.COMMIT_MARKER}" in keys
        assert f"run/network/{storage.PENDING_MARKER}" not in keys
        assert not any("/." in k and storage.COMMIT_MARKER not in k
                       and state.LOCK_FILE not in k for k in keys)  # no temporaries
        # Replaced: the old files go, the new ones come, the marker is written again.
        with state.atomic_directory(local / "network") as tmp:
            state.atomic_write_bytes(tmp / "network.json", b'{"v": 2}')
        keys = s3_server.keys(s3_bucket)
        assert "run/network/arrays.npz" not in keys
        assert keys["run/network/network.json"] == b'{"v": 2}'
        state.remove_path(local / "network")
        state.remove_path(local / "metrics.json")
    assert s3_server.keys(s3_bucket) == {}


def test_an_interrupted_directory_upload_is_never_read_and_the_next_writer_sweeps_it(
        s3_server, s3_bucket):
    s3 = s3_server.client()
    ckpt = f"run/{rundir.CHECKPOINTS_DIR}/{rundir.checkpoint_name(20)}"
    good = f"run/{rundir.CHECKPOINTS_DIR}/{rundir.checkpoint_name(10)}"
    # As a writer killed mid-upload leaves it: pending marker and some files, no commit.
    for key, body in ((f"{ckpt}/{storage.PENDING_MARKER}", b""),
                      (f"{ckpt}/{rundir.CHECKPOINT_ARRAYS}", b"half"),
                      (f"{good}/{rundir.CHECKPOINT_STATE}", b"{}"),
                      (f"{good}/{storage.COMMIT_MARKER}", b"{}")):
        s3.put_object(Bucket=s3_bucket, Key=key, Body=body)
    uri = f"s3://{s3_bucket}/run"
    local = storage.read_location(uri)
    assert rundir.latest_checkpoint(rundir.checkpoints_dir(local / rundir.TRAIN_DIR)).name \
        == rundir.checkpoint_name(10)
    assert not (local / rundir.CHECKPOINTS_DIR / rundir.checkpoint_name(20)).exists()
    with storage.open_location(uri, write=True) as local:
        with state.directory_lock(local):
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
    local = storage.read_location(f"s3://{s3_bucket}/run")
    assert not (local / "metrics.json").exists()
    assert s3_server.keys(s3_bucket) == {}


def test_messages_show_the_uri_not_the_mirror(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with storage.open_location(uri, write=True) as local:
        assert storage.display(f"{local / 'network'}: not found") == f"{uri}/network: not found"
        assert storage.portable(local / "train") == f"{uri}/train"
    assert storage.portable(Path("/tmp/elsewhere")) == "/tmp/elsewhere"


def test_an_object_name_that_would_leave_the_mirror_is_never_pulled(s3_server, s3_bucket,
                                                                      tmp_path):
    s3 = s3_server.client()
    outside = tmp_path / "outside.txt"
    for key in (f"run/{outside}", "run/../escaped.txt", "run/a//b.txt", "run/ok.txt"):
        s3.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    local = storage.read_location(f"s3://{s3_bucket}/run")
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*")) == ["ok.txt"]
    assert not outside.exists()
    assert not (local.parent / "escaped.txt").exists()


def test_a_stop_request_reaches_a_worker_on_another_node_through_the_store(
        s3_server, s3_bucket, monkeypatch):
    monkeypatch.setattr(storage, "SIGNAL_POLL_S", 0.0)
    uri = f"s3://{s3_bucket}/run"
    with storage.open_location(uri, write=True) as driver:
        worker = storage.worker_mirror(f"{uri}/{rundir.TRAIN_DIR}")
        request = rundir.stop_file(worker)
        assert not storage.signal_present(request)
        storage.put_signal(rundir.stop_file(driver / rundir.TRAIN_DIR))
        assert storage.signal_present(request)
        storage.clear_signal(rundir.stop_file(driver / rundir.TRAIN_DIR))
        assert not storage.signal_present(request)


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
    storage.read_location(f"s3://{s3_bucket}/other")
    left = mirrors_left(private_cache)
    assert not [n for n in left if n.startswith("run-") and "elsewhere" not in n]
    assert other.name in left
