"""Arrow schemas and Parquet files of a run directory.

Layout of a run directory (file names are the constants below)::

    RUN_DIR/
      config.json                     the run's configuration (+ provenance)
      network/                        the network artifact (see stdp_ray.state)
      train/stats/part-*.parquet      one row per training sample
      train/checkpoints/ckpt-*/       training checkpoints
      responses/phase=observe/part-*.parquet
      responses/phase=test/part-*.parquet
      assignments.parquet             one row per excitatory neuron
      predictions.parquet             one row per test sample
      metrics.json                    accuracy, confusion matrix, timings
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .state import atomic_write_bytes

__all__ = ["RESPONSES_SCHEMA", "TRAIN_STATS_SCHEMA", "PREDICTIONS_SCHEMA", "ASSIGNMENTS_SCHEMA",
           "responses_table", "write_table", "read_table", "read_parts", "part_name",
           "RESPONSES_DIR", "TRAIN_DIR", "STATS_DIR", "CHECKPOINTS_DIR", "NETWORK_DIR",
           "ASSIGNMENTS_FILE", "PREDICTIONS_FILE", "METRICS_FILE", "RUN_CONFIG_FILE",
           "ENSEMBLE_FILE", "ENSEMBLE_METRICS_FILE", "ENSEMBLE_PREDICTIONS_FILE"]

NETWORK_DIR = "network"
TRAIN_DIR = "train"
STATS_DIR = "train/stats"
CHECKPOINTS_DIR = "train/checkpoints"
RESPONSES_DIR = "responses"
ASSIGNMENTS_FILE = "assignments.parquet"
PREDICTIONS_FILE = "predictions.parquet"
METRICS_FILE = "metrics.json"
RUN_CONFIG_FILE = "config.json"
#: An ensemble root (see :mod:`stdp_ray.ensemble`): its settings mark the directory
#: as an ensemble; its metrics file has the run's name but the ensemble's keys.
ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_METRICS_FILE = METRICS_FILE
ENSEMBLE_PREDICTIONS_FILE = "ensemble_predictions.parquet"

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
    pa.field("class_rates", pa.list_(pa.float64(), 10), nullable=False),  # mean response per class
])

#: One row per test sample.
PREDICTIONS_SCHEMA = pa.schema([
    pa.field("sample", pa.int64(), nullable=False),
    pa.field("label", pa.int8(), nullable=False),
    pa.field("predicted", pa.int8(), nullable=False),
    pa.field("correct", pa.bool_(), nullable=False),
    pa.field("scores", pa.list_(pa.float64(), 10), nullable=False),  # per-class mean response
])


def part_name(index: int) -> str:
    """File name of chunk ``index`` of a partitioned table."""
    return f"part-{index:06d}.parquet"


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


def counts_matrix(table: pa.Table) -> np.ndarray:
    """The ``counts`` list column as an (n_samples, n_neurons) int32 array."""
    col = table.column("counts").combine_chunks()
    if len(col) == 0:
        return np.zeros((0, 0), dtype=np.int32)
    flat = col.flatten().to_numpy(zero_copy_only=False)
    return flat.reshape(len(col), -1).astype(np.int32)


def write_table(path: str | os.PathLike, table: pa.Table) -> Path:
    """Write a Parquet file atomically."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return atomic_write_bytes(path, buf.getvalue())


def read_table(path: str | os.PathLike, schema: pa.Schema | None = None) -> pa.Table:
    """Read one Parquet file, optionally checking its schema."""
    table = pq.read_table(path)
    if schema is not None and not table.schema.equals(schema, check_metadata=False):
        raise ValueError(f"{path}: schema {table.schema} differs from the expected {schema}")
    return table


def read_parts(directory: str | os.PathLike, schema: pa.Schema) -> pa.Table:
    """Concatenate the ``part-*.parquet`` files of a directory in name order."""
    directory = Path(directory)
    parts = sorted(directory.glob("part-*.parquet"))
    if not parts:
        return schema.empty_table()
    return pa.concat_tables([read_table(p, schema) for p in parts])
