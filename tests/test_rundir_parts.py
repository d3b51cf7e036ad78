"""Parquet parts and tables: names, order, metadata, reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stdp_ray import rundir


def _stats_rows(samples):
    return [{"sample": i, "image": i, "label": i % 10, "total_spikes": 5, "intensity": 2.0,
             "presentations": 1, "failed": False, "w_mean": 0.1, "w_std": 0.05,
             "theta_mean_mV": 20.0, "theta_std_mV": 0.0, "seconds": 0.25} for i in samples]


def test_parts_are_named_with_six_digits_at_least():
    assert rundir.part_name(3) == "part-000003.parquet"
    assert rundir.part_name(1_234_567) == "part-1234567.parquet"


@pytest.mark.parametrize("name, index", [("part-000003.parquet", 3),
                                         ("part-000001000.parquet", 1000),
                                         ("part-1234567.parquet", 1234567),
                                         ("part-x.parquet", None), ("part-3.csv", None)])
def test_a_part_index_is_read_from_names_of_any_width(name, index):
    assert rundir.part_index(name) == index


def test_parts_of_both_widths_are_read_in_index_order(tmp_path):
    # Nine digits (the width training statistics once had) beside six.
    for name, samples in (("part-000000004.parquet", [4, 5]), ("part-000000.parquet", [0, 1]),
                          ("part-000002.parquet", [2, 3]), ("part-000010.parquet", [10])):
        rundir.write_table(tmp_path / name, rundir.train_stats_table(_stats_rows(samples)))
    assert [rundir.part_index(p) for p in rundir.part_paths(tmp_path)] == [0, 2, 4, 10]
    stats = rundir.read_parts(tmp_path, rundir.TRAIN_STATS_SCHEMA)
    assert stats.column("sample").to_pylist() == [0, 1, 2, 3, 4, 5, 10]


def test_an_empty_or_missing_directory_reads_as_an_empty_table(tmp_path):
    assert rundir.read_parts(tmp_path / "missing", rundir.RESPONSES_SCHEMA).num_rows == 0


def test_every_table_carries_its_schema_version_units_and_identity(tmp_path):
    table = rundir.predictions_table(np.arange(2), np.array([1, 2]), np.array([1, 3]),
                                     np.zeros((2, 10)))
    path = rundir.write_table(tmp_path / "p.parquet", table,
                              identity={"seed": 3, "network": "abc", "config": "def"})
    meta = rundir.read_table_metadata(path)
    assert meta["schema_version"] == str(rundir.TABLE_SCHEMA_VERSION)
    assert json.loads(meta["units"]) == {"scores": "spikes per presentation"}
    assert (meta["seed"], meta["network"], meta["config"]) == ("3", "abc", "def")
    # The metadata does not get in the way of reading with the schema.
    assert rundir.read_table(path, rundir.PREDICTIONS_SCHEMA).num_rows == 2
