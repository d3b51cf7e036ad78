"""The typed records of a run directory's, an ensemble root's and a sweep root's JSON files.

Each has one writer and one reader: :class:`RunRecord` (``config.json``),
:class:`RunMetrics` (a run's ``metrics.json``), :class:`CheckpointState` (a
checkpoint's ``state.json``), :class:`EnsembleSettings` (``ensemble.json``),
:class:`EnsembleMetrics` (an ensemble's ``metrics.json``) and
:class:`SweepSettings` (``sweep.json``); and the reader of ``sweep.parquet``.
Writers write atomically; readers name the file in every error.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa

from ..config import Config, config_from_dict, config_to_dict
from ..atomic import atomic_write_json
from ..reading import ArtifactError, load_json
from .layout import (CHECKPOINT_STATE, ENSEMBLE_FILE, ENSEMBLE_METRICS_FILE, METRICS_FILE,
                     RUN_CONFIG_FILE, SWEEP_FILE, SWEEP_SUMMARY_FILE)
from .parts import read_table
from .schemas import sweep_summary_table
from ..location import as_path

__all__ = ["provenance_commit", "RunRecord", "write_run_record", "read_run_record",
           "RunMetrics", "write_metrics", "read_metrics", "EnsembleSettings",
           "write_ensemble_settings", "read_ensemble_settings", "EnsembleMember",
           "EnsembleMetrics", "write_ensemble_metrics", "read_ensemble_metrics",
           "CheckpointState", "write_checkpoint_state", "read_checkpoint_state",
           "SweepSettings", "write_sweep_settings", "read_sweep_settings", "read_sweep_summary"]


def record_from_mapping(cls, raw: Mapping[str, Any], **overrides):
    """An instance of dataclass ``cls`` from ``raw``: missing keys None, unknown keys ignored."""
    values = {f.name: raw.get(f.name) for f in dataclasses.fields(cls)}
    values.update(overrides)
    return cls(**values)


def record_to_dict(record) -> dict:
    """The fields of a dataclass record, by name."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def provenance_commit(provenance: Mapping[str, Any] | None) -> str | None:
    """The commit a provenance record names, under its current or an older key.

    Current records hold ``commit``; older ones held ``git_commit`` or put it
    among the versions (``versions.commit``, ``versions.git``).
    """
    prov = provenance or {}
    versions = prov.get("versions") or {}
    for value in (prov.get("commit"), prov.get("git_commit"), versions.get("commit"),
                  versions.get("git")):
        if value is not None:
            return value
    return None


@dataclass(frozen=True)
class RunRecord:
    """``config.json``: what a run directory was created with.

    Attributes
    ----------
    config : Config
        The model and simulation settings.
    seed : int
        Seeds the initial network and every input spike train.
    provenance : dict
        Versions, host, commit and creation time (:func:`stdp_ray.provenance.provenance`)
        of the call that created the run; not compared.
    data : dict
        The data set the run uses and the MD5 of each file it read
        (:func:`stdp_ray.data.data_record`: ``dataset``, ``verified``,
        ``files``); empty in a run made before it was recorded (MNIST). Not
        compared.
    """

    config: Config
    seed: int
    provenance: dict = field(default_factory=dict, compare=False)
    data: dict = field(default_factory=dict, compare=False)

    @property
    def dataset(self) -> str:
        """The data set's name (``"mnist"`` where the run records none)."""
        name = self.data.get("dataset") if isinstance(self.data, dict) else None
        return name if isinstance(name, str) and name else "mnist"


def write_run_record(run_dir: str | os.PathLike, record: RunRecord) -> Path:
    """Write ``RUN_DIR/config.json`` (atomically)."""
    content = {"config": config_to_dict(record.config), "seed": int(record.seed),
               "provenance": dict(record.provenance)}
    if record.data:
        content["data"] = dict(record.data)
    return atomic_write_json(as_path(run_dir) / RUN_CONFIG_FILE, content)


def read_run_record(run_dir: str | os.PathLike) -> RunRecord:
    """Read ``RUN_DIR/config.json``.

    Raises
    ------
    ArtifactError
        If the file is missing, not JSON, or not a valid run configuration.
    """
    path = as_path(run_dir) / RUN_CONFIG_FILE
    raw = load_json(path)
    try:
        data = raw.get("data") or {}
        if not isinstance(data, dict):
            raise TypeError(f"data is a {type(data).__name__}, must be an object")
        return RunRecord(config_from_dict(raw.get("config"), source=str(path)),
                         int(raw["seed"]), raw.get("provenance") or {}, data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: invalid run configuration ({exc})") from exc



@dataclass(frozen=True)
class RunMetrics:
    """A run's ``metrics.json``: the test result and how it was computed.

    A key the file lacks, but ``confusion_matrix``, reads as None.

    Attributes
    ----------
    confusion_matrix : list of list of int
        (10, 10) counts, rows true class, columns predicted class.
    accuracy : float
        Fraction of test samples predicted right (0 to 1).
    n_samples : int
        Test samples.
    n_failed : int
        Test samples still under ``min_spikes`` at ``max_intensity``.
    mean_presentations : float
        Presentations per test sample (1 = first).
    mean_spikes : float
        Response spikes per test sample (final presentation).
    wall_seconds : float
        Wall time of the test call, in seconds.
    simulate_seconds : float
        Wall time of the simulation of the test phase, in seconds.
    chunks, chunks_computed : int
        Chunks of the phase; chunks simulated by this call (the rest were on disk).
    chunk_size : int
        Samples per chunk.
    workers : int
        Most chunks in flight at once.
    nodes : int
        Ray nodes that simulated chunks.
    chunk_nodes : dict of str to str
        Ray node id that simulated each chunk computed by this call.
    backend : str
        Simulation engine.
    seed : int
        The run's seed.
    network : str
        Fingerprint of the tested network.
    n_neurons : int
        Excitatory neurons.
    training_samples : int or None
        Samples the network was trained on.
    observe_samples : int or None
        Samples of the label assignment (observe phase).
    provenance : dict
        Versions, host, commit and time of the test call; see :func:`provenance_commit`.
    """

    confusion_matrix: list
    accuracy: float | None = None
    n_samples: int | None = None
    n_failed: int | None = None
    mean_presentations: float | None = None
    mean_spikes: float | None = None
    wall_seconds: float | None = None
    simulate_seconds: float | None = None
    chunks: int | None = None
    chunks_computed: int | None = None
    chunk_size: int | None = None
    workers: int | None = None
    nodes: int | None = None
    chunk_nodes: dict | None = None
    backend: str | None = None
    seed: int | None = None
    network: str | None = None
    n_neurons: int | None = None
    training_samples: int | None = None
    observe_samples: int | None = None
    provenance: dict | None = None

    def to_dict(self) -> dict:
        """The record as its JSON object."""
        return record_to_dict(self)


def write_metrics(run_dir: str | os.PathLike, metrics: RunMetrics) -> Path:
    """Write ``RUN_DIR/metrics.json`` (atomically)."""
    return atomic_write_json(as_path(run_dir) / METRICS_FILE, metrics.to_dict())


def read_metrics(run_dir: str | os.PathLike) -> RunMetrics | None:
    """``RUN_DIR/metrics.json``, or None if the run has not been tested.

    Raises
    ------
    ArtifactError
        If the file is not a JSON object or has no ``confusion_matrix``.
    """
    path = as_path(run_dir) / METRICS_FILE
    if not path.is_file():
        return None
    raw = load_json(path)
    if "confusion_matrix" not in raw:
        raise ArtifactError(f"{path}: has no 'confusion_matrix'")
    return record_from_mapping(RunMetrics, raw)


@dataclass(frozen=True)
class EnsembleSettings:
    """``ensemble.json``: what an ensemble root was created with (it marks the root).

    Attributes
    ----------
    config : Config or None
        The members' configuration (None in a hand-written file without one).
    seeds : list of int
        One member per seed, in member order (as stored: checked by the caller).
    samples : int or None
        Training samples per member.
    observe_samples, test_samples : int or None
        Samples of each member's observe and test phases (None: all).
    """

    config: Config | None
    seeds: Any
    samples: int | None = None
    observe_samples: int | None = None
    test_samples: int | None = None


def write_ensemble_settings(root: str | os.PathLike, settings: EnsembleSettings) -> Path:
    """Write ``ROOT/ensemble.json`` (atomically)."""
    record = record_to_dict(settings)
    record["config"] = config_to_dict(settings.config)
    return atomic_write_json(as_path(root) / ENSEMBLE_FILE, record)


def read_ensemble_settings(root: str | os.PathLike) -> EnsembleSettings:
    """Read ``ROOT/ensemble.json``.

    Raises
    ------
    ArtifactError
        If it is missing, not a JSON object, or holds an invalid configuration.
    """
    path = as_path(root) / ENSEMBLE_FILE
    raw = load_json(path)
    config = None
    if raw.get("config") is not None:
        try:
            config = config_from_dict(raw["config"], source=str(path))
        except (TypeError, ValueError) as exc:
            raise ArtifactError(str(exc)) from exc
    return record_from_mapping(EnsembleSettings, raw, config=config)


@dataclass(frozen=True)
class EnsembleMember:
    """One member of an ensemble's metrics.

    Attributes
    ----------
    seed : int
    accuracy : float
        The member's test accuracy (0 to 1).
    run_dir : str
        Its run directory: absolute, else relative to the root.
    training_samples : int or None
        Samples it was trained on.
    """

    seed: int
    accuracy: float
    run_dir: str
    training_samples: int | None = None


@dataclass(frozen=True)
class EnsembleMetrics:
    """An ensemble root's ``metrics.json``: members alone and combined, against K.

    The file starts with ``accuracy``, that of all members combined by summed
    class scores (``ensemble_accuracy_sum``), as a run's ``metrics.json`` does.

    "K" takes the first K members in seed order. A key the file lacks, but
    ``members``, ``k``, ``accuracy_sum`` and ``accuracy_vote``, reads as None.

    Attributes
    ----------
    members : list of EnsembleMember
        At least one, in member order.
    k : list of int
        Ensemble sizes 1..K.
    accuracy_sum, accuracy_vote : list of float
        Accuracy (0 to 1) of the first K members combined by summed class
        scores and by majority vote, one per entry of ``k``.
    mean_member_accuracy : float or None
    ensemble_accuracy_sum, ensemble_accuracy_vote : float or None
        Accuracy of all members combined.
    n_samples : int or None
        Test samples.
    n_neurons : int or None
        Excitatory neurons per member.
    samples : int or None
        Training samples per member.
    observe_samples : int or None
        Samples of each member's label assignment.
    provenance : dict or None
        Versions, host, commit and time of the call that combined them.
    """

    members: list
    k: list
    accuracy_sum: list
    accuracy_vote: list
    mean_member_accuracy: float | None = None
    ensemble_accuracy_sum: float | None = None
    ensemble_accuracy_vote: float | None = None
    n_samples: int | None = None
    n_neurons: int | None = None
    samples: int | None = None
    observe_samples: int | None = None
    provenance: dict | None = None

    def to_dict(self) -> dict:
        """The record as its JSON object."""
        record = record_to_dict(self)
        record["members"] = [record_to_dict(m) for m in self.members]
        # The headline, as in a run's metrics.json: all members, summed class scores.
        accuracy = self.ensemble_accuracy_sum if self.ensemble_accuracy_sum is not None \
            else (self.accuracy_sum[-1] if self.accuracy_sum else None)
        return {"accuracy": accuracy, **record}


def write_ensemble_metrics(root: str | os.PathLike, metrics: EnsembleMetrics) -> Path:
    """Write ``ROOT/metrics.json`` (atomically)."""
    return atomic_write_json(as_path(root) / ENSEMBLE_METRICS_FILE, metrics.to_dict())


def read_ensemble_metrics(root: str | os.PathLike) -> EnsembleMetrics | None:
    """``ROOT/metrics.json``, or None if the ensemble is unfinished.

    Raises
    ------
    ValueError
        If it is not a JSON object (:class:`~stdp_ray.reading.ArtifactError`),
        lacks a required key, has no members, a member without ``seed``,
        ``accuracy`` and ``run_dir``, or lists of K of unequal lengths; the
        message names the file.
    """
    path = as_path(root) / ENSEMBLE_METRICS_FILE
    if not path.is_file():
        return None
    raw = load_json(path)
    missing = [k for k in ("members", "k", "accuracy_sum", "accuracy_vote") if k not in raw]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    members = raw["members"]
    if not isinstance(members, list) or not members:
        raise ValueError(f"{path}: 'members' must be a non-empty list")
    for i, mem in enumerate(members):
        if not isinstance(mem, dict) or not {"seed", "accuracy", "run_dir"} <= set(mem):
            raise ValueError(f"{path}: members[{i}] must be an object with 'seed', "
                             "'accuracy' and 'run_dir'")
    for key in ("k", "accuracy_sum", "accuracy_vote"):
        if not isinstance(raw[key], list):
            raise ValueError(f"{path}: '{key}' must be a list")
    if not len(raw["k"]) == len(raw["accuracy_sum"]) == len(raw["accuracy_vote"]):
        raise ValueError(f"{path}: 'k', 'accuracy_sum' and 'accuracy_vote' must have the same "
                         f"length, got {len(raw['k'])}, {len(raw['accuracy_sum'])}, "
                         f"{len(raw['accuracy_vote'])}")
    return record_from_mapping(EnsembleMetrics, raw,
                               members=[record_from_mapping(EnsembleMember, m) for m in members])


@dataclass(frozen=True)
class CheckpointState:
    """A training checkpoint's ``state.json``: where training stands and what it belongs to.

    Attributes
    ----------
    samples_done : int
        Training samples done when it was taken.
    seed : int or None
        The run's seed.
    model : str or None
        Hash of the model configuration (:meth:`stdp_ray.config.Config.model_hash`).
    config : dict or None
        The configuration, serialised (:func:`stdp_ray.config.config_to_dict`).
    checksums : dict or None
        SHA-256 of the checkpoint's other files (:data:`CHECKPOINT_ARRAYS`,
        :data:`CHECKPOINT_DYNAMIC`), by file name; None in checkpoints of
        older versions.
    node : str or None
        The Ray node whose training actor wrote it (None outside Ray and in
        checkpoints of older versions).
    """

    samples_done: int
    seed: int | None = None
    model: str | None = None
    config: dict | None = None
    checksums: dict | None = None
    node: str | None = None


def write_checkpoint_state(checkpoint: str | os.PathLike, record: CheckpointState) -> Path:
    """Write a checkpoint directory's ``state.json`` (atomically)."""
    return atomic_write_json(as_path(checkpoint) / CHECKPOINT_STATE, record_to_dict(record))


def read_checkpoint_state(checkpoint: str | os.PathLike) -> CheckpointState:
    """Read a checkpoint directory's ``state.json``.

    Raises
    ------
    ArtifactError
        If it is missing, not a JSON object, or has no integer ``samples_done``.
    """
    path = as_path(checkpoint) / CHECKPOINT_STATE
    raw = load_json(path)
    try:
        done = int(raw.get("samples_done", 0))
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: samples_done == {raw.get('samples_done')!r}, must be "
                            "an integer") from exc
    sums = raw.get("checksums")
    if sums is not None and not (isinstance(sums, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in sums.items())):
        raise ArtifactError(f"{path}: checksums must map file names to hex digests")
    return record_from_mapping(CheckpointState, raw, samples_done=done)


@dataclass(frozen=True)
class SweepSettings:
    """``sweep.json``: what a sweep root was created with (it marks the root).

    Attributes
    ----------
    config : Config
        The base configuration; each point replaces the swept fields.
    grid : dict
        ``{field: [values]}`` in the order given; the points are their product.
    seeds : list of int
        Each point is trained once per seed.
    samples : int
        Training samples of every run.
    observe_samples, test_samples : int or None
        Samples of each run's observe and test phases (None: all).
    """

    config: Config
    grid: dict
    seeds: list
    samples: int
    observe_samples: int | None = None
    test_samples: int | None = None


def write_sweep_settings(root: str | os.PathLike, settings: SweepSettings) -> Path:
    """Write ``ROOT/sweep.json`` (atomically)."""
    record = record_to_dict(settings)
    record["config"] = config_to_dict(settings.config)
    record["grid"] = {k: list(v) for k, v in settings.grid.items()}
    return atomic_write_json(as_path(root) / SWEEP_FILE, record)


def read_sweep_settings(root: str | os.PathLike) -> SweepSettings:
    """Read ``ROOT/sweep.json``.

    Raises
    ------
    ArtifactError
        If it is missing, not a JSON object, or holds an invalid configuration.
    """
    path = as_path(root) / SWEEP_FILE
    raw = load_json(path)
    try:
        config = config_from_dict(raw["config"], source=str(path))
        grid = {str(k): list(v) for k, v in dict(raw["grid"]).items()}
        return record_from_mapping(SweepSettings, raw, config=config, grid=grid,
                             seeds=[int(x) for x in raw["seeds"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: invalid sweep settings ({exc})") from exc



def read_sweep_summary(root: str | os.PathLike, grid_fields: list[str]) -> pa.Table:
    """Read ``ROOT/sweep.parquet``, checking its columns against the sweep's fields.

    Parameters
    ----------
    root : path
        The sweep's directory.
    grid_fields : list of str
        The swept settings (``sweep.json``'s grid), in order.

    Returns
    -------
    pyarrow.Table
        As :func:`sweep_summary_table` writes it.

    Raises
    ------
    ArtifactError
        If it is missing, not Parquet, or has other columns or types.
    """
    path = as_path(root) / SWEEP_SUMMARY_FILE
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (the sweep has not finished a run yet)")
    expected = sweep_summary_table([], grid_fields).schema
    try:
        return read_table(path, expected)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: not a sweep summary ({str(exc).splitlines()[0]})") from exc
