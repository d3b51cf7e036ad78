"""The run directory, the ensemble root and the sweep root: every path, table and record in them.

This package is the one owner of their layout. Every other module reaches a
file of a run directory through the names, functions and records here; none
spells a file name of its own. Its modules:

- :mod:`~stdp_ray.rundir.layout`: names of files and directories, and the paths
  built from them (phases, members, sweep points, checkpoints, snapshots), and
  which files are derived from a phase;
- :mod:`~stdp_ray.rundir.parts`: Parquet parts and tables: names, key-value
  metadata, atomic writes, reads;
- :mod:`~stdp_ray.rundir.schemas`: the Arrow schema of each table and its builder;
- :mod:`~stdp_ray.rundir.records`: the typed records of the JSON files, one
  writer and one reader each;
- :mod:`~stdp_ray.rundir.manifests`: a phase's manifest and where it sits;
- :mod:`~stdp_ray.rundir.phases`: a phase's response parts, each checked
  against its chunk before it is used;
- :mod:`~stdp_ray.rundir.temporaries`: what interrupted writes leave, and the
  sweep that removes it;
- :mod:`~stdp_ray.rundir.legacy`: the names of older layouts, read until
  :data:`~stdp_ray.rundir.legacy.READ_UNTIL`.

Their public names are all here: ``from stdp_ray import rundir; rundir.X``.

Layout of a run directory::

    RUN_DIR/
      config.json                     the run's configuration, seed, provenance
      network/                        the network artifact (see stdp_ray.artifact)
      train/stats/part-*.parquet      one row per training sample
      train/checkpoints/ckpt-*/       training checkpoints (state.json, arrays.npz, dynamic.npz)
      train/snapshots/snap-*/         networks kept every --eval-every samples (never pruned)
      curve/snap-*/phase=*/           responses of each snapshot (labels, then test)
      curve/curve.parquet             the learning curve: one row per snapshot and label set
      curve/learning_curve.png, curve/receptive_fields_over_training.png
      responses/phase=observe/part-*.parquet
      responses/phase=test/part-*.parquet
      _manifests/responses/phase=observe.json, phase=test.json   what the parts were computed from
      assignments.parquet             one row per excitatory neuron
      predictions.parquet             one row per test sample
      metrics.json                    accuracy, confusion matrix, timings
      report/                         figures, training_summary.csv, report.md
      .lock                           held by the process working on it (stdp_ray.locks)

Layout of an ensemble root::

    ROOT/
      ensemble.json                   Config, seeds, settings
      seed=1/ seed=2/ ...             run directories (train, observe, test), hive-named
      ensemble_predictions.parquet    per test sample: label, both ensemble predictions
      metrics.json                    member accuracies, mean member, accuracy vs K
      report/                         ensemble_accuracy.png, report.md

Layout of a sweep root (one run directory per point and seed, named as hive
partitions so that readers recover the settings and the seed)::

    ROOT/
      sweep.json                      base Config, grid, seeds, sample counts
      nu_post=0.005/theta_plus_mV=0.03/seed=1/   a run directory
      ...
      sweep.parquet                   one row per point and seed: settings, accuracy, ...
      sweep.png                       accuracy against each swept setting

A dataset folder (``responses/``, a phase's folder) holds Parquet parts only,
so that ``pyarrow.dataset``, duckdb and polars read it as it is (hive
partitioning recovers ``phase``; over an ensemble root also ``seed``); what
a phase's parts were computed from sits beside it (:mod:`~stdp_ray.rundir.manifests`).
"""

from __future__ import annotations

from . import layout, legacy, manifests, parts, phases, records, schemas, temporaries
from .layout import *  # noqa: F401,F403
from .manifests import *  # noqa: F401,F403
from .parts import *  # noqa: F401,F403
from .phases import *  # noqa: F401,F403
from .records import *  # noqa: F401,F403
from .schemas import *  # noqa: F401,F403
from .temporaries import *  # noqa: F401,F403

__all__ = [*layout.__all__, *parts.__all__, *schemas.__all__, *records.__all__,
           *manifests.__all__, *phases.__all__, *temporaries.__all__, "legacy"]
