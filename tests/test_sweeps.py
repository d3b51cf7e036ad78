"""Sweeps: the grid, its points, and a 2x2 sweep of a tiny network interrupted and resumed."""

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stdp_ray import artifact, rundir
from stdp_ray.cli import main
from stdp_ray.config import Config, ConfigError
from stdp_ray import faults, sweeps
from stdp_ray.sweeps import grid_points, parse_grid, run_sweep
from stdp_ray.options import RunOptions


@pytest.mark.parametrize("text,expected", [
    ("nu_post=0.005,0.01", {"nu_post": [0.005, 0.01]}),
    ("nu_post=0.005 theta_plus_mV=0.03,0.05",
     {"nu_post": [0.005], "theta_plus_mV": [0.03, 0.05]}),
    ("n_neurons=100,400  backend=native", {"n_neurons": [100, 400], "backend": ["native"]}),
])
def test_a_grid_is_typed_by_its_fields(text, expected):
    assert parse_grid(text) == expected


@pytest.mark.parametrize("text,match", [
    ("", r"must name >= 1 field"),
    ("nu_post", r"must be KEY=V1,V2"),
    ("nu_post=", r"no values, must list >= 1"),
    ("nu_post=0.1 nu_post=0.2", r"field 'nu_post' named twice"),
    ("nu_post=0.1,0.1", r"values repeat, must be distinct"),
    ("nu_postt=0.1", r"unknown configuration field 'nu_postt' \(did you mean 'nu_post'\?\)"),
    ("n_neurons=10,ten", r"'ten' is not an integer"),
])
def test_bad_grids_are_refused_naming_the_field(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_grid(text)


def test_points_are_the_product_first_field_slowest():
    points = grid_points(Config(n_neurons=10), {"nu_post": [0.005, 0.01],
                                                 "theta_plus_mV": [0.03, 0.05]})
    assert [p for p, _ in points] == [
        {"nu_post": 0.005, "theta_plus_mV": 0.03}, {"nu_post": 0.005, "theta_plus_mV": 0.05},
        {"nu_post": 0.01, "theta_plus_mV": 0.03}, {"nu_post": 0.01, "theta_plus_mV": 0.05}]
    assert all(c.n_neurons == 10 and c.nu_post == p["nu_post"] for p, c in points)


def test_a_point_out_of_range_is_refused_before_anything_is_written(tmp_path, mnist_dir):
    with pytest.raises(ConfigError, match=r"--grid point nu_post=-1.0: nu_post == -1.0, "
                                          r"must be >= 0"):
        run_sweep(tmp_path / "sweep", Config(n_neurons=10), {"nu_post": [0.01, -1.0]}, [1],
                  RunOptions(samples=2, data_dir=mnist_dir, progress=False))
    assert not (tmp_path / "sweep").exists()


def test_point_directories_are_hive_partitions(tmp_path):
    path = rundir.sweep_point_dir(tmp_path, {"nu_post": 0.005, "backend": "native"}, 3)
    assert path == tmp_path / "nu_post=0.005" / "backend=native" / "seed=3"


TINY_SWEEP = ["--grid", "nu_post=0.005,0.01 theta_plus_mV=0.03,0.05", "--seeds", "1",
              "--neurons", "10", "--samples", "4", "--checkpoint-every", "2",
              "--observe-samples", "20", "--test-samples", "10", "--chunk-size", "10",
              "--no-progress"]


@pytest.mark.slow
def test_an_interrupted_2x2_sweep_resumes_point_by_point(tmp_path, mnist_dir, ray_local):
    root = tmp_path / "sweep"
    args = [str(root), *TINY_SWEEP, "--data-dir", str(mnist_dir)]
    # First attempt, in its own process: it dies (as if killed) after the second run.
    fault = tmp_path / "fault"
    fault.write_text("run 1")
    env = {**os.environ, faults.env_var("sweep-run"): str(fault), "RAY_ADDRESS": ""}
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    child = subprocess.run([sys.executable, "-m", "stdp_ray.cli", "sweep", *args, "--workers",
                            "2"], env=env, capture_output=True, text=True, timeout=600)
    assert child.returncode == 1, child.stderr[-3000:]
    partial = pd.read_parquet(root / rundir.SWEEP_SUMMARY_FILE)
    assert len(partial) == 2
    done = [root / d for d in partial["run_dir"]]
    kept = {d: (d / rundir.METRICS_FILE).read_bytes() for d in done}
    assert not (root / rundir.SWEEP_PNG).exists()

    # Second attempt: the two finished runs are skipped, the other two evaluated.
    assert main(["sweep", *args]) == 0
    for d, before in kept.items():
        assert (d / rundir.METRICS_FILE).read_bytes() == before
    table = pq.read_table(root / rundir.SWEEP_SUMMARY_FILE)
    assert table.schema.field("nu_post").type == pa.float64()
    assert table.schema.field("seed").type == pa.int64()
    summary = table.to_pandas()
    assert summary[["nu_post", "theta_plus_mV"]].values.tolist() == [
        [0.005, 0.03], [0.005, 0.05], [0.01, 0.03], [0.01, 0.05]]
    assert summary["point"].tolist()[1] == "nu_post=0.005/theta_plus_mV=0.05"
    for row in summary.itertuples():
        run = root / row.run_dir
        metrics = json.loads((run / rundir.METRICS_FILE).read_text())
        assert row.accuracy == metrics["accuracy"] and row.n_failed == metrics["n_failed"]
        assert (row.n_samples, row.training_samples, row.seed) == (10, 4, 1)
        stored = json.loads((run / rundir.RUN_CONFIG_FILE).read_text())["config"]
        assert (stored["nu_post"], stored["theta_plus_mV"], stored["n_neurons"]) == \
            (row.nu_post, row.theta_plus_mV, 10)
        meta = rundir.read_table_metadata(run / rundir.PREDICTIONS_FILE)
        assert (meta["seed"], meta["network"]) == ("1", metrics["network"])
        stats = pq.read_table(run / rundir.STATS_DIR).to_pandas()
        assert row.train_failed == int(stats["failed"].sum())
        assert row.training_seconds == pytest.approx(stats["seconds"].sum())
    assert np.all((summary["accuracy"] >= 0) & (summary["accuracy"] <= 1))
    assert (root / rundir.SWEEP_PNG).stat().st_size > 0
    # `stdp-ray report` of the sweep root: its figure and a report linking every run's.
    assert main(["report", str(root)]) == 0
    md = (root / rundir.REPORT_DIR / rundir.REPORT_MD).read_text()
    for row in summary.itertuples():
        assert f"../{row.run_dir}/report/report.md" in md
        assert (root / row.run_dir / rundir.REPORT_DIR / rundir.REPORT_MD).is_file()
    assert (root / rundir.REPORT_DIR / rundir.SWEEP_PNG).stat().st_size > 0
    # A point restored from shipped results (its small files only: no arrays, no training
    # statistics) counts as finished; its training failures read as unknown, not as 0.
    shipped = root / summary["run_dir"].iloc[0]
    for path in sorted(shipped.rglob("*"), reverse=True):
        keep = path.relative_to(shipped).as_posix() in {
            rundir.RUN_CONFIG_FILE, rundir.METRICS_FILE, rundir.PREDICTIONS_FILE,
            f"{rundir.NETWORK_DIR}/{artifact.NETWORK_JSON}", rundir.NETWORK_DIR}
        if not keep:
            path.rmdir() if path.is_dir() else path.unlink()
    assert main(["sweep", *args]) == 0
    restored = pd.read_parquet(root / rundir.SWEEP_SUMMARY_FILE)
    assert restored["accuracy"].tolist() == summary["accuracy"].tolist()
    assert pd.isna(restored["train_failed"].iloc[0])
    assert restored["train_failed"].iloc[1:].tolist() == summary["train_failed"].iloc[1:].tolist()
    # Another grid in the same root is refused.
    assert main(["sweep", str(root), *TINY_SWEEP[2:], "--grid", "nu_post=0.02",
                 "--data-dir", str(mnist_dir)]) == 2


def test_a_sweep_stopped_while_training_lists_its_finished_runs(tmp_path, mnist_dir,
                                                               ray_local, monkeypatch):
    root = tmp_path / "sweep"
    args = ["sweep", str(root), *TINY_SWEEP, "--grid", "nu_post=0.005,0.01",
            "--data-dir", str(mnist_dir)]
    assert main(args) == 0
    first = pd.read_parquet(root / rundir.SWEEP_SUMMARY_FILE)
    # The second point loses its network and scores (to be trained again); the summary goes.
    second = root / first["run_dir"].iloc[1]
    shutil.rmtree(second)
    (root / rundir.SWEEP_SUMMARY_FILE).unlink()

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt("signal 2")

    monkeypatch.setattr(sweeps.training, "train_many", interrupted)
    assert main(args) == 130
    summary = pd.read_parquet(root / rundir.SWEEP_SUMMARY_FILE)
    assert summary["run_dir"].tolist() == first["run_dir"].tolist()[:1]
    assert summary["accuracy"].tolist() == first["accuracy"].tolist()[:1]


def _values(n: int) -> list[float]:
    return [round(0.001 * (i + 1), 6) for i in range(n)]


@pytest.mark.parametrize("counts, seeds, runs", [
    ((1000, 1000), 1, 1_000_000), ((100, 100), 1, 10_000), ((501,), 2, 1002),
    ((10, 10, 10, 10, 10, 10), 1, 1_000_000)])
def test_a_grid_above_max_sweep_runs_is_refused_at_once_without_making_its_points(
        monkeypatch, counts, seeds, runs):
    from stdp_ray import sweeps

    monkeypatch.setattr(sweeps, "apply_settings", lambda *a, **k: pytest.fail("point made"))
    names = ["nu_post", "nu_pre", "theta_plus_mV", "w_max", "weight_sum", "w_exc_inh"]
    grid = {name: _values(n) for name, n in zip(names, counts)}
    shape = " x ".join(map(str, counts))
    with pytest.raises(ConfigError, match=rf"^--grid: {math.prod(counts)} points \({shape}\) x "
                                          rf"{seeds} seeds? = {runs} runs, at most 1000 "
                                          r"\(MAX_SWEEP_RUNS\); split the sweep$"):
        grid_points(Config(), grid, seeds)
    if seeds == 1:
        text = " ".join(f"{k}=" + ",".join(map(str, v)) for k, v in grid.items())
        monkeypatch.setattr(sweeps, "parse_setting", lambda *a, **k: pytest.fail("value typed"))
        with pytest.raises(ConfigError, match=rf"{runs} runs, at most 1000"):
            parse_grid(text)


def test_a_grid_of_max_sweep_runs_is_accepted():
    from stdp_ray.sweeps import MAX_SWEEP_RUNS

    assert len(grid_points(Config(), {"nu_post": _values(500)}, 2)) == 500
    assert len(parse_grid("nu_post=" + ",".join(map(str, _values(MAX_SWEEP_RUNS))))["nu_post"]) \
        == MAX_SWEEP_RUNS


def test_a_sweep_too_large_exits_2_in_one_line_before_anything_is_created(tmp_path, caplog,
                                                                           mnist_dir):
    from stdp_ray.cli import main

    grid = "nu_post=" + ",".join(map(str, _values(400))) + " theta_plus_mV=0.03,0.05"
    status = main(["sweep", str(tmp_path / "sweep"), "--grid", grid, "--seeds", "1,2",
                   "--data-dir", str(mnist_dir), "--no-progress"])
    assert status == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == ["--grid: 800 points (400 x 2) x 2 seeds = 1600 runs, at most 1000 "
                      "(MAX_SWEEP_RUNS); split the sweep"]
    assert not (tmp_path / "sweep").exists()
