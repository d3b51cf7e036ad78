"""Run directories: one process at a time, leftovers of interrupted writes swept (no Ray)."""

from __future__ import annotations

import pytest

from conftest import TINY, random_network
from stdp_ray import ensemble, state, tables, workflow
from stdp_ray.cli import main


@pytest.fixture
def network_dir(tmp_path):
    return state.save_network(tmp_path / "shipped", TINY, random_network(TINY), prov={"seed": 3})


def test_import_into_a_busy_directory_writes_nothing(tmp_path, network_dir):
    run = tmp_path / "run"
    with state.directory_lock(run):
        with pytest.raises(state.DirectoryBusyError, match=r"run: in use by another stdp-ray"):
            workflow.import_network(network_dir, run)
    assert sorted(p.name for p in run.iterdir()) == [state.LOCK_FILE]


def test_cli_exits_1_on_a_busy_directory(tmp_path, network_dir, caplog):
    run = tmp_path / "run"
    with state.directory_lock(run):
        assert main(["import", str(network_dir), str(run)]) == 1
    assert "in use by another stdp-ray process" in caplog.text
    assert main(["import", str(network_dir), str(run)]) == 0  # free again


@pytest.mark.parametrize("phase", [workflow.observe, workflow.test])
def test_evaluation_refuses_a_busy_run(tmp_path, network_dir, phase):
    run = tmp_path / "run"
    workflow.import_network(network_dir, run)
    with state.directory_lock(run):
        with pytest.raises(state.DirectoryBusyError, match="in use"):
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
    assert (run / tables.NETWORK_DIR / state.ARRAYS_NPZ).is_file()


def test_ensemble_refuses_while_a_member_is_busy(tmp_path, mnist_dir):
    root = tmp_path / "ens"
    with state.directory_lock(ensemble.member_dir(root, 2)):
        with pytest.raises(state.DirectoryBusyError, match=r"seed-2: in use"):
            ensemble.run_ensemble(root, TINY, [1, 2], samples=2, data_dir=mnist_dir,
                                  progress=False)
    # Nothing was trained: seed-1 holds its lock file only.
    assert sorted(p.name for p in ensemble.member_dir(root, 1).iterdir()) == [state.LOCK_FILE]
