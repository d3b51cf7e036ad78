"""Sweeps: every point of a grid of settings trained, observed and tested, then summarised.

``stdp-ray sweep ROOT --grid 'nu_post=0.005,0.01 theta_plus_mV=0.03,0.05' --seeds 1,2``
makes one ordinary run directory per point and seed,
``ROOT/nu_post=0.005/theta_plus_mV=0.03/seed=1/`` (hive-style names: readers
recover the settings and the seed from the path; see :mod:`stdp_ray.rundir`).
Every run that still needs training is trained at once, one training actor
each (:func:`stdp_ray.training.train_many`; Ray places them over the cluster's
CPUs); then each run is observed and tested in turn with the sharded
evaluation, and ``ROOT/sweep.parquet`` is rewritten after each, so an
interrupted sweep leaves the summary of the runs finished so far. Rerunning
resumes point by point: finished runs are skipped, training continues from
checkpoints, evaluation from written chunks. ``ROOT/sweep.png`` plots the test
accuracy against each swept setting.

Why not Ray Tune
----------------
Tune runs each trial as one function or class trainable in one actor, owns the
experiment directory, the checkpoints and the resumption, and stops trials
early (ASHA) on a metric reported as training goes. Here, training already is
a restartable actor that checkpoints into the run directory, and the metric
(test accuracy) needs a label assignment and a test pass sharded over every
CPU as separate tasks: inside a trial these would be nested tasks competing
with the trials for CPUs (placement groups reserving each trial's evaluation
CPUs up front, idle while it trains), Tune's checkpoints would duplicate the
run directories', and a second resumption mechanism (Tune's experiment state)
would sit beside the chunk-level one of every run directory. Early stopping
on learning-curve accuracy needs an evaluation per rung of snapshots, which is
a full observe+test of each; it can be added over these runs later (stop
points whose snapshot accuracy trails) without Tune. So the sweep reuses the
package's own pieces: the grid is small and explicit, each point is an
ordinary run directory that every other command (report, test, config show)
understands, and ``ray`` is the only dependency.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import artifact, checkpoints, reading, rundir, tracking, training, workflow
from .config import Config, ConfigError, apply_settings, parse_setting
from .ensembles import check_seeds
from .faults import crash_point
from .location import as_path
from .locks import directory_lock, lock_owner
from .options import RunOptions
from .rundir import SweepSettings

logger = logging.getLogger(__name__)

__all__ = ["parse_grid", "grid_points", "check_sweep_size", "run_sweep", "read_summary",
           "MAX_SWEEP_RUNS"]

#: Most runs (grid points x seeds) one sweep holds: each is a run directory trained by its
#: own actor. A larger study is several sweeps (or a sweep of coarser steps).
MAX_SWEEP_RUNS = 1000


def check_sweep_size(counts: list[int], seeds: int = 1) -> int:
    """The number of runs of a grid whose fields have ``counts`` values, times ``seeds``;
    refused above :data:`MAX_SWEEP_RUNS` before any point is made.

    Computed from the counts alone (a product of sizes, never the product of the values).

    Raises
    ------
    ConfigError
        One line naming the points, the seeds and the limit.
    """
    points = math.prod(counts)
    if points * seeds > MAX_SWEEP_RUNS:
        shape = " x ".join(str(c) for c in counts)
        raise ConfigError(f"--grid: {points} points ({shape}) x {seeds} seed"
                          f"{'s' if seeds != 1 else ''} = {points * seeds} runs, at most "
                          f"{MAX_SWEEP_RUNS} (MAX_SWEEP_RUNS); split the sweep")
    return points * seeds


def parse_grid(text: str) -> dict[str, list]:
    """``"nu_post=0.005,0.01 theta_plus_mV=0.03"`` -> ``{"nu_post": [0.005, 0.01], ...}``.

    Groups are separated by spaces, values by commas; each value is typed as
    its :class:`~stdp_ray.config.Config` field (ranges are checked when the
    points are built, :func:`grid_points`).

    Raises
    ------
    ConfigError
        For an unknown field, a value of the wrong type, a field named twice,
        an empty list or a repeated value.
    """
    grid: dict[str, list] = {}
    groups = text.split()
    if not groups:
        raise ConfigError(f"--grid == {text!r}, must name >= 1 field as KEY=V1,V2,...")
    # The size first, from the counts of values: no value is typed for a grid refused.
    check_sweep_size([len([v for v in g.partition("=")[2].split(",") if v.strip()]) or 1
                      for g in groups])
    for group in groups:
        name, sep, values = group.partition("=")
        if not sep or not name:
            raise ConfigError(f"--grid {group!r}: must be KEY=V1,V2,... with KEY a "
                              "configuration field, e.g. nu_post=0.005,0.01")
        if name in grid:
            raise ConfigError(f"--grid: field {name!r} named twice, must be named once")
        parts = [v for v in values.split(",") if v.strip()]
        if not parts:
            raise ConfigError(f"--grid {group!r}: no values, must list >= 1")
        typed = [parse_setting(name, v, source="--grid") for v in parts]
        if len(set(typed)) != len(typed):
            raise ConfigError(f"--grid {group!r}: values repeat, must be distinct")
        grid[name] = typed
    return grid


def grid_points(base: Config, grid: Mapping[str, list], seeds: int = 1
                ) -> list[tuple[dict, Config]]:
    """Every point of ``grid`` (product, first field slowest) with its validated Config.

    Parameters
    ----------
    base : Config
    grid : mapping
        ``{field: [values]}``.
    seeds : int
        Seeds each point is trained with (the runs counted against
        :data:`MAX_SWEEP_RUNS`).

    Raises
    ------
    ConfigError
        If the grid holds more than :data:`MAX_SWEEP_RUNS` runs (refused before
        any point is made); naming the point, the field, the value and the
        allowed range, for a point that is not a valid configuration.
    """
    check_sweep_size([len(values) for values in grid.values()], seeds)
    names = list(grid)
    points = []
    for values in itertools.product(*(grid[n] for n in names)):
        point = dict(zip(names, values))
        shown = " ".join(f"{k}={rundir.setting_text(v)}" for k, v in point.items())
        points.append((point, apply_settings(base, point, source=f"--grid point {shown}")))
    return points


def _prepare_root(root: Path, settings: SweepSettings) -> None:
    if (root / rundir.SWEEP_FILE).exists():
        old = rundir.read_sweep_settings(root)
        same = (not old.config.diff(settings.config) and old.grid == settings.grid
                and old.seeds == settings.seeds and old.observe_samples == settings.observe_samples
                and old.test_samples == settings.test_samples)
        if not same:
            raise workflow.RunError(f"{root}: holds a sweep of other settings (grid "
                                    f"{old.grid}, seeds {old.seeds}); use a new directory")
        if old.samples != settings.samples:
            rundir.write_sweep_settings(root, settings)  # trained further: the runs check it
        return
    root.mkdir(parents=True, exist_ok=True)
    rundir.write_sweep_settings(root, settings)


def run_sweep(root: str | os.PathLike, cfg: Config, grid: Mapping[str, list],
              seeds: list[int], options: RunOptions) -> pd.DataFrame:
    """Train, observe and test every point of ``grid`` for every seed; summarise.

    Parameters
    ----------
    root : path
        The sweep's directory (created; resumed if it holds this sweep).
    cfg : Config
        The base configuration; each point replaces the fields of ``grid``.
    grid : mapping
        ``{field: [values]}`` (see :func:`parse_grid`).
    seeds : list of int
        Each point is trained once per seed.
    options : RunOptions
        ``samples`` (training samples of every run), ``observe_samples`` and
        ``test_samples`` (samples to assign labels from and to score; None:
        all), and how the runs are executed.

    Returns
    -------
    pandas.DataFrame
        The summary, as written to ``ROOT/sweep.parquet`` (one row per point
        and seed; see :func:`stdp_ray.rundir.sweep_summary_table`).
    """
    root = as_path(root)
    samples = workflow.check_samples(options.required_samples())
    observe_samples, test_samples = options.observe_samples, options.test_samples
    seeds = check_seeds(seeds)
    grid = {str(k): list(v) for k, v in grid.items()}
    if not grid:
        raise ConfigError("grid is empty, must name >= 1 field")
    points = grid_points(cfg, grid, len(seeds))
    options = workflow.resolve_data(None, options)
    train_data = workflow.load_split(options, "train")
    test_data = workflow.load_split(options, "test")
    for option, n, split, images in (("--observe-samples", observe_samples, "training",
                                      train_data[0]),
                                     ("--test-samples", test_samples, "test", test_data[0])):
        if n is not None and not 1 <= n <= len(images):
            raise workflow.RunError(f"{option} == {n}, must be in 1..{len(images)} (the "
                                    f"{split} set's images)")
    if root.exists() and not root.is_dir():
        raise workflow.RunError(f"{root}: exists and is not a directory")
    runs = [(point, point_cfg, seed, rundir.sweep_point_dir(root, point, seed))
            for point, point_cfg in points for seed in seeds]
    with contextlib.ExitStack() as locks:
        locks.enter_context(directory_lock(root))
        rundir.sweep_temporaries(root, recursive=False)
        _prepare_root(root, SweepSettings(cfg, grid, seeds, samples, observe_samples,
                                          test_samples))
        for _, _, _, run_dir in runs:
            locks.enter_context(workflow.run_lock(run_dir, create=True))
        return _run_sweep(root, grid, runs, train_data, test_data, options)


def _trained_samples(run_dir: Path) -> int | None:
    """Samples the saved network of ``run_dir`` was trained on (None: no network)."""
    path = run_dir / rundir.NETWORK_DIR / artifact.NETWORK_JSON
    if not path.is_file():
        return None
    return reading.load_json(path).get("provenance", {}).get("training_samples")


def _finished(run_dir: Path, samples: int, observe_samples: int | None,
              n_test: int) -> bool:
    """Whether ``run_dir`` holds the test metrics of this sweep's settings."""
    try:
        metrics = rundir.read_metrics(run_dir)
    except reading.ArtifactError:
        return False
    return (metrics is not None and metrics.training_samples == samples
            and metrics.observe_samples == observe_samples and metrics.n_samples == n_test
            and _trained_samples(run_dir) == samples)


def _run_sweep(root: Path, grid: dict, runs: list, train_data, test_data,
               options: RunOptions) -> pd.DataFrame:
    samples = options.required_samples()
    data_used = workflow.data_used(options, ("train",))
    for _, point_cfg, seed, run_dir in runs:
        workflow.prepare_run(run_dir, point_cfg, seed, data_used)
        checkpoints.check_resumable(run_dir / rundir.TRAIN_DIR, point_cfg, seed, samples)
    n_test = len(test_data[0]) if options.test_samples is None else options.test_samples
    todo = [r for r in runs if _trained_samples(r[3]) != samples]
    if any(_finished(r[3], samples, options.observe_samples, n_test) for r in runs):
        # The summary lists every finished run before anything starts (a sweep stopped
        # while it trains still has one, and `stdp-ray report` shows it).
        _write_summary(root, grid, runs)
    logger.info("sweep of %d points x %d seeds: %d runs to train, %d trained", len(runs)
                // max(1, len({r[2] for r in runs})), len({r[2] for r in runs}), len(todo),
                len(runs) - len(todo))
    if todo:
        trained = training.train_many([(r[3] / rundir.TRAIN_DIR, r[2]) for r in todo],
                                      [r[1] for r in todo], *train_data, options,
                                      lease=(root, lock_owner(root)))
        for (_, point_cfg, seed, run_dir), (arrays, summary) in zip(todo, trained):
            workflow.save_trained(run_dir, point_cfg, arrays, seed, summary)
    for k, (point, _, seed, run_dir) in enumerate(runs):
        if not options.overwrite and _finished(run_dir, samples, options.observe_samples,
                                               n_test):
            logger.info("%s: finished, skipped", run_dir.relative_to(root))
            continue
        logger.info("%s: observe and test", run_dir.relative_to(root))
        workflow.observe(run_dir, options, lock=False, train_data=train_data)
        workflow.test(run_dir, options, lock=False, test_data=test_data)
        _write_summary(root, grid, runs)
        crash_point("sweep-run", k)
    summary = _write_summary(root, grid, runs)
    _write_figure(root, summary, list(grid))
    tracking.track_sweep(root, summary, list(grid))
    best = summary.loc[summary["accuracy"].idxmax()]
    logger.info("sweep: %d runs; best accuracy %.4f at %s seed %d", len(summary),
                best["accuracy"], best["point"], best["seed"])
    return summary


def _summary_row(root: Path, point: Mapping[str, Any], seed: int, run_dir: Path) -> dict | None:
    metrics = rundir.read_metrics(run_dir)
    if metrics is None:
        return None
    net = reading.load_json(run_dir / rundir.NETWORK_DIR / artifact.NETWORK_JSON)
    prov = net.get("provenance", {})
    stats = rundir.read_parts(run_dir / rundir.STATS_DIR, rundir.TRAIN_STATS_SCHEMA)
    return {"point": str(rundir.sweep_point_dir(root, point, seed).parent.relative_to(root)),
            **point, "seed": int(seed), "accuracy": float(metrics.accuracy),
            "n_samples": int(metrics.n_samples), "n_failed": int(metrics.n_failed),
            # None (not 0) where the training statistics are absent, e.g. a point
            # restored from shipped results (network.json and metrics only)
            "train_failed": (int(np.sum(stats.column("failed").to_numpy()))
                             if stats.num_rows else None),
            "training_samples": int(prov.get("training_samples", 0)),
            "training_seconds": float(prov.get("training_seconds", float("nan"))),
            "run_dir": str(run_dir.relative_to(root))}


def _write_summary(root: Path, grid: dict, runs: list) -> pd.DataFrame:
    rows = [row for point, _, seed, run_dir in runs
            if (row := _summary_row(root, point, seed, run_dir)) is not None]
    table = rundir.sweep_summary_table(rows, list(grid))
    rundir.write_table(root / rundir.SWEEP_SUMMARY_FILE, table)
    return table.to_pandas()


def _write_figure(root: Path, summary: pd.DataFrame, fields: list[str]) -> Path:
    from .report import write_sweep_figure

    return write_sweep_figure(root, summary, fields)


def read_summary(root: str | os.PathLike) -> pd.DataFrame:
    """``ROOT/sweep.parquet`` as a DataFrame (one row per finished point and seed)."""
    return rundir.read_table(as_path(root) / rundir.SWEEP_SUMMARY_FILE).to_pandas()
