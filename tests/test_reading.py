"""Reading received files as data: links refused, JSON bounded, npz headers checked first."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest

from stdp_ray import reading
from stdp_ray.reading import (MAX_CONFIG_BYTES, ArtifactError, load_json, load_npz, load_toml,
                              open_regular, parse_json, parse_toml, read_text)


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
    with pytest.raises(ArtifactError, match=r"f\.json: 19 bytes, larger than the 8 bytes read "
                                            r"at most"):
        load_json(tmp_path / "f.json")


# --------------------------------------------------------------------------
# The one bounded reader of JSON and TOML
# --------------------------------------------------------------------------
READERS = {"load_json": load_json, "load_toml": load_toml,
           "read_text": lambda p, **kw: read_text(p, MAX_CONFIG_BYTES, **kw)}


@pytest.mark.parametrize("reader", READERS, ids=list(READERS))
@pytest.mark.parametrize("kind", ["character device", "FIFO"])
def test_a_device_or_a_fifo_is_refused_before_a_byte_is_read_and_never_blocks(
        tmp_path, reader, kind):
    if kind == "FIFO":
        path = tmp_path / "f.json"
        os.mkfifo(path)  # no writer: a blocking open or read would wait forever
    else:
        path = "/dev/zero"  # an endless read
    with pytest.raises(ArtifactError, match=rf"is not a regular file \(a {kind}\)"):
        READERS[reader](path, follow_links=True)


@pytest.mark.parametrize("reader", READERS, ids=list(READERS))
def test_a_file_above_the_limit_is_refused_naming_the_limit(tmp_path, reader):
    path = tmp_path / "big.toml"
    path.write_text("# " + "x" * (MAX_CONFIG_BYTES + 10) + "\n")
    with pytest.raises(ArtifactError, match=r"big\.toml: \d+ bytes, larger than the 1 MiB "
                                            r"read at most"):
        READERS[reader](path, limit=MAX_CONFIG_BYTES) if reader != "read_text" \
            else READERS[reader](path)


@pytest.mark.parametrize("reader", READERS, ids=list(READERS))
def test_text_that_is_not_utf8_is_refused_naming_the_file_and_the_byte(tmp_path, reader):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"name": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(ArtifactError, match=r"latin1\.json: not UTF-8 text \(byte 0xe9 at "
                                            r"offset 13\)"):
        READERS[reader](path)


def test_a_link_is_refused_unless_the_caller_follows_links(tmp_path):
    (tmp_path / "real.json").write_text('{"a": 1}')
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    with pytest.raises(ArtifactError, match=r"link\.json: is a symbolic link"):
        load_json(tmp_path / "link.json")
    assert load_json(tmp_path / "link.json", follow_links=True) == {"a": 1}


DEEP = {"JSON": '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "TOML": "a = " + "[" * 100_000 + "]" * 100_000 + "\n"}


@pytest.mark.parametrize("fmt", ["JSON", "TOML"])
def test_nesting_too_deep_to_parse_is_invalid_like_any_other_damage(fmt):
    parse = parse_json if fmt == "JSON" else parse_toml
    with pytest.raises(ArtifactError, match=rf"^f\.x: not valid {fmt} \(nested too deeply "
                                            r"to read\)$"):
        parse(DEEP[fmt], "f.x")


@pytest.mark.parametrize("fmt, text", [
    ("JSON", '{"min_spikes": ' + "7" * 5000 + "}"),
    ("TOML", "nu_post = 0.1\nmin_spikes = " + "7" * 5000 + "\n"),
    ("TOML", "min_spikes = " + "777_" * 1500 + "7\n")], ids=["json", "toml", "toml-underscores"])
def test_an_integer_too_long_to_convert_is_refused_naming_its_key(fmt, text):
    parse = parse_json if fmt == "JSON" else parse_toml
    with pytest.raises(ArtifactError, match=r"^f\.x: min_spikes: an integer of \d{4} digits, "
                                            r"at most 4300 are read$"):
        parse(text, "f.x")


def test_a_damaged_json_file_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "state.json").write_text('{"a":\n\n  1,,}')
    with pytest.raises(ArtifactError) as info:
        load_json(tmp_path / "state.json")
    assert "\n" not in str(info.value) and str(tmp_path / "state.json") in str(info.value)
