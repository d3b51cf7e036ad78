"""What the object-storage tests share: a private node-local cache per test, a process
holding a lease."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test's mirrors in its own node-local cache (checked for leftovers)."""
    monkeypatch.setenv("STDP_RAY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def mirrors_left(cache: Path) -> list[str]:
    base = cache / "mirrors"
    return sorted(p.name for p in base.iterdir()) if base.is_dir() else []


HOLD = """\
import sys, time
from stdp_ray import leases, location
leases.LEASE_SECONDS = float(sys.argv[2])
with location.open_location(sys.argv[1], write=True):
    print("held", flush=True)
    time.sleep(600)
"""


def hold_lease(uri: str, seconds: float = 60.0) -> subprocess.Popen:
    """A process holding ``uri``'s lease (for ``seconds``, renewed) until killed."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, uri, str(seconds)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child
