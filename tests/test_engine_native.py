"""The native engine against Brian2 (the oracle): bit for bit, frozen and plastic."""

import numpy as np
import pytest

from conftest import pass_inputs, random_network, sparse_images
from stdp_ray import engines, model
from stdp_ray.engines import layout, native
from stdp_ray.trainer import Trainer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images():
    return sparse_images(12)


#: A configuration far from the paper's constants: every folded constant of
#: Brian2's generated code differs (15-digit rounding included).
VARIANT = dict(tau_exc_ms=90.0, v_rest_exc_mV=-64.3, tau_inh_ms=9.0, v_rest_inh_mV=-61.7,
               e_inh_exc_mV=-99.3, theta_plus_mV=0.07, tau_post2_ms=35.0, tau_ge_ms=1.3,
               nu_pre=3e-4, refractory_exc_ms=4.3, w_inh_exc=15.3)


def test_delay_groups_follow_brian2s_spike_queue_order(tiny_cfg, tiny_network):
    start, syn, post, max_delay = layout.delay_groups(tiny_network.delays_ms, tiny_cfg)
    n = tiny_cfg.n_neurons
    steps = layout.delay_steps(tiny_network.delays_ms, tiny_cfg)
    np.testing.assert_array_equal(np.sort(syn), np.arange(784 * n))
    for g in (0, 5, 3 * (max_delay + 1) + 7):
        i, d = divmod(g, max_delay + 1)
        members = syn[start[g]:start[g + 1]]
        assert np.all(members // n == i) and np.all(steps[members] == d)
        assert np.all(np.diff(post[start[g]:start[g + 1]]) > 0)
    np.testing.assert_array_equal(steps, np.round(tiny_network.delays_ms.reshape(-1) / 0.1))


@pytest.mark.parametrize("reference", ["runtime", "standalone"])
def test_native_frozen_responses_equal_brian2s_exactly(tiny_cfg, tiny_network, images, reference):
    inputs = pass_inputs(images[:10], range(10))
    ref = engines.make_frozen_simulator(tiny_cfg.replace(backend=reference), tiny_network,
                                        10).run_pass(inputs)
    nat = engines.make_frozen_simulator(tiny_cfg.replace(backend="native"), tiny_network,
                                        10).run_pass(inputs)
    assert ref.sum() > 20
    np.testing.assert_array_equal(nat, ref)


def test_native_frozen_sample_does_not_depend_on_its_pass(tiny_cfg, tiny_network, images):
    sim = engines.make_frozen_simulator(tiny_cfg.replace(backend="native"), tiny_network, 10)
    together = sim.run_pass(pass_inputs(images[:10], range(10)))
    alone = np.vstack([sim.run_pass(pass_inputs(images[k:k + 1], [k])) for k in (7, 2, 9)])
    np.testing.assert_array_equal(alone, together[[7, 2, 9]])


def _train(cfg, net_seed, images, labels, n, tmp_path, name):
    trainer = Trainer(cfg, net_seed, tmp_path / name, images, labels, checkpoint_every=10**6)
    rows = [trainer.train_one() for _ in range(n)]
    return trainer, rows


def test_native_training_equals_brian2_bit_for_bit(tiny_cfg, images, tmp_path):
    """24 plastic samples with retries, refractoriness and arrivals after the presentation:
    every response, weight, theta and state variable equal to Brian2's runtime."""
    cfg = tiny_cfg.replace(intensity=1.0, max_intensity=4.0)
    labels = np.arange(len(images)) % 10
    ref, ref_rows = _train(cfg, 7, images, labels, 24, tmp_path, "ref")
    nat, nat_rows = _train(cfg.replace(backend="native"), 7, images, labels, 24, tmp_path, "nat")
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in ref_rows]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in nat_rows] == strip
    np.testing.assert_array_equal(nat.sim.get_weights(), ref.sim.get_weights())
    np.testing.assert_array_equal(nat.sim.get_theta_mV(), ref.sim.get_theta_mV())
    ref_state, nat_state = ref.sim.dynamic_state(), nat.sim.dynamic_state()
    assert set(nat_state) == set(ref_state)
    for key, value in ref_state.items():
        np.testing.assert_array_equal(nat_state[key], value, err_msg=key)
    # The edge cases happened: retries, exc and inh spikes (so refractory
    # periods), and input spikes whose arrival falls after the presentation.
    assert any(r["presentations"] > 1 for r in ref_rows)
    assert sum(r["total_spikes"] for r in ref_rows) > 50
    assert np.any(ref_state["inh_lastspike"] > -1e3)
    steps = layout.delay_steps(ref.delays_ms, cfg).reshape(784, cfg.n_neurons)
    raster = model.input_spikes(model.input_rates(images[0], cfg, cfg.intensity), cfg, seed=7,
                                stream=model.STREAMS["train"], sample=0, attempt=0)
    step, pixel = np.nonzero(raster)
    assert np.any(step + steps[pixel].max(axis=1) >= cfg.present_steps)


def test_native_training_resumes_from_any_engines_state(tiny_cfg, images):
    net = random_network(tiny_cfg, seed=5)
    runtime = engines.make_trainer(tiny_cfg, net)
    nat = engines.make_trainer(tiny_cfg.replace(backend="native"), net)
    for k in range(2):
        runtime.present(images[k], sample=k, attempt=0, intensity=4.0, seed=9)
    nat.set_dynamic_state(runtime.dynamic_state())
    nat.set_weights(runtime.get_weights())
    counts = [e.present(images[2], sample=2, attempt=0, intensity=4.0, seed=9)
              for e in (runtime, nat)]
    np.testing.assert_array_equal(counts[0], counts[1])
    np.testing.assert_array_equal(nat.get_weights(), runtime.get_weights())
    for key, value in runtime.dynamic_state().items():
        np.testing.assert_array_equal(nat.dynamic_state()[key], value, err_msg=key)


@pytest.mark.parametrize("changes", [VARIANT, {"dt_ms": 0.05}], ids=["constants", "time step"])
def test_native_equals_brian2_for_other_constants(tiny_cfg, images, changes):
    cfg = tiny_cfg.replace(**changes)
    net = random_network(cfg, seed=2)
    inputs = pass_inputs(images[:6], range(6))
    np.testing.assert_array_equal(
        engines.make_frozen_simulator(cfg.replace(backend="native"), net, 6).run_pass(inputs),
        engines.make_frozen_simulator(cfg, net, 6).run_pass(inputs))
    runtime, nat = engines.make_trainer(cfg, net), engines.make_trainer(
        cfg.replace(backend="native"), net)
    for k in range(4):
        counts = [e.present(images[k], sample=k, attempt=0, intensity=4.0, seed=3)
                  for e in (runtime, nat)]
        np.testing.assert_array_equal(counts[0], counts[1])
    for key, value in runtime.dynamic_state().items():
        np.testing.assert_array_equal(nat.dynamic_state()[key], value, err_msg=key)


def test_native_rejects_zero_slots(tiny_cfg, tiny_network):
    with pytest.raises(ValueError, match=r"n_slots == 0, must be >= 1"):
        native.NativeFrozen(tiny_cfg, tiny_network, 0)


def test_kernel_compiles_once_into_the_cache_when_not_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("STDP_RAY_CACHE", str(tmp_path / "cache"))
    first = native._compile_into_cache()
    mtime = first.stat().st_mtime_ns
    assert first.parent == tmp_path / "cache" / "native" and first.suffix == ".so"
    assert native._compile_into_cache() == first and first.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("threads", [2, 3])
def test_native_training_does_not_depend_on_threads(tiny_cfg, images, threads):
    cfg = tiny_cfg.replace(backend="native")
    net = random_network(cfg, seed=4)
    one, many = native.NativeTrainer(cfg, net), native.NativeTrainer(cfg, net, threads=threads)
    for k in range(5):
        counts = [e.present(images[k], sample=k, attempt=0, intensity=4.0, seed=1)
                  for e in (one, many)]
        np.testing.assert_array_equal(counts[0], counts[1])
    assert sum(c.sum() for c in counts) > 0
    np.testing.assert_array_equal(many.get_weights(), one.get_weights())
    for key, value in one.dynamic_state().items():
        np.testing.assert_array_equal(many.dynamic_state()[key], value, err_msg=key)


def test_native_rejects_zero_threads(tiny_cfg, tiny_network):
    with pytest.raises(ValueError, match=r"threads == 0, must be >= 1"):
        native.NativeTrainer(tiny_cfg, tiny_network, threads=0)


def test_thread_splits_give_each_thread_its_own_neurons(tiny_cfg, tiny_network):
    start, syn, post, _ = layout.delay_groups(tiny_network.delays_ms, tiny_cfg)
    split = layout.thread_splits(start, post, tiny_cfg.n_neurons, 3).reshape(-1, 3)
    bounds = [0, 3, 6, 10]  # t * n // threads
    for g in range(len(start) - 1):
        ends = list(split[g, 1:]) + [split[g + 1, 0]]
        for t in range(3):
            owned = post[split[g, t]:ends[t]]
            assert np.all((owned >= bounds[t]) & (owned < bounds[t + 1]))
    np.testing.assert_array_equal(split[:-1, 0], start[:-1])
    assert split[-1, 0] == 784 * tiny_cfg.n_neurons


def test_commands_fall_back_to_standalone_where_the_kernel_cannot_load(tiny_cfg, monkeypatch,
                                                                        caplog):
    monkeypatch.setattr(native, "unavailable", lambda: "native engine unavailable: no kernel")
    cfg = engines.resolve(tiny_cfg.replace(backend="native"))
    assert cfg.backend in ("standalone", "runtime")
    assert "falling back to Brian2's standalone backend" in caplog.text
