"""scripts/ship_results.py: what it copies, what it refuses."""

from __future__ import annotations

import importlib.util
from pathlib import Path


import os

from conftest import lock_in_child
from stdp_ray import atomic, report, rundir
from test_plots import make_run, make_sweep

_SPEC = importlib.util.spec_from_file_location(
    "ship_results", Path(__file__).resolve().parents[1] / "scripts" / "ship_results.py")
ship_results = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ship_results)


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_ships_a_run(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    report.write_run_report(run)
    assert ship_results.main([str(run), str(tmp_path / "results/r")]) == 0
    assert _files(tmp_path / "results/r") == [
        "config.json", "metrics.json", "network/network.json", "report/confusion.png",
        "report/confusion.svg", "report/receptive_fields.png", "report/report.md",
        "report/training_curves.png", "report/training_curves.svg",
        "report/training_summary.csv"]   # the network's provenance, not its arrays
    assert not list((tmp_path / "results").glob(".*"))  # no temporary left


def test_a_run_still_training_ships_its_learning_curve_without_metrics(tmp_path, caplog):
    run = tmp_path / "run"
    make_run(run, metrics=False)
    report.write_run_report(run)
    assert ship_results.main([str(run), str(tmp_path / "results/none")]) == 2
    assert "metrics.json: missing (is the run finished?)" in caplog.text
    row = {"samples_seen": 20, "epochs": 0.5, "label_samples": 10, "test_samples": 10,
           "accuracy": 0.5, "classes_covered": 10, "n_failed": 0, "mean_spikes": 9.0,
           "mean_presentations": 1.0, "theta_mean_mV": 20.0, "network": "0123456789abcdef"}
    curve = run / rundir.CURVE_DIR / rundir.CURVE_FILE
    rundir.write_table(curve, rundir.curve_table([row]))
    later = (run / "report/report.md").stat().st_mtime + 10
    os.utime(curve, (later, later))
    assert ship_results.main([str(run), str(tmp_path / "results/stale")]) == 2
    assert "report.md: older than" in caplog.text and "curve.parquet" in caplog.text
    os.utime(curve, (later - 20, later - 20))   # then the report is drawn again, after it
    report.write_run_report(run)
    assert ship_results.main([str(run), str(tmp_path / "results/r")]) == 0
    got = _files(tmp_path / "results/r")
    assert "curve/curve.parquet" in got and "config.json" in got and "metrics.json" not in got


def test_ships_an_ensemble_with_its_members(tmp_path):
    root = tmp_path / "ens"
    for seed in (1, 2):
        make_run(root / f"seed={seed}")
    atomic.atomic_write_json(root / "ensemble.json", {"seeds": [1, 2]})
    atomic.atomic_write_json(root / "metrics.json", {
        "members": [{"seed": s, "accuracy": 0.8, "run_dir": f"seed={s}"} for s in (1, 2)],
        "k": [1, 2], "accuracy_sum": [0.8, 0.85], "accuracy_vote": [0.8, 0.8]})
    (root / "ensemble_predictions.parquet").write_bytes(b"table")
    report.write_ensemble_report(root)
    dest = tmp_path / "results/ens"
    assert ship_results.main([str(root), str(dest)]) == 0
    got = _files(dest)
    for name in ("ensemble.json", "metrics.json", "ensemble_predictions.parquet",
                 "report/ensemble_accuracy.png", "report/report.md",
                 "seed=1/metrics.json", "seed=2/report/report.md",
                 "seed=2/report/training_summary.csv"):
        assert name in got, name
    assert not any(name.endswith(".npz") or "responses" in name for name in got)
    # The ensemble report's links to member reports resolve inside the copy.
    assert "[report](../seed=1/report/report.md)" in (dest / "report/report.md").read_text()


def test_refuses_to_overwrite_and_replaces_when_asked(tmp_path, caplog):
    run = tmp_path / "run"
    make_run(run)
    report.write_run_report(run)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    assert ship_results.main([str(run), str(dest)]) == 2
    assert "dest: exists; pass --overwrite" in caplog.text
    assert (dest / "old.txt").exists()
    assert ship_results.main([str(run), str(dest), "--overwrite"]) == 0
    assert not (dest / "old.txt").exists() and (dest / "metrics.json").is_file()


def test_refuses_a_run_without_report(tmp_path, caplog):
    run = tmp_path / "run"
    make_run(run)
    assert ship_results.main([str(run), str(tmp_path / "dest")]) == 2
    assert "report.md: missing; run `stdp-ray report" in caplog.text
    assert not (tmp_path / "dest").exists()
    assert not list(tmp_path.glob(".dest.*"))


def test_refuses_a_busy_or_stale_source(tmp_path, caplog):
    run = tmp_path / "run"
    make_run(run)
    report.write_run_report(run)
    with lock_in_child(run):
        assert ship_results.main([str(run), str(tmp_path / "dest")]) == 1
    assert "run: in use by another stdp-ray process" in caplog.text
    later = (run / "report/report.md").stat().st_mtime + 10
    os.utime(run / "metrics.json", (later, later))
    assert ship_results.main([str(run), str(tmp_path / "dest")]) == 2
    assert "report.md: older than" in caplog.text
    assert not (tmp_path / "dest").exists()


def test_refuses_a_malformed_ensemble_file(tmp_path, caplog):
    atomic.atomic_write_json(tmp_path / "ens" / "ensemble.json", {"seeds": "1,2"})
    assert ship_results.main([str(tmp_path / "ens"), str(tmp_path / "dest")]) == 2
    assert "seeds == '1,2' in " in caplog.text and "must be a sequence of ints" in caplog.text
    (tmp_path / "file").write_text("x")
    assert ship_results.main([str(tmp_path / "ens"), str(tmp_path / "file")]) == 2
    assert "file: exists and is not a directory" in caplog.text


def test_ships_a_sweep_with_every_finished_run_at_its_point(tmp_path):
    root = tmp_path / "sw"
    make_sweep(root)
    report.write_sweep_report(root)
    dest = tmp_path / "results/sw"
    assert ship_results.main([str(root), str(dest)]) == 0
    got = _files(dest)
    for name in ("sweep.json", "sweep.parquet", "report/sweep.png", "report/report.md",
                 "nu_post=0.005/seed=2/metrics.json", "nu_post=0.01/seed=1/config.json",
                 "nu_post=0.01/seed=1/report/report.md"):
        assert name in got, name
    assert not any(name.endswith(".npz") or "stats" in name for name in got)
    # The sweep report's links to run reports resolve inside the copy.
    md = (dest / "report/report.md").read_text()
    assert "[report](../nu_post=0.005/seed=2/report/report.md)" in md


def test_refuses_a_sweep_whose_run_lies_outside_it(tmp_path, caplog):
    root = tmp_path / "sw"
    make_sweep(root, runs=(("../elsewhere", 0.005, 1, 0.7),))
    (root / "report").mkdir()
    (root / "report/report.md").write_text("# hand-made\n")
    assert ship_results.main([str(root), str(tmp_path / "dest")]) == 2
    assert "run_dir '../elsewhere' must be a relative path inside the sweep directory" \
        in caplog.text
    assert not (tmp_path / "dest").exists()
