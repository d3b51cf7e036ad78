"""Figures that compare: ensemble sizes, training snapshots, network sizes, sweep points."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from .run import check_frame, check_weights, receptive_field_image

__all__ = ["ensemble_accuracy_figure", "learning_curve_figure", "snapshots_figure",
           "size_vs_ensemble_figure", "sweep_figure", "CURVE_COLUMNS"]


# --------------------------------------------------------------------------
# Ensembles
# --------------------------------------------------------------------------
def _check_accuracies(name: str, values, ndim: int = 1) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf" or arr.dtype == bool:
        raise TypeError(f"{name} has dtype {arr.dtype}, must be numeric")
    arr = arr.astype(float)
    if arr.ndim != ndim or arr.size == 0:
        raise ValueError(f"{name} has shape {arr.shape}, must be a non-empty 1-D array")
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{name} must hold accuracies in [0, 1]")
    return arr


def ensemble_accuracy_figure(k, accuracy_sum, accuracy_vote, members, *,
                             title: str | None = None) -> Figure:
    """Ensemble test accuracy against the number of members K.

    Parameters
    ----------
    k : array_like of int, shape (m,)
        Ensemble sizes (>= 1).
    accuracy_sum, accuracy_vote : array_like, shape (m,)
        Accuracy (fraction) of the first ``k`` members combined by summing
        class scores and by majority vote.
    members : array_like, shape (n_members,)
        Accuracy of each member alone; drawn as points at K = 1 with their mean
        as a dashed line.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the arrays are empty, of different lengths, or accuracies leave [0, 1].
    """
    kk = np.asarray(k)
    if kk.dtype.kind not in "iuf" or kk.dtype == bool:
        raise TypeError(f"k has dtype {kk.dtype}, must hold integer ensemble sizes")
    if kk.ndim != 1 or kk.size == 0:
        raise ValueError(f"k has shape {kk.shape}, must be a non-empty 1-D array")
    if np.any(kk < 1) or np.any(kk != np.round(kk)):
        raise ValueError("k must hold integer ensemble sizes >= 1")
    kk = kk.astype(np.int64)
    acc_sum = _check_accuracies("accuracy_sum", accuracy_sum)
    acc_vote = _check_accuracies("accuracy_vote", accuracy_vote)
    mem = _check_accuracies("members", members)
    if not (acc_sum.shape == acc_vote.shape == kk.shape):
        raise ValueError(f"k {kk.shape}, accuracy_sum {acc_sum.shape} and accuracy_vote "
                         f"{acc_vote.shape} must have the same length")
    order = np.argsort(kk, kind="stable")
    kk, acc_sum, acc_vote = kk[order], acc_sum[order], acc_vote[order]

    fig = Figure(figsize=(7.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(kk, 100 * acc_sum, "o-", color="C0", label="sum of class scores")
    ax.plot(kk, 100 * acc_vote, "s--", color="C1", label="majority vote")
    jitter = np.linspace(-0.12, 0.12, len(mem)) if len(mem) > 1 else np.zeros(1)
    ax.scatter(1 + jitter, 100 * mem, color="0.35", s=22, zorder=3, alpha=0.8,
               label=f"members alone ({len(mem)})")
    ax.axhline(100 * mem.mean(), color="0.35", ls=":", lw=1,
               label=f"mean member {100 * mem.mean():.2f}%")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
    ax.set_xlabel("ensemble size K")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    best = int(np.argmax(acc_sum))
    ax.set_title(f"{title or 'Ensemble accuracy'}\nbest (sum) {100 * acc_sum[best]:.2f}% at "
                 f"K = {kk[best]}", fontsize=11)
    return fig


# --------------------------------------------------------------------------
# Learning curves (stdp_ray.curve) and size vs ensembles
# --------------------------------------------------------------------------
#: Columns that :func:`learning_curve_figure` needs (see
#: :data:`stdp_ray.rundir.CURVE_SCHEMA`).
CURVE_COLUMNS = ("samples_seen", "label_samples", "accuracy")


def learning_curve_figure(curve: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Test accuracy against training samples, one line per label set.

    Parameters
    ----------
    curve : pandas.DataFrame
        One row per snapshot and label set, with at least :data:`CURVE_COLUMNS`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_frame(curve, "curve", "curve", CURVE_COLUMNS,
                 "curve has no rows, need >= 1 evaluated snapshot")
    _check_accuracies("accuracy", curve["accuracy"].to_numpy())
    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    for k, (labels, group) in enumerate(curve.sort_values("samples_seen")
                                        .groupby("label_samples", sort=True)):
        ax.plot(group["samples_seen"], 100 * group["accuracy"], "o-", color=f"C{k}",
                label=f"labels from {labels:,} training images")
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
    ax.set_xlabel("training samples seen")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    best = curve.loc[curve["accuracy"].idxmax()]
    ax.set_title(f"{title or 'Learning curve'}\nbest {100 * best['accuracy']:.2f}% after "
                 f"{int(best['samples_seen']):,} samples", fontsize=11)
    return fig


def snapshots_figure(snapshots, *, neurons: int = 16, title: str | None = None) -> Figure:
    """The receptive fields of the first ``neurons`` neurons at each snapshot, one row each.

    Parameters
    ----------
    snapshots : sequence of (int, array_like)
        ``(training samples seen, weights (784, n_neurons))``, in training order.
    neurons : int
        Neurons shown per snapshot (the first ones; at most ``n_neurons``).
    title : str, optional
    """
    snapshots = list(snapshots)
    if not snapshots:
        raise ValueError("snapshots is empty, need >= 1 (samples, weights) pair")
    if isinstance(neurons, bool) or not isinstance(neurons, (int, np.integer)) or neurons < 1:
        raise ValueError(f"neurons == {neurons!r}, must be an integer >= 1")
    rows = []
    for seen, weights in snapshots:
        w = check_weights(weights)
        shown = w[:, :min(int(neurons), w.shape[1])]
        rows.append((int(seen), receptive_field_image(shown, border=1,
                                                      grid=(1, shown.shape[1]))))
    width = max(r.shape[1] for _, r in rows)
    fig = Figure(figsize=(min(16, 0.5 + width / 60), 0.6 + 0.55 * len(rows)),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(rows), 1, squeeze=False)[:, 0])
    for ax, (seen, img) in zip(axes, rows):
        ax.imshow(img, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"{seen:,}", rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"{title or 'Receptive fields'}: first {min(int(neurons), w.shape[1])} neurons "
                 "after each number of training samples", fontsize=10)
    return fig


def size_vs_ensemble_figure(points: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Accuracy against training compute (input synapses x training samples).

    Parameters
    ----------
    points : pandas.DataFrame
        One row per network or ensemble: ``label`` (str), ``synapse_samples``
        (float, input synapses of all members x training samples of each),
        ``accuracy`` (0..1) and ``kind`` ("single" or "ensemble"); rows with
        the same optional ``series`` (e.g. snapshots of one training) are joined
        by a line, and only the series' first and last points are labelled.
    """
    if not isinstance(points, pd.DataFrame):
        raise TypeError(f"points is a {type(points).__name__}, must be a pandas DataFrame")
    missing = [c for c in ("label", "synapse_samples", "accuracy", "kind")
               if c not in points.columns]
    if missing:
        raise ValueError(f"points lack columns {missing}")
    if len(points) == 0:
        raise ValueError("points has no rows")
    _check_accuracies("accuracy", points["accuracy"].to_numpy())
    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    labelled = pd.Series(True, index=points.index)
    if "series" in points.columns:
        for _, group in points.groupby("series", sort=False):
            if len(group) > 1:
                group = group.sort_values("synapse_samples")
                ax.plot(group["synapse_samples"], 100 * group["accuracy"], "-", color="0.6",
                        lw=1, zorder=2)
                labelled[group.index[1:-1]] = False  # the ends say what the line is
    for kind, marker, color in (("single", "o", "C0"), ("ensemble", "s", "C3")):
        sel = points[points["kind"] == kind]
        if len(sel):
            ax.scatter(sel["synapse_samples"], 100 * sel["accuracy"], marker=marker, s=40,
                       color=color, label=f"{kind} network" + ("s" if kind == "ensemble" else ""),
                       zorder=3)
            for i, r in sel[labelled[sel.index]].iterrows():
                ax.annotate(r["label"], (r["synapse_samples"], 100 * r["accuracy"]),
                            textcoords="offset points", xytext=(5, -11 if kind == "ensemble" else 4),
                            fontsize=8, color=color)
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.08)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
    ax.set_xlabel("input synapses x training samples (all members)")
    ax.set_ylabel("test accuracy (10,000 images)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "Size against ensembles at equal training compute", fontsize=11)
    return fig


# --------------------------------------------------------------------------
# Sweeps
# --------------------------------------------------------------------------
def sweep_figure(summary: pd.DataFrame, fields: list[str], *,
                 title: str | None = None) -> Figure:
    """Test accuracy against each swept setting: one panel per field.

    Each run is a point (seeds and the other fields' values spread around its
    setting); the line joins the mean accuracy of all runs at each value.

    Parameters
    ----------
    summary : DataFrame
        ``sweep.parquet`` (:func:`stdp_ray.rundir.sweep_summary_table`): the
        columns ``fields`` and ``accuracy`` at least.
    fields : list of str
        The swept settings, one panel each.
    title : str, optional

    Raises
    ------
    ValueError
        If ``fields`` is empty or a column is missing.
    """
    if not fields:
        raise ValueError("fields is empty, must name >= 1 swept setting")
    missing = [c for c in [*fields, "accuracy"] if c not in summary.columns]
    if missing:
        raise ValueError(f"summary lacks the columns {missing}")
    fig = Figure(figsize=(4.2 * len(fields), 4.0), layout="constrained")
    axes = fig.subplots(1, len(fields), squeeze=False)[0]
    for ax, name in zip(axes, fields):
        values = list(dict.fromkeys(sorted(summary[name].dropna().unique().tolist())))
        numeric = summary[name].dtype.kind in "iuf"
        x_of = {v: (v if numeric else i) for i, v in enumerate(values)}
        xs = summary[name].map(x_of).to_numpy(dtype=float)
        ax.scatter(xs, 100 * summary["accuracy"].to_numpy(), color="0.35", s=20, alpha=0.8,
                   zorder=3, label="runs")
        means = summary.groupby(name)["accuracy"].mean()
        ax.plot([x_of[v] for v in means.index], 100 * means.to_numpy(), "o-", color="C0",
                label="mean")
        if numeric and len(values) > 2 and min(values) > 0 \
                and max(values) / min(values) >= 20:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
        ax.set_xlabel(name)
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")
    if len(summary):
        best = summary.loc[summary["accuracy"].idxmax()]
        shown = ", ".join(f"{f}={best[f]}" for f in fields)
        fig.suptitle(f"{title or 'Sweep'}: best {100 * best['accuracy']:.2f}% at {shown}",
                     fontsize=11)
    return fig
