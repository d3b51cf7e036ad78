"""Reading a run directory back: :class:`Run` and :func:`load_run` (no Ray, no simulation)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from .config import Config

__all__ = ["Run", "load_run"]


@dataclasses.dataclass(frozen=True)
class Run:
    """A run directory, read (:func:`load_run`): its records, network and tables.

    The tables are read from disk each time they are asked for, as pandas
    DataFrames; a table the run does not have (yet) is None.

    Attributes
    ----------
    path : pathlib.Path
        The run directory (for one on object storage: a local copy of it, as
        it was when :func:`load_run` read it).
    config : Config
        Its configuration.
    seed : int
        Its seed.
    network : stdp_ray.artifact.Network or None
        The trained network: ``arrays`` (``weights`` (784, N), ``theta``
        (N,) in volts, ``delays``), ``assignments`` (N,) and ``class_rates``
        (10, N) once observed (else None), ``provenance``; None before training.
    metrics : stdp_ray.rundir.RunMetrics or None
        ``metrics.json`` (``accuracy``, ``confusion_matrix``, ...); None before testing.
    provenance : dict
        Versions, host and time of the call that created the run.
    uri : str or None
        The URI of a run directory on object storage (``s3://...``); None
        for a local one.
    """

    path: Path
    config: Config
    seed: int
    network: Any = None
    metrics: Any = None
    provenance: dict = dataclasses.field(default_factory=dict, repr=False)
    uri: str | None = None

    def responses(self, phase: str = "test"):
        """The responses of ``phase`` ("observe" or "test"), one row per sample, in
        sample order; None if the phase has not run.

        Raises
        ------
        ValueError
            If ``phase`` is not "observe" or "test", or a part does not hold
            what its chunk must (:class:`stdp_ray.rundir.PartError`).
        """
        from . import rundir

        path = rundir.phase_dir(self.path, phase)
        if not rundir.part_paths(path):
            return None
        # Every part checked against its chunk; an interrupted phase reads as what it has.
        return rundir.read_phase(path, complete=False).to_pandas()

    def _table(self, name: str):
        from . import rundir

        path = self.path / name
        return rundir.read_table(path).to_pandas() if path.is_file() else None

    @property
    def assignments(self):
        """``assignments.parquet`` (one row per neuron: class, class rates), or None."""
        from . import rundir

        return self._table(rundir.ASSIGNMENTS_FILE)

    @property
    def predictions(self):
        """``predictions.parquet`` (one row per test sample), or None."""
        from . import rundir

        return self._table(rundir.PREDICTIONS_FILE)

    @property
    def train_stats(self):
        """The training statistics (one row per training sample), or None."""
        from . import rundir

        path = self.path / rundir.STATS_DIR
        if not rundir.part_paths(path):
            return None
        return rundir.read_parts(path, rundir.TRAIN_STATS_SCHEMA).to_pandas()

    @property
    def curve(self):
        """The learning curve (``curve/curve.parquet``, one row per snapshot and label
        set), or None."""
        from . import rundir

        return self._table(f"{rundir.CURVE_DIR}/{rundir.CURVE_FILE}")


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read a run directory (no Ray, no simulation): its configuration, network,
    metrics and tables.

    Parameters
    ----------
    run_dir : path or str
        A run directory (``stdp-ray train``/``run``/``import``, an ensemble's
        ``seed=<seed>`` member, a sweep's point), or its URI on object storage
        (``s3://bucket/prefix``: its committed content is copied to a local
        directory of this process first).

    Returns
    -------
    Run

    Raises
    ------
    ValueError
        If ``run_dir`` is not a run directory (an ensemble or sweep root
        included: the message names its members), or its files are unreadable
        (:class:`~stdp_ray.reading.ArtifactError`).
    """
    from . import artifact, rundir
    from .location import read_location
    from .uris import is_remote

    uri = run_dir if isinstance(run_dir, str) and is_remote(run_dir) else None
    path = read_location(run_dir if isinstance(run_dir, str) else os.fspath(run_dir))
    shown = uri or path
    if not path.is_dir():
        raise ValueError(f"{shown}: not a run directory (no such directory)")
    if not (path / rundir.RUN_CONFIG_FILE).is_file():
        for marker, kind in ((rundir.ENSEMBLE_FILE, "an ensemble"),
                             (rundir.SWEEP_FILE, "a sweep")):
            if (path / marker).is_file():
                runs = sorted(str(p.parent.relative_to(path))
                              for p in path.rglob(rundir.RUN_CONFIG_FILE))
                raise ValueError(f"{shown}: is {kind}, not a run directory; load one of its "
                                 f"runs: {', '.join(runs) or '(none yet)'}")
        raise ValueError(f"{shown}: not a run directory (no {rundir.RUN_CONFIG_FILE})")
    record = rundir.read_run_record(path)
    net_dir = path / rundir.NETWORK_DIR
    network = artifact.load_network(net_dir, expect=record.config) if net_dir.is_dir() else None
    return Run(path=path, config=record.config, seed=record.seed, network=network,
               metrics=rundir.read_metrics(path), provenance=record.provenance, uri=uri)
