"""Experiment tracking: TensorBoard event files in the run directory, and MLflow.

What a run has committed (training statistics, test metrics, learning-curve
points) and what a sweep found (one trial per point and seed, with its
hyper-parameters) is written, after each step of the driver (a training
checkpoint, a phase, a curve, a sweep point), never per sample and never from
inside an actor:

- as **TensorBoard** event files below ``RUN_DIR/tensorboard/`` (a sweep:
  ``SWEEP_ROOT/tensorboard/<point>/seed=<seed>/``, with the HParams plugin's
  experiment and session records), when the ``tensorboard`` package is
  installed (``pip install 'stdp-ray[tensorboard]'``). Open them with
  ``tensorboard --logdir RUN_DIR/tensorboard``. Each call writes a new event
  file, atomically (so a run on a bucket gets it too); what was written is
  recorded in ``RUN_DIR/tracking/<stream>.json``, so nothing is written twice;
- to **MLflow** when ``mlflow`` (or ``mlflow-skinny``) is installed and a
  tracking URI is set (``MLFLOW_TRACKING_URI``, or
  :func:`mlflow.set_tracking_uri`): one MLflow run per run directory (its id
  kept in ``RUN_DIR/tracking/mlflow.json``), in the experiment
  ``$MLFLOW_EXPERIMENT_NAME`` (default ``stdp-ray``), its parameters the
  run's configuration and seed.

With neither installed, or with ``STDP_RAY_TRACKING=0``, nothing is written.
Tracking never fails a command: an error is logged as a warning.

Tags (TensorBoard) and metric keys (MLflow):

================================  ========================================  ==================
tag                               value                                     step
================================  ========================================  ==================
``train/<statistic>``             mean over a block of :data:`TRAIN_EVERY`   training samples
                                  samples (``total_spikes``, ``intensity``,  seen
                                  ``w_mean``, ``theta_mean_mV``, ...;
                                  ``failed``: their count)
``test/accuracy`` (and            ``metrics.json``                          training samples
``n_failed``, ``mean_spikes``,                                              of the network
``mean_presentations``)
``curve/accuracy/labels=<n>``     a learning-curve point, labels from the   training samples
                                  first ``n`` training images               seen
================================  ========================================  ==================
"""

from __future__ import annotations

import io
import logging
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import atomic, reading, rundir
from .location import as_path

logger = logging.getLogger(__name__)

__all__ = ["TENSORBOARD_DIR", "TRACKING_DIR", "TRAIN_EVERY", "ENV_VAR", "Point",
           "tensorboard_available", "mlflow_enabled", "track_run", "track_sweep",
           "tracked_streams"]

#: Event files of a run (``RUN_DIR/tensorboard``) or a sweep (``SWEEP_ROOT/tensorboard``).
TENSORBOARD_DIR = "tensorboard"
#: What was written already, per stream (``tracking/<stream>.json``), and the MLflow run.
TRACKING_DIR = "tracking"
#: Training samples per point of the training statistics.
TRAIN_EVERY = 100
#: ``STDP_RAY_TRACKING=0`` (or ``off``, ``false``, ``no``) writes nothing.
ENV_VAR = "STDP_RAY_TRACKING"
#: The streams of a run directory, in the order :func:`track_run` writes them.
STREAMS = ("train", "test", "curve")
_MLFLOW_FILE = "mlflow.json"
#: Most metrics in one MLflow ``log_batch`` call (its limit).
_MLFLOW_BATCH = 1000


@dataclass(frozen=True)
class Point:
    """One scalar: ``tag`` at ``step`` (training samples seen)."""

    tag: str
    value: float
    step: int


def _disabled() -> bool:
    return os.environ.get(ENV_VAR, "").strip().lower() in ("0", "off", "false", "no")


def tensorboard_available() -> bool:
    """Whether TensorBoard event files can be written (the ``tensorboard`` package)."""
    try:
        from tensorboard.compat.proto import event_pb2  # noqa: F401
        from tensorboard.summary.writer.record_writer import RecordWriter  # noqa: F401
    except ImportError:
        return False
    return True


def mlflow_enabled() -> bool:
    """Whether MLflow is installed and a tracking URI is set (environment or API)."""
    try:
        import mlflow
    except ImportError:
        return False
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return True
    is_set = getattr(mlflow, "is_tracking_uri_set", None)
    return bool(is_set()) if is_set is not None else False


def tracked_streams() -> list[str]:
    """Where tracking writes now: ``"tensorboard"``, ``"mlflow"``, both or none."""
    if _disabled():
        return []
    return [name for name, on in (("tensorboard", tensorboard_available()),
                                  ("mlflow", mlflow_enabled())) if on]


# --------------------------------------------------------------------------
# What is new in a run directory
# --------------------------------------------------------------------------
def _state_path(directory: Path, stream: str) -> Path:
    return directory / TRACKING_DIR / f"{stream}.json"


def _read_state(directory: Path, stream: str) -> dict:
    path = _state_path(directory, stream)
    if not path.is_file():
        return {}
    try:
        return dict(reading.load_json(path))
    except (reading.ArtifactError, TypeError, ValueError):
        return {}


_TRAIN_MEANS = ("total_spikes", "intensity", "presentations", "w_mean", "w_std",
                "theta_mean_mV", "theta_std_mV", "seconds")


def _train_points(run_dir: Path, state: dict, final: bool) -> tuple[list[Point], dict]:
    """Means of the training statistics per block of TRAIN_EVERY samples not yet written.

    A block is written once complete (or, with ``final``, the last one as it is).
    """
    stats_dir = run_dir / rundir.STATS_DIR
    through = int(state.get("through", -1))
    if not stats_dir.is_dir():
        return [], state
    frame = rundir.read_parts(stats_dir, rundir.TRAIN_STATS_SCHEMA).to_pandas()
    frame = frame[frame["sample"] > through]
    if frame.empty:
        return [], state
    points = []
    groups = frame.sort_values("sample").groupby(frame["sample"] // TRAIN_EVERY, sort=True)
    last = through
    for block, rows in groups:
        end = int(rows["sample"].max())
        complete = end == (int(block) + 1) * TRAIN_EVERY - 1
        if not complete and not final:
            break
        step = end + 1
        points += [Point(f"train/{col}", float(rows[col].mean()), step) for col in _TRAIN_MEANS]
        points.append(Point("train/failed", float(rows["failed"].sum()), step))
        last = end
    return points, {**state, "through": last}


_TEST_FIELDS = ("accuracy", "n_failed", "mean_spikes", "mean_presentations")


def _test_points(run_dir: Path, state: dict) -> tuple[list[Point], dict]:
    """``metrics.json`` at the network's training samples, unless written already."""
    metrics = rundir.read_metrics(run_dir)
    if metrics is None or metrics.accuracy is None:
        return [], state
    key = f"{metrics.network}:{metrics.n_samples}:{metrics.observe_samples}"
    logged = list(state.get("logged", []))
    if key in logged:
        return [], state
    step = int(metrics.training_samples or 0)
    points = [Point(f"test/{name}", float(getattr(metrics, name)), step)
              for name in _TEST_FIELDS if isinstance(getattr(metrics, name), (int, float))]
    return points, {**state, "logged": logged + [key]}


def _curve_points(run_dir: Path, state: dict) -> tuple[list[Point], dict]:
    """Learning-curve rows not yet written, one tag per label set."""
    path = run_dir / rundir.CURVE_DIR / rundir.CURVE_FILE
    if not path.is_file():
        return [], state
    rows = rundir.read_table(path, rundir.CURVE_SCHEMA).to_pylist()
    logged = list(state.get("logged", []))
    done = set(logged)
    points = []
    for r in sorted(rows, key=lambda r: (r["samples_seen"], r["label_samples"])):
        key = f"{r['samples_seen']}:{r['label_samples']}:{r['test_samples']}:{r['network']}"
        if key in done:
            continue
        step, labels = int(r["samples_seen"]), int(r["label_samples"])
        points += [Point(f"curve/accuracy/labels={labels}", float(r["accuracy"]), step),
                   Point(f"curve/classes_covered/labels={labels}",
                         float(r["classes_covered"]), step)]
        logged.append(key)
        done.add(key)
    return points, {**state, "logged": logged}


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------
def _event_bytes(points: Sequence[Point], summaries: Iterable[Any] = ()) -> bytes:
    """A TensorBoard event file: its version record, ``summaries`` (at step 0), the points."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    buf = io.BytesIO()
    writer = RecordWriter(buf)
    now = time.time()
    writer.write(event_pb2.Event(wall_time=now, file_version="brain.Event:2")
                 .SerializeToString())
    for summary in summaries:
        writer.write(event_pb2.Event(wall_time=now, step=0, summary=summary)
                     .SerializeToString())
    by_step: dict[int, list[Point]] = {}
    for p in points:
        if math.isfinite(p.value):
            by_step.setdefault(int(p.step), []).append(p)
    for step in sorted(by_step):
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(
            tag=p.tag, simple_value=p.value) for p in by_step[step]])
        writer.write(event_pb2.Event(wall_time=now, step=step, summary=summary)
                     .SerializeToString())
    return buf.getvalue()


def _write_events(logdir: Path, stream: str, points: Sequence[Point],
                  summaries: Sequence[Any] = ()) -> Path:
    """A new event file in ``logdir`` (atomically; its name sorts after the earlier ones)."""
    last = max((p.step for p in points), default=0)
    name = (f"events.out.tfevents.{last:012d}.{time.time_ns()}.{stream}."
            f"{socket.gethostname()}.{os.getpid()}")
    return atomic.atomic_write_bytes(logdir / name, _event_bytes(points, summaries))


def _params(run_dir: Path) -> dict[str, Any]:
    """What a run's MLflow parameters are: its configuration's fields and its seed."""
    record = rundir.read_run_record(run_dir)
    return {**record.config.model_dict(), "backend": record.config.backend, "seed": record.seed}


def _mlflow_run(run_dir: Path):
    """The MLflow client and the id of this run directory's MLflow run (made at first use)."""
    import mlflow
    from mlflow.entities import Param

    client = mlflow.MlflowClient()
    uri = mlflow.get_tracking_uri()
    path = run_dir / TRACKING_DIR / _MLFLOW_FILE
    known = {}
    if path.is_file():
        try:
            known = dict(reading.load_json(path))
        except (reading.ArtifactError, TypeError, ValueError):
            known = {}
    run_id = known.get(str(uri))
    if run_id is not None:
        return client, run_id
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "stdp-ray"
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment is not None \
        else client.create_experiment(name)
    run = client.create_run(experiment_id, run_name=run_dir.name,
                            tags={"stdp_ray.run_dir": str(run_dir)})
    run_id = run.info.run_id
    params = [Param(str(k), str(v)[:500]) for k, v in _params(run_dir).items()]
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i:i + 100])
    atomic.atomic_write_json(path, {**known, str(uri): run_id})
    return client, run_id


def _log_mlflow(run_dir: Path, points: Sequence[Point]) -> None:
    from mlflow.entities import Metric

    client, run_id = _mlflow_run(run_dir)
    now = int(time.time() * 1000)
    metrics = [Metric(p.tag, p.value, now, int(p.step)) for p in points
               if math.isfinite(p.value)]
    for i in range(0, len(metrics), _MLFLOW_BATCH):
        client.log_batch(run_id, metrics=metrics[i:i + _MLFLOW_BATCH])


# --------------------------------------------------------------------------
# What the workflow calls
# --------------------------------------------------------------------------
def track_run(run_dir: str | os.PathLike, streams: Sequence[str] = STREAMS, *,
              final: bool = False) -> list[Point]:
    """Write what is new in a run directory to TensorBoard and MLflow (where enabled).

    Called by the driver after a training step (a checkpoint), after
    training, observe, test and a learning curve; reads only committed files.

    Parameters
    ----------
    run_dir : path
        A run directory (a Location on a bucket: the event files are pushed there).
    streams : sequence of {"train", "test", "curve"}
        What to look at.
    final : bool
        Training is over: its last, incomplete block of statistics is written too.

    Returns
    -------
    list of Point
        What was written (empty where tracking is off or nothing was new).
    """
    sinks = tracked_streams()
    if not sinks:
        return []
    run_dir = as_path(run_dir)
    written: list[Point] = []
    for stream in streams:
        if stream not in STREAMS:
            raise ValueError(f"stream == {stream!r}, must be one of {STREAMS}")
        try:
            written += _track_stream(run_dir, stream, sinks, final)
        except Exception as exc:  # tracking never fails a command
            logger.warning("%s: tracking %s failed: %s: %s", run_dir, stream,
                           type(exc).__name__, exc)
    return written


def _track_stream(run_dir: Path, stream: str, sinks: list[str], final: bool) -> list[Point]:
    state = _read_state(run_dir, stream)
    if stream == "train":
        points, new_state = _train_points(run_dir, state, final)
    elif stream == "test":
        points, new_state = _test_points(run_dir, state)
    else:
        points, new_state = _curve_points(run_dir, state)
    if not points:
        return []
    if "tensorboard" in sinks:
        _write_events(run_dir / TENSORBOARD_DIR, stream, points)
    if "mlflow" in sinks:
        _log_mlflow(run_dir, points)
    atomic.atomic_write_json(_state_path(run_dir, stream), new_state)
    logger.debug("%s: %d %s points tracked (%s)", run_dir, len(points), stream,
                 ", ".join(sinks))
    return points


def _hparam_value(value: Any) -> bool | float | str:
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return str(value)


def track_sweep(root: str | os.PathLike, summary, fields: Sequence[str]) -> int:
    """Write a sweep's trials for TensorBoard's HParams dashboard; returns how many were new.

    One TensorBoard run per point and seed (``SWEEP_ROOT/tensorboard/<point>/seed=<seed>``)
    holding its hyper-parameters (the swept fields and the seed) and its
    ``test/accuracy`` (and ``test/n_failed``), and the experiment (every field's
    values, the metrics) in ``SWEEP_ROOT/tensorboard``. MLflow gets each point
    through its run directory (:func:`track_run`).

    Parameters
    ----------
    root : path
        The sweep's root.
    summary : pandas.DataFrame
        ``sweep.parquet``'s rows (:func:`stdp_ray.sweeps.read_summary`).
    fields : sequence of str
        The swept fields.
    """
    if "tensorboard" not in tracked_streams():
        return 0
    try:
        return _track_sweep(as_path(root), summary, list(fields))
    except Exception as exc:  # tracking never fails a command
        logger.warning("%s: tracking the sweep failed: %s: %s", root, type(exc).__name__, exc)
        return 0


def _track_sweep(root: Path, summary, fields: list[str]) -> int:
    from tensorboard.plugins.hparams import summary_v2 as hp

    logdir = root / TENSORBOARD_DIR
    state = _read_state(root, "sweep")
    logged = list(state.get("logged", []))
    names = [*fields, "seed"]
    new = 0
    for row in summary.to_dict("records"):
        key = f"{row['run_dir']}:{row['training_samples']}:{row['n_samples']}:{row['accuracy']}"
        if key in logged:
            continue
        hparams = {name: _hparam_value(row[name]) for name in names}
        step = int(row["training_samples"])
        points = [Point("test/accuracy", float(row["accuracy"]), step),
                  Point("test/n_failed", float(row["n_failed"]), step)]
        session = hp.hparams_pb(hparams, trial_id=str(row["run_dir"]))
        _write_events(logdir.joinpath(*Path(str(row["run_dir"])).parts), "sweep", points,
                      [session])
        logged.append(key)
        new += 1
    if new:
        domains = {name: sorted({_hparam_value(v) for v in summary[name]}, key=str)
                   for name in names}
        config = hp.hparams_config_pb(
            hparams=[hp.HParam(name, hp.Discrete(values)) if all(
                isinstance(v, type(values[0])) for v in values) else hp.HParam(name)
                for name, values in domains.items()],
            metrics=[hp.Metric("test/accuracy", display_name="test accuracy"),
                     hp.Metric("test/n_failed", display_name="failed test samples")])
        _write_events(logdir, "sweep-experiment", [], [config])
        atomic.atomic_write_json(_state_path(root, "sweep"), {**state, "logged": logged})
    return new
