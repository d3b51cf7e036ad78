"""stdp_ray.testing.env: variables set for a block, then restored or unset."""

from __future__ import annotations

import contextlib
import os

import pytest

from stdp_ray.testing.env import environment

NAME = "STDP_RAY_TEST_ENV_VARIABLE"


@pytest.mark.parametrize("before", [None, "old"])
@pytest.mark.parametrize("fails", [False, True])
def test_a_variable_is_set_inside_and_restored_after_even_on_error(monkeypatch, before, fails):
    if before is None:
        monkeypatch.delenv(NAME, raising=False)
    else:
        monkeypatch.setenv(NAME, before)
    with pytest.raises(RuntimeError, match="inside") if fails else contextlib.nullcontext():
        with environment({NAME: "new"}):
            assert os.environ[NAME] == "new"
            if fails:
                raise RuntimeError("inside")
    assert os.environ.get(NAME) == before

