import json

import pytest

from stdp_ray.config import Config, config_from_dict, config_to_dict

# The constants of the original script (Diehl & Cook's code), field by field.
ORIGINAL_VALUES = {
    "n_input": 784, "n_neurons": 400, "dt_ms": 0.1, "v_rest_exc_mV": -65.0,
    "v_rest_inh_mV": -60.0, "v_reset_exc_mV": -65.0, "v_reset_inh_mV": -45.0,
    "v_thresh_exc_mV": -72.0, "v_thresh_inh_mV": -40.0, "e_inh_exc_mV": -100.0,
    "e_inh_inh_mV": -85.0, "tau_exc_ms": 100.0, "tau_inh_ms": 10.0, "tau_ge_ms": 1.0,
    "tau_gi_ms": 2.0, "refractory_exc_ms": 5.0, "refractory_inh_ms": 2.0, "timer_min_ms": 50.0,
    "theta_init_mV": 20.0, "theta_plus_mV": 0.05, "tau_theta_ms": 1e7, "w_exc_inh": 10.4,
    "w_inh_exc": 17.0, "w_init_scale": 0.3, "w_init_offset": 0.01, "w_max": 1.0,
    "delay_max_ms": 10.0, "nu_pre": 1e-4, "nu_post": 0.01, "tau_pre_ms": 20.0,
    "tau_post1_ms": 20.0, "tau_post2_ms": 40.0, "weight_sum": 78.0, "present_ms": 350.0,
    "rest_ms": 150.0, "input_rate_divisor": 8.0, "intensity": 2.0, "min_spikes": 5,
}


@pytest.mark.parametrize("name,value", sorted(ORIGINAL_VALUES.items()))
def test_defaults_are_the_original_scripts_constants(name, value):
    assert getattr(Config(), name) == value


def test_derived_steps():
    cfg = Config()
    assert cfg.present_steps == 3500
    assert cfg.sample_steps == 5000
    # Highest input rate: 255 / 8 * 2 = 63.75 Hz, as in the original script.
    assert 255 / cfg.input_rate_divisor * cfg.intensity == 63.75


def test_round_trip_through_json():
    cfg = Config(n_neurons=17, backend="runtime")
    again = config_from_dict(json.loads(json.dumps(config_to_dict(cfg))))
    assert again == cfg
    assert again.model_hash() == cfg.model_hash()


def test_backend_is_not_part_of_the_model():
    assert Config(backend="runtime").model_hash() == Config(backend="standalone").model_hash()
    assert Config(frozen_rest_ms=150).model_hash() == Config().model_hash()
    assert Config(n_neurons=10).model_hash() != Config().model_hash()


@pytest.mark.parametrize("changes,exc,match", [
    ({"n_neurons": 0}, ValueError, r"n_neurons == 0, must be > 0"),
    ({"n_neurons": 2.5}, TypeError, r"n_neurons must be an int"),
    ({"n_neurons": True}, TypeError, r"n_neurons must be an int"),
    ({"dt_ms": float("nan")}, ValueError, r"dt_ms == nan, must be finite"),
    ({"dt_ms": "0.1"}, TypeError, r"dt_ms must be a number"),
    ({"backend": "gpu"}, ValueError, r"backend == 'gpu', must be one of"),
    ({"max_intensity": 1.0}, ValueError, r"max_intensity == 1.0, must be >= intensity"),
    ({"rest_ms": 5.0}, ValueError, r"rest_ms == 5.0, must be >= delay_max_ms"),
    ({"present_ms": 350.05}, ValueError, r"present_ms == 350.05, must be a multiple of dt_ms"),
    ({"min_spikes": -1}, ValueError, r"min_spikes == -1, must be >= 0"),
    ({"frozen_rest_ms": 5.0}, ValueError, r"frozen_rest_ms == 5.0, must be >= delay_max_ms"),
])
def test_rejections(changes, exc, match):
    with pytest.raises(exc, match=match):
        Config(**changes)


@pytest.mark.parametrize("data,exc,match", [
    ([], TypeError, r"src: expected a JSON object"),
    ({"n_neurons": 10, "colour": "red"}, ValueError, r"src: unknown configuration fields \['colour'\]"),
    ({"version": 99}, ValueError, r"src: configuration version == 99"),
    ({"n_neurons": -3}, ValueError, r"src: n_neurons == -3"),
])
def test_from_dict_rejections(data, exc, match):
    with pytest.raises(exc, match=match):
        config_from_dict(data, source="src")


def test_diff_lists_the_model_fields_that_differ_as_here_and_there():
    a = Config(n_neurons=10)
    assert a.diff(a.replace(backend="runtime", frozen_rest_ms=20.0)) == {}
    assert a.diff(a.replace(n_neurons=20, nu_post=0.02)) == {"n_neurons": (10, 20),
                                                              "nu_post": (0.01, 0.02)}
