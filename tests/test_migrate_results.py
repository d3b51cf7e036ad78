"""scripts/migrate_results.py: older layouts to the current one, in place, once."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from pathlib import Path

import pytest

from stdp_ray import evaluation, report, rundir
from stdp_ray.rundir import legacy

ROOT = Path(__file__).resolve().parents[1]
OLD = Path(__file__).parent / "data" / "written-by-12aa4be"

_SPEC = importlib.util.spec_from_file_location("migrate_results",
                                               ROOT / "scripts" / "migrate_results.py")
migrate_results = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(migrate_results)


@pytest.fixture
def old_ensemble(tmp_path):
    root = Path(shutil.copytree(OLD / "ensemble", tmp_path / "ensemble"))
    report.write_ensemble_report(root)
    return root


@pytest.fixture
def old_run(tmp_path):
    return Path(shutil.copytree(OLD / "run", tmp_path / "run"))


def test_the_shipped_results_are_in_the_current_layout(monkeypatch):
    monkeypatch.chdir(ROOT)  # their reports name them as results/<name>
    assert migrate_results.migrate(Path("results"), apply=False) == []


def test_an_older_ensemble_gets_hive_named_members_and_its_headline(old_ensemble, caplog):
    changes = migrate_results.migrate(old_ensemble)
    assert any("renamed seed=1" in c for c in changes)
    assert sorted(p.name for p in old_ensemble.iterdir() if p.name.startswith("seed")) == [
        "seed=1", "seed=2"]
    raw = json.loads((old_ensemble / "metrics.json").read_text())
    assert next(iter(raw)) == "accuracy" and raw["accuracy"] == raw["ensemble_accuracy_sum"]
    assert [m["run_dir"] for m in raw["members"]] == ["seed=1", "seed=2"]
    with caplog.at_level(logging.WARNING, logger=legacy.__name__):
        assert rundir.member_dir(old_ensemble, 1) == old_ensemble / "seed=1"
    assert not caplog.records  # no older layout left to read
    md = (old_ensemble / "report" / "report.md").read_text()
    assert "[report](../seed=1/report/report.md)" in md and "seed-1" not in md
    assert f"Ensemble directory: `{old_ensemble.as_posix()}`" in md
    assert "seed=2" in (old_ensemble / "seed=2" / "report" / "report.md").read_text()


def test_an_older_run_gets_its_manifests_beside_the_dataset_and_table_metadata(old_run):
    migrate_results.migrate(old_run)
    for phase in rundir.PHASES:
        folder = rundir.phase_dir(old_run, phase)
        assert rundir.stored_manifest_path(folder) == rundir.manifest_path(folder)
        assert not (folder / legacy.MANIFEST_FILE).exists()
        assert evaluation.responses(folder).num_rows > 0
    meta = rundir.read_table_metadata(old_run / rundir.PREDICTIONS_FILE)
    assert (meta["schema_version"], meta["seed"]) == (str(rundir.TABLE_SCHEMA_VERSION), "3")
    assert meta["network"] == rundir.read_metrics(old_run).network
    for part in rundir.part_paths(rundir.phase_dir(old_run, "test")):
        assert rundir.read_table_metadata(part)["phase"] == "test"


@pytest.mark.parametrize("fixture", ["old_ensemble", "old_run"])
def test_a_second_migration_changes_nothing(request, fixture):
    path = request.getfixturevalue(fixture)
    assert migrate_results.migrate(path)
    assert migrate_results.migrate(path) == []


def test_check_lists_the_changes_and_makes_none(old_ensemble):
    before = sorted(p.relative_to(old_ensemble) for p in old_ensemble.rglob("*"))
    assert migrate_results.main(["--check", str(old_ensemble)]) == 1
    assert sorted(p.relative_to(old_ensemble) for p in old_ensemble.rglob("*")) == before
    assert migrate_results.main([str(old_ensemble)]) == 0
    assert migrate_results.main(["--check", str(old_ensemble)]) == 0


def test_a_missing_directory_is_refused(tmp_path, caplog):
    assert migrate_results.main([str(tmp_path / "none")]) == 2
    assert "none: no such directory" in caplog.text
