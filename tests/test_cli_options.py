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


def test_version_names_the_package_its_commit_the_engines_brian2_and_ray(capsys):
    from importlib import metadata

    from stdp_ray.provenance import git_commit

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0
    first, engines, packages = capsys.readouterr().out.strip().splitlines()
    assert first.startswith(f"stdp-ray {__version__} (")
    assert (git_commit() or "not a git checkout") in first
    brian2 = metadata.version("brian2")
    assert engines == (f"engines: native, fast (C++ kernels of stdp-ray {__version__}), "
                       f"standalone, runtime (Brian2 {brian2})")
    assert packages.startswith(f"brian2 {brian2}, ray {metadata.version('ray')}, numpy ")


def test_version_imports_neither_ray_nor_brian2():
    code = ("import sys\nfrom stdp_ray.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit as exc:\n"
            "    assert exc.code == 0\n"
            "assert 'ray' not in sys.modules and 'brian2' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


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


def test_a_shown_default_configuration_sets_no_field():
    lines = format_config(Config()).splitlines()
    assert len(lines) == len(Config.__dataclass_fields__) + 3
    assert [ln for ln in lines if not ln.startswith("#")] == ["version = 1"]


def test_config_show_then_appending_a_field_sets_it(tmp_path, capsys):
    assert main(["config", "show", "--neurons", "100"]) == 0
    path = tmp_path / "my.toml"
    path.write_text(capsys.readouterr().out + "nu_post = 0.02\n")   # config show > my.toml; >>
    assert read_config_file(path) == Config(n_neurons=100, nu_post=0.02)
    assert main(["config", "show", "--config", str(path)]) == 0
    assert re.search(r"^nu_post = 0.02  # must be >= 0$", capsys.readouterr().out, re.M)


def test_the_package_and_its_metadata_agree_on_the_version():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__


@pytest.mark.parametrize("argv,suggestion", [
    (["tset", "runs/a"], "invalid choice: 'tset'.*; did you mean 'test'\\?"),
    (["config", "shwo"], "invalid choice: 'shwo'.*; did you mean 'show'\\?"),
    (["test", "runs/a", "--sampels", "5"], "unrecognized arguments: --sampels 5; did you mean "
                                           "'--samples'\\?"),
    (["run", "runs/a", "--obsreve-samples=5", "--samples", "2"],
     "unrecognized arguments: --obsreve-samples=5; did you mean '--observe-samples'\\?"),
    (["run", "runs/a", "--backend", "nativ"], "invalid choice: 'nativ'.*; did you mean "
                                              "'native'\\?"),
])
def test_a_mistyped_subcommand_option_or_choice_gets_did_you_mean(argv, suggestion, capsys,
                                                                  tmp_path, no_ray_start):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / w) if w == "runs/a" else w for w in argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(suggestion, err), err


def test_a_word_like_no_option_gets_no_suggestion(capsys):
    with pytest.raises(SystemExit):
        main(["test", "runs/a", "--zzzzzz"])
    assert "did you mean" not in capsys.readouterr().err


@pytest.mark.parametrize("command,new,old", [
    ("observe", "--observe-samples", "--samples"), ("test", "--test-samples", "--samples"),
    ("curve", "--observe-samples", "--label-samples")])
def test_one_name_for_each_count_with_the_old_one_a_deprecated_alias(command, new, old,
                                                                     capsys):
    text = " ".join(_help(command, capsys).split())
    assert re.search(rf"{new}(?: [A-Z_]+)?, {old}", text), text  # one entry, two names
    assert f"{old}: deprecated alias" in text
    args = build_parser().parse_args([command, "r", old, "7"])
    assert args.deprecated_options == [(old, new)]
    assert getattr(args, new[2:].replace("-", "_") if command != "curve"
                   else "label_samples") in (7, [7])


@pytest.mark.parametrize("command", ["observe", "test", "curve"])
def test_evaluating_a_run_uses_its_own_engine_unless_told(command, capsys):
    # None: the engine the run was trained with (a fast run is scored by the fast engine)
    assert build_parser().parse_args([command, "r"]).backend is None
    assert build_parser().parse_args([command, "r", "--backend", "native"]).backend == "native"
    assert "default: the engine the run was trained with" in " ".join(_help(command, capsys).split())


@pytest.mark.parametrize("command", ["train", "run", "ensemble", "sweep"])
def test_a_new_configuration_defaults_to_the_exact_engine(command, capsys):
    text = " ".join(_help(command, capsys).split())
    assert "default: native, the exact one" in text and "shortcut for --set backend" in text


def test_report_help_names_every_directory_it_takes(capsys):
    assert "a run, ensemble or sweep directory" in _help("report", capsys)
