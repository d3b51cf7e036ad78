"""scripts/paper_table.py: rows, seeds, intervals and the comparison with the paper, on
hand-made run directories (the learning-curve rows are in test_curve.py)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from stdp_ray import atomic, rundir
from stdp_ray.config import Config
from stdp_ray.workflow import prepare_run

SCRIPT = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "paper_table.py"))


def run_with_metrics(run_dir: Path, *, seed: int, accuracy: float, neurons: int = 400,
               samples: int = 60_000, backend: str = "native", **settings) -> Path:
    """A run directory with a config and a metrics.json, as `stdp-ray test` writes them."""
    prepare_run(run_dir, Config(n_neurons=neurons, backend=backend, **settings), seed=seed)
    cm = np.zeros((10, 10), dtype=np.int64)
    correct = int(round(accuracy * 10_000))
    cm[0, 0], cm[0, 1] = correct, 10_000 - correct
    atomic.atomic_write_json(run_dir / rundir.METRICS_FILE, {
        "accuracy": correct / 10_000, "confusion_matrix": cm.tolist(), "n_samples": 10_000,
        "n_failed": 0, "mean_presentations": 1.0, "mean_spikes": 20.0, "wall_seconds": 60.0,
        "chunks": 200, "chunks_computed": 200, "chunk_size": 50, "workers": 2, "nodes": 1,
        "backend": backend, "seed": seed, "network": f"{seed:016x}", "n_neurons": neurons,
        "training_samples": samples, "observe_samples": 10_000,
        "provenance": {"commit": f"{seed:07d}abc", "versions": {}, "host": "h",
                       "created": "2026-01-01T00:00:00+00:00"}})
    return run_dir


def table(tmp_path, *args) -> list[dict]:
    out = tmp_path / "table"
    assert SCRIPT["main"]([str(out), *map(str, args)]) == 0
    return json.loads(out.with_suffix(".json").read_text())["rows"]


def test_seeds_of_one_recipe_make_one_row_with_mean_sd_and_prediction_interval(tmp_path):
    runs = [run_with_metrics(tmp_path / f"s{s}", seed=s, accuracy=a, backend="fast")
            for s, a in ((1, 0.881), (2, 0.8748), (3, 0.8774), (42, 0.8709))]
    (row,) = table(tmp_path, "--seeds", ",".join(map(str, runs)))
    assert row["kind"] == "seeds" and row["seeds"] == [1, 2, 3, 42]
    assert row["name"] == "400 neurons, 4 seeds, fast engine"
    assert row["accuracy"] == pytest.approx(np.mean([0.881, 0.8748, 0.8774, 0.8709]))
    assert row["sd"] == pytest.approx(np.std([0.881, 0.8748, 0.8774, 0.8709], ddof=1))
    assert row["interval"] == "prediction, 4 seeds"
    assert row["ci_low"] < 0.87 < row["ci_high"] and row["differs"] is False
    md = (tmp_path / "table.md").read_text()
    assert "+- 0.43 (sd)" in md and "87.00 % (+0.60; within)" in md
    for suffix in (".png", ".svg"):
        assert (tmp_path / f"table{suffix}").stat().st_size > 0
        assert (tmp_path / f"table-compute{suffix}").stat().st_size > 0


def test_one_network_gets_its_binomial_interval_and_is_held_against_the_paper(tmp_path):
    far = run_with_metrics(tmp_path / "n100", seed=42, accuracy=0.558, neurons=100)
    near = run_with_metrics(tmp_path / "n1600", seed=42, accuracy=0.9191, neurons=1600)
    early = run_with_metrics(tmp_path / "n6400", seed=42, accuracy=0.6846, neurons=6400, samples=10_000)
    rows = table(tmp_path, "--single", far, "--single", near, "--single", early)
    assert [r["interval"] for r in rows] == ["binomial"] * 3
    assert rows[0]["ci_low"] == pytest.approx(0.5482, abs=1e-4)
    assert [r["differs"] for r in rows] == [True, False, None]   # a snapshot is not a row of 15 epochs
    md = (tmp_path / "table.md").read_text()
    assert "82.90 % (-27.10; **differs**)" in md and "91.90 % (+0.01; within)" in md


def test_an_ensemble_root_stands_for_its_members_as_seeds(tmp_path):
    root = tmp_path / "ens"
    for s, a in ((1, 0.88), (2, 0.87)):
        run_with_metrics(root / f"seed={s}", seed=s, accuracy=a)
    atomic.atomic_write_json(root / rundir.ENSEMBLE_FILE, {})
    atomic.atomic_write_json(root / rundir.ENSEMBLE_METRICS_FILE, {
        "members": [{"run_dir": f"seed={s}", "seed": s, "accuracy": a, "training_samples": 60_000}
                    for s, a in ((1, 0.88), (2, 0.87))],
        "k": [1, 2], "accuracy_sum": [0.88, 0.89], "accuracy_vote": [0.88, 0.885],
        "mean_member_accuracy": 0.875, "ensemble_accuracy_sum": 0.89,
        "ensemble_accuracy_vote": 0.885, "n_samples": 10_000, "n_neurons": 400,
        "samples": 60_000})
    (row,) = table(tmp_path, "--seeds", root)
    assert row["seeds"] == [1, 2] and row["accuracy"] == pytest.approx(0.875)


@pytest.mark.parametrize("make, match", [
    (lambda p: [run_with_metrics(p / "a", seed=1, accuracy=0.8),
                run_with_metrics(p / "b", seed=2, accuracy=0.8, neurons=100)],
     r"the networks differ in n \(\['100', '400'\]\); seeds of one recipe only"),
    (lambda p: [run_with_metrics(p / "a", seed=1, accuracy=0.8),
                run_with_metrics(p / "b", seed=2, accuracy=0.8, theta_plus_mV=0.025)],
     r"the networks differ in settings"),
    (lambda p: [run_with_metrics(p / "a", seed=1, accuracy=0.8),
                run_with_metrics(p / "b", seed=1, accuracy=0.8)], r"seed repeated \(\[1, 1\]\)"),
    (lambda p: [run_with_metrics(p / "a", seed=1, accuracy=0.8)], r"names 1 network, need >= 2 seeds"),
])
def test_seeds_of_different_recipes_are_refused(tmp_path, make, match):
    runs = make(tmp_path)
    with pytest.raises(SystemExit, match=match):
        SCRIPT["main"]([str(tmp_path / "t"), "--seeds", ",".join(map(str, runs))])
    assert not (tmp_path / "t.json").exists()
