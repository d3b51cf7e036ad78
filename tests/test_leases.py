"""Leases: one writer per remote directory, released at the end, taken over once expired,
checked by training actors (moto's S3 server on 127.0.0.1)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from storage_helpers import HOLD, hold_lease, private_cache  # noqa: F401 - autouse
from stdp_ray import atomic, cli, leases, location, locks
from stdp_ray.cli import main


def test_a_second_writer_is_refused_while_the_lease_is_held(s3_server, s3_bucket, caplog,
                                                            mnist_dir):
    uri = f"s3://{s3_bucket}/run"
    child = hold_lease(uri)
    try:
        assert main(["test", uri, "--data-dir", str(mnist_dir)]) == cli.EXIT_FAILURE
        assert re.search(rf"{re.escape(uri)}: in use by another stdp-ray process \(pid "
                         rf"{child.pid} on \S+ lease [0-9a-f]+, lease until ", caplog.text)
        with pytest.raises(leases.DirectoryBusyError, match=f"pid {child.pid} on"):
            with location.open_location(uri, write=True):
                pass
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_a_lease_is_released_at_the_end_and_taken_over_once_expired(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with location.open_location(uri, write=True):
        assert f"run/{leases.LOCK_FILE}" in s3_server.keys(s3_bucket)
    assert s3_server.keys(s3_bucket) == {}  # released
    # A holder killed outright leaves its lease; it blocks until it expires.
    child = hold_lease(uri, seconds=3)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    with pytest.raises(leases.DirectoryBusyError):
        with location.open_location(uri, write=True):
            pass
    time.sleep(3.5)
    with location.open_location(uri, write=True) as local:
        assert locks.lock_owner(local).startswith(f"pid {os.getpid()} on ")


def test_training_actors_check_the_lease_object(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with location.open_location(uri, write=True) as local:
        owner = locks.lock_owner(local)
        locks.check_lease(local.portable, owner)  # held: no error
        with pytest.raises(leases.LeaseLostError, match="not by this worker's driver"):
            locks.check_lease(uri, owner.replace("lease", "lease f"))
    with pytest.raises(leases.LeaseLostError, match="holds no lease: the driver .* is gone"):
        locks.check_lease(uri, owner)


def test_a_writer_whose_lease_was_taken_over_writes_nothing_more(s3_server, s3_bucket):
    uri = f"s3://{s3_bucket}/run"
    with location.open_location(uri, write=True) as local:
        atomic.atomic_write_bytes(local / "a.txt", b"mine")
        s3_server.client().put_object(Bucket=s3_bucket, Key=f"run/{leases.LOCK_FILE}",
                                      Body=b'{"owner": "pid 1 on elsewhere lease 00"}')
        local.mirror.leases[""].renew()  # what the renewing thread does
        with pytest.raises(leases.LeaseLostError, match="lease lost: now held by 'pid 1 on"):
            atomic.atomic_write_bytes(local / "b.txt", b"mine too")
    assert set(s3_server.keys(s3_bucket)) == {"run/a.txt", f"run/{leases.LOCK_FILE}"}


def test_a_member_directory_takes_its_own_lease(s3_server, s3_bucket):
    root = f"s3://{s3_bucket}/ens"
    with location.open_location(root, write=True) as local:
        with locks.directory_lock(local):  # the root's: already held
            with locks.directory_lock(local / "seed=1"):
                child = subprocess.run(
                    [sys.executable, "-c", HOLD, f"{root}/seed=1", "60"], capture_output=True,
                    text=True, timeout=60)
                assert child.returncode != 0
                assert "in use by another stdp-ray process" in child.stderr
        assert f"ens/seed=1/{leases.LOCK_FILE}" not in s3_server.keys(s3_bucket)


class _OneObject:
    """A file system holding one object (just what ``_read_lease`` asks of a store)."""

    def __init__(self, data: bytes):
        self.data = data

    def open_input_stream(self, key):
        import io

        return io.BytesIO(self.data)


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"expires": ' + b"9" * 5000 + b"}",
                                  b"\xff\xfe", b"{not json"],
                         ids=["nested-too-deeply", "huge-integer", "not-utf8", "damaged"])
def test_a_damaged_lease_record_reads_as_unreadable_not_as_a_traceback(data):
    from stdp_ray.uris import Remote

    remote = Remote("s3://b/run", _OneObject(data), "b/run")
    assert leases._read_lease(remote) == {}


@pytest.fixture(scope="module")
def own_s3():
    """A moto S3 server of this module's own (stopped by a test; the session's never is)."""
    from s3_server import S3Server

    with S3Server() as server:
        yield server


def test_a_renewal_that_finds_the_store_stalled_fails_the_command_within_the_lease_time(
        own_s3, monkeypatch):
    from stdp_ray import stalls

    for name, value in own_s3.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(stalls.TIMEOUT_VARIABLE, "1")
    monkeypatch.setattr(leases, "LEASE_RENEW_S", 0.2)
    bucket = own_s3.new_bucket()
    uri = f"s3://{bucket}/run"
    with location.open_location(uri, write=True) as local:
        mirror = location.location_mirror(local)
        leases._RENEWER.wake.set()  # the renewer, if it sleeps a longer interval
        try:
            with own_s3.stopped():
                t0 = time.monotonic()
                with pytest.raises(stalls.StoreStalled,
                                   match=rf"^{uri}: the store \({own_s3.endpoint}\) has not "
                                         r"answered for 1 s \(reading \.lock\): stalled or "
                                         r"unreachable \(limit 1 s, STDP_RAY_STORE_TIMEOUT_S\)$"):
                    while True:
                        leases.check_renewals()  # what the loops waiting on Ray ask
                        assert time.monotonic() - t0 < leases.LEASE_SECONDS / 4
                        time.sleep(0.05)
                # The next write fails too, at once (the store's call is still blocked).
                with pytest.raises(stalls.StoreStalled, match="has not answered"):
                    mirror.check_leases()
        finally:
            leases._RENEWER.wake.clear()
