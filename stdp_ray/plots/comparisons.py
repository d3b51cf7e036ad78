"""Figures that compare: ensemble sizes, training snapshots, network sizes, sweep points.

Accuracies carry their uncertainty (:mod:`stdp_ray.intervals`): a point of one
network has its 95 % binomial (Wilson) error bar over the images scored, a row
of several seeds its mean with +- one standard deviation. Accuracy axes span at
least :data:`MIN_ACCURACY_SPAN`, so that differences of a few hundred images are
not drawn as cliffs; sample axes have thousands separators and learning curves
mark epoch boundaries; the paper's values, where given, are black reference marks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from ..intervals import seed_summary, wilson_interval
from .axes import (EPOCH_SAMPLES, MIN_ACCURACY_SPAN, PAPER_STYLE, THOUSANDS, accuracy_axis,
                   epoch_marks, error_bars, samples_axis)
from .run import check_frame, check_weights, receptive_field_image

__all__ = ["ensemble_accuracy_figure", "learning_curve_figure", "snapshots_figure",
           "size_vs_ensemble_figure", "sweep_figure", "paper_table_figure", "CURVE_COLUMNS",
           "EPOCH_SAMPLES", "MIN_ACCURACY_SPAN", "PAPER_STYLE"]


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
                             title: str | None = None, n_test: int | None = None) -> Figure:
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
    n_test : int, optional
        Test images each accuracy was measured on: 95 % Wilson error bars.

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
    bars_sum = error_bars(acc_sum, n_test) if n_test else np.zeros((2, kk.size))
    bars_vote = error_bars(acc_vote, n_test) if n_test else np.zeros((2, kk.size))
    ax.errorbar(kk, 100 * acc_sum, yerr=100 * bars_sum, fmt="o-", color="C0", capsize=3,
                label="sum of class scores")
    ax.errorbar(kk, 100 * acc_vote, yerr=100 * bars_vote, fmt="s--", color="C1", capsize=3,
                label="majority vote")
    jitter = np.linspace(-0.12, 0.12, len(mem)) if len(mem) > 1 else np.zeros(1)
    ax.scatter(1 + jitter, 100 * mem, color="0.35", s=22, zorder=3, alpha=0.8,
               label=f"members alone ({len(mem)})")
    ax.axhline(100 * mem.mean(), color="0.35", ls=":", lw=1,
               label=f"mean member {100 * mem.mean():.2f}%")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    accuracy_axis(ax, min(mem.min(), (acc_sum - bars_sum[0]).min(),
                          (acc_vote - bars_vote[0]).min()),
                  max(mem.max(), (acc_sum + bars_sum[1]).max(), (acc_vote + bars_vote[1]).max()))
    ax.set_xlabel("ensemble size K")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    best = int(np.argmax(acc_sum))
    ax.set_title(f"{title or 'Ensemble accuracy'}\nbest (sum) {100 * acc_sum[best]:.2f}% at "
                 f"K = {kk[best]}" + (" (error bars: 95 % binomial)" if n_test else ""),
                 fontsize=11)
    return fig


# --------------------------------------------------------------------------
# Learning curves (stdp_ray.curve)
# --------------------------------------------------------------------------
#: Columns that :func:`learning_curve_figure` needs (see
#: :data:`stdp_ray.rundir.CURVE_SCHEMA`); ``test_samples`` and ``epochs``, where
#: present, give the error bars and the epoch length.
CURVE_COLUMNS = ("samples_seen", "label_samples", "accuracy")


def _epoch_length(curve: pd.DataFrame) -> int:
    """Training samples per epoch, from the curve's ``epochs`` column if it has one."""
    if "epochs" in curve.columns:
        rows = curve[curve["epochs"] > 0]
        if len(rows):
            return int(round(float((rows["samples_seen"] / rows["epochs"]).median())))
    return EPOCH_SAMPLES


def learning_curve_figure(curve: pd.DataFrame, *, title: str | None = None,
                          paper: float | None = None) -> Figure:
    """Test accuracy against training samples, one line per label set.

    Parameters
    ----------
    curve : pandas.DataFrame
        One row per snapshot and label set, with at least :data:`CURVE_COLUMNS`;
        with ``test_samples`` each point gets its 95 % Wilson error bar.
    title : str, optional
    paper : float, optional
        The paper's accuracy for this network size (a fraction), drawn as a
        dashed reference line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_frame(curve, "curve", "curve", CURVE_COLUMNS,
                 "curve has no rows, need >= 1 evaluated snapshot")
    acc = _check_accuracies("accuracy", curve["accuracy"].to_numpy())
    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    lows, highs = [acc.min()], [acc.max()]
    for k, (labels, group) in enumerate(curve.sort_values("samples_seen")
                                        .groupby("label_samples", sort=True)):
        group = group.drop_duplicates("samples_seen", keep="last")
        y = group["accuracy"].to_numpy(dtype=float)
        bars = (error_bars(y, group["test_samples"].to_numpy())
                if "test_samples" in group.columns else np.zeros((2, len(y))))
        lows.append((y - bars[0]).min())
        highs.append((y + bars[1]).max())
        ax.errorbar(group["samples_seen"], 100 * y, yerr=100 * bars, fmt="o-", color=f"C{k}",
                    capsize=3, ms=4, label=f"labels from {labels:,} training images")
    if paper is not None:
        ax.axhline(100 * paper, color="black", ls="--", lw=1.2,
                   label=f"Diehl & Cook 2015: {100 * paper:.1f}%")
        lows.append(paper)
        highs.append(paper)
    accuracy_axis(ax, min(lows), max(highs))
    samples_axis(ax, label="training samples seen")
    seen = curve["samples_seen"].to_numpy(dtype=float)
    ax.set_xlim(0, seen.max() * 1.04)
    epoch_marks(ax, seen.max(), _epoch_length(curve))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    best = curve.loc[curve["accuracy"].idxmax()]
    ax.set_title(f"{title or 'Learning curve'}\nbest {100 * best['accuracy']:.2f}% after "
                 f"{int(best['samples_seen']):,} samples (error bars: 95 % binomial)",
                 fontsize=11)
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
    """Accuracy against training compute: one network's size against ensembles of smaller ones.

    Parameters
    ----------
    points : pandas.DataFrame
        One row per network or ensemble: ``label`` (str), ``accuracy`` (0..1),
        ``kind`` ("single", "seeds" or "ensemble") and the compute, either
        ``neuron_epochs`` (members x excitatory neurons x epochs each; drawn with
        thousands separators) or ``synapse_samples`` (input synapses of all
        members x training samples of each). With ``test_samples``, 95 % Wilson
        error bars; a row with an ``sd`` (a mean of seeds) gets +- one sd instead. Rows with the same optional ``series`` (e.g. snapshots of one
        training) are joined by a line and share one legend entry (the label of
        the series' last point); every other row has its own. No text is written
        on the axes, so no label can overlap another.
    """
    if not isinstance(points, pd.DataFrame):
        raise TypeError(f"points is a {type(points).__name__}, must be a pandas DataFrame")
    x_column = "neuron_epochs" if "neuron_epochs" in points.columns else "synapse_samples"
    missing = [c for c in ("label", x_column, "accuracy", "kind") if c not in points.columns]
    if missing:
        raise ValueError(f"points lack columns {missing}")
    if len(points) == 0:
        raise ValueError("points has no rows")
    acc = _check_accuracies("accuracy", points["accuracy"].to_numpy())
    points = points.assign(series=points["series"] if "series" in points.columns
                           else points["label"])
    bars = (error_bars(acc, points["test_samples"].to_numpy())
            if "test_samples" in points.columns else np.zeros((2, len(points))))
    if "sd" in points.columns:  # a mean of seeds: +- one standard deviation
        sd = pd.to_numeric(points["sd"], errors="coerce").to_numpy(dtype=float)
        bars = np.where(np.isnan(sd), bars, np.vstack([sd, sd]))
    points = points.assign(low=acc - bars[0], high=acc + bars[1])
    fig = Figure(figsize=(10.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    markers = {"single": "o", "seeds": "D", "ensemble": "s"}
    colours = colormaps["tab20"].colors
    for k, (_, group) in enumerate(points.groupby("series", sort=False)):
        group = group.sort_values(x_column)
        y = group["accuracy"].to_numpy(dtype=float)
        kind = group["kind"].iloc[-1]
        ax.errorbar(group[x_column], 100 * y,
                    yerr=100 * np.vstack([y - group["low"], group["high"] - y]),
                    fmt=markers.get(kind, "o") + ("-" if len(group) > 1 else ""),
                    color=colours[(2 * k) % 20 + (k // 10) % 2], ms=5, lw=1, capsize=2,
                    label=str(group["label"].iloc[-1]))
    ax.set_xscale("log")
    ax.margins(x=0.08)
    if x_column == "neuron_epochs":
        ax.xaxis.set_major_formatter(THOUSANDS)
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _pos: ""))
        ax.set_xlabel("training compute: members x excitatory neurons x epochs each")
    else:
        ax.set_xlabel("input synapses x training samples (all members)")
    accuracy_axis(ax, points["low"].min(), points["high"].max(),
                   label="test accuracy (10,000 images)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title((title or "Size against ensembles at equal training compute")
                 + "\nerror bars: 95 % binomial; lines: snapshots of one training", fontsize=10)
    return fig


def paper_table_figure(rows: pd.DataFrame, paper: dict[int, float], *,
                       title: str | None = None) -> Figure:
    """The paper's table as a figure: accuracy against network size, with the paper's values.

    Parameters
    ----------
    rows : pandas.DataFrame
        One row per network or group of seeds: ``n_neurons`` (int), ``label``
        (str; rows with the same label form one series, joined by a line),
        ``accuracy`` (mean over seeds where several, 0..1) and either
        ``test_samples`` (one network: a 95 % Wilson error bar) or ``sd``
        (several seeds: +- one standard deviation; the seeds' own accuracies in
        an optional ``seed_accuracies`` column of lists are drawn as dots).
    paper : dict
        Diehl & Cook (2015)'s accuracy (a fraction) by excitatory neurons: black marks.
    title : str, optional
    """
    check_frame(rows, "rows", "rows", ("n_neurons", "label", "accuracy"),
                "rows has no rows, need >= 1 network")
    acc = _check_accuracies("accuracy", rows["accuracy"].to_numpy())
    fig = Figure(figsize=(8.6, 4.8), layout="constrained")
    ax = fig.add_subplot()
    sizes = sorted({int(n) for n in rows["n_neurons"]} | {int(n) for n in paper})
    position = {n: i for i, n in enumerate(sizes)}
    labels = list(dict.fromkeys(rows["label"]))
    offsets = (np.linspace(-0.22, 0.22, len(labels)) if len(labels) > 1 else np.zeros(1))
    lows, highs = [acc.min()], [acc.max()]
    for k, name in enumerate(labels):
        group = rows[rows["label"] == name].sort_values("n_neurons")
        x = np.array([position[int(n)] for n in group["n_neurons"]]) + offsets[k]
        y = group["accuracy"].to_numpy(dtype=float)
        sd = group["sd"].to_numpy(dtype=float) if "sd" in group.columns \
            else np.full(len(y), np.nan)
        binomial = (error_bars(y, group["test_samples"].to_numpy())
                    if "test_samples" in group.columns else np.zeros((2, len(y))))
        bars = np.where(np.isnan(sd), binomial, np.vstack([sd, sd]))
        lows.append((y - bars[0]).min())
        highs.append((y + bars[1]).max())
        ax.errorbar(x, 100 * y, yerr=100 * bars, fmt="o-" if len(y) > 1 else "o",
                    color=f"C{k % 10}", capsize=3, ms=5, lw=1, label=name)
        if "seed_accuracies" in group.columns:
            for xi, seeds in zip(x, group["seed_accuracies"]):
                if isinstance(seeds, (list, tuple, np.ndarray)) and len(seeds) > 1:
                    ax.scatter(np.full(len(seeds), xi + 0.05), 100 * np.asarray(seeds),
                               s=9, color=f"C{k % 10}", alpha=0.6, zorder=4)
    px = [position[n] for n in sorted(paper)]
    py = [100 * paper[n] for n in sorted(paper)]
    ax.plot(px, py, label="Diehl & Cook 2015", **PAPER_STYLE)
    lows.extend(paper.values())
    highs.extend(paper.values())
    ax.set_xticks(range(len(sizes)), [f"{n:,}" for n in sizes])
    ax.set_xlim(-0.6, len(sizes) - 0.4)
    ax.set_xlabel("excitatory neurons")
    accuracy_axis(ax, min(lows), max(highs), label="test accuracy (10,000 images)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title or "Test accuracy by network size against Diehl & Cook (2015)\n"
                 "error bars: 95 % binomial (one network) or +- 1 sd (seeds)", fontsize=10)
    return fig


# --------------------------------------------------------------------------
# Sweeps
# --------------------------------------------------------------------------
def _run_bars(summary: pd.DataFrame) -> np.ndarray:
    """Wilson error bars of each run of a sweep summary (zeros without ``n_samples``)."""
    acc = summary["accuracy"].to_numpy(dtype=float)
    if "n_samples" not in summary.columns:
        return np.zeros((2, len(acc)))
    return error_bars(acc, summary["n_samples"].to_numpy())


def _heat_map(fig: Figure, summary: pd.DataFrame, fields: list[str]) -> None:
    """Mean accuracy over seeds on the grid of two settings, each cell annotated."""
    ax = fig.add_subplot()
    xf, yf = fields
    xs = sorted(summary[xf].dropna().unique().tolist())
    ys = sorted(summary[yf].dropna().unique().tolist())
    grid = np.full((len(ys), len(xs)), np.nan)
    text = {}
    for (xv, yv), group in summary.groupby([xf, yf]):
        i, j = ys.index(yv), xs.index(xv)
        a = group["accuracy"].to_numpy(dtype=float)
        grid[i, j] = a.mean()
        if len(a) > 1:
            s = seed_summary(a)
            text[i, j] = f"{100 * s.mean:.2f}%\n+- {100 * s.sd:.2f} sd\n{len(a)} seeds"
        else:
            n = group["n_samples"].iloc[0] if "n_samples" in group.columns else None
            half = (wilson_interval(float(a[0]), int(n)).half_width
                    if n is not None and n == n and int(n) >= 1 else None)
            text[i, j] = f"{100 * a[0]:.2f}%" + (f"\n+- {100 * half:.1f}" if half else "")
    # The colour scale spans at least MIN_ACCURACY_SPAN: a few hundred images of
    # difference are a shade, not the whole scale.
    low, high = float(np.nanmin(grid)), float(np.nanmax(grid))
    pad = max(0.0, MIN_ACCURACY_SPAN - (high - low)) / 2
    low, high = max(0.0, low - pad), min(1.0, high + pad)
    image = ax.imshow(100 * grid, origin="lower", cmap="viridis", aspect="auto",
                      vmin=100 * low, vmax=100 * high)
    for (i, j), t in text.items():
        shade = (grid[i, j] - low) / max(1e-9, high - low)
        ax.text(j, i, t, ha="center", va="center", fontsize=8,
                color="black" if shade > 0.6 else "white")
    for i, j in zip(*np.nonzero(np.isnan(grid))):   # a point not (yet) finished
        ax.text(j, i, "no run", ha="center", va="center", fontsize=8, color="0.4")
    ax.set_xticks(range(len(xs)), [f"{v:g}" if isinstance(v, float) else str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" if isinstance(v, float) else str(v) for v in ys])
    ax.set_xlabel(xf)
    ax.set_ylabel(yf)
    fig.colorbar(image, ax=ax, label="test accuracy (%), mean over seeds",
                 format=PercentFormatter(decimals=0))


def sweep_figure(summary: pd.DataFrame, fields: list[str], *,
                 title: str | None = None) -> Figure:
    """Test accuracy against the swept settings.

    A grid over two settings is a heat map (mean over seeds in each cell, the
    value and its +- written in: the 95 % binomial half-width for one seed, the
    standard deviation for several; "no run" in a cell without a finished run).
    Otherwise one panel per field: each run a point with its 95 % binomial error
    bar (seeds and the other fields' values spread around the setting), the line
    joining the mean of all runs at each value.

    Parameters
    ----------
    summary : DataFrame
        ``sweep.parquet`` (:func:`stdp_ray.rundir.sweep_summary_table`): the
        columns ``fields`` and ``accuracy`` at least (``n_samples`` for error bars).
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
    heat = (len(fields) == 2 and len(summary)
            and all(summary[f].nunique() >= 2 for f in fields))
    if heat:
        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
        _heat_map(fig, summary, fields)
    else:
        fig = Figure(figsize=(4.2 * len(fields), 4.0), layout="constrained")
        axes = fig.subplots(1, len(fields), squeeze=False)[0]
        acc = summary["accuracy"].to_numpy(dtype=float)
        bars = _run_bars(summary)
        for ax, name in zip(axes, fields):
            values = list(dict.fromkeys(sorted(summary[name].dropna().unique().tolist())))
            numeric = summary[name].dtype.kind in "iuf"
            x_of = {v: (v if numeric else i) for i, v in enumerate(values)}
            xs = summary[name].map(x_of).to_numpy(dtype=float)
            ax.errorbar(xs, 100 * acc, yerr=100 * bars, fmt="o", color="0.35", ms=4,
                        capsize=2, alpha=0.8, zorder=3, label="runs (95 % binomial)")
            means = summary.groupby(name)["accuracy"].mean()
            ax.plot([x_of[v] for v in means.index], 100 * means.to_numpy(), "-", color="C0",
                    label="mean")
            if numeric and len(values) > 2 and min(values) > 0 \
                    and max(values) / min(values) >= 20:
                ax.set_xscale("log")
            if not numeric:
                ax.set_xticks(range(len(values)), [str(v) for v in values])
            if len(acc):
                accuracy_axis(ax, (acc - bars[0]).min(), (acc + bars[1]).max())
            ax.set_xlabel(name)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8, loc="best")
    if len(summary):
        best = summary.loc[summary["accuracy"].idxmax()]
        shown = ", ".join(f"{f}={best[f]:g}" if isinstance(best[f], float) else f"{f}={best[f]}"
                          for f in fields)
        fig.suptitle(f"{title or 'Sweep'}\nbest {100 * best['accuracy']:.2f}% at {shown}",
                     fontsize=11)
    return fig
