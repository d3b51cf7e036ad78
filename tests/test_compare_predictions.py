"""scripts/compare_predictions.py: agreement and accuracies of two prediction tables."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "compare_predictions",
    Path(__file__).resolve().parents[1] / "scripts" / "compare_predictions.py")
compare_predictions = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(compare_predictions)


def _table(directory: Path, labels, predicted) -> Path:
    directory.mkdir(parents=True)
    pd.DataFrame({"sample": range(len(labels)), "label": labels, "predicted": predicted,
                  "correct": [a == b for a, b in zip(labels, predicted)]}).to_parquet(
        directory / "predictions.parquet")
    return directory


def test_pairs_are_compared_on_the_images_both_scored(tmp_path):
    a = _table(tmp_path / "a", [1, 2, 3, 4], [1, 2, 3, 0])
    b = _table(tmp_path / "b", [1, 2, 3, 4], [1, 2, 0, 0])
    assert compare_predictions.main([str(tmp_path / "cmp"), "--pair", "x", str(a), str(b)]) == 0
    row = json.loads((tmp_path / "cmp.json").read_text())["x"]
    assert row["images"] == 4 and row["agreement"] == 0.75
    assert row["reference_accuracy"] == 0.75 and row["other_accuracy"] == 0.5
    assert row["difference_points"] == pytest.approx(-25.0)
    assert "| x | 4 | 75.00 % | 75.00 % | 50.00 % | -25.00 points |" in (
        tmp_path / "cmp.md").read_text()


def test_tables_of_other_test_images_are_refused(tmp_path):
    a = _table(tmp_path / "a", [1, 2], [1, 2])
    b = _table(tmp_path / "b", [1, 3], [1, 2])
    with pytest.raises(SystemExit, match="labels differ"):
        compare_predictions.compare(a, b)


@pytest.mark.parametrize("successes, n, low, high", [(50, 100, 0.4038, 0.5962),
                                                     (9191, 10000, 0.9136, 0.9243)])
def test_wilson_interval(successes, n, low, high):
    lo, hi = compare_predictions.wilson(successes, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)
