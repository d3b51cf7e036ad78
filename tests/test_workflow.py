"""Run directories: one process at a time, leftovers of interrupted writes swept (no Ray)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, lock_in_child, random_network
from stdp_ray import artifact, data, engines, ensembles, leases, reading, rundir, workflow
from stdp_ray.cli import main
from stdp_ray.network import network_fingerprint
from stdp_ray.options import RunOptions


@pytest.fixture
def network_dir(tmp_path):
    return artifact.save_network(tmp_path / "shipped", TINY, random_network(TINY),
                                 prov={"seed": 3})


def test_import_into_a_busy_directory_writes_nothing(tmp_path, network_dir):
    run = tmp_path / "run"
    with lock_in_child(run):
        with pytest.raises(leases.DirectoryBusyError, match=r"run: in use by another stdp-ray"):
            workflow.import_network(network_dir, run)
    assert sorted(p.name for p in run.iterdir()) == [leases.LOCK_FILE]


def test_cli_exits_1_on_a_busy_directory(tmp_path, network_dir, caplog):
    run = tmp_path / "run"
    with lock_in_child(run):
        assert main(["import", str(network_dir), str(run)]) == 1
    assert "in use by another stdp-ray process" in caplog.text
    assert main(["import", str(network_dir), str(run)]) == 0  # free again


@pytest.mark.parametrize("phase", [workflow.observe, workflow.test])
def test_evaluation_refuses_a_busy_run(tmp_path, network_dir, phase):
    run = tmp_path / "run"
    workflow.import_network(network_dir, run)
    with lock_in_child(run):
        with pytest.raises(leases.DirectoryBusyError, match="in use"):
            phase(run)


@pytest.mark.parametrize("phase", [workflow.observe, workflow.test])
def test_evaluation_of_a_missing_run_creates_nothing(tmp_path, phase):
    with pytest.raises(workflow.RunError, match=r"missing: not a run directory \(no config"):
        phase(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_run_lock_refuses_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(workflow.RunError, match="file: exists and is not a directory"):
        with workflow.run_lock(tmp_path / "file", create=True):
            pass  # pragma: no cover


def test_taking_the_lock_sweeps_interrupted_writes(tmp_path, network_dir):
    run = tmp_path / "run"
    workflow.import_network(network_dir, run)
    stale = [run / ".network.k2j3", run / "train/checkpoints/.ckpt.abc", run / ".metrics.json.x.tmp"]
    for p in stale:
        p.mkdir(parents=True) if not p.name.endswith(".tmp") else p.write_text("half")
    workflow.import_network(network_dir, run)  # same network again: harmless
    assert not any(p.exists() for p in stale)
    assert (run / rundir.NETWORK_DIR / artifact.ARRAYS_NPZ).is_file()


def test_ensemble_refuses_while_a_member_is_busy(tmp_path, mnist_dir):
    root = tmp_path / "ens"
    with lock_in_child(rundir.member_dir(root, 2)):
        with pytest.raises(leases.DirectoryBusyError, match=r"seed=2: in use"):
            ensembles.run_ensemble(root, TINY, [1, 2], RunOptions(samples=2, data_dir=mnist_dir,
                                                                    observe_samples=40,
                                                                    progress=False))
    # Nothing was trained: seed=1 holds its lock file only.
    assert sorted(p.name for p in rundir.member_dir(root, 1).iterdir()) == [leases.LOCK_FILE]


def _leftovers(run: Path) -> list[Path]:
    paths = [run / ".network.abc123", run / ".network.old", run / ".network.import",
             run / "train/checkpoints/.ckpt.x1y2", run / ".metrics.json.k3j.tmp",
             run / "train/stats/.part-00001.parquet.a1.tmp",
             run / "responses/phase=test/.part-00002.parquet.b2.tmp"]
    for p in paths:
        if p.name.endswith(".tmp"):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"half")
        else:
            (p / "sub").mkdir(parents=True)
            (p / "sub" / "f.npz").write_bytes(b"half")
    return paths


def test_sweep_removes_exactly_the_temporaries(tmp_path):
    run = tmp_path / "run"
    leftovers = _leftovers(run)
    keep = [run / "network/arrays.npz", run / "train/checkpoints/ckpt-000000004/state.json",
            run / "responses/phase=test/part-00000.parquet", run / "metrics.json",
            run / leases.LOCK_FILE, run / ".hidden-but-not-ours",
            run / "report/.report.md.x1.tmp"]  # reports are written without the lock
    for p in keep:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"keep")
    removed = rundir.sweep_temporaries(run)
    assert sorted(removed) == sorted(leftovers)
    assert not any(p.exists() for p in leftovers)
    assert all(p.read_bytes() == b"keep" for p in keep)
    assert rundir.sweep_temporaries(run) == []


def test_sweep_not_recursive_leaves_subdirectories(tmp_path):
    root = tmp_path / "ens"
    (root / "seed-1").mkdir(parents=True)
    inner = root / "seed-1" / ".metrics.json.x.tmp"
    inner.write_bytes(b"a member's write in progress")
    top = root / ".metrics.json.y.tmp"
    top.write_bytes(b"half")
    assert rundir.sweep_temporaries(root, recursive=False) == [top]
    assert inner.exists()


@pytest.mark.parametrize("network_there", [False, True])
def test_sweep_finishes_an_interrupted_network_replacement(tmp_path, network_dir,
                                                           network_there):
    run = tmp_path / "run"
    workflow.import_network(network_dir, run)
    # Killed between save_network's two renames: the old network is .network.old,
    # the new one still under its temporary name (network_there: after both renames).
    old = run / ".network.old"
    if network_there:
        shutil.copytree(run / "network", old)
    else:
        (run / "network").rename(old)
    shutil.copytree(old, run / ".network.tmp123")
    removed = rundir.sweep_temporaries(run)
    assert sorted(p.name for p in removed) == (
        [".network.old", ".network.tmp123"] if network_there else [".network.tmp123"])
    assert sorted(p.name for p in run.iterdir()) == [leases.LOCK_FILE, "config.json", "network"]
    assert artifact.load_network(run / "network").provenance["seed"] == 3


def test_save_trained_records_sample_time_and_keeps_an_unchanged_network(tmp_path):
    import pyarrow as pa

    run = tmp_path / "run"
    workflow.prepare_run(run, TINY, 3)
    rows = [{"sample": i, "image": i, "label": i % 10, "total_spikes": 5, "intensity": 2.0,
             "presentations": 1, "failed": False, "w_mean": 0.1, "w_std": 0.05,
             "theta_mean_mV": 20.0, "theta_std_mV": 0.0, "seconds": 0.25} for i in range(4)]
    rundir.write_table(run / rundir.STATS_DIR / "part-000000000.parquet",
                       pa.Table.from_pylist(rows, schema=rundir.TRAIN_STATS_SCHEMA))
    arrays = random_network(TINY, seed=1)
    workflow.save_trained(run, TINY, arrays, 3, {"samples": 4, "seconds": 9.0})
    prov = artifact.load_network(run / "network").provenance
    assert (prov["training_seconds"], prov["training_call_seconds"]) == (1.0, 9.0)
    artifact.save_assignments(run / "network", TINY, np.arange(10) % 10, np.ones((10, 10)))
    (run / rundir.ASSIGNMENTS_FILE).write_bytes(b"observe result")
    before = (run / "network" / artifact.NETWORK_JSON).read_bytes()
    # A rerun that trained nothing: same arrays, network and assignment kept as they are.
    workflow.save_trained(run, TINY, arrays, 3, {"samples": 4, "seconds": 0.5})
    assert (run / "network" / artifact.NETWORK_JSON).read_bytes() == before
    assert artifact.load_network(run / "network").assignments is not None
    assert (run / rundir.ASSIGNMENTS_FILE).exists()
    # Another network replaces it and drops what was computed from the old one.
    workflow.save_trained(run, TINY, random_network(TINY, seed=2), 3,
                          {"samples": 4, "seconds": 0.5})
    assert artifact.load_network(run / "network").assignments is None
    assert not (run / rundir.ASSIGNMENTS_FILE).exists()


# --------------------------------------------------------------------------
# Importing a received network: data, never instructions
# --------------------------------------------------------------------------
def test_import_copies_only_the_known_files(tmp_path, network_dir):
    (network_dir / "run.sh").write_text("#!/bin/sh\nrm -rf ~\n")
    (network_dir / "sub").mkdir()
    rc = workflow.import_network(network_dir, tmp_path / "run")
    assert rc.seed == 3
    assert sorted(p.name for p in (tmp_path / "run" / rundir.NETWORK_DIR).iterdir()) == [
        artifact.ARRAYS_NPZ, artifact.NETWORK_JSON]


@pytest.mark.parametrize("linked", [artifact.ASSIGNMENTS_NPZ, artifact.ARRAYS_NPZ])
def test_a_symlink_inside_an_imported_network_is_refused_and_no_run_is_left(
        tmp_path, network_dir, linked):
    secret = tmp_path / "secret"
    secret.write_text("the receiver's private key\n")
    if linked == artifact.ARRAYS_NPZ:
        (network_dir / linked).rename(secret)
    (network_dir / linked).symlink_to(secret)
    run = tmp_path / "run"
    assert main(["import", str(network_dir), str(run)]) == 2
    assert not run.exists()  # no config.json, no half-made run, no copy of the secret


def test_a_failed_import_into_an_existing_directory_writes_no_config(tmp_path, network_dir):
    run = tmp_path / "run"
    run.mkdir()
    (network_dir / artifact.ASSIGNMENTS_NPZ).symlink_to(tmp_path / "secret")
    with pytest.raises(reading.ArtifactError, match="is a symbolic link"):
        workflow.import_network(network_dir, run)
    assert list(run.iterdir()) == []


def test_an_import_that_cannot_write_exits_3_and_leaves_nothing(tmp_path, network_dir):
    import resource
    import subprocess
    import sys

    def small_files():  # a file system that is full after 1 KiB per file
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    run = tmp_path / "run"
    code = "import sys; from stdp_ray.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "import", str(network_dir), str(run)],
                          preexec_fn=small_files, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert re.search(r"ERROR stdp_ray: environment failure: \S*network\.json: File too large$",
                     last), done.stderr
    assert "Traceback" not in done.stderr
    assert not run.exists()


def test_report_is_written_while_a_writer_holds_the_run_and_says_so(tmp_path, network_dir):
    from test_loading import make_tested_run

    run = make_tested_run(tmp_path / "run")
    with lock_in_child(run):
        assert main(["report", str(run)]) == 0
    md = (run / rundir.REPORT_DIR / rundir.REPORT_MD).read_text()
    assert ("| Network shown | network after 60 training samples; a command is working on "
            "the run now |") in md
    assert "| Test accuracy | 50.00% (10 / 10) |" in md


def test_two_reports_of_one_run_at_once_are_refused(tmp_path, network_dir, caplog):
    run = tmp_path / "run"
    workflow.import_network(network_dir, run)
    with lock_in_child(run / rundir.REPORT_DIR):
        assert main(["report", str(run)]) == 1
    assert "in use by another stdp-ray process" in caplog.text


def test_report_of_a_directory_that_holds_no_run_makes_nothing(tmp_path):
    assert main(["report", str(tmp_path)]) == 2
    assert not (tmp_path / rundir.REPORT_DIR).exists()


OLD_NETWORK = Path(__file__).parent / "data" / "written-by-12aa4be" / "run" / "network"


def test_an_imported_network_with_labels_gets_its_assignments_table(tmp_path):
    run = tmp_path / "run"
    rc = workflow.import_network(OLD_NETWORK, run)
    net = artifact.load_network(OLD_NETWORK)
    table = rundir.read_table(run / rundir.ASSIGNMENTS_FILE, rundir.ASSIGNMENTS_SCHEMA)
    assert table.column("assigned_class").to_pylist() == net.assignments.tolist()
    rates = np.stack(table.column("class_rates").to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(rates, net.class_rates.T)
    meta = rundir.read_table_metadata(run / rundir.ASSIGNMENTS_FILE)
    assert (meta["seed"], meta["config"]) == ("3", rc.config.model_hash())
    # Importing again keeps it (an observe may have rewritten it since).
    before = (run / rundir.ASSIGNMENTS_FILE).read_bytes()
    workflow.import_network(OLD_NETWORK, run)
    assert (run / rundir.ASSIGNMENTS_FILE).read_bytes() == before


def test_an_imported_network_without_labels_gets_no_assignments_table(tmp_path, network_dir):
    workflow.import_network(network_dir, tmp_path / "run")
    assert not (tmp_path / "run" / rundir.ASSIGNMENTS_FILE).exists()


# ---------------------------------------------------------------------------
# Links inside a run directory are never followed; a failed test leaves no manifest
# ---------------------------------------------------------------------------
@pytest.fixture
def labelled_run(tmp_path):
    """A run directory holding a network with a label assignment (ready for `test`)."""
    run = tmp_path / "run"
    workflow.import_network(OLD_NETWORK, run)
    return run


def _outside(tmp_path):
    """A directory outside the run, holding another run's checkpoint."""
    outside = tmp_path / "outside"
    ckpt = outside / "checkpoints" / rundir.checkpoint_name(1)
    ckpt.mkdir(parents=True)
    (ckpt / rundir.CHECKPOINT_STATE).write_text("{}")
    return outside


def _test_cli(run, mnist_dir, samples=5):
    return main(["test", str(run), "--samples", str(samples), "--chunk-size", "5",
                 "--data-dir", str(mnist_dir)])


@pytest.mark.parametrize("name,command", [
    ("responses/phase=test", lambda run, mnist: _test_cli(run, mnist)),
    ("responses", lambda run, mnist: _test_cli(run, mnist)),
    ("report", lambda run, mnist: main(["report", str(run)])),
    ("train", lambda run, mnist: main(["train", str(run), "--samples", "2",
                                       "--data-dir", str(mnist)])),
    ("train/checkpoints", lambda run, mnist: main(["train", str(run), "--samples", "2",
                                                   "--data-dir", str(mnist)])),
])
def test_a_link_inside_the_run_is_refused_and_nothing_is_written_through_it(
        tmp_path, labelled_run, mnist_dir, caplog, no_ray_start, name, command):
    outside = _outside(tmp_path)
    before = sorted(p.relative_to(outside) for p in outside.rglob("*"))
    link = labelled_run / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    assert command(labelled_run, mnist_dir) == 2
    assert re.search(rf"run/{name}: is a symbolic link inside the run directory .*; refusing "
                     "to follow it", caplog.text)
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
    assert sorted(p.relative_to(outside) for p in outside.rglob("*")) == before
    assert link.is_symlink()


def test_a_response_part_linking_to_another_runs_file_is_not_read(tmp_path, labelled_run,
                                                                  mnist_dir, caplog,
                                                                  no_ray_start):
    other = tmp_path / "other" / rundir.part_name(0)
    rundir.write_table(other, rundir.responses_table(np.arange(5), np.zeros(5), np.ones((5, 3)),
                                                     np.full(5, 2.0), np.ones(5),
                                                     np.zeros(5, bool), 0))
    phase = rundir.phase_dir(labelled_run, "test")
    phase.mkdir(parents=True)
    rc, network = workflow._load(labelled_run, None)
    images, labels = data.load_mnist(mnist_dir, "test")
    rundir.write_manifest(phase, rundir.PhaseManifest(  # what `test --samples 5` computes
        phase="test", seed=rc.seed, chunk_size=5, n_samples=5, first_sample=0,
        network=network_fingerprint(network.arrays), model=rc.config.model_hash(),
        data=data.samples_fingerprint(images[:5], labels[:5]),
        arithmetic=engines.arithmetic(rc.config.backend)))
    (phase / rundir.part_name(0)).symlink_to(other)
    assert _test_cli(labelled_run, mnist_dir) == 2
    assert "phase=test/part-000000.parquet: is a symbolic link inside the run directory" \
        in caplog.text


def test_a_test_that_cannot_start_ray_leaves_no_manifest(labelled_run, mnist_dir, caplog,
                                                         monkeypatch):
    from stdp_ray import evaluation

    def no_ray():
        raise ConnectionError("Ray cannot start")

    monkeypatch.setattr(evaluation, "ensure_ray", no_ray)
    phase = rundir.phase_dir(labelled_run, "test")
    assert _test_cli(labelled_run, mnist_dir, samples=5) == 2
    assert not rundir.manifest_path(phase).exists() and not phase.exists()
    caplog.clear()
    # The next test with other samples fails for the same reason, not for "other settings".
    assert _test_cli(labelled_run, mnist_dir, samples=6) == 2
    assert "Ray cannot start" in caplog.text and "other settings" not in caplog.text


# ---------------------------------------------------------------------------
# One data set per run: recorded with the files' MD5s, another refused before any work
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["test", "--dataset", "fashion-mnist"],
    ["observe", "--dataset", "fashion-mnist"],
    ["train", "--dataset", "fashion-mnist", "--samples", "2"],
    ["run", "--dataset", "fashion-mnist", "--samples", "2", "--observe-samples", "5"],
])
def test_another_data_set_than_the_runs_is_refused_in_one_line_before_any_work(
        labelled_run, mnist_dir, caplog, no_ray_start, argv):
    before = (labelled_run / rundir.RUN_CONFIG_FILE).read_bytes()
    assert main([argv[0], str(labelled_run), *argv[1:], "--data-dir", str(mnist_dir),
                 "--no-verify"]) == 2
    assert re.search(r"--dataset fashion-mnist: .*run is a run on mnist; one run does not mix "
                     r"data sets \(give --dataset mnist, or use a new run directory\)",
                     caplog.text), caplog.text
    assert (labelled_run / rundir.RUN_CONFIG_FILE).read_bytes() == before
    assert not (labelled_run / "responses").exists()


def _stop_at_ray(monkeypatch):
    from stdp_ray import evaluation

    def no_ray():
        raise ConnectionError("stopped before simulating")

    monkeypatch.setattr(evaluation, "ensure_ray", no_ray)


def test_a_phase_without_dataset_takes_the_runs_and_records_the_files_it_read(
        labelled_run, mnist_dir, monkeypatch, caplog):
    rc = rundir.read_run_record(labelled_run)
    rundir.write_run_record(labelled_run, rundir.RunRecord(
        rc.config, rc.seed, rc.provenance, {"dataset": "kmnist", "verified": True, "files": {}}))
    _stop_at_ray(monkeypatch)
    assert _test_cli(labelled_run, mnist_dir) == 2
    assert "stopped before simulating" in caplog.text  # the data set was accepted
    record = rundir.read_run_record(labelled_run)
    assert record.dataset == "kmnist"
    assert record.data["files"] == {
        name: data.data_record(mnist_dir, ("test",))["files"][name]
        for name in (data.MNIST_FILES["test"]["images"], data.MNIST_FILES["test"]["labels"])}


def test_another_copy_of_a_file_the_run_read_is_refused(labelled_run, mnist_dir, caplog,
                                                        no_ray_start):
    rc = rundir.read_run_record(labelled_run)
    name = data.MNIST_FILES["test"]["labels"]
    rundir.write_run_record(labelled_run, rundir.RunRecord(
        rc.config, rc.seed, rc.provenance,
        {"dataset": "mnist", "verified": True, "files": {name: "0" * 32}}))
    assert _test_cli(labelled_run, mnist_dir) == 2
    assert re.search(rf"run: its {name} had MD5 0{{32}}, the one read now has [0-9a-f]{{32}}; "
                     r"one run does not mix copies of the data", caplog.text), caplog.text


def test_a_run_without_a_data_record_is_mnist(labelled_run):
    assert "data" not in reading.load_json(labelled_run / rundir.RUN_CONFIG_FILE)
    assert rundir.read_run_record(labelled_run).dataset == "mnist"
    assert workflow.resolve_data(labelled_run, RunOptions()).dataset == "mnist"
