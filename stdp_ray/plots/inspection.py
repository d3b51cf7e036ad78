"""The figure of one inspected sample: image, raster of every layer, traces, class vote."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .run import CLASS_COLORS, IMAGE_SIDE

__all__ = ["inspection_figure"]


def inspection_figure(record, *, v_thresh_exc_mV: float | None = None,
                      present_ms: float | None = None, title: str | None = None) -> Figure:
    """What one network did with one image, in one figure.

    Panels: the input image (true and voted class); a raster of the input,
    excitatory and inhibitory spikes of the final presentation (excitatory spikes
    coloured by their neuron's class); the membrane potential of the traced
    neurons with each one's threshold (``theta + v_thresh_exc``) dashed; their
    conductances ``ge`` and ``gi``; and the class vote (mean spikes of each
    class's neurons).

    Parameters
    ----------
    record : stdp_ray.inspection.Inspection
    v_thresh_exc_mV : float, optional
        The threshold offset (mV); default: the record's (the run's configuration).
    present_ms : float, optional
        Where the presentation ends and the rest begins (a dotted line); default:
        the record's.
    title : str, optional
    """
    if v_thresh_exc_mV is None:
        v_thresh_exc_mV = record.v_thresh_exc_mV
    if present_ms is None:
        present_ms = record.present_ms
    fig = Figure(figsize=(12.0, 8.0), layout="constrained")
    grid = fig.add_gridspec(4, 3, width_ratios=[1.0, 2.6, 1.0], height_ratios=[1, 1, 1, 1])
    # Image
    ax = fig.add_subplot(grid[0:2, 0])
    ax.imshow(np.asarray(record.pixels).reshape(IMAGE_SIDE, IMAGE_SIDE), cmap="gray_r")
    ax.set_xticks([])
    ax.set_yticks([])
    voted = "none" if record.predicted is None else str(record.predicted)
    ax.set_title(f"{record.phase} image {record.image:,}\nlabel {record.label}, voted {voted}",
                 fontsize=10)
    # Raster: one axis per layer, time shared with the traces
    raster = grid[0:2, 1].subgridspec(3, 1, hspace=0.05, height_ratios=[1.4, 1, 0.6])
    axes = [fig.add_subplot(raster[0])]
    axes += [fig.add_subplot(raster[k], sharex=axes[0]) for k in (1, 2)]
    colours = None
    if record.assignments is not None:
        colours = CLASS_COLORS[np.asarray(record.assignments)]
    for ax, layer, name in zip(axes, ("input", "exc", "inh"),
                               ("input (784)", "excitatory", "inhibitory")):
        idx, t = record.spikes[layer]
        c = (colours[idx] if layer == "exc" and colours is not None and len(idx)
             else ("0.45" if layer == "input" else "C3"))
        ax.scatter(t, idx, s=2 if layer == "input" else 6, c=c, marker="|", linewidths=0.8,
                   rasterized=layer == "input")
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=7)
        if present_ms is not None:
            ax.axvline(present_ms, color="0.5", ls=":", lw=0.8)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[0].set_title(f"spikes of the final presentation ({record.presentations} presentation"
                      f"{'s' if record.presentations > 1 else ''}, intensity "
                      f"{record.intensity:g}; {int(record.counts.sum())} excitatory spikes)",
                      fontsize=10)
    # Traces
    ax_v = fig.add_subplot(grid[2, 0:2], sharex=axes[0])
    ax_g = fig.add_subplot(grid[3, 0:2], sharex=axes[0])
    for k, neuron in enumerate(record.neurons):
        colour = f"C{k % 10}"
        label = f"neuron {int(neuron)}" + (f" (class {int(record.assignments[neuron])})"
                                           if record.assignments is not None else "") \
            + f": {int(record.counts[neuron])} spikes"
        ax_v.plot(record.t_ms, record.v_mV[k], color=colour, lw=0.9, label=label)
        ax_v.axhline(float(record.theta_mV[k][0]) + v_thresh_exc_mV, color=colour, ls="--",
                     lw=0.7)
        ax_g.plot(record.t_ms, record.ge[k], color=colour, lw=0.9)
        ax_g.plot(record.t_ms, -np.asarray(record.gi[k]), color=colour, lw=0.9, ls=":")
    ax_v.set_ylabel("v (mV); threshold dashed", fontsize=8)
    ax_v.legend(fontsize=7, loc="upper right", ncol=2)
    ax_g.set_ylabel("ge (solid), -gi (dotted)", fontsize=8)
    ax_g.set_xlabel("time from the presentation's start (ms)")
    if len(record.t_ms):
        ax_g.set_xlim(0, float(record.t_ms[-1]) + float(record.t_ms[1] - record.t_ms[0]
                                                        if len(record.t_ms) > 1 else 0))
    for ax in (ax_v, ax_g):
        ax.grid(alpha=0.3)
        if present_ms is not None:
            ax.axvline(present_ms, color="0.5", ls=":", lw=0.8)
    # Class vote
    ax = fig.add_subplot(grid[2:4, 2])
    if record.scores is not None:
        bars = ax.bar(range(10), record.scores, color=CLASS_COLORS)
        if record.predicted is not None:
            bars[record.predicted].set_edgecolor("black")
            bars[record.predicted].set_linewidth(2)
        ax.set_xticks(range(10))
        ax.set_ylabel("mean spikes of the class's neurons", fontsize=8)
        ax.set_title("class vote", fontsize=10)
    else:
        ax.text(0.5, 0.5, "no label assignment\n(run `stdp-ray observe`)", ha="center",
                va="center", transform=ax.transAxes, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title or f"{record.run_dir}: network {record.network[:12]}"
                 + (f" after {record.training_samples:,} training samples"
                    if record.training_samples else ""), fontsize=11)
    return fig
