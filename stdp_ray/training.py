"""Training on Ray: one stateful actor per network, driven step by step from the driver.

Each network trains in one Ray actor (:func:`_actor_class`, a thin shell over
:class:`stdp_ray.trainer.Trainer`) that checkpoints and resumes. The driver
(:func:`train_many`) asks each actor to "train until N" in steps, streams the
replies, fetches each network when it is done, and on an interrupt asks every
actor to stop after its current sample with a checkpoint. A call means "train
until sample N", so a call Ray retries never trains a sample twice.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from . import confine, rundir
from .checkpoints import read_checkpoint
from .config import Config
from .connect import ensure_ray
from .errors import from_ray
from .leases import LeaseLostError, check_renewals
from .location import (Location, as_location, clear_signal, location_mirror, put_signal, refresh,
                       sweep_incomplete, worker_location)
from .locks import check_lease
from .network import FrozenNetwork
from .options import RunOptions
from .trainer import Trainer
from .uris import is_remote

logger = logging.getLogger(__name__)

__all__ = ["train_run", "train_many", "TrainingInterrupted", "STOP_TIMEOUT_S", "WAIT_SLICE_S"]

#: Seconds between the driver's looks at its leases while it waits for the actors.
WAIT_SLICE_S = 1.0


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
        confine.add_root(Path(train_dir).parent)  # the run directory: no link below it followed
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


def _result(ref):
    """``ray.get(ref)``; a failure of the actor as the error it stands for (:func:`from_ray`)."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        raise from_ray(exc) from exc


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
    training_refs = {ref: k for ref, (k, call) in pending.items()
                     if call in (_Call.TRAIN, _Call.FINAL)}
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


class _Call(enum.Enum):
    """What the driver asked an actor for, and so what its reply means."""

    #: ``samples_done``: where the actor resumes from.
    START = "start"
    #: ``train_until(target)`` of one step.
    TRAIN = "train"
    #: ``train_until(samples)`` once every sample is done: writes the final checkpoint.
    FINAL = "final"
    #: ``network``: the trained network, fetched from the actor.
    NETWORK = "network"
    #: No call: the network is read from the final checkpoint on object storage.
    STORED = "stored"


class _Progress:
    """Where each job of :func:`train_many` stands, and the call that comes next."""

    def __init__(self, jobs: list, samples: int, step: int, t0: float):
        self.jobs, self.samples, self.step = jobs, samples, step
        n = len(jobs)
        self.done = [0] * n
        self.resumed: list[int | None] = [None] * n
        self.started, self.finished = [t0] * n, [t0] * n
        self.networks: list = [None] * n

    def advance(self, k: int, done: int) -> int:
        """Record job ``k``'s reply (samples done); returns the samples new to the bar."""
        samples = self.samples
        if self.resumed[k] is None:
            self.resumed[k], self.started[k] = done, time.perf_counter()
            new = min(done, samples)
        else:
            new = max(0, min(done, samples) - min(self.done[k], samples))
        self.done[k] = done
        return new

    def next_call(self, k: int, last: _Call) -> _Call:
        """The call after ``last``: another step, the final one, then the network."""
        if self.done[k] < self.samples:
            return _Call.TRAIN
        if last is not _Call.FINAL:
            return _Call.FINAL
        return _Call.STORED if location_mirror(self.jobs[k][0]) is not None else _Call.NETWORK

    def target(self, k: int, call: _Call) -> int:
        """The samples a ``train_until`` call of job ``k`` trains to."""
        if call is _Call.FINAL:
            return self.samples
        return min(self.samples, (self.done[k] // self.step + 1) * self.step)

    def finish(self, k: int, network: FrozenNetwork) -> None:
        self.networks[k], self.finished[k] = network, time.perf_counter()

    def results(self) -> list[tuple[FrozenNetwork, dict]]:
        return [(self.networks[k], {"samples": self.done[k], "resumed_from": self.resumed[k],
                                    "seconds": self.finished[k] - self.started[k]})
                for k in range(len(self.jobs))]


def _check_jobs(jobs: list, cfg: Config | list[Config], samples: int, threads: int,
                snapshot_every: int | None) -> list[Config]:
    """The configuration of each job; ValueError naming what cannot be trained."""
    if samples < 1:
        raise ValueError(f"samples == {samples}, must be >= 1")
    if not jobs:
        raise ValueError("jobs is empty, must hold >= 1 (train_dir, seed)")
    if threads < 1:
        raise ValueError(f"threads == {threads}, must be >= 1")
    if snapshot_every is not None and snapshot_every < 1:
        raise ValueError(f"snapshot_every == {snapshot_every}, must be >= 1")
    cfgs = list(cfg) if isinstance(cfg, (list, tuple)) else [cfg] * len(jobs)
    if len(cfgs) != len(jobs):
        raise ValueError(f"{len(cfgs)} configurations for {len(jobs)} jobs, must be one per job")
    return cfgs


def train_run(train_dir: str | os.PathLike, cfg: Config, seed: int, images: np.ndarray,
              labels: np.ndarray, options: RunOptions, *, step: int | None = None,
              lease: tuple[str | os.PathLike, str] | None = None,
              on_step: Callable[[int, int], None] | None = None,
              ) -> tuple[FrozenNetwork, dict]:
    """Train ``options.samples`` samples in one Ray actor, resuming from its checkpoints.

    See :func:`train_many`; returns the trained arrays and a summary
    (samples, seconds, resumed_from).
    """
    return train_many([(train_dir, seed)], cfg, images, labels, options, step=step,
                      lease=lease, on_step=on_step)[0]


def train_many(jobs: list[tuple[str | os.PathLike, int]], cfg: Config | list[Config],
               images: np.ndarray, labels: np.ndarray, options: RunOptions, *,
               step: int | None = None, lease: tuple[str | os.PathLike, str] | None = None,
               on_step: Callable[[int, int], None] | None = None,
               ) -> list[tuple[FrozenNetwork, dict]]:
    """Train one network per ``(train_dir, seed)`` job, one Ray actor each, concurrently.

    ``cfg`` is the configuration of every job, or a list of one per job (a
    sweep). ``options`` gives ``samples`` (each job's training samples in
    all), ``checkpoint_every``, ``threads``, ``eval_every`` (a snapshot every
    that many samples) and ``progress``.

    The driver asks each actor to "train until N" in steps of ``step`` samples
    (default: the checkpoint interval) and streams the replies with
    ``ray.wait``, so progress shows for all of them; a step lost to a crash is
    retried by Ray against the restarted actor, which resumes from its newest
    checkpoint. Each actor reserves ``threads`` CPUs (its simulation's
    threads); actors beyond the cluster's free CPUs wait for them; each actor
    is ended as soon as its network is fetched. With ``eval_every`` each
    actor keeps its network every that many samples (see :class:`Trainer`).
    With ``lease`` each actor checks, before it writes, that its driver still
    holds the lock (see :class:`Trainer`). ``on_step(k, samples_done)`` is
    called in the driver after each step of job ``k`` (a checkpoint: what
    experiment tracking writes from, :func:`stdp_ray.tracking.track_run`).

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

    samples, threads = options.required_samples(), options.threads
    checkpoint_every, snapshot_every = options.checkpoint_every, options.eval_every
    step = int(step or checkpoint_every)
    cfgs = _check_jobs(jobs, cfg, samples, threads, snapshot_every)
    ensure_ray()
    t0 = time.perf_counter()
    # The driver holds these references for the actors' lifetime: a restarted
    # actor re-runs its constructor with them.
    data_refs = [ray.put(images), ray.put(labels)]
    for d, _ in jobs:  # a stop request left by an earlier interrupt
        _request_stop(d, clear=True)
    # On object storage each actor is handed the URIs, not the driver's mirror.
    lease = (as_location(lease[0]).portable, lease[1]) if lease is not None else None
    cls = _actor_class().options(num_cpus=int(threads))
    actors = [cls.remote(c, int(seed), as_location(d).portable, int(checkpoint_every),
                         int(threads), snapshot_every, lease)
              for (d, seed), c in zip(jobs, cfgs)]
    progress_of = _Progress(jobs, samples, step, t0)
    pending = {a.samples_done.remote(data_refs): (k, _Call.START) for k, a in enumerate(actors)}
    try:
        with progress_bar(samples * len(jobs), "train", enabled=options.progress,
                          smoothing=0.05) as bar:
            while pending:
                # In slices: a stalled store seen by the lease's renewal fails the command.
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SLICE_S)
                check_renewals()
                if not ready:
                    continue
                k, call = pending.pop(ready[0])
                value = _result(ready[0])
                if call is _Call.NETWORK:
                    progress_of.finish(k, value)
                    _end_actor(actors[k])
                    continue
                bar.update(progress_of.advance(k, value))
                if on_step is not None:
                    on_step(k, progress_of.done[k])
                following = progress_of.next_call(k, call)
                if following is _Call.STORED:
                    # On object storage: the final checkpoint, as the actor stored it.
                    progress_of.finish(k, _stored_network(jobs[k][0], cfgs[k], jobs[k][1],
                                                          progress_of.done[k]))
                    _end_actor(actors[k])
                elif following is _Call.NETWORK:
                    pending[actors[k].network.remote(data_refs)] = (k, following)
                else:
                    target = progress_of.target(k, following)
                    pending[actors[k].train_until.remote(target, data_refs)] = (k, following)
    except KeyboardInterrupt:
        logger.warning("interrupted: finishing the current sample and writing a checkpoint "
                       "(interrupt again to stop at once)")
        raise TrainingInterrupted(_stop_actors(actors, pending, progress_of.done, jobs),
                                  samples) from None
    finally:
        for a in actors:
            _end_actor(a)
        for d, _ in jobs:
            _request_stop(d, clear=True)
    logger.info("trained %d network(s) in %.1f s", len(jobs), time.perf_counter() - t0)
    return progress_of.results()
