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
