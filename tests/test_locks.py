"""The directory lock: exclusive, shared, released however the block ends; its lease."""

from __future__ import annotations

import os

import pytest

from conftest import lock_in_child
from stdp_ray import leases, locks
from stdp_ray.reading import ArtifactError


def test_directory_lock_is_exclusive_and_released(tmp_path):
    run = tmp_path / "run"
    with locks.directory_lock(run):
        assert f"pid {os.getpid()} on " in (run / leases.LOCK_FILE).read_text()
        with pytest.raises(leases.DirectoryBusyError,
                           match=r"run: already locked by this process \(a nested lock"):
            with locks.directory_lock(run):
                pass  # pragma: no cover
    with locks.directory_lock(run):  # released on exit
        pass
    with pytest.raises(KeyError):
        with locks.directory_lock(run):
            raise KeyError("boom")
    with locks.directory_lock(run):  # and on an error
        pass


def test_directory_lock_held_by_another_process(tmp_path):
    run = tmp_path / "run"
    with lock_in_child(run) as pid:
        with pytest.raises(leases.DirectoryBusyError,
                           match=rf"run: in use by another stdp-ray process \(pid {pid} on "):
            with locks.directory_lock(run):
                pass  # pragma: no cover
    with locks.directory_lock(run):  # the kernel dropped the dead holder's lock
        pass



def test_a_symlinked_lock_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / leases.LOCK_FILE).symlink_to(target)
    for shared in (False, True):
        with pytest.raises(ArtifactError, match=r"\.lock: is a symbolic link; refusing"):
            with locks.directory_lock(run, shared=shared):
                pass
    assert target.read_text() == "keep me\n"


def test_a_shared_lock_is_refused_while_a_writer_holds_it_and_writes_nothing(tmp_path):
    with locks.directory_lock(tmp_path, shared=True), \
            locks.directory_lock(tmp_path, shared=True):
        pass  # readers share it
    with lock_in_child(tmp_path) as pid:
        with pytest.raises(leases.DirectoryBusyError, match=f"pid {pid} on"):
            with locks.directory_lock(tmp_path, shared=True):
                pass
    assert locks.lock_owner(tmp_path).startswith(f"pid {pid} on")


def test_the_lease_holds_only_while_its_driver_holds_the_lock(tmp_path):
    with lock_in_child(tmp_path):
        owner = locks.lock_owner(tmp_path)
        locks.check_lease(tmp_path, owner)
        with pytest.raises(leases.LeaseLostError, match="not by this worker's driver"):
            locks.check_lease(tmp_path, owner.replace("lease ", "lease 0"))
    with pytest.raises(leases.LeaseLostError, match="its lock is free: the driver .* is gone"):
        locks.check_lease(tmp_path, owner)

