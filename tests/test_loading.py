"""load_run: reading a run while it trains, and never a table of an older network (no Ray)."""

from __future__ import annotations

import doctest
import logging

import numpy as np
import pytest

import stdp_ray
from conftest import TINY, lock_in_child, random_network
from stdp_ray import artifact, evaluation, loading, rundir, workflow
from stdp_ray.network import network_fingerprint
from stdp_ray.rundir import PhaseManifest, RunMetrics

#: (label, the neuron that spikes): neuron i is assigned class i; two of four are right.
_SAMPLES = ((7, 7), (2, 1), (1, 1), (0, 5))


def make_tested_run(run, samples: int = 60):
    """A run trained on ``samples`` samples, observed and tested on 4 images, by hand."""
    workflow.prepare_run(run, TINY, 3)
    workflow.save_trained(run, TINY, random_network(TINY, seed=1), 3,
                          {"samples": samples, "seconds": 1.0})
    network = artifact.load_network(run / rundir.NETWORK_DIR)
    fingerprint = network_fingerprint(network.arrays)
    assignments = np.arange(10)
    artifact.save_assignments(run / rundir.NETWORK_DIR, TINY, assignments, np.eye(10))
    identity = {"seed": 3, "network": fingerprint, "config": TINY.model_hash()}
    rundir.write_table(run / rundir.ASSIGNMENTS_FILE,
                       rundir.assignments_table(assignments, np.eye(10)), identity=identity)
    phase_dir = rundir.phase_dir(run, "test")
    manifest = PhaseManifest(phase="test", seed=3, chunk_size=4, n_samples=4, first_sample=0,
                             network=fingerprint, model=TINY.model_hash())
    counts = np.zeros((4, 10), dtype=np.int32)
    for i, (_, neuron) in enumerate(_SAMPLES):
        counts[i, neuron] = 5
    labels = np.array([label for label, _ in _SAMPLES])
    rundir.write_manifest(phase_dir, manifest)
    rundir.write_table(phase_dir / rundir.part_name(0),
                       rundir.responses_table(np.arange(4), labels, counts, np.full(4, 2.0),
                                              np.ones(4), np.zeros(4, bool), chunk=0),
                       identity=rundir.part_identity(manifest, 0))
    preds = evaluation.predictions_from_responses(rundir.read_phase(phase_dir), assignments)
    rundir.write_table(run / rundir.PREDICTIONS_FILE, preds, identity=identity)
    rundir.write_metrics(run, RunMetrics(accuracy=0.5, confusion_matrix=np.eye(10).tolist(),
                                         n_samples=4, network=fingerprint,
                                         training_samples=samples))
    return run


@pytest.fixture
def tested(tmp_path):
    return make_tested_run(tmp_path / "run")


def test_a_run_locked_by_a_training_can_be_loaded_and_says_which_network_it_shows(tested):
    with lock_in_child(tested):
        run = stdp_ray.load_run(tested)
        assert run.training.in_progress
        assert run.responses("test")["total_spikes"].tolist() == [5, 5, 5, 5]
    assert run.training.network_samples == 60
    assert run.metrics.accuracy == 0.5 and len(run.predictions) == 4
    assert "network after 60 training samples" in run.training.describe()
    assert "working on the run now" in run.training.describe()
    assert not stdp_ray.load_run(tested).training.in_progress  # the writer is gone


def test_a_training_in_progress_shows_how_far_its_statistics_have_come(tested):
    import pyarrow as pa

    row = {"image": 0, "label": 0, "total_spikes": 5, "intensity": 2.0, "presentations": 1,
           "failed": False, "w_mean": 0.1, "w_std": 0.0, "theta_mean_mV": 20.0,
           "theta_std_mV": 0.0, "seconds": 0.1}
    rundir.write_table(run_stats := tested / rundir.STATS_DIR / rundir.part_name(60),
                       pa.Table.from_pylist([{**row, "sample": s} for s in range(60, 90)],
                                            schema=rundir.TRAIN_STATS_SCHEMA))
    (run_stats.parent / ".part-000090.parquet.x.tmp").write_bytes(b"half")  # not committed
    state = stdp_ray.load_run(tested).training
    assert (state.network_samples, state.samples_done) == (60, 90)
    assert "training statistics up to sample 90" in state.describe()


def test_continuing_a_training_removes_every_table_of_the_older_network(tested):
    (tested / rundir.REPORT_DIR).mkdir()
    (tested / rundir.REPORT_DIR / rundir.REPORT_MD).write_text("# the older network's\n")
    workflow.save_trained(tested, TINY, random_network(TINY, seed=2), 3,
                          {"samples": 120, "seconds": 1.0})
    run = stdp_ray.load_run(tested)
    assert run.training.network_samples == 120
    assert (run.metrics, run.predictions, run.assignments, run.responses("test")) == (
        None, None, None, None)
    assert not rundir.phase_dir(tested, "test").exists()
    assert not rundir.manifest_path(rundir.phase_dir(tested, "test")).exists()
    assert not (tested / rundir.REPORT_DIR / rundir.REPORT_MD).exists()


@pytest.mark.parametrize("table", ["responses", "predictions", "assignments", "metrics"])
def test_a_table_of_another_network_is_never_shown_with_this_one(tested, caplog, table):
    # As a run whose network was replaced by a version that left its tables behind.
    artifact.save_network(tested / rundir.NETWORK_DIR, TINY, random_network(TINY, seed=2),
                          overwrite=True, prov={"seed": 3, "training_samples": 120})
    with caplog.at_level(logging.WARNING, logger="stdp_ray.loading"):
        run = stdp_ray.load_run(tested)
        shown = run.responses("test") if table == "responses" else getattr(run, table)
    assert shown is None
    assert "computed from another network" in caplog.text


@pytest.mark.parametrize("documented,examples", [(loading.Run, 4), (loading.load_run, 5)])
def test_the_examples_of_load_run_run(tested, documented, examples):
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in finder.find(documented, documented.__name__,
                            globs={"stdp_ray": stdp_ray, "run_dir": tested}):
        runner.run(test)
    assert runner.summarize(verbose=False) == (0, examples)
