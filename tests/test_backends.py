"""Brian2 shells: input spikes, runtime == standalone, per-sample independence, build reuse."""

import logging

import numpy as np
import pytest

from stdp_ray import backends, model
from stdp_ray.backends import PassInputs, count_slot_spikes
from stdp_ray.config import Config

pytestmark = pytest.mark.slow


def _inputs(images, ids, intensity=4.0, attempt=0, seed=42, stream=3):
    n = len(ids)
    return PassInputs(images, np.asarray(ids), np.full(n, float(intensity)),
                      np.full(n, attempt), seed, stream)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return ((rng.random((10, 784)) < 0.25) * rng.integers(60, 256, (10, 784))).astype(np.uint8)


def test_count_slot_spikes_windows():
    cfg = Config(n_neurons=3)
    dt = cfg.dt_ms * 1e-3
    # slot 0: two spikes of neuron 1 inside, one in the rest; slot 1: neuron 2 at its start.
    assert cfg.frozen_slot_steps == 3600
    steps = np.array([0, 3499, 3500, 3600])
    counts = count_slot_spikes(np.array([1, 1, 0, 2]), steps * dt, cfg, 2)
    np.testing.assert_array_equal(counts, [[0, 2, 0], [0, 0, 1]])


def test_runtime_input_spikes_equal_the_numpy_reference(tiny_cfg, tiny_network, images):
    from brian2 import SpikeMonitor, ms

    backends._activate_runtime()
    inputs = _inputs(images[:1], [7], intensity=2.0)
    net, objects = backends._build(tiny_cfg, "frozen", 1, tiny_network, inputs)
    mon = SpikeMonitor(objects["inp"])
    net.add(mon)
    net.run(tiny_cfg.frozen_slot_ms * ms, namespace={})
    raster = np.zeros((tiny_cfg.present_steps, 784), dtype=bool)
    steps = np.round(np.asarray(mon.t_) / (tiny_cfg.dt_ms * 1e-3)).astype(int)
    raster[steps, np.asarray(mon.i)] = True
    ref = model.input_spikes(model.input_rates(images[0], tiny_cfg, 2.0), tiny_cfg, seed=42,
                             stream=3, sample=7, attempt=0)
    assert ref.sum() > 100
    np.testing.assert_array_equal(raster, ref)


@pytest.fixture(scope="module")
def runtime_counts(tiny_cfg, tiny_network, images):
    return backends.RuntimeFrozen(tiny_cfg, tiny_network).run_pass(_inputs(images, range(10)))


def test_runtime_responses_are_nontrivial(runtime_counts):
    assert runtime_counts.shape == (10, 10)
    assert runtime_counts.sum() > 20


def test_standalone_equals_runtime_exactly(tiny_cfg, tiny_network, images, runtime_counts):
    sim = backends.StandaloneFrozen(tiny_cfg.replace(backend="standalone"), tiny_network, 10)
    np.testing.assert_array_equal(sim.run_pass(_inputs(images, range(10))), runtime_counts)


@pytest.mark.parametrize("backend", ["runtime", "standalone"])
def test_sample_response_independent_of_what_ran_before(tiny_cfg, tiny_network, images,
                                                        runtime_counts, backend):
    """Samples 5-9 alone give the same responses as within 0-9 (state reset, keyed input)."""
    cfg = tiny_cfg.replace(backend=backend)
    sim = backends.make_frozen_simulator(cfg, tiny_network, 10)
    alone = sim.run_pass(_inputs(images[5:], range(5, 10)))
    np.testing.assert_array_equal(alone, runtime_counts[5:])


def test_attempt_changes_the_input_draw(tiny_cfg, tiny_network, images, runtime_counts):
    sim = backends.RuntimeFrozen(tiny_cfg, tiny_network)
    again = sim.run_pass(_inputs(images, range(10), attempt=1))
    assert not np.array_equal(again, runtime_counts)


def test_standalone_build_is_reused_not_recompiled(tiny_cfg, tiny_network, images, caplog,
                                                   runtime_counts):
    cfg = tiny_cfg.replace(backend="standalone")
    sim = backends.StandaloneFrozen(cfg, tiny_network, 10)
    with caplog.at_level(logging.INFO, logger="stdp_ray.backends"):
        counts = sim.run_pass(_inputs(images, range(10)))
    assert "reused" in caplog.text and "compiled" not in caplog.text
    np.testing.assert_array_equal(counts, runtime_counts)


def test_standalone_rejects_more_samples_than_slots(tiny_cfg, tiny_network, images):
    sim = backends.StandaloneFrozen(tiny_cfg.replace(backend="standalone"), tiny_network, 4)
    with pytest.raises(ValueError, match=r"5 samples, more than the build's n_slots == 4"):
        sim.run_pass(_inputs(images[:5], range(5)))


def test_standalone_rejects_zero_slots(tiny_cfg, tiny_network):
    with pytest.raises(ValueError, match=r"n_slots == 0, must be >= 1"):
        backends.StandaloneFrozen(tiny_cfg, tiny_network, 0)


def test_training_engines_are_bitwise_identical(tiny_cfg, images):
    """Three plastic samples (with state carried over) on both engines."""
    from conftest import random_network

    net = random_network(tiny_cfg, seed=5)
    engines = [backends.RuntimeTrainer(tiny_cfg, net),
               backends.StandaloneTrainer(tiny_cfg.replace(backend="standalone"), net)]
    for k in range(3):
        counts = [e.present(images[k], sample=k, attempt=0, intensity=4.0, seed=9)
                  for e in engines]
        np.testing.assert_array_equal(counts[0], counts[1])
    runtime, standalone = engines
    assert sum(c.sum() for c in counts) > 0
    np.testing.assert_array_equal(runtime.get_weights(), standalone.get_weights())
    np.testing.assert_array_equal(runtime.get_theta_mV(), standalone.get_theta_mV())
    assert not np.array_equal(runtime.get_weights(), net.weights)
    for key, value in runtime.dynamic_state().items():
        np.testing.assert_array_equal(value, standalone.dynamic_state()[key], err_msg=key)


def test_short_frozen_rest_gives_the_seeds_responses(tiny_cfg, tiny_network, images,
                                                     runtime_counts):
    """With the state reset per sample, a 10 ms rest equals the seed's 150 ms rest."""
    full = tiny_cfg.replace(frozen_rest_ms=150.0)
    assert full.frozen_slot_ms == 500.0 and tiny_cfg.frozen_slot_ms == 360.0
    counts = backends.RuntimeFrozen(full, tiny_network).run_pass(_inputs(images, range(10)))
    np.testing.assert_array_equal(counts, runtime_counts)
