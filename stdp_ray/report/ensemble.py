"""The report of an ensemble root: accuracy against its size, its members and their reports."""

from __future__ import annotations

import datetime as _dt
import logging
import os
from pathlib import Path

import numpy as np

from .. import artifact, plots, rundir
from ..rundir import ENSEMBLE_PNG, REPORT_DIR, REPORT_MD
from .output import (DEFAULT_DPI, NA, fmt_pct, link, md_cell, save_figure, shown, shown_name,
                     write_text)
from .run import write_run_report
from ..location import as_path

logger = logging.getLogger(__name__)

__all__ = ["write_ensemble_report", "is_ensemble_root", "inside_root", "member_report"]


def is_ensemble_root(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ensemble root (holds ``ensemble.json``), not a run directory."""
    return (as_path(path) / rundir.ENSEMBLE_FILE).is_file()


def _read_ensemble(root: Path) -> rundir.EnsembleMetrics:
    if not is_ensemble_root(root):
        raise ValueError(f"{root}: not an ensemble directory (no {rundir.ENSEMBLE_FILE})")
    metrics = rundir.read_ensemble_metrics(root)
    if metrics is None:
        raise ValueError(f"{root}: ensemble not finished (no {rundir.ENSEMBLE_METRICS_FILE}); "
                         "rerun `stdp-ray ensemble` on it to resume")
    return metrics


def inside_root(root: Path, run_dir: str, *, source: Path | None = None,
                what: str = "member run_dir", where: str = "the ensemble directory") -> Path:
    """A member's (or a sweep run's) directory: ``run_dir`` relative to ``root``, and inside it.

    An ensemble's ``metrics.json`` (or a sweep's ``sweep.parquet``, the
    ``source``) is data from whoever made it: a member path that is absolute,
    climbs out of the root (``..``) or leads out of it through a symbolic link
    is refused, so that a report never writes elsewhere.
    """
    source = root / rundir.ENSEMBLE_METRICS_FILE if source is None else source
    p = as_path(run_dir)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"{source}: {what} {run_dir!r} must be a relative path inside {where}")
    candidate = root / p
    if not candidate.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{source}: {what} {run_dir!r} leads out of {where} (a symbolic link)")
    return candidate


def member_report(run_dir: Path, root: Path, out_dir: Path, dpi: float) -> tuple[list[Path], str]:
    """Write the run report of an ensemble member or a sweep's run, if it is a run directory.

    Returns the files written and a Markdown link to its ``report.md`` (``n/a``
    when the directory is missing or holds no ``config.json``; logged). A run
    restored from shipped results (``network.json`` without the arrays) keeps
    the report it was shipped with: nothing is drawn, the link points to it.
    """
    if not run_dir.is_dir():
        logger.info("%s: run directory %s not found; no report for it", root, run_dir)
        return [], NA
    if not (run_dir / rundir.RUN_CONFIG_FILE).is_file():
        logger.warning("%s: %s holds no %s; no report for it", root, run_dir,
                       rundir.RUN_CONFIG_FILE)
        return [], NA
    network = run_dir / rundir.NETWORK_DIR
    shipped = run_dir / rundir.REPORT_DIR / rundir.REPORT_MD
    if ((network / artifact.NETWORK_JSON).is_file() and not (network / artifact.ARRAYS_NPZ).exists()
            and shipped.is_file()):
        logger.info("%s: %s holds no network arrays (shipped results); its report is kept",
                    root, run_dir)
        return [], f"[report]({link(shipped, out_dir)})"
    files = write_run_report(run_dir, dpi=dpi)
    return files, f"[report]({link(files[-1], out_dir)})"


def write_ensemble_report(root: str | os.PathLike, *, dpi: float = DEFAULT_DPI,
                          member_reports: bool = True) -> list[Path]:
    """Write ``ROOT/report/ensemble_accuracy.png`` and ``ROOT/report/report.md``.

    ``ROOT/ensemble.json`` marks an ensemble; ``ROOT/metrics.json`` holds
    ``members`` (a list of ``{"seed",
    "accuracy", "run_dir"}``), ``k``, ``accuracy_sum``, ``accuracy_vote``
    (lists of equal length) and ``mean_member_accuracy`` (recomputed from the
    members if absent). A member's ``run_dir`` is relative to ``ROOT`` and
    must lie inside it (absolute paths and ``..`` are refused).
    With ``member_reports``, :func:`write_run_report` is called first on each
    member directory that exists and holds ``config.json`` (others are logged
    and skipped), and the ensemble report links to those reports.

    Parameters
    ----------
    root : path
        The ensemble directory.
    dpi : float
    member_reports : bool
        Also write each member's run report.

    Returns
    -------
    list of Path
        The member reports' files, then the ensemble PNG and ``report.md``.

    Raises
    ------
    ValueError
        If ``root`` holds no ``ensemble.json``, no ``metrics.json``, or a
        malformed one (a member path outside ``root`` included).
    """
    root = as_path(root)
    raw = _read_ensemble(root)
    path = root / rundir.ENSEMBLE_METRICS_FILE
    out_dir = root / REPORT_DIR
    members = raw.members
    accs = [m.accuracy for m in members]
    try:
        fig = plots.ensemble_accuracy_figure(raw.k, raw.accuracy_sum, raw.accuracy_vote,
                                             accs, title=f"Ensemble accuracy: "
                                                         f"{shown_name(root)}",
                                             n_test=raw.n_samples)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc

    written: list[Path] = []
    member_links: list[str] = []
    member_dirs = [inside_root(root, str(mem.run_dir)) for mem in members]  # all, before writing
    for mdir in member_dirs:
        files, ref = member_report(mdir, root, out_dir, dpi) if member_reports else ([], NA)
        written += files
        member_links.append(ref)

    png = save_figure(fig, out_dir / ENSEMBLE_PNG, dpi)
    md = write_text(out_dir / REPORT_MD, _ensemble_markdown(root, raw, member_links))
    return [*written, png, md]


def _ensemble_markdown(root: Path, raw: rundir.EnsembleMetrics, member_links: list[str]) -> str:
    """``report.md`` of an ensemble: headline, accuracy against K, members."""
    members = raw.members
    accs = [m.accuracy for m in members]
    mean = raw.mean_member_accuracy
    if not isinstance(mean, (int, float)) or isinstance(mean, bool):
        mean = float(np.mean(accs))
    best = int(np.argmax(raw.accuracy_sum)) if raw.accuracy_sum else None
    lines = [f"# Ensemble report: {shown_name(root)}", "",
             f"Ensemble directory: `{shown(root)}`  ",
             f"Report written {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
             "", "## Headline", "", "| quantity | value |", "|---|---|",
             f"| Members | {len(members)} |",
             f"| Mean member accuracy | {fmt_pct(mean)} |",
             f"| Best member accuracy | {fmt_pct(max(accs))} |"]
    if best is not None:
        lines += [f"| Best ensemble accuracy (sum of scores) | "
                  f"{fmt_pct(raw.accuracy_sum[best])} at K = {raw.k[best]} |"]
    if raw.accuracy_vote:
        vbest = int(np.argmax(raw.accuracy_vote))
        lines += [f"| Best ensemble accuracy (majority vote) | "
                  f"{fmt_pct(raw.accuracy_vote[vbest])} at K = {raw.k[vbest]} |"]
    lines += ["", "## Accuracy against ensemble size", "",
              f"![Ensemble accuracy]({ENSEMBLE_PNG})", "",
              "| K | sum of class scores | majority vote |", "|---:|---:|---:|"]
    lines += [f"| {md_cell(k)} | {fmt_pct(s)} | {fmt_pct(v)} |"
              for k, s, v in zip(raw.k, raw.accuracy_sum, raw.accuracy_vote)]
    lines += ["", "## Members", "", "| seed | accuracy | run directory | report |",
              "|---:|---:|---|---|"]
    lines += [f"| {md_cell(m.seed)} | {fmt_pct(m.accuracy)} | `{md_cell(m.run_dir)}` | {ref} |"
              for m, ref in zip(members, member_links)]
    return "\n".join(lines) + "\n"
