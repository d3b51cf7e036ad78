"""Learning curves: snapshots during training, each labelled and scored like a final network."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import TINY
from stdp_ray import artifact, curve, plots, rundir, workflow
from stdp_ray.network import network_fingerprint
from stdp_ray.errors import InputError
from stdp_ray.options import RunOptions

pytestmark = pytest.mark.slow

CFG = TINY.replace(backend="native")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir, ray_local):
    """Two runs of 6 samples, one with --eval-every 2 (and its curve), one without."""
    root = tmp_path_factory.mktemp("curve")
    common = RunOptions(samples=6, data_dir=mnist_dir, checkpoint_every=3, progress=False)
    workflow.train(root / "plain", CFG, seed=1, options=common)
    workflow.train(root / "curve", CFG, seed=1, options=common.replace(eval_every=2))
    table = curve.evaluate_curve(root / "curve",
        RunOptions(label_samples=(20, 40), test_samples=30, data_dir=mnist_dir, chunk_size=7,
        progress=False))
    return root, table


def test_snapshots_do_not_change_training(trained):
    root, _ = trained
    plain = artifact.load_network(root / "plain" / rundir.NETWORK_DIR).arrays
    with_curve = artifact.load_network(root / "curve" / rundir.NETWORK_DIR).arrays
    assert network_fingerprint(plain) == network_fingerprint(with_curve)
    last = rundir.snapshot_dirs(root / "curve" / rundir.TRAIN_DIR)[-1]
    assert last[0] == 6
    assert network_fingerprint(artifact.load_network(last[1]).arrays) == network_fingerprint(plain)


def test_the_curve_has_one_row_per_snapshot_and_label_set(trained):
    root, table = trained
    df = table.to_pandas()
    assert df[["samples_seen", "label_samples"]].values.tolist() == [
        [2, 20], [2, 40], [4, 20], [4, 40], [6, 20], [6, 40]]
    assert (df["test_samples"] == 30).all()
    assert df["accuracy"].between(0, 1).all()
    assert np.allclose(df["epochs"], df["samples_seen"] / 60)
    assert df.equals(curve.read_curve(root / "curve"))
    for name in (rundir.CURVE_PNG, rundir.SNAPSHOTS_PNG):
        assert (root / "curve" / rundir.CURVE_DIR / name).stat().st_size > 0


def test_a_curve_point_scores_as_observe_and_test_of_that_network(trained, mnist_dir):
    """The point of the final snapshot equals observe + test of the trained run itself."""
    root, table = trained
    run = root / "plain"
    workflow.observe(run, RunOptions(observe_samples=40, data_dir=mnist_dir, chunk_size=5,
                                     progress=False))
    metrics = workflow.test(run, RunOptions(test_samples=30, data_dir=mnist_dir, chunk_size=11,
                                            progress=False))
    row = table.to_pandas().query("samples_seen == 6 and label_samples == 40").iloc[0]
    assert row["accuracy"] == metrics["accuracy"]
    assert row["n_failed"] == metrics["n_failed"]
    assert row["mean_spikes"] == pytest.approx(metrics["mean_spikes"])


def test_an_interrupted_curve_resumes_to_the_same_table(trained, mnist_dir):
    root, table = trained
    run = root / "curve"
    point = rundir.curve_phase_dir(run, 4, "test", 30)
    rundir.part_paths(point)[-1].unlink()              # a chunk never written
    shutil.rmtree(rundir.curve_point_dir(run, 6))       # a point never started
    (run / rundir.CURVE_DIR / rundir.CURVE_FILE).unlink()
    again = curve.evaluate_curve(run,
        RunOptions(label_samples=(20, 40), test_samples=30, data_dir=mnist_dir, chunk_size=7,
        progress=False), figures=False)
    assert again.equals(table)


def test_a_run_without_snapshots_is_refused(trained, mnist_dir):
    root, _ = trained
    with pytest.raises(curve.CurveError, match=r"no training snapshots .*--eval-every"):
        curve.evaluate_curve(root / "plain", RunOptions(data_dir=mnist_dir, progress=False))


@pytest.mark.parametrize("labels, message", [
    ([0], r"--label-samples == 0, must be >= 1"),
    ([61], r"--label-samples == 61, but the training set has only 60 images"),
    ([], r"--label-samples is empty"),
])
def test_bad_label_sets_are_refused(trained, mnist_dir, labels, message):
    root, _ = trained
    with pytest.raises(InputError, match=message):
        curve.evaluate_curve(root / "curve",
            RunOptions(label_samples=labels, data_dir=mnist_dir, progress=False))


def test_learning_curve_figure_refuses_a_frame_without_accuracy():
    with pytest.raises(ValueError, match=r"curve lacks columns \['accuracy'\]"):
        plots.learning_curve_figure(pd.DataFrame({"samples_seen": [1], "label_samples": [2]}))


def test_chosen_snapshots_are_scored_and_earlier_points_kept(trained, mnist_dir):
    root, table = trained
    again = curve.evaluate_curve(root / "curve",
        RunOptions(label_samples=(20, 40), test_samples=30, data_dir=mnist_dir, chunk_size=7,
        progress=False, snapshots=(4,)), figures=False)
    assert again.equals(table)
    with pytest.raises(curve.CurveError, match=r"no snapshot after \[5\] samples"):
        curve.evaluate_curve(root / "curve",
            RunOptions(data_dir=mnist_dir, progress=False, snapshots=(5,)))


def test_the_paper_table_reads_its_figures_from_the_run_directories(trained, tmp_path):
    import json
    import runpy
    from pathlib import Path

    root, table = trained
    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "paper_table.py"))
    out = tmp_path / "table"
    assert script["main"]([str(out), "--single", f"{root / 'curve'}@4"]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    expected = table.to_pandas().query("samples_seen == 4")
    assert [r["accuracy"] for r in rows] == expected["accuracy"].tolist()
    assert [r["label_samples"] for r in rows] == [20, 40]
    assert rows[0]["synapse_samples"] == 784 * 10 * 4
    assert out.with_suffix(".png").stat().st_size > 0
    assert "10 neurons, seed 1" in out.with_suffix(".md").read_text()
    with pytest.raises(SystemExit, match=r"has no point after 5 samples"):
        script["main"]([str(out), "--single", f"{root / 'curve'}@5"])


def test_train_with_eval_every_writes_the_curve(tmp_path, mnist_dir, ray_local):
    from stdp_ray.cli import main

    run = tmp_path / "run"
    assert main(["train", str(run), "--neurons", "10", "--samples", "4", "--eval-every", "2",
                 "--seed", "1", "--data-dir", str(mnist_dir), "--no-progress"]) == 0
    frame = curve.read_curve(run)
    assert frame["samples_seen"].tolist() == [2, 4]
    assert (frame["label_samples"] == 60).all()   # every training image where < 10,000
    assert (frame["test_samples"] == 30).all()


def test_the_curve_command_scores_the_chosen_snapshots(trained, mnist_dir, capsys):
    import json

    from stdp_ray.cli import main

    root, table = trained
    assert main(["curve", str(root / "curve"), "--label-samples", "20,40", "--test-samples",
                 "30", "--snapshots", "6", "--chunk-size", "7", "--data-dir", str(mnist_dir),
                 "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["curve"] == str(root / "curve" / rundir.CURVE_DIR)
    assert out["points"] == table.select(["samples_seen", "label_samples", "accuracy"]).to_pylist()


def test_rows_of_other_label_sets_stay_in_the_curve(trained, mnist_dir):
    root, table = trained
    again = curve.evaluate_curve(root / "curve",
        RunOptions(label_samples=(20,), test_samples=30, data_dir=mnist_dir, chunk_size=7,
        progress=False), figures=False)
    assert again.equals(table)   # the rows with labels from 40 images are kept


def test_the_run_report_shows_the_learning_curve(trained):
    from stdp_ray import report

    root, _ = trained
    written = report.write_run_report(root / "curve")
    assert root / "curve" / rundir.REPORT_DIR / rundir.CURVE_PNG in written
    md = (root / "curve" / rundir.REPORT_DIR / rundir.REPORT_MD).read_text()
    assert "## Learning curve" in md and "| 6 | 0.10 | 40 | 30 |" in md
