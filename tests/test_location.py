"""Locations: a run directory's path and its store, passed to every writer; stop signals
and a worker's mirror through the store; URIs in messages (moto's S3 server on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

from storage_helpers import private_cache  # noqa: F401 - autouse
from stdp_ray import location, mirrors, rundir


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
