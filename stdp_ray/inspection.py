"""One network, one image, looked at closely: spikes of every layer and traces of chosen neurons.

Evaluation stores only spike counts. :func:`inspect_sample` simulates one image
with a run's frozen network the way ``observe`` and ``test`` do (same seed, input
stream, sample key and re-presentations at rising intensity, with the run's
engine), so its counts are the run's stored responses for that image; then it
replays the final presentation on Brian2's Cython runtime with monitors: the
spike times of the input, excitatory and inhibitory layers and the traces of
``v``, ``ge``, ``gi`` and ``theta`` of the chosen neurons (the most active by
default). The exact engines (native, standalone, runtime) are bit-identical, so
for them the replay has the same spikes as the counts, checked
(:attr:`Inspection.replay_matches`); the fast engine is float32 and may differ
by a few spikes, which the record states.

:func:`write_inspection` writes the record as Parquet tables (spikes, traces) and
``inspection.json``; :func:`stdp_ray.plots.inspection_figure` draws it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import engines, evaluation, model, rundir, scoring
from .atomic import atomic_write_json
from .errors import InputError
from .location import as_path
from .network import network_fingerprint

logger = logging.getLogger(__name__)

__all__ = ["Inspection", "InspectionError", "inspect_sample", "write_inspection",
           "inspection_tables", "PHASES", "DEFAULT_TOP", "MAX_TRACED", "SPIKES_SCHEMA",
           "TRACES_SCHEMA"]

#: Phases an image can be taken from: the test split, or the training split as
#: ``observe`` presents it (frozen network, observe's input stream). "train" is read as "observe".
PHASES = ("test", "observe")
#: Neurons traced when none are named: the most active in the final presentation.
DEFAULT_TOP = 5
#: Most neurons whose traces one inspection records (each trace is a float per time step).
MAX_TRACED = 64

#: ``spikes.parquet``: one row per spike of the final presentation.
SPIKES_SCHEMA = pa.schema([
    pa.field("layer", pa.string(), nullable=False),       # "input", "exc" or "inh"
    pa.field("neuron", pa.int32(), nullable=False),       # index in its layer
    pa.field("t_ms", pa.float64(), nullable=False),       # time from the presentation's start
])
#: ``traces.parquet``: one row per traced neuron and time step of the final presentation.
TRACES_SCHEMA = pa.schema([
    pa.field("neuron", pa.int32(), nullable=False),
    pa.field("t_ms", pa.float64(), nullable=False),
    pa.field("v_mV", pa.float64(), nullable=False),       # membrane potential
    pa.field("ge", pa.float64(), nullable=False),         # excitatory conductance (unitless)
    pa.field("gi", pa.float64(), nullable=False),         # inhibitory conductance (unitless)
    pa.field("theta_mV", pa.float64(), nullable=False),   # adaptive threshold (frozen)
])


class InspectionError(InputError):
    """An inspection asked for something the run does not have (exit status 2)."""


@dataclass(frozen=True)
class Inspection:
    """What one network did with one image.

    Attributes
    ----------
    run_dir : str
        The run directory, as given.
    phase : str
        "test" or "observe" (an image of the training split).
    image : int
        Index of the image in its split.
    label : int
        Its true class.
    pixels : ndarray, (784,) uint8
    network : str
        Fingerprint of the network simulated.
    training_samples : int or None
        Training samples that network had seen.
    backend : str
        The run's engine, which computed :attr:`counts`.
    present_ms : float
        Duration of a presentation (ms), the run's ``present_ms``; the rest follows it.
    v_thresh_exc_mV : float
        Threshold offset of the excitatory neurons (mV): a neuron fires at
        ``theta + v_thresh_exc_mV``.
    counts : ndarray, (n_neurons,) int
        Excitatory spikes of the final presentation: the run's response to this image.
    intensity : float
        Input intensity of the final presentation.
    presentations : int
        Presentations needed (1 = the first had enough spikes).
    failed : bool
        Still fewer than ``min_spikes`` spikes at the highest intensity.
    neurons : ndarray, (k,) int
        The traced excitatory neurons.
    spikes : dict
        ``{"input"|"exc"|"inh": (neuron indices, times in ms)}`` of the final presentation.
    t_ms : ndarray, (steps,)
        Time of each trace sample, from the presentation's start (ms).
    v_mV, ge, gi, theta_mV : ndarray, (k, steps)
        Traces of the traced neurons.
    replay_matches : bool
        Whether the replay's excitatory spike counts equal :attr:`counts`.
    assignments : ndarray or None, (n_neurons,)
        Class of each neuron (None before ``observe``).
    scores : ndarray or None, (10,)
        Class scores (mean spikes of each class's neurons); None without assignments.
    predicted : int or None
        The class voted for.
    """

    run_dir: str
    phase: str
    image: int
    label: int
    pixels: np.ndarray
    network: str
    training_samples: int | None
    backend: str
    present_ms: float
    v_thresh_exc_mV: float
    counts: np.ndarray
    intensity: float
    presentations: int
    failed: bool
    neurons: np.ndarray
    spikes: dict
    t_ms: np.ndarray
    v_mV: np.ndarray
    ge: np.ndarray
    gi: np.ndarray
    theta_mV: np.ndarray
    replay_matches: bool
    assignments: np.ndarray | None
    scores: np.ndarray | None
    predicted: int | None

    def summary(self) -> dict:
        """The record without its arrays, as ``inspection.json`` holds it."""
        return {"run_dir": self.run_dir, "phase": self.phase, "image": self.image,
                "label": self.label, "predicted": self.predicted, "network": self.network,
                "training_samples": self.training_samples, "backend": self.backend,
                "present_ms": self.present_ms, "v_thresh_exc_mV": self.v_thresh_exc_mV,
                "total_spikes": int(self.counts.sum()), "intensity": self.intensity,
                "presentations": self.presentations, "failed": self.failed,
                "neurons": self.neurons.tolist(),
                "neuron_classes": (self.assignments[self.neurons].tolist()
                                   if self.assignments is not None else None),
                "scores": self.scores.tolist() if self.scores is not None else None,
                "replay_matches": self.replay_matches,
                "spikes": {layer: int(len(i)) for layer, (i, _) in self.spikes.items()}}


def _phase(phase: str) -> str:
    phase = "observe" if phase == "train" else phase
    if phase not in PHASES:
        raise InspectionError(f"--phase == {phase!r}, must be one of test, observe (or train)")
    return phase


def _neurons(neurons, counts: np.ndarray, top: int) -> np.ndarray:
    n = len(counts)
    if neurons is None:
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
            raise InspectionError(f"--top == {top!r}, must be an integer >= 1")
        # most active first; ties by index, so the choice is reproducible
        order = np.lexsort((np.arange(n), -counts))
        return np.sort(order[:min(int(top), n, MAX_TRACED)]).astype(np.int64)
    chosen = np.asarray(list(neurons))
    if chosen.size == 0 or chosen.dtype.kind not in "iu":
        raise InspectionError(f"--neurons == {list(neurons)!r}, must name >= 1 neuron index")
    if chosen.min() < 0 or chosen.max() >= n:
        raise InspectionError(f"--neurons: {int(chosen.max() if chosen.max() >= n else chosen.min())}"
                              f" is not a neuron, must be in 0..{n - 1}")
    if len(np.unique(chosen)) > MAX_TRACED:
        raise InspectionError(f"--neurons names {len(np.unique(chosen))} neurons, must be "
                              f"<= {MAX_TRACED}")
    return np.unique(chosen).astype(np.int64)


def _replay(cfg, arrays, pixels: np.ndarray, *, seed: int, stream: int, sample: int,
            attempt: int, intensity: float, neurons: np.ndarray):
    """The final presentation on Brian2's runtime with monitors: (spikes, t, traces)."""
    from brian2 import Hz, Network, SpikeMonitor, StateMonitor, ms

    from .engines.brian import _activate_runtime, _build, _reset_quantity

    _activate_runtime()
    net, o = _build(cfg, "frozen", 1, arrays, slots=False)
    monitors = {"input": SpikeMonitor(o["inp"], name="inp_spikes"),
                "inh": SpikeMonitor(o["inh"], name="inh_spikes")}
    state = StateMonitor(o["exc"], ["v", "ge", "gi", "theta"], record=neurons.tolist(),
                         name="exc_state")
    net = Network(*net.objects, *monitors.values(), state)
    o["inp"].seed, o["inp"].stream = int(seed), int(stream)
    o["inp"].rate = model.input_rates(pixels, cfg, intensity) * Hz
    o["inp"].sample, o["inp"].attempt, o["inp"].start_step = int(sample), int(attempt), 0
    for layer in ("exc", "inh"):
        for name, (number, unit) in model.slot_reset_values(cfg, layer).items():
            setattr(o[layer], name, _reset_quantity(number, unit))
    net.t_ = 0.0
    net.run(cfg.frozen_slot_ms * ms, namespace={})
    # Copies, not views: a monitor's arrays are freed with the network when this returns.
    def copied(values, scale: float = 1.0) -> np.ndarray:
        return np.array(values, dtype=np.float64, copy=True) * scale

    spikes = {layer: (np.array(mon.i, dtype=np.int64, copy=True), copied(mon.t_, 1e3))
              for layer, mon in (("input", monitors["input"]), ("exc", o["mon"]),
                                 ("inh", monitors["inh"]))}
    traces = {"v_mV": copied(state.v_, 1e3), "ge": copied(state.ge_), "gi": copied(state.gi_),
              "theta_mV": copied(state.theta_, 1e3)}
    t_ms = copied(state.t_, 1e3)
    return spikes, t_ms, traces


def inspect_sample(run_dir: str | os.PathLike, image: int, *, phase: str = "test",
                   neurons=None, top: int = DEFAULT_TOP,
                   data_dir: str | os.PathLike | None = None) -> Inspection:
    """Simulate one image with a run's network; record every spike and chosen neurons' traces.

    Parameters
    ----------
    run_dir : path or URI
        A run directory with a trained network.
    image : int
        Index of the image in its split (0..9,999 for test, 0..59,999 for observe).
    phase : {"test", "observe", "train"}
        The split: "observe" (or "train") takes a training image and presents it as
        ``observe`` does.
    neurons : sequence of int, optional
        Excitatory neurons to trace (at most :data:`MAX_TRACED`); default: the
        ``top`` most active in the final presentation.
    top : int
        How many to trace by default.
    data_dir : path, optional
        The directory of the run's data set (default: its default directory,
        for MNIST ``$STDP_RAY_DATA``; see :func:`stdp_ray.data.default_data_dir`).

    Returns
    -------
    Inspection
    """
    from .options import RunOptions
    from .workflow import _load, load_split, resolve_data  # one reader of a run

    phase = _phase(phase)
    run = as_path(run_dir)
    rc, network = _load(run, None)
    cfg, arrays = rc.config, network.arrays
    # The run's data set, from data_dir or its default directory.
    options = resolve_data(run, RunOptions(data_dir=data_dir))
    images, labels = load_split(options, "test" if phase == "test" else "train")
    if isinstance(image, bool) or not isinstance(image, (int, np.integer)) \
            or not 0 <= image < len(images):
        raise InspectionError(f"--image == {image!r}, must be in 0..{len(images) - 1} (the "
                              f"{'test' if phase == 'test' else 'training'} images)")
    image = int(image)
    pixels = images[image]
    sim = engines.make_frozen_simulator(cfg, arrays, 1)
    res = evaluation.simulate_samples(sim, cfg, pixels[None, :], np.array([image]),
                                      seed=rc.seed, stream=model.STREAMS[phase], n_slots=1)
    counts = res.counts[0].astype(np.int64)
    chosen = _neurons(neurons, counts, top)
    presentations = int(res.presentations[0])
    spikes, t_ms, traces = _replay(cfg, arrays, pixels, seed=rc.seed,
                                   stream=model.STREAMS[phase], sample=image,
                                   attempt=presentations - 1,
                                   intensity=float(res.intensities[0]), neurons=chosen)
    window = evaluation_counts(*spikes["exc"], cfg)
    matches = bool(np.array_equal(window, counts))
    if not matches:
        logger.warning("%s: the replay on Brian2's runtime has %d excitatory spikes where the "
                       "%s engine had %d (the fast engine is float32: a few may differ)",
                       run, int(window.sum()), cfg.backend, int(counts.sum()))
    assignments = network.assignments
    scores = predicted = None
    if assignments is not None:
        scores = scoring.class_scores(counts[None, :], assignments)[0]
        predicted = int(scoring.predict(scores[None, :])[0])
    prov = network.provenance or {}
    return Inspection(
        run_dir=str(run_dir), phase=phase, image=image, label=int(labels[image]),
        pixels=np.asarray(pixels, dtype=np.uint8), network=network_fingerprint(arrays),
        training_samples=prov.get("training_samples"), backend=cfg.backend,
        present_ms=float(cfg.present_ms), v_thresh_exc_mV=float(cfg.v_thresh_exc_mV), counts=counts,
        intensity=float(res.intensities[0]), presentations=presentations,
        failed=bool(res.failed[0]), neurons=chosen, spikes=spikes, t_ms=t_ms, **traces,
        replay_matches=matches, assignments=assignments, scores=scores, predicted=predicted)


def evaluation_counts(indices: np.ndarray, times_ms: np.ndarray, cfg) -> np.ndarray:
    """Excitatory spike counts as evaluation counts them (:func:`stdp_ray.engines.count_slot_spikes`)."""
    from .engines.base import count_slot_spikes

    return count_slot_spikes(np.asarray(indices), np.asarray(times_ms) / 1e3, cfg, 1)[0]


def inspection_tables(record: Inspection) -> tuple[pa.Table, pa.Table]:
    """The record's spikes and traces as :data:`SPIKES_SCHEMA` and :data:`TRACES_SCHEMA` tables."""
    layers, ids, times = [], [], []
    for layer, (i, t) in record.spikes.items():
        layers += [layer] * len(i)
        ids.append(np.asarray(i, dtype=np.int32))
        times.append(np.asarray(t, dtype=np.float64))
    spikes = pa.Table.from_arrays([pa.array(layers, pa.string()),
                                   pa.array(np.concatenate(ids) if ids else [], pa.int32()),
                                   pa.array(np.concatenate(times) if times else [], pa.float64())],
                                  schema=SPIKES_SCHEMA)
    k, steps = record.v_mV.shape
    traces = pa.Table.from_arrays(
        [pa.array(np.repeat(record.neurons, steps).astype(np.int32)),
         pa.array(np.tile(record.t_ms, k)),
         *(pa.array(getattr(record, name).reshape(-1)) for name in
           ("v_mV", "ge", "gi", "theta_mV"))], schema=TRACES_SCHEMA)
    return spikes, traces


def write_inspection(record: Inspection, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``spikes.parquet``, ``traces.parquet`` and ``inspection.json`` into ``out_dir``."""
    out = as_path(out_dir)
    spikes, traces = inspection_tables(record)
    written = [rundir.write_table(out / "spikes.parquet", spikes),
               rundir.write_table(out / "traces.parquet", traces)]
    written.append(atomic_write_json(out / "inspection.json", record.summary()))
    return [Path(p) for p in written]


def default_out_dir(run_dir: str | os.PathLike, phase: str, image: int) -> Path:
    """``RUN_DIR/inspect/<phase>-<image>``: where ``stdp-ray inspect`` writes by default."""
    return as_path(run_dir) / "inspect" / f"{_phase(phase)}-{int(image):05d}"

