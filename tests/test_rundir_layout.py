"""Names and paths of a run directory, an ensemble root and a sweep root."""

from __future__ import annotations

import pytest

from stdp_ray import artifact, rundir
from stdp_ray.rundir import CheckpointState


def test_phase_directories_are_hive_partitions_of_responses(tmp_path):
    assert rundir.phase_dir(tmp_path, "test") == tmp_path / "responses" / "phase=test"
    with pytest.raises(ValueError, match="phase == 'train'"):
        rundir.phase_dir(tmp_path, "train")


def test_what_a_phase_derives_is_listed_once(tmp_path):
    assert [p.relative_to(tmp_path).as_posix() for p in rundir.derived_files(tmp_path, "test")] \
        == ["predictions.parquet", "metrics.json"]
    assert (tmp_path / "network" / artifact.ASSIGNMENTS_NPZ) in rundir.derived_files(tmp_path,
                                                                                 "observe")


def test_members_of_an_ensemble_are_hive_partitions_named_by_seed(tmp_path):
    assert rundir.member_dir(tmp_path, 7) == tmp_path / "seed=7"


def test_checkpoints_are_listed_oldest_first_and_incomplete_ones_only_when_asked(tmp_path):
    for n in (12, 3, 1000):
        rundir.write_checkpoint_state(tmp_path / rundir.checkpoint_name(n),
                                      CheckpointState(samples_done=n))
    (tmp_path / rundir.checkpoint_name(2000)).mkdir()          # no state file: incomplete
    (tmp_path / ".ckpt-000003000.abc").mkdir()                  # a temporary
    assert [p.name for p in rundir.checkpoint_dirs(tmp_path)] == [
        "ckpt-000000003", "ckpt-000000012", "ckpt-000001000"]
    assert rundir.latest_checkpoint(tmp_path).name == "ckpt-000001000"
    assert rundir.checkpoint_dirs(tmp_path, complete=False)[-1].name == "ckpt-000002000"
    assert rundir.latest_checkpoint(tmp_path / "none") is None
