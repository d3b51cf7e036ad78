"""How ``scripts/setup.sh`` chooses the Python of a new ``.venv``.

Each test runs ``setup.sh --print-python`` (which installs nothing) with a
``PATH`` holding only the few tools the script needs and fake interpreters:
a fake that exits 0 passes the script's check (it runs, is the version its
name says, has venv and ensurepip), one that exits 127 is a pyenv shim for a
version that is not selected.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup.sh"


def _supported_minors() -> list[int]:
    """The minor versions of Python 3 that pyproject.toml's requires-python allows."""
    import tomllib

    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())
                        ["project"]["requires-python"])
    return [m for m in range(100) if f"3.{m}.0" in spec]


SUPPORTED = _supported_minors()
NEWEST, OLDEST = f"python3.{SUPPORTED[-1]}", f"python3.{SUPPORTED[0]}"


def _fake(path: Path, status: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nexit {status}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def env(tmp_path):
    """An environment whose PATH has the script's tools and an empty ``bin``, no pyenv."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("sed", "sort", "dirname"):
        (tools / name).symlink_to(shutil.which(name))
    (tmp_path / "bin").mkdir()
    return {"PATH": f"{tmp_path / 'bin'}:{tools}", "PYENV_ROOT": str(tmp_path / "pyenv"),
            "HOME": str(tmp_path)}


def _choose(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(SETUP), "--print-python"], env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_supported_range_is_read_from_pyproject():
    assert len(SUPPORTED) >= 2 and SUPPORTED == list(range(SUPPORTED[0], SUPPORTED[-1] + 1))
    assert sys.version_info.minor in SUPPORTED  # the Python running the tests


def test_the_newest_supported_python_on_path_is_chosen(env, tmp_path):
    bin_ = tmp_path / "bin"
    for m in SUPPORTED:
        _fake(bin_ / f"python3.{m}")
    _fake(bin_ / f"python3.{SUPPORTED[-1] + 1}")  # newer than supported: never chosen
    out = _choose(env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(bin_ / NEWEST)


def test_a_shim_that_fails_is_passed_over_for_pyenvs_newest_patch(env, tmp_path):
    _fake(tmp_path / "bin" / NEWEST, status=127)
    _fake(tmp_path / "bin" / OLDEST)
    versions = tmp_path / "pyenv" / "versions"
    for patch in (2, 10, 9):
        _fake(versions / f"{NEWEST[6:]}.{patch}" / "bin" / NEWEST)
    out = _choose(env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(versions / f"{NEWEST[6:]}.10" / "bin" / NEWEST)


def test_an_older_supported_python_is_used_when_it_is_the_only_one(env, tmp_path):
    _fake(tmp_path / "bin" / OLDEST)
    assert _choose(env).stdout.strip() == str(tmp_path / "bin" / OLDEST)


def test_PYTHON_overrides_the_choice(env, tmp_path):
    _fake(tmp_path / "bin" / NEWEST)
    out = _choose({**env, "PYTHON": "/opt/my/python"})
    assert out.returncode == 0 and out.stdout.strip() == "/opt/my/python"


def test_no_supported_python_fails_and_says_what_to_do(env, tmp_path):
    _fake(tmp_path / "bin" / NEWEST, status=127)
    _fake(tmp_path / "bin" / f"python3.{SUPPORTED[0] - 1}")
    out = _choose(env)
    assert out.returncode != 0 and out.stdout == ""
    assert f"no Python 3.{SUPPORTED[0]} to 3.{SUPPORTED[-1]}" in out.stderr
    assert "PYTHON=" in out.stderr
