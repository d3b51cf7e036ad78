"""The Arrow schemas of the tables and their builders."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from stdp_ray import rundir


SWEEP_ROW = {"point": "nu_post=0.01", "nu_post": 0.01, "seed": 1, "accuracy": 0.5,
             "n_samples": 10, "n_failed": 0, "train_failed": 1, "training_samples": 4,
             "training_seconds": 1.5, "run_dir": "nu_post=0.01/seed=1"}


def test_sweep_summary_types_each_setting_as_its_config_field():
    table = rundir.sweep_summary_table([SWEEP_ROW, {**SWEEP_ROW, "seed": 2}], ["nu_post"])
    assert table.column_names[:3] == ["point", "nu_post", "seed"]
    assert table.schema.field("nu_post").type == pa.float64()
    assert table.column("seed").to_pylist() == [1, 2]


def test_responses_round_trip_through_their_table_and_counts_matrix():
    counts = np.arange(12, dtype=np.int32).reshape(3, 4)
    table = rundir.responses_table([5, 6, 7], [1, 2, 3], counts, [2.0, 2.0, 4.0], [1, 1, 2],
                                   [False, False, True], chunk=9)
    assert table.schema.equals(rundir.RESPONSES_SCHEMA)
    np.testing.assert_array_equal(rundir.counts_matrix(table), counts)
    assert table.column("total_spikes").to_pylist() == counts.sum(axis=1).tolist()
    assert table.column("chunk").to_pylist() == [9, 9, 9]
    assert rundir.counts_matrix(table.slice(0, 0)).shape == (0, 0)
