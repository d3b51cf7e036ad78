"""Node-local directories: under the user's cache directory, XDG's variable honoured."""

from __future__ import annotations

from pathlib import Path

import pytest

from stdp_ray import paths


def test_the_cache_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert paths.user_cache_dir() == tmp_path / "stdp_ray"


@pytest.mark.parametrize("xdg", [None, ""])
def test_without_xdg_the_cache_is_in_the_home_directory(monkeypatch, tmp_path, xdg):
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.user_cache_dir() == Path(tmp_path) / ".cache" / "stdp_ray"


def test_one_variable_names_the_node_local_cache():
    assert paths.CACHE_ENV == "STDP_RAY_CACHE"
