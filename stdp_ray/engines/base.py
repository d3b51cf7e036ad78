"""What every engine shares without a simulator: inputs, counting, plastic state, caches.

This module owns the engine-independent half of simulation: the samples of
a frozen pass (:class:`PassInputs`), how spikes become per-sample counts
(:func:`count_slot_spikes`), the state a plastic network carries from sample
to sample (:class:`PlasticState`), and where compiled builds are cached. It
imports neither Brian2 nor Ray, so engines that do not use Brian2 build on it
too.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import model
from ..errors import EnvironmentFailure
from ..network import FrozenNetwork
from ..paths import CACHE_ENV, cache_dir

if TYPE_CHECKING:  # annotations only: the model's record is read, never imported here
    from ..config import Config

__all__ = ["PassInputs", "count_slot_spikes", "PlasticState", "compiler_available", "private_dir",
           "UnsafeDirectoryError", "NEVER_S", "expand_synapse_traces", "compact_synapse_traces",
           "build_cache_dir", "warn_single_threaded"]

logger = logging.getLogger(__name__)


def compiler_available() -> bool:
    """Whether a C++ compiler that Brian2's standalone device can use is on PATH."""
    return shutil.which(os.environ.get("CXX", "g++")) is not None or shutil.which("c++") is not None


def toolchain_parts() -> list[bytes]:
    """What shapes a compiled build besides its sources: the machine, the compiler, the CPU.

    Builds use ``-march=native``, so a cache shared between different CPUs
    (a home directory on NFS) must not hand one CPU's build to another.
    """
    import platform
    import subprocess

    parts = [platform.machine().encode()]
    try:
        parts.append(subprocess.run([os.environ.get("CXX", "g++"), "--version"],
                                    capture_output=True, timeout=30).stdout)
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        flags = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("flags")][:1]
        parts.append("".join(flags).encode())
    except OSError:
        pass
    return parts


def build_cache_dir() -> Path:
    """Node-local directory of compiled standalone builds: ``standalone/`` inside
    :func:`stdp_ray.paths.cache_dir` (``$STDP_RAY_CACHE``, else ``~/.cache/stdp_ray``)."""
    return cache_dir() / "standalone"


class UnsafeDirectoryError(EnvironmentFailure):
    """A directory that should be this user's own is a link, or someone else's."""


def private_dir(path: str | os.PathLike) -> Path:
    """``path`` as a directory of this user only (mode 0700), made atomically if missing.

    An existing one must be a real directory (not a symbolic link) owned by
    this user; its mode is set to 0700 through a descriptor opened without
    following links. Programs are built and run in such directories: one in
    a shared place (``/dev/shm``) that another user made, or made a link,
    must not be used.

    Raises
    ------
    UnsafeDirectoryError
        If ``path`` is a link, not a directory, or owned by another user.
    """
    import stat

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise UnsafeDirectoryError(f"{path}: not a directory of this user ({exc.strerror}: a "
                                   "symbolic link or a file); remove it") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            raise UnsafeDirectoryError(f"{path}: owned by uid {st.st_uid}, not by this user "
                                       f"({os.getuid()}); remove it or set {CACHE_ENV}")
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return path


# --------------------------------------------------------------------------
# Frozen passes
# --------------------------------------------------------------------------
def count_slot_spikes(spike_i: np.ndarray, spike_t_s: np.ndarray, cfg: Config,
                      n_slots: int) -> np.ndarray:
    """Spikes per (slot, neuron) during each slot's presentation window.

    Parameters
    ----------
    spike_i : ndarray of int
        Neuron index of each spike.
    spike_t_s : ndarray of float
        Spike times in seconds from the start of the run.
    cfg : Config
    n_slots : int

    Returns
    -------
    ndarray, shape (n_slots, n_neurons), int32
    """
    steps = np.round(np.asarray(spike_t_s) / (cfg.dt_ms * 1e-3)).astype(np.int64)
    slot, within = np.divmod(steps, cfg.frozen_slot_steps)
    keep = (within < cfg.present_steps) & (slot < n_slots)
    counts = np.zeros((n_slots, cfg.n_neurons), dtype=np.int32)
    np.add.at(counts, (slot[keep], np.asarray(spike_i)[keep]), 1)
    return counts


@dataclass
class PassInputs:
    """The samples of one frozen pass (one slot each).

    Attributes
    ----------
    images : ndarray, (n, 784) uint8
    sample_ids : ndarray, (n,) int   -- index of the sample in its split
    intensities : ndarray, (n,) float
    attempts : ndarray, (n,) int     -- 0 for the first presentation
    seed : int
    stream : int                     -- see :data:`stdp_ray.model.STREAMS`
    """

    images: np.ndarray
    sample_ids: np.ndarray
    intensities: np.ndarray
    attempts: np.ndarray
    seed: int
    stream: int

    def padded_keys(self, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ids and attempts as int32 arrays padded with zeros to ``n_slots``."""
        ids = np.zeros(n_slots, dtype=np.int32)
        attempts = np.zeros(n_slots, dtype=np.int32)
        ids[:len(self.sample_ids)] = self.sample_ids
        attempts[:len(self.attempts)] = self.attempts
        return ids, attempts

    def slot_rates_hz(self, cfg: Config, n_slots: int) -> np.ndarray:
        """Input rates in Hz, (n_slots, n_input): one row per sample, zero rows after them."""
        rates = np.zeros((n_slots, cfg.n_input))
        rates[:len(self.images)] = model.slot_input_rates(self.images, cfg, self.intensities)
        return rates


# --------------------------------------------------------------------------
# Training: one sample per run, the state carried from sample to sample
# --------------------------------------------------------------------------
#: Dynamic variables carried between training samples: (object, variable).
_CARRIED = [("exc", v) for v in ("v", "ge", "gi", "timer", "lastspike", "not_refractory")] + \
           [("inh", v) for v in ("v", "ge", "gi", "timer", "lastspike", "not_refractory")] + \
           [("syn", v) for v in ("pre", "post1", "post2", "post2before", "lastupdate")]
#: Variables holding absolute times: every sample starts at t = 0, so these are
#: shifted back by one sample's length between samples (in every engine alike).
_TIMES = {("exc", "lastspike"), ("inh", "lastspike"), ("syn", "lastupdate")}


#: Brian2's "never spiked" (lastspike), in seconds.
NEVER_S = -1e4
#: The exact engines' per-synapse trace variables (pixel-major, ``n_input * n_neurons`` each).
SYNAPSE_TRACES = ("pre", "post1", "post2", "post2before", "lastupdate")


def expand_synapse_traces(state: dict[str, np.ndarray], delays_ms: np.ndarray,
                          cfg: Config) -> dict[str, np.ndarray]:
    """A dynamic state with the exact engines' per-synapse traces.

    A state of the fast engine holds the traces compact: each input neuron's
    last spike (``syn_input_lastspike``, s) and each exc neuron's
    ``post2before`` (``syn_post2before_neuron``); ``post1`` and ``post2``
    follow from ``exc_lastspike``. They are expanded to their values at
    ``t = 0`` (``lastupdate`` 0): ``pre = exp((s_i + d_ij) / tau_pre)``,
    ``post1 = exp(lastspike_j / tau_post1)``, ``post2`` alike. A state that
    already holds them is returned as it is.
    """
    if "syn_pre" in state:
        return state
    out = {k: v for k, v in state.items()
           if k not in ("syn_input_lastspike", "syn_post2before_neuron")}
    n_in, n = cfg.n_input, cfg.n_neurons
    from .layout import delay_steps

    delay_s = delay_steps(delays_ms, cfg).reshape(n_in, n) * (cfg.dt_ms * 1e-3)
    arrival = np.asarray(state["syn_input_lastspike"], dtype=np.float64)[:, None] + delay_s
    last_post = np.asarray(state["exc_lastspike"], dtype=np.float64)[None, :]
    with np.errstate(under="ignore"):
        out["syn_pre"] = np.exp(np.minimum(arrival, 0.0) / (cfg.tau_pre_ms * 1e-3)).reshape(-1)
        for name, tau in (("post1", cfg.tau_post1_ms), ("post2", cfg.tau_post2_ms)):
            out[f"syn_{name}"] = np.broadcast_to(
                np.exp(np.minimum(last_post, 0.0) / (tau * 1e-3)), (n_in, n)).reshape(-1)
    out["syn_post2before"] = np.broadcast_to(
        np.asarray(state["syn_post2before_neuron"], dtype=np.float64)[None, :],
        (n_in, n)).reshape(-1)
    out["syn_lastupdate"] = np.zeros(n_in * n)
    return out


def compact_synapse_traces(state: dict[str, np.ndarray], delays_ms: np.ndarray,
                           cfg: Config) -> dict[str, np.ndarray]:
    """A dynamic state with the fast engine's compact traces (see :func:`expand_synapse_traces`).

    From per-synapse traces: synapse (i, j)'s last arrival is
    ``lastupdate + tau_pre * log(pre)``; less its delay, the spike of input
    neuron ``i`` that caused it (the latest over ``j``); ``post2before`` per
    neuron is its largest over the neuron's synapses. A state that already
    holds them is returned as it is.
    """
    if "syn_input_lastspike" in state:
        return state
    out = {k: v for k, v in state.items() if not (k.startswith("syn_") and
                                                  k[4:] in SYNAPSE_TRACES)}
    n_in, n = cfg.n_input, cfg.n_neurons
    from .layout import delay_steps

    delay_s = delay_steps(delays_ms, cfg).reshape(n_in, n) * (cfg.dt_ms * 1e-3)
    pre = np.asarray(state["syn_pre"], dtype=np.float64).reshape(n_in, n)
    lastupdate = np.asarray(state["syn_lastupdate"], dtype=np.float64).reshape(n_in, n)
    with np.errstate(divide="ignore"):
        spike = np.where(pre > 0, lastupdate + cfg.tau_pre_ms * 1e-3 * np.log(pre) - delay_s,
                         NEVER_S)
    out["syn_input_lastspike"] = spike.max(axis=1)
    out["syn_post2before_neuron"] = np.asarray(state["syn_post2before"],
                                               dtype=np.float64).reshape(n_in, n).max(axis=0)
    return out


class PlasticState:
    """State handling shared by the training engines (state kept in SI units).

    Holds the weights (flat, pixel-major), theta (volt) and delays of a
    plastic network, and the dynamic variables of :data:`_CARRIED` keyed by
    ``(object, variable)``; an engine's ``present`` reads them in, simulates
    one sample and writes them back, then calls :meth:`_after_sample`.

    Parameters
    ----------
    cfg : Config
    net_arrays : FrozenNetwork
        The starting weights, theta and delays.
    """

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork):
        self.cfg = cfg
        self.weights = np.array(net_arrays.weights, dtype=np.float64).reshape(-1)
        self.theta = np.asarray(net_arrays.theta_mV, dtype=np.float64) * 1e-3
        self.delays_ms = np.array(net_arrays.delays_ms, dtype=np.float64)
        n, n_syn = cfg.n_neurons, cfg.n_input * cfg.n_neurons
        self.state = {}
        for group, var in _CARRIED:
            size = n_syn if group == "syn" else n
            if var == "v":
                value = (cfg.v_rest_exc_mV if group == "exc" else cfg.v_rest_inh_mV) * 1e-3
            elif var == "lastspike":
                value = -1e4  # Brian2's "never spiked"
            else:
                value = 0.0
            dtype = bool if var == "not_refractory" else np.float64
            self.state[(group, var)] = np.full(size, True if dtype is bool else value, dtype=dtype)

    def get_weights(self) -> np.ndarray:
        """The input weights as (n_input, n_neurons) (a view of the engine's array)."""
        return self.weights.reshape(self.cfg.n_input, self.cfg.n_neurons)

    def set_weights(self, weights: np.ndarray) -> None:
        """Replace the input weights, (n_input, n_neurons), for the next sample."""
        self.weights = np.array(weights, dtype=np.float64).reshape(-1)

    def normalize_weights(self, total: float) -> None:
        """Rescale each neuron's input weights to sum to ``total``
        (:func:`stdp_ray.model.normalize_weights`)."""
        self.set_weights(model.normalize_weights(self.get_weights(), total))

    def weight_moments(self) -> tuple[float, float]:
        """Mean and standard deviation of the input weights."""
        w = self.get_weights()
        return float(w.mean()), float(w.std())

    def get_theta_mV(self) -> np.ndarray:
        """The adaptive thresholds in mV, (n_neurons,)."""
        return self.theta * 1e3

    def dynamic_state(self) -> dict[str, np.ndarray]:
        """Everything besides weights/delays needed to continue exactly (SI units)."""
        out = {f"{g}_{v}": a.copy() for (g, v), a in self.state.items()}
        out["exc_theta_volt"] = self.theta.copy()
        return out

    def set_dynamic_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from ``state``, a :meth:`dynamic_state` (of any engine)."""
        state = expand_synapse_traces(state, self.delays_ms, self.cfg)
        for (g, v) in self.state:
            self.state[(g, v)] = np.array(state[f"{g}_{v}"], dtype=self.state[(g, v)].dtype)
        self.theta = np.array(state["exc_theta_volt"], dtype=np.float64)

    def _after_sample(self) -> None:
        for key in _TIMES:
            self.state[key] = self.state[key] - self.cfg.sample_ms * 1e-3

    def _counts(self, spike_i, spike_t) -> np.ndarray:
        steps = np.round(np.asarray(spike_t) / (self.cfg.dt_ms * 1e-3)).astype(np.int64)
        keep = steps < self.cfg.present_steps
        return np.bincount(np.asarray(spike_i)[keep],
                           minlength=self.cfg.n_neurons).astype(np.int32)


def warn_single_threaded(backend: str, threads: int) -> None:
    """One warning where ``threads`` > 1 is asked of an engine that runs on one thread."""
    if threads > 1:
        logger.warning("threads == %d: the %s engine runs on one thread", threads, backend)
