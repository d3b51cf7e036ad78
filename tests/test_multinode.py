"""A real two-node Ray cluster on 127.0.0.1: `stdp-ray test` submitted with the Job API."""

import json
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import random_network
from stdp_ray import artifact, data, evaluation, rundir, scoring, workflow
from stdp_ray.testing.localcluster import LocalCluster

pytestmark = pytest.mark.slow

N = 16
CHUNK = 2


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_cfg, mnist_dir):
    """A run directory holding a tiny frozen network with an assignment."""
    run = tmp_path_factory.mktemp("multinode") / "run"
    cfg = tiny_cfg.replace(backend="standalone", intensity=4.0)
    workflow.prepare_run(run, cfg, seed=11)
    net = random_network(cfg, seed=2)
    artifact.save_network(run / rundir.NETWORK_DIR, cfg, net)
    artifact.save_assignments(run / rundir.NETWORK_DIR, cfg, np.arange(10) % 10,
                              np.zeros((10, 10)))
    return run


@pytest.fixture(scope="module")
def cluster_run(run_dir, mnist_dir):
    # Brian2's standalone engine, as a cluster user would run it (each node
    # compiles or adopts its build); chunks are placed on purpose whatever the engine.
    cmd = [Path(sys.executable).parent / "stdp-ray", "test", run_dir, "--samples", N,
           "--chunk-size", CHUNK, "--data-dir", mnist_dir, "--no-progress",
           "--backend", "standalone"]
    with LocalCluster(workers=1, cpus=1) as cluster:
        status, logs = cluster.submit(" ".join(shlex.quote(str(c)) for c in cmd))
        procs = list(cluster.procs)
    leftovers = cluster.leftover_pids()
    return status, logs, procs, leftovers


def test_job_succeeds(cluster_run):
    status, logs, _, _ = cluster_run
    assert status == "SUCCEEDED", logs


def test_chunks_are_dealt_round_robin_over_the_nodes(cluster_run, run_dir):
    metrics = json.loads((run_dir / rundir.METRICS_FILE).read_text())
    assert metrics["nodes"] == 2, metrics["chunk_nodes"]
    ran = {int(c): node for c, node in metrics["chunk_nodes"].items()}
    assert sorted(ran) == list(range(N // CHUNK))
    # One CPU each: the cycle of slots is the two node ids in order (stdp_ray.placement).
    cycle = sorted(set(ran.values()))
    assert len(cycle) == 2
    assert ran == {c: cycle[c % 2] for c in ran}


def test_tables_equal_a_single_process_run(cluster_run, run_dir, mnist_dir):
    net = artifact.load_network(run_dir / rundir.NETWORK_DIR)
    images, labels = data.load_mnist(mnist_dir, "test")
    # In this process on the native engine, bit for bit the cluster's standalone one.
    local = evaluation.evaluate_chunk(net.config.replace(backend="native"), net.arrays,
                                      images[:N], labels[:N], np.arange(N), seed=11,
                                      phase="test", chunk=0)
    remote = evaluation.responses(run_dir / rundir.RESPONSES_DIR / "phase=test")
    assert remote.drop(["chunk"]).equals(local.drop(["chunk"]))
    predictions = pd.read_parquet(run_dir / rundir.PREDICTIONS_FILE)
    expected = scoring.predict(scoring.class_scores(rundir.counts_matrix(local),
                                                    net.assignments))
    np.testing.assert_array_equal(predictions["predicted"], expected)


def test_exactly_the_started_processes_are_stopped(cluster_run):
    _, _, procs, leftovers = cluster_run
    assert len(procs) == 2
    assert all(p.poll() is not None for p in procs)
    assert leftovers == []
