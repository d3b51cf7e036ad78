"""A phase's manifest: what the parts of a phase folder were computed from, and where it sits.

A dataset folder (``responses/``, a phase's folder) holds Parquet parts only,
so that ``pyarrow.dataset``, duckdb and polars read it as it is. What a phase's
parts were computed from sits outside the dataset, in
``_manifests/<dataset>/<folder>.json`` beside it (:func:`manifest_path`).
Manifests where older versions kept them are read too
(:func:`stdp_ray.rundir.legacy.older_manifest_paths`) and moved out the next
time a command writes the phase.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json
from ..reading import load_json
from . import legacy
from .layout import MANIFESTS_DIR
from .records import record_from_mapping, record_to_dict
from .. import atomic
from ..location import as_path

__all__ = ["PhaseManifest", "manifest_path", "stored_manifest_path", "write_manifest",
           "read_manifest", "remove_phase"]


@dataclass(frozen=True)
class PhaseManifest:
    """A phase's manifest (:func:`manifest_path`): what its parts were computed from.

    Parts are reused only while every field matches. A key the file lacks
    reads as None.

    Attributes
    ----------
    phase : str
        "observe" or "test".
    seed : int
        The run's seed (keys the input spike trains).
    chunk_size : int
        Samples per chunk (part).
    n_samples : int
        Samples presented.
    first_sample : int
        Index in its split of the first sample presented.
    network : str
        Fingerprint of the network (:func:`stdp_ray.network.network_fingerprint`).
    model : str
        Hash of the model configuration (:meth:`stdp_ray.config.Config.model_hash`).
    data : str or None
        Fingerprint of the samples presented (:func:`stdp_ray.data.samples_fingerprint`).
    arithmetic : str or None
        None where the responses come from an exact engine (native, standalone,
        runtime: bit-identical, so interchangeable; the key is then not written),
        ``"fast"`` where from the fast engine (its responses differ in rounding:
        the parts of the two never mix).
    """

    phase: str | None = None
    seed: int | None = None
    chunk_size: int | None = None
    n_samples: int | None = None
    first_sample: int | None = None
    network: str | None = None
    model: str | None = None
    data: str | None = None
    arithmetic: str | None = None

    def diff(self, other: "PhaseManifest") -> dict[str, tuple[Any, Any]]:
        """``{field: (value here, value in other)}`` for each field that differs."""
        mine, theirs = record_to_dict(self), record_to_dict(other)
        return {k: (v, theirs[k]) for k, v in mine.items() if theirs[k] != v}


def manifest_path(phase_path: str | os.PathLike) -> Path:
    """Where the manifest of a phase folder sits: outside its dataset, beside the dataset's root.

    ``RUN_DIR/responses/phase=test`` -> ``RUN_DIR/_manifests/responses/phase=test.json``:
    never inside ``responses/``, so that every dataset reader (polars too,
    which reads every file of a directory) finds only Parquet parts there.
    """
    phase_path = as_path(phase_path)
    dataset = phase_path.parent
    return dataset.parent / MANIFESTS_DIR / dataset.name / f"{phase_path.name}.json"


def stored_manifest_path(phase_path: str | os.PathLike) -> Path | None:
    """The file a phase's manifest is read from: :func:`manifest_path`, else one
    of the older places (:func:`~stdp_ray.rundir.legacy.older_manifest_paths`);
    None if there is none."""
    if manifest_path(phase_path).is_file():
        return manifest_path(phase_path)
    for path in legacy.older_manifest_paths(phase_path):
        if path.is_file():
            legacy.note_manifest(path)
            return path
    return None


def write_manifest(phase_path: str | os.PathLike, manifest: PhaseManifest) -> Path:
    """Write a phase folder's manifest at :func:`manifest_path` (atomically).

    A manifest at an older place is removed once the new one is in place.
    """
    path = manifest_path(phase_path)
    record = record_to_dict(manifest)
    if record["arithmetic"] is None:  # exact engines: the key is left out
        del record["arithmetic"]
    written = atomic_write_json(path, record)
    for old in legacy.older_manifest_paths(phase_path):
        if old.exists():
            atomic.remove_path(old)
    return written


def read_manifest(phase_path: str | os.PathLike) -> PhaseManifest | None:
    """A phase folder's manifest (:func:`stored_manifest_path`), or None if it has none.

    Raises
    ------
    ArtifactError
        If the file is not a JSON object.
    """
    path = stored_manifest_path(phase_path)
    if path is None:
        return None
    return record_from_mapping(PhaseManifest, load_json(path))


def remove_phase(phase_path: str | os.PathLike) -> None:
    """Remove a phase folder's parts and its manifest (at its current or an older place)."""
    phase_path = as_path(phase_path)
    for path in (manifest_path(phase_path), *legacy.older_manifest_paths(phase_path)):
        atomic.remove_path(path)
    atomic.remove_path(phase_path)
