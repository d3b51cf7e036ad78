"""Observe and test: frozen-network responses, sharded into chunks of samples.

The maths of a chunk (:func:`simulate_samples`, :func:`evaluate_chunk`) is plain
Python that the tests call without Ray. :func:`run_phase` is the driver: it
puts the network into Ray's object store once, streams chunks to workers with
``ray.wait`` and writes each returned table as one Parquet part, named by its
chunk, so a rerun skips what is already written and a retried task is written
once. A part is skipped, and read, only once it passed its check against its
chunk (:mod:`stdp_ray.rundir.phases`). The phase's manifest is written just
before its first part: a call that fails before (Ray cannot start) leaves
nothing behind, and a manifest without parts binds no later call.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import engines, model, placement, rundir, scaling, scoring
from .config import Config
from .connect import ensure_ray
from .data import samples_fingerprint
from .engines import PassInputs
from .errors import InputError, from_ray
from .faults import crash_point
from .leases import check_renewals
from .location import as_path, location_mirror
from .network import FrozenNetwork, network_fingerprint
from .options import RunOptions
from .rundir import PhaseManifest

logger = logging.getLogger(__name__)

__all__ = ["SampleResponses", "simulate_samples", "evaluate_chunk", "chunk_bounds",
           "run_phase", "phase_chunk_size", "PhaseError", "responses",
           "assignment_from_responses", "predictions_from_responses", "WAIT_SLICE_S"]

#: Seconds between the driver's looks at its leases while it waits for the tasks.
WAIT_SLICE_S = 1.0



class PhaseError(InputError):
    """A phase cannot run in this run directory as asked (incompatible parts...)."""


@dataclass
class SampleResponses:
    """Responses of a set of samples (arrays aligned with ``sample_ids``)."""

    sample_ids: np.ndarray
    counts: np.ndarray          # (n, n_neurons) int32, final presentation
    intensities: np.ndarray     # (n,) float, intensity of the final presentation
    presentations: np.ndarray   # (n,) int, presentations needed
    failed: np.ndarray          # (n,) bool, still < min_spikes at max intensity


def simulate_samples(sim, cfg: Config, images: np.ndarray, sample_ids: np.ndarray, *,
                     seed: int, stream: int, n_slots: int) -> SampleResponses:
    """Present samples to a frozen network, repeating quiet ones at intensity + 1.

    Every sample starts at ``cfg.intensity`` (attempt 0). After each pass, the
    samples with fewer than ``cfg.min_spikes`` response spikes go again at
    intensity + 1 with the next attempt number (so a new input draw), as the
    immediate re-presentation of the original script (Diehl & Cook's code); a
    sample still quiet at
    ``cfg.max_intensity`` is marked failed and keeps its last response.

    Parameters
    ----------
    sim : object with ``run_pass(PassInputs) -> counts``
        A frozen simulator from :func:`stdp_ray.engines.make_frozen_simulator`.
    cfg : Config
    images : ndarray, (n, 784) uint8
    sample_ids : ndarray, (n,) int
        Index of each sample in its split (keys its input stream).
    seed, stream : int
        The run's seed and the phase's stream id.
    n_slots : int
        Samples per simulator pass.
    """
    n = len(sample_ids)
    counts = np.zeros((n, cfg.n_neurons), dtype=np.int32)
    intensities = np.full(n, cfg.intensity, dtype=float)
    presentations = np.zeros(n, dtype=np.int64)
    failed = np.zeros(n, dtype=bool)
    pending = np.arange(n)
    attempt = 0
    while pending.size:
        for start in range(0, pending.size, n_slots):
            idx = pending[start:start + n_slots]
            counts[idx] = sim.run_pass(PassInputs(
                images=images[idx], sample_ids=np.asarray(sample_ids)[idx],
                intensities=intensities[idx], attempts=np.full(idx.size, attempt),
                seed=seed, stream=stream))
        presentations[pending] += 1
        quiet = pending[counts[pending].sum(axis=1) < cfg.min_spikes]
        at_max = intensities[quiet] + 1 > cfg.max_intensity
        failed[quiet[at_max]] = True
        pending = quiet[~at_max]
        intensities[pending] += 1
        attempt += 1
    return SampleResponses(np.asarray(sample_ids), counts, intensities, presentations, failed)


# A worker process keeps its simulator (and compiled standalone build) across chunks.
_SIMULATORS: dict[tuple, object] = {}


def _simulator(cfg: Config, arrays: FrozenNetwork, fingerprint: str, n_slots: int):
    key = (cfg, fingerprint, n_slots)
    sim = _SIMULATORS.get(key)
    if sim is None:
        _SIMULATORS.clear()  # one network per process at a time (Brian2's device is global)
        sim = engines.make_frozen_simulator(cfg, arrays, n_slots)
        _SIMULATORS[key] = sim
    return sim


def evaluate_chunk(cfg: Config, arrays: FrozenNetwork, images: np.ndarray, labels: np.ndarray,
                   sample_ids: np.ndarray, *, seed: int, phase: str, chunk: int,
                   fingerprint: str | None = None, n_slots: int | None = None) -> pa.Table:
    """Simulate one chunk of samples; returns its table of responses.

    Returns
    -------
    pyarrow.Table
        :data:`stdp_ray.rundir.RESPONSES_SCHEMA`, one row per sample.
    """
    if phase not in ("observe", "test"):
        raise ValueError(f"phase == {phase!r}, must be 'observe' or 'test'")
    fingerprint = fingerprint or network_fingerprint(arrays)
    n_slots = int(n_slots or len(sample_ids))
    sim = _simulator(cfg, arrays, fingerprint, n_slots)
    res = simulate_samples(sim, cfg, images, sample_ids, seed=seed,
                           stream=model.STREAMS[phase], n_slots=n_slots)
    return rundir.responses_table(res.sample_ids, labels, res.counts, res.intensities,
                                  res.presentations, res.failed, chunk)


def chunk_bounds(n_samples: int, chunk_size: int) -> list[tuple[int, int]]:
    """Half-open ``[start, stop)`` positions of each chunk, fixed by ``chunk_size`` alone."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size == {chunk_size}, must be >= 1")
    return [(s, min(s + chunk_size, n_samples)) for s in range(0, n_samples, chunk_size)]


def _remote_evaluate():
    """The Ray task: a thin shell over :func:`evaluate_chunk` (created lazily)."""
    import ray

    # Where each chunk runs is chosen by the caller (stdp_ray.placement: dealt
    # round robin over the nodes' CPU slots, soft node affinity).
    @ray.remote(num_cpus=1, max_retries=3)
    def evaluate_chunk_task(cfg, arrays, images, labels, sample_ids, seed, phase, chunk,
                            fingerprint, n_slots):
        crash_point("chunk", chunk)
        table = evaluate_chunk(cfg, arrays, images, labels, sample_ids, seed=seed, phase=phase,
                               chunk=chunk, fingerprint=fingerprint, n_slots=n_slots)
        return table, {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}

    return evaluate_chunk_task


def _check_manifest(phase_dir: Path, manifest: PhaseManifest) -> bool:
    """Check the phase's stored manifest against ``manifest``; True if it must be written.

    A stored manifest binds only while parts exist: one without parts (left
    by a call that failed before its first part) is replaced by ``manifest``
    with the first part. Parts without a manifest are refused.
    """
    old = rundir.read_manifest(phase_dir)
    parts = rundir.part_paths(phase_dir)
    if old is not None and not parts:
        if old != manifest:
            logger.info("%s: no part computed yet, so its manifest (%s) is replaced",
                        phase_dir, rundir.stored_manifest_path(phase_dir))
        return True
    if old is not None:
        stored = rundir.stored_manifest_path(phase_dir)
        if old.data is None:
            # An older layout's manifest (stdp_ray.rundir.legacy): no fingerprint of the samples.
            logger.warning("%s: records no fingerprint of the samples; assuming the parts were "
                           "computed from these samples and recording theirs", stored)
            old = dataclasses.replace(old, data=manifest.data)
            if old == manifest:
                stored = rundir.write_manifest(phase_dir, manifest)
        diff = old.diff(manifest)
        if diff:
            raise PhaseError(
                f"{phase_dir}: existing parts were computed with other settings "
                f"(stored vs now: {diff}); use a new run directory or --overwrite")
        if stored != rundir.manifest_path(phase_dir):
            # A manifest at an older layout's place (stdp_ray.rundir.legacy): moved beside the folder.
            rundir.write_manifest(phase_dir, old)
            logger.info("%s: moved to %s", stored, rundir.manifest_path(phase_dir))
        return False
    if parts:
        raise PhaseError(f"{phase_dir}: holds response parts but no manifest "
                         f"({rundir.manifest_path(phase_dir)}), so what they were computed "
                         "from is unknown; use --overwrite")
    return True


def run_phase(phase_dir: str | os.PathLike, cfg: Config, arrays: FrozenNetwork,
              images: np.ndarray, labels: np.ndarray, sample_ids: np.ndarray, *, seed: int,
              phase: str, options: RunOptions = RunOptions()) -> dict:
    """Simulate all samples over Ray workers, one Parquet part per chunk.

    Parameters
    ----------
    phase_dir : path
        ``RUN_DIR/responses/phase=<phase>``.
    images, labels : ndarray
        The samples to present (already selected), aligned with ``sample_ids``.
    sample_ids : ndarray
        Their indices in their split: consecutive (``first, first + 1, ...``).
    options : RunOptions
        ``chunk_size`` (samples per task and part; None: the size the phase's
        manifest records, else :func:`phase_chunk_size`'s default),
        ``workers`` (most chunks in flight at once; default: the cluster's
        CPUs), ``progress``.

    Returns
    -------
    dict
        ``chunks``, ``chunk_size``, ``computed``, ``skipped``, ``seconds``,
        ``driver_seconds`` (the driver's own work on finished chunks: taking
        each result, writing its part, submitting the next), ``placement``
        (chunk -> node).
    """
    import ray

    from .progress import progress as progress_bar

    phase_dir = as_path(phase_dir)
    sample_ids = np.asarray(sample_ids)
    if sample_ids.size and not np.array_equal(sample_ids,
                                              sample_ids[0] + np.arange(sample_ids.size)):
        raise ValueError("sample_ids must be consecutive (the manifest records the first "
                         "and the count)")
    workers = options.workers
    chunk_size = phase_chunk_size(phase_dir, cfg, len(sample_ids), options)
    fingerprint = network_fingerprint(arrays)
    bounds = chunk_bounds(len(sample_ids), chunk_size)
    manifest = PhaseManifest(phase=phase, seed=int(seed), chunk_size=int(chunk_size),
                             n_samples=int(len(sample_ids)),
                             first_sample=int(sample_ids[0]) if len(sample_ids) else 0,
                             network=fingerprint, model=cfg.model_hash(),
                             data=samples_fingerprint(images, labels),
                             arithmetic=engines.arithmetic(cfg.backend))
    unwritten = _check_manifest(phase_dir, manifest)
    # Every part there is checked against its chunk before its chunk is skipped.
    written = rundir.checked_chunks(phase_dir, manifest, labels=labels)
    todo = [c for c in range(len(bounds)) if c not in written]
    skipped = len(bounds) - len(todo)
    if skipped:
        logger.info("%s: %d of %d chunks already written, skipping them", phase, skipped,
                    len(bounds))
    t0 = time.perf_counter()
    driver = 0.0
    ran_on: dict[int, dict] = {}
    if todo:
        ensure_ray()
        # Chunks dealt round robin over the nodes' CPU slots (stdp_ray.placement).
        queues = placement.ChunkQueues(todo, placement.cpu_nodes(), limit=workers)
        task = _remote_evaluate()
        arrays_ref = ray.put(arrays)
        pending: dict = {}
        with progress_bar(sum(bounds[c][1] - bounds[c][0] for c in todo), phase,
                          enabled=options.progress) as bar:
            def refill() -> None:
                for c, node in queues.next_ready():
                    s, e = bounds[c]
                    ref = task.options(scheduling_strategy=placement.affinity(node)).remote(
                        cfg, arrays_ref, images[s:e], labels[s:e], sample_ids[s:e], int(seed),
                        phase, c, fingerprint, chunk_size)
                    pending[ref] = (c, node)

            refill()
            while pending:
                # In slices: a stalled store seen by the lease's renewal fails the command.
                done, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SLICE_S)
                check_renewals()
                if not done:   # a slice without a finished chunk is no driver work
                    continue
                t_done = time.perf_counter()
                finished = [(ref, *pending.pop(ref)) for ref in done]
                for _, _, node in finished:
                    queues.finished(node)
                refill()  # before writing: no worker waits on the driver's writes
                for ref, c, node in finished:
                    try:
                        table, where = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        raise from_ray(exc) from exc
                    if where["node"] != node and node in queues.nodes:
                        moved = queues.node_left(node)
                        logger.warning("%s: chunk %d meant for node %s ran on %s: that node "
                                       "is gone; its %d queued chunks go to the others",
                                       phase, c, node[:12], where["node"][:12], len(moved))
                        refill()
                    if unwritten:  # the first part: its manifest goes first
                        rundir.write_manifest(phase_dir, manifest)
                        unwritten = False
                    rundir.write_table(phase_dir / rundir.part_name(c), table,
                                       identity=rundir.part_identity(manifest, c))
                    ran_on[c] = where
                    bar.update(table.num_rows)
                driver += time.perf_counter() - t_done
    seconds = time.perf_counter() - t0
    return {"chunks": len(bounds), "chunk_size": int(chunk_size), "computed": len(todo),
            "skipped": skipped, "seconds": seconds, "driver_seconds": driver,
            "placement": ran_on}


def phase_chunk_size(phase_dir: str | os.PathLike, cfg: Config, n_samples: int,
                     options: RunOptions) -> int:
    """The chunk size a phase runs with: asked, else the one it started with, else the model's.

    ``options.chunk_size`` when given. Otherwise the size the phase's manifest
    records, so that a phase resumes with the chunks it started with whatever
    the cluster is now; otherwise :func:`stdp_ray.scaling.default_chunk_size`
    for the network's size, its engine, the samples and the workers
    (``options.workers``, else the cluster's CPUs: Ray is started or joined
    then), for a run directory on disk or in a bucket.
    """
    if options.chunk_size is not None:
        return int(options.chunk_size)
    stored = rundir.read_manifest(phase_dir)
    if stored is not None and stored.chunk_size:
        return int(stored.chunk_size)
    if n_samples < 1:
        return 1  # nothing to run: no chunk, no part, no manifest
    workers = options.workers
    if workers is None:
        import ray

        ensure_ray()
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    store = "bucket" if location_mirror(phase_dir) is not None else "local"
    return scaling.default_chunk_size(cfg.n_neurons, cfg.backend, n_samples, workers,
                                      store=store)


def responses(phase_dir: str | os.PathLike, *,
              recompute: str = "rerun with --overwrite to recompute it") -> pa.Table:
    """All parts of a phase, each checked against its chunk, sorted by sample.

    Raises
    ------
    PartError
        If a part fails its check or a chunk has no part
        (:func:`stdp_ray.rundir.read_phase`).
    PhaseError
        One line naming a part that is not a readable responses table, ending
        with ``recompute`` (what recomputes it).
    """
    from .rundir.phases import PartError

    try:
        return rundir.read_phase(phase_dir, complete=True)
    except PartError:
        raise
    except ValueError as exc:  # pyarrow's ArrowInvalid, a schema that differs
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PhaseError(f"{phase_dir}: a response part is damaged ({first}); "
                         f"{recompute}") from exc


def assignment_from_responses(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Label assignment from an observe-phase responses table."""
    counts = rundir.counts_matrix(table)
    labels = table.column("label").to_numpy()
    return scoring.assign_labels(counts, labels)


def predictions_from_responses(table: pa.Table, assignments: np.ndarray) -> pa.Table:
    """The :data:`~stdp_ray.rundir.PREDICTIONS_SCHEMA` table of a test-phase responses table."""
    counts = rundir.counts_matrix(table)
    labels = table.column("label").to_numpy().astype(np.int64)
    scores = scoring.class_scores(counts, assignments)
    predicted = scoring.predict(scores)
    return rundir.predictions_table(table.column("sample").to_numpy(), labels, predicted, scores)

