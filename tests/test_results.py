"""The API's records: typed, frozen, ``as_dict()`` the JSON the command line prints (no Ray)."""

from __future__ import annotations

import dataclasses
import doctest
import typing

import pytest

import stdp_ray
from stdp_ray import api, results
from stdp_ray.rundir import RunMetrics

#: The API functions that return a record of stdp_ray.results, and its class.
RECORDS = {"train": "TrainResult", "observe": "ObserveResult", "test": "TestResult",
           "run": "TestResult", "ensemble": "EnsembleResult", "sweep": "SweepResult",
           "learning_curve": "CurveResult", "write_report": "ReportResult",
           "import_network": "ImportResult", "inspect": "InspectResult"}


@pytest.mark.parametrize("name,record", sorted(RECORDS.items()))
def test_every_command_function_is_annotated_with_its_record(name, record):
    hints = typing.get_type_hints(getattr(api, name))
    assert hints["return"] is getattr(results, record)
    cls = getattr(results, record)
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    assert "Attributes" in cls.__doc__  # documented fields


def test_a_test_result_reads_as_its_metrics_and_prints_as_before():
    metrics = RunMetrics(accuracy=0.75, confusion_matrix=[[3, 1], [0, 0]], n_samples=4,
                         network="abc", training_samples=60)
    result = results.TestResult(metrics, {"0": {"node": "n1"}})
    assert (result.accuracy, result["accuracy"], result.metrics) == (0.75, 0.75, metrics)
    assert result.as_dict() == {**metrics.to_dict(), "placement": {"0": {"node": "n1"}}}
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.placement = {}


def test_a_train_result_prints_its_curve_only_when_there_is_one():
    plain = results.TrainResult.from_summary({"samples": 20, "seconds": 1.5, "resumed_from": 0})
    assert plain.as_dict() == {"samples": 20, "seconds": 1.5, "resumed_from": 0}
    curved = results.TrainResult.from_summary({"samples": 20, "seconds": 1.5,
                                               "curve": [0.1, 0.2]})
    assert curved.curve == (0.1, 0.2) and curved["curve"] == [0.1, 0.2]
    assert {**results.ImportResult(seed=3, neurons=10)} == {"seed": 3, "neurons": 10}


def test_a_report_result_iterates_over_the_files_written(tmp_path):
    written = (tmp_path / "a.png", tmp_path / "report.md")
    result = results.ReportResult(written)
    assert list(result) == list(written) and len(result) == 2
    assert result.as_dict() == {"written": [str(p) for p in written]}


def test_make_configs_examples_run():
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(api.make_config, "make_config",
                                             globs={"stdp_ray": stdp_ray}):
        runner.run(test)
    assert runner.summarize(verbose=False) == (0, 3)

