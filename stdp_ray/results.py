"""What the API's functions return: one frozen record each, with documented fields.

Every function of :mod:`stdp_ray.api` returns one of these (or a
:class:`~stdp_ray.config.Config`, a :class:`~stdp_ray.loading.Run`, a
:class:`pathlib.Path`). Each record has ``as_dict()``, the JSON the command
line prints; reading one by key (``result["accuracy"]``) reads that dict, as
the dicts returned before did.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterator

__all__ = ["Result", "TrainResult", "ObserveResult", "TestResult", "EnsembleResult",
           "SweepResult", "CurveResult", "ReportResult", "ImportResult", "InspectResult"]


class Result:
    """Shared behaviour: ``as_dict()``, read access by key, ``keys()``."""

    def as_dict(self) -> dict:
        """The record as a dict of JSON values (what the command line prints)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def keys(self):
        """The keys of :meth:`as_dict` (so ``{**result}`` works)."""
        return self.as_dict().keys()

    def get(self, key: str, default: Any = None) -> Any:
        """``as_dict().get(key, default)``."""
        return self.as_dict().get(key, default)


@dataclasses.dataclass(frozen=True)
class TrainResult(Result):
    """What :func:`stdp_ray.train` did.

    Attributes
    ----------
    samples : int
        Training samples of the network now saved.
    seconds : float
        Wall time of the call.
    resumed_from : int or None
        Samples already trained when the call started (from a checkpoint).
    curve : tuple of float or None
        With ``eval_every``: the accuracy of each learning-curve row.
    """

    samples: int
    seconds: float
    resumed_from: int | None = None
    curve: tuple[float, ...] | None = None

    @classmethod
    def from_summary(cls, summary: dict) -> "TrainResult":
        curve = summary.get("curve")
        return cls(samples=int(summary["samples"]), seconds=float(summary["seconds"]),
                   resumed_from=summary.get("resumed_from"),
                   curve=tuple(curve) if curve is not None else None)

    def as_dict(self) -> dict:
        out = super().as_dict()
        if self.curve is None:
            del out["curve"]
        else:
            out["curve"] = list(self.curve)
        return out


@dataclasses.dataclass(frozen=True)
class ObserveResult(Result):
    """What :func:`stdp_ray.observe` did.

    Attributes
    ----------
    chunks : int
        Chunks of the phase.
    computed : int
        Chunks simulated by this call.
    skipped : int
        Chunks already written (reused).
    seconds : float
        Wall time of the simulation.
    classes_covered : int
        Classes assigned to at least one neuron.
    placement : dict
        Node and worker of each chunk computed (not printed by the command line).
    """

    chunks: int
    computed: int
    skipped: int
    seconds: float
    classes_covered: int
    placement: dict = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_info(cls, info: dict) -> "ObserveResult":
        return cls(**{f.name: info[f.name] for f in dataclasses.fields(cls) if f.name in info})


@dataclasses.dataclass(frozen=True)
class TestResult(Result):
    """The test metrics of :func:`stdp_ray.test` and :func:`stdp_ray.run`.

    Attributes
    ----------
    metrics : stdp_ray.rundir.RunMetrics
        ``metrics.json`` (``accuracy``, ``confusion_matrix``, ``n_samples``,
        ``network``, ``training_samples``, ...); its fields read as the
        record's own (``result.accuracy``).
    placement : dict
        Node and worker of each chunk computed (empty if none was).
    """

    __test__ = False  # a record, not a test for pytest to collect

    metrics: Any
    placement: dict = dataclasses.field(default_factory=dict, repr=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("metrics", "placement"):
            raise AttributeError(name)
        return getattr(self.metrics, name)

    def as_dict(self) -> dict:
        return {**self.metrics.to_dict(), "placement": self.placement}

    def __repr__(self) -> str:
        m = self.metrics
        return (f"TestResult(accuracy={m.accuracy!r}, n_samples={m.n_samples!r}, "
                f"network={m.network!r}, training_samples={m.training_samples!r})")


@dataclasses.dataclass(frozen=True)
class EnsembleResult(Result):
    """The ensemble's metrics (:func:`stdp_ray.ensemble`).

    Attributes
    ----------
    metrics : stdp_ray.rundir.EnsembleMetrics
        ``ROOT/metrics.json`` (``accuracy`` of the summed scores, ``members``,
        ...); its fields read as the record's own.
    """

    metrics: Any

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "metrics":
            raise AttributeError(name)
        return getattr(self.metrics, name)

    def as_dict(self) -> dict:
        return self.metrics.to_dict()


@dataclasses.dataclass(frozen=True)
class SweepResult(Result):
    """A sweep's summary (:func:`stdp_ray.sweep`).

    Attributes
    ----------
    root : pathlib.Path
        The sweep's directory.
    table : pandas.DataFrame
        ``sweep.parquet``: one row per point and seed (``point``, each swept
        field, ``seed``, ``accuracy``, ``run_dir``, ...).
    """

    root: Path
    table: Any = dataclasses.field(repr=False)

    @property
    def best(self) -> dict:
        """The row of the most accurate run."""
        return self.table.loc[self.table["accuracy"].idxmax()].to_dict()

    def as_dict(self) -> dict:
        return {"root": str(self.root), "runs": len(self.table),
                "best": {k: v for k, v in self.best.items()} if len(self.table) else None}


@dataclasses.dataclass(frozen=True)
class CurveResult(Result):
    """A learning curve (:func:`stdp_ray.learning_curve`).

    Attributes
    ----------
    run_dir : pathlib.Path
        The run directory (the curve is ``run_dir/curve/curve.parquet``).
    table : pyarrow.Table
        One row per snapshot and label set (:data:`stdp_ray.rundir.CURVE_SCHEMA`).
    """

    run_dir: Path
    table: Any = dataclasses.field(repr=False)

    @property
    def points(self) -> list[dict]:
        """``samples_seen``, ``label_samples`` and ``accuracy`` of every row."""
        return self.table.select(["samples_seen", "label_samples", "accuracy"]).to_pylist()

    def to_pandas(self):
        """The curve as a DataFrame."""
        return self.table.to_pandas()

    def as_dict(self) -> dict:
        return {"run_dir": str(self.run_dir), "points": self.points}


@dataclasses.dataclass(frozen=True)
class ReportResult(Result):
    """The files :func:`stdp_ray.write_report` wrote (iterating gives them).

    Attributes
    ----------
    written : tuple of pathlib.Path
        Figures, tables, then ``report.md``.
    """

    written: tuple[Path, ...]

    def __iter__(self) -> Iterator[Path]:
        return iter(self.written)

    def __len__(self) -> int:
        return len(self.written)

    def as_dict(self) -> dict:
        return {"written": [str(p) for p in self.written]}


@dataclasses.dataclass(frozen=True)
class ImportResult(Result):
    """The network :func:`stdp_ray.import_network` imported.

    Attributes
    ----------
    seed : int
        Its seed.
    neurons : int
        Its excitatory neurons.
    """

    seed: int
    neurons: int


@dataclasses.dataclass(frozen=True)
class InspectResult(Result):
    """One image through a run's network (:func:`stdp_ray.inspect`).

    Attributes
    ----------
    record : stdp_ray.inspection.Inspection
        The arrays (``spikes``, ``t_ms``, ``v_mV``, ``ge``, ``gi``,
        ``theta_mV``, ``counts``, ``scores``) and what they are of; its
        fields read as the record's own (``result.predicted``).
    written : tuple of pathlib.Path
        The files written from it.
    """

    record: Any
    written: tuple[Path, ...] = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("record", "written"):
            raise AttributeError(name)
        return getattr(self.record, name)

    def as_dict(self) -> dict:
        return {**self.record.summary(), "written": [str(p) for p in self.written]}

    def __repr__(self) -> str:
        r = self.record
        return (f"Inspection({r.phase} image {r.image}: label {r.label}, voted {r.predicted}, "
                f"{int(r.counts.sum())} spikes, neurons {r.neurons.tolist()})")
