"""Fault points: inert unless a test arms them, each with its own variable and token."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stdp_ray import faults


def test_every_point_has_its_own_variable():
    variables = [variable for variable, _ in faults.POINTS.values()]
    assert len(set(variables)) == len(variables)


def test_an_unknown_point_is_refused_by_name():
    with pytest.raises(KeyError, match="fault point 'nowhere' unknown"):
        faults.env_var("nowhere")


@pytest.mark.parametrize("point", sorted(faults.POINTS))
def test_an_unarmed_point_does_nothing(point, monkeypatch):
    monkeypatch.delenv(faults.env_var(point), raising=False)
    faults.crash_point(point, 3)
    faults.pause_point(point, 3)


def test_an_armed_point_passes_other_tokens(tmp_path, monkeypatch):
    env = faults.arm("chunk", tmp_path / "f", 3)
    monkeypatch.setenv(*next(iter(env.items())))
    faults.crash_point("chunk", 2)
    faults.pause_point("chunk", 4)
    assert (tmp_path / "f").read_text() == "chunk 3"


def test_an_armed_crash_point_exits_once_and_disarms(tmp_path):
    env = faults.arm("train-sample", tmp_path / "f", 5)
    code = "from stdp_ray import faults; faults.crash_point('train-sample', 5); print('alive')"
    first = subprocess.run([sys.executable, "-c", code], env={**_base_env(), **env},
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 1 and "alive" not in first.stdout
    assert not (tmp_path / "f").exists()
    second = subprocess.run([sys.executable, "-c", code], env={**_base_env(), **env},
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and "alive" in second.stdout


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in
            {variable for variable, _ in faults.POINTS.values()}}
