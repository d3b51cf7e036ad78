"""Shared fixtures: small synthetic MNIST files, tiny networks, one local Ray for the run."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idx_helpers import make_synthetic_mnist
from quick_tier import (pytest_addoption, pytest_collection_modifyitems,  # noqa: F401
                        pytest_configure, pytest_sessionfinish)
from stdp_ray.config import Config
from stdp_ray.network import FrozenNetwork
from stdp_ray import model
from stdp_ray.testing.env import environment

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


@pytest.fixture(scope="session")
def fault_files(tmp_path_factory) -> dict[str, Path]:
    """The fault-injection file of each hook, named in the environment for the whole session.

    Ray's workers inherit the environment at ``ray.init``, so the variables are
    set before the session's Ray starts; a hook does nothing while its file is absent.
    """
    from stdp_ray import faults

    root = tmp_path_factory.mktemp("faults")
    files = {faults.env_var("chunk"): root / "evaluation.txt",
             faults.env_var("train-sample"): root / "training.txt",
             faults.env_var("disk-full"): root / "disk-full.txt"}
    with environment({name: str(path) for name, path in files.items()}):
        yield files


@pytest.fixture(scope="session")
def ray_local(fault_files, s3_server):
    """One local Ray (2 CPUs) for the whole test run: started at the first test that needs it.

    Its workers see the fault-injection files and the S3 server's variables,
    set before it starts. Tests that start Ray themselves (the command line's
    ``ensure_ray``) use this one when it is running.
    """
    import ray

    from stdp_ray.connect import start_local_ray

    if ray.is_initialized():  # started by a test without these variables
        ray.shutdown()
    start_local_ray(2, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def no_ray_start(monkeypatch):
    """Fails the test if it starts or joins Ray (a refusal must come before Ray)."""
    import ray

    from stdp_ray import connect

    calls = []
    ensure = connect.ensure_ray

    def recorded():
        calls.append(1)
        return ensure()

    # Every module that imported it by name, and connect for those imported later.
    for name, module in list(sys.modules.items()):
        if name.startswith("stdp_ray") and getattr(module, "ensure_ray", None) is ensure:
            monkeypatch.setattr(module, "ensure_ray", recorded)
    running = ray.is_initialized()
    yield
    assert calls == [], "the command asked for Ray"
    assert ray.is_initialized() == running, "Ray was started"


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

    with S3Server() as server, environment(server.environment()):
        yield server


@pytest.fixture
def s3_bucket(s3_server):
    """A new, empty bucket of :func:`s3_server` for one test."""
    return s3_server.new_bucket()
