"""What every figure's axes share: accuracy axes, sample axes, epoch marks, error bars.

Conventions: an accuracy axis spans at least :data:`MIN_ACCURACY_SPAN` (so that a
difference of a few hundred test images is not drawn as a cliff); sample counts
are written with thousands separators; epoch boundaries are dotted lines; an
accuracy's error bar is its 95 % Wilson interval (:mod:`stdp_ray.intervals`);
the paper's values are drawn with :data:`PAPER_STYLE`.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from ..intervals import wilson_interval

__all__ = ["EPOCH_SAMPLES", "MIN_ACCURACY_SPAN", "PAPER_STYLE", "THOUSANDS", "error_bars",
           "accuracy_axis", "samples_axis", "epoch_marks", "thin"]

#: Training images in one epoch of MNIST (the default for epoch marks).
EPOCH_SAMPLES = 60_000
#: The narrowest span (a fraction) of an accuracy axis: differences of a few
#: hundred images are not drawn as cliffs.
MIN_ACCURACY_SPAN = 0.10
#: Colour and marker of the paper's values (Diehl & Cook 2015), drawn as references.
PAPER_STYLE = {"color": "black", "marker": "_", "markersize": 22, "markeredgewidth": 2.2,
               "linestyle": "none", "zorder": 5}

#: Formats an axis value as an integer with thousands separators.
THOUSANDS = FuncFormatter(lambda x, _pos: f"{x:,.0f}")


def error_bars(accuracy, n_test) -> np.ndarray:
    """Wilson 95 % error bars, shape (2, n): below and above each accuracy (fractions)."""
    acc = np.asarray(accuracy, dtype=float)
    n_test = np.broadcast_to(np.asarray(n_test), acc.shape)
    bars = np.zeros((2, acc.size))
    for i, (a, n) in enumerate(zip(acc.ravel(), n_test.ravel())):
        if n is not None and not (isinstance(n, float) and np.isnan(n)) and int(n) >= 1:
            iv = wilson_interval(float(a), int(n))
            bars[:, i] = (a - iv.low, iv.high - a)
    return bars


def accuracy_axis(ax, low: float, high: float, *, label: str = "test accuracy") -> None:
    """Percent ticks and limits spanning [low, high] (fractions) and at least
    :data:`MIN_ACCURACY_SPAN`, within [0, 1]."""
    low, high = float(low), float(high)
    span = max(high - low, MIN_ACCURACY_SPAN)
    mid = (low + high) / 2
    lo, hi = mid - span / 2 - 0.01, mid + span / 2 + 0.01
    if lo < 0:
        lo, hi = 0.0, hi - lo
    if hi > 1:
        lo, hi = max(0.0, lo - (hi - 1)), 1.0
    ax.set_ylim(100 * lo, 100 * hi)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0 if hi - lo > 0.2 else 1))
    ax.set_ylabel(label)


def samples_axis(ax, *, label: str = "training samples") -> None:
    """An x axis of sample counts with thousands separators."""
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, min_n_ticks=3))
    ax.xaxis.set_major_formatter(THOUSANDS)
    ax.set_xlabel(label)


def epoch_marks(ax, max_samples: float, epoch_samples: int = EPOCH_SAMPLES, *,
                labels: bool = True) -> None:
    """Dotted vertical lines at every epoch boundary up to ``max_samples``, labelled at the
    top unless ``labels`` is False (panels below one that has the labels)."""
    if epoch_samples < 1:
        return
    count = int(max_samples // epoch_samples)
    step = max(1, math.ceil(count / 15))  # at most ~15 labelled boundaries
    for k in range(1, count + 1):
        x = k * epoch_samples
        ax.axvline(x, color="0.55", lw=0.8, ls=":", zorder=1)
        if labels and k % step == 0:
            ax.annotate(f"epoch {k}", (x, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(-2, -3), textcoords="offset points", rotation=90,
                        ha="right", va="top", fontsize=7, color="0.4")




def thin(n: int, most: int = 4000) -> np.ndarray:
    """Indices of at most ``most`` evenly spread points of ``n`` (first and last kept): a
    smoothed series of 900,000 samples needs no more to be drawn, and its SVG stays small."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))
