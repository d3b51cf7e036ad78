#!/usr/bin/env python
"""Regenerate every figure of ``results/`` from the run directories shipped there.

    python scripts/paper_figures.py [RESULTS_DIR]

One command for what a paper would print, each as PNG and SVG:

- every learning curve (``*/curve/curve.parquet``: ``curve/learning_curve.*`` and the
  report's copy), with error bars, epoch marks and the paper's value for the size;
- every sweep (``*/sweep.json``: ``sweep.*`` and ``report/sweep.*``), a heat map for a
  grid over two settings;
- every ensemble's accuracy against K (``*/ensemble.json``: ``report/ensemble_accuracy.*``);
- the paper's table (``paper-table.{md,json,png,svg}``, ``paper-table-compute.*``), from
  the rows listed in :data:`TABLE` (``scripts/paper_table.py``).

Only figures whose data are shipped are redrawn (a shipped run keeps no network or
training statistics, so its receptive fields and training curves stay as shipped).
"""
from __future__ import annotations

import argparse
import logging
import runpy
import sys
from pathlib import Path

from stdp_ray import plots, rundir
from stdp_ray.curve import read_curve
from stdp_ray.reference import paper_accuracy
from stdp_ray.report import save_figure, write_sweep_figure
from stdp_ray.report.output import shown_name

logger = logging.getLogger("paper_figures")

#: The rows of the paper's table, relative to RESULTS_DIR (see scripts/paper_table.py).
TABLE = (
    "--single", "n100-seed42-1ep", "--single", "n100-seed42-1ep-theta025",
    "--single", "n400-seed42",
    "--single", "n400-seed42-3ep@80000", "--single", "n400-seed42-3ep@120000",
    "--single", "n400-seed42-3ep@160000", "--single", "n400-seed42-3ep@180000",
    "--single", "n800-seed42-20k",
    "--single", "n1600-seed42-1ep@10000", "--single", "n1600-seed42-1ep@20000",
    "--single", "n1600-seed42-1ep@40000", "--single", "n1600-seed42-1ep@60000",
    "--single", "fast-n1600-seed42-1ep",
    "--single", "n6400-seed42-10k@5000", "--single", "n6400-seed42-10k@10000",
    "--single", "sweep-n6400-theta/tau_theta_ms=10000000.0/theta_plus_mV=0.05/seed=42",
    "--single", "sweep-n6400-theta/tau_theta_ms=10000000.0/theta_plus_mV=0.8/seed=42",
    "--single", "sweep-n6400-theta/tau_theta_ms=160000000.0/theta_plus_mV=0.05/seed=42",
    "--single", "n6400-fast-tau16-seed42@60000", "--single", "n6400-fast-tau16-seed42@120000",
    "--single", "n6400-fast-tau16-seed42@180000", "--single", "n6400-fast-tau16-seed42@210000",
    "--seeds", "ensemble-n400-1ep",
    "--seeds", "fast-ensemble-n400-1ep,fast-n400-seed4-1ep",
    "--seeds", "fast-n1600-seed42-1ep,fast-ens-n1600-1ep",
    "--ensemble", "ensemble-n100-20k", "--ensemble", "ensemble-n400-20k",
    "--ensemble", "ensemble-n400-1ep",
)


def _table_args(results: Path) -> list[str]:
    """:data:`TABLE` with every directory made a path under ``results`` (kept if absent:
    paper_table names a missing one)."""
    args = []
    for arg in TABLE:
        if arg.startswith("--"):
            args.append(arg)
        else:
            args.append(",".join(str(results / part) for part in arg.split(",")))
    return args


def learning_curves(results: Path) -> list[Path]:
    written = []
    for table in sorted(results.glob(f"*/{rundir.CURVE_DIR}/{rundir.CURVE_FILE}")):
        run = table.parents[1]
        record = rundir.read_run_record(run)
        fig = plots.learning_curve_figure(
            read_curve(run), title=f"Learning curve: {shown_name(run)}",
            paper=paper_accuracy(record.config.n_neurons))
        for out in (run / rundir.CURVE_DIR, run / rundir.REPORT_DIR):
            written.append(save_figure(fig, out / rundir.CURVE_PNG))
    return written


def _roots(results: Path, marker: str) -> list[Path]:
    """The directories of ``results`` that hold ``marker`` (a sweep's or ensemble's file)."""
    return [path.parent for path in sorted(results.glob(f"*/{marker}"))]


def sweeps(results: Path) -> list[Path]:
    written = []
    for root in _roots(results, rundir.SWEEP_FILE):
        settings = rundir.read_sweep_settings(root)
        fields = list(settings.grid)
        summary = rundir.read_sweep_summary(root, fields).to_pandas()
        written.append(write_sweep_figure(root, summary, fields))
        written.append(write_sweep_figure(root, summary, fields,
                                          root / rundir.REPORT_DIR / rundir.SWEEP_PNG))
    return written


def ensembles(results: Path) -> list[Path]:
    written = []
    for root in _roots(results, rundir.ENSEMBLE_FILE):
        raw = rundir.read_ensemble_metrics(root)
        if raw is None:
            continue
        fig = plots.ensemble_accuracy_figure(
            raw.k, raw.accuracy_sum, raw.accuracy_vote, [m.accuracy for m in raw.members],
            title=f"Ensemble accuracy: {shown_name(root)}", n_test=raw.n_samples)
        written.append(save_figure(fig, root / rundir.REPORT_DIR / rundir.ENSEMBLE_PNG))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results",
                        help="the results directory (default: results)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    results = Path(args.results)
    if not results.is_dir():
        parser.error(f"{results}: no such directory")
    written = learning_curves(results) + sweeps(results) + ensembles(results)
    table = runpy.run_path(str(Path(__file__).with_name("paper_table.py")))
    table["main"]([str(results / "paper-table"), *_table_args(results)])
    logger.info("%d figures redrawn, and the paper table", len(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
