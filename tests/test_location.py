"""Locations: a run directory's path and its store, passed to every writer; stop signals
and a worker's mirror through the store; URIs in messages (moto's S3 server on 127.0.0.1)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, random_network
from storage_helpers import private_cache  # noqa: F401 - autouse
from stdp_ray import artifact, atomic, location, locks, mirrors, rundir, uris
from stdp_ray.location import Location


def _write_everything(run: Path) -> None:
    """One write of each kind the package makes, below ``run``."""
    with locks.directory_lock(run):
        atomic.atomic_write_json(run / "metrics.json", {"accuracy": 0.5})
        artifact.save_network(run / "network", TINY, random_network(TINY, seed=1))
        with atomic.atomic_directory(run / "ckpt") as tmp:
            atomic.atomic_save_npz(tmp / "arrays.npz", x=np.arange(3))
        atomic.atomic_write_bytes(run / "gone.txt", b"x")
        atomic.remove_path(run / "gone.txt")
        location.put_signal(run / rundir.STOP_FILE)
        location.clear_signal(run / rundir.STOP_FILE)
        location.sweep_incomplete(run)
        location.refresh(run)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "network" not in p.parts  # network.json records the time
            and p.name != ".lock"}  # a random token


# --------------------------------------------------------------------------
# The contract: the store travels with the path, and only there
# --------------------------------------------------------------------------
def test_a_local_location_writes_what_a_plain_path_writes_and_touches_no_store(
        tmp_path, monkeypatch):
    def no_store(*args, **kwargs):
        raise AssertionError("a local run asked an object store")

    for name in ("put", "delete", "delete_all", "listing"):
        monkeypatch.setattr(uris.Remote, name, no_store)
    monkeypatch.setattr(mirrors, "pull", no_store)
    with location.open_location(str(tmp_path / "located"), write=True) as run:
        assert type(run) is Location and run.mirror is None
        _write_everything(run)
    _write_everything(tmp_path / "plain")
    assert _tree(tmp_path / "located") == _tree(tmp_path / "plain")
    assert sorted(_tree(tmp_path / "plain")) == ["ckpt/arrays.npz", "metrics.json"]
    assert (tmp_path / "located" / "network" / "arrays.npz").read_bytes() \
        == (tmp_path / "plain" / "network" / "arrays.npz").read_bytes()


def test_paths_derived_from_a_location_keep_its_mirror_and_never_leave_the_process(
        s3_server, s3_bucket):
    with location.open_location(f"s3://{s3_bucket}/run", write=True) as run:
        atomic.atomic_write_bytes(run / "a" / "b.txt", b"x")
        derived = [run / "a", (run / "a" / "b.txt").parent, *run.glob("a/*"), *run.iterdir(),
                   run.absolute(), run.resolve(), run.with_name("x"), location.as_path(run),
                   location.as_location(run)]
        assert all(p.mirror is run.mirror for p in derived)
        assert run.mirror is not None and not isinstance(run.path, Location)
        assert not isinstance(pickle.loads(pickle.dumps(run / "a")), Location)


def test_a_write_reaches_the_store_of_the_location_it_is_given_and_no_other(s3_server,
                                                                            s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with location.open_location(uri, write=True) as run:
        atomic.atomic_write_bytes(run / "given.txt", b"pushed")
        # The same directory as a plain path: nothing looks the store up by path.
        atomic.atomic_write_bytes(run.path / "plain.txt", b"local only")
        assert (run / "plain.txt").read_bytes() == b"local only"
        keys = s3_server.keys(s3_bucket)
        assert keys["run/given.txt"] == b"pushed"
        assert "run/plain.txt" not in keys


def test_two_mirrors_of_two_buckets_in_one_process_see_only_their_own_writes(s3_server):
    first, second = s3_server.new_bucket(), s3_server.new_bucket()
    with location.open_location(f"s3://{first}/run", write=True) as a, \
            location.open_location(f"s3://{second}/run", write=True) as b:
        assert a.mirror is not b.mirror
        atomic.atomic_write_bytes(a / "x.txt", b"first")
        atomic.atomic_write_bytes(b / "x.txt", b"second")
        atomic.remove_path(a / "x.txt")
        with atomic.atomic_directory(b / "net") as tmp:
            atomic.atomic_write_bytes(tmp / "f", b"f")
    assert s3_server.keys(first) == {}
    assert s3_server.keys(second)["run/x.txt"] == b"second"
    assert s3_server.keys(second)["run/net/f"] == b"f"


def test_a_read_location_pushes_nothing(s3_server, s3_bucket):
    s3_server.client().put_object(Bucket=s3_bucket, Key="run/a.txt", Body=b"stored")
    run = location.read_location(f"s3://{s3_bucket}/run")
    assert (run / "a.txt").read_bytes() == b"stored" and run.mirror is None
    atomic.atomic_write_bytes(run / "a.txt", b"changed here")
    assert s3_server.keys(s3_bucket) == {"run/a.txt": b"stored"}


@pytest.mark.parametrize("text", ["runs/a", "file:///abs/run"])
def test_a_local_directory_opens_as_a_location_without_a_store(text):
    with location.open_location(text, write=False) as run:
        assert run.mirror is None and run.remote is None and run.portable == str(run)


def test_messages_show_the_uri_not_the_mirror(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with location.open_location(uri, write=True) as local:
        assert location.display(f"{local / 'network'}: not found") == f"{uri}/network: not found"
        assert (local / "train").portable == f"{uri}/train"
    assert location.as_location(Path("/tmp/elsewhere")).portable == "/tmp/elsewhere"


def test_a_stop_request_reaches_a_worker_on_another_node_through_the_store(
        s3_server, s3_bucket, monkeypatch):
    monkeypatch.setattr(mirrors, "SIGNAL_POLL_S", 0.0)
    uri = f"s3://{s3_bucket}/run"
    with location.open_location(uri, write=True) as driver:
        worker = location.worker_location(f"{uri}/{rundir.TRAIN_DIR}")
        request = rundir.stop_file(worker)
        assert not location.signal_present(request)
        location.put_signal(rundir.stop_file(driver / rundir.TRAIN_DIR))
        assert location.signal_present(request)
        location.clear_signal(rundir.stop_file(driver / rundir.TRAIN_DIR))
        assert not location.signal_present(request)
