"""The network artifact: round trips, every rejection of a bad file, atomic saves, received
artifacts read as data (links refused, npz headers checked before any data)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import stdp_ray
from conftest import TINY, random_network
from test_reading import npz_with_member
from stdp_ray import artifact, atomic
from stdp_ray.network import FrozenNetwork
from stdp_ray.artifact import (ARRAYS_NPZ, ASSIGNMENTS_NPZ, NETWORK_JSON, load_assignments,
                               load_network, save_assignments, save_network)
from stdp_ray.reading import ArtifactError, load_npz

N = TINY.n_neurons


@pytest.fixture
def arrays() -> FrozenNetwork:
    return random_network(TINY, seed=3)


@pytest.fixture
def net_dir(tmp_path, arrays) -> Path:
    """A valid network directory (float64, seed 3 in its provenance)."""
    return save_network(tmp_path / "net", TINY, arrays, prov={"seed": 3})


def _in_file(path: Path, what: str) -> str:
    """A ``match`` pattern: the message starts with ``path`` and then says ``what``."""
    return "^" + re.escape(f"{path}: ") + what


def _assert_arrays_equal(got: FrozenNetwork, want: FrozenNetwork) -> None:
    for name in ("weights", "theta_mV", "delays_ms"):
        g = getattr(got, name)
        assert g.dtype == np.float64, name
        np.testing.assert_array_equal(g, getattr(want, name), err_msg=name)


def _rewrite_json(directory: Path, change) -> None:
    path = directory / NETWORK_JSON
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def _rewrite_arrays(directory: Path, **changes) -> None:
    """Rewrite arrays.npz with some arrays replaced (``None``: left out)."""
    path = directory / ARRAYS_NPZ
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


# --------------------------------------------------------------------------
# Round trip
# --------------------------------------------------------------------------
def test_round_trip_float64_is_exact(net_dir, arrays):
    net = load_network(net_dir)
    assert net.config == TINY
    _assert_arrays_equal(net.arrays, arrays)
    assert net.assignments is None and net.class_rates is None
    with np.load(net_dir / ARRAYS_NPZ) as raw:
        assert sorted(raw.files) == ["delays_ms", "theta_mV", "weights"]
        assert {raw[k].dtype for k in raw.files} == {np.dtype(np.float64)}


def test_provenance_holds_versions_and_what_was_passed(net_dir):
    import brian2

    prov = load_network(net_dir).provenance
    assert prov["seed"] == 3
    assert prov["versions"]["stdp_ray"] == stdp_ray.__version__
    assert prov["versions"]["numpy"] == np.__version__
    assert prov["versions"]["brian2"] == brian2.__version__
    assert prov["versions"]["python"] and prov["host"] is not None and prov["created"]


def test_round_trip_float32_storage(tmp_path, arrays):
    d = save_network(tmp_path / "net", TINY, arrays, dtype="float32")
    with np.load(d / ARRAYS_NPZ) as raw:
        assert {raw[k].dtype for k in raw.files} == {np.dtype(np.float32)}
    net = load_network(d)
    assert net.config == TINY
    for name in ("weights", "theta_mV", "delays_ms"):
        got, want = getattr(net.arrays, name), getattr(arrays, name)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=2.0 ** -24, atol=0, err_msg=name)
    # and it really was rounded: float64 weights do not survive float32 exactly
    assert not np.array_equal(net.arrays.weights, arrays.weights)


@pytest.mark.parametrize("w_max, delay_max_ms", [(0.3, 0.3), (1.0, 10.0), (0.7, 3.3)])
def test_float32_storage_of_values_at_the_bounds_loads(tmp_path, w_max, delay_max_ms):
    # A weight exactly at w_max (or a delay at delay_max_ms) that float32 rounds
    # upwards must not make the saved network unloadable.
    cfg = TINY.replace(w_max=w_max, delay_max_ms=delay_max_ms)
    base = random_network(cfg)
    weights = np.clip(base.weights, 0, w_max)
    weights[0, :] = w_max
    delays = np.full_like(base.delays_ms, delay_max_ms)
    d = save_network(tmp_path / "net", cfg, FrozenNetwork(weights, base.theta_mV, delays),
                     dtype="float32")
    net = load_network(d, expect=cfg)
    assert net.arrays.weights.max() <= w_max
    assert net.arrays.delays_ms.max() <= delay_max_ms
    np.testing.assert_allclose(net.arrays.weights[0], w_max, rtol=2.0 ** -23)
    np.testing.assert_allclose(net.arrays.delays_ms, delay_max_ms, rtol=2.0 ** -23)


def test_expect_ignores_the_backend(net_dir):
    assert load_network(net_dir, expect=TINY.replace(backend="standalone")).config == TINY


def test_save_rejects_unknown_dtype(tmp_path, arrays):
    with pytest.raises(ValueError, match=r"dtype == 'float16', must be 'float64' or 'float32'"):
        save_network(tmp_path / "net", TINY, arrays, dtype="float16")
    assert list(tmp_path.iterdir()) == []


def test_save_validates_arrays_before_writing(tmp_path, arrays):
    bad = FrozenNetwork(arrays.weights.T, arrays.theta_mV, arrays.delays_ms)
    with pytest.raises(ArtifactError, match=r"weights has shape \(10, 784\)"):
        save_network(tmp_path / "net", TINY, bad)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# Overwrite
# --------------------------------------------------------------------------
def test_refuses_to_overwrite(net_dir, arrays):
    other = random_network(TINY, seed=4)
    with pytest.raises(FileExistsError,
                       match=_in_file(net_dir, "a network already exists here")):
        save_network(net_dir, TINY, other)
    _assert_arrays_equal(load_network(net_dir).arrays, arrays)


def test_overwrite_replaces(net_dir, arrays):
    save_assignments(net_dir, TINY, np.arange(N) % 10, np.ones((10, N)))
    other = random_network(TINY, seed=4)
    save_network(net_dir, TINY, other, prov={"seed": 4}, overwrite=True)
    net = load_network(net_dir)
    _assert_arrays_equal(net.arrays, other)
    assert net.provenance["seed"] == 4
    # the old directory went entirely, assignments included, and left nothing behind
    assert net.assignments is None
    assert sorted(p.name for p in net_dir.iterdir()) == [ARRAYS_NPZ, NETWORK_JSON]
    assert [p.name for p in net_dir.parent.iterdir()] == [net_dir.name]


# --------------------------------------------------------------------------
# Rejections of load_network, each naming the file at fault
# --------------------------------------------------------------------------
def test_missing_directory(tmp_path):
    d = tmp_path / "nowhere"
    with pytest.raises(ArtifactError, match=_in_file(d, "no network directory here")):
        load_network(d)


def test_missing_network_json(net_dir):
    (net_dir / NETWORK_JSON).unlink()
    with pytest.raises(ArtifactError, match=_in_file(net_dir / NETWORK_JSON, "file not found")):
        load_network(net_dir)


@pytest.mark.parametrize("text, what", [
    ("{not json", r"not valid JSON"),
    ("", r"not valid JSON"),
    ("[1, 2]", r"expected a JSON object, got list"),
], ids=["garbled", "empty", "list"])
def test_unreadable_network_json(net_dir, text, what):
    (net_dir / NETWORK_JSON).write_text(text)
    with pytest.raises(ArtifactError, match=_in_file(net_dir / NETWORK_JSON, what)):
        load_network(net_dir)


def _set(key, value):
    def change(meta):
        meta[key] = value
    return change


def _drop(key):
    def change(meta):
        del meta[key]
    return change


def _set_config(key, value):
    def change(meta):
        meta["config"][key] = value
    return change


@pytest.mark.parametrize("change, what", [
    (_set("format", "something-else"), r"format == 'something-else', must be 'stdp-ray-network'"),
    (_drop("format"), r"format == None"),
    (_set("format_version", 2), r"format_version == 2, this stdp-ray reads 1"),
    (_drop("format_version"), r"format_version == None"),
    (_set_config("bogus_field", 1), r"unknown configuration fields \['bogus_field'\]"),
    (_set_config("version", 99), r"configuration version == 99"),
    (_set_config("n_neurons", -1), r"n_neurons == -1, must be in \[1, 1000000\]"),
    (_set_config("n_neurons", "ten"), r"n_neurons must be an int"),
    (_drop("config"), r"expected a JSON object, got NoneType"),
], ids=["format", "no-format", "format-version", "no-format-version", "unknown-field",
        "config-version", "bad-value", "bad-type", "no-config"])
def test_bad_metadata(net_dir, change, what):
    _rewrite_json(net_dir, change)
    with pytest.raises(ArtifactError, match=_in_file(net_dir / NETWORK_JSON, what)):
        load_network(net_dir)


@pytest.mark.parametrize("changes, what", [
    ({"n_neurons": 11}, r"'n_neurons': \(10, 11\)"),
    ({"w_max": 0.5, "tau_exc_ms": 90.0}, r"'tau_exc_ms': \(100\.0, 90\.0\).*'w_max': \(1\.0, 0\.5\)"),
], ids=["n_neurons", "two-fields"])
def test_expect_mismatch(net_dir, changes, what):
    with pytest.raises(ArtifactError,
                       match=_in_file(net_dir / NETWORK_JSON,
                                      r"configuration does not match; stored vs expected: .*"
                                      + what)):
        load_network(net_dir, expect=TINY.replace(**changes))


def test_missing_arrays_npz(net_dir):
    (net_dir / ARRAYS_NPZ).unlink()
    with pytest.raises(ArtifactError, match=_in_file(net_dir / ARRAYS_NPZ, "file not found")):
        load_network(net_dir)


@pytest.mark.parametrize("content", [b"PK\x03\x04 truncated zip", b"not an npz at all", b""],
                         ids=["truncated-zip", "garbage", "empty"])
def test_unreadable_arrays_npz(net_dir, content):
    (net_dir / ARRAYS_NPZ).write_bytes(content)
    with pytest.raises(ArtifactError,
                       match=_in_file(net_dir / ARRAYS_NPZ, r"not a readable \.npz file")):
        load_network(net_dir)


@pytest.mark.parametrize("name", ["weights", "theta_mV", "delays_ms"])
def test_array_missing(net_dir, name):
    _rewrite_arrays(net_dir, **{name: None})
    with pytest.raises(ArtifactError,
                       match=_in_file(net_dir / ARRAYS_NPZ,
                                      re.escape(f"missing arrays ['{name}']"))):
        load_network(net_dir)


def _weights_with(value):
    def make(a: FrozenNetwork):
        w = a.weights.copy()
        w[5, 7] = value
        return {"weights": w}
    return make


def _delays_with(value):
    def make(a: FrozenNetwork):
        d = a.delays_ms.copy()
        d[0, 0] = value
        return {"delays_ms": d}
    return make


def _theta_nan(a: FrozenNetwork):
    t = a.theta_mV.copy()
    t[2] = np.nan
    return {"theta_mV": t}


@pytest.mark.parametrize("make, what", [
    (lambda a: {"weights": a.weights.T}, r"weights has shape \(10, 784\), must be \(784, 10\)"),
    (lambda a: {"theta_mV": a.theta_mV[:-1]}, r"theta_mV has shape \(9,\), must be \(10,\)"),
    (lambda a: {"delays_ms": a.delays_ms.astype(np.int64)},
     r"delays_ms has dtype int64, must be floating point"),
    (lambda a: {"theta_mV": a.theta_mV.astype(np.int32)},
     r"theta_mV has dtype int32, must be floating point"),
    (_theta_nan, r"theta_mV holds 1 non-finite values"),
    (_weights_with(np.inf), r"weights holds 1 non-finite values"),
    (_weights_with(1.5), r"weights span \[.*, 1\.5\], must lie in \[0, w_max=1\.0\]"),
    (_weights_with(-0.1), r"weights span \[-0\.1, .*\], must lie in \[0, w_max=1\.0\]"),
    (_delays_with(10.5), r"delays_ms span \[.*, 10\.5\], must lie in \[0, delay_max_ms=10\.0\]"),
    (_delays_with(-1.0), r"delays_ms span \[-1, .*\], must lie in \[0, delay_max_ms=10\.0\]"),
], ids=["weights-transposed", "theta-short", "delays-int", "theta-int", "theta-nan",
        "weights-inf", "weights-above-w_max", "weights-negative", "delays-above-max",
        "delays-negative"])
def test_bad_arrays(net_dir, arrays, make, what):
    _rewrite_arrays(net_dir, **make(arrays))
    with pytest.raises(ArtifactError, match=_in_file(net_dir / ARRAYS_NPZ, what)):
        load_network(net_dir)


UNPICKLED: list[str] = []


def _record_unpickling(what: str) -> str:
    UNPICKLED.append(what)
    return what


class Booby:
    """Unpickles by calling :func:`_record_unpickling`: that must never happen on load."""

    def __reduce__(self):
        return _record_unpickling, ("unpickled",)


@pytest.mark.parametrize("name", ["weights", "theta_mV", "delays_ms"])
def test_object_array_is_refused_not_unpickled(net_dir, name):
    trap = np.empty(1, dtype=object)
    trap[0] = Booby()
    _rewrite_arrays(net_dir, **{name: trap})
    UNPICKLED.clear()
    with pytest.raises(ArtifactError,
                       match=_in_file(net_dir / ARRAYS_NPZ,
                                      r"not a readable \.npz file .*allow_pickle=False")):
        load_network(net_dir)
    assert UNPICKLED == []
    # the trap works: with pickles allowed, loading it does run __setstate__
    with np.load(net_dir / ARRAYS_NPZ, allow_pickle=True) as data:
        data[name]
    assert UNPICKLED == ["unpickled"]


# --------------------------------------------------------------------------
# Assignments
# --------------------------------------------------------------------------
ASSIGN = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 0])
RATES = np.arange(10 * N, dtype=float).reshape(10, N) / 7


def test_assignments_round_trip(net_dir):
    path = save_assignments(net_dir, TINY, ASSIGN, RATES)
    assert path == net_dir / ASSIGNMENTS_NPZ
    with np.load(path) as raw:
        assert raw["assignments"].dtype == np.int16
    a, r = load_assignments(net_dir, TINY)
    assert a.dtype == np.int64 and r.dtype == np.float64
    np.testing.assert_array_equal(a, ASSIGN)
    np.testing.assert_array_equal(r, RATES)
    net = load_network(net_dir)
    np.testing.assert_array_equal(net.assignments, ASSIGN)
    np.testing.assert_array_equal(net.class_rates, RATES)


def test_assignments_replace_previous(net_dir):
    save_assignments(net_dir, TINY, ASSIGN, RATES)
    save_assignments(net_dir, TINY, ASSIGN[::-1], 2 * RATES)
    a, r = load_assignments(net_dir, TINY)
    np.testing.assert_array_equal(a, ASSIGN[::-1])
    np.testing.assert_array_equal(r, 2 * RATES)
    assert sorted(p.name for p in net_dir.iterdir()) == [ARRAYS_NPZ, ASSIGNMENTS_NPZ,
                                                         NETWORK_JSON]


def _with(index, value):
    a = ASSIGN.copy()
    a[index] = value
    return a


def _rates_nan():
    r = RATES.copy()
    r[3, 4] = np.nan
    return r


BAD_ASSIGNMENTS = [
    pytest.param(ASSIGN[:-1], RATES, r"assignments has shape \(9,\), must be \(10,\)",
                 id="short"),
    pytest.param(ASSIGN.reshape(2, 5), RATES, r"assignments has shape \(2, 5\), must be \(10,\)",
                 id="2-D"),
    pytest.param(_with(4, 10), RATES, r"assignments must lie in 0\.\.9", id="class-10"),
    pytest.param(_with(0, -1), RATES, r"assignments must lie in 0\.\.9", id="class-negative"),
    # 65536 would wrap to 0 in int16 storage
    pytest.param(_with(0, 65536), RATES, r"assignments must lie in 0\.\.9", id="class-65536"),
    pytest.param(ASSIGN + 0.5, RATES, r"assignments has dtype float64, must be integer",
                 id="float-dtype"),
    pytest.param(ASSIGN, RATES[:9], r"class_rates must be finite with shape \(10, 10\), "
                 r"got \(9, 10\)", id="rates-short"),
    pytest.param(ASSIGN, RATES.T[:, :5], r"class_rates must be finite with shape \(10, 10\), "
                 r"got \(10, 5\)", id="rates-narrow"),
    pytest.param(ASSIGN, _rates_nan(), r"class_rates must be finite", id="rates-nan"),
]


def test_a_network_saved_with_its_assignment_holds_both(tmp_path, arrays):
    d = save_network(tmp_path / "net", TINY, arrays, assignments=(ASSIGN, RATES))
    assert sorted(p.name for p in d.iterdir()) == [ARRAYS_NPZ, ASSIGNMENTS_NPZ, NETWORK_JSON]
    net = load_network(d)
    np.testing.assert_array_equal(net.assignments, ASSIGN)
    np.testing.assert_array_equal(net.class_rates, RATES)


@pytest.mark.parametrize("assignments, rates, what", BAD_ASSIGNMENTS[:3])
def test_a_network_with_a_bad_assignment_is_not_written_at_all(tmp_path, arrays, assignments,
                                                               rates, what):
    with pytest.raises(ArtifactError, match=what):
        save_network(tmp_path / "net", TINY, arrays, assignments=(assignments, rates))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("assignments, rates, what", BAD_ASSIGNMENTS)
def test_save_assignments_rejects_before_writing(net_dir, assignments, rates, what):
    with pytest.raises(ArtifactError, match=_in_file(net_dir / ASSIGNMENTS_NPZ, what)):
        save_assignments(net_dir, TINY, assignments, rates)
    assert sorted(p.name for p in net_dir.iterdir()) == [ARRAYS_NPZ, NETWORK_JSON]


@pytest.mark.parametrize("assignments, rates, what", BAD_ASSIGNMENTS)
def test_load_network_rejects_bad_assignments_file(net_dir, assignments, rates, what):
    np.savez(net_dir / ASSIGNMENTS_NPZ, assignments=assignments, class_rates=rates)
    with pytest.raises(ArtifactError, match=_in_file(net_dir / ASSIGNMENTS_NPZ, what)):
        load_network(net_dir)


@pytest.mark.parametrize("present, missing", [
    ({"assignments": ASSIGN}, "class_rates"),
    ({"class_rates": RATES}, "assignments"),
])
def test_load_network_rejects_assignments_file_missing_an_array(net_dir, present, missing):
    np.savez(net_dir / ASSIGNMENTS_NPZ, **present)
    with pytest.raises(ArtifactError,
                       match=_in_file(net_dir / ASSIGNMENTS_NPZ,
                                      re.escape(f"missing arrays ['{missing}']"))):
        load_network(net_dir)


def test_load_assignments_without_file(net_dir):
    with pytest.raises(ArtifactError,
                       match=_in_file(net_dir / ASSIGNMENTS_NPZ, "file not found")):
        load_assignments(net_dir, TINY)


# --------------------------------------------------------------------------
# Atomicity
# --------------------------------------------------------------------------
def _boom(*args, **kwargs):
    raise RuntimeError("boom: simulated failure")


@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "overwrite"])
def test_failed_save_network_leaves_nothing_behind(tmp_path, arrays, monkeypatch, existing):
    parent = tmp_path / "runs"
    d = parent / "net"
    if existing:
        save_network(d, TINY, arrays)
    monkeypatch.setattr(artifact, "atomic_write_json", _boom)
    with pytest.raises(RuntimeError, match="boom: simulated failure"):
        save_network(d, TINY, random_network(TINY, seed=9), overwrite=existing)
    assert [p.name for p in parent.iterdir()] == (["net"] if existing else [])
    if existing:  # the old network is untouched
        monkeypatch.undo()
        _assert_arrays_equal(load_network(d).arrays, arrays)


def test_failed_npz_write_in_save_network_leaves_nothing_behind(tmp_path, arrays, monkeypatch):
    monkeypatch.setattr(artifact, "atomic_save_npz", _boom)
    with pytest.raises(RuntimeError, match="boom: simulated failure"):
        save_network(tmp_path / "net", TINY, arrays)
    assert list(tmp_path.iterdir()) == []



@pytest.mark.parametrize("name", [ARRAYS_NPZ, NETWORK_JSON])
def test_a_network_file_that_is_a_link_is_refused(net_dir, tmp_path, name):
    real = tmp_path / f"real-{name}"
    (net_dir / name).rename(real)
    (net_dir / name).symlink_to(real)
    with pytest.raises(ArtifactError, match=f"{name}: is a symbolic link; refusing"):
        load_network(net_dir)


def test_an_extra_member_claiming_1e11_elements_is_never_read(net_dir):
    arrays = load_npz(net_dir / ARRAYS_NPZ)
    npz_with_member(net_dir / ARRAYS_NPZ, (10**11,), **arrays)
    net = load_network(net_dir)  # reading the member would need 800 GB
    np.testing.assert_array_equal(net.arrays.weights, arrays["weights"])


@pytest.mark.parametrize("header_shape, what", [
    ((10**11,), r"has shape \(100000000000,\), must be \(784, 10\)"),
    ((784, 10), r"header claims 62720 bytes of data, the file holds \d+"),
])
def test_a_member_whose_header_lies_is_refused_before_its_data_is_read(net_dir, header_shape,
                                                                       what):
    arrays = load_npz(net_dir / ARRAYS_NPZ)
    del arrays["weights"]
    npz_with_member(net_dir / ARRAYS_NPZ, header_shape, b"\0" * 16, **arrays)
    import zipfile

    with zipfile.ZipFile(net_dir / ARRAYS_NPZ) as src:  # the liar becomes "weights"
        members = {n: src.read(n) for n in src.namelist()}
    with zipfile.ZipFile(net_dir / ARRAYS_NPZ, "w") as dst:
        for n, blob in members.items():
            dst.writestr("weights.npy" if n == "extra.npy" else n, blob)
    with pytest.raises(ArtifactError, match=what):
        load_network(net_dir)



def test_copy_known_files_copies_nothing_else_and_refuses_links(tmp_path, net_dir):
    (net_dir / "secret.txt").write_text("not for the receiver")
    out = tmp_path / "out"
    out.mkdir()
    assert atomic.copy_known_files(net_dir, out, artifact.NETWORK_FILES) == [NETWORK_JSON,
                                                                             ARRAYS_NPZ]
    assert sorted(p.name for p in out.iterdir()) == [ARRAYS_NPZ, NETWORK_JSON]
    (net_dir / ASSIGNMENTS_NPZ).symlink_to(tmp_path / "elsewhere.npz")
    (tmp_path / "out2").mkdir()
    with pytest.raises(ArtifactError, match=f"{ASSIGNMENTS_NPZ}: is a symbolic link"):
        atomic.copy_known_files(net_dir, tmp_path / "out2", artifact.NETWORK_FILES)
