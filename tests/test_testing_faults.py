"""stdp_ray.testing.faults: a process exits, or waits, only at the point its file names."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from stdp_ray.testing.faults import maybe_crash, maybe_pause

NAME = "STDP_RAY_TEST_FAULT_FILE"


@pytest.mark.parametrize("case", ["no variable", "no file", "another point"])
def test_a_process_goes_on_unless_its_file_names_this_point(monkeypatch, tmp_path, case):
    fault = tmp_path / "fault"
    if case == "no variable":
        monkeypatch.delenv(NAME, raising=False)
    else:
        monkeypatch.setenv(NAME, str(fault))
    if case == "another point":
        fault.write_text("chunk 2")
    maybe_crash(NAME, "chunk 1")
    maybe_pause(NAME, "chunk 1")
    assert fault.exists() == (case == "another point")


def test_the_process_at_the_named_point_exits_once_and_removes_the_file(tmp_path):
    fault = tmp_path / "fault"
    fault.write_text("chunk 1\n")
    code = ("import sys; from stdp_ray.testing.faults import maybe_crash\n"
            f"maybe_crash({NAME!r}, 'chunk 1'); print('went on')\n")
    env = {**os.environ, NAME: str(fault)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=60)
    assert (first.returncode, first.stdout) == (1, "")
    assert not fault.exists()
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=60)
    assert (again.returncode, again.stdout) == (0, "went on\n")


def test_a_process_at_the_named_point_waits_until_the_file_is_removed(monkeypatch, tmp_path):
    fault = tmp_path / "fault"
    fault.write_text("sample 3")
    monkeypatch.setenv(NAME, str(fault))
    waiter = threading.Thread(target=maybe_pause, args=(NAME, "sample 3", 0.01))
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive()
    fault.unlink()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
