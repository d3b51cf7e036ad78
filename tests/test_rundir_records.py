"""The typed records of the JSON files: one writer and one reader each."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TINY
from stdp_ray import rundir
from stdp_ray.config import Config, config_to_dict
from stdp_ray.rundir import EnsembleMember, EnsembleMetrics, EnsembleSettings, RunMetrics, RunRecord
from stdp_ray.reading import ArtifactError


def test_a_run_record_round_trips_with_its_provenance(tmp_path):
    record = RunRecord(TINY, 3, {"commit": "abc", "host": "h"})
    rundir.write_run_record(tmp_path, record)
    again = rundir.read_run_record(tmp_path)
    assert again == record and again.provenance == record.provenance
    assert json.loads((tmp_path / "config.json").read_text())["config"] == config_to_dict(TINY)


@pytest.mark.parametrize("content, match", [
    ({"config": config_to_dict(TINY)}, "invalid run configuration"),
    ({"config": {"n_neurons": "ten"}, "seed": 1}, "invalid run configuration"),
    ([1, 2], "expected a JSON object")])
def test_a_malformed_run_record_names_its_file(tmp_path, content, match):
    (tmp_path / "config.json").write_text(json.dumps(content))
    with pytest.raises(ArtifactError, match=match):
        rundir.read_run_record(tmp_path)


#: The keys of a run's metrics.json since stdp-ray wrote its first ones (kept as they are).
RUN_METRICS_KEYS = {
    "accuracy", "confusion_matrix", "n_samples", "n_failed", "mean_presentations",
    "mean_spikes", "wall_seconds", "simulate_seconds", "chunks", "chunks_computed",
    "chunk_size", "workers", "nodes", "chunk_nodes", "backend", "seed", "network", "n_neurons",
    "training_samples", "observe_samples", "provenance"}


def test_run_metrics_round_trip_with_the_keys_earlier_versions_wrote(tmp_path):
    metrics = RunMetrics(confusion_matrix=np.eye(10, dtype=int).tolist(), accuracy=1.0,
                         n_samples=10, chunk_nodes={"0": "node"}, provenance={"commit": "c"})
    assert rundir.read_metrics(tmp_path) is None
    rundir.write_metrics(tmp_path, metrics)
    assert set(json.loads((tmp_path / "metrics.json").read_text())) == RUN_METRICS_KEYS
    assert rundir.read_metrics(tmp_path) == metrics


def test_run_metrics_without_a_confusion_matrix_are_refused(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
    with pytest.raises(ArtifactError, match=r"metrics.json: has no 'confusion_matrix'"):
        rundir.read_metrics(tmp_path)


@pytest.mark.parametrize("provenance, commit", [
    ({"commit": "a"}, "a"), ({"git_commit": "b"}, "b"), ({"versions": {"commit": "c"}}, "c"),
    ({"versions": {"git": "d"}}, "d"), ({"versions": {}}, None), (None, None)])
def test_the_commit_is_read_under_its_current_and_older_keys(provenance, commit):
    assert rundir.provenance_commit(provenance) == commit


def test_ensemble_settings_round_trip(tmp_path):
    settings = EnsembleSettings(TINY, [1, 2], samples=4, observe_samples=40, test_samples=None)
    rundir.write_ensemble_settings(tmp_path, settings)
    assert set(json.loads((tmp_path / "ensemble.json").read_text())) == {
        "config", "seeds", "samples", "observe_samples", "test_samples"}
    assert rundir.read_ensemble_settings(tmp_path) == settings


def test_ensemble_settings_without_a_configuration_read(tmp_path):
    (tmp_path / "ensemble.json").write_text(json.dumps({"seeds": [1, 2]}))
    settings = rundir.read_ensemble_settings(tmp_path)
    assert settings.config is None and settings.seeds == [1, 2]


def test_ensemble_metrics_round_trip(tmp_path):
    metrics = EnsembleMetrics(
        members=[EnsembleMember(1, 0.8, "seed-1", 4), EnsembleMember(2, 0.7, "seed-2", 4)],
        k=[1, 2], accuracy_sum=[0.8, 0.85], accuracy_vote=[0.8, 0.75],
        mean_member_accuracy=0.75, ensemble_accuracy_sum=0.85, ensemble_accuracy_vote=0.75,
        n_samples=20, n_neurons=10, samples=4, observe_samples=40, provenance={})
    assert rundir.read_ensemble_metrics(tmp_path) is None
    rundir.write_ensemble_metrics(tmp_path, metrics)
    raw = json.loads((tmp_path / "metrics.json").read_text())
    assert raw["members"][0] == {"seed": 1, "accuracy": 0.8, "run_dir": "seed-1",
                                 "training_samples": 4}
    assert rundir.read_ensemble_metrics(tmp_path) == metrics


def test_ensemble_metrics_start_with_the_accuracy_of_all_members_summed(tmp_path):
    metrics = EnsembleMetrics(members=[EnsembleMember(1, 0.8, "seed-1", 4)], k=[1, 2],
                              accuracy_sum=[0.8, 0.85], accuracy_vote=[0.8, 0.75],
                              ensemble_accuracy_sum=0.85)
    rundir.write_ensemble_metrics(tmp_path, metrics)
    raw = json.loads((tmp_path / "metrics.json").read_text())
    assert next(iter(raw)) == "accuracy" and raw["accuracy"] == 0.85
    assert rundir.read_ensemble_metrics(tmp_path) == metrics


def test_older_ensemble_metrics_read_their_missing_keys_as_none(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({
        "members": [{"seed": 1, "accuracy": 0.8, "run_dir": "seed-1"}],
        "k": [1], "accuracy_sum": [0.8], "accuracy_vote": [0.8]}))
    metrics = rundir.read_ensemble_metrics(tmp_path)
    assert metrics.members == [EnsembleMember(1, 0.8, "seed-1")]
    assert metrics.mean_member_accuracy is None and metrics.n_samples is None


def test_sweep_settings_round_trip(tmp_path):
    settings = rundir.SweepSettings(Config(n_neurons=10), {"nu_post": [0.005, 0.01]}, [1, 2],
                                    samples=4, observe_samples=20, test_samples=None)
    rundir.write_sweep_settings(tmp_path, settings)
    assert rundir.read_sweep_settings(tmp_path) == settings


#: Each JSON file of a run, ensemble, sweep, checkpoint or network directory, and its reader.
JSON_READERS = {
    "config.json": rundir.read_run_record, "metrics.json": rundir.read_metrics,
    "ensemble.json": rundir.read_ensemble_settings, "sweep.json": rundir.read_sweep_settings,
    "state.json": rundir.read_checkpoint_state,
    "network.json": lambda d: __import__("stdp_ray.artifact").artifact.load_network(d),
}


@pytest.mark.parametrize("damage, what", [
    (b"[" * 100_000, r"not valid JSON \(nested too deeply to read\)"),
    (b'{"seed": ' + b"1" * 5000 + b"}", r"seed: an integer of 5000 digits, at most 4300 are read"),
    (b'{"a": "caf\xe9"}', r"not UTF-8 text \(byte 0xe9 at offset 10\)"),
], ids=["nested-too-deeply", "huge-integer", "not-utf8"])
@pytest.mark.parametrize("name", JSON_READERS)
def test_every_json_file_read_is_one_line_naming_it_however_it_is_damaged(tmp_path, name,
                                                                          damage, what):
    (tmp_path / name).write_bytes(damage)
    with pytest.raises(ArtifactError, match=rf"^{tmp_path / name}: {what}$"):
        JSON_READERS[name](tmp_path)
