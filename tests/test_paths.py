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


def test_without_the_variable_the_root_is_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("STDP_RAY_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert paths.cache_dir() == tmp_path / "stdp_ray"


def test_every_node_local_directory_lies_inside_stdp_ray_cache(monkeypatch, tmp_path):
    import brian2

    from stdp_ray import mirrors
    from stdp_ray.engines import base, brian

    root = tmp_path / "cache"
    monkeypatch.setenv("STDP_RAY_CACHE", str(root))
    before = brian2.prefs.codegen.runtime.cython.cache_dir
    try:
        brian._set_prefs()
        cython = Path(brian2.prefs.codegen.runtime.cython.cache_dir)
    finally:
        brian2.prefs.codegen.runtime.cython.cache_dir = before
    for where in (paths.cache_dir(), base.build_cache_dir(), mirrors.mirrors_dir(), cython):
        assert where == root or root in where.parents, where
    assert cython.parent == root and cython.name.startswith("cython-")
