"""The command line end to end on a tiny network, and its error exits."""

import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from stdp_ray import rundir
from stdp_ray.cli import build_parser, main

pytestmark = pytest.mark.slow

TINY_ARGS = ["--neurons", "10", "--seed", "3", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(ray_local, tmp_path_factory, mnist_dir):
    run = tmp_path_factory.mktemp("cli") / "run"
    status = main(["run", str(run), "--samples", "8", "--checkpoint-every", "4",
                   "--observe-samples", "40", "--test-samples", "20", "--chunk-size", "10",
                   "--data-dir", str(mnist_dir), *TINY_ARGS])
    assert status == 0
    return run


def test_run_writes_every_table(run_dir):
    for name in (rundir.RUN_CONFIG_FILE, rundir.ASSIGNMENTS_FILE, rundir.PREDICTIONS_FILE,
                 rundir.METRICS_FILE, "network/network.json", "network/arrays.npz",
                 "network/assignments.npz"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / rundir.METRICS_FILE).read_text())
    assert metrics["n_samples"] == 20
    assert sum(map(sum, metrics["confusion_matrix"])) == 20
    assert 0 <= metrics["accuracy"] <= 1
    assert metrics["training_samples"] == 8


def test_a_run_records_its_data_set_and_files_and_its_report_shows_them(run_dir, mnist_dir):
    from mnist_helpers import checksums_of

    record = json.loads((run_dir / rundir.RUN_CONFIG_FILE).read_text())["data"]
    assert record == {"dataset": "mnist", "verified": True, "files": checksums_of(mnist_dir)}
    assert main(["report", str(run_dir)]) == 0
    text = (run_dir / rundir.REPORT_DIR / rundir.REPORT_MD).read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("| Data set |"))
    assert "MNIST (verified against the published MD5s)" in line
    assert all(md5 in line for md5 in record["files"].values())


@pytest.mark.parametrize("relative,rows", [
    ("responses", 60), ("responses/phase=test", 20), (rundir.ASSIGNMENTS_FILE, 10),
    (rundir.PREDICTIONS_FILE, 20), (rundir.STATS_DIR, 8)])
def test_tables_open_in_pandas_and_pyarrow(run_dir, relative, rows):
    assert len(pd.read_parquet(run_dir / relative)) == rows
    assert pq.read_table(run_dir / relative).num_rows == rows


def test_rerunning_test_recomputes_nothing(run_dir, mnist_dir, capsys):
    capsys.readouterr()
    before = (run_dir / rundir.METRICS_FILE).read_bytes()
    assert main(["test", str(run_dir), "--samples", "20", "--chunk-size", "10",
                 "--data-dir", str(mnist_dir), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["chunks_computed"] == 0
    # The metrics of the run that simulated the samples (wall time, commit) are kept.
    assert (run_dir / rundir.METRICS_FILE).read_bytes() == before
    assert summary["wall_seconds"] == json.loads(before)["wall_seconds"]


def test_runtime_backend_gives_the_same_predictions(run_dir, mnist_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "responses" / "phase=test")
    assert main(["test", str(copy), "--samples", "20", "--chunk-size", "10", "--backend",
                 "runtime", "--data-dir", str(mnist_dir), "--no-progress"]) == 0
    # Scores hold NaN for classes without neurons: compare through pandas (NaN == NaN).
    pd.testing.assert_frame_equal(pd.read_parquet(copy / rundir.PREDICTIONS_FILE),
                                  pd.read_parquet(run_dir / rundir.PREDICTIONS_FILE))
    pd.testing.assert_frame_equal(pd.read_parquet(copy / "responses"),
                                  pd.read_parquet(run_dir / "responses"))


def _fresh_copy(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


@pytest.mark.parametrize("case,message", [
    ("no_run", r"not a run directory"),
    ("no_network", r"no trained network"),
    ("not_observed", r"has no label assignment; run `stdp-ray observe` first"),
    ("past_the_data", r"--samples == 31, but the test set has only 30 images"),
    ("no_mnist", r"MNIST|stdp-ray data fetch"),
    ("broken_arrays", r"arrays.npz: file not found"),
    ("other_settings", r"existing parts were computed with other settings"),
])
def test_bad_input_exits_2_and_writes_no_result(run_dir, mnist_dir, tmp_path, caplog, case,
                                                message):
    copy = _fresh_copy(run_dir, tmp_path)
    args = ["test", str(copy), "--data-dir", str(mnist_dir), "--no-progress",
            "--chunk-size", "10"]
    if case == "no_run":
        copy = tmp_path / "empty"
        copy.mkdir()
        args[1] = str(copy)
    elif case == "no_network":
        shutil.rmtree(copy / "network")
    elif case == "not_observed":
        (copy / "network" / "assignments.npz").unlink()
    elif case == "past_the_data":
        args += ["--samples", "31"]
    elif case == "no_mnist":
        args[3] = str(tmp_path / "nowhere")
    elif case == "broken_arrays":
        (copy / "network" / "arrays.npz").unlink()
    elif case == "other_settings":
        args[-1] = "7"
    for name in (rundir.METRICS_FILE, rundir.PREDICTIONS_FILE):
        (copy / name).unlink(missing_ok=True)
    assert main(args) == 2
    assert __import__("re").search(message, caplog.text), caplog.text
    assert not (copy / rundir.METRICS_FILE).exists()
    assert not (copy / rundir.PREDICTIONS_FILE).exists()


def test_training_into_a_run_of_another_configuration_is_refused(run_dir, mnist_dir, caplog):
    status = main(["train", str(run_dir), "--neurons", "12", "--samples", "8", "--data-dir",
                   str(mnist_dir), "--no-progress"])
    assert status == 2
    assert "holds a run of another configuration" in caplog.text


def test_fewer_training_samples_than_done_is_refused(run_dir, mnist_dir, caplog):
    status = main(["train", str(run_dir), "--samples", "4", "--data-dir", str(mnist_dir),
                   *TINY_ARGS])
    assert status == 2
    assert "--samples == 4, but" in caplog.text and "already trained 8 samples" in caplog.text


def test_overwrite_recomputes_and_drops_stale_results(run_dir, mnist_dir, tmp_path):
    copy = _fresh_copy(run_dir, tmp_path)
    before = json.loads((copy / rundir.METRICS_FILE).read_text())
    assert main(["test", str(copy), "--samples", "10", "--chunk-size", "5", "--overwrite",
                 "--data-dir", str(mnist_dir), "--no-progress"]) == 0
    after = json.loads((copy / rundir.METRICS_FILE).read_text())
    assert (before["n_samples"], after["n_samples"]) == (20, 10)
    assert after["chunks_computed"] == 2
    assert len(pd.read_parquet(copy / rundir.PREDICTIONS_FILE)) == 10


@pytest.mark.parametrize("argv,match", [
    (["train", "r", "--neurons", "0"], r"--neurons: invalid _positive_int value|must be >= 1"),
    (["train", "r", "--seed", "-1"], r"must be in 0\.\.2147483647"),
    (["train", "r", "--seed", "2147483648"], r"must be in 0\.\.2147483647"),
    (["run", "r", "--max-intensity", "5000"], r"must be in 2\.\.1000"),
    (["test", "r", "--backend", "gpu"], r"invalid choice: 'gpu'"),
    (["test", "r", "--samples", "x"], r"is not an integer"),
])
def test_option_errors_exit_2(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert __import__("re").search(match, capsys.readouterr().err)


def test_import_a_network_and_score_it(run_dir, mnist_dir, tmp_path):
    new = tmp_path / "imported"
    assert main(["import", str(run_dir / "network"), str(new)]) == 0
    assert main(["test", str(new), "--samples", "20", "--chunk-size", "10", "--data-dir",
                 str(mnist_dir), "--no-progress"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(new / rundir.PREDICTIONS_FILE),
                                  pd.read_parquet(run_dir / rundir.PREDICTIONS_FILE))
    # Importing the same network again is harmless; another network is refused.
    assert main(["import", str(run_dir / "network"), str(new)]) == 0


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_an_interrupted_train_writes_a_checkpoint_and_exits_130(tmp_path, mnist_dir,
                                                               signal_name):
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    code = "import sys; from stdp_ray.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["train", str(run), "--neurons", "10", "--samples", "100000", "--backend", "native",
            "--checkpoint-every", "25", "--data-dir", str(mnist_dir), "--workers", "1"]
    log = (tmp_path / "stderr").open("w+")  # a file, not a pipe nobody drains while waiting
    child = subprocess.Popen([sys.executable, "-c", code, *args, "--no-progress"],
                             stderr=log, stdout=subprocess.DEVNULL, text=True)
    stats = run / rundir.STATS_DIR
    try:
        # Signal once the actor has provably trained (its first checkpoint exists), however
        # slow the machine: a fixed sleep raced the actor's start on a loaded machine.
        deadline = time.monotonic() + 300
        while not rundir.checkpoint_dirs(run / rundir.CHECKPOINTS_DIR):
            assert child.poll() is None, (tmp_path / "stderr").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
        child.send_signal(getattr(signal, signal_name))
        child.wait(timeout=180)
    finally:
        child.kill()
        log.close()
    err = (tmp_path / "stderr").read_text()
    assert child.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err
    match = __import__("re").search(r"interrupted: training stopped with a checkpoint \(.*run "
                                    r"at sample (\d+) of 100000\); rerun the same command to "
                                    r"resume: stdp-ray train", last)
    assert match, err
    done = int(match.group(1))
    assert done >= 25
    assert (run / rundir.CHECKPOINTS_DIR / rundir.checkpoint_name(done)).is_dir()
    assert stats.is_dir()
