"""Environment variables set for a while and restored: the one helper for it."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, Mapping


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ``; on exit restore each to what it was (or unset it).

    Processes started inside the block (Ray workers, subprocesses) inherit the
    values; the calling process gets its environment back whatever happens.
    """
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
