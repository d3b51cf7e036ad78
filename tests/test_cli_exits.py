"""The command line's failures: one line, a documented exit status, no Ray started (fast)."""

from __future__ import annotations

import time

import pytest

from conftest import TINY, random_network
from stdp_ray import artifact, atomic, cli, leases, workflow
from stdp_ray.cli import main


@pytest.fixture(autouse=True)
def no_ray_started(no_ray_start):
    """Every refusal here comes before Ray starts."""


def test_help_documents_every_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for status in (cli.EXIT_OK, cli.EXIT_FAILURE, cli.EXIT_USAGE, cli.EXIT_ENVIRONMENT,
                   cli.EXIT_INTERRUPTED):
        assert f"\n  {status} " in out


@pytest.mark.parametrize("address, message", [
    ("127.0.0.1:1", r"--address == '127.0.0.1:1': cannot connect \(Connection refused\)"),
    ("ray://127.0.0.1:10001", r"ray:// \(Ray Client\) addresses are not supported"),
    ("no-such-host.invalid:6379", r"no-such-host.invalid:6379': unknown host"),
    ("127.0.0.1", r"--address == '127.0.0.1', must be HOST:PORT"),
])
def test_an_unusable_address_exits_2_at_once(tmp_path, mnist_dir, caplog, address, message):
    t0 = time.monotonic()
    status = main(["train", str(tmp_path / "run"), "--neurons", "10", "--samples", "2",
                   "--data-dir", str(mnist_dir), "--address", address, "--no-progress"])
    assert status == cli.EXIT_USAGE
    assert time.monotonic() - t0 < 10
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and not errors[0].exc_info  # one line, no traceback
    assert __import__("re").search(message, errors[0].getMessage())
    assert not (tmp_path / "run").exists()


def test_an_unusable_ray_address_variable_is_named(tmp_path, mnist_dir, caplog, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    assert main(["test", str(tmp_path), "--data-dir", str(mnist_dir)]) == cli.EXIT_USAGE
    assert "RAY_ADDRESS == '127.0.0.1:1': cannot connect" in caplog.text


@pytest.mark.parametrize("samples", [str(10**30), str(workflow.MAX_TRAIN_SAMPLES + 1)])
def test_an_absurd_sample_count_is_refused_with_the_limit_named(tmp_path, mnist_dir, caplog,
                                                                samples):
    assert main(["train", str(tmp_path / "run"), "--samples", samples,
                 "--data-dir", str(mnist_dir)]) == cli.EXIT_USAGE
    assert f"--samples == {samples}, must be <= {workflow.MAX_TRAIN_SAMPLES}" in caplog.text
    assert not (tmp_path / "run").exists()


def test_training_into_a_run_with_a_symlinked_lock_exits_2_and_truncates_nothing(
        tmp_path, mnist_dir, caplog):
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / leases.LOCK_FILE).symlink_to(target)
    assert main(["train", str(run), "--neurons", "10", "--samples", "2",
                 "--data-dir", str(mnist_dir)]) == cli.EXIT_USAGE
    assert ".lock: is a symbolic link; refusing to follow it" in caplog.text
    assert target.read_text() == "keep me\n"
    assert sorted(p.name for p in run.iterdir()) == [leases.LOCK_FILE]


def test_a_report_of_an_ensemble_naming_a_member_elsewhere_exits_2(tmp_path, caplog):
    root, elsewhere = tmp_path / "ens", tmp_path / "elsewhere"
    workflow.import_network(artifact.save_network(tmp_path / "net", TINY, random_network(TINY),
                                                  prov={"seed": 1}), elsewhere)
    atomic.atomic_write_json(root / "ensemble.json", {"seeds": [1]})
    atomic.atomic_write_json(root / "metrics.json", {
        "members": [{"seed": 1, "accuracy": 0.8, "run_dir": "../elsewhere"}],
        "k": [1], "accuracy_sum": [0.8], "accuracy_vote": [0.8]})
    assert main(["report", str(root)]) == cli.EXIT_USAGE
    assert "member run_dir '../elsewhere' must be a relative path inside" in caplog.text
    assert not (elsewhere / "report").exists() and not (root / "report").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "r", "--seed", "abc"], r"stdp-ray train: error: argument --seed: 'abc' is not an "
                                      r"integer; see stdp-ray train --help"),
    (["train"], r"stdp-ray train: error: the following arguments are required: run_dir; see "
                r"stdp-ray train --help"),
    ([], r"stdp-ray: error: the following arguments are required: command; see stdp-ray --help"),
    (["test", "r", "--backend", "gpu"], r"stdp-ray test: error: argument --backend: invalid "
                                        r"choice: 'gpu' \(choose from .*\); see stdp-ray test"),
    (["sweep", "r", "--grid", "nu_postt=1"], r"stdp-ray sweep: error: argument --grid: .*unknown "
                                              r"configuration field 'nu_postt'"),
    (["config", "show", "--bogus"], r"stdp-ray: error: unrecognized arguments: --bogus; see "),
    (["train", "r", "--samples", "9" * 5000], r"argument --samples: '9{20}\.\.\.\(5000 "
                                              r"characters\)' is not an integer"),
], ids=["bad-type", "missing-positional", "no-command", "bad-choice", "bad-grid",
        "unknown-option", "huge-number"])
def test_a_usage_error_is_one_line_with_a_hint_and_exits_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err, err
    assert __import__("re").search(message, err), err


@pytest.mark.parametrize("settings, message", [
    (["dt_ms=1e-320"], r"--set: dt_ms == 1e-320, must be in \[1e-06, 10\]"),
    (["present_ms=1e308"], r"--set: present_ms / dt_ms == inf time steps"),
    (["dt_ms=10", "present_ms=1e308"], r"--set: present_ms / dt_ms == 1e\+307 time steps "
                                       r"\(present_ms == 1e\+308, dt_ms == 10\.0\), must be in "
                                       r"1\.\.10000000"),
    (["timer_min_ms=1e300"], r"--set: timer_min_ms / dt_ms == 1e\+301 time steps"),
    (["min_spikes=" + "9" * 5000], r"--set min_spikes=9{20}.*: an integer of 5000 digits; "
                                   r"min_spikes must be"),
], ids=["tiny-dt", "huge-present", "dt-10-huge-present", "huge-timer", "huge-integer"])
@pytest.mark.parametrize("command", ["train", "config show"])
def test_settings_whose_step_counts_overflow_exit_2_in_one_line_before_any_work(
        tmp_path, caplog, capsys, command, settings, message):
    argv = [*command.split(), *([str(tmp_path / "run")] if command == "train" else [])]
    for setting in settings:
        argv += ["--set", setting]
    try:
        status = main(argv)
    except SystemExit as exc:  # --set's value refused while parsing
        status, text = exc.code, capsys.readouterr().err
    else:
        text = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert status == cli.EXIT_USAGE
    assert text.strip().count("\n") == 0 and __import__("re").search(message, text), text
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_config_that_is_a_device_or_a_fifo_exits_2_at_once(tmp_path, caplog, target):
    import os

    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
        target = tmp_path / "fifo"
    (tmp_path / "c.toml").symlink_to(target)
    t0 = time.monotonic()
    assert main(["config", "show", "--config", str(tmp_path / "c.toml")]) == cli.EXIT_USAGE
    assert time.monotonic() - t0 < 10
    assert "c.toml: is not a regular file" in caplog.text


# ---------------------------------------------------------------------------
# Every count checked before any work, named as typed; resuming restates nothing
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("argv,message", [
    (["run", "--samples", "2", "--observe-samples", "40", "--test-samples", "31"],
     r"--test-samples == 31, but the test set has only 30 images"),
    (["run", "--samples", "2", "--observe-samples", "61"],
     r"--observe-samples == 61, but the training set has only 60 images"),
    (["ensemble", "--seeds", "1,2", "--samples", "2", "--observe-samples", "40",
      "--test-samples", "31"], r"--test-samples == 31, but the test set has only 30 images"),
])
def test_a_count_past_the_data_is_refused_before_anything_is_trained(
        tmp_path, mnist_dir, caplog, argv, message):
    where = tmp_path / "new"
    assert main([argv[0], str(where), *argv[1:], "--neurons", "10", "--data-dir",
                 str(mnist_dir), "--no-progress"]) == cli.EXIT_USAGE
    assert __import__("re").search(message, caplog.text), caplog.text
    assert not where.exists()


@pytest.fixture
def labelled_run(tmp_path):
    from test_workflow import OLD_NETWORK

    run = tmp_path / "run"
    workflow.import_network(OLD_NETWORK, run)
    return run


@pytest.mark.parametrize("argv,message,deprecated", [
    (["observe", "--observe-samples", "61"], "--observe-samples == 61, but the training set",
     None),
    (["observe", "--samples", "61"], "--samples == 61, but the training set",
     "--samples is deprecated: it still works, the same as --observe-samples"),
    (["test", "--test-samples", "31"], "--test-samples == 31, but the test set", None),
    (["test", "--samples", "31"], "--samples == 31, but the test set",
     "--samples is deprecated: it still works, the same as --test-samples"),
])
def test_observe_and_test_counts_are_named_as_run_names_them_and_as_typed(
        labelled_run, mnist_dir, caplog, argv, message, deprecated):
    assert main([argv[0], str(labelled_run), *argv[1:], "--data-dir",
                 str(mnist_dir)]) == cli.EXIT_USAGE
    assert message in caplog.text
    assert (deprecated in caplog.text) if deprecated else "deprecated" not in caplog.text


@pytest.mark.parametrize("restated", [[], ["--neurons", "10", "--seed", "3"],
                                      ["--neurons", "400"], ["--seed", "42"]])
def test_resuming_a_run_needs_no_configuration_restated(labelled_run, mnist_dir, caplog,
                                                        monkeypatch, restated):
    from stdp_ray import checkpoints

    stored = workflow.read_run_config(labelled_run).config

    def reached(train_dir, cfg, seed, samples):
        raise workflow.RunError(f"reached training with n_neurons={cfg.n_neurons}")

    monkeypatch.setattr(checkpoints, "check_resumable", reached)
    assert main(["train", str(labelled_run), "--samples", "2", *restated,
                 "--data-dir", str(mnist_dir)]) == cli.EXIT_USAGE
    assert (stored.n_neurons, workflow.read_run_config(labelled_run).seed) == (10, 3)
    if restated in (["--neurons", "400"], ["--seed", "42"]):  # the defaults: other values
        assert "holds a run of another configuration" in caplog.text
    else:
        assert "reached training with n_neurons=10" in caplog.text
