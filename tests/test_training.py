"""Training: the original script's direction of change, the bounded retry, exact resume,
the Ray actor."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from stdp_ray import checkpoints, data, faults, trainer, training
from stdp_ray.rundir import latest_checkpoint
from stdp_ray.trainer import Trainer
from stdp_ray.options import RunOptions

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def train_data(mnist_dir):
    return data.load_mnist(mnist_dir, "train")


@pytest.fixture(scope="module")
def cfg(tiny_cfg):
    """The tiny network on the native engine: bit for bit Brian2's (tests/test_engine_native.py)."""
    return tiny_cfg.replace(backend="native")


def test_initial_network_is_seeded(cfg):
    a, b = trainer.initial_network(cfg, 3), trainer.initial_network(cfg, 3)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.delays_ms, b.delays_ms)
    assert not np.array_equal(a.weights, trainer.initial_network(cfg, 4).weights)
    np.testing.assert_array_equal(a.theta_mV, 20.0)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, cfg, train_data):
    """Six samples trained without interruption (checkpoints every 3)."""
    trainer = Trainer(cfg, 1, tmp_path_factory.mktemp("straight"), *train_data,
                      checkpoint_every=3)
    trainer.train_until(6)
    return trainer


def test_training_moves_weights_and_theta_the_expected_way(straight, cfg):
    start = trainer.initial_network(cfg, 1)
    net = straight.network()
    # theta only grows by 0.05 mV per spike (its decay over 3 s is ~3e-4 of itself).
    stats = pq.read_table(straight.stats_dir).to_pandas()
    spikes = stats["total_spikes"].sum()
    assert net.theta_mV.mean() > start.theta_mV.mean()
    assert net.theta_mV.sum() - start.theta_mV.sum() >= 0.05 * spikes * 0.99
    # Weights are rescaled to sum to 78 per neuron before each sample, then learn:
    # the columns stay near 78, far above the initial ~121 * 0.3 / 2.
    sums = net.weights.sum(axis=0)
    assert np.all(np.abs(sums - 78) < 10)
    assert 0 <= net.weights.min() and net.weights.max() <= 1
    np.testing.assert_array_equal(net.delays_ms, start.delays_ms)


def test_statistics_has_one_row_per_sample(straight):
    stats = pq.read_table(straight.stats_dir).to_pandas()
    assert stats["sample"].tolist() == list(range(6))
    assert (stats["total_spikes"] >= 5).all()
    assert (stats["presentations"] == stats["intensity"] - 1).all()  # intensity 2 + retries
    assert stats["theta_mean_mV"].is_monotonic_increasing


def test_resume_from_checkpoint_is_exact(straight, tmp_path, cfg, train_data):
    first = Trainer(cfg, 1, tmp_path, *train_data, checkpoint_every=3)
    first.train_until(4)   # checkpoints at 3 and 4
    del first
    resumed = Trainer(cfg, 1, tmp_path, *train_data, checkpoint_every=3)
    assert resumed.samples_done == 4
    resumed.train_until(6)
    a, b = straight.network(), resumed.network()
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.theta_mV, b.theta_mV)
    stats = pq.read_table(tmp_path / "stats").to_pandas()
    assert stats["sample"].tolist() == list(range(6))
    assert stats.equals(pq.read_table(straight.stats_dir).to_pandas()
                        .assign(seconds=stats["seconds"]))


def test_train_until_is_idempotent(straight):
    weights = straight.network().weights
    assert straight.train_until(3) == 6
    np.testing.assert_array_equal(straight.network().weights, weights)


def test_silent_input_is_bounded_and_recorded(tmp_path, cfg, train_data):
    cfg = cfg.replace(max_intensity=4.0)
    images, labels = train_data
    trainer = Trainer(cfg, 1, tmp_path, np.zeros_like(images[:2]), labels[:2])
    trainer.train_until(2)
    stats = pq.read_table(trainer.stats_dir).to_pandas()
    assert stats["failed"].all()
    assert stats["presentations"].tolist() == [3, 3]
    assert stats["total_spikes"].tolist() == [0, 0]


def test_checkpoint_of_another_seed_is_refused(straight, cfg, train_data):
    from stdp_ray.reading import ArtifactError

    with pytest.raises(ArtifactError, match=r"checkpoint of seed 1, this run has seed 2"):
        Trainer(cfg, 2, straight.train_dir, *train_data)


@pytest.mark.parametrize("every", [0, -5])
def test_checkpoint_every_rejected(tmp_path, cfg, train_data, every):
    with pytest.raises(ValueError, match=rf"checkpoint_every == {every}, must be >= 1"):
        Trainer(cfg, 1, tmp_path, *train_data, checkpoint_every=every)


# ---------------------------------------------------------------------------
# The Ray actor
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fault_file(fault_files):
    return fault_files[faults.env_var("train-sample")]


def test_actor_killed_mid_run_resumes_exactly(fault_file, ray_local, straight, tmp_path,
                                              cfg, train_data):
    fault_file.write_text("sample 4")  # dies after the checkpoint at 3, mid-way to 6
    arrays, summary = training.train_run(tmp_path, cfg, 1, *train_data,
                                         RunOptions(samples=6, checkpoint_every=3,
                                                    progress=False))
    assert not fault_file.exists(), "the fault was not triggered"
    assert summary["samples"] == 6
    np.testing.assert_array_equal(arrays.weights, straight.network().weights)
    np.testing.assert_array_equal(arrays.theta_mV, straight.network().theta_mV)
    stats = pq.read_table(tmp_path / "stats").to_pandas()
    assert stats["sample"].tolist() == list(range(6))  # none skipped, none repeated
    assert latest_checkpoint(tmp_path / "checkpoints").name == "ckpt-000000006"


def test_rerunning_a_finished_training_trains_nothing(ray_local, tmp_path, cfg, train_data):
    options = RunOptions(samples=3, checkpoint_every=3, progress=False)
    training.train_run(tmp_path, cfg, 1, *train_data, options)
    _, summary = training.train_run(tmp_path, cfg, 1, *train_data, options)
    assert summary["resumed_from"] == 3
    assert len(pq.read_table(tmp_path / "stats")) == 3


def test_snapshots_keep_the_network_every_n_samples_without_changing_training(
        straight, tmp_path, cfg, train_data):
    from stdp_ray import artifact, rundir

    trainer = Trainer(cfg, 1, tmp_path, *train_data, checkpoint_every=3, snapshot_every=2)
    trainer.train_until(4)
    del trainer  # interrupted after 4: resumes from the checkpoint at 3, snapshot 4 exists
    resumed = Trainer(cfg, 1, tmp_path, *train_data, checkpoint_every=3, snapshot_every=2)
    resumed.train_until(6)
    np.testing.assert_array_equal(resumed.network().weights, straight.network().weights)
    snaps = rundir.snapshot_dirs(tmp_path)
    assert [n for n, _ in snaps] == [2, 4, 6]
    last = artifact.load_network(snaps[-1][1])
    np.testing.assert_array_equal(last.arrays.weights, straight.network().weights)
    assert last.provenance["training_samples"] == 6
    # Checkpoints are pruned as before; snapshots are not.
    assert len(rundir.checkpoint_dirs(rundir.checkpoints_dir(tmp_path))) == 2


@pytest.mark.parametrize("every", [0, -2])
def test_snapshot_every_rejected(tmp_path, cfg, train_data, every):
    with pytest.raises(ValueError, match=f"snapshot_every == {every}, must be >= 1"):
        Trainer(cfg, 1, tmp_path, *train_data, snapshot_every=every)


def test_a_stop_request_ends_training_after_the_sample_with_a_checkpoint(tmp_path, cfg,
                                                                         train_data):
    trainer = Trainer(cfg, 1, tmp_path, *train_data, checkpoint_every=100)
    trainer.train_one()
    trainer.request_stop()
    assert trainer.train_until(50) == 1
    assert checkpoints.newest_usable_checkpoint(tmp_path, cfg, 1).samples_done == 1


def test_a_trainer_whose_driver_is_gone_writes_nothing(tmp_path, cfg, train_data):
    from stdp_ray import leases, locks

    run = tmp_path / "run"
    with locks.directory_lock(run):  # the driver (its own open file: a lock apart)
        lease = (run, locks.lock_owner(run))
        trainer = Trainer(cfg, 1, run / "train", *train_data, checkpoint_every=2,
                          lease=lease)
        trainer.train_until(2)
    # The driver died: the lock is free.
    with pytest.raises(leases.LeaseLostError, match="the driver .* is gone"):
        trainer.train_until(4)
    assert [p.name for p in training.rundir.checkpoint_dirs(run / "train" / "checkpoints")] == [
        "ckpt-000000002"]


@pytest.mark.parametrize("command, files", [
    (["train"], "arrays.npz"),
    (["ensemble", "--seeds", "1,2", "--observe-samples", "6", "--test-samples", "6"],
     "dynamic.npz"),   # counts that the tiny data set has (checked before any training)
])
def test_a_full_disk_in_the_training_actor_exits_3_in_one_plain_line_naming_the_file(
        fault_files, ray_local, tmp_path, mnist_dir, caplog, command, files):
    import re

    from stdp_ray.cli import main

    disk_full = fault_files[faults.env_var("disk-full")]
    faults.arm("disk-full", disk_full, files)  # every write of that name fails, in the actors
    try:
        status = main([command[0], str(tmp_path / "run"), *command[1:], "--neurons", "10",
                       "--backend", "native", "--samples", "4", "--checkpoint-every", "2",
                       "--data-dir", str(mnist_dir), "--no-progress"])
    finally:
        disk_full.unlink()
    assert status == 3
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors
    assert re.fullmatch(rf"environment failure: {re.escape(str(tmp_path / 'run'))}/\S*train/"
                        rf"checkpoints/\S+/{re.escape(files)}: No space left on device",
                        errors[0]), errors[0]
    assert "\x1b" not in caplog.text
