"""The fast engine: the same model as the exact engine, in float32 with per-neuron traces.

``--backend fast`` integrates the equations of :mod:`stdp_ray.model` with
the same constants, input spikes (bit for bit), delays, schedule within a
step, normalisation and retry rule as the exact ``native`` engine, but it
is free of bit-identity (the kernel, ``fast_kernel.cpp``, states its
contract):

- neuron state and weights are float32 (theta stays float64);
- the STDP traces ``post1``/``post2`` are one value per excitatory neuron
  (they are reset by that neuron's spikes and decay alike in every synapse
  onto it) and ``pre`` is computed from the input neuron's last spike and
  the synapse's delay when the neuron spikes: 4 bytes per synapse instead of
  the exact engine's 40;
- an inhibitory neuron at a fixed point of its update is skipped until its
  partner spikes; in training, once the input is over and the conductances
  have decayed below float32 resolution, the membranes relax in closed form;
  frozen passes stop at the end of the presentation window (the state is
  reset before every sample and later spikes are not counted);
- normalisation and weight statistics run in the kernel.

The exact engine stays the default and the oracle; ``tests/test_engine_fast.py``
holds the two to stated tolerances and ``results/README.md`` records the
agreement on full-size networks. Checkpoints written by either engine resume
on the other (:func:`stdp_ray.engines.base.expand_synapse_traces` and
:func:`stdp_ray.engines.base.compact_synapse_traces` convert the traces).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import time
from pathlib import Path

import numpy as np

from .. import model
from ..config import Config
from ..network import FrozenNetwork
from .base import NEVER_S, PassInputs, compact_synapse_traces
from .kernels import KernelBuild, KernelUnavailable
from .kernels import pointer as _ptr
from .layout import SynapseLayout, checked_steps
from .native import _timestep

logger = logging.getLogger(__name__)

__all__ = ["FastFrozen", "FastTrainer", "kernel_library", "unavailable", "isa", "BUILD",
           "FAST_FLAGS", "fast_constants", "timer_min_steps"]

_HERE = Path(__file__).resolve().parent
#: Flags of both builds: vectorised for this CPU; no bit-identity to keep.
FAST_FLAGS = ("-O3", "-march=native", "-std=c++17", "-fno-math-errno", "-fopenmp", "-fPIC",
              "-shared")
#: The fast kernel's build (see :mod:`.kernels`).
BUILD = KernelBuild(name="fast", sources=(_HERE / "fast_kernel.cpp", _HERE / "input_hash.h"),
                    flags=FAST_FLAGS, installed="stdp_ray.engines._fast_kernel",
                    abi_symbol="stdp_fast_abi", abi=1,
                    hint="reinstall stdp-ray where a C++ compiler works, or use --backend native")
#: Step of a spike that never happened, in the kernel's int32 steps.
NEVER = -1_000_000_000
#: Conductances below this are "decayed below float32 resolution" (ge * v is
#: then below half a unit in the last place of v).
G_QUIET = 2.0 ** -25

_fp = ctypes.POINTER(ctypes.c_float)
_dp = ctypes.POINTER(ctypes.c_double)
_i32p = ctypes.POINTER(ctypes.c_int32)
_i64p = ctypes.POINTER(ctypes.c_int64)


class _FastModel(ctypes.Structure):
    _fields_ = [("n_in", ctypes.c_int64), ("n", ctypes.c_int64),
                ("present_steps", ctypes.c_int64), ("steps", ctypes.c_int64),
                ("max_delay", ctypes.c_int64), ("dt", ctypes.c_double),
                *[(f"exc_{k}", ctypes.c_float) for k in
                  ("keep_ge", "keep_gi", "cv", "v_rest", "e_inh", "v_reset", "v_thresh")],
                *[(f"inh_{k}", ctypes.c_float) for k in
                  ("keep_ge", "keep_gi", "cv", "v_rest", "e_inh", "v_reset", "v_thresh")],
                ("exc_ref_steps", ctypes.c_int32), ("inh_ref_steps", ctypes.c_int32),
                ("timer_min_steps", ctypes.c_int32), ("lazy", ctypes.c_int32),
                ("w_exc_inh", ctypes.c_float), ("w_inh_exc", ctypes.c_float),
                ("nu_pre", ctypes.c_float), ("nu_post", ctypes.c_float),
                ("w_max", ctypes.c_float), ("g_quiet", ctypes.c_float),
                ("theta_plus", ctypes.c_double), ("tau_theta", ctypes.c_double),
                ("tau_pre", ctypes.c_double), ("tau_post1", ctypes.c_double),
                ("tau_post2", ctypes.c_double),
                ("delay", ctypes.POINTER(ctypes.c_uint16)), ("n_threads", ctypes.c_int64),
                ("grp_post", _i32p), ("grp_split", _i32p), ("post_pos", _i32p)]


class _FastNeurons(ctypes.Structure):
    _fields_ = [("v", _fp), ("ge", _fp), ("gi", _fp), ("treset", _i32p), ("tpost", _i32p)]


class _FastPlastic(ctypes.Structure):
    _fields_ = [("w", _fp), ("theta", _dp), ("in_last", _i32p), ("post2before", _fp)]


class _FastWeightStats(ctypes.Structure):
    _fields_ = [("sum", ctypes.c_double), ("sum_sq", ctypes.c_double)]


@functools.lru_cache(maxsize=1)
def kernel_library() -> ctypes.CDLL:
    """The loaded fast kernel (installed, else compiled once per node)."""
    lib = BUILD.library()
    lib.stdp_fast_isa.restype = ctypes.c_char_p
    lib.stdp_fast_train_present.restype = ctypes.c_int64
    lib.stdp_fast_train_present.argtypes = [
        ctypes.POINTER(_FastModel), _FastNeurons, _FastNeurons, _FastPlastic, _fp, _dp,
        ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, _i32p]
    lib.stdp_fast_frozen.restype = ctypes.c_int64
    lib.stdp_fast_frozen.argtypes = [
        ctypes.POINTER(_FastModel), _FastNeurons, _FastNeurons, _fp, _fp, ctypes.c_int64, _dp,
        _i64p, _i64p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int32, _i32p]
    lib.stdp_fast_normalize.restype = None
    lib.stdp_fast_normalize.argtypes = [ctypes.POINTER(_FastModel), _fp, ctypes.c_double, _dp]
    lib.stdp_fast_weight_stats.restype = _FastWeightStats
    lib.stdp_fast_weight_stats.argtypes = [ctypes.POINTER(_FastModel), _fp]
    return lib


def isa() -> str:
    """The instruction set the kernel's arrival loops use: ``avx512``, ``avx2`` or ``scalar``."""
    return kernel_library().stdp_fast_isa().decode()


def unavailable() -> str | None:
    """Why the fast kernel cannot be used here, or None when it loads."""
    try:
        kernel_library()
    except (KernelUnavailable, OSError) as exc:
        return f"fast engine unavailable: {exc}"
    return None


@functools.lru_cache(maxsize=None)
def warn_if_scalar() -> None:
    """One warning line where the kernel was built without vector gathers (portable build)."""
    if isa() == "scalar":
        logger.warning("fast engine: kernel built without AVX2/AVX-512 (a portable build or "
                       "another CPU family); it runs, several times slower")


def timer_min_steps(cfg: Config) -> int:
    """Steps after a reset until the exact engine's timer (``timer += dt`` in
    float64) first exceeds ``timer_min``: the step an exc neuron may spike again."""
    dt, limit, timer, k = cfg.dt_ms * 1e-3, cfg.timer_min_ms * 1e-3, 0.0, 0
    while not timer > limit:
        timer = dt + timer
        k += 1
    return k


def fast_constants(cfg: Config, max_delay: int, steps: int) -> _FastModel:
    """The kernel's constants: Euler factors (``1 - dt/tau``, ``dt/tau_mem``), potentials in
    volt, refractory periods and the timer in steps, STDP time constants in seconds."""
    dt = cfg.dt_ms * 1e-3
    mV = 1e-3

    def layer(prefix, tau_ms, rest, e_inh, reset, thresh):
        return {f"{prefix}_keep_ge": 1.0 - cfg.dt_ms / cfg.tau_ge_ms,
                f"{prefix}_keep_gi": 1.0 - cfg.dt_ms / cfg.tau_gi_ms,
                f"{prefix}_cv": cfg.dt_ms / tau_ms, f"{prefix}_v_rest": rest * mV,
                f"{prefix}_e_inh": e_inh * mV, f"{prefix}_v_reset": reset * mV,
                f"{prefix}_v_thresh": thresh * mV}

    return _FastModel(
        n_in=cfg.n_input, n=cfg.n_neurons, present_steps=cfg.present_steps, steps=steps,
        max_delay=max_delay, dt=dt,
        **layer("exc", cfg.tau_exc_ms, cfg.v_rest_exc_mV, cfg.e_inh_exc_mV, cfg.v_reset_exc_mV,
                cfg.v_thresh_exc_mV),
        **layer("inh", cfg.tau_inh_ms, cfg.v_rest_inh_mV, cfg.e_inh_inh_mV, cfg.v_reset_inh_mV,
                cfg.v_thresh_inh_mV),
        exc_ref_steps=_timestep(cfg.refractory_exc_ms * 1e-3, dt),
        inh_ref_steps=_timestep(cfg.refractory_inh_ms * 1e-3, dt),
        timer_min_steps=timer_min_steps(cfg), w_exc_inh=cfg.w_exc_inh, w_inh_exc=cfg.w_inh_exc,
        nu_pre=cfg.nu_pre, nu_post=cfg.nu_post, w_max=cfg.w_max, g_quiet=G_QUIET,
        theta_plus=cfg.theta_plus_mV * mV, tau_theta=cfg.tau_theta_ms * 1e-3,
        tau_pre=cfg.tau_pre_ms * 1e-3, tau_post1=cfg.tau_post1_ms * 1e-3,
        tau_post2=cfg.tau_post2_ms * 1e-3)


def lazy_arrivals(n_neurons: int, threads: int = 1) -> bool:
    """Whether the kernel delivers arrivals lazily, by delay group, rather than eagerly
    through a ring of future conductances (see ``fast_kernel.cpp``).

    Measured (results/README.md, "Fast engine"): eager is faster on one thread
    up to a few thousand neurons (its ring, ``128 * n`` floats, then leaves the
    L2 cache); lazy splits better between threads.
    """
    return n_neurons >= LAZY_FROM or threads > 1


#: Smallest network whose arrivals are lazy on one thread.
LAZY_FROM = 3200


class _Bound:
    """A model bound to its synapse arrays (keeps the arrays the struct points to alive).

    Eager: weights and delays pixel-major. Lazy: the weights in the group
    order of a :class:`stdp_ray.engines.layout.SynapseLayout`.
    """

    def __init__(self, cfg: Config, delays_ms: np.ndarray, steps: int, threads: int):
        d, max_delay = checked_steps(delays_ms, cfg)
        if max_delay >= 2**15:
            raise ValueError(f"delays of {max_delay} steps, the fast kernel holds at most "
                             f"{2**15 - 1}")
        self.delay = np.ascontiguousarray(d, dtype=np.uint16)
        self.model = fast_constants(cfg, max_delay, steps)
        self.model.n_threads = threads
        self.model.delay = _ptr(self.delay, ctypes.c_uint16)
        self.layout = None
        if lazy_arrivals(cfg.n_neurons, threads):
            self.layout = lay = SynapseLayout(cfg, delays_ms, threads, thread_major=True)
            self.post_pos = np.ascontiguousarray(lay.positions_by_neuron(), dtype=np.int32)
            self.model.lazy = 1
            self.model.grp_post = _ptr(lay.post, ctypes.c_int32)
            self.model.grp_split = _ptr(lay.split, ctypes.c_int32)
            self.model.post_pos = _ptr(self.post_pos, ctypes.c_int32)

    def to_kernel(self, weights: np.ndarray) -> np.ndarray:
        """Weights (n_input, n_neurons) as the kernel holds them: float32, a new array."""
        if self.layout is None:
            return np.array(weights, dtype=np.float32).reshape(-1)
        return self.layout.to_groups(weights, np.float32)

    def from_kernel(self, w: np.ndarray) -> np.ndarray:
        """The kernel's weights as a flat pixel-major float64 array (a new array)."""
        if self.layout is None:
            return w.astype(np.float64)
        return self.layout.from_groups(w).astype(np.float64)


def _neurons(cfg: Config, layer: str) -> dict[str, np.ndarray]:
    n = cfg.n_neurons
    rest = cfg.v_rest_exc_mV if layer == "exc" else cfg.v_rest_inh_mV
    return {"v": np.full(n, rest * 1e-3, dtype=np.float32), "ge": np.zeros(n, np.float32),
            "gi": np.zeros(n, np.float32), "treset": _treset_of(np.zeros(n), cfg),
            "tpost": np.full(n, NEVER, dtype=np.int32)}


def _as_struct(arrays: dict[str, np.ndarray]) -> _FastNeurons:
    return _FastNeurons(_ptr(arrays["v"], ctypes.c_float), _ptr(arrays["ge"], ctypes.c_float),
                        _ptr(arrays["gi"], ctypes.c_float), _ptr(arrays["treset"], ctypes.c_int32),
                        _ptr(arrays["tpost"], ctypes.c_int32))


def _treset_of(timer_s: np.ndarray, cfg: Config) -> np.ndarray:
    """The kernel's ``treset`` of a timer value (s) at the start of a presentation.

    The exact engines add ``dt`` to the timer in each step before the
    threshold is checked: a timer ``T`` at the start reads ``T + (s + 1) dt``
    in step ``s``, and the kernel's ``s - treset`` steps, so
    ``treset = -(T / dt) - 1`` (a reset in step ``u`` sets ``treset = u``).
    """
    steps = np.round(np.asarray(timer_s, dtype=np.float64) / (cfg.dt_ms * 1e-3))
    return (-np.clip(steps, 0, -NEVER - 1) - 1).astype(np.int32)


def _timer_of(treset: np.ndarray, cfg: Config) -> np.ndarray:
    """The timer (s) at the start of a presentation of a kernel's ``treset``."""
    return (-np.asarray(treset, dtype=np.float64) - 1) * (cfg.dt_ms * 1e-3)


def _steps_of(seconds: np.ndarray, dt: float) -> np.ndarray:
    """Times in seconds as int32 kernel steps; "never" (and anything older) as NEVER."""
    s = np.asarray(seconds, dtype=np.float64)
    steps = np.round(s / dt)
    return np.where(steps > NEVER, steps, NEVER).astype(np.int32)


def _seconds_of(steps: np.ndarray, dt: float) -> np.ndarray:
    steps = np.asarray(steps)
    return np.where(steps > NEVER, steps * dt, NEVER_S)


# --------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------
class FastFrozen:
    """Frozen passes on the fast kernel: every sample from the slot-start state.

    Parameters
    ----------
    cfg : Config
    net_arrays : FrozenNetwork
    n_slots : int
        Most samples per pass (one kernel call simulates them one after another).
    """

    backend = "fast"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork, n_slots: int = 1):
        if n_slots < 1:
            raise ValueError(f"n_slots == {n_slots}, must be >= 1")
        self.cfg, self.net_arrays, self.n_slots = cfg, net_arrays, int(n_slots)
        self._bound: _Bound | None = None

    def prepare(self) -> float:
        """Load (or compile once per node) the kernel and group the synapses; returns seconds."""
        t0 = time.perf_counter()
        if self._bound is None:
            self._lib = kernel_library()
            warn_if_scalar()
            cfg = self.cfg
            self._bound = _Bound(cfg, self.net_arrays.delays_ms, cfg.present_steps, 1)
            self._w = self._bound.to_kernel(self.net_arrays.weights)
            self._theta = np.ascontiguousarray(self.net_arrays.theta_mV, dtype=np.float64) * 1e-3
            self._theta = self._theta.astype(np.float32)
            self._exc, self._inh = _neurons(cfg, "exc"), _neurons(cfg, "inh")
        return time.perf_counter() - t0

    def run_pass(self, inputs: PassInputs) -> np.ndarray:
        """Simulate the samples of ``inputs``; returns (n, n_neurons) int32 spike counts."""
        self.prepare()
        cfg = self.cfg
        n = len(inputs.images)
        counts = np.zeros((n, cfg.n_neurons), dtype=np.int32)
        if n == 0:
            return counts
        rates = np.ascontiguousarray(model.slot_input_rates(inputs.images, cfg,
                                                            inputs.intensities), dtype=np.float64)
        ids = np.ascontiguousarray(inputs.sample_ids, dtype=np.int64)
        attempts = np.ascontiguousarray(inputs.attempts, dtype=np.int64)
        reset_timer = -int(_treset_of(np.array([cfg.rest_ms * 1e-3]), cfg)[0])
        self._lib.stdp_fast_frozen(
            ctypes.byref(self._bound.model), _as_struct(self._exc), _as_struct(self._inh),
            _ptr(self._w, ctypes.c_float), _ptr(self._theta, ctypes.c_float), n,
            _ptr(rates, ctypes.c_double), _ptr(ids, ctypes.c_int64),
            _ptr(attempts, ctypes.c_int64), int(inputs.seed), int(inputs.stream), reset_timer,
            _ptr(counts, ctypes.c_int32))
        return counts


class FastTrainer:
    """A plastic network on the fast kernel; the state stays in this process's memory.

    The weights are float32 in the kernel's order (:class:`_Bound`); theta
    in volt as float64. ``threads`` threads share each presentation, each owning a
    range of neurons with their synapses.

    Parameters
    ----------
    cfg : Config
    net_arrays : FrozenNetwork
        The starting weights, theta and delays.
    threads : int
    """

    backend = "fast"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork, threads: int = 1):
        if threads < 1:
            raise ValueError(f"threads == {threads}, must be >= 1")
        self.cfg = cfg
        self.threads = min(int(threads), cfg.n_neurons)
        self._lib = kernel_library()
        warn_if_scalar()
        self.delays_ms = np.array(net_arrays.delays_ms, dtype=np.float64)
        self._bound = _Bound(cfg, self.delays_ms, cfg.sample_steps, self.threads)
        self._w = self._bound.to_kernel(net_arrays.weights)
        self.theta = np.array(net_arrays.theta_mV, dtype=np.float64) * 1e-3
        self._exc, self._inh = _neurons(cfg, "exc"), _neurons(cfg, "inh")
        self._in_last = np.full(cfg.n_input, NEVER, dtype=np.int32)
        self._post2before = np.zeros(cfg.n_neurons, dtype=np.float32)
        self._a1 = np.zeros(cfg.n_neurons, dtype=np.float32)
        self._scratch = np.zeros(cfg.n_neurons, dtype=np.float64)

    def prepare(self) -> float:
        """Nothing left to do: the kernel is loaded and the synapses grouped at construction."""
        return 0.0

    # -- weights and theta ----------------------------------------------------
    def get_weights(self) -> np.ndarray:
        """The input weights, (n_input, n_neurons) float64 (a new array)."""
        return self._bound.from_kernel(self._w).reshape(self.cfg.n_input, self.cfg.n_neurons)

    def set_weights(self, weights: np.ndarray) -> None:
        """Replace the input weights, (n_input, n_neurons), for the next sample."""
        self._w = self._bound.to_kernel(weights)

    def normalize_weights(self, total: float) -> None:
        """Rescale each neuron's input weights to sum to ``total`` (in the kernel)."""
        self._lib.stdp_fast_normalize(ctypes.byref(self._bound.model),
                                      _ptr(self._w, ctypes.c_float), float(total),
                                      _ptr(self._scratch, ctypes.c_double))

    def weight_moments(self) -> tuple[float, float]:
        """Mean and standard deviation of the input weights."""
        s = self._lib.stdp_fast_weight_stats(ctypes.byref(self._bound.model),
                                             _ptr(self._w, ctypes.c_float))
        count = self._w.size
        mean = s.sum / count
        return mean, float(np.sqrt(max(s.sum_sq / count - mean * mean, 0.0)))

    def get_theta_mV(self) -> np.ndarray:
        """The adaptive thresholds in mV, (n_neurons,)."""
        return self.theta * 1e3

    # -- dynamic state ----------------------------------------------------------
    def dynamic_state(self) -> dict[str, np.ndarray]:
        """The state in SI units under the exact engines' neuron keys, and the traces
        compact: ``syn_input_lastspike`` (s, per input neuron) and
        ``syn_post2before_neuron`` (per exc neuron)."""
        dt, cfg = self.cfg.dt_ms * 1e-3, self.cfg
        out = {}
        for name, arrays, ref in (("exc", self._exc, cfg.refractory_exc_ms),
                                  ("inh", self._inh, cfg.refractory_inh_ms)):
            out[f"{name}_v"] = arrays["v"].astype(np.float64)
            out[f"{name}_ge"] = arrays["ge"].astype(np.float64)
            out[f"{name}_gi"] = arrays["gi"].astype(np.float64)
            out[f"{name}_timer"] = _timer_of(arrays["treset"], cfg)
            out[f"{name}_lastspike"] = _seconds_of(arrays["tpost"], dt)
            out[f"{name}_not_refractory"] = (0 - arrays["tpost"].astype(np.int64)) >= \
                _timestep(ref * 1e-3, dt)
        out["exc_theta_volt"] = self.theta.copy()
        out["syn_input_lastspike"] = _seconds_of(self._in_last, dt)
        out["syn_post2before_neuron"] = self._post2before.astype(np.float64)
        return out

    def set_dynamic_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from ``state``, a :meth:`dynamic_state` of this or any other engine."""
        cfg, dt = self.cfg, self.cfg.dt_ms * 1e-3
        state = compact_synapse_traces(state, self.delays_ms, cfg)
        for name, arrays in (("exc", self._exc), ("inh", self._inh)):
            arrays["v"] = np.ascontiguousarray(state[f"{name}_v"], dtype=np.float32)
            arrays["ge"] = np.ascontiguousarray(state[f"{name}_ge"], dtype=np.float32)
            arrays["gi"] = np.ascontiguousarray(state[f"{name}_gi"], dtype=np.float32)
            arrays["treset"] = _treset_of(state[f"{name}_timer"], cfg)
            arrays["tpost"] = _steps_of(state[f"{name}_lastspike"], dt)
        self.theta = np.array(state["exc_theta_volt"], dtype=np.float64)
        self._in_last = _steps_of(state["syn_input_lastspike"], dt)
        self._post2before = np.ascontiguousarray(state["syn_post2before_neuron"],
                                                 dtype=np.float32)

    # -- a presentation ---------------------------------------------------------
    def present(self, image: np.ndarray, *, sample: int, attempt: int, intensity: float,
                seed: int) -> np.ndarray:
        """Show one image for present + rest; returns its (n_neurons,) response counts."""
        cfg = self.cfg
        rates = np.ascontiguousarray(model.input_rates(image, cfg, intensity), dtype=np.float64)
        counts = np.zeros(cfg.n_neurons, dtype=np.int32)
        plastic = _FastPlastic(_ptr(self._w, ctypes.c_float), _ptr(self.theta, ctypes.c_double),
                               _ptr(self._in_last, ctypes.c_int32),
                               _ptr(self._post2before, ctypes.c_float))
        self._lib.stdp_fast_train_present(
            ctypes.byref(self._bound.model), _as_struct(self._exc), _as_struct(self._inh),
            plastic, _ptr(self._a1, ctypes.c_float), _ptr(rates, ctypes.c_double), int(seed),
            model.STREAMS["train"], int(sample), int(attempt), _ptr(counts, ctypes.c_int32))
        return counts
