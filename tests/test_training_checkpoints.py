"""Training checkpoints as the driver and the trainer check them (no simulation)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import TINY, random_network
from stdp_ray import atomic, checkpoints, reading, rundir
from stdp_ray.config import config_to_dict
from stdp_ray.rundir import CheckpointState
from stdp_ray.reading import ArtifactError


def _checkpoint(train_dir, samples_done, seed=1, cfg=TINY):
    ckpt = rundir.checkpoints_dir(train_dir) / rundir.checkpoint_name(samples_done)
    net = random_network(cfg)
    atomic.atomic_save_npz(ckpt / rundir.CHECKPOINT_ARRAYS, weights=net.weights,
                          theta_mV=net.theta_mV, delays_ms=net.delays_ms)
    atomic.atomic_save_npz(ckpt / rundir.CHECKPOINT_DYNAMIC, exc_v=np.zeros(cfg.n_neurons))
    rundir.write_checkpoint_state(ckpt, CheckpointState(
        samples_done=samples_done, seed=seed, model=cfg.model_hash(),
        config=config_to_dict(cfg)))
    return ckpt


def test_a_checkpoint_of_this_run_is_read_back_whole(tmp_path):
    ckpt = _checkpoint(tmp_path, 6)
    found = checkpoints.read_checkpoint(ckpt, TINY, 1)
    assert found.samples_done == 6 and found.path == ckpt
    np.testing.assert_array_equal(found.arrays.weights, random_network(TINY).weights)
    assert set(found.dynamic) == {"exc_v"}
    assert checkpoints.read_checkpoint(ckpt, TINY, 1, dynamic=False).dynamic is None


def test_the_driver_and_the_trainer_refuse_the_same_checkpoints(tmp_path):
    _checkpoint(tmp_path, 6, seed=2)
    for check in (lambda: checkpoints.check_resumable(tmp_path, TINY, 1, 10),
                  lambda: checkpoints.read_checkpoint(rundir.latest_checkpoint(
                      rundir.checkpoints_dir(tmp_path)), TINY, 1)):
        with pytest.raises(ArtifactError, match="checkpoint of seed 2, this run has seed 1"):
            check()
    with pytest.raises(ArtifactError, match="checkpoint of another model configuration"):
        checkpoints.check_resumable(tmp_path, TINY.replace(nu_post=0.02), 2, 10)


def test_check_resumable_returns_the_samples_done_and_refuses_fewer(tmp_path):
    assert checkpoints.check_resumable(tmp_path, TINY, 1, 10) == 0
    _checkpoint(tmp_path, 6)
    assert checkpoints.check_resumable(tmp_path, TINY, 1, 10) == 6
    with pytest.raises(checkpoints.TrainingError, match="has already trained 6 samples"):
        checkpoints.check_resumable(tmp_path, TINY, 1, 5)


def test_a_checkpoint_whose_arrays_do_not_fit_the_configuration_is_refused(tmp_path):
    _checkpoint(tmp_path, 6, cfg=TINY.replace(n_neurons=11))
    bigger = TINY.replace(n_neurons=11)
    assert checkpoints.check_resumable(tmp_path, bigger, 1, 10) == 6
    ckpt = rundir.latest_checkpoint(rundir.checkpoints_dir(tmp_path))
    # Same model hash but other arrays: the arrays are checked too.
    atomic.atomic_save_npz(ckpt / rundir.CHECKPOINT_ARRAYS, weights=np.zeros((3, 3)),
                          theta_mV=np.zeros(3), delays_ms=np.zeros((3, 3)))
    with pytest.raises(ArtifactError, match="weights has shape"):
        checkpoints.check_resumable(tmp_path, bigger, 1, 10)


def _checksummed(train_dir, samples_done):
    """A checkpoint whose state.json records the SHA-256 of its arrays (as the trainer's)."""
    ckpt = _checkpoint(train_dir, samples_done)
    rundir.write_checkpoint_state(ckpt, CheckpointState(
        samples_done=samples_done, seed=1, model=TINY.model_hash(), config=config_to_dict(TINY),
        checksums={n: reading.sha256_of(ckpt / n) for n in checkpoints.CHECKPOINT_FILES}))
    return ckpt


@pytest.mark.parametrize("damage", ["flip a byte", "truncate"])
def test_a_damaged_newest_checkpoint_is_reported_and_the_previous_one_used(tmp_path, caplog,
                                                                          damage):
    _checksummed(tmp_path, 3)
    newest = _checksummed(tmp_path, 6)
    path = newest / rundir.CHECKPOINT_DYNAMIC
    blob = bytearray(path.read_bytes())
    if damage == "flip a byte":
        blob[len(blob) // 2] ^= 0xFF
    else:
        blob = blob[:40]
    path.write_bytes(bytes(blob))
    found = checkpoints.newest_usable_checkpoint(tmp_path, TINY, 1)
    assert found.samples_done == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert re.fullmatch(r"checkpoint ckpt-000000006 is damaged \(.*dynamic\.npz: damaged "
                        r"\(sha256 .*\); using the previous one, ckpt-000000003", warnings[0])
    assert checkpoints.check_resumable(tmp_path, TINY, 1, 10) == 3


@pytest.mark.parametrize("damage", [b"[" * 100_000, b'{"samples_done": ' + b"9" * 5000 + b"}",
                                    b"\xff{}", b"{"],
                         ids=["nested-too-deeply", "huge-integer", "not-utf8", "truncated"])
def test_a_newest_checkpoint_whose_state_json_is_damaged_falls_back_to_the_previous_one(
        tmp_path, caplog, damage):
    _checksummed(tmp_path, 3)
    newest = _checksummed(tmp_path, 6)
    (newest / rundir.CHECKPOINT_STATE).write_bytes(damage)
    assert checkpoints.newest_usable_checkpoint(tmp_path, TINY, 1).samples_done == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert re.fullmatch(r"checkpoint ckpt-000000006 is damaged \(.*state\.json: .*\); using "
                        r"the previous one, ckpt-000000003", warnings[0])


@pytest.mark.parametrize("count", [1, 2])
def test_no_warning_promises_a_previous_checkpoint_when_none_remains(tmp_path, caplog, count):
    for samples in (3, 6)[:count]:
        ckpt = _checksummed(tmp_path, samples)
        (ckpt / rundir.CHECKPOINT_ARRAYS).write_bytes(b"PK-not-a-zip")
    with pytest.raises(ArtifactError, match=r"ckpt-000000006/arrays\.npz: damaged" if count == 2
                       else r"ckpt-000000003/arrays\.npz: damaged"):
        checkpoints.newest_usable_checkpoint(tmp_path, TINY, 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert not any(w.endswith("using the previous one") for w in warnings)
    if count == 2:
        assert warnings[-1].startswith("checkpoint ckpt-000000003 is damaged") \
            and warnings[-1].endswith("no earlier checkpoint remains")


def test_when_every_checkpoint_is_damaged_the_newest_error_is_raised(tmp_path):
    ckpt = _checksummed(tmp_path, 6)
    (ckpt / rundir.CHECKPOINT_ARRAYS).write_bytes(b"PK-not-a-zip")
    with pytest.raises(ArtifactError, match=r"ckpt-000000006/arrays\.npz: damaged"):
        checkpoints.newest_usable_checkpoint(tmp_path, TINY, 1)


def test_a_checkpoint_of_another_run_is_never_skipped_for_an_older_one(tmp_path):
    _checksummed(tmp_path, 3)
    _checkpoint(tmp_path, 6, seed=2)
    with pytest.raises(checkpoints.ForeignCheckpointError, match="checkpoint of seed 2"):
        checkpoints.newest_usable_checkpoint(tmp_path, TINY, 1)
