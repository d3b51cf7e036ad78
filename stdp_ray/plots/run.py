"""Figures of one run: confusion matrix, receptive fields, training curves."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..network import NUM_CLASSES
from .axes import epoch_marks, samples_axis, thin

logger = logging.getLogger(__name__)

__all__ = ["confusion_figure", "receptive_fields_figure", "receptive_field_image",
           "tile_grid_shape", "training_curves_figure", "rolling_window", "CLASS_COLORS",
           "LABEL_LIMIT", "IMAGE_SIDE", "TRAIN_STATS_COLUMNS"]

#: Side of an MNIST image; ``weights`` has ``IMAGE_SIDE ** 2`` rows.
IMAGE_SIDE = 28
#: Receptive-field grids of at most this many neurons label each tile with its
#: class as text; larger grids show the class only as the tile's border colour.
LABEL_LIMIT = 400
#: RGBA (0..1) colour of each class: matplotlib's ``tab10``.
CLASS_COLORS = np.asarray(colormaps["tab10"].colors[:NUM_CLASSES], dtype=float)
#: Columns that :func:`training_curves_figure` needs (see
#: :data:`stdp_ray.rundir.TRAIN_STATS_SCHEMA`).
TRAIN_STATS_COLUMNS = ("sample", "total_spikes", "intensity", "presentations", "w_mean",
                       "w_std", "theta_mean_mV", "theta_std_mV")
_SEPARATOR_RGBA = np.array([205, 205, 205, 255], dtype=np.uint8)  # tile border, no class
_EMPTY_RGBA = np.array([255, 255, 255, 255], dtype=np.uint8)      # unused grid cell


# --------------------------------------------------------------------------
# Confusion matrix
# --------------------------------------------------------------------------
def _check_confusion(cm) -> np.ndarray:
    arr = np.asarray(cm)
    if arr.dtype.kind not in "iuf" or arr.dtype == bool:
        raise TypeError(f"confusion matrix has dtype {arr.dtype}, must hold integer counts")
    if arr.shape != (NUM_CLASSES, NUM_CLASSES):
        raise ValueError(f"confusion matrix has shape {arr.shape}, must be "
                         f"({NUM_CLASSES}, {NUM_CLASSES}) (rows true, columns predicted)")
    if arr.dtype.kind == "f" and not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
        raise TypeError("confusion matrix holds non-integer values, must hold integer counts")
    if np.any(arr < 0):
        raise ValueError("confusion matrix holds negative counts, must be >= 0")
    arr = arr.astype(np.int64)
    if arr.sum() == 0:
        raise ValueError("confusion matrix is all zeros, must count >= 1 sample")
    return arr


def confusion_figure(cm, *, title: str | None = None) -> Figure:
    """Row-normalised confusion matrix with counts and percentages in every cell.

    Parameters
    ----------
    cm : array_like, shape (10, 10)
        Integer counts, rows the true class, columns the predicted class
        (as ``metrics.json["confusion_matrix"]``).
    title : str, optional
        First title line (default ``"Confusion matrix"``); the accuracy and the
        number of samples are always added below it.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``cm`` is not 10x10, has negative counts or is all zeros.
    TypeError
        If ``cm`` does not hold integers.
    """
    cm = _check_confusion(cm)
    totals = cm.sum(axis=1, keepdims=True)
    pct = np.divide(100.0 * cm, totals, out=np.zeros(cm.shape), where=totals > 0)
    n = int(cm.sum())
    acc = float(np.trace(cm)) / n

    fig = Figure(figsize=(7.6, 6.4), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100, interpolation="nearest")
    for i in range(NUM_CLASSES):
        for j in range(NUM_CLASSES):
            if cm[i, j] == 0:
                continue
            color = "white" if pct[i, j] > 55 else "black"
            ax.text(j, i, f"{cm[i, j]}\n{pct[i, j]:.1f}%", ha="center", va="center",
                    fontsize=6.5, color=color, linespacing=1.1)
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_yticks(range(NUM_CLASSES))
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    empty = [i for i in range(NUM_CLASSES) if totals[i, 0] == 0]
    head = title or "Confusion matrix"
    sub = f"accuracy {100 * acc:.2f}% ({int(np.trace(cm))}/{n} test samples)"
    if empty:
        sub += f"; no samples of class {', '.join(map(str, empty))}"
    ax.set_title(f"{head}\n{sub}", fontsize=11)
    cbar = fig.colorbar(im, ax=ax, shrink=0.85)
    cbar.set_label("% of the true class (row)")
    return fig


# --------------------------------------------------------------------------
# Receptive fields
# --------------------------------------------------------------------------
def tile_grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns of the near-square grid holding ``n`` tiles.

    ``cols = ceil(sqrt(n))`` and ``rows = ceil(n / cols)``, e.g. 10 -> (3, 4),
    400 -> (20, 20), 6400 -> (80, 80).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n == {n!r}, must be an integer >= 1")
    cols = math.isqrt(int(n))
    if cols * cols < n:
        cols += 1
    return -(-int(n) // cols), cols


def check_weights(weights) -> np.ndarray:
    w = np.asarray(weights)
    if w.dtype.kind not in "iuf" or w.dtype == bool:
        raise TypeError(f"weights has dtype {w.dtype}, must be numeric")
    if w.ndim != 2 or w.shape[0] != IMAGE_SIDE ** 2 or w.shape[1] < 1:
        raise ValueError(f"weights has shape {w.shape}, must be ({IMAGE_SIDE ** 2}, n_neurons) "
                         "with n_neurons >= 1")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"weights holds {int(np.sum(~np.isfinite(w)))} non-finite values")
    return w.astype(np.float64, copy=False)


def _check_assignments(assignments, n: int) -> np.ndarray | None:
    if assignments is None:
        return None
    a = np.asarray(assignments)
    if a.dtype.kind not in "iu":
        raise TypeError(f"assignments has dtype {a.dtype}, must be integer classes")
    if a.shape != (n,):
        raise ValueError(f"assignments has shape {a.shape}, must be ({n},) to match the "
                         f"{n} columns of weights")
    if a.min() < 0 or a.max() >= NUM_CLASSES:
        raise ValueError(f"assignments must lie in 0..{NUM_CLASSES - 1}, got "
                         f"[{a.min()}, {a.max()}]")
    return a.astype(np.int64)


def _border_width(n: int) -> int:
    return 2 if n <= LABEL_LIMIT else 1


def receptive_field_image(weights, assignments=None, *, vmax: float | None = None,
                          cmap: str = "Greys", border: int | None = None,
                          grid: tuple[int, int] | None = None) -> np.ndarray:
    """The receptive-field grid as one RGBA image (built with numpy, no subplots).

    Neuron ``j`` is tile ``j`` in row-major order of :func:`tile_grid_shape`;
    its 784 input weights are shown as the 28x28 image they connect to, in a
    frame of ``border`` pixels coloured by its assigned class
    (:data:`CLASS_COLORS`), or light grey without assignments. Unused grid
    cells are white.

    Parameters
    ----------
    weights : array_like, shape (784, n_neurons)
    assignments : array_like of int, shape (n_neurons,), optional
    vmax : float, optional
        Weight shown at full colour (default: the largest weight; all tiles
        share this scale).
    cmap : str
        Matplotlib colormap of the weights.
    border : int, optional
        Frame width in pixels (default 2 up to :data:`LABEL_LIMIT` neurons, else 1).
    grid : (int, int), optional
        Rows and columns of tiles (default :func:`tile_grid_shape`), e.g.
        ``(1, n)`` for one row; it must hold every neuron.

    Returns
    -------
    ndarray, shape (rows * (28 + 2 * border), cols * (28 + 2 * border), 4), uint8
    """
    w = check_weights(weights)
    n = w.shape[1]
    a = _check_assignments(assignments, n)
    b = _border_width(n) if border is None else int(border)
    if b < 0:
        raise ValueError(f"border == {border}, must be >= 0")
    top = float(w.max()) if vmax is None else float(vmax)
    if not top > 0:
        top = 1.0
    rows, cols = tile_grid_shape(n) if grid is None else (int(grid[0]), int(grid[1]))
    if rows < 1 or cols < 1 or rows * cols < n:
        raise ValueError(f"grid == {grid}, must have >= {n} cells (one per neuron)")
    side = IMAGE_SIDE + 2 * b
    tiles = np.empty((rows * cols, side, side, 4), dtype=np.uint8)
    tiles[:] = _EMPTY_RGBA
    frame = np.broadcast_to(_SEPARATOR_RGBA, (n, 4)).copy()
    if a is not None:
        frame = np.round(CLASS_COLORS[a] * 255).astype(np.uint8)
        frame = np.concatenate([frame[:, :3], np.full((n, 1), 255, np.uint8)], axis=1)
    tiles[:n] = frame[:, None, None, :]
    values = np.clip(w.T / top, 0.0, 1.0).reshape(n, IMAGE_SIDE, IMAGE_SIDE)
    tiles[:n, b:b + IMAGE_SIDE, b:b + IMAGE_SIDE] = colormaps[cmap](values, bytes=True)
    return (tiles.reshape(rows, cols, side, side, 4).transpose(0, 2, 1, 3, 4)
            .reshape(rows * side, cols * side, 4))


def receptive_fields_figure(weights, assignments=None, *, vmax: float | None = None,
                            cmap: str = "Greys", label_limit: int = LABEL_LIMIT,
                            title: str | None = None) -> Figure:
    """Every excitatory neuron's input weights as a 28x28 tile in one grid image.

    The grid is one image (:func:`receptive_field_image`), so 6,400 neurons
    cost no more artists than 10. With ``assignments``, each tile's frame has
    its class colour (legend below the grid) and, for at most ``label_limit``
    neurons, the class digit is also written in the tile's corner; larger
    grids show the class by colour only, as text would be unreadable.

    Parameters
    ----------
    weights : array_like, shape (784, n_neurons)
        Input-to-excitatory weights (``Network.arrays.weights``).
    assignments : array_like of int, shape (n_neurons,), optional
        Class of each neuron (``Network.assignments``).
    vmax : float, optional
        Weight at full colour (default: the largest weight).
    cmap : str
        Colormap of the weights.
    label_limit : int
        Most neurons for which tiles get a text label.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding the grid image (plus the colorbar's axes).

    Raises
    ------
    ValueError
        If ``weights`` is not (784, n) or ``assignments`` does not have n entries in 0..9.
    """
    w = check_weights(weights)
    n = w.shape[1]
    a = _check_assignments(assignments, n)
    top = float(w.max()) if vmax is None else float(vmax)
    if not top > 0:
        top = 1.0
    img = receptive_field_image(w, a, vmax=top, cmap=cmap)
    rows, cols = tile_grid_shape(n)
    side = img.shape[0] // rows

    width = float(np.clip(0.5 * cols + 1.6, 5.0, 16.0))
    grid_w = width - 1.6
    height = grid_w * rows / cols + (1.1 if a is None else 1.6 if width >= 9 else 1.9)
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(img, interpolation="antialiased" if n > LABEL_LIMIT else "nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)

    if a is not None and n <= label_limit:
        tile_in = grid_w / cols
        size = float(np.clip(tile_in * 72 * 0.3, 3.0, 9.0))
        for j in range(n):
            r, c = divmod(j, cols)
            ax.text(c * side + 1, r * side + 1, str(a[j]), ha="left", va="top", fontsize=size,
                    color="white", fontweight="bold",
                    bbox=dict(boxstyle="square,pad=0.1", facecolor=CLASS_COLORS[a[j]],
                              edgecolor="none"))
    if a is not None:
        counts = np.bincount(a, minlength=NUM_CLASSES)
        handles = [Patch(facecolor=CLASS_COLORS[k], label=f"{k} ({counts[k]})")
                   for k in range(NUM_CLASSES)]
        fig.legend(handles=handles, loc="outside lower center",
                   ncol=NUM_CLASSES if width >= 9 else NUM_CLASSES // 2,
                   fontsize=8, title="assigned class (neurons)", title_fontsize=8,
                   frameon=False, handlelength=1.0, columnspacing=1.0)
    sm = ScalarMappable(Normalize(0.0, top), colormaps[cmap])
    cbar = fig.colorbar(sm, ax=ax, shrink=0.6, pad=0.01)
    cbar.set_label("input weight")
    head = title or "Receptive fields"
    sub = f"{n} excitatory neurons, {rows}x{cols} grid"
    if a is None:
        sub += ", no label assignment"
    elif n > label_limit:
        sub += ", class shown by frame colour"
    ax.set_title(f"{head}\n{sub}", fontsize=11)
    return fig


# --------------------------------------------------------------------------
# Training curves
# --------------------------------------------------------------------------
def check_frame(frame, name: str, what: str, columns, empty: str) -> None:
    """Refuse a ``frame`` that is no DataFrame, lacks ``columns`` or has no rows."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} is a {type(frame).__name__}, must be a pandas DataFrame")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack{'' if what.endswith('s') else 's'} columns {missing} "
                         f"(have {list(frame.columns)})")
    if len(frame) == 0:
        raise ValueError(empty)


def rolling_window(n: int) -> int:
    """Rolling-mean window for a series of ``n`` points: about n/50, in 1..1000."""
    return int(np.clip(round(n / 50), 1, 1000))


def training_curves_figure(stats: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Training statistics against the training sample, in four panels.

    Panels: response spikes (raw and rolling mean); input intensity used and
    presentations needed (rolling means, two y axes); adaptive threshold
    theta, mean with a +/- 1 std band; input weight mean and std. The rolling
    window is :func:`rolling_window` of the number of rows (1, i.e. no
    smoothing, below 75 rows). Sample axes have thousands separators and epoch
    marks; smooth series are drawn at most at :func:`~stdp_ray.plots.axes.thin`'s
    points and the raw spike counts as pixels, so the SVG of a long training stays small.

    Parameters
    ----------
    stats : pandas.DataFrame
        One row per training sample with at least :data:`TRAIN_STATS_COLUMNS`
        (as ``train/stats/part-*.parquet``); a ``failed`` column, if present,
        is counted in the first panel's title.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``stats`` is not a DataFrame.
    ValueError
        If columns are missing or there are no rows.
    """
    check_frame(stats, "stats", "training stats", TRAIN_STATS_COLUMNS,
                 "training stats have no rows, need >= 1 training sample")
    df = stats.sort_values("sample", kind="stable").reset_index(drop=True)
    win = rolling_window(len(df))
    shown = thin(len(df))   # smooth series: a few thousand points draw them exactly enough
    x = df["sample"].to_numpy()[shown]

    def smooth(col: str) -> np.ndarray:
        series = df[col].astype(float)
        return series.rolling(win, min_periods=1).mean().to_numpy()[shown]

    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    roll = f"rolling mean, {win} samples" if win > 1 else "per sample"

    ax = axes[0, 0]
    if win > 1:
        # every sample, drawn as pixels even in the SVG (a vector of 10^5 points is no use)
        ax.plot(df["sample"], df["total_spikes"], color="C0", alpha=0.2, lw=0.6,
                label="per sample", rasterized=True)
    ax.plot(x, smooth("total_spikes"), color="C0", lw=1.4, label=roll)
    failed = int(df["failed"].sum()) if "failed" in df.columns else None
    ax.set_title("Response spikes (final presentation)"
                 + (f"; {failed} failed" if failed is not None else ""), fontsize=10)
    ax.set_ylabel("excitatory spikes")
    ax.legend(fontsize=8, loc="best")

    # Intensity rises by one per extra presentation, so the two curves often
    # coincide in shape: intensity solid and wide, presentations dashed on top.
    ax = axes[0, 1]
    h1 = ax.plot(x, smooth("intensity"), color="C1", lw=2.4, alpha=0.8,
                 label="intensity (left)")
    ax.set_ylabel("input intensity", color="C1")
    twin = ax.twinx()
    h2 = twin.plot(x, smooth("presentations"), color="C2", lw=1.2, ls="--",
                   label="presentations (right)")
    twin.set_ylabel("presentations needed", color="C2")
    ax.set_title(f"Intensity used / presentations ({roll})", fontsize=10)
    ax.legend(handles=h1 + h2, fontsize=8, loc="best")

    ax = axes[1, 0]
    mean = df["theta_mean_mV"].to_numpy(dtype=float)[shown]
    std = df["theta_std_mV"].to_numpy(dtype=float)[shown]
    ax.plot(x, mean, color="C3", lw=1.4, label="mean")
    ax.fill_between(x, mean - std, mean + std, color="C3", alpha=0.2, lw=0, label="± 1 std")
    ax.set_ylabel("theta (mV)")
    ax.set_title("Adaptive threshold theta", fontsize=10)
    ax.legend(fontsize=8, loc="best")

    ax = axes[1, 1]
    ax.plot(x, df["w_mean"].to_numpy(dtype=float)[shown], color="C4", lw=1.4, label="mean")
    ax.plot(x, df["w_std"].to_numpy(dtype=float)[shown], color="C5", lw=1.4, label="std")
    ax.set_ylabel("input weight")
    ax.set_title("Input weights", fontsize=10)
    ax.legend(fontsize=8, loc="best")

    for ax in axes[1]:
        samples_axis(ax, label="training sample")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    for ax, labelled in zip(axes.flat, (True, True, False, False)):
        epoch_marks(ax, float(df["sample"].max()) + 1, labels=labelled)
    fig.suptitle(f"{title or 'Training'}: {len(df):,} samples", fontsize=12)
    return fig

