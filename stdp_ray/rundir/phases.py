"""A phase's response parts, each checked against its chunk before it is used.

A phase folder (``responses/phase=<phase>``, a learning curve's
``curve/snap-*/phase=*/n=*``) holds one part per chunk of its manifest
(:class:`~stdp_ray.rundir.manifests.PhaseManifest`): chunk ``c`` holds the
samples ``first_sample + [c * chunk_size, min((c + 1) * chunk_size,
n_samples))``, in order, one row each. :func:`check_part` is the one check of a
part against its chunk, made by every reader of parts: the evaluation's resume
logic before it skips a chunk (:func:`checked_chunks`), the aggregation of a
phase (:func:`read_phase`: ``observe``, ``test``, the learning curve) and
:meth:`stdp_ray.loading.Run.responses`. It refuses a part

- whose name is not a chunk of the phase, or names the chunk of another part;
- whose rows are not exactly its chunk's samples, in order (a copy of another
  chunk's part, a part cut short, duplicated samples), or whose ``chunk``
  column names another chunk;
- whose labels are not those of its samples (where the caller knows them);
- whose key-value metadata records another phase, seed, network, model
  configuration, set of samples, arithmetic or chunk than the manifest
  (:func:`part_identity`; a key a part lacks is not compared: older versions
  wrote fewer, the first none).

A refused part is an :class:`PartError` (exit status 2) naming the part and
what is wrong; ``--overwrite`` recomputes the phase.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..confine import LinkInsideError
from ..location import as_path
from ..reading import ArtifactError
from .manifests import PhaseManifest, manifest_path, read_manifest
from .parts import part_index, part_paths, read_table, read_table_metadata
from .schemas import RESPONSES_SCHEMA

__all__ = ["PartError", "chunk_count", "chunk_samples", "part_identity", "check_part",
           "checked_chunks", "read_phase"]

#: What every part is told to do about a refused part.
_RECOMPUTE = "--overwrite recomputes the phase"
#: The columns the resume logic reads to check a part (the counts are not needed).
_CHECK_COLUMNS = ("sample", "label", "chunk")


class PartError(ArtifactError):
    """A response part that does not hold what its chunk must hold (exit status 2)."""


def chunk_count(manifest: PhaseManifest) -> int:
    """How many chunks (parts) a phase of ``manifest`` has."""
    n, size = int(manifest.n_samples or 0), int(manifest.chunk_size or 1)
    return -(-n // size)


def chunk_samples(manifest: PhaseManifest, chunk: int) -> np.ndarray:
    """The sample ids chunk ``chunk`` of ``manifest``'s phase holds, in order."""
    size, n = int(manifest.chunk_size), int(manifest.n_samples)
    first = int(manifest.first_sample or 0)
    return first + np.arange(chunk * size, min((chunk + 1) * size, n), dtype=np.int64)


def part_identity(manifest: PhaseManifest, chunk: int) -> dict[str, Any]:
    """The key-value metadata of chunk ``chunk``'s part: what it was computed with.

    ``phase``, ``seed``, ``network`` (fingerprint), ``config`` (model hash),
    ``data`` (fingerprint of the phase's samples), ``arithmetic`` (``exact``
    or ``fast``) and ``chunk``.
    """
    return {"phase": manifest.phase, "seed": int(manifest.seed), "network": manifest.network,
            "config": manifest.model, "data": manifest.data,
            "arithmetic": manifest.arithmetic or "exact", "chunk": int(chunk)}


def _span(ids: np.ndarray) -> str:
    return "none" if ids.size == 0 else f"{int(ids[0])}..{int(ids[-1])}"


def check_part(path: str | os.PathLike, manifest: PhaseManifest, *,
               labels: np.ndarray | None = None, columns: tuple[str, ...] | None = None
               ) -> pa.Table:
    """Read the part ``path`` and check it against its chunk (the one check of a part).

    Parameters
    ----------
    path : path
        ``part-<chunk>.parquet`` of a phase folder.
    manifest : PhaseManifest
        The phase's manifest: its chunks, samples, network and settings.
    labels : ndarray, optional
        The labels of the chunk's samples, where the caller knows them.
    columns : tuple of str, optional
        Read only these columns (and those the check needs); default all.

    Returns
    -------
    pyarrow.Table
        The part (:data:`~stdp_ray.rundir.RESPONSES_SCHEMA`, or the columns asked for).

    Raises
    ------
    PartError
        Naming the part and what is wrong (see the module docstring).
    """
    path = as_path(path)
    chunk = part_index(path)
    n_chunks = chunk_count(manifest)
    if chunk is None or not 0 <= chunk < n_chunks:
        raise PartError(f"{path}: not a part of this phase (its {n_chunks} chunks are named "
                        f"part-000000 to part-{max(n_chunks - 1, 0):06d}); {_RECOMPUTE}")
    if columns is not None:
        columns = tuple(dict.fromkeys((*columns, *_CHECK_COLUMNS)))
    try:
        table = read_table(path, RESPONSES_SCHEMA, columns=columns)
        meta = read_table_metadata(path)
    except LinkInsideError:
        raise
    except (ArtifactError, pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = reason.removeprefix(f"{path}: ")
        raise PartError(f"{path}: not a readable response part ({reason}); "
                        f"{_RECOMPUTE}") from exc
    expected = chunk_samples(manifest, chunk)
    found = table.column("sample").to_numpy()
    if found.size != expected.size:
        raise PartError(f"{path}: holds {found.size} rows, chunk {chunk} has {expected.size} "
                        f"samples ({_span(expected)}); {_RECOMPUTE}")
    if not np.array_equal(found, expected):
        consecutive = np.array_equal(found, found[0] + np.arange(found.size))
        raise PartError(f"{path}: holds samples {_span(found)}"
                        f"{'' if consecutive else ' (not in order, or repeated)'}, "
                        f"chunk {chunk} holds samples {_span(expected)}; {_RECOMPUTE}")
    chunks = np.unique(table.column("chunk").to_numpy())
    if chunks.tolist() != [chunk]:
        raise PartError(f"{path}: its rows were computed as chunk(s) {chunks.tolist()}, "
                        f"not {chunk}; {_RECOMPUTE}")
    if labels is not None and not np.array_equal(table.column("label").to_numpy(),
                                                 np.asarray(labels)):
        raise PartError(f"{path}: its labels are not those of samples {_span(expected)}; "
                        f"{_RECOMPUTE}")
    for key, want in part_identity(manifest, chunk).items():
        if key not in meta or want is None:
            continue  # written by an older version, which recorded fewer keys
        have = meta[key]
        if have != (want if isinstance(want, str) else json.dumps(want)):
            raise PartError(f"{path}: computed with {key} {have!r}, the phase's manifest "
                            f"({manifest_path(path.parent)}) records {want!r}; {_RECOMPUTE}")
    return table


def checked_chunks(phase_dir: str | os.PathLike, manifest: PhaseManifest, *,
                   labels: np.ndarray | None = None) -> dict[int, Path]:
    """``{chunk: part}`` of the parts a phase folder holds, each checked (:func:`check_part`).

    Only the columns the check needs are read. ``labels``: the labels of all
    the phase's samples, in order, where the caller knows them.

    Raises
    ------
    PartError
        If a part fails its check, or two parts name the same chunk.
    """
    found: dict[int, Path] = {}
    size = int(manifest.chunk_size or 1)
    for path in part_paths(phase_dir):
        chunk = part_index(path)
        if chunk is not None and chunk in found:
            raise PartError(f"{path}: names chunk {chunk}, as {found[chunk].name} does; "
                            f"{_RECOMPUTE}")
        chunk_labels = None
        if labels is not None and chunk is not None:
            chunk_labels = np.asarray(labels)[chunk * size:(chunk + 1) * size]
        check_part(path, manifest, labels=chunk_labels, columns=_CHECK_COLUMNS)
        found[chunk] = path
    return found


def read_phase(phase_dir: str | os.PathLike, *, complete: bool = True) -> pa.Table:
    """The responses of a phase folder, sorted by sample, every part checked first.

    Parameters
    ----------
    phase_dir : path
    complete : bool
        Every chunk of the manifest must have its part (what ``observe`` and
        ``test`` use); False reads the parts there are (an interrupted phase,
        read back by :func:`stdp_ray.load_run`).

    Returns
    -------
    pyarrow.Table
        :data:`~stdp_ray.rundir.RESPONSES_SCHEMA`, one row per sample; empty
        where the folder holds no part.

    Raises
    ------
    PartError
        If a part fails its check (:func:`check_part`), two parts name the
        same chunk, parts are there but no manifest, or (``complete``) a
        chunk has no part.
    """
    phase_dir = as_path(phase_dir)
    paths = part_paths(phase_dir)
    manifest = read_manifest(phase_dir)
    if manifest is None:
        if paths:
            raise PartError(f"{phase_dir}: holds response parts but no manifest "
                            f"({manifest_path(phase_dir)}), so what they were computed from "
                            f"is unknown; {_RECOMPUTE}")
        return RESPONSES_SCHEMA.empty_table()
    tables: dict[int, pa.Table] = {}
    for path in paths:
        chunk = part_index(path)
        if chunk is not None and chunk in tables:
            raise PartError(f"{path}: names chunk {chunk}, as another part does; "
                            f"{_RECOMPUTE}")
        tables[chunk] = check_part(path, manifest)
    if complete:
        missing = [c for c in range(chunk_count(manifest)) if c not in tables]
        if missing:
            raise PartError(f"{phase_dir}: chunk(s) {missing[:10]} of {chunk_count(manifest)} "
                            f"have no part; run the phase again to compute them")
    if not tables:
        return RESPONSES_SCHEMA.empty_table()
    return pa.concat_tables([tables[c] for c in sorted(tables)]).sort_by("sample")
