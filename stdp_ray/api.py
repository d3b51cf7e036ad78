"""The Python API: the workflow as functions, and a run directory as one object.

``import stdp_ray`` exports these names lazily (``stdp_ray/__init__.py``), so
that importing the package starts neither Ray nor Brian2::

    import stdp_ray

    stdp_ray.train("runs/demo", {"n_neurons": 100}, samples=1000, seed=1)
    stdp_ray.observe("runs/demo", samples=1000)
    stdp_ray.test("runs/demo", samples=1000)
    run = stdp_ray.load_run("runs/demo")
    run.predictions.head()

Each function does what the ``stdp-ray`` command of the same name does
(:mod:`stdp_ray.workflow`, :mod:`stdp_ray.ensembles`, :mod:`stdp_ray.sweeps`):
it checks its inputs, joins or starts Ray (:func:`init_ray`, a no-op when Ray
is already running in this process) and writes the same run directory.
Failures raise exceptions instead of exiting (:class:`~stdp_ray.workflow.RunError`,
:class:`~stdp_ray.config.ConfigError`, ... all :class:`ValueError`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import Config, apply_settings, read_config_file
from .connect import init_ray

logger = logging.getLogger(__name__)

__all__ = ["train", "observe", "test", "run", "ensemble", "sweep", "load_run", "init_ray",
           "Run", "make_config"]

#: What a configuration argument may be.
ConfigLike = Config | Mapping[str, Any] | str | os.PathLike | None


def make_config(config: ConfigLike = None, **settings: Any) -> Config:
    """A :class:`~stdp_ray.config.Config` from whatever the API's functions accept.

    Parameters
    ----------
    config : Config, mapping, path or None
        A Config; a mapping of Config fields over the defaults
        (``{"n_neurons": 100}``); a TOML or JSON file (as ``--config``: a
        run's ``config.json`` works too); None for the defaults.
    **settings
        Config fields applied over ``config`` (as ``--set``).

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        Naming the field, the value and the allowed range.
    TypeError
        If ``config`` is of another type.
    """
    if config is None:
        cfg = Config()
    elif isinstance(config, Config):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = apply_settings(Config(), config, source="config")
    elif isinstance(config, (str, os.PathLike)):
        cfg = read_config_file(config)
    else:
        raise TypeError(f"config == {config!r}, must be a Config, a mapping of its fields, a "
                        "path to a TOML/JSON file, or None")
    return apply_settings(cfg, settings, source="settings") if settings else cfg


def _start(address: str | None, workers: int | None) -> None:
    init_ray(address, workers)


@contextlib.contextmanager
def _location(run_dir: str | os.PathLike, *, write: bool = True):
    """The run directory as a :class:`~stdp_ray.location.Location` while the block runs.

    A path is made absolute here: Ray's workers (the training actor) keep the
    working directory Ray started in, which a notebook may have left since. A
    URI (``s3://``, ``gs://``) is checked, its lease taken and its content
    pulled into a mirror whose writes reach the store
    (:func:`stdp_ray.location.open_location`), before Ray starts.
    """
    from .location import open_location

    with open_location(run_dir if isinstance(run_dir, str) else os.fspath(run_dir),
                       write=write) as local:
        yield local.absolute()


def train(run_dir: str | os.PathLike, config: ConfigLike = None, *, samples: int,
          seed: int = 42, data_dir: str | os.PathLike | None = None,
          eval_every: int | None = None, threads: int = 1, progress: bool = True,
          address: str | None = None, workers: int | None = None, **settings: Any) -> dict:
    """Train (or resume training) a run directory's network, as ``stdp-ray train``.

    Parameters
    ----------
    run_dir : path
        The run directory (created; resumed if it holds this configuration and seed).
    config : Config, mapping, path or None
        The configuration (see :func:`make_config`); default: the defaults.
    samples : int
        Training samples in all (a rerun continues up to it).
    seed : int, default 42
        Seeds the initial network and every input spike train.
    data_dir : path, optional
        MNIST's directory (default ``$STDP_RAY_DATA``, see :func:`stdp_ray.data.default_data_dir`).
    eval_every : int, optional
        Keep a snapshot every that many samples (learning curves, :mod:`stdp_ray.curve`).
    threads : int, default 1
        Threads of the training actor (native engine).
    progress : bool, default True
        Show a progress bar.
    address : str, optional
        A Ray cluster to join (default ``$RAY_ADDRESS``, else a local Ray).
    workers : int, optional
        CPUs of a local Ray.
    **settings
        Config fields over ``config`` (``n_neurons=100``).

    Returns
    -------
    dict
        The training summary (``samples``, ``seconds``, ...).
    """
    from . import workflow

    cfg = make_config(config, **settings)
    with _location(run_dir) as local:
        _start(address, workers)
        cfg = workflow.resolve_backend(cfg)
        return workflow.train(local, cfg, seed=seed, samples=samples,
                              data_dir=data_dir, eval_every=eval_every, threads=threads,
                              progress=progress)


def observe(run_dir: str | os.PathLike, *, samples: int | None = 10_000,
            data_dir: str | os.PathLike | None = None, backend: str | None = None,
            chunk_size: int | None = None, overwrite: bool = False, progress: bool = True,
            address: str | None = None, workers: int | None = None) -> dict:
    """Assign each neuron a class from training images, as ``stdp-ray observe``.

    Parameters
    ----------
    run_dir : path
        A trained run directory.
    samples : int or None, default 10000
        The first ``samples`` training images (None: all).
    data_dir : path, optional
        MNIST's directory (default ``$STDP_RAY_DATA``).
    backend : {"native", "fast", "standalone", "runtime"}, optional
        The engine (default: the run's).
    chunk_size : int, optional
        Samples per chunk (Ray task and Parquet part).
    overwrite : bool, default False
        Discard responses computed with other settings.
    progress : bool, default True
        Show a progress bar.
    address, workers
        As :func:`train`; ``workers`` also caps the chunks in flight.

    Returns
    -------
    dict
        ``chunks``, ``computed``, ``skipped``, ``seconds``, ``classes_covered``, ...
    """
    from . import evaluation, workflow

    with _location(run_dir) as local:
        _start(address, workers)
        return workflow.observe(local, samples=samples, data_dir=data_dir, backend=backend,
                                chunk_size=chunk_size or evaluation.DEFAULT_CHUNK_SIZE,
                                workers=workers, overwrite=overwrite, progress=progress)


def test(run_dir: str | os.PathLike, *, samples: int | None = None,
         data_dir: str | os.PathLike | None = None, backend: str | None = None,
         chunk_size: int | None = None, overwrite: bool = False, progress: bool = True,
         address: str | None = None, workers: int | None = None) -> dict:
    """Score test images and write ``metrics.json``, as ``stdp-ray test``.

    Parameters
    ----------
    run_dir : path
        An observed run directory.
    samples : int or None, default None
        The first ``samples`` test images (None: all 10,000).
    data_dir, backend, chunk_size, overwrite, progress, address, workers
        As :func:`observe`.

    Returns
    -------
    dict
        The test metrics (``accuracy`` first; :class:`stdp_ray.rundir.RunMetrics`).
    """
    from . import evaluation, workflow

    with _location(run_dir) as local:
        _start(address, workers)
        return workflow.test(local, samples=samples, data_dir=data_dir, backend=backend,
                             chunk_size=chunk_size or evaluation.DEFAULT_CHUNK_SIZE,
                             workers=workers, overwrite=overwrite, progress=progress)


test.__test__ = False  # a library function, not a test for pytest to collect


def run(run_dir: str | os.PathLike, config: ConfigLike = None, *, samples: int,
        seed: int = 42, observe_samples: int | None = 10_000, test_samples: int | None = None,
        data_dir: str | os.PathLike | None = None, chunk_size: int | None = None,
        overwrite: bool = False, threads: int = 1, progress: bool = True,
        address: str | None = None, workers: int | None = None, **settings: Any) -> dict:
    """Train, observe and test in one go, as ``stdp-ray run``.

    Parameters
    ----------
    run_dir, config, samples, seed, threads, settings
        As :func:`train`.
    observe_samples : int or None, default 10000
        Training images of the label assignment (None: all).
    test_samples : int or None, default None
        Test images scored (None: all).
    data_dir, chunk_size, overwrite, progress, address, workers
        As :func:`observe`.

    Returns
    -------
    dict
        The test metrics (see :func:`test`).
    """
    from . import evaluation, workflow

    cfg = make_config(config, **settings)
    with _location(run_dir) as local:
        _start(address, workers)
        cfg = workflow.resolve_backend(cfg)
        return workflow.run(local, cfg, seed=seed, samples=samples,
                            observe_samples=observe_samples, test_samples=test_samples,
                            data_dir=data_dir, backend=cfg.backend,
                            chunk_size=chunk_size or evaluation.DEFAULT_CHUNK_SIZE,
                            workers=workers, overwrite=overwrite, progress=progress,
                            threads=threads)


def ensemble(root: str | os.PathLike, config: ConfigLike = None, *, seeds: Sequence[int],
             samples: int, observe_samples: int | None = 10_000,
             test_samples: int | None = None, data_dir: str | os.PathLike | None = None,
             chunk_size: int | None = None, overwrite: bool = False, threads: int = 1,
             progress: bool = True, address: str | None = None, workers: int | None = None,
             **settings: Any) -> dict:
    """Train one network per seed at once, test each and combine them, as ``stdp-ray ensemble``.

    Members are run directories ``ROOT/seed=<seed>/`` (:func:`load_run` reads each).

    Parameters
    ----------
    root : path
        The ensemble's directory (created; resumed if it holds this ensemble).
    config : Config, mapping, path or None
        The members' configuration (see :func:`make_config`).
    seeds : sequence of int
        One member per seed (distinct).
    samples, observe_samples, test_samples
        Per member, as :func:`run`.
    data_dir, chunk_size, overwrite, threads, progress, address, workers, settings
        As :func:`run`.

    Returns
    -------
    dict
        The ensemble's metrics (``accuracy`` first; :class:`stdp_ray.rundir.EnsembleMetrics`).
    """
    from . import ensembles, evaluation, workflow

    cfg = make_config(config, **settings)
    seeds = ensembles.check_seeds(list(seeds) if not isinstance(seeds, (str, bytes))
                                  else seeds)
    with _location(root) as local:
        _start(address, workers)
        cfg = workflow.resolve_backend(cfg)
        return ensembles.run_ensemble(local, cfg, seeds, samples=samples,
                                      observe_samples=observe_samples,
                                      test_samples=test_samples, data_dir=data_dir,
                                      chunk_size=chunk_size or evaluation.DEFAULT_CHUNK_SIZE,
                                      workers=workers, overwrite=overwrite,
                                      progress=progress, threads=threads)


def sweep(root: str | os.PathLike, grid: Mapping[str, Sequence] | str,
          config: ConfigLike = None, *, seeds: Sequence[int] = (42,), samples: int,
          observe_samples: int | None = 10_000, test_samples: int | None = None,
          data_dir: str | os.PathLike | None = None, chunk_size: int | None = None,
          overwrite: bool = False, threads: int = 1, progress: bool = True,
          address: str | None = None, workers: int | None = None, **settings: Any):
    """Train, observe and test every point of a grid for every seed, as ``stdp-ray sweep``.

    Parameters
    ----------
    root : path
        The sweep's directory (created; resumed point by point).
    grid : mapping or str
        ``{field: [values]}`` or the command's text (``"nu_post=0.005,0.01 theta_plus_mV=0.03"``).
    config : Config, mapping, path or None
        The base configuration (see :func:`make_config`).
    seeds : sequence of int, default (42,)
        Each point is trained once per seed.
    samples, observe_samples, test_samples, data_dir, chunk_size
        As :func:`run`.
    overwrite, threads, progress, address, workers, settings
        As :func:`run`.

    Returns
    -------
    pandas.DataFrame
        ``sweep.parquet``: one row per point and seed.
    """
    from . import ensembles, evaluation, sweeps, workflow

    cfg = make_config(config, **settings)
    if isinstance(grid, str):
        grid = sweeps.parse_grid(grid)
    grid = {str(k): list(v) for k, v in dict(grid).items()}
    sweeps.grid_points(cfg, grid)  # every point checked before Ray starts
    seeds = ensembles.check_seeds(list(seeds) if not isinstance(seeds, (str, bytes))
                                  else seeds)
    with _location(root) as local:
        _start(address, workers)
        cfg = workflow.resolve_backend(cfg)
        return sweeps.run_sweep(local, cfg, grid, seeds, samples=samples,
                                observe_samples=observe_samples, test_samples=test_samples,
                                data_dir=data_dir,
                                chunk_size=chunk_size or evaluation.DEFAULT_CHUNK_SIZE,
                                workers=workers, overwrite=overwrite, progress=progress,
                                threads=threads)


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
            If ``phase`` is not "observe" or "test".
        """
        from . import rundir

        path = rundir.phase_dir(self.path, phase)
        if not rundir.part_paths(path):
            return None
        return rundir.read_parts(path, rundir.RESPONSES_SCHEMA).sort_by("sample").to_pandas()

    def _table(self, name: str):
        import pandas as pd

        path = self.path / name
        return pd.read_parquet(path) if path.is_file() else None

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
