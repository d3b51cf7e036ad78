"""Progress of long loops: a bar on a terminal, a plain log line every 10 % elsewhere.

A progress bar redraws itself with carriage returns; written to a file or a
pipe (a job's log, ``ray job submit``) it becomes one long line. When stderr
is not a terminal, :func:`progress` logs ``"<desc>: 120/1200 samples (10%)"``
at every tenth instead.
"""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["progress"]

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
        terminal, otherwise a log line every 10 %.
    """
    if not enabled:
        return _Silent()
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        from tqdm.auto import tqdm

        return tqdm(total=total, unit=unit, desc=desc, smoothing=smoothing, file=stream)
    return _LogLines(total, desc, unit)
