"""How a report writes: its files (PNG, text; atomically) and the Markdown text of values."""

from __future__ import annotations

import io
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from ..atomic import atomic_write_bytes
from ..location import display, display_name

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_DPI", "NA", "save_figure", "write_text", "md_cell", "link", "fmt_seconds",
           "fmt_int", "fmt_pct", "first", "shown", "shown_name"]

#: Resolution of the PNGs; the receptive-field grid gets more where it has
#: more pixels than the figure would show at this resolution (up to 200 dpi).
DEFAULT_DPI = 120
#: A value that is not known.
NA = "n/a"


def save_figure(fig: Figure, path: str | os.PathLike, dpi: float = DEFAULT_DPI, *,
                vector: bool = True) -> Path:
    """Render ``fig`` as PNG and, beside it, as SVG; write both atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : path
        The PNG's destination; parent directories are created. The SVG gets the
        same name with the suffix ``.svg``.
    dpi : float
    vector : bool, default True
        Also write the SVG (vector output for print). Figures that are images
        (receptive fields) pass False: an SVG would only wrap the same pixels.

    Returns
    -------
    Path
        The PNG.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    path = atomic_write_bytes(path, buf.getvalue())
    logger.info("wrote %s", path)
    if vector:
        svg = io.BytesIO()
        # No date, and a fixed id salt: the same figure gives the same bytes.
        with rc_context({"svg.hashsalt": "stdp-ray"}):
            fig.savefig(svg, format="svg", metadata={"Date": None})
        written = atomic_write_bytes(Path(path).with_suffix(".svg"), svg.getvalue())
        logger.info("wrote %s", written)
    return path


def write_text(path: Path, text: str) -> Path:
    path = atomic_write_bytes(path, text.encode("utf-8"))
    logger.info("wrote %s", path)
    return path


def md_cell(value: Any) -> str:
    """A value made safe for a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def link(target: Path, start: Path) -> str:
    """``target`` relative to ``start``, as a Markdown link target."""
    rel = Path(os.path.relpath(target, start)).as_posix()
    return f"<{rel}>" if any(c in rel for c in " ()<>") else rel


def fmt_seconds(seconds: Any) -> str:
    """Seconds as ``12.3 s`` or ``1 h 02 min 03 s (3,723 s)``; NA if not a finite number."""
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


def fmt_int(value: Any) -> str:
    """An integer with thousands separators; NA for None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    return NA if value is None else md_cell(value)


def fmt_pct(value: Any) -> str:
    """A fraction as a percentage with two decimals; NA if not a finite number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{100 * float(value):.2f}%"
    return NA


def first(*values: Any) -> Any:
    """The first value that is not None (None if all are)."""
    for v in values:
        if v is not None:
            return v
    return None



def shown(path: Path) -> str:
    """Where a directory is, as the user named it (a URI for a mirror of one on object storage).

    A local directory is shown as its path was given (relative stays relative), so
    that a report names no directory of the machine it was written on unless asked.
    """
    resolved = str(path.resolve())
    uri = display(resolved)
    return uri if uri != resolved else path.as_posix()


def shown_name(path: Path) -> str:
    """The last part of :func:`shown`."""
    return display_name(path)
