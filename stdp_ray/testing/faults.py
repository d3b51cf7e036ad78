"""Fault injection for tests: a process kills itself at a named point, once.

A test writes a token (e.g. ``"chunk 3"``) into a file and names that file in
an environment variable before Ray starts its workers. The process that reaches
the matching point deletes the file and exits at once, as a crash would; the
next attempt (Ray's retry or restart) finds no file and carries on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["maybe_crash"]


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
