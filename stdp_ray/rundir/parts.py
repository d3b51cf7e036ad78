"""Parquet parts and tables: their names, their key-value metadata, and their I/O.

A partitioned table is a folder of parts ``part-<index>.parquet``, the index
(the chunk of a phase, the first sample of a statistics part) written with 6
digits at least (:func:`part_name`). Readers take the index from the name,
whatever its width (training statistics were once named with 9 digits), and
order parts by it. Every file is written atomically, with its schema version,
the units of its columns and the run's identity in its key-value metadata
(:func:`table_metadata`).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from .. import confine
from ..atomic import atomic_write_bytes
from ..location import as_path
from ..reading import open_regular

__all__ = ["PART_GLOB", "part_name", "part_index", "part_paths", "TABLE_SCHEMA_VERSION",
           "COLUMN_UNITS", "table_metadata", "read_table_metadata", "write_table", "read_table",
           "read_parts"]

#: Glob of the parts of a partitioned table (:func:`part_name`).
PART_GLOB = "part-*.parquet"
_PART_RE = re.compile(r"part-(\d+)\.parquet")


def part_name(index: int) -> str:
    """File name of part ``index`` of a partitioned table (6 digits at least)."""
    return f"part-{index:06d}.parquet"


def part_index(path: str | os.PathLike) -> int | None:
    """The index in a part's file name (any number of digits), or None if it is no part."""
    m = _PART_RE.fullmatch(as_path(path).name)
    return int(m.group(1)) if m else None


def part_paths(directory: str | os.PathLike) -> list[Path]:
    """The ``part-*.parquet`` files of a directory, in order of their index.

    Names of any width are read (see the module docstring); a name without an
    index sorts last, by name. Below a run directory's root the directory is
    listed only if no link lies on its way (:func:`stdp_ray.confine.check`).
    """
    def key(p: Path):
        index = part_index(p)
        return (index is None, index or 0, p.name)

    return sorted(confine.check(as_path(directory)).glob(PART_GLOB), key=key)


#: Version of the tables' layout, in every Parquet file's key-value metadata.
TABLE_SCHEMA_VERSION = 1

#: Unit of each column that has one (written into the metadata of the tables holding it).
COLUMN_UNITS = {
    "counts": "spikes", "total_spikes": "spikes", "presentations": "presentations",
    "intensity": "multiple of the base input rate (pixel / input_rate_divisor Hz)",
    "w_mean": "conductance jump (dimensionless)", "w_std": "conductance jump (dimensionless)",
    "theta_mean_mV": "mV", "theta_std_mV": "mV", "seconds": "s", "training_seconds": "s",
    "class_rates": "spikes per presentation", "scores": "spikes per presentation",
    "scores_sum": "spikes per presentation", "accuracy": "fraction (0..1)",
}

#: Key-value metadata keys (each prefixed ``stdp_ray.``).
_META_PREFIX = "stdp_ray."


def table_metadata(table: pa.Table, identity: Mapping[str, Any] | None = None) -> dict:
    """The key-value metadata written with ``table``: schema version, units, run identity.

    Keys: ``stdp_ray.schema_version``, ``stdp_ray.version`` (the package),
    ``stdp_ray.units`` (JSON: column -> unit, for the columns that have one) and
    each item of ``identity`` (e.g. ``seed``, ``network`` hash, ``config`` hash)
    as ``stdp_ray.<key>``; values are strings (JSON for non-strings).
    """
    from .. import __version__

    units = {c: COLUMN_UNITS[c] for c in table.column_names if c in COLUMN_UNITS}
    meta = {"schema_version": str(TABLE_SCHEMA_VERSION), "version": __version__,
            "units": json.dumps(units, sort_keys=True)}
    for key, value in (identity or {}).items():
        meta[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return {f"{_META_PREFIX}{k}": v for k, v in meta.items()}


def read_table_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``stdp_ray.*`` key-value metadata of a Parquet file (prefix removed; {} if none).

    The file is opened as every file of a run directory is
    (:func:`stdp_ray.reading.open_regular`: no link followed).
    """
    with open_regular(path) as fh:
        raw = pq.read_schema(fh).metadata or {}
    return {k.decode()[len(_META_PREFIX):]: v.decode() for k, v in raw.items()
            if k.decode().startswith(_META_PREFIX)}


def write_table(path: str | os.PathLike, table: pa.Table,
                identity: Mapping[str, Any] | None = None) -> Path:
    """Write a Parquet file atomically, with :func:`table_metadata` (and ``identity``)."""
    buf = io.BytesIO()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           **table_metadata(table, identity)})
    pq.write_table(table, buf, compression="zstd")
    return atomic_write_bytes(path, buf.getvalue())


def read_table(path: str | os.PathLike, schema: pa.Schema | None = None, *,
               columns: tuple[str, ...] | None = None) -> pa.Table:
    """Read one Parquet file, optionally checking its schema.

    The file is opened as every file of a run directory is
    (:func:`stdp_ray.reading.open_regular`: no link followed); ``columns``
    reads only those.
    """
    with open_regular(path) as fh:
        table = pq.read_table(fh, columns=list(columns) if columns is not None else None)
    if schema is not None and columns is not None:
        schema = pa.schema([schema.field(name) for name in columns])
    if schema is not None and not table.schema.equals(schema, check_metadata=False):
        found = {f.name: f for f in table.schema}
        differ = [name for name in dict.fromkeys([*schema.names, *found])
                  if name not in found or name not in schema.names
                  or not found[name].equals(schema.field(name))]
        wanted = {f.name: f for f in schema}
        raise ValueError(f"{path}: schema differs from the expected one in column(s) "
                         + ", ".join(f"{n} ({_field_text(found.get(n))}, expected "
                                     f"{_field_text(wanted.get(n))})" for n in differ))
    return table


def _field_text(field: pa.Field | None) -> str:
    if field is None:
        return "absent"
    return f"{field.type}{'' if field.nullable else ' not null'}"


def read_parts(directory: str | os.PathLike, schema: pa.Schema) -> pa.Table:
    """Concatenate the parts of a directory (:func:`part_paths`) in order of their index."""
    parts = part_paths(directory)
    if not parts:
        return schema.empty_table()
    return pa.concat_tables([read_table(p, schema) for p in parts])
