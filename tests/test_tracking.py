"""Experiment tracking: what a run committed, read back from TensorBoard's files and MLflow's store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from conftest import TINY, random_network
from stdp_ray import rundir, tracking, workflow
from stdp_ray.rundir import RunMetrics

pytest.importorskip("tensorboard")


def _scalars(logdir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _stats(run, first: int, n: int) -> None:
    rows = [{"sample": i, "image": i, "label": i % 10, "total_spikes": 5 + i % 3,
             "intensity": 2.0, "presentations": 1, "failed": i % 50 == 0, "w_mean": 0.1,
             "w_std": 0.05, "theta_mean_mV": 20.0 + i / 100, "theta_std_mV": 0.0,
             "seconds": 0.25} for i in range(first, first + n)]
    rundir.write_table(run / rundir.STATS_DIR / rundir.part_name(first),
                       pa.Table.from_pylist(rows, schema=rundir.TRAIN_STATS_SCHEMA))


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.delenv(tracking.ENV_VAR, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = tmp_path / "run"
    workflow.prepare_run(run, TINY, 3)
    return run


def test_training_writes_its_statistics_per_block_once_each(run):
    _stats(run, 0, 250)
    # During training (a checkpoint at 250): only the complete blocks.
    points = tracking.track_run(run, ("train",))
    assert sorted({p.step for p in points}) == [100, 200]
    assert tracking.track_run(run, ("train",)) == []  # nothing new: nothing written twice
    # Training ends: the network is saved and the last block written as it is.
    workflow.save_trained(run, TINY, random_network(TINY), 3, {"samples": 250, "seconds": 1.0})
    scalars = _scalars(run / tracking.TENSORBOARD_DIR)
    assert [s for s, _ in scalars["train/theta_mean_mV"]] == [100, 200, 250]
    assert scalars["train/failed"] == [(100, 2.0), (200, 2.0), (250, 1.0)]
    assert scalars["train/theta_mean_mV"][0][1] == pytest.approx(20.495)


def test_test_metrics_are_written_at_the_networks_training_samples(run):
    metrics = RunMetrics(accuracy=0.75, confusion_matrix=[[1]], n_samples=20, n_failed=1,
                         mean_spikes=12.5, mean_presentations=1.1, network="abc",
                         training_samples=600, observe_samples=60)
    rundir.write_metrics(run, metrics)
    tracking.track_run(run, ("test",))
    tracking.track_run(run, ("test",))
    scalars = _scalars(run / tracking.TENSORBOARD_DIR)
    assert scalars["test/accuracy"] == [(600, 0.75)]
    assert scalars["test/n_failed"] == [(600, 1.0)]


def test_curve_points_get_one_tag_per_label_set(run):
    row = {"epochs": 0.0, "test_samples": 30, "classes_covered": 4, "n_failed": 0,
           "mean_spikes": 9.0, "mean_presentations": 1.0, "theta_mean_mV": 20.0,
           "network": "x"}
    rows = [{**row, "samples_seen": s, "label_samples": n, "accuracy": s / 1000 + n / 1e4}
            for s in (10, 20) for n in (30, 60)]
    (run / rundir.CURVE_DIR).mkdir()
    rundir.write_table(run / rundir.CURVE_DIR / rundir.CURVE_FILE, rundir.curve_table(rows))
    assert len(tracking.track_run(run, ("curve",))) == 8
    scalars = _scalars(run / tracking.TENSORBOARD_DIR)
    assert scalars["curve/accuracy/labels=60"] == [(10, pytest.approx(0.016)),
                                                   (20, pytest.approx(0.026))]


@pytest.mark.parametrize("off", ["0", "off", "false"])
def test_tracking_switched_off_writes_nothing(run, monkeypatch, off):
    monkeypatch.setenv(tracking.ENV_VAR, off)
    _stats(run, 0, 100)
    assert tracking.track_run(run, ("train",), final=True) == []
    assert not (run / tracking.TENSORBOARD_DIR).exists()


def test_without_tensorboard_nor_mlflow_nothing_changes(run, monkeypatch):
    monkeypatch.setattr(tracking, "tensorboard_available", lambda: False)
    _stats(run, 0, 100)
    assert tracking.track_run(run, ("train",), final=True) == []
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "train"]


def test_a_tracking_failure_is_a_warning_not_a_failed_command(run, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tracking, "_write_events", broken)
    _stats(run, 0, 100)
    assert tracking.track_run(run, ("train",), final=True) == []
    assert "tracking train failed: OSError: disk full" in caplog.text


def test_an_unknown_stream_is_refused(run):
    with pytest.raises(ValueError, match=r"stream == 'tests', must be one of"):
        tracking.track_run(run, ("tests",))


def test_mlflow_gets_one_run_per_run_directory_with_its_configuration(run, tmp_path,
                                                                      monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "tracking-test")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3: file: stores opt in
    assert tracking.tracked_streams() == ["tensorboard", "mlflow"]
    _stats(run, 0, 200)
    tracking.track_run(run, ("train",))
    _stats(run, 200, 100)
    tracking.track_run(run, ("train",))
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("tracking-test")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # the second call logged into the same MLflow run
    logged = runs[0]
    assert logged.data.params["n_neurons"] == "10" and logged.data.params["seed"] == "3"
    history = client.get_metric_history(logged.info.run_id, "train/total_spikes")
    assert sorted(m.step for m in history) == [100, 200, 300]


def test_a_sweep_writes_one_hparams_session_per_point_and_seed(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    monkeypatch.delenv(tracking.ENV_VAR, raising=False)
    root = tmp_path / "sweep"
    summary = pd.DataFrame([
        {"point": f"nu_post={nu}", "nu_post": nu, "seed": seed, "accuracy": acc,
         "n_samples": 30, "n_failed": 0, "train_failed": 0, "training_samples": 60,
         "training_seconds": 1.0, "run_dir": f"nu_post={nu}/seed={seed}"}
        for nu, seed, acc in ((0.005, 1, 0.5), (0.01, 1, 0.6))])
    assert tracking.track_sweep(root, summary, ["nu_post"]) == 2
    assert tracking.track_sweep(root, summary, ["nu_post"]) == 0
    trial = EventAccumulator(str(root / tracking.TENSORBOARD_DIR / "nu_post=0.01" / "seed=1"))
    trial.Reload()
    assert [(e.step, e.value) for e in trial.Scalars("test/accuracy")] == [
        (60, pytest.approx(0.6))]
    content = trial.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(
        content[metadata.SESSION_START_INFO_TAG])
    assert start.hparams["nu_post"].number_value == 0.01
    assert start.hparams["seed"].number_value == 1
    experiment = EventAccumulator(str(root / tracking.TENSORBOARD_DIR))
    experiment.Reload()
    assert metadata.EXPERIMENT_TAG in experiment.PluginTagToContent(metadata.PLUGIN_NAME)


def test_event_files_are_tfrecords_a_plain_reader_can_read(run):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.backend.event_processing import event_file_loader

    _stats(run, 0, 100)
    tracking.track_run(run, ("train",), final=True)
    (path,) = (run / tracking.TENSORBOARD_DIR).glob("events.out.tfevents.*")
    events = list(event_file_loader.EventFileLoader(str(path)).Load())
    assert events[0].file_version == "brain.Event:2"
    assert isinstance(events[1], event_pb2.Event) and events[1].step == 100
    assert np.isfinite([v.simple_value for v in events[1].summary.value]).all()
