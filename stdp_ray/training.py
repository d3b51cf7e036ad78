"""Training: the original script's sequence, resumable from checkpoints, as one Ray actor.

:class:`Trainer` is plain Python (the tests drive it without Ray). Training
step ``k`` shows training image ``k mod n_images``: the input weights of each
excitatory neuron are rescaled to sum to 78, the image is shown for 350 ms then
150 ms of silence, and while it draws fewer than 5 response spikes it is shown
again at intensity + 1 (up to ``max_intensity``), the network's state carrying
on throughout, as in the original script (Diehl & Cook's code).

A checkpoint holds everything needed to continue exactly: weights, theta,
delays, the simulator's dynamic state (potentials, conductances, STDP traces,
network time) and the number of samples done; the input spikes of step ``k``
depend only on (seed, k, attempt). A call means "train until sample N", so a
retried call never trains a sample twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import atomic, engines, model, provenance, rundir
from .artifact import NETWORK_ARRAYS, NETWORK_JSON, network_shapes, save_network, validate_arrays
from .atomic import atomic_directory, atomic_save_npz
from .config import Config, config_to_dict
from .connect import ensure_ray
from .errors import InputError
from .leases import LeaseLostError
from .location import (Location, as_location, as_path, clear_signal, location_mirror,
                       put_signal, refresh, signal_present, sweep_incomplete, worker_location)
from .locks import check_lease
from .network import FrozenNetwork
from .reading import ArtifactError, load_npz, sha256_of
from .rundir import CheckpointState
from .faults import crash_point, pause_point
from .options import DEFAULT_CHECKPOINT_EVERY
from .uris import is_remote

logger = logging.getLogger(__name__)

__all__ = ["initial_network", "Trainer", "train_run", "train_many",
           "DEFAULT_CHECKPOINT_EVERY", "Checkpoint", "read_checkpoint", "check_resumable",
           "TrainingError", "TrainingInterrupted", "newest_usable_checkpoint"]

KEEP_CHECKPOINTS = 2


def initial_network(cfg: Config, seed: int) -> FrozenNetwork:
    """Initial weights, theta and delays of a network drawn from ``seed``."""
    w_rng, d_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    return FrozenNetwork(weights=model.initial_weights(cfg, w_rng),
                         theta_mV=np.full(cfg.n_neurons, cfg.theta_init_mV),
                         delays_ms=model.initial_delays(cfg, d_rng))


class TrainingError(InputError):
    """Training cannot go on as asked (checkpoints of another run, fewer samples...)."""


class ForeignCheckpointError(ArtifactError):
    """A checkpoint intact but of another run (seed or model configuration)."""


@dataclass(frozen=True)
class Checkpoint:
    """A training checkpoint read back: enough to continue exactly.

    Attributes
    ----------
    path : Path
        Its directory.
    samples_done : int
        Training samples done when it was taken.
    arrays : FrozenNetwork
        Weights, theta (mV) and delays (ms), checked against the configuration.
    dynamic : dict of str to ndarray or None
        The simulator's dynamic state (potentials, conductances, traces,
        network time); None where only the checkpoint's validity was asked.
    """

    path: Path
    samples_done: int
    arrays: FrozenNetwork
    dynamic: dict | None


def read_checkpoint(ckpt: str | os.PathLike, cfg: Config, seed: int, *,
                    dynamic: bool = True) -> Checkpoint:
    """Read a checkpoint and check that this run (``cfg``, ``seed``) can continue from it.

    The one check of a checkpoint, made by the driver before it starts
    training (:func:`check_resumable`) and by the trainer that resumes.

    Parameters
    ----------
    ckpt : path
        A checkpoint directory (see :func:`stdp_ray.rundir.latest_checkpoint`).
    cfg : Config
    seed : int
    dynamic : bool
        Also read the simulator's dynamic state.

    Raises
    ------
    ArtifactError
        If it belongs to another seed or model configuration, or a file is
        missing or malformed.
    """
    ckpt = Path(ckpt)
    info = rundir.read_checkpoint_state(ckpt)
    if info.seed != seed:
        raise ForeignCheckpointError(f"{ckpt}: checkpoint of seed {info.seed}, this run has seed {seed}")
    if info.model != cfg.model_hash():
        raise ForeignCheckpointError(f"{ckpt}: checkpoint of another model configuration "
                            f"({info.model} != {cfg.model_hash()})")
    for name, expected in (info.checksums or {}).items():
        if name not in CHECKPOINT_FILES:
            raise ArtifactError(f"{ckpt / rundir.CHECKPOINT_STATE}: checksum of unknown file "
                                f"{name!r}")
        found = sha256_of(ckpt / name)
        if found != expected:
            raise ArtifactError(f"{ckpt / name}: damaged (sha256 {found[:12]}..., "
                                f"{rundir.CHECKPOINT_STATE} records {expected[:12]}...)")
    path = ckpt / rundir.CHECKPOINT_ARRAYS
    raw = load_npz(path, NETWORK_ARRAYS, shapes=network_shapes(cfg))
    arrays = validate_arrays(FrozenNetwork(raw["weights"], raw["theta_mV"], raw["delays_ms"]),
                             cfg, str(path))
    # The simulator's state: neuron and synapse variables, none larger than the weights.
    state = load_npz(ckpt / rundir.CHECKPOINT_DYNAMIC, kinds="fiub",
                     max_elements=cfg.n_input * cfg.n_neurons) if dynamic else None
    return Checkpoint(ckpt, info.samples_done, arrays, state)


#: The files of a checkpoint whose SHA-256 its state.json records.
CHECKPOINT_FILES = (rundir.CHECKPOINT_ARRAYS, rundir.CHECKPOINT_DYNAMIC)


def newest_usable_checkpoint(train_dir: str | os.PathLike, cfg: Config, seed: int, *,
                             dynamic: bool = True) -> Checkpoint | None:
    """The newest checkpoint of ``train_dir`` that reads back intact, or None without one.

    A damaged checkpoint (a checksum that does not match, a malformed file) is
    reported in one warning line and the previous one kept is used; a
    checkpoint of another run (:class:`ForeignCheckpointError`) is never skipped.

    Raises
    ------
    ArtifactError
        If checkpoints exist but none is intact (the newest one's error).
    ForeignCheckpointError
        If the newest checkpoint belongs to another seed or configuration.
    """
    found = rundir.checkpoint_dirs(rundir.checkpoints_dir(train_dir))
    first_error = None
    for ckpt in reversed(found):
        try:
            return read_checkpoint(ckpt, cfg, seed, dynamic=dynamic)
        except ForeignCheckpointError:
            raise
        except ArtifactError as exc:
            first_error = first_error or exc
            logger.warning("checkpoint %s is damaged (%s); using the previous one", ckpt.name,
                           exc)
    if first_error is not None:
        raise first_error
    return None


def check_resumable(train_dir: str | os.PathLike, cfg: Config, seed: int, samples: int) -> int:
    """Check, in the driver, that ``train_dir``'s newest checkpoint can be continued to
    ``samples``; returns the samples it holds (0 without one).

    ``train_dir`` is ``RUN_DIR/train`` (:data:`stdp_ray.rundir.TRAIN_DIR`).
    """
    ckpt = newest_usable_checkpoint(train_dir, cfg, seed, dynamic=False)
    if ckpt is None:
        return 0
    done = ckpt.samples_done
    if done > samples:
        raise TrainingError(f"--samples == {samples}, but {Path(train_dir).parent} has already "
                            f"trained {done} samples; use a new run directory for fewer")
    return done


class Trainer:
    """A training network with its checkpoints and statistics in ``train_dir``.

    Parameters
    ----------
    cfg : Config
    seed : int
        Seeds the initial weights and delays and every input spike train.
    train_dir : path
        ``RUN_DIR/train`` (:data:`stdp_ray.rundir.TRAIN_DIR`): its checkpoints
        and statistics live below it. A :class:`~stdp_ray.location.Location`
        on object storage has every write pushed to its store.
    images, labels : ndarray
        The training set, (n, 784) uint8 and (n,).
    checkpoint_every : int
        Samples between checkpoints.
    threads : int
        Threads of the simulation (native engine); results do not depend on it.
    snapshot_every : int or None
        Keep the network after every multiple of this many samples as a
        snapshot (``train/snapshots``, never pruned), for learning curves;
        None keeps none. Snapshots do not change training.
    lease : tuple of (path, str), optional
        ``(directory, owner)``: before each write the trainer checks that
        ``directory``'s lock is still held by ``owner`` (its driver; see
        :func:`stdp_ray.locks.check_lease`) and stops with LeaseLostError if
        not, so that a trainer outliving its driver writes nothing.
    node : str, optional
        Where it runs (a Ray node id): recorded with each statistics part
        (``stdp_ray.node`` in its metadata) and checkpoint (``node`` in its
        ``state.json``), so that a run says which node trained which samples.
    """

    def __init__(self, cfg: Config, seed: int, train_dir: str | os.PathLike, images: np.ndarray,
                 labels: np.ndarray, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
                 threads: int = 1, snapshot_every: int | None = None,
                 lease: tuple[str | os.PathLike, str] | None = None, node: str | None = None):
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every == {checkpoint_every}, must be >= 1")
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError(f"snapshot_every == {snapshot_every}, must be >= 1")
        self.snapshot_every = snapshot_every
        provenance.git_commit()  # the commit of the code this process runs, for the provenance
        if threads < 1:
            raise ValueError(f"threads == {threads}, must be >= 1")
        self.cfg, self.seed = cfg, int(seed)
        self.train_dir = as_path(train_dir)
        self.ckpt_dir = rundir.checkpoints_dir(self.train_dir)
        self.stats_dir = rundir.stats_dir(self.train_dir)
        self.images, self.labels = images, labels
        self.checkpoint_every = int(checkpoint_every)
        self._rows: list[dict] = []
        self.lease = lease
        self.node = node
        self.stop_requested = threading.Event()
        found = newest_usable_checkpoint(self.train_dir, cfg, self.seed)
        if found is None:
            arrays, dynamic, self.samples_done = initial_network(cfg, self.seed), None, 0
        else:
            arrays, dynamic, self.samples_done = found.arrays, found.dynamic, found.samples_done
            logger.info("resuming training from %s (%d samples done)", found.path,
                        self.samples_done)
            self._drop_damaged_after(found.path)
        self._drop_stats_after(self.samples_done)
        self.delays_ms = arrays.delays_ms
        self.sim = engines.make_trainer(cfg, arrays, threads=threads)
        if dynamic is not None:
            self.sim.set_dynamic_state(dynamic)

    # -- checkpoints ----------------------------------------------------------
    def _drop_stats_after(self, samples_done: int) -> None:
        """Remove stats parts written after the checkpoint we resume from."""
        for p in rundir.part_paths(self.stats_dir):
            index = rundir.part_index(p)
            if index is not None and index >= samples_done:
                atomic.remove_path(p)

    def _drop_damaged_after(self, used: Path) -> None:
        """Remove the checkpoints newer than ``used`` (damaged ones, skipped when resuming)."""
        dirs = rundir.checkpoint_dirs(self.ckpt_dir, complete=False)
        for newer in dirs[dirs.index(used) + 1:] if used in dirs else []:
            self._check_lease()
            atomic.remove_path(newer)

    def _check_lease(self) -> None:
        if self.lease is not None:
            check_lease(*self.lease)

    def checkpoint(self) -> Path:
        """Write the statistics since the last checkpoint, then a new checkpoint.

        The SHA-256 of its arrays are recorded in its ``state.json``
        (written last), so that a damaged checkpoint is recognised.
        """
        self._check_lease()
        if self._rows:
            first = self._rows[0]["sample"]
            identity = {"seed": int(self.seed), "config": self.cfg.model_hash()}
            if self.node is not None:
                identity["node"] = self.node
            rundir.write_table(self.stats_dir / rundir.part_name(first),
                               rundir.train_stats_table(self._rows), identity=identity)
            self._rows = []
        final = self.ckpt_dir / rundir.checkpoint_name(self.samples_done)
        if final.exists():
            return final
        with atomic_directory(final) as tmp:
            net = self.network()
            atomic_save_npz(tmp / rundir.CHECKPOINT_ARRAYS, weights=net.weights,
                            theta_mV=net.theta_mV, delays_ms=net.delays_ms)
            atomic_save_npz(tmp / rundir.CHECKPOINT_DYNAMIC, **self.sim.dynamic_state())
            rundir.write_checkpoint_state(tmp, CheckpointState(
                samples_done=self.samples_done, seed=self.seed, model=self.cfg.model_hash(),
                config=config_to_dict(self.cfg),
                checksums={name: sha256_of(tmp / name) for name in CHECKPOINT_FILES},
                node=self.node))
        for old in rundir.checkpoint_dirs(self.ckpt_dir, complete=False)[:-KEEP_CHECKPOINTS]:
            atomic.remove_path(old)
        return final

    def snapshot(self) -> Path:
        """Keep the current network as the snapshot of ``samples_done`` (if not kept yet)."""
        path = rundir.snapshots_dir(self.train_dir) / rundir.snapshot_name(self.samples_done)
        if not (path / NETWORK_JSON).is_file():
            self._check_lease()
            if path.exists():  # an incomplete leftover: never a result
                atomic.remove_path(path)
            save_network(path, self.cfg, self.network(),
                         prov={"seed": self.seed, "training_samples": self.samples_done})
        return path

    # -- training ---------------------------------------------------------------
    def network(self) -> FrozenNetwork:
        """The current weights, theta and delays (copies)."""
        return FrozenNetwork(self.sim.get_weights().copy(), self.sim.get_theta_mV().copy(),
                             self.delays_ms.copy())

    def train_one(self) -> dict:
        """Train on the next sample; returns its statistics row."""
        cfg, k = self.cfg, self.samples_done
        crash_point("train-sample", k)
        pause_point("train-pause", k)
        t0 = time.perf_counter()
        image_index = k % len(self.images)
        image = self.images[image_index]
        self.sim.normalize_weights(cfg.weight_sum)
        intensity, attempt, failed = cfg.intensity, 0, False
        while True:
            counts = self.sim.present(image, sample=k, attempt=attempt, intensity=intensity,
                                      seed=self.seed)
            if counts.sum() >= cfg.min_spikes:
                break
            if intensity + 1 > cfg.max_intensity:
                failed = True
                break
            intensity += 1
            attempt += 1
        w_mean, w_std = self.sim.weight_moments()
        theta = self.sim.get_theta_mV()
        row = {"sample": k, "image": image_index, "label": int(self.labels[image_index]),
               "total_spikes": int(counts.sum()), "intensity": float(intensity),
               "presentations": attempt + 1, "failed": failed,
               "w_mean": w_mean, "w_std": w_std,
               "theta_mean_mV": float(theta.mean()), "theta_std_mV": float(theta.std()),
               "seconds": time.perf_counter() - t0}
        self._rows.append(row)
        self.samples_done += 1
        if self.snapshot_every and self.samples_done % self.snapshot_every == 0:
            self.snapshot()
        if self.samples_done % self.checkpoint_every == 0:
            self.checkpoint()
        return row

    def train_until(self, target: int) -> int:
        """Train until ``target`` samples are done (no-op if already there); returns samples done.

        A stop request (:meth:`request_stop`, or the driver's stop file,
        :func:`stdp_ray.rundir.stop_file`) ends it after the current sample;
        either way it ends with a checkpoint.
        """
        if target < 0:
            raise ValueError(f"target == {target}, must be >= 0")
        stop = rundir.stop_file(self.train_dir)
        while self.samples_done < target and not self.stop_requested.is_set():
            if signal_present(stop):
                self.stop_requested.set()
                break
            self.train_one()
        self.checkpoint()
        return self.samples_done

    def request_stop(self) -> None:
        """Ask a running :meth:`train_until` to stop after its current sample."""
        self.stop_requested.set()


def _actor_class():
    """The Ray actor: a thin shell over :class:`Trainer` (created lazily)."""
    import ray

    # Not detached: Ray ends it when its driver dies, and its lease check stops
    # it writing before that. A stop request reaches a running train_until
    # through the stop file (one thread: the engines set signal handlers).
    # A call is retried for as long as the actor is being restarted (a lost node
    # is declared dead only after missed health checks; each try meanwhile fails
    # at once); the restarts, not the retries, bound how often it comes back.
    @ray.remote(num_cpus=1, max_restarts=3, max_task_retries=-1)
    class TrainerActor:
        # The training data comes with every call, as ``[images_ref, labels_ref]``,
        # not with the constructor: Ray logs an error for a restartable actor whose
        # constructor arguments live in the object store (a restart would fail had
        # they been freed). Here the driver holds both references for the actor's
        # lifetime, and a restarted actor rebuilds its trainer (from the newest
        # checkpoint) at the first call it runs or retries, which carries them.
        def __init__(self, cfg, seed, train_dir, checkpoint_every, threads, snapshot_every,
                     lease=None):
            self.args = (cfg, seed, train_dir)
            self.options = (checkpoint_every, threads, snapshot_every, lease)
            self.trainer = None

        def _trainer(self, data_refs) -> Trainer:
            if self.trainer is None:
                images, labels = ray.get(list(data_refs))
                node = ray.get_runtime_context().get_node_id()
                try:
                    cfg, seed, train_dir = self.args
                    train_dir = _local_train_dir(train_dir, self.options[3])
                    self.trainer = Trainer(cfg, seed, train_dir, images, labels, *self.options,
                                           node=node)
                except LeaseLostError as exc:
                    _exit_actor(exc)
                logger.info("training actor of %s on node %s (pid %d): at sample %d",
                            self.args[2], node, os.getpid(), self.trainer.samples_done)
            return self.trainer

        def train_until(self, target: int, data_refs) -> int:
            try:
                return self._trainer(data_refs).train_until(target)
            except LeaseLostError as exc:
                _exit_actor(exc)

        def samples_done(self, data_refs) -> int:
            return self._trainer(data_refs).samples_done

        def network(self, data_refs) -> FrozenNetwork:
            return self._trainer(data_refs).network()

    return TrainerActor


def _local_train_dir(train_dir: str, lease) -> str | Location:
    """Where a training actor works: ``train_dir``, or for a URI a mirror on its own node.

    A remote train directory (object storage) is pulled into a node-private
    mirror (its newest committed checkpoint included), after checking that
    the driver still holds its lease, and its interrupted uploads are
    removed; the trainer's writes go through to the store from there
    (:func:`stdp_ray.location.worker_location`).
    """
    if not is_remote(train_dir):
        return train_dir
    if lease is not None:
        check_lease(*lease)
    local = worker_location(train_dir)
    sweep_incomplete(local)
    return local


def _stored_network(train_dir: str | os.PathLike, cfg: Config, seed: int,
                    samples_done: int) -> FrozenNetwork:
    """The network of a training's final checkpoint, read from the run's storage.

    The driver's mirror of the train directory is refreshed from the store
    first (the actor wrote it from its own node), so the statistics are there
    too.
    """
    refresh(train_dir)
    ckpt = rundir.checkpoints_dir(train_dir) / rundir.checkpoint_name(samples_done)
    return read_checkpoint(ckpt, cfg, seed, dynamic=False).arrays


def _exit_actor(exc: Exception) -> None:
    """End this actor for good (no restart): its driver is gone."""
    import ray

    logger.warning("training actor stops without writing: %s", exc)
    ray.actor.exit_actor()


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (SIGINT/SIGTERM) and stopped with a checkpoint.

    Attributes
    ----------
    stopped : list of (str, int)
        Per job: its ``train_dir`` and the samples its newest checkpoint holds.
    target : int
        The samples asked for.
    """

    def __init__(self, stopped: list[tuple[str, int]], target: int):
        super().__init__(stopped, target)
        self.stopped, self.target = stopped, target


#: Seconds the driver waits, after an interrupt, for the actors to finish their
#: current sample and write a checkpoint.
STOP_TIMEOUT_S = 120.0


def _stop_actors(actors, pending: dict, done: list[int], jobs) -> list[tuple[str, int]]:
    """Ask every actor to stop after its current sample; wait for their checkpoints."""
    import ray

    for d, _ in jobs:
        _request_stop(d)
    training_refs = {ref: k for ref, (k, what) in pending.items() if what in ("train", "final")}
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for ref, k in training_refs.items():
        try:
            done[k] = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - a dead or stuck actor: its older checkpoint stays
            logger.warning("%s: no checkpoint at the interrupt (%s)", jobs[k][0],
                           type(exc).__name__)
    return [(str(d), done[k]) for k, (d, _) in enumerate(jobs)]


def _request_stop(train_dir, clear: bool = False) -> None:
    """Write (or with ``clear`` remove) a training's stop file."""
    path = rundir.stop_file(train_dir)
    if clear:
        clear_signal(path)
    else:
        put_signal(path)


def _end_actor(actor, timeout: float = 30.0) -> None:
    """End an actor gracefully (its process runs its exit handlers), else kill it."""
    import ray

    try:
        # No retries: the actor's exit is the intended outcome, not a failure to retry.
        ray.get(actor.__ray_terminate__.options(max_task_retries=0).remote(), timeout=timeout)
    except Exception:  # noqa: BLE001 - already dead, or stuck: kill it either way
        pass
    ray.kill(actor, no_restart=True)


def train_run(train_dir: str | os.PathLike, cfg: Config, seed: int, samples: int,
              images: np.ndarray, labels: np.ndarray, *,
              checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY, progress: bool = True,
              step: int | None = None, threads: int = 1,
              snapshot_every: int | None = None,
              lease: tuple[str | os.PathLike, str] | None = None,
              ) -> tuple[FrozenNetwork, dict]:
    """Train ``samples`` samples in one Ray actor, resuming from its checkpoints.

    See :func:`train_many`; returns the trained arrays and a summary
    (samples, seconds, resumed_from).
    """
    return train_many([(train_dir, seed)], cfg, samples, images, labels,
                      checkpoint_every=checkpoint_every, progress=progress, step=step,
                      threads=threads, snapshot_every=snapshot_every, lease=lease)[0]


def train_many(jobs: list[tuple[str | os.PathLike, int]], cfg: Config | list[Config],
               samples: int, images: np.ndarray, labels: np.ndarray, *,
               checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY, progress: bool = True,
               step: int | None = None, threads: int = 1,
               snapshot_every: int | None = None,
               lease: tuple[str | os.PathLike, str] | None = None,
               ) -> list[tuple[FrozenNetwork, dict]]:
    """Train one network per ``(train_dir, seed)`` job, one Ray actor each, concurrently.

    ``cfg`` is the configuration of every job, or a list of one per job (a sweep).

    The driver asks each actor to "train until N" in steps of ``step`` samples
    (default: the checkpoint interval) and streams the replies with
    ``ray.wait``, so progress shows for all of them; a step lost to a crash is
    retried by Ray against the restarted actor, which resumes from its newest
    checkpoint. Each actor reserves ``threads`` CPUs (its simulation's
    threads); actors beyond the cluster's free CPUs wait for them; each actor
    is ended as soon as its network is fetched. With ``snapshot_every`` each
    actor keeps its network every that many samples (see :class:`Trainer`).
    With ``lease`` each actor checks, before it writes, that its driver still
    holds the lock (see :class:`Trainer`).

    On an interrupt (KeyboardInterrupt, e.g. SIGINT) each actor finishes its
    current sample and writes a checkpoint, and :class:`TrainingInterrupted`
    says where each stopped; a second interrupt stops waiting for them.

    Returns
    -------
    list of (FrozenNetwork, dict)
        Per job, in order: the trained arrays and a summary: ``samples``,
        ``resumed_from`` (samples already done at the start) and ``seconds``,
        the job's own wall time in this call, from its actor's first reply
        (after any wait for a CPU) to its network being fetched.
    """
    import ray

    from .progress import progress as progress_bar

    if samples < 1:
        raise ValueError(f"samples == {samples}, must be >= 1")
    if not jobs:
        raise ValueError("jobs is empty, must hold >= 1 (train_dir, seed)")
    if threads < 1:
        raise ValueError(f"threads == {threads}, must be >= 1")
    step = int(step or checkpoint_every)
    ensure_ray()
    t0 = time.perf_counter()
    # The driver holds these references for the actors' lifetime: a restarted
    # actor re-runs its constructor with them.
    images_ref, labels_ref = ray.put(images), ray.put(labels)
    cls = _actor_class().options(num_cpus=int(threads))
    if snapshot_every is not None and snapshot_every < 1:
        raise ValueError(f"snapshot_every == {snapshot_every}, must be >= 1")
    cfgs = list(cfg) if isinstance(cfg, (list, tuple)) else [cfg] * len(jobs)
    if len(cfgs) != len(jobs):
        raise ValueError(f"{len(cfgs)} configurations for {len(jobs)} jobs, must be one per job")
    data_refs = [images_ref, labels_ref]
    for d, _ in jobs:  # a stop request left by an earlier interrupt
        _request_stop(d, clear=True)
    # On object storage each actor is handed the URIs, not the driver's mirror.
    lease = (as_location(lease[0]).portable, lease[1]) if lease is not None else None
    actors = [cls.remote(c, int(seed), as_location(d).portable, int(checkpoint_every),
                         int(threads),
                         snapshot_every, lease)
              for (d, seed), c in zip(jobs, cfgs)]
    done = [0] * len(jobs)
    resumed = [None] * len(jobs)
    started, finished = [t0] * len(jobs), [t0] * len(jobs)
    results: list = [None] * len(jobs)
    pending = {a.samples_done.remote(data_refs): (k, "start") for k, a in enumerate(actors)}
    try:
        with progress_bar(samples * len(jobs), "train", enabled=progress,
                          smoothing=0.05) as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                k, what = pending.pop(ready[0])
                value = ray.get(ready[0])
                if what == "network":
                    results[k], finished[k] = value, time.perf_counter()
                    _end_actor(actors[k])
                    continue
                if resumed[k] is None:
                    resumed[k], started[k] = value, time.perf_counter()
                    bar.update(min(value, samples))
                else:
                    bar.update(max(0, min(value, samples) - min(done[k], samples)))
                done[k] = value
                if done[k] < samples:
                    target = min(samples, (done[k] // step + 1) * step)
                    pending[actors[k].train_until.remote(target, data_refs)] = (k, "train")
                elif what != "final":
                    # train_until(samples) also writes the final checkpoint.
                    pending[actors[k].train_until.remote(samples, data_refs)] = (k, "final")
                elif location_mirror(jobs[k][0]) is not None:
                    # On object storage: the final checkpoint, as the actor stored it.
                    results[k] = _stored_network(jobs[k][0], cfgs[k], jobs[k][1], done[k])
                    finished[k] = time.perf_counter()
                    _end_actor(actors[k])
                else:
                    pending[actors[k].network.remote(data_refs)] = (k, "network")
    except KeyboardInterrupt:
        logger.warning("interrupted: finishing the current sample and writing a checkpoint "
                       "(interrupt again to stop at once)")
        raise TrainingInterrupted(_stop_actors(actors, pending, done, jobs), samples) from None
    finally:
        for a in actors:
            _end_actor(a)
        for d, _ in jobs:
            _request_stop(d, clear=True)
    logger.info("trained %d network(s) in %.1f s", len(jobs), time.perf_counter() - t0)
    return [(results[k], {"samples": done[k], "resumed_from": resumed[k],
                          "seconds": finished[k] - started[k]})
            for k in range(len(jobs))]
