"""No link below a run directory's root is followed: for reading, writing, listing or removal."""

from __future__ import annotations

import os

import numpy as np
import pytest

from stdp_ray import atomic, confine, reading, rundir
from stdp_ray.confine import LinkInsideError
from stdp_ray.location import clear_signal, put_signal


@pytest.fixture
def run(tmp_path):
    """A registered run directory and, outside it, a directory links point to."""
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "outside").mkdir()
    confine.add_root(run)
    return run


def _link(run, name, target):
    path = run / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


#: Writers, a remover and readers of a path below ``responses/phase=test`` (a link).
ACCESS = {
    "write a file": lambda p: atomic.atomic_write_bytes(p / "part-000000.parquet", b"x"),
    "write a directory": lambda p: atomic.atomic_directory(p / "d").__enter__(),
    "create a directory": lambda p: confine.make_dirs(p / "d"),
    "remove a file": lambda p: atomic.remove_path(p / "part-000000.parquet"),
    "remove the link itself": lambda p: atomic.remove_path(p),
    "read a file": lambda p: reading.open_regular(p / "part-000000.parquet"),
    "list the parts": lambda p: rundir.part_paths(p),
    "read a part's metadata": lambda p: rundir.read_table_metadata(p / "part-000000.parquet"),
    "write a signal": lambda p: put_signal(p / ".stop"),
    "clear a signal": lambda p: clear_signal(p / ".stop"),
}


@pytest.mark.parametrize("access", ACCESS.values(), ids=ACCESS)
def test_every_access_below_a_linked_directory_is_refused(run, tmp_path, access):
    outside = tmp_path / "outside"
    (outside / "part-000000.parquet").write_bytes(b"theirs")
    (outside / ".stop").write_text("theirs")
    linked = _link(run, "responses/phase=test", outside)
    with pytest.raises(LinkInsideError, match=r"run/responses/phase=test: is a symbolic link "
                                              r"inside the run directory .*run"):
        access(linked)
    assert sorted(p.name for p in outside.iterdir()) == [".stop", "part-000000.parquet"]
    assert (outside / "part-000000.parquet").read_bytes() == b"theirs"
    assert linked.is_symlink()


@pytest.mark.parametrize("name", ["report", "train", "train/checkpoints", "network",
                                  "curve", "_manifests"])
def test_a_link_at_any_depth_is_refused_and_named(run, tmp_path, name):
    _link(run, name, tmp_path / "outside")
    with pytest.raises(LinkInsideError, match=rf"run/{name}: is a symbolic link .*; refusing "
                                              r"to follow it"):
        atomic.atomic_write_bytes(run / name / "x" / "file", b"x")
    assert list((tmp_path / "outside").iterdir()) == []


def test_a_part_linking_to_another_runs_file_is_not_read(run, tmp_path):
    other = tmp_path / "outside" / "part-000000.parquet"
    rundir.write_table(other, rundir.responses_table([0], [1], np.ones((1, 3)), [2.0], [1],
                                                     [False], 0))
    part = _link(run, "responses/phase=test/part-000000.parquet", other)
    with pytest.raises(LinkInsideError, match=r"part-000000.parquet: is a symbolic link"):
        rundir.read_table(part)


def test_the_root_itself_and_what_lies_above_it_may_be_links(tmp_path):
    (tmp_path / "real" / "run").mkdir(parents=True)
    (tmp_path / "above").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "run-link").symlink_to(tmp_path / "real" / "run")
    for root in (tmp_path / "above" / "run", tmp_path / "real" / "run-link"):
        confine.add_root(root)
        atomic.atomic_write_bytes(root / "report" / "report.md", b"ok")
        assert reading.open_regular(root / "report" / "report.md").read() == b"ok"


def test_a_path_derived_from_the_resolved_root_is_checked_too(run, tmp_path):
    _link(run, "report", tmp_path / "outside")
    with pytest.raises(LinkInsideError, match="report: is a symbolic link"):
        atomic.atomic_write_bytes(run.resolve() / "report" / "x.png", b"x")


def test_paths_below_no_root_are_not_checked(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    assert confine.root_of(tmp_path / "link") is None
    atomic.atomic_write_bytes(tmp_path / "link" / "file", b"x")
    assert (tmp_path / "elsewhere" / "file").read_bytes() == b"x"


def test_a_member_below_its_ensemble_root_is_checked_from_the_outer_root(tmp_path):
    root = tmp_path / "ensemble"
    (tmp_path / "elsewhere").mkdir()
    root.mkdir()
    (root / "seed=1").symlink_to(tmp_path / "elsewhere")
    confine.add_root(root)
    confine.add_root(root / "seed=1")
    assert confine.root_of(root / "seed=1" / "x") == os.path.abspath(root)
    with pytest.raises(LinkInsideError, match=r"ensemble/seed=1: is a symbolic link"):
        confine.check(root / "seed=1" / "config.json")


def test_the_sweep_of_temporaries_lists_no_linked_directory(run, tmp_path):
    outside = tmp_path / "outside"
    (outside / ".state.json.abc.tmp").write_text("theirs")
    _link(run, "train/checkpoints", outside)
    with pytest.raises(LinkInsideError, match=r"train/checkpoints: is a symbolic link"):
        rundir.sweep_temporaries(run)
    assert (outside / ".state.json.abc.tmp").exists()
