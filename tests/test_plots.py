"""Figures and reports on hand-made run directories (no simulation)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib import colormaps
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from conftest import random_network
from stdp_ray.network import network_fingerprint
from stdp_ray import artifact, atomic, intervals, plots, report, rundir
from stdp_ray.config import Config
from stdp_ray.workflow import prepare_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N = 10


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------
def stats_rows(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"sample": i, "image": int(rng.integers(60_000)), "label": int(i % 10),
             "total_spikes": int(rng.integers(0, 40)), "intensity": float(2 + (i % 3)),
             "presentations": int(1 + (i % 3)), "failed": bool(i == 3),
             "w_mean": 0.1 + 1e-4 * i, "w_std": 0.05 + 1e-4 * i,
             "theta_mean_mV": 20.0 + 0.01 * i, "theta_std_mV": 0.5 + 0.001 * i,
             "seconds": 0.3} for i in range(n)]


def confusion(n_per_class: int = 10, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), n_per_class)
    predicted = np.where(rng.random(labels.size) < 0.8, labels, rng.integers(0, 10, labels.size))
    cm = np.zeros((10, 10), dtype=np.int64)
    np.add.at(cm, (labels, predicted), 1)
    return cm


def make_run(run_dir, *, stats: bool = True, metrics: bool = True, network: bool = True,
             assignments: bool = True):
    """A run directory written by hand: config, network, stats part, metrics."""
    cfg = Config(n_neurons=N)
    prepare_run(run_dir, cfg, seed=1)
    if network:
        artifact.save_network(run_dir / rundir.NETWORK_DIR, cfg, random_network(cfg),
                              prov={"seed": 1, "training_samples": 20, "training_seconds": 6.5})
        if assignments:
            artifact.save_assignments(run_dir / rundir.NETWORK_DIR, cfg, np.arange(N) % 10,
                                      np.random.default_rng(0).random((10, N)))
    if stats:
        rundir.write_table(run_dir / rundir.STATS_DIR / "part-000000000.parquet",
                           pa.Table.from_pylist(stats_rows(20), schema=rundir.TRAIN_STATS_SCHEMA))
    if metrics:
        cm = confusion()
        atomic.atomic_write_json(run_dir / rundir.METRICS_FILE, {
            "accuracy": float(np.trace(cm) / cm.sum()), "confusion_matrix": cm.tolist(),
            "n_samples": int(cm.sum()), "n_failed": 2, "mean_presentations": 1.2,
            "mean_spikes": 14.5, "wall_seconds": 75.0, "chunks": 2, "chunks_computed": 2,
            "chunk_size": 50, "workers": 2, "nodes": 1, "backend": "runtime", "seed": 1,
            "network": network_fingerprint(random_network(cfg)) if network else "0123456789abcdef",
            "n_neurons": N, "training_samples": 20,
            "provenance": {"versions": {"stdp_ray": "0.1.0", "numpy": np.__version__},
                           "host": "testhost", "created": "2025-01-01T00:00:00+00:00",
                           "commit": "deadbeef"}})
    return cfg


def check_png(path, min_w: int = 200, min_h: int = 200) -> np.ndarray:
    assert path.is_file()
    data = path.read_bytes()
    assert len(data) > 1000
    assert data.startswith(PNG_SIGNATURE)
    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert min_w <= w <= 5000 and min_h <= h <= 5000, (w, h)
    assert img.std() > 0.01  # not a blank canvas
    return img


# --------------------------------------------------------------------------
# Pure figures
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n, grid", [(1, (1, 1)), (10, (3, 4)), (400, (20, 20)),
                                     (401, (20, 21)), (6400, (80, 80))])
def test_tile_grid_shape(n, grid):
    assert plots.tile_grid_shape(n) == grid
    rows, cols = grid
    assert rows * cols >= n > (rows - 1) * cols


@pytest.mark.parametrize("n", [1, 10, 400])
def test_receptive_fields_grid(n):
    rng = np.random.default_rng(n)
    w = rng.random((784, n))
    a = rng.integers(0, 10, n)
    rows, cols = plots.tile_grid_shape(n)
    side = 28 + 2 * 2  # border 2 up to LABEL_LIMIT neurons
    img = plots.receptive_field_image(w, a)
    assert img.shape == (rows * side, cols * side, 4) and img.dtype == np.uint8
    # Tile j's interior is neuron j's weights as a 28x28 image (row-major pixels).
    j = n - 1
    r, c = divmod(j, cols)
    tile = img[r * side + 2:(r + 1) * side - 2, c * side + 2:(c + 1) * side - 2]
    expected_tile = colormaps["Greys"](w[:, j].reshape(28, 28) / w.max(), bytes=True)
    np.testing.assert_array_equal(tile, expected_tile)
    # The frame has the class colour.
    expected = np.round(plots.CLASS_COLORS[a[j]] * 255).astype(np.uint8)
    np.testing.assert_array_equal(img[r * side, c * side, :3], expected)

    fig = plots.receptive_fields_figure(w, a)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.images) == 1  # one image, not n subplots
    assert ax.images[0].get_array().shape[:2] == (rows * side, cols * side)
    assert len(ax.texts) == n   # class digits up to LABEL_LIMIT


def test_receptive_fields_large_grid_has_no_text_labels():
    n = 1600
    w = np.random.default_rng(0).random((784, n))
    fig = plots.receptive_fields_figure(w, np.arange(n) % 10)
    ax = fig.axes[0]
    assert len(ax.texts) == 0
    side = 28 + 2  # border 1 above LABEL_LIMIT
    assert ax.images[0].get_array().shape[:2] == (40 * side, 40 * side)
    assert "frame colour" in ax.get_title()


def test_receptive_fields_without_assignments():
    w = np.random.default_rng(0).random((784, 5))
    fig = plots.receptive_fields_figure(w)
    assert len(fig.axes[0].texts) == 0
    assert "no label assignment" in fig.axes[0].get_title()


@pytest.mark.parametrize("weights, assignments, exc, match", [
    (np.zeros((100, 10)), None, ValueError, r"weights has shape \(100, 10\), must be \(784"),
    (np.zeros(784), None, ValueError, "weights has shape"),
    (np.zeros((784, 0)), None, ValueError, "n_neurons >= 1"),
    (np.full((784, 2), np.nan), None, ValueError, "non-finite"),
    (np.zeros((784, 10)), np.zeros(9, int), ValueError,
     r"assignments has shape \(9,\), must be \(10,\)"),
    (np.zeros((784, 3)), np.array([0, 1, 10]), ValueError, "assignments must lie in 0..9"),
    (np.zeros((784, 3)), np.array([0.0, 1.0, 2.0]), TypeError, "assignments has dtype"),
    (np.full((784, 3), "x"), None, TypeError, "weights has dtype"),
])
def test_receptive_fields_bad_input(weights, assignments, exc, match):
    with pytest.raises(exc, match=match):
        plots.receptive_fields_figure(weights, assignments)


def test_confusion_figure():
    cm = confusion()
    fig = plots.confusion_figure(cm)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    assert f"{100 * np.trace(cm) / cm.sum():.2f}%" in ax.get_title()
    assert len(ax.texts) == np.count_nonzero(cm)
    np.testing.assert_allclose(ax.images[0].get_array().sum(axis=1), 100.0)
    assert len(fig.axes) == 2  # + colorbar


def test_confusion_figure_empty_row():
    cm = confusion()
    cm[4] = 0
    fig = plots.confusion_figure(cm)
    assert "no samples of class 4" in fig.axes[0].get_title()


@pytest.mark.parametrize("cm, exc, match", [
    (np.zeros((9, 10), int), ValueError, r"shape \(9, 10\), must be \(10, 10\)"),
    (np.ones(10, int), ValueError, "must be"),
    (np.zeros((10, 10), int), ValueError, "all zeros"),
    (-np.eye(10, dtype=int), ValueError, "negative"),
    (np.full((10, 10), 0.5), TypeError, "non-integer"),
    (np.full((10, 10), "a"), TypeError, "dtype"),
])
def test_confusion_figure_bad_input(cm, exc, match):
    with pytest.raises(exc, match=match):
        plots.confusion_figure(cm)


@pytest.mark.parametrize("n", [1, 20, 5000])
def test_training_curves_figure(n):
    df = pd.DataFrame(stats_rows(n)).sample(frac=1.0, random_state=0)  # unsorted rows
    fig = plots.training_curves_figure(df)
    assert len(fig.axes) == 5  # 4 panels + the presentations twin axis
    win = plots.rolling_window(n)
    spikes_ax = fig.axes[0]
    line = spikes_ax.lines[-1]
    x = line.get_xdata()
    assert np.all(np.diff(x) > 0)  # sorted by sample
    expected = pd.Series([r["total_spikes"] for r in stats_rows(n)], dtype=float) \
        .rolling(win, min_periods=1).mean().to_numpy()
    shown = plots.thin(n)   # long series are drawn at a few thousand points
    assert len(shown) == min(n, 4000) and shown[0] == 0 and shown[-1] == n - 1
    np.testing.assert_allclose(line.get_ydata(), expected[shown])
    assert f"{n:,} samples" in fig._suptitle.get_text()


def test_rolling_window():
    assert plots.rolling_window(1) == 1
    assert plots.rolling_window(60) == 1
    assert plots.rolling_window(5000) == 100
    assert plots.rolling_window(10**7) == 1000


def test_training_curves_bad_input():
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        plots.training_curves_figure(np.zeros((3, 8)))
    with pytest.raises(ValueError, match=r"lack columns \['theta_std_mV'\]"):
        plots.training_curves_figure(pd.DataFrame(stats_rows(3)).drop(columns="theta_std_mV"))
    with pytest.raises(ValueError, match="no rows"):
        plots.training_curves_figure(pd.DataFrame(columns=list(plots.TRAIN_STATS_COLUMNS)))


def test_ensemble_accuracy_figure():
    fig = plots.ensemble_accuracy_figure([1, 2, 3], [0.80, 0.84, 0.86], [0.80, 0.83, 0.85],
                                         [0.80, 0.79, 0.81])
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [80, 84, 86])
    (members,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(members.get_offsets()[:, 1], [80, 79, 81])
    assert "86.00% at K = 3" in ax.get_title()


def test_ensemble_accuracy_has_binomial_error_bars_when_the_test_size_is_known():
    fig = plots.ensemble_accuracy_figure([1, 2], [0.80, 0.84], [0.80, 0.83], [0.80, 0.79],
                                         n_test=10_000)
    ax = fig.axes[0]
    low, high = ax.containers[0][2][0].get_segments()[1][:, 1]
    assert high - low == pytest.approx(200 * intervals.wilson_interval(0.84, 10_000).half_width)
    assert "95 % binomial" in ax.get_title()


@pytest.mark.parametrize("args, match", [
    (([1, 2], [0.8], [0.8, 0.9], [0.8]), "same length"),
    (([], [], [], [0.8]), "non-empty"),
    (([0, 1], [0.8, 0.9], [0.8, 0.9], [0.8]), ">= 1"),
    (([1, 2], [0.8, 1.2], [0.8, 0.9], [0.8]), r"accuracy_sum must hold accuracies in \[0, 1\]"),
    (([1], [0.8], [0.8], []), "members has shape"),
])
def test_ensemble_accuracy_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        plots.ensemble_accuracy_figure(*args)


# --------------------------------------------------------------------------
# Run reports
# --------------------------------------------------------------------------
def test_run_report(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    paths = report.write_run_report(run)
    out = run / "report"
    names = ["confusion.png", "receptive_fields.png", "training_curves.png"]
    assert paths == [out / n for n in names] + [out / "training_summary.csv", out / "report.md"]
    for name in names:
        check_png(out / name)
    summary = pd.read_csv(out / "training_summary.csv")
    assert summary[["first_sample", "last_sample", "samples"]].values.tolist() == [[0, 19, 20]]
    md = (out / "report.md").read_text()
    for name in names + ["training_summary.csv"]:
        assert f"]({name})" in md
    assert "Not included" not in md
    for text in ("| Test accuracy | ", "| Excitatory neurons | 10 |", "| Training samples | 20 |",
                 "| Failed test samples", "| Failed training samples | 1 |",
                 "| Test wall time | 1 min 15 s", "| Backend | runtime |", "| Seed | 1 |",
                 "`deadbeef`", "numpy " + np.__version__,
                 network_fingerprint(random_network(Config(n_neurons=N)))):
        assert text in md, text
    cm = confusion()
    assert f"{100 * np.trace(cm) / cm.sum():.2f}% ({np.trace(cm)} / {cm.sum()})" in md
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries
    # Rewriting replaces the files in place.
    assert report.write_run_report(run) == paths


def test_run_report_observe_samples_from_manifest(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    atomic.atomic_write_json(run / "_manifests/responses/phase=observe.json",
                            {"phase": "observe", "n_samples": 1234})
    report.write_run_report(run)
    assert "| Observe (label-assignment) samples | 1,234 |" in \
        (run / "report/report.md").read_text()


def test_run_report_skips_missing_data(tmp_path, caplog):
    run = tmp_path / "run"
    make_run(run, stats=False, metrics=False)
    with caplog.at_level(logging.INFO, logger="stdp_ray.report"):
        paths = report.write_run_report(run)
    out = run / "report"
    assert paths == [out / "receptive_fields.png", out / "report.md"]
    assert not (out / "training_curves.png").exists()
    assert not (out / "confusion.png").exists()
    check_png(out / "receptive_fields.png")
    md = (out / "report.md").read_text()
    assert "](receptive_fields.png)" in md
    assert "training_curves.png" in md.split("## Not included")[1]
    assert "](training_curves.png)" not in md and "](confusion.png)" not in md
    assert "| Test accuracy | n/a |" in md
    assert "| Training samples | 20 |" in md  # from the network's provenance
    assert "skipped training_curves.png" in caplog.text
    assert "skipped confusion.png" in caplog.text


def test_run_report_config_only(tmp_path):
    run = tmp_path / "run"
    make_run(run, stats=False, metrics=False, network=False)
    paths = report.write_run_report(run)
    assert paths == [run / "report/report.md"]
    md = paths[0].read_text()
    assert "| Excitatory neurons | 10 |" in md and "| Seed | 1 |" in md
    assert md.count("\n- `") == 3


def test_run_report_unassigned_network(tmp_path):
    run = tmp_path / "run"
    make_run(run, assignments=False)
    report.write_run_report(run)
    check_png(run / "report/receptive_fields.png")


def test_run_report_empty_stats_part(tmp_path):
    run = tmp_path / "run"
    make_run(run, stats=False)
    rundir.write_table(run / rundir.STATS_DIR / "part-000000000.parquet",
                       rundir.TRAIN_STATS_SCHEMA.empty_table())
    paths = report.write_run_report(run)
    assert run / "report/training_curves.png" not in paths
    assert "no rows" in (run / "report/report.md").read_text()


def test_run_report_not_a_run_directory(tmp_path):
    with pytest.raises(ValueError, match=r"not a run directory \(no config.json\)"):
        report.write_run_report(tmp_path)
    with pytest.raises(ValueError, match="not a run directory"):
        report.write_run_report(tmp_path / "missing")


def test_run_report_bad_metrics(tmp_path):
    run = tmp_path / "run"
    make_run(run, metrics=False)
    (run / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
    with pytest.raises(ValueError, match=r"metrics.json: has no 'confusion_matrix'"):
        report.write_run_report(run)
    (run / "metrics.json").write_text(json.dumps({"confusion_matrix": [[1, 2], [3, 4]]}))
    with pytest.raises(ValueError, match=r"metrics.json: confusion_matrix: .*shape \(2, 2\)"):
        report.write_run_report(run)
    (run / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="metrics.json: not valid JSON"):
        report.write_run_report(run)


# --------------------------------------------------------------------------
# Ensemble reports
# --------------------------------------------------------------------------
def test_ensemble_report(tmp_path, monkeypatch):
    root = tmp_path / "ens"
    make_run(root / "seed-1")
    make_run(root / "more" / "seed-2", stats=False)
    monkeypatch.chdir(tmp_path)
    metrics = {"members": [
        {"seed": 1, "accuracy": 0.81, "run_dir": "seed-1"},                  # relative to root
        {"seed": 2, "accuracy": 0.79, "run_dir": "more/seed-2"},             # deeper inside it
        {"seed": 3, "accuracy": 0.80, "run_dir": "gone"}],                   # missing
        "k": [1, 2, 3], "accuracy_sum": [0.81, 0.84, 0.86], "accuracy_vote": [0.81, 0.82, 0.85],
        "mean_member_accuracy": 0.80}
    atomic.atomic_write_json(root / "ensemble.json", {"seeds": [1, 2, 3]})
    atomic.atomic_write_json(root / "metrics.json", metrics)
    paths = report.write_ensemble_report("ens")
    out = root / "report"
    assert [p.resolve() for p in paths[-2:]] == [(out / "ensemble_accuracy.png").resolve(),
                                                 (out / "report.md").resolve()]
    check_png(out / "ensemble_accuracy.png")
    resolved = [p.resolve() for p in paths]
    assert (root / "seed-1/report/report.md").resolve() in resolved
    assert (root / "more/seed-2/report/report.md").resolve() in resolved
    assert (root / "seed-1/report/training_curves.png").is_file()
    assert (root / "more/seed-2/report/confusion.png").is_file()
    md = (out / "report.md").read_text()
    assert "](ensemble_accuracy.png)" in md
    assert "| Mean member accuracy | 80.00% |" in md
    assert "| 3 | 86.00% | 85.00% |" in md
    assert "86.00% at K = 3" in md
    assert "[report](../seed-1/report/report.md)" in md
    assert "[report](../more/seed-2/report/report.md)" in md
    assert md.count("| n/a |") == 1  # the missing member has no report link


@pytest.mark.parametrize("member", ["../elsewhere", "{abs}", "link/seed-2", "seed-1/../../elsewhere"])
def test_an_ensemble_member_outside_the_root_is_refused_and_nothing_is_written_there(
        tmp_path, member):
    root, elsewhere = tmp_path / "ens", tmp_path / "elsewhere"
    make_run(elsewhere, stats=False)
    (root).mkdir()
    (root / "link").symlink_to(tmp_path)
    (tmp_path / "seed-2").symlink_to(elsewhere)
    atomic.atomic_write_json(root / "ensemble.json", {"seeds": [1]})
    atomic.atomic_write_json(root / "metrics.json", {
        "members": [{"seed": 1, "accuracy": 0.8, "run_dir": member.format(abs=elsewhere)}],
        "k": [1], "accuracy_sum": [0.8], "accuracy_vote": [0.8]})
    with pytest.raises(ValueError, match="member run_dir .* (must be a relative path inside|"
                                         "leads out of) the ensemble directory"):
        report.write_report(root)
    assert not (elsewhere / "report").exists()


def test_ensemble_report_without_member_reports(tmp_path):
    make_run(tmp_path / "seed-1")
    atomic.atomic_write_json(tmp_path / "ensemble.json", {"seeds": [1]})
    atomic.atomic_write_json(tmp_path / "metrics.json", {
        "members": [{"seed": 1, "accuracy": 0.8, "run_dir": "seed-1"}],
        "k": [1], "accuracy_sum": [0.8], "accuracy_vote": [0.8]})
    paths = report.write_ensemble_report(tmp_path, member_reports=False)
    assert paths == [tmp_path / "report/ensemble_accuracy.png", tmp_path / "report/report.md"]
    assert not (tmp_path / "seed-1/report").exists()
    assert "| Mean member accuracy | 80.00% |" in paths[-1].read_text()


@pytest.mark.parametrize("content, match", [
    ("no-root", r"not an ensemble directory \(no ensemble.json\)"),
    (None, r"ensemble not finished \(no metrics.json\); rerun `stdp-ray ensemble`"),
    ({"members": [], "k": [], "accuracy_sum": [], "accuracy_vote": []}, "non-empty list"),
    ({"k": [1]}, r"missing keys \['members', 'accuracy_sum', 'accuracy_vote'\]"),
    ({"members": [{"seed": 1}], "k": [1], "accuracy_sum": [0.8], "accuracy_vote": [0.8]},
     r"members\[0\] must be an object"),
    ({"members": [{"seed": 1, "accuracy": 0.8, "run_dir": "x"}], "k": [1, 2],
      "accuracy_sum": [0.8], "accuracy_vote": [0.8]}, "same length"),
    ({"members": [{"seed": 1, "accuracy": 1.8, "run_dir": "x"}], "k": [1],
      "accuracy_sum": [0.8], "accuracy_vote": [0.8]}, r"[/\\]metrics.json: members must hold"),
])
def test_ensemble_report_bad_metrics(tmp_path, content, match):
    if content != "no-root":
        atomic.atomic_write_json(tmp_path / "ensemble.json", {"seeds": [1]})
    if isinstance(content, dict):
        atomic.atomic_write_json(tmp_path / "metrics.json", content)
    with pytest.raises(ValueError, match=match):
        report.write_ensemble_report(tmp_path)


def make_sweep(root, runs=(("nu_post=0.005/seed=1", 0.005, 1, 0.71),
                            ("nu_post=0.005/seed=2", 0.005, 2, 0.69),
                            ("nu_post=0.01/seed=1", 0.01, 1, 0.78))):
    """A sweep root written by hand: sweep.json, sweep.parquet, run directories."""
    settings = rundir.SweepSettings(Config(n_neurons=N), {"nu_post": [0.005, 0.01]}, [1, 2],
                                    samples=20, observe_samples=10)
    rundir.write_sweep_settings(root, settings)
    rows = []
    for run_dir, nu_post, seed, acc in runs:
        if not run_dir.startswith(("/", "..")) and "link" not in run_dir:
            make_run(root / run_dir)
        rows.append({"point": run_dir.rpartition("/seed=")[0], "nu_post": nu_post, "seed": seed,
                     "accuracy": acc, "n_samples": 100, "n_failed": 1, "train_failed": 0,
                     "training_samples": 20, "training_seconds": 6.5, "run_dir": run_dir})
    rundir.write_table(root / rundir.SWEEP_SUMMARY_FILE,
                       rundir.sweep_summary_table(rows, ["nu_post"]))
    return settings


def test_report_of_a_sweep_root_plots_every_point_and_links_every_run(tmp_path):
    root = tmp_path / "sw"
    make_sweep(root)
    paths = report.write_report(root)
    out = root / "report"
    assert paths[-2:] == [out / "sweep.png", out / "report.md"]
    check_png(out / "sweep.png")
    for run in ("nu_post=0.005/seed=1", "nu_post=0.005/seed=2", "nu_post=0.01/seed=1"):
        assert root / run / "report/report.md" in paths
    md = (out / "report.md").read_text()
    assert "](sweep.png)" in md
    assert "| Runs finished | 3 of 4 |" in md
    assert "| Best run | 78.00% at `nu_post=0.01`, seed 1 |" in md
    assert "| 0.005 | 2 | 70.00% | 69.00% | 71.00% |" in md       # mean over seeds
    assert "| 0.01 | 1 | 78.00% | 78.00% | 78.00% |" in md
    assert "[report](../nu_post=0.005/seed=2/report/report.md)" in md


def test_a_sweep_run_restored_from_shipped_results_keeps_its_report(tmp_path):
    root = tmp_path / "sw"
    make_sweep(root)
    report.write_report(root)
    shipped = root / "nu_post=0.005/seed=2"
    (shipped / rundir.NETWORK_DIR / artifact.ARRAYS_NPZ).unlink()   # as ship_results copies it
    kept = (shipped / "report/report.md").read_bytes()
    paths = report.write_report(root)
    assert shipped / "report/report.md" not in paths
    assert (shipped / "report/report.md").read_bytes() == kept
    assert "[report](../nu_post=0.005/seed=2/report/report.md)" in (
        root / "report/report.md").read_text()
    assert root / "nu_post=0.01/seed=1/report/report.md" in paths   # the others are redrawn


@pytest.mark.parametrize("run_dir", ["../elsewhere", "/abs/elsewhere", "link/seed=2"])
def test_a_sweep_run_outside_the_root_is_refused_and_nothing_is_written(tmp_path, run_dir):
    root = tmp_path / "sw"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    make_run(tmp_path / "seed=2", stats=False)
    make_sweep(root, runs=((run_dir, 0.005, 2, 0.7),))
    with pytest.raises(ValueError, match=r"sweep.parquet: run_dir .* (must be a relative path "
                                         r"inside|leads out of) the sweep directory"):
        report.write_report(root)
    assert not (root / "report").exists() and not (tmp_path / "seed=2/report").exists()


@pytest.mark.parametrize("damage, match", [
    ("no-summary", r"sweep has no finished run \(no sweep.parquet\); rerun `stdp-ray sweep`"),
    ("not-parquet", r"sweep.parquet: not a sweep summary"),
    ("other-grid", r"sweep.parquet: not a sweep summary"),
    ("bad-settings", r"sweep.json: invalid sweep settings"),
])
def test_a_damaged_sweep_root_is_refused_naming_the_file(tmp_path, damage, match):
    make_sweep(tmp_path)
    if damage == "no-summary":
        (tmp_path / rundir.SWEEP_SUMMARY_FILE).unlink()
    elif damage == "not-parquet":
        (tmp_path / rundir.SWEEP_SUMMARY_FILE).write_bytes(b"PAR1 not really")
    elif damage == "other-grid":
        rundir.write_table(tmp_path / rundir.SWEEP_SUMMARY_FILE,
                           rundir.sweep_summary_table([], ["theta_plus_mV"]))
    else:
        atomic.atomic_write_json(tmp_path / rundir.SWEEP_FILE, {"grid": {}})
    with pytest.raises(ValueError, match=match):
        report.write_report(tmp_path)
    assert not (tmp_path / "report").exists()


# --------------------------------------------------------------------------
# Training summary table
# --------------------------------------------------------------------------
def _stats_frame(samples):
    samples = np.asarray(samples)
    return pd.DataFrame({
        "sample": samples, "image": samples, "label": samples % 10,
        "total_spikes": samples * 2, "intensity": np.where(samples % 2 == 0, 2.0, 4.0),
        "presentations": np.ones_like(samples), "failed": samples == 3,
        "w_mean": samples / 10.0, "w_std": np.full(samples.shape, 0.5),
        "theta_mean_mV": samples + 20.0, "theta_std_mV": np.zeros(samples.shape),
        "seconds": np.full(samples.shape, 0.25)})


def test_training_summary_known_blocks():
    # Samples out of order and a block with a gap: blocks are by sample index.
    got = report.training_summary(_stats_frame([5, 0, 1, 2, 3, 4, 8]), every=3)
    assert got["first_sample"].tolist() == [0, 3, 8]
    assert got["last_sample"].tolist() == [2, 5, 8]
    assert got["samples"].tolist() == [3, 3, 1]
    assert got["total_spikes"].tolist() == [2.0, 8.0, 16.0]     # mean of 2*sample
    assert got["intensity"].tolist() == pytest.approx([8 / 3, 10 / 3, 2.0])
    assert got["failed"].tolist() == [0, 1, 0]
    assert got["seconds"].tolist() == [0.75, 0.75, 0.25]
    assert got["theta_mean_mV"].tolist() == [21.0, 24.0, 28.0]


def test_training_summary_one_block_for_a_short_run():
    got = report.training_summary(_stats_frame(range(7)))
    assert got["samples"].tolist() == [7] and got["last_sample"].tolist() == [6]


@pytest.mark.parametrize("every, exc, match", [
    (0, ValueError, r"every == 0, must be >= 1"),
    (2.5, TypeError, r"every must be an int, got float"),
    (True, TypeError, r"every must be an int, got bool"),
])
def test_training_summary_rejects_bad_every(every, exc, match):
    with pytest.raises(exc, match=match):
        report.training_summary(_stats_frame(range(3)), every=every)


def test_training_summary_rejects_missing_columns():
    with pytest.raises(ValueError, match=r"lack columns \['w_std'\]"):
        report.training_summary(_stats_frame(range(3)).drop(columns="w_std"))


def test_receptive_field_image_lays_tiles_on_a_given_grid():
    w = np.random.default_rng(0).random((784, 5))
    default = plots.receptive_field_image(w, border=1)
    one_row = plots.receptive_field_image(w, border=1, grid=(1, 5))
    assert one_row.shape == (30, 150, 4)
    # The same tiles, only placed differently: tile 3 is row 1, column 0 of the 2x3 default.
    np.testing.assert_array_equal(one_row[:, 90:120], default[30:60, 0:30])
    with pytest.raises(ValueError, match=r"grid == \(1, 4\), must have >= 5 cells"):
        plots.receptive_field_image(w, grid=(1, 4))


def test_a_report_names_its_directory_as_given_never_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_run(tmp_path / "runs" / "r1")
    report.write_run_report(Path("runs/r1"))
    md = (tmp_path / "runs/r1/report/report.md").read_text()
    assert "# Run report: r1\n" in md and "Run directory: `runs/r1`" in md
    assert str(tmp_path) not in md


# --------------------------------------------------------------------------
# Figures a paper would print: intervals, reference marks, axes, vector output
# --------------------------------------------------------------------------
def curve_frame(points=(60_000, 120_000, 150_000), accuracy=(0.87, 0.885, 0.89)):
    return pd.DataFrame({"samples_seen": list(points), "label_samples": 10_000,
                         "test_samples": 10_000, "accuracy": list(accuracy),
                         "epochs": [p / 60_000 for p in points]})


def _vertical_lines_at(ax) -> list[float]:
    return sorted(line.get_xdata()[0] for line in ax.get_lines()
                  if len(set(line.get_xdata())) == 1 and line.get_linestyle() == ":")


def test_a_learning_curve_marks_epoch_boundaries_error_bars_and_the_paper():
    fig = plots.learning_curve_figure(curve_frame(), paper=0.87)
    ax = fig.axes[0]
    assert _vertical_lines_at(ax) == [60_000, 120_000]
    assert [t.get_text() for t in ax.texts] == ["epoch 1", "epoch 2"]
    assert len(ax.containers) == 1  # one errorbar series: one label set
    _, caps, (bars,) = ax.containers[0]
    half = 100 * intervals.wilson_interval(0.87, 10_000).half_width
    low, high = bars.get_segments()[0][:, 1]
    assert high - low == pytest.approx(2 * half, rel=0.05)
    assert any("Diehl & Cook 2015: 87.0%" in t.get_text() for t in ax.get_legend().get_texts())
    assert ax.xaxis.get_major_formatter()(120_000, 0) == "120,000"


def test_an_accuracy_axis_never_spans_less_than_ten_points():
    fig = plots.learning_curve_figure(curve_frame(accuracy=(0.900, 0.901, 0.902)))
    low, high = fig.axes[0].get_ylim()
    assert high - low >= 100 * plots.MIN_ACCURACY_SPAN
    summary = pd.DataFrame({"nu_post": [0.01, 0.02], "accuracy": [0.80, 0.81],
                            "n_samples": [200, 200]})
    low, high = plots.sweep_figure(summary, ["nu_post"]).axes[0].get_ylim()
    half = 100 * intervals.wilson_interval(0.80, 200).half_width
    assert high - low >= max(10, 1 + 2 * half)   # the error bars of 200 images fit


def test_a_grid_over_two_settings_is_a_heat_map_with_every_cell_written_in():
    summary = pd.DataFrame([{"tau_theta_ms": t, "theta_plus_mV": p, "seed": s,
                             "accuracy": 0.8 + 0.01 * s + (0.02 if t > 1e7 else 0),
                             "n_samples": 10_000}
                            for t in (1e7, 1.6e8) for p in (0.05, 0.8) for s in (1, 2)])
    fig = plots.sweep_figure(summary, ["tau_theta_ms", "theta_plus_mV"])
    ax = fig.axes[0]
    (image,) = ax.get_images()
    grid = image.get_array()
    assert grid.shape == (2, 2)
    assert grid[0, 1] == pytest.approx(100 * (0.815 + 0.02))
    low, high = image.get_clim()
    assert high - low >= 100 * plots.MIN_ACCURACY_SPAN - 1e-9   # 2 points are not the scale
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 4 and all("2 seeds" in t and "sd" in t for t in texts)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1e+07", "1.6e+08"]
    assert "best 84.00% at tau_theta_ms=1.6e+08" in fig._suptitle.get_text()  # best run
    # A long sweep name and the best point still fit across the figure.
    fig = plots.sweep_figure(summary, ["tau_theta_ms", "theta_plus_mV"],
                             title="Sweep: sweep-n6400-theta")
    renderer = FigureCanvasAgg(fig).get_renderer()
    box = fig._suptitle.get_window_extent(renderer)
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width


def test_one_seed_per_cell_writes_its_binomial_half_width():
    summary = pd.DataFrame([{"a": a, "b": b, "accuracy": 0.9, "n_samples": 10_000}
                            for a in (1, 2) for b in (3, 4)])
    texts = [t.get_text() for t in plots.sweep_figure(summary, ["a", "b"]).axes[0].texts]
    assert texts == ["90.00%\n+- 0.6"] * 4


def test_a_cell_without_a_finished_run_says_so():
    summary = pd.DataFrame([{"a": a, "b": b, "accuracy": 0.9, "n_samples": 10_000}
                            for a in (1, 2) for b in (3, 4) if (a, b) != (2, 4)])
    ax = plots.sweep_figure(summary, ["a", "b"]).axes[0]
    assert np.ma.is_masked(ax.get_images()[0].get_array()[1, 1])   # NaN: drawn blank
    cells = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert ((1, 1), "no run") in cells and len(cells) == 4


def test_the_paper_table_figure_draws_the_papers_values_as_reference_marks():
    rows = pd.DataFrame([
        {"n_neurons": 400, "label": "1 epoch, seed 42", "accuracy": 0.8715, "test_samples": 10_000},
        {"n_neurons": 1600, "label": "1 epoch, seed 42", "accuracy": 0.9191,
         "test_samples": 10_000},
        {"n_neurons": 400, "label": "1 epoch, 5 seeds", "accuracy": 0.876, "sd": 0.005,
         "seed_accuracies": [0.87, 0.875, 0.88, 0.877, 0.878]}])
    fig = plots.paper_table_figure(rows, {100: 0.829, 400: 0.87, 1600: 0.919, 6400: 0.95})
    ax = fig.axes[0]
    marks = [line for line in ax.get_lines() if line.get_label() == "Diehl & Cook 2015"]
    assert len(marks) == 1 and list(marks[0].get_ydata()) == pytest.approx([82.9, 87, 91.9, 95])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["100", "400", "1,600", "6,400"]
    seeds = ax.containers[1]
    low, high = seeds[2][0].get_segments()[0][:, 1]
    assert high - low == pytest.approx(2 * 0.5)   # +- one sd, in points
    assert len(ax.collections) >= 3   # the seeds' own accuracies as dots
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["Diehl & Cook 2015", "1 epoch, seed 42", "1 epoch, 5 seeds"]


def test_compute_is_drawn_in_neuron_epochs_with_thousands_separators():
    points = pd.DataFrame({"label": ["a", "b"], "kind": ["single", "ensemble"],
                           "neuron_epochs": [400.0, 1600.0], "accuracy": [0.87, 0.89],
                           "test_samples": [10_000, 10_000]})
    ax = plots.size_vs_ensemble_figure(points).axes[0]
    assert ax.xaxis.get_major_formatter()(1600, 0) == "1,600"
    assert not ax.texts   # labels live in the legend: none can overlap
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_every_figure_is_written_as_png_and_as_svg_beside_it(tmp_path):
    fig = plots.learning_curve_figure(curve_frame())
    png = report.save_figure(fig, tmp_path / "curve.png")
    svg = tmp_path / "curve.svg"
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert svg.read_bytes().lstrip().startswith(b"<?xml") and b"<svg" in svg.read_bytes()
    first = svg.read_bytes()
    report.save_figure(plots.learning_curve_figure(curve_frame()), tmp_path / "curve.png")
    assert svg.read_bytes() == first   # no date, fixed ids: the same figure, the same bytes
    report.save_figure(fig, tmp_path / "fields.png", vector=False)
    assert not (tmp_path / "fields.svg").exists()


def test_a_run_report_writes_vector_copies_of_its_plots_but_not_of_its_images(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    report.write_run_report(run)
    out = run / "report"
    assert (out / "confusion.svg").is_file() and (out / "training_curves.svg").is_file()
    assert not (out / "receptive_fields.svg").exists()


def test_training_curves_of_a_long_training_mark_epochs_and_stay_small_as_svg(tmp_path):
    n = 130_000
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"sample": np.arange(n), "total_spikes": rng.integers(0, 40, n),
                       "intensity": 2.0, "presentations": 1, "w_mean": 0.1, "w_std": 0.05,
                       "theta_mean_mV": 20.0, "theta_std_mV": 0.5})
    fig = plots.training_curves_figure(df)
    top = fig.axes[0]
    assert [t.get_text() for t in top.texts] == ["epoch 1", "epoch 2"]
    assert top.xaxis.get_major_formatter()(100_000, 0) == "100,000"
    report.save_figure(fig, tmp_path / "t.png")
    assert (tmp_path / "t.svg").stat().st_size < 2_000_000   # 130,000 raw points as pixels
