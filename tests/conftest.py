"""Shared fixtures: small synthetic MNIST files, tiny networks, one local Ray per module."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import numpy as np
import pytest

from idx_helpers import make_synthetic_mnist
from stdp_ray.config import Config
from stdp_ray.network import FrozenNetwork
from stdp_ray import model

#: Tiny networks keep the suite fast; intensity starts higher than the original script's
#: because ten untrained neurons need a stronger drive to reach 5 spikes.
TINY = Config(n_neurons=10, backend="runtime")


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory):
    """Synthetic MNIST: 60 training and 30 test images in real IDX files."""
    return make_synthetic_mnist(tmp_path_factory.mktemp("mnist"), n_train=60, n_test=30, seed=0)


@pytest.fixture
def synthetic(tmp_path):
    """Synthetic MNIST of 40 training and 20 test images, one per test (the data tests)."""
    return make_synthetic_mnist(tmp_path / "synthetic", n_train=40, n_test=20, seed=1)


@pytest.fixture
def sums(synthetic) -> dict[str, str]:
    """The MD5 of each file of ``synthetic``."""
    from mnist_helpers import checksums_of

    return checksums_of(synthetic)


@pytest.fixture(scope="session")
def tiny_cfg():
    return TINY


def random_network(cfg: Config, seed: int = 0) -> FrozenNetwork:
    """A frozen network with the original script's initial weights, normalised, theta 20 mV."""
    rng = np.random.default_rng(seed)
    w = model.normalize_weights(model.initial_weights(cfg, rng), cfg.weight_sum)
    return FrozenNetwork(np.clip(w, 0, cfg.w_max), np.full(cfg.n_neurons, cfg.theta_init_mV),
                         model.initial_delays(cfg, rng))


@pytest.fixture(scope="session")
def tiny_network(tiny_cfg):
    return random_network(tiny_cfg)


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray (2 CPUs) shared by the tests of a module."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


@contextlib.contextmanager
def lock_in_child(directory):
    """Hold ``directory``'s run lock in another process while the block runs."""
    code = ("import sys, time; from stdp_ray import locks\n"
            "with locks.directory_lock(sys.argv[1]):\n"
            "    print('locked', flush=True); time.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(directory)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        yield child.pid
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def sparse_images(n: int, seed: int = 3) -> np.ndarray:
    """``n`` synthetic images, (n, 784) uint8: a quarter of the pixels lit at 60-255."""
    rng = np.random.default_rng(seed)
    return ((rng.random((n, 784)) < 0.25) * rng.integers(60, 256, (n, 784))).astype(np.uint8)


def pass_inputs(images, ids, intensity=4.0, attempt=0, seed=42, stream=3):
    """The :class:`PassInputs` of ``images`` as samples ``ids``, all at one intensity."""
    from stdp_ray.engines import PassInputs

    n = len(ids)
    return PassInputs(images, np.asarray(ids), np.full(n, float(intensity)),
                      np.full(n, attempt), seed, stream)



@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1, its endpoint and keys in the standard variables.

    The variables are set for the whole session from the first test that asks
    for it: Ray workers started afterwards (the training actors) inherit them,
    as the nodes of a cluster get them from their environment or role.
    """
    from s3_server import S3Server

    from stdp_ray.testing.env import environment

    with S3Server() as server, environment(server.environment()):
        yield server


@pytest.fixture
def s3_bucket(s3_server):
    """A new, empty bucket of :func:`s3_server` for one test."""
    return s3_server.new_bucket()
