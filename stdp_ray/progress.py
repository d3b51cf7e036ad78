"""Progress of long loops: a bar on a terminal or in a notebook, a log line every 10 % elsewhere.

A progress bar redraws itself with carriage returns; written to a file or a
pipe (a job's log, ``ray job submit``) it becomes one long line. When stderr
is not a terminal, :func:`progress` logs ``"<desc>: 120/1200 samples (10%)"``
at every tenth instead. In a Jupyter (or other IPython kernel) notebook,
whose stderr is no terminal either, the bar is ``tqdm.auto``'s (a widget
where ``ipywidgets`` is installed, else text the notebook redraws).

:func:`configure_logging` gives the package's logger a handler when nobody
configured logging (the API calls it: a notebook then shows the INFO lines
and the 10 % lines; the command line configures logging itself).
"""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["progress", "in_notebook", "configure_logging"]

logger = logging.getLogger(__name__)

#: Fraction of the total between two log lines when stderr is not a terminal.
LOG_STEP = 0.1


class _Silent:
    """Counts nothing, shows nothing (``enabled=False``)."""

    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class _LogLines:
    """Logs the count at each ``LOG_STEP`` of ``total`` (and when done)."""

    def __init__(self, total: int, desc: str, unit: str, step: float = LOG_STEP):
        self.total, self.desc, self.unit, self.step = max(int(total), 0), desc, unit, step
        self.n = 0
        self._next = step
        self._t0 = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        if self.total <= 0:
            return
        fraction = self.n / self.total
        if fraction + 1e-12 >= self._next:
            while self._next <= fraction + 1e-12:
                self._next += self.step
            elapsed = time.perf_counter() - self._t0
            logger.info("%s: %d/%d %ss (%d%%, %.0f s)", self.desc, self.n, self.total,
                        self.unit, round(100 * fraction), elapsed)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def in_notebook() -> bool:
    """Whether this process is a Jupyter/IPython kernel (a notebook, JupyterLab, VS Code...)."""
    if "ipykernel" not in sys.modules and "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and (hasattr(shell, "kernel")
                                  or type(shell).__name__ == "ZMQInteractiveShell")


#: The handler :func:`configure_logging` added (None: it added none).
_HANDLER: logging.Handler | None = None


def configure_logging(level: int = logging.INFO) -> logging.Handler | None:
    """Give the ``stdp_ray`` logger a handler if no logging is configured; returns it.

    Nothing is done when the root logger or the package's logger already has a
    handler (``logging.basicConfig``, the command line, a framework), or when
    this function added one before. The handler writes ``LEVEL name: message``
    lines to stderr (what a notebook shows under the cell) at ``level``, and
    shows a bucket's mirror paths as their URIs.
    """
    global _HANDLER
    package = logging.getLogger("stdp_ray")
    if _HANDLER is not None or logging.getLogger().handlers or package.handlers:
        return None
    from .location import DisplayFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(DisplayFilter())
    package.addHandler(handler)
    if package.level == logging.NOTSET or package.level > level:
        package.setLevel(level)
    _HANDLER = handler
    return handler


def progress(total: int, desc: str, *, enabled: bool = True, unit: str = "sample",
             smoothing: float = 0.1, stream=None):
    """A context manager with ``update(n)``: a tqdm bar, log lines, or nothing.

    Parameters
    ----------
    total : int
        Units expected.
    desc : str
        What is counted (the bar's label, the log lines' prefix).
    enabled : bool
        False shows nothing (``--no-progress``).
    stream : file, optional
        Where a bar would go (default ``sys.stderr``): a bar only if it is a
        terminal or a notebook's (:func:`in_notebook`), otherwise a log line
        every 10 %.
    """
    if not enabled:
        return _Silent()
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if in_notebook():
        from tqdm.auto import tqdm

        return tqdm(total=total, unit=unit, desc=desc, smoothing=smoothing)
    if isatty is not None and isatty():
        from tqdm.auto import tqdm

        return tqdm(total=total, unit=unit, desc=desc, smoothing=smoothing, file=stream)
    return _LogLines(total, desc, unit)
