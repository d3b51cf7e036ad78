"""The command line without simulating: help, version, configuration options, config show."""

import json
import re
import subprocess
import sys

import pytest

from stdp_ray import __version__
from stdp_ray.cli import build_parser, main
from stdp_ray.config import Config, format_config, read_config_file

COMMANDS = ["data fetch", "train", "observe", "test", "ensemble", "import", "curve", "report",
            "bench", "run", "sweep", "config show"]


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*command.split(), "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_version_comes_from_the_package(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.strip() == f"stdp-ray {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_shows_defaults_and_the_environment(command, capsys):
    text = _help(command, capsys)
    for variable in ("STDP_RAY_DATA", "STDP_RAY_CACHE", "RAY_ADDRESS"):
        assert variable in text
    assert "exit status" in text
    # Every option with a value has its default in its help.
    parser = build_parser()
    sub = parser
    for word in command.split():
        sub = next(a for a in sub._actions if a.dest.endswith("command")).choices[word]
    for action in sub._actions:
        if action.option_strings and action.default not in (None, False, [], "==SUPPRESS=="):
            shown = sub.formatter_class("x")._get_help_string(action)
            assert "default" in shown, action.option_strings


@pytest.mark.parametrize("command", ["train", "run", "ensemble", "sweep"])
def test_every_command_that_builds_a_network_takes_config_and_set(command, capsys):
    text = _help(command, capsys)
    assert "--config FILE" in text and "--set KEY=VALUE" in text


def test_help_and_bad_options_do_not_import_ray():
    code = ("import sys\nfrom stdp_ray.cli import main\n"
            "for argv in (['train', 'r', '--set', 'nu_post=-1', '--data-dir', '/nowhere'],\n"
            "             ['config', 'show', '--neurons', '10']):\n"
            "    assert main(argv) in (0, 2), argv\n"
            "assert 'ray' not in sys.modules, 'ray imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_config_show_prints_the_effective_configuration(tmp_path, capsys):
    base = tmp_path / "base.toml"
    base.write_text("nu_post = 0.02\nn_neurons = 50\n")
    assert main(["config", "show", "--config", str(base), "--set", "theta_plus_mV=0.03",
                 "--neurons", "10"]) == 0
    shown = capsys.readouterr().out
    out = tmp_path / "shown.toml"
    out.write_text(shown)
    assert read_config_file(out) == Config(n_neurons=10, nu_post=0.02, theta_plus_mV=0.03)
    assert re.search(r"^nu_post = 0.02  # must be >= 0$", shown, re.M)


def test_config_show_of_a_run_directory_as_json(capsys):
    assert main(["config", "show", "tests/data/written-by-12aa4be/run", "--format",
                 "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    stored = json.loads(open("tests/data/written-by-12aa4be/run/config.json").read())
    assert shown == stored["config"]


@pytest.mark.parametrize("argv,match", [
    (["config", "show", "--set", "n_neurons=0"], r"n_neurons == 0, must be in \[1, 1000000\]"),
    (["train", "r", "--neurons", "5", "--set", "n_neurons=6"],
     r"--neurons 5 and --set n_neurons=6 disagree"),
    (["config", "show", "nowhere"], r"nowhere: neither a run, an ensemble nor a sweep"),
])
def test_bad_configurations_exit_2_naming_the_field(argv, match, caplog):
    assert main(argv) == 2
    assert re.search(match, caplog.text), caplog.text


@pytest.mark.parametrize("argv,match", [
    (["train", "r", "--set", "nu_postt=1"], r"unknown configuration field 'nu_postt'.*known "
                                            r"fields: n_input"),
    (["run", "r", "--set", "n_neurons=ten"], r"'ten' is not an integer"),
    (["sweep", "r", "--grid", "nu_post=0.1,0.1"], r"values repeat"),
    (["ensemble", "r", "--seeds", "1", "--set", "nu_post"], r"must be KEY=VALUE"),
])
def test_bad_settings_are_usage_errors(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert re.search(match, capsys.readouterr().err)


def test_a_shown_default_configuration_is_the_default():
    assert format_config(Config()).count("\n") == len(Config.__dataclass_fields__) + 2


def test_the_package_and_its_metadata_agree_on_the_version():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__
