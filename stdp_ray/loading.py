"""Reading a run directory back: :class:`Run` and :func:`load_run` (no Ray, no simulation)."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from .config import Config

__all__ = ["Run", "TrainingState", "load_run", "training_state"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainingState:
    """Which training sample a run's network is from, and how far its training has come.

    Attributes
    ----------
    network_samples : int or None
        Training samples of the saved network (``network/``): what every
        reader shows; None before the first training ended.
    network : str or None
        The saved network's fingerprint (:func:`stdp_ray.network.network_fingerprint`),
        which every table derived from it records.
    samples_done : int or None
        Training samples in the committed statistics (``train/stats``): beyond
        ``network_samples`` while a training runs; None without statistics.
    in_progress : bool
        A writer (``train``, ``observe``, ``test``...) holds the run now.
    """

    network_samples: int | None = None
    network: str | None = None
    samples_done: int | None = None
    in_progress: bool = False

    def describe(self) -> str:
        """One line: the network's training sample and the training's progress."""
        shown = (f"network after {self.network_samples:,} training samples"
                 if self.network_samples is not None else "no trained network yet")
        if self.samples_done is not None and self.samples_done != self.network_samples:
            shown += f"; training statistics up to sample {self.samples_done:,}"
        return shown + ("; a command is working on the run now" if self.in_progress else "")

    def as_dict(self) -> dict:
        """The fields as a dict (for JSON)."""
        return dataclasses.asdict(self)


def _samples_done(path: Path) -> int | None:
    """One past the newest training sample in the committed statistics, or None."""
    from . import rundir

    parts = rundir.part_paths(path / rundir.STATS_DIR)
    if not parts:
        return None
    sample = rundir.read_table(parts[-1], columns=("sample",)).column("sample")
    return int(max(sample.to_pylist(), default=-1)) + 1 or None


def training_state(path: str | os.PathLike, network=None, *, remote=None) -> TrainingState:
    """The :class:`TrainingState` of a run directory (``network``: its network, if read)."""
    from . import artifact, locks, rundir
    from .network import network_fingerprint

    path = Path(path) if not isinstance(path, Path) else path
    if network is None and (path / rundir.NETWORK_DIR).is_dir():
        network = artifact.load_network(path / rundir.NETWORK_DIR)
    samples = network.provenance.get("training_samples") if network is not None else None
    return TrainingState(
        network_samples=int(samples) if isinstance(samples, int) else None,
        network=network_fingerprint(network.arrays) if network is not None else None,
        samples_done=_samples_done(path),
        in_progress=locks.writer_active(path, remote=remote))


def _other_network(what: str, recorded: str | None, current: str | None) -> bool:
    """Whether ``what`` was computed from another network than the run's (logged if so)."""
    if recorded is None or current is None or recorded == current:
        return False  # nothing to compare (a shipped run keeps no network/)
    logger.warning("%s: computed from another network (%s) than the run's (%s): not shown; "
                   "observe and test again", what, recorded, current or "none")
    return True


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
    training : TrainingState
        Which training sample ``network`` is from (``training.network_samples``),
        how far a training in progress has come, and whether a command is
        working on the run now. Every table shown is one of this network's:
        one computed from another (an older network, before training
        continued) reads as None.

    Examples
    --------
    >>> run = stdp_ray.load_run(run_dir)
    >>> run.seed, run.config.n_neurons
    (3, 10)
    >>> run.training.network_samples, run.metrics.accuracy
    (60, 0.5)
    >>> run.predictions[["sample", "label", "predicted"]].head(2)
       sample  label  predicted
    0       0      7          7
    1       1      2          1
    """

    path: Path
    config: Config
    seed: int
    network: Any = None
    metrics: Any = None
    provenance: dict = dataclasses.field(default_factory=dict, repr=False)
    uri: str | None = None
    training: TrainingState = dataclasses.field(default_factory=TrainingState)

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
        manifest = rundir.read_manifest(path)
        if manifest is not None and _other_network(f"{path}", manifest.network,
                                                   self.training.network):
            return None
        # Every part checked against its chunk; an interrupted phase reads as what it has.
        return rundir.read_phase(path, complete=False).to_pandas()

    def _table(self, name: str):
        from . import rundir

        path = self.path / name
        if not path.is_file():
            return None
        table = rundir.read_table(path)
        recorded = (table.schema.metadata or {}).get(b"stdp_ray.network")
        if _other_network(str(path), recorded.decode() if recorded else None,
                          self.training.network):
            return None
        return table.to_pandas()

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
        Read from committed files only, so also while the run trains (no lock
        is taken): ``run.training`` says which training sample its network
        is from.

    Raises
    ------
    ValueError
        If ``run_dir`` is not a run directory (an ensemble or sweep root
        included: the message names its members), or its files are unreadable
        (:class:`~stdp_ray.reading.ArtifactError`).

    Examples
    --------
    >>> run = stdp_ray.load_run(run_dir)
    >>> run.training.describe()
    'network after 60 training samples'
    >>> frame = run.responses("test")
    >>> frame[["sample", "label", "total_spikes"]].to_dict("records")[0]
    {'sample': 0, 'label': 7, 'total_spikes': 5}
    >>> stdp_ray.load_run(run_dir.parent)
    Traceback (most recent call last):
    ValueError: ...: not a run directory (no config.json)
    """
    from . import artifact, rundir
    from .location import read_location
    from .uris import is_remote, parse_location

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
    remote = parse_location(uri) if uri is not None else None
    training = training_state(path, network, remote=remote)
    metrics = rundir.read_metrics(path)
    if metrics is not None and _other_network(str(path / rundir.METRICS_FILE),
                                              metrics.network, training.network):
        metrics = None
    return Run(path=path, config=record.config, seed=record.seed, network=network,
               metrics=metrics, provenance=record.provenance, uri=uri, training=training)
