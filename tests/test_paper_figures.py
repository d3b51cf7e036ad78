"""scripts/paper_figures.py: one command redraws results/'s figures from the shipped runs."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = runpy.run_path(str(ROOT / "scripts" / "paper_figures.py"))


@pytest.fixture()
def results(tmp_path) -> Path:
    """A copy of the shipped results, without the networks and checkpoints."""
    dest = tmp_path / "results"
    shutil.copytree(ROOT / "results", dest, ignore=shutil.ignore_patterns(
        "networks", "checkpoints", "*.svg", "paper-table*"))
    return dest


def test_every_figure_of_the_shipped_results_is_redrawn_as_png_and_svg(results):
    assert SCRIPT["main"]([str(results)]) == 0
    for name in ("paper-table.png", "paper-table.svg", "paper-table-compute.svg",
                 "paper-table.md", "n400-seed42-3ep/curve/learning_curve.svg",
                 "n400-seed42-3ep/report/learning_curve.svg",
                 "sweep-n100-theta/sweep.svg", "ensemble-n400-1ep/report/ensemble_accuracy.svg"):
        assert (results / name).stat().st_size > 0, name
    rows = json.loads((results / "paper-table.json").read_text())["rows"]
    seeds = [r for r in rows if r["kind"] == "seeds"]
    assert seeds and all(r["sd"] > 0 and r["ci_low"] < r["accuracy"] < r["ci_high"]
                         for r in seeds)
    assert "**differs**" in (results / "paper-table.md").read_text()   # 100 neurons, 55.80 %


def test_a_row_whose_directory_is_missing_is_named(results):
    shutil.rmtree(results / "n800-seed42-20k")
    with pytest.raises(Exception, match="n800-seed42-20k"):
        SCRIPT["main"]([str(results)])
