"""A phase's manifest: its record and where it sits."""

from __future__ import annotations

import json

import pyarrow as pa

from stdp_ray import rundir
from stdp_ray.rundir import PhaseManifest


def test_a_manifest_round_trips_beside_its_dataset_folder(tmp_path):
    phase = tmp_path / "responses" / "phase=test"
    manifest = PhaseManifest(phase="test", seed=5, chunk_size=50, n_samples=20, first_sample=0,
                             network="n", model="m", data="d")
    assert rundir.read_manifest(phase) is None
    written = rundir.write_manifest(phase, manifest)
    assert written == rundir.manifest_path(phase) == \
        tmp_path / "_manifests" / "responses" / "phase=test.json"
    assert rundir.read_manifest(phase) == manifest
    assert json.loads(written.read_text()) == {
        "phase": "test", "seed": 5, "chunk_size": 50, "n_samples": 20, "first_sample": 0,
        "network": "n", "model": "m", "data": "d"}
    other = PhaseManifest(phase="test", seed=5, chunk_size=10, n_samples=20, first_sample=0,
                          network="n", model="m", data="d")
    assert manifest.diff(other) == {"chunk_size": (50, 10)}


def test_removing_a_phase_removes_its_manifest_too(tmp_path):
    phase = tmp_path / "responses" / "phase=test"
    rundir.write_manifest(phase, PhaseManifest(phase="test"))
    rundir.write_table(phase / rundir.part_name(0), pa.table({"x": [1]}))
    rundir.remove_phase(phase)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["_manifests", "responses",
                                                          "responses"]
