"""The training loop: the original script's sequence on one engine, with its checkpoints.

:class:`Trainer` is plain Python (the tests drive it without Ray; the actor of
:mod:`stdp_ray.training` is a thin shell over it). Training step ``k`` shows
training image ``k mod n_images``: the input weights of each excitatory neuron
are rescaled to sum to 78, the image is shown for 350 ms then 150 ms of
silence, and while it draws fewer than 5 response spikes it is shown again at
intensity + 1 (up to ``max_intensity``), the network's state carrying on
throughout, as in the original script (Diehl & Cook's code).

The input spikes of step ``k`` depend only on (seed, k, attempt), and a
checkpoint holds everything else needed to continue exactly
(:mod:`stdp_ray.checkpoints`), so "train until sample N" means the same
whether or not it was interrupted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import numpy as np

from . import atomic, engines, model, provenance, rundir
from .artifact import NETWORK_JSON, save_network
from .atomic import atomic_directory, atomic_save_npz
from .checkpoints import CHECKPOINT_FILES, newest_usable_checkpoint
from .config import Config, config_to_dict
from .faults import crash_point, pause_point
from .location import as_path, signal_present
from .locks import check_lease
from .network import FrozenNetwork
from .options import DEFAULT_CHECKPOINT_EVERY
from .reading import sha256_of
from .rundir import CheckpointState

logger = logging.getLogger(__name__)

__all__ = ["Trainer", "initial_network", "KEEP_CHECKPOINTS"]

#: Checkpoints kept in ``train/checkpoints`` (the newest and the one before).
KEEP_CHECKPOINTS = 2


def initial_network(cfg: Config, seed: int) -> FrozenNetwork:
    """Initial weights, theta and delays of a network drawn from ``seed``."""
    w_rng, d_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    return FrozenNetwork(weights=model.initial_weights(cfg, w_rng),
                         theta_mV=np.full(cfg.n_neurons, cfg.theta_init_mV),
                         delays_ms=model.initial_delays(cfg, d_rng))


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


