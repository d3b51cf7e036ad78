"""Reports of run and ensemble directories: PNG figures and a Markdown summary.

This module only reads what a run left on disk (through the readers of
:mod:`stdp_ray.rundir`, which also names every file below) and writes files
under ``<dir>/report/``; the figures themselves come from :mod:`stdp_ray.plots`.
Every file is written atomically (temporary file + rename), so a report being
rewritten is never seen half-written::

    RUN_DIR/report/
      confusion.png          from metrics.json (confusion matrix, accuracy)
      receptive_fields.png   from network/ (weights, assignments if observed)
      training_curves.png    from train/stats/part-*.parquet
      training_summary.csv   the same statistics as means per block of 1,000 samples
      report.md              headline numbers, the figures, what was skipped and why

    ENSEMBLE_ROOT/report/
      ensemble_accuracy.png  from metrics.json (written beside ensemble.json)
      report.md              member table, accuracy against K, links to member reports

    SWEEP_ROOT/report/
      sweep.png              from sweep.parquet (accuracy against each swept setting)
      report.md              settings, best run, mean accuracy per point, every run
                             with a link to its report
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from . import plots, rundir
from .rundir import (CONFUSION_PNG, ENSEMBLE_PNG, RECEPTIVE_FIELDS_PNG, REPORT_DIR, REPORT_MD,
                     SWEEP_PNG, TRAINING_CURVES_PNG, TRAINING_SUMMARY_CSV, PhaseManifest, RunMetrics,
                     RunRecord)
from .artifact import load_network
from .atomic import atomic_write_bytes
from .location import as_path, display, display_name
from .locks import directory_lock
from .reading import ArtifactError

logger = logging.getLogger(__name__)

__all__ = ["write_report", "write_run_report", "write_ensemble_report", "write_sweep_report",
           "write_sweep_figure", "save_figure", "DEFAULT_DPI", "is_ensemble_root",
           "is_sweep_root", "inside_root", "sweep_run_dirs", "training_summary",
           "SUMMARY_EVERY"]

#: Training samples per row of the training summary (CSV).
SUMMARY_EVERY = 1000
#: Resolution of the PNGs; the receptive-field grid gets more where it has
#: more pixels than the figure would show at this resolution (up to 200 dpi).
DEFAULT_DPI = 120
_MAX_RF_DPI = 200
NA = "n/a"


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------
def save_figure(fig: Figure, path: str | os.PathLike, dpi: float = DEFAULT_DPI) -> Path:
    """Render ``fig`` as PNG and write it to ``path`` atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : path
        Destination; parent directories are created.
    dpi : float

    Returns
    -------
    Path
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    path = atomic_write_bytes(path, buf.getvalue())
    logger.info("wrote %s", path)
    return path


def _write_text(path: Path, text: str) -> Path:
    path = atomic_write_bytes(path, text.encode("utf-8"))
    logger.info("wrote %s", path)
    return path


def _md(value: Any) -> str:
    """A value made safe for a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _link(target: Path, start: Path) -> str:
    rel = Path(os.path.relpath(target, start)).as_posix()
    return f"<{rel}>" if any(c in rel for c in " ()<>") else rel


def _fmt_seconds(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) \
            or not math.isfinite(seconds):
        return NA
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    h, rest = divmod(int(round(s)), 3600)
    m, sec = divmod(rest, 60)
    human = f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"
    return f"{human} ({s:,.0f} s)"


def _fmt_int(value: Any) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    return NA if value is None else _md(value)


def _fmt_pct(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{100 * float(value):.2f}%"
    return NA


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------
_MEAN_COLUMNS = ("total_spikes", "intensity", "presentations", "w_mean", "w_std",
                 "theta_mean_mV", "theta_std_mV")
_SUM_COLUMNS = ("failed", "seconds")


def training_summary(stats, every: int = SUMMARY_EVERY):
    """Training statistics in blocks of ``every`` samples (by sample index).

    Parameters
    ----------
    stats : pandas.DataFrame
        Rows of the training statistics (:data:`stdp_ray.rundir.TRAIN_STATS_SCHEMA`).
    every : int
        Samples per block; block ``b`` holds samples ``b*every .. (b+1)*every - 1``.

    Returns
    -------
    pandas.DataFrame
        One row per block that has rows: ``first_sample``, ``last_sample``,
        ``samples`` (rows in it), the mean of each of ``total_spikes``,
        ``intensity``, ``presentations``, ``w_mean``, ``w_std``,
        ``theta_mean_mV``, ``theta_std_mV``, and the sums of ``failed`` and
        ``seconds``.
    """
    import pandas as pd

    if isinstance(every, bool) or not isinstance(every, (int, np.integer)):
        raise TypeError(f"every must be an int, got {type(every).__name__}")
    if every < 1:
        raise ValueError(f"every == {every}, must be >= 1")
    missing = [c for c in ("sample", *_MEAN_COLUMNS, *_SUM_COLUMNS) if c not in stats.columns]
    if missing:
        raise ValueError(f"training statistics lack columns {missing}")
    groups = stats.sort_values("sample").groupby(stats["sample"] // every, sort=True)
    out = pd.DataFrame({"first_sample": groups["sample"].min(),
                        "last_sample": groups["sample"].max(),
                        "samples": groups["sample"].size()})
    for col in _MEAN_COLUMNS:
        out[col] = groups[col].mean()
    for col in _SUM_COLUMNS:
        out[col] = groups[col].sum().astype(np.int64 if col == "failed" else np.float64)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------
# Run report
# --------------------------------------------------------------------------
@dataclass
class _RunData:
    run_dir: Path
    record: RunRecord
    metrics: RunMetrics | None = None
    network: Any = None            # artifact.Network
    stats: Any = None              # pandas.DataFrame
    observe: PhaseManifest | None = None
    skipped: dict[str, str] = field(default_factory=dict)   # figure -> reason


def _read_run(run_dir: Path) -> _RunData:
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: not a run directory (no such directory)")
    if not (run_dir / rundir.RUN_CONFIG_FILE).is_file():
        raise ValueError(f"{run_dir}: not a run directory (no {rundir.RUN_CONFIG_FILE})")
    data = _RunData(run_dir, rundir.read_run_record(run_dir))

    data.metrics = rundir.read_metrics(run_dir)
    if data.metrics is None:
        data.skipped[CONFUSION_PNG] = f"no {rundir.METRICS_FILE} (run `stdp-ray test`)"

    net_dir = run_dir / rundir.NETWORK_DIR
    if net_dir.is_dir():
        data.network = load_network(net_dir)
    else:
        data.skipped[RECEPTIVE_FIELDS_PNG] = f"no {rundir.NETWORK_DIR}/ (run `stdp-ray train`)"

    stats_dir = run_dir / rundir.STATS_DIR
    stats = rundir.read_parts(stats_dir, rundir.TRAIN_STATS_SCHEMA) if stats_dir.is_dir() \
        else None
    if stats is not None and stats.num_rows:
        data.stats = stats.to_pandas()
    else:
        data.skipped[TRAINING_CURVES_PNG] = (f"no rows in {rundir.STATS_DIR}/{rundir.PART_GLOB}"
                                             if stats is not None
                                             else f"no {rundir.STATS_DIR}/")

    try:
        data.observe = rundir.read_manifest(rundir.phase_dir(run_dir, "observe"))
    except ArtifactError as exc:
        logger.warning("observe sample count unknown: %s", exc)
    return data


def _rf_dpi(fig: Figure, n: int, dpi: float) -> float:
    """DPI at which the grid image is drawn at about one screen pixel per image pixel."""
    _, cols = plots.tile_grid_shape(n)
    px = cols * (plots.IMAGE_SIDE + 2 * (2 if n <= plots.LABEL_LIMIT else 1))
    return float(np.clip(px / (0.85 * fig.get_figwidth()), dpi, max(dpi, _MAX_RF_DPI)))


def _headline(data: _RunData) -> list[tuple[str, str]]:
    m = data.metrics if data.metrics is not None else RunMetrics(confusion_matrix=None)
    cfg = data.record.config
    net_prov = data.network.provenance if data.network is not None else {}
    prov = m.provenance or data.record.provenance or {}
    versions = prov.get("versions") or {}
    stats = data.stats

    cm = m.confusion_matrix
    acc = _fmt_pct(m.accuracy)
    if cm is not None and acc != NA:
        cm_arr = np.asarray(cm)
        acc += f" ({int(np.trace(cm_arr)):,} / {int(cm_arr.sum()):,})"
    n_neurons = _first(m.n_neurons, cfg.n_neurons,
                       data.network.config.n_neurons if data.network is not None else None)
    train_samples = _first(m.training_samples, net_prov.get("training_samples"),
                           len(stats) if stats is not None else None)
    observe = _first(m.observe_samples,
                     data.observe.n_samples if data.observe is not None else None)
    train_failed = int(stats["failed"].sum()) if stats is not None else None
    # Sum of the per-sample times (all sessions of a resumed training).
    train_seconds = _first(float(stats["seconds"].sum()) if stats is not None else None,
                           net_prov.get("training_seconds"))
    commit = rundir.provenance_commit(prov)
    rows = [
        ("Test accuracy", acc),
        ("Test samples", _fmt_int(m.n_samples)),
        ("Excitatory neurons", _fmt_int(n_neurons)),
        ("Training samples", _fmt_int(train_samples)),
        ("Observe (label-assignment) samples", _fmt_int(observe)),
        ("Failed test samples (< min spikes at max intensity)", _fmt_int(m.n_failed)),
        ("Failed training samples", _fmt_int(train_failed)),
        ("Test wall time", _fmt_seconds(m.wall_seconds)),
        ("Training time (sum over samples)", _fmt_seconds(train_seconds)),
        ("Mean presentations / spikes (test)",
         f"{m.mean_presentations:.3f} / {m.mean_spikes:.1f}"
         if isinstance(m.mean_presentations, (int, float))
         and isinstance(m.mean_spikes, (int, float)) else NA),
        ("Workers / nodes / chunks",
         " / ".join(_fmt_int(v) for v in (m.workers, m.nodes, m.chunks))
         if data.metrics is not None else NA),
        ("Backend", _md(_first(m.backend, cfg.backend, NA))),
        ("Seed", _md(_first(m.seed, data.record.seed, NA))),
        ("Network hash", f"`{m.network}`" if m.network else NA),
        ("Commit", f"`{_md(commit)}`" if commit else "not recorded"),
        ("Versions", _md(", ".join(f"{k} {v}" for k, v in versions.items())) or NA),
        ("Host / time", _md(f"{prov.get('host', NA)} / {prov.get('created', NA)}")),
    ]
    return rows


def _curve_markdown(curve) -> list[str]:
    """The learning curve as a Markdown table (one row per snapshot and label set)."""
    lines = ["", "| training samples | epochs | labels from | test images | accuracy |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {int(r.samples_seen):,} | {r.epochs:.2f} | {int(r.label_samples):,} | "
              f"{int(r.test_samples):,} | {100 * r.accuracy:.2f} % |" for r in curve.itertuples()]
    return lines


def _shown(path: Path) -> str:
    """Where a directory is, as the user named it (a URI for a mirror of one on object storage)."""
    return display(path.resolve())


def _shown_name(path: Path) -> str:
    """The last part of :func:`_shown`."""
    return display_name(path)


def _run_markdown(data: _RunData, written: dict[str, Path], curve=None) -> str:
    title = _shown_name(data.run_dir)
    lines = [f"# Run report: {title}", "",
             f"Run directory: `{_shown(data.run_dir)}`  ",
             f"Report written {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
             "", "## Headline", "", "| quantity | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _headline(data)]
    sections = [(CONFUSION_PNG, "Confusion matrix",
                 "Rows true class, columns predicted; colour and percentage normalised per row."),
                (RECEPTIVE_FIELDS_PNG, "Receptive fields",
                 "Input weights of each excitatory neuron as a 28x28 tile; the frame colour "
                 "(and, for small networks, the corner digit) is the neuron's assigned class."),
                (TRAINING_CURVES_PNG, "Training curves",
                 "Per training sample; noisy series as rolling means.")]
    for name, heading, caption in sections:
        if name in written:
            lines += ["", f"## {heading}", "", caption, "", f"![{heading}]({name})"]
    if TRAINING_CURVES_PNG in written:
        lines += ["", f"The same statistics as means per {SUMMARY_EVERY:,} samples: "
                      f"[{TRAINING_SUMMARY_CSV}]({TRAINING_SUMMARY_CSV})."]
    if rundir.CURVE_PNG in written and curve is not None:
        lines += ["", "## Learning curve", "",
                  "Every training snapshot labelled and scored as the final network is "
                  f"(`{rundir.CURVE_DIR}/{rundir.CURVE_FILE}`, `stdp-ray curve`).", "",
                  f"![Learning curve]({rundir.CURVE_PNG})"]
        lines += _curve_markdown(curve)
    if data.skipped:
        lines += ["", "## Not included", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in data.skipped.items()]
    return "\n".join(lines) + "\n"


def write_run_report(run_dir: str | os.PathLike, *, dpi: float = DEFAULT_DPI) -> list[Path]:
    """Write the figures and ``report.md`` of a run directory under ``RUN_DIR/report/``.

    Each figure is written only if its data exists; a figure that is skipped
    is logged (INFO) with the reason and listed under "Not included" in the
    Markdown. Data that exists but cannot be read (malformed ``metrics.json``,
    a corrupt network) raises rather than being skipped.

    ==========================  =============================================
    figure                      data
    ==========================  =============================================
    ``confusion.png``           ``metrics.json`` (``confusion_matrix``)
    ``receptive_fields.png``    ``network/`` (weights; assignments if observed)
    ``training_curves.png``     ``train/stats/part-*.parquet`` (>= 1 row)
    ``learning_curve.png``      ``curve/curve.parquet`` (``stdp-ray curve``)
    ==========================  =============================================

    Parameters
    ----------
    run_dir : path
        A run directory (holds ``config.json``).
    dpi : float
        Resolution of the PNGs (the receptive-field grid may get more).

    Returns
    -------
    list of Path
        The files written: the PNGs, ``training_summary.csv`` (with the
        training curves), then ``report.md``.

    Raises
    ------
    ValueError
        If ``run_dir`` is not a run directory, or a file in it is malformed
        (:class:`stdp_ray.reading.ArtifactError` is a ValueError).
    """
    run_dir = as_path(run_dir)
    data = _read_run(run_dir)
    out_dir = run_dir / REPORT_DIR
    written: dict[str, Path] = {}
    name = _shown_name(run_dir)

    if data.metrics is not None:
        cm = data.metrics.confusion_matrix
        try:
            fig = plots.confusion_figure(cm, title=f"Confusion matrix: {name}")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{run_dir / rundir.METRICS_FILE}: confusion_matrix: {exc}") from exc
        written[CONFUSION_PNG] = save_figure(fig, out_dir / CONFUSION_PNG, dpi)

    if data.network is not None:
        if data.network.assignments is None:
            logger.info("%s: network has no label assignment; receptive fields without "
                        "classes (run `stdp-ray observe`)", run_dir)
        weights = data.network.arrays.weights
        fig = plots.receptive_fields_figure(weights, data.network.assignments,
                                            title=f"Receptive fields: {name}")
        written[RECEPTIVE_FIELDS_PNG] = save_figure(
            fig, out_dir / RECEPTIVE_FIELDS_PNG, _rf_dpi(fig, weights.shape[1], dpi))

    if data.stats is not None:
        fig = plots.training_curves_figure(data.stats, title=f"Training: {name}")
        written[TRAINING_CURVES_PNG] = save_figure(fig, out_dir / TRAINING_CURVES_PNG, dpi)
        csv = training_summary(data.stats).to_csv(index=False, float_format="%.6g")
        written[TRAINING_SUMMARY_CSV] = _write_text(out_dir / TRAINING_SUMMARY_CSV, csv)

    curve = None
    curve_file = run_dir / rundir.CURVE_DIR / rundir.CURVE_FILE
    if curve_file.is_file():
        curve = rundir.read_table(curve_file, rundir.CURVE_SCHEMA).to_pandas()
        if len(curve):
            fig = plots.learning_curve_figure(curve, title=f"Learning curve: {name}")
            written[rundir.CURVE_PNG] = save_figure(fig, out_dir / rundir.CURVE_PNG, dpi)

    for fig_name, reason in data.skipped.items():
        logger.info("%s: skipped %s: %s", run_dir, fig_name, reason)
    md = _write_text(out_dir / REPORT_MD, _run_markdown(data, written, curve))
    return [*written.values(), md]


# --------------------------------------------------------------------------
# Ensemble report
# --------------------------------------------------------------------------
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


def _member_report(run_dir: Path, root: Path, out_dir: Path, dpi: float) -> tuple[list[Path], str]:
    """Write the run report of an ensemble member or a sweep's run, if it is a run directory.

    Returns the files written and a Markdown link to its ``report.md`` (``n/a``
    when the directory is missing or holds no ``config.json``; logged).
    """
    if not run_dir.is_dir():
        logger.info("%s: run directory %s not found; no report for it", root, run_dir)
        return [], NA
    if not (run_dir / rundir.RUN_CONFIG_FILE).is_file():
        logger.warning("%s: %s holds no %s; no report for it", root, run_dir,
                       rundir.RUN_CONFIG_FILE)
        return [], NA
    files = write_run_report(run_dir, dpi=dpi)
    return files, f"[report]({_link(files[-1], out_dir)})"


def write_report(path: str | os.PathLike, *, dpi: float = DEFAULT_DPI) -> list[Path]:
    """The report of a run directory, an ensemble root or a sweep root, holding its lock (shared).

    The lock is taken shared: several reports may run at once, none while a
    writer (``train``, ``test``...) holds the directory.

    Raises
    ------
    DirectoryBusyError
        If another stdp-ray process is writing the directory.
    ValueError
        As :func:`write_run_report`, :func:`write_ensemble_report` and
        :func:`write_sweep_report`.
    """
    path = as_path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: not a run directory (no such directory)")
    with directory_lock(path, shared=True):
        if is_ensemble_root(path):
            return write_ensemble_report(path, dpi=dpi)
        if is_sweep_root(path):
            return write_sweep_report(path, dpi=dpi)
        return write_run_report(path, dpi=dpi)


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
                                                         f"{_shown_name(root)}")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc

    written: list[Path] = []
    member_links: list[str] = []
    member_dirs = [inside_root(root, str(mem.run_dir)) for mem in members]  # all, before writing
    for mdir in member_dirs:
        files, link = _member_report(mdir, root, out_dir, dpi) if member_reports else ([], NA)
        written += files
        member_links.append(link)

    png = save_figure(fig, out_dir / ENSEMBLE_PNG, dpi)
    mean = raw.mean_member_accuracy
    if not isinstance(mean, (int, float)) or isinstance(mean, bool):
        mean = float(np.mean(accs))
    best = int(np.argmax(raw.accuracy_sum)) if raw.accuracy_sum else None
    lines = [f"# Ensemble report: {_shown_name(root)}", "",
             f"Ensemble directory: `{_shown(root)}`  ",
             f"Report written {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
             "", "## Headline", "", "| quantity | value |", "|---|---|",
             f"| Members | {len(members)} |",
             f"| Mean member accuracy | {_fmt_pct(mean)} |",
             f"| Best member accuracy | {_fmt_pct(max(accs))} |"]
    if best is not None:
        lines += [f"| Best ensemble accuracy (sum of scores) | "
                  f"{_fmt_pct(raw.accuracy_sum[best])} at K = {raw.k[best]} |"]
    if raw.accuracy_vote:
        vbest = int(np.argmax(raw.accuracy_vote))
        lines += [f"| Best ensemble accuracy (majority vote) | "
                  f"{_fmt_pct(raw.accuracy_vote[vbest])} at K = {raw.k[vbest]} |"]
    lines += ["", "## Accuracy against ensemble size", "",
              f"![Ensemble accuracy]({ENSEMBLE_PNG})", "",
              "| K | sum of class scores | majority vote |", "|---:|---:|---:|"]
    lines += [f"| {_md(k)} | {_fmt_pct(s)} | {_fmt_pct(v)} |"
              for k, s, v in zip(raw.k, raw.accuracy_sum, raw.accuracy_vote)]
    lines += ["", "## Members", "", "| seed | accuracy | run directory | report |",
              "|---:|---:|---|---|"]
    lines += [f"| {_md(m.seed)} | {_fmt_pct(m.accuracy)} | `{_md(m.run_dir)}` | {link} |"
              for m, link in zip(members, member_links)]
    md = _write_text(out_dir / REPORT_MD, "\n".join(lines) + "\n")
    return [*written, png, md]


# --------------------------------------------------------------------------
# Sweep report
# --------------------------------------------------------------------------
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
    fig = plots.sweep_figure(summary, fields, title=f"Sweep: {_shown_name(root)}")
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
        files, link = _member_report(run_dir, root, out_dir, dpi) if run_reports else ([], NA)
        written += files
        links.append(link)
    try:
        png = write_sweep_figure(root, summary, fields, out_dir / SWEEP_PNG, dpi=dpi)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from exc

    n_runs = int(np.prod([len(v) for v in settings.grid.values()])) * len(settings.seeds)
    best = summary.loc[summary["accuracy"].idxmax()]
    grid_text = "; ".join(f"`{k}` = {', '.join(_md(v) for v in vals)}"
                          for k, vals in settings.grid.items())
    lines = [f"# Sweep report: {_shown_name(root)}", "",
             f"Sweep directory: `{_shown(root)}`  ",
             f"Report written {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
             "", "## Headline", "", "| quantity | value |", "|---|---|",
             f"| Grid | {grid_text} |",
             f"| Seeds | {', '.join(str(s) for s in settings.seeds)} |",
             f"| Runs finished | {len(summary)} of {n_runs} |",
             f"| Excitatory neurons | {_fmt_int(settings.config.n_neurons)} |",
             f"| Training samples (each run) | {_fmt_int(settings.samples)} |",
             f"| Labels from (training images) | "
             f"{_fmt_int(settings.observe_samples) if settings.observe_samples else 'all'} |",
             f"| Test samples | {_fmt_int(int(best['n_samples']))} |",
             f"| Best run | {_fmt_pct(float(best['accuracy']))} at `{_md(best['point'])}`, "
             f"seed {int(best['seed'])} |",
             "", "## Accuracy against each setting", "", f"![Sweep]({SWEEP_PNG})", "",
             "## Mean over seeds, per point", "",
             "| " + " | ".join(_md(f) for f in fields) + " | runs | mean | min | max |",
             "|" + "---:|" * (len(fields) + 4)]
    for values, group in summary.groupby(fields, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        acc = group["accuracy"]
        lines.append("| " + " | ".join(_md(v) for v in values)
                     + f" | {len(group)} | {_fmt_pct(float(acc.mean()))} | "
                       f"{_fmt_pct(float(acc.min()))} | {_fmt_pct(float(acc.max()))} |")
    lines += ["", "## Runs", "",
              "| " + " | ".join(_md(f) for f in fields)
              + " | seed | accuracy | failed (test) | training time | report |",
              "|" + "---:|" * (len(fields) + 4) + "---|"]
    for row, link in zip(summary.itertuples(index=False), links):
        row = row._asdict()
        lines.append("| " + " | ".join(_md(row[f]) for f in fields)
                     + f" | {int(row['seed'])} | {_fmt_pct(float(row['accuracy']))} | "
                       f"{_fmt_int(int(row['n_failed']))} | "
                       f"{_fmt_seconds(float(row['training_seconds']))} | {link} |")
    md = _write_text(out_dir / REPORT_MD, "\n".join(lines) + "\n")
    return [*written, png, md]
