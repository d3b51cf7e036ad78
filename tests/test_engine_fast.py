"""The fast engine against the exact one (the oracle), to stated tolerances.

The fast engine integrates the same equations from the same input spikes,
in float32 and with per-neuron traces, so it is held to the exact engine by
what float rounding can change, not bit for bit:

- frozen responses: a spike count changes only where a membrane crosses its
  threshold within float32 rounding of it (about 1e-8 V): on these tiny
  networks at least 97 % of the (sample, neuron) counts are equal and the
  total number of spikes within 3 %;
- training: over a few samples the weights stay within 2e-3 of the exact
  ones (a weight moves by nu_post = 0.01 per post spike: one spike more or
  less moves it by that much; float32 rounding alone by < 1e-6) and theta
  within one theta_plus (one spike);
- what does not depend on rounding is equal: the same number of threads or
  another gives the same responses; a checkpoint continues exactly; the
  eager and lazy arrivals give the same responses.
"""

import logging

import numpy as np
import pytest

from conftest import pass_inputs, random_network, sparse_images
from stdp_ray import engines
from stdp_ray.engines import base, fast, layout, native

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images():
    return sparse_images(16, seed=11)


@pytest.fixture(scope="module")
def cfg(tiny_cfg):
    return tiny_cfg.replace(backend="fast")


def _frozen(cfg, net, images, backend):
    inputs = pass_inputs(images, range(len(images)))
    return engines.make_frozen_simulator(cfg.replace(backend=backend), net,
                                         len(images)).run_pass(inputs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_frozen_responses_agree_with_the_exact_engines(cfg, images, seed):
    net = random_network(cfg, seed=seed)
    exact, quick = _frozen(cfg, net, images, "native"), _frozen(cfg, net, images, "fast")
    assert exact.sum() > 100
    assert np.mean(quick == exact) >= 0.97
    assert abs(int(quick.sum()) - int(exact.sum())) <= 0.03 * exact.sum()


def test_fast_frozen_sample_does_not_depend_on_its_pass(cfg, images):
    sim = engines.make_frozen_simulator(cfg, random_network(cfg), 10)
    together = sim.run_pass(pass_inputs(images[:10], range(10)))
    alone = np.vstack([sim.run_pass(pass_inputs(images[k:k + 1], [k])) for k in (7, 2, 9)])
    np.testing.assert_array_equal(alone, together[[7, 2, 9]])


def _present(trainers, images, samples, intensity=4.0):
    out = []
    for k in range(samples):
        out.append([t.present(images[k], sample=k, attempt=0, intensity=intensity, seed=3)
                    for t in trainers])
    return out


def test_fast_training_stays_within_rounding_of_the_exact_engine(cfg, images):
    net = random_network(cfg, seed=4)
    exact = engines.make_trainer(cfg.replace(backend="native"), net)
    quick = engines.make_trainer(cfg, net)
    counts = _present([exact, quick], images, 8)
    assert sum(c[0].sum() for c in counts) > 40
    agree = np.mean([np.array_equal(a, b) for a, b in counts])
    assert agree >= 0.75
    np.testing.assert_allclose(quick.get_weights(), exact.get_weights(), atol=2e-3)
    np.testing.assert_allclose(quick.get_theta_mV(), exact.get_theta_mV(),
                               atol=cfg.theta_plus_mV + 1e-6)


def test_fast_weight_statistics_and_normalisation_match_numpys(cfg, images):
    quick = engines.make_trainer(cfg, random_network(cfg, seed=6))
    _present([quick], images, 2)
    w = quick.get_weights()
    mean, std = quick.weight_moments()
    assert mean == pytest.approx(w.mean(), rel=1e-6) and std == pytest.approx(w.std(), rel=1e-5)
    quick.normalize_weights(78.0)
    np.testing.assert_allclose(quick.get_weights().sum(axis=0), 78.0, rtol=1e-5)
    np.testing.assert_allclose(quick.get_weights(), w / w.sum(axis=0) * 78.0, rtol=1e-5)


@pytest.mark.parametrize("threads", [2, 3])
def test_fast_training_does_not_depend_on_threads(cfg, images, threads):
    net = random_network(cfg, seed=8)
    one, many = fast.FastTrainer(cfg, net), fast.FastTrainer(cfg, net, threads=threads)
    for a, b in _present([one, many], images, 5):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(many.get_weights(), one.get_weights(), rtol=1e-6, atol=1e-7)


def test_eager_and_lazy_arrivals_agree(cfg, images, monkeypatch):
    net = random_network(cfg, seed=9)
    eager = fast.FastTrainer(cfg, net)
    eager_frozen = _frozen(cfg, net, images[:6], "fast")
    monkeypatch.setattr(fast, "LAZY_FROM", 1)
    lazy = fast.FastTrainer(cfg, net)
    assert eager._bound.layout is None and lazy._bound.layout is not None
    for a, b in _present([eager, lazy], images, 6):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(lazy.get_weights(), eager.get_weights(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(_frozen(cfg, net, images[:6], "fast"), eager_frozen)
    assert eager_frozen.sum() > 0


def test_fast_state_continues_exactly_from_its_own_dynamic_state(cfg, images):
    net = random_network(cfg, seed=10)
    first = fast.FastTrainer(cfg, net)
    _present([first], images, 3)
    second = fast.FastTrainer(cfg, net)
    second.set_weights(first.get_weights())
    second.set_dynamic_state(first.dynamic_state())
    for a, b in _present([first, second], images[3:], 3):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(second.get_weights(), first.get_weights())


@pytest.mark.parametrize("direction", ["exact to fast", "fast to exact"])
def test_a_training_state_moves_between_the_exact_and_fast_engines(cfg, images, direction):
    net = random_network(cfg, seed=12)
    source_backend, target_backend = (("native", "fast") if direction == "exact to fast"
                                      else ("fast", "native"))
    source = engines.make_trainer(cfg.replace(backend=source_backend), net)
    _present([source], images, 3)
    target = engines.make_trainer(cfg.replace(backend=target_backend), net)
    target.set_weights(source.get_weights())
    target.set_dynamic_state(source.dynamic_state())
    counts = _present([source, target], images[3:], 3)
    assert sum(c[0].sum() for c in counts) > 10
    for a, b in counts:
        assert np.abs(a.astype(int) - b).sum() <= 2
    np.testing.assert_allclose(target.get_weights(), source.get_weights(), atol=2e-3)


def test_compact_traces_are_the_exact_engines_traces_at_time_zero(cfg, images):
    exact = engines.make_trainer(cfg.replace(backend="native"), random_network(cfg, seed=13))
    _present([exact], images, 3)
    full = exact.dynamic_state()
    compact = base.compact_synapse_traces(full, exact.delays_ms, cfg)
    assert "syn_pre" not in compact and compact["syn_input_lastspike"].shape == (784,)
    again = base.expand_synapse_traces(compact, exact.delays_ms, cfg)
    # Values at t = 0: the exact state's traces decayed from their lastupdate to 0.
    for name, tau in (("pre", cfg.tau_pre_ms), ("post1", cfg.tau_post1_ms),
                      ("post2", cfg.tau_post2_ms)):
        at_zero = full[f"syn_{name}"] * np.exp(full["syn_lastupdate"] / (tau * 1e-3))
        np.testing.assert_allclose(again[f"syn_{name}"], at_zero, rtol=1e-6, atol=1e-12)
    assert np.all(again["syn_lastupdate"] == 0)


def test_timer_steps_follow_the_exact_engines_float64_timer(tiny_cfg):
    assert fast.timer_min_steps(tiny_cfg) == 500  # 500 x 0.1 ms adds up to 0.0500000000000004
    assert fast.timer_min_steps(tiny_cfg.replace(timer_min_ms=0.0)) == 1


def test_thread_major_groups_keep_each_threads_entries_together(tiny_cfg, tiny_network):
    start, syn, post, _ = layout.delay_groups(tiny_network.delays_ms, tiny_cfg)
    split1, syn1, post1, _ = layout.thread_major_groups(tiny_network.delays_ms, tiny_cfg, 1)
    np.testing.assert_array_equal(syn1, syn)
    np.testing.assert_array_equal(split1, start)
    split, syn3, post3, _ = layout.thread_major_groups(tiny_network.delays_ms, tiny_cfg, 3)
    bounds = layout.share_starts(tiny_cfg.n_neurons, 3)
    split = split.reshape(-1, 3)
    for t in range(3):
        owned = post3[split[0, t]:split[-1, t]]
        assert np.all((owned >= bounds[t]) & (owned < bounds[t + 1]))
        assert np.all(np.diff(split[:, t]) >= 0)
    np.testing.assert_array_equal(np.sort(syn3), np.arange(784 * tiny_cfg.n_neurons))


def test_shares_start_on_cache_lines():
    np.testing.assert_array_equal(layout.share_starts(400, 3), [0, 144, 272, 400])
    np.testing.assert_array_equal(layout.share_starts(10, 3), [0, 10, 10, 10])


def test_kernel_reports_its_instruction_set():
    assert fast.isa() in ("avx512", "avx2", "scalar")


def test_a_kernel_without_vector_gathers_warns_once(monkeypatch, caplog):
    fast.warn_if_scalar.cache_clear()
    monkeypatch.setattr(fast, "isa", lambda: "scalar")
    with caplog.at_level(logging.WARNING):
        fast.warn_if_scalar()
        fast.warn_if_scalar()
    assert caplog.text.count("kernel built without AVX2/AVX-512") == 1
    fast.warn_if_scalar.cache_clear()


def test_fast_kernel_compiles_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STDP_RAY_CACHE", str(tmp_path / "cache"))
    first = fast.BUILD.compile_into_cache()
    mtime = first.stat().st_mtime_ns
    assert first.parent == tmp_path / "cache" / "fast" and first.suffix == ".so"
    assert fast.BUILD.compile_into_cache() == first and first.stat().st_mtime_ns == mtime


def test_commands_fall_back_to_the_exact_engine_where_the_fast_kernel_cannot_load(
        tiny_cfg, monkeypatch, caplog):
    monkeypatch.setattr(fast, "unavailable", lambda: "fast engine unavailable: no kernel")
    monkeypatch.setattr(native, "unavailable", lambda: None)
    cfg = engines.resolve(tiny_cfg.replace(backend="fast"))
    assert cfg.backend == "native"
    assert "falling back to the exact native backend" in caplog.text


def test_fast_rejects_zero_slots_and_threads(cfg, tiny_network):
    with pytest.raises(ValueError, match=r"n_slots == 0, must be >= 1"):
        fast.FastFrozen(cfg, tiny_network, 0)
    with pytest.raises(ValueError, match=r"threads == 0, must be >= 1"):
        fast.FastTrainer(cfg, tiny_network, threads=0)


def test_a_fast_training_resumed_from_its_checkpoint_equals_an_uninterrupted_one(
        cfg, images, tmp_path):
    from stdp_ray.trainer import Trainer

    labels = np.arange(len(images)) % 10
    whole = Trainer(cfg, 5, tmp_path / "whole", images, labels, checkpoint_every=10**6)
    rows = [whole.train_one() for _ in range(6)]
    first = Trainer(cfg, 5, tmp_path / "cut", images, labels, checkpoint_every=3)
    for _ in range(3):
        first.train_one()
    resumed = Trainer(cfg, 5, tmp_path / "cut", images, labels, checkpoint_every=10**6)
    assert resumed.samples_done == 3
    again = [resumed.train_one() for _ in range(3)]
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert [strip(r) for r in again] == [strip(r) for r in rows[3:]]
    np.testing.assert_array_equal(resumed.sim.get_weights(), whole.sim.get_weights())
