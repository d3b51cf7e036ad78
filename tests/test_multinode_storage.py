"""Training that survives losing a node: a two-node Ray cluster on 127.0.0.1 whose nodes
share no directory, an ensemble on an S3 bucket (moto's server), the worker node killed
in the middle of training, its actor resumed on the head node from the bucket."""

from __future__ import annotations

import json
import shlex
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from stdp_ray import data, location, mirrors, rundir
from stdp_ray.config import Config
from stdp_ray.testing.localcluster import LocalCluster
from stdp_ray import faults
from stdp_ray.trainer import Trainer

pytestmark = pytest.mark.slow

SEEDS = (1, 2)
SAMPLES = 30
EVERY = 5
#: Where every trainer waits until the test has killed the worker node.
PAUSE_AT = 10
CFG = Config(n_neurons=10, backend="native")


def _committed(s3_server, bucket: str, seed: int, samples: int) -> dict | None:
    """The state.json of member ``seed``'s checkpoint after ``samples``, once committed."""
    prefix = f"ens/seed={seed}/{rundir.CHECKPOINTS_DIR}/{rundir.checkpoint_name(samples)}/"
    keys = s3_server.keys(bucket, prefix)
    if prefix + mirrors.COMMIT_MARKER not in keys:
        return None
    return json.loads(keys[prefix + rundir.CHECKPOINT_STATE])


def _stats_nodes(s3_server, bucket: str, seed: int) -> dict[int, str]:
    """First sample of each training-statistics part -> the node that trained it."""
    import io

    import pyarrow.parquet as pq

    prefix = f"ens/seed={seed}/{rundir.STATS_DIR}/"
    out = {}
    for key, body in s3_server.keys(bucket, prefix).items():
        meta = pq.read_schema(io.BytesIO(body)).metadata
        out[rundir.part_index(key)] = meta[b"stdp_ray.node"].decode()
    return dict(sorted(out.items()))


@pytest.fixture(scope="module")
def node_loss(s3_server, tmp_path_factory, mnist_dir):
    """The ensemble, its worker node killed at sample PAUSE_AT; what happened, recorded."""
    bucket = s3_server.new_bucket()
    uri = f"s3://{bucket}/ens"
    tmp = tmp_path_factory.mktemp("nodeloss")
    pause = tmp / "pause"
    pause.write_text(f"sample {PAUSE_AT}")
    driver_cache = tmp / "driver-cache"
    cmd = ["env", f"STDP_RAY_CACHE={driver_cache}", Path(sys.executable).parent / "stdp-ray",
           "ensemble", uri, "--seeds", ",".join(map(str, SEEDS)), "--neurons", "10",
           "--samples", SAMPLES, "--checkpoint-every", EVERY, "--observe-samples", "40",
           "--test-samples", "20", "--chunk-size", "10", "--backend", "native",
           "--data-dir", mnist_dir, "--no-progress"]
    record: dict = {"uri": uri}
    env = {faults.env_var("train-pause"): str(pause),
           # A lost node is declared dead after 3 missed health checks of 1 s.
           "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}
    with LocalCluster(workers=1, cpus=1, private_dirs=True, extra_env=env) as cluster:
        nodes = cluster.node_ids()
        record["nodes"] = nodes
        outcome: dict = {}
        job = threading.Thread(target=lambda: outcome.update(zip(
            ("status", "logs"), cluster.submit(" ".join(shlex.quote(str(c)) for c in cmd),
                                               timeout=900))))
        job.start()
        deadline = time.monotonic() + 600
        states = {}
        while len(states) < len(SEEDS):
            assert time.monotonic() < deadline, "the members never reached the pause point"
            assert job.is_alive(), outcome.get("logs")
            for seed in SEEDS:
                found = _committed(s3_server, bucket, seed, PAUSE_AT)
                if found is not None:
                    states[seed] = found
            time.sleep(0.5)
        record["at_pause"] = {seed: s["node"] for seed, s in states.items()}
        worker_seeds = [s for s, node in record["at_pause"].items() if node == nodes["worker0"]]
        record["killed_pids"] = cluster.kill_node("worker0")
        record["killed_at"] = time.time()
        record["worker_seed"] = worker_seeds[0] if worker_seeds else None
        pause.unlink()  # the head's actor goes on; the restarted one resumes past the point
        job.join(timeout=900)
        record.update(outcome)
        record["head_cache"] = sorted(p.name for p in
                                      (cluster.node_dir("head") / "cache" / "mirrors").iterdir())
        record["worker_cache"] = sorted(
            p.name for p in (cluster.node_dir("worker0") / "cache" / "mirrors").iterdir())
    record["stats_nodes"] = {seed: _stats_nodes(s3_server, bucket, seed) for seed in SEEDS}
    record["final_nodes"] = {seed: (_committed(s3_server, bucket, seed, SAMPLES) or {}).get("node")
                             for seed in SEEDS}
    (tmp / "job.log").write_text(record.get("logs") or "")
    (tmp / "record.json").write_text(json.dumps({k: v for k, v in record.items()
                                                 if k != "logs"}, indent=1, default=str))
    print("node-loss record:", json.dumps({k: v for k, v in record.items() if k != "logs"},
                                          indent=1, default=str))
    return record


def test_the_ensemble_finishes_despite_the_lost_node(node_loss):
    assert node_loss["status"] == "SUCCEEDED", node_loss["logs"][-5000:]


def test_actors_ran_on_both_nodes_until_the_worker_was_killed(node_loss):
    nodes = node_loss["nodes"]
    assert sorted(node_loss["at_pause"].values()) == sorted([nodes["head"], nodes["worker0"]])
    assert node_loss["worker_seed"] in SEEDS
    assert len(node_loss["killed_pids"]) >= 2  # the node's ray start, raylet, the actor...


def test_the_restarted_actor_resumed_on_the_head_node_from_the_bucket(node_loss):
    nodes, lost = node_loss["nodes"], node_loss["worker_seed"]
    trained_by = node_loss["stats_nodes"][lost]
    # Samples 0-9 by the worker node (two parts of EVERY); 10-29 by the head node after
    # the restart, resumed from the checkpoint of sample 10 on the bucket.
    assert trained_by == {**{k: nodes["worker0"] for k in range(0, PAUSE_AT, EVERY)},
                          **{k: nodes["head"] for k in range(PAUSE_AT, SAMPLES, EVERY)}}
    assert node_loss["final_nodes"] == {seed: nodes["head"] for seed in SEEDS}
    other = next(s for s in SEEDS if s != lost)
    assert set(node_loss["stats_nodes"][other].values()) == {nodes["head"]}


def test_each_node_mirrored_the_bucket_in_its_own_directory(node_loss):
    # The killed actor's mirror is left on the worker node (only there); the head node's
    # actors pulled their own and removed them when they ended.
    lost = node_loss["worker_seed"]
    digest = __import__("hashlib").sha256(
        f"{node_loss['uri']}/seed={lost}/train".encode()).hexdigest()[:12]
    assert [n for n in node_loss["worker_cache"] if n.startswith(f"worker-{digest}-")]
    assert node_loss["head_cache"] == []


def test_final_weights_equal_an_uninterrupted_training_bit_for_bit(node_loss, s3_server,
                                                                    mnist_dir, tmp_path):
    images, labels = data.load_mnist(mnist_dir, "train")
    local = location.read_location(node_loss["uri"])
    for seed in SEEDS:
        trainer = Trainer(CFG, seed, tmp_path / f"seed={seed}", images, labels,
                          checkpoint_every=SAMPLES)
        trainer.train_until(SAMPLES)
        expected = trainer.network()
        stored = np.load(local / f"seed={seed}" / rundir.NETWORK_DIR / "arrays.npz")
        for name in ("weights", "theta_mV", "delays_ms"):
            np.testing.assert_array_equal(stored[name], getattr(expected, name))
        assert (local / f"seed={seed}" / rundir.PREDICTIONS_FILE).is_file()
    assert (local / rundir.ENSEMBLE_METRICS_FILE).is_file()
