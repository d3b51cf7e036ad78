"""The network artifact: one directory of ``.npz`` (no pickle) and JSON::

    network/
      network.json      configuration, provenance, format version
      arrays.npz        weights (n_input, n_neurons), theta_mV (n_neurons,),
                        delays_ms (n_input, n_neurons)
      assignments.npz   assignments (n_neurons,) int16, class_rates (10, n_neurons)
                        (once observed)

:func:`save_network` writes it in one atomic directory swap
(:func:`stdp_ray.atomic.atomic_directory`), so a reader never sees half an
artifact; :func:`load_network` checks every file against the stored
configuration (:func:`validate_arrays`, :func:`validate_assignments`) and
bounds what a received artifact can make it read. Given a
:class:`~stdp_ray.location.Location` on an object store, the writes reach
the store. Where these directories sit in a run directory is
:mod:`stdp_ray.rundir`'s business.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .atomic import atomic_directory, atomic_save_npz, atomic_write_json
from .config import Config, config_from_dict, config_to_dict
from .location import as_location
from .network import NUM_CLASSES, FrozenNetwork
from .provenance import provenance
from .reading import ArtifactError, load_json, load_npz

logger = logging.getLogger(__name__)

__all__ = ["Network", "save_network", "load_network", "save_assignments", "load_assignments",
           "validate_arrays", "validate_assignments", "network_shapes", "NETWORK_JSON",
           "ARRAYS_NPZ", "ASSIGNMENTS_NPZ", "NETWORK_ARRAYS", "NETWORK_FILES",
           "MAX_NETWORK_SYNAPSES"]

NETWORK_JSON = "network.json"
ARRAYS_NPZ = "arrays.npz"
ASSIGNMENTS_NPZ = "assignments.npz"
FORMAT = "stdp-ray-network"
FORMAT_VERSION = 1
#: The arrays of a network (``arrays.npz``, and a checkpoint's).
NETWORK_ARRAYS = ("weights", "theta_mV", "delays_ms")
#: The files of a network directory: what an import copies, nothing else.
NETWORK_FILES = (NETWORK_JSON, ARRAYS_NPZ, ASSIGNMENTS_NPZ)
#: Most input-to-excitatory synapses of a network read from disk (the paper's
#: largest, 784 x 6400, is 5.0e6): bounds the memory a received artifact can claim.
MAX_NETWORK_SYNAPSES = 2**26


@dataclass(frozen=True)
class Network:
    """A network loaded from disk: configuration, arrays, provenance, assignments."""

    config: Config
    arrays: FrozenNetwork
    provenance: dict = field(default_factory=dict)
    assignments: np.ndarray | None = None
    class_rates: np.ndarray | None = None


def network_shapes(cfg: Config) -> dict[str, tuple[int, ...]]:
    """The shape of each of :data:`NETWORK_ARRAYS` for ``cfg``."""
    return {"weights": (cfg.n_input, cfg.n_neurons), "theta_mV": (cfg.n_neurons,),
            "delays_ms": (cfg.n_input, cfg.n_neurons)}


def validate_arrays(arrays: FrozenNetwork, cfg: Config, source: str = "network") -> FrozenNetwork:
    """Check shapes, dtypes and values of ``arrays`` against ``cfg``; returns float64 copies."""
    shape_w = (cfg.n_input, cfg.n_neurons)
    checks = (("weights", arrays.weights, shape_w), ("theta_mV", arrays.theta_mV, (cfg.n_neurons,)),
              ("delays_ms", arrays.delays_ms, shape_w))
    out = {}
    for name, arr, shape in checks:
        if not isinstance(arr, np.ndarray):
            raise ArtifactError(f"{source}: {name} is a {type(arr).__name__}, must be an ndarray")
        if arr.shape != shape:
            raise ArtifactError(f"{source}: {name} has shape {arr.shape}, must be {shape} "
                                f"for n_input={cfg.n_input}, n_neurons={cfg.n_neurons}")
        if arr.dtype.kind != "f":
            raise ArtifactError(f"{source}: {name} has dtype {arr.dtype}, must be floating point")
        if not np.all(np.isfinite(arr)):
            raise ArtifactError(f"{source}: {name} holds {int(np.sum(~np.isfinite(arr)))} "
                                "non-finite values")
        out[name] = np.array(arr, dtype=np.float64)
    if out["weights"].min() < 0 or out["weights"].max() > cfg.w_max:
        raise ArtifactError(f"{source}: weights span [{out['weights'].min():.4g}, "
                            f"{out['weights'].max():.4g}], must lie in [0, w_max={cfg.w_max}]")
    if out["delays_ms"].min() < 0 or out["delays_ms"].max() > cfg.delay_max_ms:
        raise ArtifactError(f"{source}: delays_ms span [{out['delays_ms'].min():.4g}, "
                            f"{out['delays_ms'].max():.4g}], must lie in "
                            f"[0, delay_max_ms={cfg.delay_max_ms}]")
    return FrozenNetwork(**out)


def validate_assignments(assignments: np.ndarray, class_rates: np.ndarray, cfg: Config,
                         source: str = "assignments") -> None:
    """Check an assignment vector and its (10, n_neurons) class-rate table."""
    if assignments.shape != (cfg.n_neurons,):
        raise ArtifactError(f"{source}: assignments has shape {assignments.shape}, must be "
                            f"({cfg.n_neurons},)")
    if assignments.dtype.kind not in "iu":
        raise ArtifactError(f"{source}: assignments has dtype {assignments.dtype}, must be integer")
    if assignments.min() < 0 or assignments.max() >= NUM_CLASSES:
        raise ArtifactError(f"{source}: assignments must lie in 0..9")
    if class_rates.shape != (NUM_CLASSES, cfg.n_neurons) or not np.all(np.isfinite(class_rates)):
        raise ArtifactError(f"{source}: class_rates must be finite with shape "
                            f"({NUM_CLASSES}, {cfg.n_neurons}), got {class_rates.shape}")


def save_network(directory: str | os.PathLike, cfg: Config, arrays: FrozenNetwork, *,
                 prov: Mapping[str, Any] | None = None, dtype: str = "float64",
                 overwrite: bool = False,
                 assignments: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """Write a network directory atomically (a temporary directory renamed into place).

    Parameters
    ----------
    directory : path
        The network directory to create.
    cfg : Config
    arrays : FrozenNetwork
    prov : mapping, optional
        Provenance (seed, samples seen...); versions, host and time are added.
    dtype : {"float64", "float32"}
        Storage precision of the arrays.
    overwrite : bool
        Replace an existing network directory (default: refuse).
    assignments : (ndarray, ndarray), optional
        The label assignment ``(assignments, class_rates)`` to store with it
        (``assignments.npz``, as :func:`save_assignments` writes it), inside
        the same atomic rename: the artifact appears whole or not at all.
    """
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype == {dtype!r}, must be 'float64' or 'float32'")
    directory = as_location(directory)
    arrays = validate_arrays(arrays, cfg, str(directory))
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{directory}: a network already exists here (pass overwrite)")
    with atomic_directory(directory) as tmp:
        atomic_save_npz(tmp / ARRAYS_NPZ, weights=_cast_below(arrays.weights, dtype, cfg.w_max),
                        theta_mV=arrays.theta_mV.astype(dtype),
                        delays_ms=_cast_below(arrays.delays_ms, dtype, cfg.delay_max_ms))
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "config": config_to_dict(cfg), "provenance": provenance(**dict(prov or {}))}
        atomic_write_json(tmp / NETWORK_JSON, meta)
        if assignments is not None:
            save_assignments(tmp, cfg, *assignments)
    logger.info("saved network %s (%d neurons)", directory, cfg.n_neurons)
    return directory


def _cast_below(arr: np.ndarray, dtype: str, upper: float) -> np.ndarray:
    """``arr.astype(dtype)``, values that rounding lifted above ``upper`` set just below it."""
    out = arr.astype(dtype)
    cap = np.asarray(upper, dtype=dtype)
    if float(cap) > upper:  # upper is not representable in dtype and rounds up
        cap = np.nextafter(cap, np.asarray(0, dtype=dtype))
    return np.minimum(out, cap)


def load_network(directory: str | os.PathLike, *, expect: Config | None = None) -> Network:
    """Load and check a network directory.

    Parameters
    ----------
    directory : path
    expect : Config, optional
        If given, the stored configuration's model must equal this one's.

    Raises
    ------
    ArtifactError
        Naming the file and what is wrong.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: no network directory here")
    meta = load_json(directory / NETWORK_JSON)
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{directory / NETWORK_JSON}: format == {meta.get('format')!r}, "
                            f"must be {FORMAT!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{directory / NETWORK_JSON}: format_version == "
                            f"{meta.get('format_version')!r}, this stdp-ray reads {FORMAT_VERSION}")
    try:
        cfg = config_from_dict(meta.get("config"), source=str(directory / NETWORK_JSON))
    except (TypeError, ValueError) as exc:
        raise ArtifactError(str(exc)) from exc
    if cfg.n_input * cfg.n_neurons > MAX_NETWORK_SYNAPSES:
        raise ArtifactError(f"{directory / NETWORK_JSON}: n_input * n_neurons == "
                            f"{cfg.n_input * cfg.n_neurons}, at most {MAX_NETWORK_SYNAPSES} "
                            "read")
    diff = cfg.diff(expect) if expect is not None else None
    if diff:
        raise ArtifactError(f"{directory / NETWORK_JSON}: configuration does not match; "
                            f"stored vs expected: {diff}")
    raw = load_npz(directory / ARRAYS_NPZ, NETWORK_ARRAYS, shapes=network_shapes(cfg))
    arrays = validate_arrays(FrozenNetwork(raw["weights"], raw["theta_mV"], raw["delays_ms"]),
                             cfg, str(directory / ARRAYS_NPZ))
    assignments = class_rates = None
    if os.path.lexists(directory / ASSIGNMENTS_NPZ):
        assignments, class_rates = load_assignments(directory, cfg)
    return Network(cfg, arrays, meta.get("provenance", {}), assignments, class_rates)


def save_assignments(directory: str | os.PathLike, cfg: Config, assignments: np.ndarray,
                     class_rates: np.ndarray) -> Path:
    """Store the label assignment of a network directory (atomic file replace)."""
    directory = as_location(directory)
    assignments = np.asarray(assignments)
    class_rates = np.asarray(class_rates, dtype=np.float64)
    # Check before the int16 cast, which would truncate floats and wrap large values.
    validate_assignments(assignments, class_rates, cfg, str(directory / ASSIGNMENTS_NPZ))
    return atomic_save_npz(directory / ASSIGNMENTS_NPZ, assignments=assignments.astype(np.int16),
                           class_rates=class_rates)


def load_assignments(directory: str | os.PathLike, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Load ``assignments.npz`` of a network directory, checked against ``cfg``."""
    path = Path(directory) / ASSIGNMENTS_NPZ
    raw = load_npz(path, ("assignments", "class_rates"),
                   shapes={"assignments": None, "class_rates": None},
                   max_elements=NUM_CLASSES * cfg.n_neurons)
    validate_assignments(raw["assignments"], raw["class_rates"], cfg, str(path))
    return raw["assignments"].astype(np.int64), raw["class_rates"]
