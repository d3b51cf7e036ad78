import numpy as np
import pytest

from stdp_ray import model
from stdp_ray.config import Config


def test_splitmix64_known_value():
    # splitmix64 of 0 (first output of the generator seeded with 0).
    assert int(model.splitmix64(0)) == 0xE220A8397B1DCDAF


def test_input_uniform_is_uniform_and_keyed():
    u = model.input_uniform(42, 3, 7, 0, np.arange(784)[None, :], np.arange(200)[:, None])
    assert u.shape == (200, 784)
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005
    assert abs(u.var() - 1 / 12) < 0.002
    again = model.input_uniform(42, 3, 7, 0, np.arange(784)[None, :], np.arange(200)[:, None])
    np.testing.assert_array_equal(u, again)


@pytest.mark.parametrize("key", [(43, 3, 7, 0), (42, 2, 7, 0), (42, 3, 8, 0), (42, 3, 7, 1)])
def test_every_key_component_changes_the_stream(key):
    base = model.input_uniform(42, 3, 7, 0, np.arange(784), 5)
    other = model.input_uniform(*key, np.arange(784), 5)
    assert np.mean(base == other) < 0.01


def test_input_spikes_follow_the_rate():
    cfg = Config()
    rates = np.full(784, 50.0)  # Hz
    spikes = model.input_spikes(rates, cfg, seed=1, stream=1, sample=0, attempt=0)
    expected = 50.0 * cfg.present_ms * 1e-3 * 784
    assert abs(spikes.sum() - expected) < 4 * np.sqrt(expected)
    silent = model.input_spikes(np.zeros(784), cfg, seed=1, stream=1, sample=0, attempt=0)
    assert not silent.any()


def test_input_rates_match_the_seed():
    cfg = Config()
    image = np.array([0, 8, 255], dtype=np.uint8)
    np.testing.assert_allclose(model.input_rates(image, cfg, 2), [0, 2, 63.75])
    np.testing.assert_allclose(model.input_rates(image, cfg, 3), [0, 3, 95.625])


def test_normalize_weights_sets_column_sums():
    rng = np.random.default_rng(0)
    w = rng.random((784, 12))
    w[:, 3] = 0
    out = model.normalize_weights(w, 78.0)
    np.testing.assert_allclose(out[:, [0, 1, 2, 4]].sum(axis=0), 78.0)
    assert np.all(out[:, 3] == 0)
    np.testing.assert_allclose(out[:, 0] / w[:, 0], out[0, 0] / w[0, 0])


def test_initial_weights_and_delays_ranges():
    cfg = Config(n_neurons=20)
    rng = np.random.default_rng(1)
    w = model.initial_weights(cfg, rng)
    assert w.shape == (784, 20)
    assert w.min() >= 0.003 and w.max() < 0.303
    d = model.initial_delays(cfg, rng)
    assert d.min() >= 0 and d.max() <= 10.0
    np.testing.assert_allclose(d / cfg.dt_ms, np.round(d / cfg.dt_ms), atol=1e-9)


def test_slot_input_rates_match_the_per_image_formula():
    cfg = Config()
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (5, 784)).astype(np.uint8)
    intensities = np.array([2.0, 3.0, 4.5, 17.0, 1.0 / 3.0])
    rates = model.slot_input_rates(images, cfg, intensities)
    assert rates.shape == (5, 784) and rates.dtype == np.float64
    for k in range(5):
        # Bit for bit: the same operations as the per-image formula.
        np.testing.assert_array_equal(rates[k], model.input_rates(images[k], cfg,
                                                                  intensities[k]))
        np.testing.assert_array_equal(
            rates[k], images[k].astype(float) / cfg.input_rate_divisor * intensities[k])
    assert model.slot_input_rates(images[:0], cfg, intensities[:0]).shape == (0, 784)


@pytest.mark.parametrize("layer, rest", [("exc", -65.0), ("inh", -60.0)])
def test_slot_reset_values_rest_each_layer_and_clear_its_history(layer, rest):
    cfg = Config()
    values = model.slot_reset_values(cfg, layer)
    # not_refractory first, so that Brian2 resets v also of a refractory neuron
    assert list(values) == ["not_refractory", "v", "ge", "gi", "timer", "lastspike"]
    assert values["v"] == (rest, "mV")
    assert values["ge"] == values["gi"] == (0, "1")
    assert values["timer"] == (cfg.rest_ms, "ms")  # past timer_min: free to fire
    assert values["lastspike"] == (-1e4, "second")
    assert values["not_refractory"] == (True, "1")


def test_slot_reset_values_reject_an_unknown_layer():
    with pytest.raises(ValueError, match=r"layer == 'inp', must be 'exc' or 'inh'"):
        model.slot_reset_values(Config(), "inp")
