"""Older layouts (:mod:`stdp_ray.rundir.legacy`) are read until ``READ_UNTIL``.

The directories under ``tests/data/written-by-12aa4be/`` were written by an
older stdp-ray (see the README there) and are never regenerated: these tests
are what keeps this version able to read them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from stdp_ray import __version__, artifact, evaluation, report, rundir, scoring, workflow
from stdp_ray.network import network_fingerprint
from stdp_ray.options import RunOptions
from stdp_ray.rundir import legacy

OLD = Path(__file__).parent / "data" / "written-by-12aa4be"


@pytest.fixture
def run(tmp_path):
    """A writable copy of the old run directory."""
    return Path(shutil.copytree(OLD / "run", tmp_path / "run"))


@pytest.fixture
def ensemble_root(tmp_path):
    """A writable copy of the old (shipped) ensemble root."""
    return Path(shutil.copytree(OLD / "ensemble", tmp_path / "ensemble"))


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(".")[:3])


def test_older_layouts_are_read_only_until_the_version_that_removes_them():
    assert _version(__version__) < _version(legacy.READ_UNTIL), (
        f"stdp-ray {__version__} no longer reads older layouts (README, 'Run directories'): "
        "remove stdp_ray.rundir.legacy and its callers")


@pytest.mark.parametrize("present, expected", [
    (["seed-7"], "seed-7"),              # a root of an older version: used in place
    (["seed-7", "seed=7"], "seed=7"),    # the current name wins
    (["seed-8"], "seed=7"),              # another seed's old member changes nothing
])
def test_older_ensemble_members_named_seed_dash_n_are_found(tmp_path, present, expected):
    for name in present:
        (tmp_path / name).mkdir()
    assert rundir.member_dir(tmp_path, 7) == tmp_path / expected



def test_an_older_member_is_read_with_a_hint_to_migrate(tmp_path, caplog):
    (tmp_path / "seed-3").mkdir()
    with caplog.at_level(logging.WARNING, logger=legacy.__name__):
        assert rundir.member_dir(tmp_path, 3) == tmp_path / "seed-3"
        rundir.member_dir(tmp_path, 3)
    hints = [r.getMessage() for r in caplog.records]
    assert len(hints) == 1 and "read until stdp-ray " + legacy.READ_UNTIL in hints[0]
    assert "scripts/migrate_results.py" in hints[0]


def test_an_older_manifest_inside_the_folder_reads_and_moves_out_when_written(tmp_path):
    phase = tmp_path / "responses" / "phase=observe"
    phase.mkdir(parents=True)
    (phase / "_manifest.json").write_text(json.dumps({"phase": "observe", "n_samples": 9,
                                                      "unknown_later_key": 1}))
    manifest = rundir.read_manifest(phase)
    assert (manifest.phase, manifest.n_samples, manifest.data, manifest.seed) == \
        ("observe", 9, None, None)
    assert rundir.stored_manifest_path(phase) == phase / "_manifest.json"
    rundir.write_manifest(phase, manifest)
    assert rundir.stored_manifest_path(phase) == \
        tmp_path / "_manifests" / "responses" / "phase=observe.json"
    assert not (phase / "_manifest.json").exists()
    assert rundir.read_manifest(phase) == manifest


def test_a_manifest_in_the_dataset_of_the_first_seed_eq_layout_reads_and_moves_out(tmp_path):
    phase = tmp_path / "responses" / "phase=test"
    inside = tmp_path / "responses" / "_manifests" / "phase=test.json"
    inside.parent.mkdir(parents=True)
    inside.write_text(json.dumps({"phase": "test", "n_samples": 3}))
    assert rundir.read_manifest(phase).n_samples == 3
    rundir.write_manifest(phase, rundir.read_manifest(phase))
    assert not inside.exists() and rundir.stored_manifest_path(phase) == rundir.manifest_path(phase)


def test_an_old_run_configuration_reads():
    rc = workflow.read_run_config(OLD / "run")
    assert rc.seed == 3 and rc.config.n_neurons == 10 and rc.config.backend == "native"
    assert rundir.provenance_commit(rc.provenance).startswith("12aa4bed3d0c")


def test_an_old_network_loads_with_its_label_assignment_and_fingerprint():
    rc = workflow.read_run_config(OLD / "run")
    net = artifact.load_network(OLD / "run" / "network", expect=rc.config)
    assert net.arrays.weights.shape == (784, 10)
    assert net.assignments.shape == (10,) and net.class_rates.shape == (10, 10)
    assert net.provenance["training_samples"] == 4
    assert network_fingerprint(net.arrays) == _metrics(OLD / "run")["network"]


def test_old_predictions_agree_with_old_metrics_and_old_responses():
    run_dir = OLD / "run"
    preds = rundir.read_table(run_dir / "predictions.parquet", rundir.PREDICTIONS_SCHEMA)
    metrics = rundir.read_metrics(run_dir)
    assert metrics.to_dict() == _metrics(run_dir)  # every key of the old file is a field
    y = preds.column("label").to_numpy().astype(np.int64)
    p = preds.column("predicted").to_numpy().astype(np.int64)
    assert preds.num_rows == metrics.n_samples == 20
    assert scoring.accuracy(y, p) == metrics.accuracy == 0.6
    assert scoring.confusion_matrix(y, p).tolist() == metrics.confusion_matrix
    assert (metrics.n_neurons, metrics.training_samples, metrics.observe_samples) == (10, 4, 40)
    # The responses and the label assignment give the same predictions again.
    net = artifact.load_network(run_dir / "network")
    again = evaluation.predictions_from_responses(
        evaluation.responses(run_dir / "responses" / "phase=test"), net.assignments)
    assert again.column("predicted").to_pylist() == preds.column("predicted").to_pylist()
    assignments = rundir.read_table(run_dir / "assignments.parquet", rundir.ASSIGNMENTS_SCHEMA)
    assert assignments.column("assigned_class").to_pylist() == net.assignments.tolist()


def test_old_responses_and_manifests_read():
    run_dir = OLD / "run"
    observe = evaluation.responses(run_dir / "responses" / "phase=observe")
    test = evaluation.responses(run_dir / "responses" / "phase=test")
    assert observe.column("sample").to_pylist() == list(range(40))
    assert test.column("sample").to_pylist() == list(range(20))
    raw = json.loads((run_dir / "responses/phase=test/_manifest.json").read_text())
    manifest = rundir.read_manifest(rundir.phase_dir(run_dir, "test"))
    fields = dataclasses.asdict(manifest)
    assert {k: fields[k] for k in raw} == raw  # every key of the old file is a field
    assert manifest.arithmetic is None  # written by an exact engine, read as one
    assert (manifest.phase, manifest.n_samples, manifest.chunk_size) == ("test", 20, 10)
    assert rundir.read_manifest(rundir.phase_dir(run_dir, "observe")).n_samples == 40


def test_old_training_statistics_with_nine_digit_part_names_read_in_sample_order():
    stats_dir = OLD / "run" / "train" / "stats"
    assert [p.name for p in rundir.part_paths(stats_dir)] == [
        "part-000000000.parquet", "part-000000002.parquet"]
    stats = rundir.read_parts(stats_dir, rundir.TRAIN_STATS_SCHEMA)
    assert stats.column("sample").to_pylist() == [0, 1, 2, 3]


def test_an_old_run_directory_is_reported(run):
    paths = report.write_run_report(run)
    assert [p.name for p in paths] == ["confusion.png", "receptive_fields.png",
                                      "training_curves.png", "training_summary.csv",
                                      "report.md"]
    md = (run / "report" / "report.md").read_text()
    for text in ("| Test accuracy | 60.00% (12 / 20) |", "| Training samples | 4 |",
                 "| Observe (label-assignment) samples | 40 |", "| Seed | 3 |",
                 "| Backend | native |", "`2ee0fdac39401c4d`", "`12aa4bed3d0c"):
        assert text in md, text
    assert "Not included" not in md


def test_an_old_ensemble_is_reported_with_its_members(ensemble_root):
    paths = report.write_ensemble_report(ensemble_root)
    md = (ensemble_root / "report" / "report.md").read_text()
    assert "| Members | 2 |" in md and "| Mean member accuracy | 52.50% |" in md
    assert "80.00% at K = 2" in md
    assert "[report](../seed-1/report/report.md)" in md
    assert ensemble_root / "seed-2" / "report" / "confusion.png" in paths


def test_old_ensemble_settings_and_metrics_read():
    root = OLD / "ensemble"
    settings = rundir.read_ensemble_settings(root)
    assert settings.seeds == [1, 2] and settings.config.n_neurons == 10
    assert (settings.samples, settings.observe_samples, settings.test_samples) == (4, 40, 20)
    metrics = rundir.read_ensemble_metrics(root)
    stored = json.loads((root / "metrics.json").read_text())
    # Files written since start with the headline "accuracy"; the rest is as stored.
    record = metrics.to_dict()
    assert record.pop("accuracy") == stored["ensemble_accuracy_sum"]
    assert record == stored
    assert [m.seed for m in metrics.members] == [1, 2]
    assert [m.run_dir for m in metrics.members] == ["seed-1", "seed-2"]
    assert metrics.k == [1, 2] and metrics.mean_member_accuracy == 0.525


def test_old_ensemble_predictions_read_with_their_schema():
    table = rundir.read_table(OLD / "ensemble" / "ensemble_predictions.parquet",
                              rundir.ENSEMBLE_PREDICTIONS_SCHEMA)
    metrics = rundir.read_ensemble_metrics(OLD / "ensemble")
    labels = table.column("label").to_numpy()
    assert table.num_rows == metrics.n_samples == 20
    assert np.mean(table.column("predicted_sum").to_numpy() == labels) == \
        metrics.ensemble_accuracy_sum
    assert np.mean(table.column("predicted_vote").to_numpy() == labels) == \
        metrics.ensemble_accuracy_vote
    # The builder writes the same schema.
    again = rundir.ensemble_predictions_table(
        table.column("sample").to_numpy(), labels, table.column("predicted_sum").to_numpy(),
        table.column("predicted_vote").to_numpy(),
        np.stack(table.column("scores_sum").to_numpy(zero_copy_only=False)))
    assert again.equals(table)


@pytest.mark.slow
def test_testing_an_old_run_again_recomputes_nothing_and_keeps_its_metrics(ray_local, run,
                                                                          mnist_dir):
    before = (run / "metrics.json").read_bytes()
    result = workflow.test(run, RunOptions(test_samples=20, chunk_size=10, data_dir=mnist_dir,
                                            progress=False))
    assert result["chunks_computed"] == 0 and result["accuracy"] == 0.6
    assert (run / "metrics.json").read_bytes() == before
    info = workflow.observe(run, RunOptions(observe_samples=40, chunk_size=10, data_dir=mnist_dir,
                                              progress=False))
    assert info["computed"] == 0
    # The manifests moved out of the dataset folders, unchanged.
    for phase in rundir.PHASES:
        folder = rundir.phase_dir(run, phase)
        assert not (folder / rundir.legacy.MANIFEST_FILE).exists()
        assert json.loads(rundir.manifest_path(folder).read_text()) == json.loads(
            (OLD / "run" / "responses" / f"phase={phase}" / "_manifest.json").read_text())
