"""scripts/checkpoint_bundle.py: a run's newest checkpoint, continued on another machine."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from conftest import sparse_images
from stdp_ray import rundir
from stdp_ray.rundir import RunRecord
from stdp_ray.trainer import Trainer

_SPEC = importlib.util.spec_from_file_location(
    "checkpoint_bundle", Path(__file__).resolve().parents[1] / "scripts" / "checkpoint_bundle.py")
checkpoint_bundle = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(checkpoint_bundle)

pytestmark = pytest.mark.slow


def test_a_bundled_fast_checkpoint_continues_as_the_original(tiny_cfg, tmp_path):
    cfg = tiny_cfg.replace(backend="fast")
    images, labels = sparse_images(8, seed=5), np.arange(8) % 10
    run = tmp_path / "run"
    rundir.write_run_record(run, RunRecord(cfg, 3))
    original = Trainer(cfg, 3, run / "train", images, labels, checkpoint_every=4)
    for _ in range(4):
        original.train_one()
    out = tmp_path / "bundle" / "tiny"
    ckpt = checkpoint_bundle.bundle(run, out)
    assert ckpt.name == rundir.checkpoint_name(4) and (out / "README.md").is_file()
    moved = tmp_path / "elsewhere"
    (moved / "train" / "checkpoints").mkdir(parents=True)
    (moved / "config.json").write_bytes((out / "config.json").read_bytes())
    import shutil

    shutil.copytree(ckpt, moved / "train" / "checkpoints" / ckpt.name)
    resumed = Trainer(cfg, 3, moved / "train", images, labels, checkpoint_every=10**6)
    assert resumed.samples_done == 4
    rows = [(original.train_one(), resumed.train_one()) for _ in range(3)]
    for a, b in rows:
        assert a["total_spikes"] == b["total_spikes"] and a["w_std"] == b["w_std"]
    np.testing.assert_array_equal(resumed.sim.get_weights(), original.sim.get_weights())


def test_an_existing_bundle_is_kept_without_overwrite(tiny_cfg, tmp_path):
    run = tmp_path / "run"
    rundir.write_run_record(run, RunRecord(tiny_cfg.replace(backend="fast"), 3))
    with pytest.raises(SystemExit, match="no checkpoint to bundle"):
        checkpoint_bundle.bundle(run, tmp_path / "b")
    (tmp_path / "b").mkdir()
    Trainer(tiny_cfg.replace(backend="fast"), 3, run / "train", sparse_images(2),
            np.arange(2), checkpoint_every=1).train_one()
    with pytest.raises(SystemExit, match="exists; use --overwrite"):
        checkpoint_bundle.bundle(run, tmp_path / "b")
