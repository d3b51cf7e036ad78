"""Runs on object storage end to end: train, observe, test, ensemble and report of a tiny
network on ``s3://`` (moto's server on 127.0.0.1) give the tables of the local-disk run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import stdp_ray
from stdp_ray import artifact, leases, location, mirrors, rundir
from stdp_ray.cli import main

pytestmark = pytest.mark.slow

TINY_ARGS = ["--neurons", "10", "--seed", "3", "--backend", "native", "--no-progress"]
# Training keeps a snapshot every 4 samples and scores each on the learning curve.
PIPELINE = [("train", ["--samples", "8", "--checkpoint-every", "4", "--eval-every", "4",
                       *TINY_ARGS]),
            ("observe", ["--samples", "40", "--chunk-size", "10", "--no-progress"]),
            ("test", ["--samples", "20", "--chunk-size", "10", "--no-progress"]),
            ("report", [])]
ENSEMBLE = ["--seeds", "1,2", "--neurons", "10", "--samples", "6", "--checkpoint-every", "3",
            "--observe-samples", "40", "--test-samples", "20", "--chunk-size", "10",
            "--backend", "native", "--no-progress"]


def _run_all(target: str, mnist_dir, report: bool) -> None:
    for command, options in PIPELINE:
        if command == "report" and not report:
            continue
        data = ["--data-dir", str(mnist_dir)] if command != "report" else []
        assert main([command, target, *options, *data]) == 0, command


@pytest.fixture(scope="module")
def runs(ray_local, s3_server, tmp_path_factory, mnist_dir):
    """The same pipeline on a local directory and on a bucket; returns both and the bucket."""
    local = tmp_path_factory.mktemp("local") / "run"
    bucket = s3_server.new_bucket()
    uri = f"s3://{bucket}/runs/n10"
    _run_all(str(local), mnist_dir, report=False)
    _run_all(uri, mnist_dir, report=True)
    return local, uri, bucket


def _frame(path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


TABLES = [rundir.ASSIGNMENTS_FILE, rundir.PREDICTIONS_FILE, "responses/phase=observe",
          "responses/phase=test", f"{rundir.CURVE_DIR}/{rundir.CURVE_FILE}"]


@pytest.mark.parametrize("table", TABLES)
def test_tables_on_the_bucket_equal_the_local_run(runs, table):
    local, uri, _ = runs
    remote = stdp_ray.load_run(uri).path
    pd.testing.assert_frame_equal(_frame(remote / table), _frame(local / table))


def test_network_and_training_statistics_equal_the_local_run(runs):
    local, uri, _ = runs
    there, here = stdp_ray.load_run(uri), stdp_ray.load_run(local)
    assert there.uri == uri and here.uri is None
    for name in ("weights", "theta_mV", "delays_ms"):
        np.testing.assert_array_equal(getattr(there.network.arrays, name),
                                      getattr(here.network.arrays, name))
    np.testing.assert_array_equal(there.network.assignments, here.network.assignments)
    pd.testing.assert_frame_equal(there.train_stats.drop(columns="seconds"),
                                  here.train_stats.drop(columns="seconds"))
    assert there.metrics.accuracy == here.metrics.accuracy
    assert there.metrics.confusion_matrix == here.metrics.confusion_matrix


def test_the_bucket_holds_the_whole_run_and_nothing_else(runs, s3_server):
    _, _, bucket = runs
    keys = set(s3_server.keys(bucket))
    prefix = "runs/n10/"
    for name in (rundir.RUN_CONFIG_FILE, rundir.METRICS_FILE, "network/network.json",
                 "network/arrays.npz", "network/assignments.npz",
                 f"network/{mirrors.COMMIT_MARKER}",
                 "train/stats/part-000000.parquet", "train/stats/part-000004.parquet",
                 f"{rundir.CHECKPOINTS_DIR}/{rundir.checkpoint_name(8)}/{rundir.CHECKPOINT_STATE}",
                 "_manifests/responses/phase=test.json", "report/report.md",
                 "report/confusion.png", f"{rundir.SNAPSHOTS_DIR}/{rundir.snapshot_name(4)}/"
                 f"{mirrors.COMMIT_MARKER}", f"{rundir.CURVE_DIR}/{rundir.CURVE_PNG}"):
        assert prefix + name in keys, name
    # No temporaries, no pending markers, no lease (released), no stop request.
    private = [k for k in keys if any(p.startswith(".") for p in k.split("/"))
               and not k.endswith(mirrors.COMMIT_MARKER)]
    assert private == []


def test_the_report_names_the_uri(runs, s3_server):
    _, uri, bucket = runs
    text = s3_server.keys(bucket)["runs/n10/report/report.md"].decode()
    assert f"Run directory: `{uri}`" in text
    assert "# Run report: n10" in text


def _script(name: str):
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scripts_ship_and_export_a_run_on_the_bucket(runs, s3_server, tmp_path):
    local, uri, bucket = runs
    before = s3_server.keys(bucket)
    dest = tmp_path / "results/n10"
    assert _script("ship_results").main([uri, str(dest)]) == 0
    for name in (rundir.RUN_CONFIG_FILE, rundir.METRICS_FILE, rundir.PREDICTIONS_FILE,
                 f"{rundir.CURVE_DIR}/{rundir.CURVE_FILE}", "report/report.md"):
        assert (dest / name).is_file(), name
    pd.testing.assert_frame_equal(_frame(dest / rundir.PREDICTIONS_FILE),
                                  _frame(local / rundir.PREDICTIONS_FILE))
    net = tmp_path / "networks/n10"
    assert _script("export_network").main([uri, str(net), "--dtype", "float32"]) == 0
    exported = artifact.load_network(net)
    np.testing.assert_array_equal(exported.arrays.weights,
                                  stdp_ray.load_run(local).network.arrays.weights
                                  .astype(np.float32))
    assert exported.provenance["exported_from"] == "n10"
    assert s3_server.keys(bucket) == before  # the source is only read; its lease is gone


def test_a_missing_run_on_the_bucket_is_one_line_and_exit_2(s3_bucket, tmp_path, caplog):
    uri = f"s3://{s3_bucket}/runs/none"
    assert _script("export_network").main([uri, str(tmp_path / "net")]) == 2
    assert uri in caplog.text or "runs/none" in caplog.text
    assert not (tmp_path / "net").exists()


def test_rerunning_test_on_the_bucket_recomputes_nothing(runs, mnist_dir, capsys):
    _, uri, _ = runs
    capsys.readouterr()
    assert main(["test", uri, "--samples", "20", "--chunk-size", "10", "--data-dir",
                 str(mnist_dir), "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["chunks_computed"] == 0


def test_training_resumes_from_the_stored_checkpoint_past_an_interrupted_upload(
        runs, s3_server, mnist_dir):
    local, uri, bucket = runs
    s3 = s3_server.client()
    # A checkpoint whose upload was killed: pending marker, one file, no commit marker.
    broken = f"runs/n10/{rundir.CHECKPOINTS_DIR}/{rundir.checkpoint_name(12)}"
    s3.put_object(Bucket=bucket, Key=f"{broken}/{mirrors.PENDING_MARKER}", Body=b"")
    s3.put_object(Bucket=bucket, Key=f"{broken}/{rundir.CHECKPOINT_ARRAYS}", Body=b"half")
    common = ["--samples", "12", "--checkpoint-every", "4", *TINY_ARGS, "--data-dir",
              str(mnist_dir)]
    assert main(["train", uri, *common]) == 0
    assert main(["train", str(local), *common]) == 0
    keys = s3_server.keys(bucket)
    assert f"{broken}/{mirrors.COMMIT_MARKER}" in keys  # written again, complete
    assert keys[f"{broken}/{rundir.CHECKPOINT_ARRAYS}"] != b"half"
    assert f"{broken}/{mirrors.PENDING_MARKER}" not in keys
    there = stdp_ray.load_run(uri)
    assert there.train_stats["sample"].tolist() == list(range(12))
    np.testing.assert_array_equal(there.network.arrays.weights,
                                  stdp_ray.load_run(local).network.arrays.weights)
    # The checkpoints record the node that trained them.
    ckpt = there.path / rundir.CHECKPOINTS_DIR / rundir.checkpoint_name(12)
    assert rundir.read_checkpoint_state(ckpt).node
    assert rundir.read_table_metadata(there.path / "train/stats/part-000008.parquet")["node"]


def test_an_ensemble_on_the_bucket_equals_the_local_one(ray_local, s3_server, tmp_path,
                                                         mnist_dir):
    bucket = s3_server.new_bucket()
    uri = f"s3://{bucket}/ens"
    assert main(["ensemble", uri, *ENSEMBLE, "--data-dir", str(mnist_dir)]) == 0
    assert main(["ensemble", str(tmp_path / "ens"), *ENSEMBLE, "--data-dir",
                 str(mnist_dir)]) == 0
    assert main(["report", uri]) == 0
    remote = location.read_location(uri)
    pd.testing.assert_frame_equal(_frame(remote / rundir.ENSEMBLE_PREDICTIONS_FILE),
                                  _frame(tmp_path / "ens" / rundir.ENSEMBLE_PREDICTIONS_FILE))
    there = rundir.read_ensemble_metrics(remote)
    here = rundir.read_ensemble_metrics(tmp_path / "ens")
    assert there.accuracy_sum == here.accuracy_sum and there.accuracy_vote == here.accuracy_vote
    assert [m.run_dir for m in there.members] == ["seed=1", "seed=2"]
    keys = s3_server.keys(bucket)
    assert "ens/report/ensemble_accuracy.png" in keys and "ens/seed=2/report/report.md" in keys
    assert not any(k.endswith(leases.LOCK_FILE) for k in keys)  # every lease released
