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
    ({"tau_ge_ms": 0.0}, ValueError, r"tau_ge_ms == 0.0, must be >= 1e-06"),
    ({"n_input": 100}, ValueError, r"n_input == 100, must be 784"),
    ({"n_neurons": 2.5}, TypeError, r"n_neurons must be an int"),
    ({"n_neurons": True}, TypeError, r"n_neurons must be an int"),
    ({"dt_ms": float("nan")}, ValueError, r"dt_ms == nan, must be finite"),
    ({"dt_ms": "0.1"}, TypeError, r"dt_ms must be a number"),
    ({"backend": "gpu"}, ValueError, r"backend == 'gpu', must be one of"),
    ({"max_intensity": 1.0}, ValueError, r"max_intensity == 1.0, must be >= intensity"),
    ({"rest_ms": 5.0}, ValueError, r"rest_ms == 5.0, must be >= delay_max_ms"),
    ({"present_ms": 350.05}, ValueError, r"present_ms == 350.05, must be a multiple of dt_ms"),
    ({"min_spikes": -1}, ValueError, r"min_spikes == -1, must be in \[0, 1000000000\]"),
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
    ("missing.toml", None, r"--config .*missing.toml: file not found"),
])
def test_bad_config_files_are_refused_naming_the_file(tmp_path, name, text, match):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_config_file(path)


# --------------------------------------------------------------------------
# Configuration files read bounded; values that overflow; derived step counts
# --------------------------------------------------------------------------
@pytest.mark.parametrize("make, match", [
    (lambda p: (p / "c.toml").symlink_to("/dev/zero") or p / "c.toml",
     r"--config .*c\.toml: is not a regular file \(a character device\)"),
    (lambda p: __import__("os").mkfifo(p / "c.toml") or p / "c.toml",
     r"--config .*c\.toml: is not a regular file \(a FIFO\)"),
    (lambda p: (p / "c.toml").write_text("# " + "x" * 2**20 + "\nnu_post = 0.02\n")
     and p / "c.toml", r"--config .*c\.toml: \d+ bytes, larger than the 1 MiB read at most"),
    (lambda p: (p / "c.toml").write_bytes(b"# caf\xe9\nnu_post = 0.02\n") and p / "c.toml",
     r"--config .*c\.toml: not UTF-8 text \(byte 0xe9 at offset 5\)"),
    (lambda p: (p / "c.json").write_text("[" * 100_000) and p / "c.json",
     r"--config .*c\.json: not valid JSON \(nested too deeply to read\)"),
    (lambda p: (p / "c.toml").write_text("nu_post = " + "{a = " * 100_000) and p / "c.toml",
     r"--config .*c\.toml: not valid TOML \(nested too deeply to read\)"),
    (lambda p: (p / "c.toml").write_text("min_spikes = " + "9" * 5000 + "\n") and p / "c.toml",
     r"--config .*c\.toml: min_spikes: an integer of 5000 digits, at most 4300 are read"),
    (lambda p: (p / "c.json").write_text('{"present_ms": ' + "9" * 5000 + "}") and p / "c.json",
     r"--config .*c\.json: present_ms: an integer of 5000 digits, at most 4300 are read"),
], ids=["character-device", "fifo", "over-1-MiB", "not-utf8", "deep-json", "deep-toml",
        "huge-int-toml", "huge-int-json"])
def test_a_config_file_is_read_bounded_and_refused_in_one_line_naming_it(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(ConfigError, match=match) as info:
        read_config_file(path)
    assert "\n" not in str(info.value)


def test_a_config_file_may_be_a_link_to_the_users_own_file(tmp_path):
    (tmp_path / "real.toml").write_text("nu_post = 0.02\n")
    (tmp_path / "c.toml").symlink_to(tmp_path / "real.toml")
    assert read_config_file(tmp_path / "c.toml").nu_post == 0.02


@pytest.mark.parametrize("settings, match", [
    ({"dt_ms": 1e-320}, r"--set: dt_ms == 1e-320, must be in \[1e-06, 10\]"),
    ({"present_ms": 1e308}, r"--set: present_ms / dt_ms == inf time steps \(present_ms == "
                            r"1e\+308, dt_ms == 0\.1\), must be in 1\.\.10000000"),
    ({"dt_ms": 10.0, "present_ms": 1e308, "rest_ms": 150.0},
     r"--set: present_ms / dt_ms == 1e\+307 time steps"),
    ({"present_ms": 10**400}, r"--set: present_ms == an integer of 401 digits, must be > 0"),
    ({"min_spikes": 10**4000}, r"--set: min_spikes == an integer of 4001 digits, must be in "),
    ({"tau_theta_ms": 1e-320}, r"--set: tau_theta_ms == 1e-320, must be >= 1e-06"),
], ids=["tiny-dt", "huge-present", "dt-10-huge-present", "int-beyond-float", "long-int",
        "tiny-time-constant"])
def test_values_that_overflow_are_refused_in_one_line_naming_the_field(settings, match):
    with pytest.raises(ConfigError, match=match):
        apply_settings(Config(), settings)


@pytest.mark.parametrize("name, value, low", [
    ("present_ms", 0.05, 1), ("present_ms", 1.1e6, 1), ("rest_ms", 2e6, 0),
    ("delay_max_ms", 3276.8, 0), ("refractory_exc_ms", 1e300, 0), ("refractory_inh_ms", 1e7, 0),
    ("timer_min_ms", 1e12, 0)])
def test_every_duration_counted_in_steps_lies_in_1_to_max_steps_or_is_refused_by_name(
        name, value, low):
    from stdp_ray.config import MAX_DELAY_STEPS, MAX_STEPS

    changes = {name: value}
    high = MAX_STEPS
    if name == "delay_max_ms":
        changes["rest_ms"] = value
        high = MAX_DELAY_STEPS
    with pytest.raises(ValueError, match=rf"{name} / dt_ms == .* time steps \({name} == .*"
                                         rf"dt_ms == 0\.1\), must be in {low}\.\.{high} "):
        Config(**changes)


def test_the_longest_delay_the_kernels_hold_is_accepted():
    from stdp_ray.config import MAX_DELAY_STEPS

    cfg = Config(delay_max_ms=MAX_DELAY_STEPS * 0.1, rest_ms=MAX_DELAY_STEPS * 0.1)
    assert round(cfg.delay_max_ms / cfg.dt_ms) == MAX_DELAY_STEPS


@pytest.mark.parametrize("changes, named", [
    ({"present_ms": 6e5, "rest_ms": 6e5}, r"\(present_ms \+ rest_ms\) / dt_ms == 1\.2e\+07"),
    ({"present_ms": 9e5, "rest_ms": 10.0, "frozen_rest_ms": 2e5},
     r"\(present_ms \+ frozen_rest_ms\) / dt_ms == 1\.1e\+07")])
def test_a_sample_and_a_frozen_slot_are_counted_in_steps_too(changes, named):
    with pytest.raises(ValueError, match=named):
        Config(**changes)


def test_the_largest_step_counts_allowed_are_accepted():
    from stdp_ray.config import MAX_STEPS

    cfg = Config(present_ms=MAX_STEPS * 0.1 - 150.0)
    assert cfg.sample_steps == MAX_STEPS and cfg.present_steps == MAX_STEPS - 1500


@pytest.mark.parametrize("text, match", [
    ("min_spikes=" + "9" * 5000, r"^--set min_spikes=9{20}\.\.\.\(5000 characters\): an integer of "
                                 r"5000 digits; min_spikes must be in \[0, 1000000000\]$"),
    ("present_ms=" + "9" * 5000, r"^--set present_ms=9{20}\.\.\.\(5000 characters\): an integer of "
                                 r"5000 digits; present_ms must be > 0$"),
    ("n_neurons=" + "x" * 300, r"^--set n_neurons=x{20}\.\.\.\(300 characters\): 'x{20}\.\.\."),
])
def test_a_value_too_long_to_convert_is_refused_in_a_short_line_naming_the_field(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_assignment(text)
