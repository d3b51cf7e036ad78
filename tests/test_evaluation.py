"""Observe/test: the retry rule, chunking, and sharding over Ray."""

import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stdp_ray import data, engines, evaluation, faults, rundir
from stdp_ray.evaluation import PhaseError, chunk_bounds, simulate_samples
from stdp_ray.network import network_fingerprint
from stdp_ray.options import RunOptions
from stdp_ray.rundir import PhaseManifest

QUIET = RunOptions(progress=False)


class FakeSimulator:
    """Responds with ``floor(intensity) - threshold`` spikes on neuron 0 (a known answer)."""

    def __init__(self, threshold):
        self.threshold = threshold
        self.passes = []

    def run_pass(self, inputs):
        self.passes.append((list(inputs.sample_ids), list(inputs.attempts)))
        counts = np.zeros((len(inputs.images), 3), dtype=np.int32)
        counts[:, 0] = np.maximum(inputs.intensities - self.threshold[inputs.sample_ids], 0)
        return counts


def test_quiet_samples_go_again_at_higher_intensity(tiny_cfg):
    cfg = tiny_cfg.replace(n_neurons=3, intensity=2.0, max_intensity=6.0, min_spikes=5)
    # Sample 0 reaches 5 spikes at once, sample 1 at intensity 4, sample 2 never.
    sim = FakeSimulator(np.array([-3, -1, 10]))
    res = simulate_samples(sim, cfg, np.zeros((3, 784), np.uint8), np.arange(3), seed=1,
                           stream=3, n_slots=8)
    np.testing.assert_array_equal(res.presentations, [1, 3, 5])
    np.testing.assert_array_equal(res.intensities, [2, 4, 6])
    np.testing.assert_array_equal(res.failed, [False, False, True])
    np.testing.assert_array_equal(res.counts[:, 0], [5, 5, 0])
    # Each retry pass holds only the quiet samples, with the next attempt number.
    assert sim.passes == [([0, 1, 2], [0, 0, 0]), ([1, 2], [1, 1]), ([1, 2], [2, 2]),
                          ([2], [3]), ([2], [4])]


def test_a_silent_network_terminates(tiny_cfg):
    cfg = tiny_cfg.replace(n_neurons=3, max_intensity=4.0)
    sim = FakeSimulator(np.full(4, 1000))
    res = simulate_samples(sim, cfg, np.zeros((4, 784), np.uint8), np.arange(4), seed=1,
                           stream=3, n_slots=3)
    assert res.failed.all()
    np.testing.assert_array_equal(res.presentations, [3, 3, 3, 3])


@pytest.mark.parametrize("n,size,expected", [
    (10, 4, [(0, 4), (4, 8), (8, 10)]), (8, 4, [(0, 4), (4, 8)]), (3, 50, [(0, 3)]), (0, 5, [])])
def test_chunk_bounds(n, size, expected):
    assert chunk_bounds(n, size) == expected


def test_chunk_bounds_rejects_zero():
    with pytest.raises(ValueError, match=r"chunk_size == 0, must be >= 1"):
        chunk_bounds(10, 0)


# ---------------------------------------------------------------------------
# Sharded over Ray
# ---------------------------------------------------------------------------

N_TEST = 12


@pytest.fixture(scope="module")
def fault_file(fault_files):
    return fault_files[faults.env_var("chunk")]


@pytest.fixture(scope="module")
def test_data(mnist_dir):
    images, labels = data.load_mnist(mnist_dir, "test")
    return images[:N_TEST], labels[:N_TEST], np.arange(N_TEST)


def _run(ray_local, path, cfg, net, test_data, **kw):
    images, labels, ids = test_data
    info = evaluation.run_phase(path, cfg.replace(intensity=4.0), net, images, labels, ids,
                                seed=5, phase="test", options=RunOptions(progress=False, **kw))
    return info, evaluation.responses(path)


@pytest.fixture(scope="module")
def reference(fault_file, ray_local, tmp_path_factory, tiny_cfg, tiny_network, test_data):
    path = tmp_path_factory.mktemp("ref") / "phase=test"
    return _run(ray_local, path, tiny_cfg.replace(backend="standalone"), tiny_network,
                test_data, chunk_size=4, workers=1)[1]


@pytest.mark.slow
def test_reference_table_is_complete(reference):
    assert reference.column("sample").to_pylist() == list(range(N_TEST))
    assert reference.schema.equals(rundir.RESPONSES_SCHEMA)
    assert sum(reference.column("total_spikes").to_pylist()) > 0


@pytest.mark.slow
@pytest.mark.parametrize("backend,chunk_size,workers", [
    ("standalone", 4, 2), ("standalone", 5, 2), ("runtime", 6, 2)])
def test_tables_do_not_depend_on_sharding(fault_file, ray_local, tmp_path, tiny_cfg,
                                          tiny_network, test_data, reference, backend,
                                          chunk_size, workers):
    _, table = _run(ray_local, tmp_path / "responses" / "phase=test",
                    tiny_cfg.replace(backend=backend),
                    tiny_network, test_data, chunk_size=chunk_size, workers=workers)
    assert table.drop(["chunk"]).equals(reference.drop(["chunk"]))


@pytest.mark.slow
def test_killed_task_is_retried_and_written_once(fault_file, ray_local, tmp_path, tiny_cfg,
                                                 tiny_network, test_data, reference):
    fault_file.write_text("chunk 1")
    # The native engine (its worker restarts in a moment) gives the standalone reference's table.
    info, table = _run(ray_local, tmp_path / "responses" / "phase=test",
                       tiny_cfg.replace(backend="native"),
                       tiny_network, test_data, chunk_size=4, workers=2)
    assert not fault_file.exists(), "the fault was not triggered"
    assert table.column("sample").to_pylist() == list(range(N_TEST))
    assert table.equals(reference)
    assert len(list((tmp_path / "responses" / "phase=test").glob("part-*.parquet"))) == 3


@pytest.mark.slow
def test_rerun_recomputes_nothing(fault_file, ray_local, tmp_path, tiny_cfg, tiny_network,
                                  test_data):
    cfg = tiny_cfg.replace(backend="native")
    path = tmp_path / "responses" / "phase=test"
    first, _ = _run(ray_local, path, cfg, tiny_network, test_data, chunk_size=4)
    mtimes = {p: p.stat().st_mtime_ns for p in path.glob("part-*")}
    second, table = _run(ray_local, path, cfg, tiny_network, test_data, chunk_size=4)
    assert (first["computed"], second["computed"], second["skipped"]) == (3, 0, 3)
    assert {p: p.stat().st_mtime_ns for p in path.glob("part-*")} == mtimes
    assert table.num_rows == N_TEST
    # A partially written phase resumes with only the missing chunk.
    (path / rundir.part_name(1)).unlink()
    third, again = _run(ray_local, path, cfg, tiny_network, test_data, chunk_size=4)
    assert (third["computed"], third["skipped"]) == (1, 2)
    assert again.equals(table)


@pytest.mark.slow
def test_rerun_with_other_settings_is_refused(fault_file, ray_local, tmp_path, tiny_cfg,
                                              tiny_network, test_data):
    cfg = tiny_cfg.replace(backend="native")
    path = tmp_path / "responses" / "phase=test"
    _run(ray_local, path, cfg, tiny_network, test_data, chunk_size=4)
    with pytest.raises(PhaseError, match=r"phase=test: existing parts were computed with other "
                                         r"settings .*chunk_size"):
        _run(ray_local, path, cfg, tiny_network, test_data, chunk_size=6)


@pytest.mark.slow
def test_parts_of_an_exact_engine_never_mix_with_the_fast_engines(fault_file, ray_local,
                                                                  tmp_path, tiny_cfg,
                                                                  tiny_network, test_data):
    path = tmp_path / "responses" / "phase=test"
    _run(ray_local, path, tiny_cfg.replace(backend="native"), tiny_network, test_data,
         chunk_size=4)
    info, _ = _run(ray_local, path, tiny_cfg.replace(backend="standalone"), tiny_network,
                   test_data, chunk_size=4)
    assert info["skipped"] == 3  # the exact engines are interchangeable
    with pytest.raises(PhaseError, match=r"computed with other settings .*'arithmetic': "
                                         r"\(None, 'fast'\)"):
        _run(ray_local, path, tiny_cfg.replace(backend="fast"), tiny_network, test_data,
             chunk_size=4)


def test_parts_without_a_manifest_are_refused(tmp_path, tiny_cfg, tiny_network, test_data):
    path = tmp_path / "responses" / "phase=test"
    path.mkdir(parents=True)
    (path / rundir.part_name(0)).write_bytes(b"not really parquet")
    images, labels, ids = test_data
    with pytest.raises(PhaseError, match=r"holds response parts but no manifest "
                                         r"\(.*_manifests/.*/phase=test.json\)"):
        evaluation.run_phase(path, tiny_cfg, tiny_network, images, labels, ids, seed=5,
                             phase="test", options=QUIET)


def _old_manifest(path, cfg, net, images, labels, ids, **change):
    """A manifest as an earlier run_phase call would have left it (chunk size 50, seed 5)."""
    manifest = {"phase": "test", "seed": 5, "chunk_size": 50, "n_samples": len(ids),
                "first_sample": int(ids[0]), "network": network_fingerprint(net),
                "model": cfg.model_hash(), "data": data.samples_fingerprint(images, labels),
                **change}
    path.mkdir(parents=True)
    (path / rundir.legacy.MANIFEST_FILE).write_text(__import__("json").dumps(manifest))
    rundir.write_table(path / rundir.part_name(0), _part(ids, labels, 0, cfg.n_neurons))


def _part(ids, labels, chunk, n_neurons=10):
    """A response part of samples ``ids`` as chunk ``chunk`` (every neuron spiking once)."""
    n = len(ids)
    return rundir.responses_table(np.asarray(ids), np.asarray(labels), np.ones((n, n_neurons)),
                                  np.full(n, 2.0), np.ones(n), np.zeros(n, bool), chunk)


def test_parts_of_other_samples_are_refused(tmp_path, tiny_cfg, tiny_network, test_data):
    images, labels, ids = test_data
    other = images.copy()
    other[0, 0] ^= 1  # another copy of the data: one pixel differs
    path = tmp_path / "responses" / "phase=test"
    _old_manifest(path, tiny_cfg, tiny_network, other, labels, ids)
    with pytest.raises(PhaseError, match=r"computed with other settings .*'data'"):
        evaluation.run_phase(path, tiny_cfg, tiny_network, images, labels, ids, seed=5,
                             phase="test", options=QUIET)


def test_manifest_without_data_fingerprint_is_accepted(tmp_path, tiny_cfg, tiny_network,
                                                       test_data, caplog):
    images, labels, ids = test_data
    path = tmp_path / "responses" / "phase=test"
    _old_manifest(path, tiny_cfg, tiny_network, images, labels, ids, data=None)
    manifest = __import__("json").loads((path / rundir.legacy.MANIFEST_FILE).read_text())
    del manifest["data"]
    (path / rundir.legacy.MANIFEST_FILE).write_text(__import__("json").dumps(manifest))
    info = evaluation.run_phase(path, tiny_cfg, tiny_network, images, labels, ids, seed=5,
                                phase="test", options=QUIET)
    assert (info["computed"], info["skipped"]) == (0, 1)
    assert "records no fingerprint of the samples" in caplog.text
    # The manifest now records them, so the next run checks them; it moved out of the folder.
    upgraded = __import__("json").loads(rundir.manifest_path(path).read_text())
    assert upgraded == {**manifest, "data": data.samples_fingerprint(images, labels)}
    assert [p.name for p in path.iterdir()] == [rundir.part_name(0)]


@pytest.mark.slow
def test_parts_open_in_pandas_and_pyarrow(reference, tmp_path):
    path = tmp_path / "responses" / "phase=test"
    rundir.write_table(path / rundir.part_name(0), reference)
    ds = pq.ParquetDataset(tmp_path / "responses")
    assert "phase" in ds.read().column_names
    import pandas as pd

    df = pd.read_parquet(tmp_path / "responses")
    assert len(df) == N_TEST and set(df["phase"]) == {"test"}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other schema"])
def test_a_damaged_response_part_is_one_line_saying_that_overwrite_recomputes_it(
        tmp_path, damage, tiny_cfg, tiny_network, test_data):
    import pyarrow as pa

    phase_dir = tmp_path / "responses" / "phase=test"
    _phase_as_written(phase_dir, tiny_cfg, tiny_network, test_data)
    part = phase_dir / rundir.part_name(0)
    if damage == "other schema":
        rundir.write_table(part, pa.table({"sample": pa.array([1, 2], pa.int64())}))
    else:
        part.write_bytes(b"not parquet" * 10 if damage == "garbage" else part.read_bytes()[:60])
    with pytest.raises((PhaseError, rundir.PartError),
                       match=r"part-000000.parquet.*(damaged|not).*--overwrite") as info:
        evaluation.responses(phase_dir)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------
# Every part checked against its chunk; a manifest only with its first part (no Ray)
# ---------------------------------------------------------------------------
def _phase_as_written(path, cfg, net, test_data, chunk_size=4):
    """A complete phase as run_phase writes it: its manifest, then one part per chunk."""
    images, labels, ids = test_data
    manifest = PhaseManifest(phase="test", seed=5, chunk_size=chunk_size, n_samples=len(ids),
                             first_sample=0, network=network_fingerprint(net),
                             model=cfg.model_hash(),
                             data=data.samples_fingerprint(images, labels),
                             arithmetic=engines.arithmetic(cfg.backend))
    rundir.write_manifest(path, manifest)
    for c, (s, e) in enumerate(chunk_bounds(len(ids), chunk_size)):
        rundir.write_table(path / rundir.part_name(c), _part(ids[s:e], labels[s:e], c),
                           identity=rundir.part_identity(manifest, c))
    return manifest


def _run_quietly(path, cfg, net, test_data, **kw):
    images, labels, ids = test_data
    return evaluation.run_phase(path, cfg, net, images, labels, ids, seed=5, phase="test",
                                options=RunOptions(progress=False, chunk_size=4, **kw))


def test_a_phase_whose_parts_pass_their_check_is_skipped(tmp_path, tiny_cfg, tiny_network,
                                                         test_data, no_ray_start):
    path = tmp_path / "responses" / "phase=test"
    _phase_as_written(path, tiny_cfg, tiny_network, test_data)
    info = _run_quietly(path, tiny_cfg, tiny_network, test_data)
    assert (info["computed"], info["skipped"]) == (0, 3)
    assert evaluation.responses(path).column("sample").to_pylist() == list(range(N_TEST))


def test_a_phase_resumed_without_a_chunk_size_keeps_the_one_it_began_with(
        tmp_path, tiny_cfg, tiny_network, test_data, no_ray_start):
    path = tmp_path / "responses" / "phase=test"
    _phase_as_written(path, tiny_cfg, tiny_network, test_data, chunk_size=3)
    images, labels, ids = test_data
    for workers in (None, 1, 64):
        info = evaluation.run_phase(path, tiny_cfg, tiny_network, images, labels, ids, seed=5,
                                    phase="test", options=RunOptions(progress=False,
                                                                     workers=workers))
        assert (info["chunk_size"], info["computed"], info["skipped"]) == (3, 0, 4)


@pytest.mark.slow
def test_a_half_done_phase_resumes_its_chunks_without_a_chunk_size(fault_file, ray_local,
                                                                   tmp_path, tiny_cfg,
                                                                   tiny_network, test_data):
    cfg = tiny_cfg.replace(backend="native")
    path = tmp_path / "responses" / "phase=test"
    first, table = _run(ray_local, path, cfg, tiny_network, test_data, chunk_size=3)
    (path / rundir.part_name(2)).unlink()
    again, resumed = _run(ray_local, path, cfg, tiny_network, test_data)
    assert (again["chunk_size"], again["computed"], again["skipped"]) == (3, 1, 3)
    assert resumed.equals(table)


def _copy_chunk_0_over_chunk_1(path):
    shutil.copyfile(path / rundir.part_name(0), path / rundir.part_name(1))


def _cut_chunk_1_short_keeping_its_metadata(path):
    part = path / rundir.part_name(1)
    table = pq.read_table(part)
    pq.write_table(table.slice(0, 1).replace_schema_metadata(table.schema.metadata), part)


def _label_chunk_2_wrongly(path):
    part = path / rundir.part_name(2)
    table = pq.read_table(part)
    labels = pa.array([(v + 1) % 10 for v in table.column("label").to_pylist()], pa.int8())
    pq.write_table(table.set_column(1, pa.field("label", pa.int8(), nullable=False), labels),
                   part)


@pytest.mark.parametrize("tamper,message", [
    (_copy_chunk_0_over_chunk_1, r"part-000001.parquet: holds samples 0..3, chunk 1 holds "
                                 r"samples 4..7; --overwrite recomputes the phase"),
    (_cut_chunk_1_short_keeping_its_metadata, r"part-000001.parquet: holds 1 rows, chunk 1 "
                                              r"has 4 samples"),
    (_label_chunk_2_wrongly, r"part-000002.parquet: its labels are not those of samples "
                             r"8..11"),
], ids=["a copy of another chunk's part", "a part cut short", "labels of other images"])
def test_a_tampered_part_is_refused_before_its_chunk_is_skipped(tmp_path, tiny_cfg,
                                                                tiny_network, test_data,
                                                                no_ray_start, tamper, message):
    path = tmp_path / "responses" / "phase=test"
    _phase_as_written(path, tiny_cfg, tiny_network, test_data)
    tamper(path)
    with pytest.raises(rundir.PartError, match=message):
        _run_quietly(path, tiny_cfg, tiny_network, test_data)
    if tamper is not _label_chunk_2_wrongly:  # the labels: checked where they are known
        with pytest.raises(rundir.PartError, match=message):
            evaluation.responses(path)


class _NoRay(ConnectionError):
    pass


@pytest.fixture
def ray_cannot_start(monkeypatch):
    """Ray fails to start, as it does for an --address that is not Ray."""
    def fail():
        raise _NoRay("Ray cannot start")

    monkeypatch.setattr(evaluation, "ensure_ray", fail)


def test_a_call_that_fails_before_its_first_part_leaves_nothing(tmp_path, tiny_cfg,
                                                                tiny_network, test_data,
                                                                ray_cannot_start):
    path = tmp_path / "responses" / "phase=test"
    with pytest.raises(_NoRay):
        _run_quietly(path, tiny_cfg, tiny_network, test_data)
    assert not os.path.lexists(rundir.manifest_path(path))
    assert not os.path.lexists(path)


def test_a_manifest_without_parts_binds_no_later_call(tmp_path, tiny_cfg, tiny_network,
                                                      test_data, ray_cannot_start):
    path = tmp_path / "responses" / "phase=test"
    _phase_as_written(path, tiny_cfg, tiny_network, test_data)
    for part in rundir.part_paths(path):  # left by an older version's failed call
        part.unlink()
    images, labels, ids = test_data
    with pytest.raises(_NoRay):  # not "computed with other settings"
        _run_quietly(path, tiny_cfg, tiny_network, (images[:6], labels[:6], ids[:6]))
