"""Reading received files as data: links refused, JSON bounded, npz headers checked first."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from stdp_ray import reading
from stdp_ray.reading import ArtifactError, load_json, load_npz, open_regular


def npz_with_member(path, header_shape, data=b"", **arrays):
    """An npz holding ``arrays`` and a member ``extra`` whose header claims ``header_shape``."""
    np.savez(path, **arrays)
    head = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        head, {"descr": "<f8", "fortran_order": False, "shape": header_shape})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("extra.npy", np.lib.format.magic(2, 0) + head.getvalue()[8:] + data)


def test_a_member_of_unfixed_shape_is_bounded_by_max_elements(tmp_path):
    npz_with_member(tmp_path / "d.npz", (10**11,), exc_v=np.zeros(3))
    with pytest.raises(ArtifactError, match=r"extra has 100000000000 elements .*at most 1000"):
        load_npz(tmp_path / "d.npz", max_elements=1000)



@pytest.mark.parametrize("make, what", [
    (lambda p: p.symlink_to(p.parent / "elsewhere"), r"is a symbolic link; refusing"),
    (lambda p: p.mkdir(), r"is not a regular file"),
    (lambda p: None, r"file not found")], ids=["link", "directory", "missing"])
def test_open_regular_refuses_what_is_not_a_regular_file(tmp_path, make, what):
    (tmp_path / "elsewhere").write_text("{}")
    make(tmp_path / "f")
    with pytest.raises(ArtifactError, match=what):
        open_regular(tmp_path / "f")


@pytest.mark.parametrize("text, what", [
    ("[1, 2]", r"expected a JSON object, got list"), ("{not json", r"not valid JSON")])
def test_load_json_reads_only_an_object(tmp_path, text, what):
    (tmp_path / "f.json").write_text(text)
    with pytest.raises(ArtifactError, match=what):
        load_json(tmp_path / "f.json")


def test_load_json_reads_at_most_max_json_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "MAX_JSON_BYTES", 8)
    (tmp_path / "f.json").write_text('{"a": "0123456789"}')
    with pytest.raises(ArtifactError, match=r"f\.json: larger than 8 bytes"):
        load_json(tmp_path / "f.json")
