"""Every response part is checked against its chunk before it is used (stdp_ray.rundir.phases)."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stdp_ray import rundir
from stdp_ray.rundir import PartError, PhaseManifest

#: 10 samples in chunks of 4: parts of 4, 4 and 2 rows.
MANIFEST = PhaseManifest(phase="test", seed=5, chunk_size=4, n_samples=10, first_sample=0,
                         network="net-a", model="model-a", data="data-a")
LABELS = np.arange(10) % 10


def _table(ids, chunk, labels=None):
    ids = np.asarray(ids)
    labels = LABELS[ids] if labels is None else labels
    n = len(ids)
    return rundir.responses_table(ids, labels, np.ones((n, 3)), np.full(n, 2.0), np.ones(n),
                                  np.zeros(n, bool), chunk)


def _write_phase(path, manifest=MANIFEST):
    """A complete phase: its manifest and one part per chunk, as run_phase writes them."""
    rundir.write_manifest(path, manifest)
    for c in range(rundir.chunk_count(manifest)):
        rundir.write_table(path / rundir.part_name(c),
                           _table(rundir.chunk_samples(manifest, c), c),
                           identity=rundir.part_identity(manifest, c))
    return path


@pytest.fixture
def phase(tmp_path):
    return _write_phase(tmp_path / "responses" / "phase=test")


def _rewrite(path, table, **identity):
    """Replace a part by ``table``, keeping its key-value metadata (changed by ``identity``)."""
    meta = pq.read_schema(path).metadata
    meta.update({f"stdp_ray.{k}".encode(): str(v).encode() for k, v in identity.items()})
    pq.write_table(table.replace_schema_metadata(meta), path)


def test_a_phase_as_written_reads_back_in_sample_order(phase):
    table = rundir.read_phase(phase)
    assert table.column("sample").to_pylist() == list(range(10))
    assert rundir.checked_chunks(phase, MANIFEST, labels=LABELS) == {
        c: phase / rundir.part_name(c) for c in range(3)}


def _copy_of_chunk_0(phase):
    shutil.copyfile(phase / rundir.part_name(0), phase / rundir.part_name(1))


def _cut_short(phase):
    path = phase / rundir.part_name(1)
    _rewrite(path, pq.read_table(path).slice(0, 2))


def _duplicated_sample(phase):
    _rewrite(phase / rundir.part_name(1), _table([4, 4, 5, 6], 1))


def _other_chunk_column(phase):
    _rewrite(phase / rundir.part_name(1), _table([4, 5, 6, 7], 0))


def _part_beyond_the_chunks(phase):
    rundir.write_table(phase / rundir.part_name(3), _table([8, 9], 3))


def _two_names_for_one_chunk(phase):
    shutil.copyfile(phase / rundir.part_name(1), phase / "part-1.parquet")


def _unreadable(phase):
    (phase / rundir.part_name(1)).write_bytes(b"not parquet")


def _identity(key, value):
    def change(phase):
        path = phase / rundir.part_name(1)
        _rewrite(path, pq.read_table(path), **{key: value})
    return change


TAMPERED = {
    "a copy of another chunk's part": (_copy_of_chunk_0, r"part-000001.parquet: holds samples "
                                       r"0..3, chunk 1 holds samples 4..7"),
    "a part cut short, its metadata kept": (_cut_short, r"part-000001.parquet: holds 2 rows, "
                                            r"chunk 1 has 4 samples \(4..7\)"),
    "a duplicated sample": (_duplicated_sample, r"holds samples 4..6 \(not in order, or "
                            r"repeated\), chunk 1 holds samples 4..7"),
    "rows of another chunk": (_other_chunk_column, r"computed as chunk\(s\) \[0\], not 1"),
    "a part beyond the chunks": (_part_beyond_the_chunks, r"part-000003.parquet: not a part "
                                 r"of this phase \(its 3 chunks"),
    "two names for one chunk": (_two_names_for_one_chunk, r"names chunk 1, as "),
    "an unreadable part": (_unreadable, r"part-000001.parquet: not a readable response part"),
    "another network": (_identity("network", "net-b"), r"computed with network 'net-b', the "
                        r"phase's manifest .*phase=test.json\) records 'net-a'"),
    "another seed": (_identity("seed", 6), r"computed with seed '6'"),
    "another model": (_identity("config", "model-b"), r"computed with config 'model-b'"),
    "other samples": (_identity("data", "data-b"), r"computed with data 'data-b'"),
    "the other arithmetic": (_identity("arithmetic", "fast"), r"computed with arithmetic "
                             r"'fast'.* records 'exact'"),
}


@pytest.mark.parametrize("tamper,message", TAMPERED.values(), ids=TAMPERED)
def test_a_tampered_part_is_refused_by_every_reader(phase, tamper, message):
    tamper(phase)
    with pytest.raises(PartError, match=message + r".*; --overwrite recomputes the phase"):
        rundir.read_phase(phase)
    with pytest.raises(PartError, match=message):
        rundir.read_phase(phase, complete=False)
    with pytest.raises(PartError, match=message):
        rundir.checked_chunks(phase, MANIFEST)


def test_labels_that_are_not_those_of_the_samples_are_refused(phase):
    _rewrite(phase / rundir.part_name(1), _table([4, 5, 6, 7], 1, labels=[9, 9, 9, 9]))
    rundir.read_phase(phase)  # the labels are known only to the caller
    with pytest.raises(PartError, match=r"part-000001.parquet: its labels are not those of "
                                        r"samples 4..7"):
        rundir.checked_chunks(phase, MANIFEST, labels=LABELS)


def test_a_missing_chunk_is_refused_only_where_the_phase_must_be_complete(phase):
    (phase / rundir.part_name(1)).unlink()
    with pytest.raises(PartError, match=r"phase=test: chunk\(s\) \[1\] of 3 have no part"):
        rundir.read_phase(phase)
    assert rundir.read_phase(phase, complete=False).column("sample").to_pylist() == \
        [0, 1, 2, 3, 8, 9]


def test_parts_without_a_manifest_are_refused(phase):
    rundir.manifest_path(phase).unlink()
    with pytest.raises(PartError, match=r"phase=test: holds response parts but no manifest"):
        rundir.read_phase(phase)


def test_parts_of_an_older_version_without_metadata_are_checked_by_their_rows(tmp_path):
    path = tmp_path / "phase=test"
    path.mkdir()
    rundir.write_manifest(path, MANIFEST)
    for c in range(3):
        table = _table(rundir.chunk_samples(MANIFEST, c), c)
        pq.write_table(table.replace_schema_metadata({}), path / rundir.part_name(c))
    assert rundir.read_phase(path).num_rows == 10
    pq.write_table(_table([0, 1, 2, 3], 0), path / rundir.part_name(1))
    with pytest.raises(PartError, match=r"holds samples 0..3, chunk 1 holds samples 4..7"):
        rundir.read_phase(path)


@pytest.mark.parametrize("first,chunk,expected", [(0, 0, [0, 1, 2, 3]), (0, 2, [8, 9]),
                                                  (100, 1, [104, 105, 106, 107])])
def test_chunk_samples_follow_the_manifest(first, chunk, expected):
    manifest = PhaseManifest(chunk_size=4, n_samples=10, first_sample=first)
    assert rundir.chunk_samples(manifest, chunk).tolist() == expected
    assert rundir.chunk_count(manifest) == 3


def test_an_empty_folder_reads_as_an_empty_table(tmp_path):
    assert rundir.read_phase(tmp_path / "missing").num_rows == 0
    assert isinstance(rundir.read_phase(tmp_path / "missing"), pa.Table)
