"""The report of a run directory: its figures, ``training_summary.csv`` and ``report.md``."""

from __future__ import annotations

import datetime as _dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import plots, rundir
from ..rundir import (CONFUSION_PNG, RECEPTIVE_FIELDS_PNG, REPORT_DIR, REPORT_MD,
                      TRAINING_CURVES_PNG, TRAINING_SUMMARY_CSV, PhaseManifest, RunMetrics,
                      RunRecord)
from ..artifact import load_network
from ..reading import ArtifactError
from ..reference import paper_accuracy
from ..location import as_path
from .output import (DEFAULT_DPI, NA, first, fmt_int, fmt_pct, fmt_seconds, md_cell,
                     save_figure, shown, shown_name, write_text)

logger = logging.getLogger(__name__)

__all__ = ["write_run_report", "training_summary", "SUMMARY_EVERY"]

#: Training samples per row of the training summary (CSV).
SUMMARY_EVERY = 1000
#: Most dots per inch of the receptive-field grid.
_MAX_RF_DPI = 200
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


@dataclass
class _RunData:
    run_dir: Path
    record: RunRecord
    metrics: RunMetrics | None = None
    network: Any = None            # artifact.Network
    stats: Any = None              # pandas.DataFrame
    observe: PhaseManifest | None = None
    training: Any = None           # loading.TrainingState
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
    from ..loading import training_state

    data.training = training_state(run_dir, data.network)
    if (data.metrics is not None and None not in (data.metrics.network, data.training.network)
            and data.metrics.network != data.training.network):
        # Read before a training that continued replaced the network: not this network's.
        data.metrics = None
        data.skipped[CONFUSION_PNG] = (f"{rundir.METRICS_FILE} is of an older network "
                                       "(run `stdp-ray observe` and `test` again)")

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
    acc = fmt_pct(m.accuracy)
    if cm is not None and acc != NA:
        cm_arr = np.asarray(cm)
        acc += f" ({int(np.trace(cm_arr)):,} / {int(cm_arr.sum()):,})"
    n_neurons = first(m.n_neurons, cfg.n_neurons,
                       data.network.config.n_neurons if data.network is not None else None)
    train_samples = first(m.training_samples, net_prov.get("training_samples"),
                           len(stats) if stats is not None else None)
    observe = first(m.observe_samples,
                     data.observe.n_samples if data.observe is not None else None)
    train_failed = int(stats["failed"].sum()) if stats is not None else None
    # Sum of the per-sample times (all sessions of a resumed training).
    train_seconds = first(float(stats["seconds"].sum()) if stats is not None else None,
                           net_prov.get("training_seconds"))
    commit = rundir.provenance_commit(prov)
    training = data.training
    rows = [
        ("Network shown", training.describe() if training is not None else NA),
        ("Data set", _data_cell(data.record)),
        ("Test accuracy", acc),
        ("Test samples", fmt_int(m.n_samples)),
        ("Excitatory neurons", fmt_int(n_neurons)),
        ("Training samples", fmt_int(train_samples)),
        ("Observe (label-assignment) samples", fmt_int(observe)),
        ("Failed test samples (< min spikes at max intensity)", fmt_int(m.n_failed)),
        ("Failed training samples", fmt_int(train_failed)),
        ("Test wall time", fmt_seconds(m.wall_seconds)),
        ("Training time (sum over samples)", fmt_seconds(train_seconds)),
        ("Mean presentations / spikes (test)",
         f"{m.mean_presentations:.3f} / {m.mean_spikes:.1f}"
         if isinstance(m.mean_presentations, (int, float))
         and isinstance(m.mean_spikes, (int, float)) else NA),
        ("Workers / nodes / chunks",
         " / ".join(fmt_int(v) for v in (m.workers, m.nodes, m.chunks))
         if data.metrics is not None else NA),
        ("Backend", md_cell(first(m.backend, cfg.backend, NA))),
        ("Seed", md_cell(first(m.seed, data.record.seed, NA))),
        ("Network hash", f"`{m.network}`" if m.network else NA),
        ("Commit", f"`{md_cell(commit)}`" if commit else "not recorded"),
        ("Versions", md_cell(", ".join(f"{k} {v}" for k, v in versions.items())) or NA),
        ("Host / time", md_cell(f"{prov.get('host', NA)} / {prov.get('created', NA)}")),
    ]
    return rows


def _data_cell(record: RunRecord) -> str:
    """The run's data set, whether its files were verified, and their MD5s."""
    from ..data import DATASETS

    known = DATASETS.get(record.dataset)
    name = known.title if known else record.dataset
    if not record.data:
        return f"{name} (not recorded: a run made before data sets were recorded)"
    verified = "verified against the published MD5s" if record.data.get("verified") \
        else "not verified"
    files = record.data.get("files") or {}
    sums = "; ".join(f"`{md_cell(n)}` md5 `{md_cell(m)}`" for n, m in sorted(files.items()))
    return md_cell(f"{name} ({verified})") + (f": {sums}" if sums else "")


def _curve_markdown(curve) -> list[str]:
    """The learning curve as a Markdown table (one row per snapshot and label set)."""
    lines = ["", "| training samples | epochs | labels from | test images | accuracy |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {int(r.samples_seen):,} | {r.epochs:.2f} | {int(r.label_samples):,} | "
              f"{int(r.test_samples):,} | {100 * r.accuracy:.2f} % |" for r in curve.itertuples()]
    return lines


def _run_markdown(data: _RunData, written: dict[str, Path], curve=None) -> str:
    title = shown_name(data.run_dir)
    lines = [f"# Run report: {title}", "",
             f"Run directory: `{shown(data.run_dir)}`  ",
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
    written = _write_figures(data, out_dir, dpi)
    curve = _read_curve(run_dir)
    if curve is not None and len(curve):
        fig = plots.learning_curve_figure(
            curve, title=f"Learning curve: {shown_name(run_dir)}",
            paper=paper_accuracy(data.record.config.n_neurons))
        written[rundir.CURVE_PNG] = save_figure(fig, out_dir / rundir.CURVE_PNG, dpi)

    for fig_name, reason in data.skipped.items():
        logger.info("%s: skipped %s: %s", run_dir, fig_name, reason)
    md = write_text(out_dir / REPORT_MD, _run_markdown(data, written, curve))
    return [*written.values(), md]


def _read_curve(run_dir: Path):
    """``curve/curve.parquet`` as a DataFrame, or None if there is none."""
    curve_file = run_dir / rundir.CURVE_DIR / rundir.CURVE_FILE
    if not curve_file.is_file():
        return None
    return rundir.read_table(curve_file, rundir.CURVE_SCHEMA).to_pandas()


def _write_figures(data: _RunData, out_dir: Path, dpi: float) -> dict[str, Path]:
    """The confusion matrix, receptive fields and training curves (with their CSV), where
    their data exist; ``{file name: path}``."""
    run_dir, name = data.run_dir, shown_name(data.run_dir)
    written: dict[str, Path] = {}
    if data.metrics is not None:
        try:
            fig = plots.confusion_figure(data.metrics.confusion_matrix,
                                         title=f"Confusion matrix: {name}")
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
            fig, out_dir / RECEPTIVE_FIELDS_PNG, _rf_dpi(fig, weights.shape[1], dpi),
            vector=False)
    if data.stats is not None:
        fig = plots.training_curves_figure(data.stats, title=f"Training: {name}")
        written[TRAINING_CURVES_PNG] = save_figure(fig, out_dir / TRAINING_CURVES_PNG, dpi)
        csv = training_summary(data.stats).to_csv(index=False, float_format="%.6g")
        written[TRAINING_SUMMARY_CSV] = write_text(out_dir / TRAINING_SUMMARY_CSV, csv)
    return written
