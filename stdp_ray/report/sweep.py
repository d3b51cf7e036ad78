"""The report of a sweep root: accuracy against each swept setting, per point, every run."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import numpy as np

from .. import plots, rundir
from ..rundir import REPORT_DIR, REPORT_MD, SWEEP_PNG
from ..reading import ArtifactError
from .ensemble import inside_root, member_report
from ..location import as_path
from .output import (DEFAULT_DPI, NA, fmt_int, fmt_pct, fmt_seconds, md_cell, save_figure, shown,
                     shown_name, write_text)

__all__ = ["write_sweep_report", "write_sweep_figure", "is_sweep_root", "sweep_run_dirs"]


def is_sweep_root(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a sweep root (holds ``sweep.json``), not a run directory."""
    return (as_path(path) / rundir.SWEEP_FILE).is_file()


def _read_sweep(root: Path):
    if not is_sweep_root(root):
        raise ValueError(f"{root}: not a sweep directory (no {rundir.SWEEP_FILE})")
    try:
        settings = rundir.read_sweep_settings(root)
        if not (root / rundir.SWEEP_SUMMARY_FILE).is_file():
            raise ValueError(f"{root}: sweep has no finished run (no "
                             f"{rundir.SWEEP_SUMMARY_FILE}); rerun `stdp-ray sweep` on it to "
                             "resume")
        summary = rundir.read_sweep_summary(root, list(settings.grid)).to_pandas()
    except ArtifactError as exc:
        raise ValueError(str(exc)) from exc
    if summary.empty:
        raise ValueError(f"{root / rundir.SWEEP_SUMMARY_FILE}: holds no run")
    acc = summary["accuracy"].to_numpy(dtype=float)
    if not np.all((acc >= 0) & (acc <= 1)):
        raise ValueError(f"{root / rundir.SWEEP_SUMMARY_FILE}: accuracy must lie in [0, 1]")
    return settings, summary


def sweep_run_dirs(root: str | os.PathLike, run_dirs) -> list[Path]:
    """The run directories named in a sweep's ``sweep.parquet``, each checked to lie inside
    ``root`` (:func:`inside_root`)."""
    root = as_path(root)
    return [inside_root(root, str(d), source=root / rundir.SWEEP_SUMMARY_FILE, what="run_dir",
                        where="the sweep directory") for d in run_dirs]


def write_sweep_figure(root: str | os.PathLike, summary, fields: list[str], path=None, *,
                       dpi: float = DEFAULT_DPI) -> Path:
    """Write the sweep's figure (test accuracy against each swept setting).

    Parameters
    ----------
    root : path
        The sweep's directory (its name titles the figure).
    summary : DataFrame
        ``sweep.parquet``.
    fields : list of str
        The swept settings.
    path : path, optional
        Where (default ``ROOT/sweep.png``, which ``stdp-ray sweep`` writes).
    """
    root = as_path(root)
    fig = plots.sweep_figure(summary, fields, title=f"Sweep: {shown_name(root)}")
    return save_figure(fig, root / SWEEP_PNG if path is None else path, dpi)


def write_sweep_report(root: str | os.PathLike, *, dpi: float = DEFAULT_DPI,
                       run_reports: bool = True) -> list[Path]:
    """Write ``ROOT/report/sweep.png`` and ``ROOT/report/report.md`` of a sweep.

    ``ROOT/sweep.json`` marks a sweep and names its grid; ``ROOT/sweep.parquet``
    holds one row per finished run (point and seed). With ``run_reports``,
    :func:`write_run_report` is first called on each run's directory (its
    ``run_dir`` must lie inside the root), and the sweep report links to them.

    Parameters
    ----------
    root : path
        The sweep's directory.
    dpi : float
    run_reports : bool
        Also write each run's report.

    Returns
    -------
    list of Path
        The runs' report files, then the sweep PNG and ``report.md``.

    Raises
    ------
    ValueError
        If ``root`` holds no ``sweep.json``, no ``sweep.parquet``, or a
        malformed one (a run directory outside ``root`` included).
    """
    root = as_path(root)
    settings, summary = _read_sweep(root)
    fields = list(settings.grid)
    source = root / rundir.SWEEP_SUMMARY_FILE
    run_dirs = sweep_run_dirs(root, summary["run_dir"])
    out_dir = root / REPORT_DIR
    written: list[Path] = []
    links: list[str] = []
    for run_dir in run_dirs:
        files, ref = member_report(run_dir, root, out_dir, dpi) if run_reports else ([], NA)
        written += files
        links.append(ref)
    try:
        png = write_sweep_figure(root, summary, fields, out_dir / SWEEP_PNG, dpi=dpi)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from exc

    md = write_text(out_dir / REPORT_MD, _sweep_markdown(root, settings, summary, links))
    return [*written, png, md]


def _sweep_markdown(root: Path, settings: rundir.SweepSettings, summary, links: list[str]) -> str:
    """``report.md`` of a sweep: headline, mean accuracy per point, every run with its link."""
    fields = list(settings.grid)
    n_runs = int(np.prod([len(v) for v in settings.grid.values()])) * len(settings.seeds)
    best = summary.loc[summary["accuracy"].idxmax()]
    grid_text = "; ".join(f"`{k}` = {', '.join(md_cell(v) for v in vals)}"
                          for k, vals in settings.grid.items())
    lines = [f"# Sweep report: {shown_name(root)}", "",
             f"Sweep directory: `{shown(root)}`  ",
             f"Report written {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
             "", "## Headline", "", "| quantity | value |", "|---|---|",
             f"| Grid | {grid_text} |",
             f"| Seeds | {', '.join(str(s) for s in settings.seeds)} |",
             f"| Runs finished | {len(summary)} of {n_runs} |",
             f"| Excitatory neurons | {fmt_int(settings.config.n_neurons)} |",
             f"| Training samples (each run) | {fmt_int(settings.samples)} |",
             f"| Labels from (training images) | "
             f"{fmt_int(settings.observe_samples) if settings.observe_samples else 'all'} |",
             f"| Test samples | {fmt_int(int(best['n_samples']))} |",
             f"| Best run | {fmt_pct(float(best['accuracy']))} at `{md_cell(best['point'])}`, "
             f"seed {int(best['seed'])} |",
             "", "## Accuracy against each setting", "", f"![Sweep]({SWEEP_PNG})", "",
             "## Mean over seeds, per point", "",
             "| " + " | ".join(md_cell(f) for f in fields) + " | runs | mean | min | max |",
             "|" + "---:|" * (len(fields) + 4)]
    for values, group in summary.groupby(fields, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        acc = group["accuracy"]
        lines.append("| " + " | ".join(md_cell(v) for v in values)
                     + f" | {len(group)} | {fmt_pct(float(acc.mean()))} | "
                       f"{fmt_pct(float(acc.min()))} | {fmt_pct(float(acc.max()))} |")
    lines += ["", "## Runs", "",
              "| " + " | ".join(md_cell(f) for f in fields)
              + " | seed | accuracy | failed (test) | training time | report |",
              "|" + "---:|" * (len(fields) + 4) + "---|"]
    for row, ref in zip(summary.itertuples(index=False), links):
        row = row._asdict()
        lines.append("| " + " | ".join(md_cell(row[f]) for f in fields)
                     + f" | {int(row['seed'])} | {fmt_pct(float(row['accuracy']))} | "
                       f"{fmt_int(int(row['n_failed']))} | "
                       f"{fmt_seconds(float(row['training_seconds']))} | {ref} |")
    return "\n".join(lines) + "\n"
