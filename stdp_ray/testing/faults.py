"""Fault injection for tests: a process kills itself, or waits, at a named point.

A test writes a token (e.g. ``"chunk 3"``) into a file and names that file in
an environment variable before Ray starts its workers. With :func:`maybe_crash`
the process that reaches the matching point deletes the file and exits at
once, as a crash would; the next attempt (Ray's retry or restart) finds no
file and carries on. With :func:`maybe_pause` every process that reaches the
point waits there until the test removes the file (so that it can kill a node
at a known point of a training).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["maybe_crash", "maybe_pause"]


def maybe_crash(env_var: str, token: str) -> None:
    """Exit this process if the file named by ``$env_var`` holds ``token`` (deleting it)."""
    path = os.environ.get(env_var)
    if not path:
        return
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return
    if text == token:
        os.unlink(path)
        logger.warning("fault injection: process %d exits at %s", os.getpid(), token)
        os._exit(1)


def maybe_pause(env_var: str, token: str, poll: float = 0.1) -> None:
    """Wait while the file named by ``$env_var`` holds ``token`` (the test removes it)."""
    path = os.environ.get(env_var)
    if not path:
        return
    announced = False
    while True:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            return
        if text != token:
            return
        if not announced:
            logger.warning("fault injection: process %d waits at %s", os.getpid(), token)
            announced = True
        time.sleep(poll)
