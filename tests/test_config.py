import json
import math

import pytest

from stdp_ray.config import (Bounds, Choices, Config, ConfigError, apply_settings,
                             config_from_dict, config_to_dict, field_names, field_range,
                             format_config, parse_assignment, parse_setting, read_config_file)

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
    ({"n_neurons": 0}, ValueError, r"n_neurons == 0, must be in \[1, 1000000\]"),
    ({"tau_ge_ms": 0.0}, ValueError, r"tau_ge_ms == 0.0, must be > 0"),
    ({"n_input": 100}, ValueError, r"n_input == 100, must be 784"),
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


def _outside(allowed):
    """A value just outside ``allowed`` (below its low end, else above its high end)."""
    if isinstance(allowed, Choices):
        return "nonsense"
    if allowed.low is not None:
        return allowed.low - (0 if allowed.low_open else 1)
    return allowed.high + 1


@pytest.mark.parametrize("name", field_names())
def test_every_field_has_a_range_and_a_value_outside_it_is_refused_by_name(name):
    allowed = field_range(name)
    assert isinstance(allowed, (Bounds, Choices))
    default = getattr(Config(), name)
    assert default is None or allowed.contains(default)
    bad = _outside(allowed)
    if not isinstance(bad, str):
        bad = int(bad) if isinstance(default, int) else float(bad)
    with pytest.raises(ValueError, match=rf"^{name} == {bad!r}, must be "
                                          rf"{__import__('re').escape(allowed.describe())}"):
        Config(**{name: bad})


@pytest.mark.parametrize("allowed,shown", [
    (Bounds(0, None, low_open=True), "> 0"), (Bounds(0, None), ">= 0"),
    (Bounds(None, 5, high_open=True), "< 5"), (Bounds(0, 1000, low_open=True), "in (0, 1000]"),
    (Bounds(784, 784), "784"), (Bounds(), "finite"), (Choices(("a", "b")), "one of ('a', 'b')"),
])
def test_ranges_describe_themselves_as_intervals(allowed, shown):
    assert allowed.describe() == shown


@pytest.mark.parametrize("text,expected", [
    ("n_neurons=100", ("n_neurons", 100)), ("nu_post= 0.02", ("nu_post", 0.02)),
    ("tau_theta_ms=1e6", ("tau_theta_ms", 1e6)), ("backend=runtime", ("backend", "runtime")),
    ("frozen_rest_ms=none", ("frozen_rest_ms", None)), ("frozen_rest_ms=20", ("frozen_rest_ms", 20.0)),
])
def test_assignments_are_typed_by_their_field(text, expected):
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text,match", [
    ("n_neurons", r"must be KEY=VALUE"),
    ("=3", r"must be KEY=VALUE"),
    ("n_neurons=many", r"--set n_neurons=many: 'many' is not an integer; n_neurons must be in"),
    ("n_neurons=2.5", r"'2.5' is not an integer"),
    ("nu_post=fast", r"'fast' is not a number; nu_post must be >= 0"),
    ("nu_postt=0.1", r"unknown configuration field 'nu_postt' \(did you mean 'nu_post'\?\); "
                     r"known fields: n_input, n_neurons, .*frozen_rest_ms"),
])
def test_bad_assignments_are_refused_naming_the_field(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_assignment(text)


@pytest.mark.parametrize("settings,match", [
    ({"nu_post": -0.5}, r"--set: nu_post == -0.5, must be >= 0"),
    ({"max_intensity": 1.5}, r"--set: max_intensity == 1.5, must be >= intensity"),
    ({"colour": 1}, r"unknown configuration field 'colour'"),
])
def test_settings_out_of_range_are_refused_naming_field_value_and_range(settings, match):
    with pytest.raises(ConfigError, match=match):
        apply_settings(Config(), settings)


def test_settings_apply_over_the_base():
    cfg = apply_settings(Config(n_neurons=10), {"nu_post": 0.02, "backend": "runtime"})
    assert (cfg.n_neurons, cfg.nu_post, cfg.backend) == (10, 0.02, "runtime")


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_a_shown_configuration_reads_back_the_same(tmp_path, fmt):
    cfg = Config(n_neurons=17, nu_post=0.005, tau_theta_ms=1e6, backend="runtime")
    path = tmp_path / f"cfg.{fmt}"
    path.write_text(format_config(cfg, fmt))
    assert read_config_file(path) == cfg
    with_rest = cfg.replace(frozen_rest_ms=20.0)
    path.write_text(format_config(with_rest, fmt))
    assert read_config_file(path) == with_rest


def test_a_config_file_sets_a_subset_over_the_base(tmp_path):
    path = tmp_path / "partial.toml"
    path.write_text("nu_post = 0.02\ntheta_plus_mV = 0.03\n")
    cfg = read_config_file(path, Config(n_neurons=10))
    assert (cfg.n_neurons, cfg.nu_post, cfg.theta_plus_mV) == (10, 0.02, 0.03)


def test_a_run_directorys_config_json_is_a_config_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": config_to_dict(Config(n_neurons=12)), "seed": 3}))
    assert read_config_file(path) == Config(n_neurons=12)


@pytest.mark.parametrize("name,text,match", [
    ("c.toml", "nu_post = -1.0\n", r"--config .*c.toml: nu_post == -1.0, must be >= 0"),
    ("c.toml", "n_neurons = 2.5\n", r"--config .*c.toml: n_neurons must be an int"),
    ("c.toml", "nu_postt = 1\n", r"unknown configuration field 'nu_postt'.*known fields"),
    ("c.toml", "nu_post = \n", r"not valid TOML"),
    ("c.json", "{", r"not valid JSON"),
    ("c.json", "[1]", r"must hold a table of configuration fields"),
    ("c.json", '{"version": 7}', r"configuration version == 7"),
    ("c.yaml", "nu_post: 1", r"unknown format '.yaml', must be .toml or .json"),
    ("missing.toml", None, r"cannot read"),
])
def test_bad_config_files_are_refused_naming_the_file(tmp_path, name, text, match):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_config_file(path)
