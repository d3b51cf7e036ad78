"""The Arrow schemas of a run directory's tables, and a builder of each table.

Responses (one row per presented sample of observe or test), training
statistics (per training sample), the label assignment (per neuron),
predictions (per test sample, of a run and of an ensemble), the learning curve
(per snapshot and label set) and a sweep's summary (per point and seed).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from ..config import Config
from ..network import NUM_CLASSES

__all__ = ["RESPONSES_SCHEMA", "TRAIN_STATS_SCHEMA", "ASSIGNMENTS_SCHEMA", "PREDICTIONS_SCHEMA",
           "ENSEMBLE_PREDICTIONS_SCHEMA", "CURVE_SCHEMA", "SWEEP_SUMMARY_COLUMNS",
           "responses_table", "train_stats_table", "assignments_table", "predictions_table",
           "ensemble_predictions_table", "curve_table", "sweep_summary_table", "counts_matrix"]


# Tables
# --------------------------------------------------------------------------
#: One row per presented sample of observe or test.
RESPONSES_SCHEMA = pa.schema([
    pa.field("sample", pa.int64(), nullable=False),         # index in the split
    pa.field("label", pa.int8(), nullable=False),           # true class
    pa.field("counts", pa.list_(pa.int32()), nullable=False),  # spikes per exc neuron
    pa.field("total_spikes", pa.int32(), nullable=False),   # sum of counts
    pa.field("intensity", pa.float32(), nullable=False),    # intensity of the final presentation
    pa.field("presentations", pa.int16(), nullable=False),  # presentations needed (1 = first)
    pa.field("failed", pa.bool_(), nullable=False),         # still < min_spikes at max intensity
    pa.field("chunk", pa.int32(), nullable=False),          # chunk that simulated it
])

#: One row per training sample.
TRAIN_STATS_SCHEMA = pa.schema([
    pa.field("sample", pa.int64(), nullable=False),         # 0-based training step
    pa.field("image", pa.int64(), nullable=False),          # index of the training image
    pa.field("label", pa.int8(), nullable=False),
    pa.field("total_spikes", pa.int32(), nullable=False),   # response spikes (final presentation)
    pa.field("intensity", pa.float32(), nullable=False),
    pa.field("presentations", pa.int16(), nullable=False),
    pa.field("failed", pa.bool_(), nullable=False),
    pa.field("w_mean", pa.float64(), nullable=False),       # input weights after the sample
    pa.field("w_std", pa.float64(), nullable=False),
    pa.field("theta_mean_mV", pa.float64(), nullable=False),
    pa.field("theta_std_mV", pa.float64(), nullable=False),
    pa.field("seconds", pa.float64(), nullable=False),      # wall time of the sample
])

#: One row per excitatory neuron.
ASSIGNMENTS_SCHEMA = pa.schema([
    pa.field("neuron", pa.int32(), nullable=False),
    pa.field("assigned_class", pa.int8(), nullable=False),
    pa.field("class_rates", pa.list_(pa.float64(), NUM_CLASSES),
             nullable=False),  # mean response per class
])

#: One row per test sample.
PREDICTIONS_SCHEMA = pa.schema([
    pa.field("sample", pa.int64(), nullable=False),
    pa.field("label", pa.int8(), nullable=False),
    pa.field("predicted", pa.int8(), nullable=False),
    pa.field("correct", pa.bool_(), nullable=False),
    pa.field("scores", pa.list_(pa.float64(), NUM_CLASSES), nullable=False),  # per-class mean
])

#: One row per test sample of an ensemble (its fields are nullable).
ENSEMBLE_PREDICTIONS_SCHEMA = pa.schema([
    pa.field("sample", pa.int64()),
    pa.field("label", pa.int8()),
    pa.field("predicted_sum", pa.int8()),                   # by the sum of members' scores
    pa.field("predicted_vote", pa.int8()),                  # by majority vote
    pa.field("scores_sum", pa.list_(pa.float64(), NUM_CLASSES)),  # members' scores summed
])


#: One row per (snapshot, label set) of a learning curve (:mod:`stdp_ray.curve`).
CURVE_SCHEMA = pa.schema([
    pa.field("samples_seen", pa.int64(), nullable=False),   # training samples of the snapshot
    pa.field("epochs", pa.float64(), nullable=False),       # samples_seen / training images
    pa.field("label_samples", pa.int64(), nullable=False),  # training images labels came from
    pa.field("test_samples", pa.int64(), nullable=False),   # test images scored
    pa.field("accuracy", pa.float64(), nullable=False),     # fraction correct (0..1)
    pa.field("classes_covered", pa.int16(), nullable=False),  # classes assigned to >= 1 neuron
    pa.field("n_failed", pa.int64(), nullable=False),       # test samples < min_spikes at max
    pa.field("mean_spikes", pa.float64(), nullable=False),  # test response spikes per sample
    pa.field("mean_presentations", pa.float64(), nullable=False),  # per test sample
    pa.field("theta_mean_mV", pa.float64(), nullable=False),  # adaptive threshold, mean
    pa.field("network", pa.string(), nullable=False),       # network fingerprint
])


def curve_table(rows: list[Mapping[str, Any]]) -> pa.Table:
    """Build a :data:`CURVE_SCHEMA` table from rows (dicts of its columns), in curve order."""
    rows = sorted(rows, key=lambda r: (r["samples_seen"], r["label_samples"]))
    return pa.Table.from_pylist(list(rows), schema=CURVE_SCHEMA)


def responses_table(samples, labels, counts, intensities, presentations, failed,
                    chunk: int) -> pa.Table:
    """Build a :data:`RESPONSES_SCHEMA` table from per-sample arrays."""
    counts = np.asarray(counts, dtype=np.int32)
    n, width = counts.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    counts_col = pa.ListArray.from_arrays(pa.array(offsets), pa.array(counts.reshape(-1)))
    return pa.Table.from_arrays([
        pa.array(np.asarray(samples, dtype=np.int64)),
        pa.array(np.asarray(labels, dtype=np.int8)),
        counts_col,
        pa.array(counts.sum(axis=1).astype(np.int32)),
        pa.array(np.asarray(intensities, dtype=np.float32)),
        pa.array(np.asarray(presentations, dtype=np.int16)),
        pa.array(np.asarray(failed, dtype=bool)),
        pa.array(np.full(n, chunk, dtype=np.int32)),
    ], schema=RESPONSES_SCHEMA)


def train_stats_table(rows: list[Mapping[str, Any]]) -> pa.Table:
    """Build a :data:`TRAIN_STATS_SCHEMA` table from per-sample rows (dicts of its columns)."""
    return pa.Table.from_pylist(list(rows), schema=TRAIN_STATS_SCHEMA)


def assignments_table(assignments: np.ndarray, class_rates: np.ndarray) -> pa.Table:
    """Build the :data:`ASSIGNMENTS_SCHEMA` table (one row per neuron).

    Parameters
    ----------
    assignments : ndarray, (n_neurons,) int
    class_rates : ndarray, (10, n_neurons)
        Mean response (spikes per presentation) of each neuron to each class.
    """
    n = len(assignments)
    flat = pa.array(np.asarray(class_rates, dtype=np.float64).T.reshape(-1))
    return pa.Table.from_arrays([
        pa.array(np.arange(n, dtype=np.int32)),
        pa.array(np.asarray(assignments, dtype=np.int8)),
        pa.FixedSizeListArray.from_arrays(flat, NUM_CLASSES),
    ], schema=ASSIGNMENTS_SCHEMA)


def predictions_table(samples, labels, predicted, scores) -> pa.Table:
    """Build a :data:`PREDICTIONS_SCHEMA` table from arrays (``scores``: (n, 10))."""
    scores = np.asarray(scores, dtype=np.float64)
    flat = pa.array(scores.reshape(-1))
    return pa.Table.from_arrays([
        pa.array(np.asarray(samples, dtype=np.int64)),
        pa.array(np.asarray(labels, dtype=np.int8)),
        pa.array(np.asarray(predicted, dtype=np.int8)),
        pa.array(np.asarray(labels) == np.asarray(predicted)),
        pa.FixedSizeListArray.from_arrays(flat, NUM_CLASSES),
    ], schema=PREDICTIONS_SCHEMA)


def ensemble_predictions_table(samples, labels, predicted_sum, predicted_vote,
                               scores_sum) -> pa.Table:
    """Build an :data:`ENSEMBLE_PREDICTIONS_SCHEMA` table from arrays (``scores_sum``: (n, 10))."""
    return pa.Table.from_arrays([
        pa.array(np.asarray(samples), pa.int64()),
        pa.array(np.asarray(labels), pa.int8()),
        pa.array(np.asarray(predicted_sum), pa.int8()),
        pa.array(np.asarray(predicted_vote), pa.int8()),
        pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(scores_sum).reshape(-1)),
                                          NUM_CLASSES),
    ], schema=ENSEMBLE_PREDICTIONS_SCHEMA)


def counts_matrix(table: pa.Table) -> np.ndarray:
    """The ``counts`` list column as an (n_samples, n_neurons) int32 array."""
    col = table.column("counts").combine_chunks()
    if len(col) == 0:
        return np.zeros((0, 0), dtype=np.int32)
    flat = col.flatten().to_numpy(zero_copy_only=False)
    return flat.reshape(len(col), -1).astype(np.int32)



#: The columns of ``sweep.parquet`` after the swept settings (one column each, typed as
#: the Config field).
SWEEP_SUMMARY_COLUMNS = pa.schema([
    ("seed", pa.int64()),
    ("accuracy", pa.float64()),
    ("n_samples", pa.int64()),
    ("n_failed", pa.int64()),
    ("train_failed", pa.int64()),
    ("training_samples", pa.int64()),
    ("training_seconds", pa.float64()),
    ("run_dir", pa.string()),
])

_SETTING_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(),
                  "float | None": pa.float64()}


def sweep_summary_table(rows: list[Mapping[str, Any]], grid_fields: list[str]) -> pa.Table:
    """``sweep.parquet``: one row per point and seed.

    Columns: ``point`` (its directory, e.g. ``nu_post=0.005/theta_plus_mV=0.03``),
    each swept field (typed as in :class:`~stdp_ray.config.Config`), then
    :data:`SWEEP_SUMMARY_COLUMNS`: ``seed``, ``accuracy`` (test), ``n_samples``
    (test samples), ``n_failed`` (test samples still under ``min_spikes`` at
    ``max_intensity``), ``train_failed`` (the same in training; null where the run
    has no training statistics, as a point restored from shipped results),
    ``training_samples``, ``training_seconds`` (sum of the per-sample times) and
    ``run_dir`` (relative to the root).
    """
    types = {f.name: _SETTING_TYPES[str(f.type)] for f in dataclasses.fields(Config)}
    schema = pa.schema([("point", pa.string())]
                       + [(name, types[name]) for name in grid_fields]
                       + list(SWEEP_SUMMARY_COLUMNS))
    return pa.Table.from_pylist([dict(r) for r in rows], schema=schema)
