"""What interrupted writes leave in a run directory, and its sweep."""

from __future__ import annotations

from stdp_ray import rundir


def test_temporaries_of_todays_checkpoint_writer_are_swept(tmp_path):
    run = tmp_path / "run"
    temporary = run / "train" / "checkpoints" / ".ckpt-000000008.k2j3"
    (temporary / "sub").mkdir(parents=True)
    kept = run / "train" / "checkpoints" / "ckpt-000000004" / "state.json"
    kept.parent.mkdir(parents=True)
    kept.write_text("{}")
    assert rundir.sweep_temporaries(run) == [temporary]
    assert kept.exists()
