"""The native engine: a hand-written C++ kernel of exactly this network.

The kernel (``native_kernel.cpp``) mirrors the code Brian2 generates for the
network of :mod:`stdp_ray.model` step by step and operation by operation, so
it reproduces the standalone and runtime engines bit for bit (tested), while
the state stays in memory from sample to sample: no process per sample, no
file I/O, no per-step interpreter. This module computes the constants Brian2
folds into its generated code, groups the input synapses by delay in the
order of Brian2's spike queue, and calls the kernel through ``ctypes``.

The kernel is compiled when the package is installed (``setup.py``), else
once per node into the build cache (:mod:`.kernels`).
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
from .base import _TIMES, PassInputs, PlasticState, expand_synapse_traces
from .kernels import KernelBuild, KernelUnavailable
from .kernels import pointer as _ptr
from .layout import SynapseLayout, delay_groups, delay_steps, thread_splits

logger = logging.getLogger(__name__)

__all__ = ["NativeFrozen", "NativeTrainer", "kernel_library", "kernel_constants", "unavailable",
           "delay_groups", "NativeUnavailable", "KERNEL_FLAGS"]

#: The installed kernel (built by setup.py as an extension without Python bindings).
_INSTALLED = "stdp_ray.engines._native_kernel"
_HERE = Path(__file__).resolve().parent
_SOURCES = (_HERE / "native_kernel.cpp", _HERE / "input_hash.h")
#: Flags of both builds. No fast-math and no FMA contraction: the kernel must
#: round exactly as Brian2's generated code (also built with these).
KERNEL_FLAGS = ["-O3", "-march=native", "-std=c++17", "-fno-fast-math", "-ffp-contract=off", "-fopenmp",
                "-fPIC", "-shared"]
#: Version of the kernel's C interface this module speaks.
_ABI = 1


#: The native kernel is neither installed nor can it be compiled here.
NativeUnavailable = KernelUnavailable


# --------------------------------------------------------------------------
# ctypes mirror of the kernel's structs
# --------------------------------------------------------------------------
_dp = ctypes.POINTER(ctypes.c_double)
_u8p = ctypes.POINTER(ctypes.c_uint8)
_i32p = ctypes.POINTER(ctypes.c_int32)
_i64p = ctypes.POINTER(ctypes.c_int64)


class _Layer(ctypes.Structure):
    _fields_ = [("c_ge", ctypes.c_double), ("c_gi", ctypes.c_double), ("c_v", ctypes.c_double),
                ("a", ctypes.c_double), ("k", ctypes.c_double), ("e_inh", ctypes.c_double),
                ("v_reset", ctypes.c_double), ("v_thresh", ctypes.c_double),
                ("ref_steps", ctypes.c_int64)]


class _Model(ctypes.Structure):
    _fields_ = [("n_in", ctypes.c_int64), ("n", ctypes.c_int64),
                ("present_steps", ctypes.c_int64), ("steps", ctypes.c_int64),
                ("max_delay", ctypes.c_int64), ("dt", ctypes.c_double),
                ("exc", _Layer), ("inh", _Layer),
                ("c_theta", ctypes.c_double), ("timer_min", ctypes.c_double),
                ("theta_plus", ctypes.c_double), ("w_exc_inh", ctypes.c_double),
                ("w_inh_exc", ctypes.c_double), ("inv_tau_pre", ctypes.c_double),
                ("inv_tau_post1", ctypes.c_double), ("inv_tau_post2", ctypes.c_double),
                ("nu_pre", ctypes.c_double), ("nu_post", ctypes.c_double),
                ("w_max", ctypes.c_double),
                ("grp_syn", _i32p), ("grp_post", _i32p), ("post_pos", _i32p),
                ("n_threads", ctypes.c_int64), ("grp_split", _i32p)]


class _Neurons(ctypes.Structure):
    _fields_ = [("v", _dp), ("ge", _dp), ("gi", _dp), ("timer", _dp), ("lastspike", _dp),
                ("not_refractory", _u8p)]


class _Synapses(ctypes.Structure):
    _fields_ = [("rec", _dp), ("post2before", _dp), ("w", _dp)]


class _PlasticIO(ctypes.Structure):
    _fields_ = [("weights", _dp), ("time_shift", ctypes.c_double)]


#: Columns of the kernel's synapse records (``SynapseRecord``), in order.
RECORD = ("w", "lastupdate", "post1", "post2", "pre")


# --------------------------------------------------------------------------
# The library
# --------------------------------------------------------------------------
#: The exact kernel's build (see :mod:`.kernels`).
BUILD = KernelBuild(name="native", sources=_SOURCES, flags=tuple(KERNEL_FLAGS),
                    installed=_INSTALLED, abi_symbol="stdp_native_abi", abi=_ABI,
                    hint="reinstall stdp-ray where a C++ compiler works, or use "
                         "--backend standalone")


def _compile_into_cache() -> Path:
    """Compile the kernel once per node into the build cache; returns the library's path."""
    return BUILD.compile_into_cache()


@functools.lru_cache(maxsize=1)
def kernel_library() -> ctypes.CDLL:
    """The loaded kernel: the installed build, else one compiled once per node."""
    lib = BUILD.library()
    lib.stdp_native_train_present.restype = ctypes.c_int64
    lib.stdp_native_train_present.argtypes = [
        ctypes.POINTER(_Model), _Neurons, _dp, _Neurons, _Synapses, ctypes.POINTER(_PlasticIO),
        _dp,
        ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, _i32p]
    lib.stdp_native_frozen.restype = ctypes.c_int64
    lib.stdp_native_frozen.argtypes = [
        ctypes.POINTER(_Model), _Neurons, _dp, _Neurons, _dp, ctypes.c_int64, _dp, _i64p, _i64p,
        ctypes.c_int64, ctypes.c_int64, ctypes.c_double, ctypes.c_double, ctypes.c_double,
        ctypes.c_double, _i32p]
    return lib


def unavailable() -> str | None:
    """Why the native kernel cannot be used here, or None when it loads."""
    try:
        kernel_library()
    except (NativeUnavailable, OSError) as exc:
        return f"native engine unavailable: {exc}"
    return None


# --------------------------------------------------------------------------
# Constants and synapse groups
# --------------------------------------------------------------------------
def _sympy_float(x: float) -> float:
    """A number as Brian2's generated code spells a constant that sympy folded (15 digits)."""
    return float(f"{x:.15g}")


def _timestep(t: float, dt: float) -> int:
    """Brian2's ``_timestep``: the step of time ``t`` (with its 1e-3 dt tolerance)."""
    return int((t + 1e-3 * dt) / dt)


def kernel_constants(cfg: Config, max_delay: int, steps: int) -> _Model:
    """The constants of :mod:`stdp_ray.model`'s equations as Brian2's generated code holds them.

    Brian2 turns ``dv/dt = (v_rest - v + ge*-v + gi*(e_inh - v)) / tau_mem``
    (forward Euler) into
    ``v + dt/ms * ((a + ((-k)*(ge*v) + k*(gi*(e_inh - v)))) - k*v)`` with
    ``k = 1/tau_mem`` in 1/ms and ``a = 0.0 - (k * -v_rest)*mV``. Brian2
    folds these in two rounds, each printing its numbers with 15 significant
    digits: first ``k``, then ``k * -v_rest`` from that printed ``k`` (so
    ``-61.7 mV`` over ``9 ms`` is ``0.111111111111111 * 61.7 =
    6.85555555555555``, not the ``...556`` of ``61.7 / 9``); the decays as
    ``x + (-dt/tau)*x``; event-driven traces as
    ``trace * exp((1.0/tau) * (-(t - lastupdate)))``. The other constants are
    the namespace's (:func:`stdp_ray.model.namespace`) in SI units.
    """
    dt = cfg.dt_ms * 1e-3
    ms, mV = 1e-3, 1e-3

    def layer(tau_ms, rest_mV, e_inh_mV, reset_mV, thresh_mV, refractory_ms):
        k = _sympy_float(1.0 / tau_ms)
        return _Layer(c_ge=(-dt) / (cfg.tau_ge_ms * ms), c_gi=(-dt) / (cfg.tau_gi_ms * ms),
                      c_v=dt / ms, a=0.0 - (_sympy_float(k * -rest_mV) * mV),
                      k=k, e_inh=_sympy_float(e_inh_mV) * mV,
                      v_reset=reset_mV * mV, v_thresh=thresh_mV * mV,
                      ref_steps=_timestep(refractory_ms * ms, dt))

    return _Model(
        n_in=cfg.n_input, n=cfg.n_neurons, present_steps=cfg.present_steps, steps=steps,
        max_delay=max_delay, dt=dt,
        exc=layer(cfg.tau_exc_ms, cfg.v_rest_exc_mV, cfg.e_inh_exc_mV, cfg.v_reset_exc_mV,
                  cfg.v_thresh_exc_mV, cfg.refractory_exc_ms),
        inh=layer(cfg.tau_inh_ms, cfg.v_rest_inh_mV, cfg.e_inh_inh_mV, cfg.v_reset_inh_mV,
                  cfg.v_thresh_inh_mV, cfg.refractory_inh_ms),
        c_theta=(-dt) / (cfg.tau_theta_ms * ms), timer_min=cfg.timer_min_ms * ms,
        theta_plus=cfg.theta_plus_mV * mV, w_exc_inh=cfg.w_exc_inh, w_inh_exc=cfg.w_inh_exc,
        inv_tau_pre=1.0 / (cfg.tau_pre_ms * ms), inv_tau_post1=1.0 / (cfg.tau_post1_ms * ms),
        inv_tau_post2=1.0 / (cfg.tau_post2_ms * ms), nu_pre=cfg.nu_pre, nu_post=cfg.nu_post,
        w_max=cfg.w_max)


class _Kernel:
    """A model bound to its synapse groups (keeps the arrays the struct points to alive).

    Attributes
    ----------
    syn : ndarray of int32
        Group order: position ``e`` holds synapse ``syn[e]`` (pixel-major index).
    inverse : ndarray of int64
        Pixel-major synapse ``k`` sits at position ``inverse[k]``.
    """

    def __init__(self, cfg: Config, delays_ms: np.ndarray, steps: int, threads: int = 1):
        layout = SynapseLayout(cfg, delays_ms, threads)
        self.layout = layout
        self.syn, self.inverse = layout.syn, layout.inverse
        # Each exc neuron's input synapses, ascending in memory (on_post visits them all).
        self.post_pos = np.ascontiguousarray(np.sort(layout.positions_by_neuron(), axis=1),
                                             dtype=np.int32)
        self.model = kernel_constants(cfg, layout.max_delay, steps)
        self.model.n_threads = threads
        self.model.grp_syn = _ptr(layout.syn, ctypes.c_int32)
        self.model.grp_post = _ptr(layout.post, ctypes.c_int32)
        self.model.post_pos = _ptr(self.post_pos, ctypes.c_int32)
        self.model.grp_split = _ptr(layout.split, ctypes.c_int32)

    def to_groups(self, values: np.ndarray) -> np.ndarray:
        """A pixel-major synapse array in group order (a new contiguous array)."""
        return self.layout.to_groups(values)

    def from_groups(self, values: np.ndarray) -> np.ndarray:
        """A group-order synapse array back in pixel-major order."""
        return self.layout.from_groups(values)


#: Brian2's units of :func:`stdp_ray.model.slot_reset_values` as plain factors.
_UNITS = {"mV": 1e-3, "ms": 1e-3, "second": 1.0, "1": 1.0}


def _reset_si(cfg: Config, layer: str) -> dict[str, float]:
    """The slot-start values of a layer in SI units, each ``number * unit`` as Brian2 computes it."""
    return {name: float(number * _UNITS[unit])
            for name, (number, unit) in model.slot_reset_values(cfg, layer).items()}


#: The fields of the kernel's ``Neurons`` struct, in order (doubles, then the flag).
_NEURON_VARS = ("v", "ge", "gi", "timer", "lastspike", "not_refractory")


def _neurons(arrays: dict[str, np.ndarray]) -> _Neurons:
    return _Neurons(*(_ptr(arrays[v], ctypes.c_double) for v in _NEURON_VARS[:-1]),
                    _ptr(arrays["not_refractory"].view(np.uint8), ctypes.c_uint8))


def _scratch_neurons(n: int) -> dict[str, np.ndarray]:
    out = {v: np.zeros(n) for v in _NEURON_VARS[:-1]}
    out["not_refractory"] = np.ones(n, dtype=bool)
    return out


# --------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------
class NativeFrozen:
    """Frozen passes on the native kernel: every sample from the slot-start state.

    Parameters
    ----------
    cfg : Config
    net_arrays : FrozenNetwork
    n_slots : int
        Most samples per pass, as every frozen engine takes it (this kernel
        needs no build per size).
    """

    backend = "native"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork, n_slots: int = 1):
        if n_slots < 1:
            raise ValueError(f"n_slots == {n_slots}, must be >= 1")
        self.cfg, self.net_arrays, self.n_slots = cfg, net_arrays, int(n_slots)
        self._kernel: _Kernel | None = None

    def prepare(self) -> float:
        """Load (or compile once per node) the kernel and group the synapses; returns seconds."""
        t0 = time.perf_counter()
        if self._kernel is None:
            self._lib = kernel_library()
            cfg = self.cfg
            self._kernel = _Kernel(cfg, self.net_arrays.delays_ms, cfg.frozen_slot_steps)
            # The kernel reads frozen weights in the order of the delay groups.
            w = np.ascontiguousarray(self.net_arrays.weights, dtype=np.float64).reshape(-1)
            self._w = self._kernel.to_groups(w)
            self._theta = np.ascontiguousarray(self.net_arrays.theta_mV, dtype=np.float64) * 1e-3
            self._exc, self._inh = _scratch_neurons(cfg.n_neurons), _scratch_neurons(cfg.n_neurons)
        return time.perf_counter() - t0

    def run_pass(self, inputs: PassInputs) -> np.ndarray:
        """Simulate the samples of ``inputs``; returns (n, n_neurons) int32 spike counts."""
        self.prepare()
        cfg = self.cfg
        n = len(inputs.images)
        rates = np.ascontiguousarray(model.slot_input_rates(inputs.images, cfg,
                                                            inputs.intensities), dtype=np.float64)
        ids = np.ascontiguousarray(inputs.sample_ids, dtype=np.int64)
        attempts = np.ascontiguousarray(inputs.attempts, dtype=np.int64)
        counts = np.zeros((n, cfg.n_neurons), dtype=np.int32)
        if n == 0:
            return counts
        exc_reset, inh_reset = _reset_si(cfg, "exc"), _reset_si(cfg, "inh")
        self._lib.stdp_native_frozen(
            ctypes.byref(self._kernel.model), _neurons(self._exc), _ptr(self._theta, ctypes.c_double),
            _neurons(self._inh), _ptr(self._w, ctypes.c_double), n,
            _ptr(rates, ctypes.c_double), _ptr(ids, ctypes.c_int64),
            _ptr(attempts, ctypes.c_int64), int(inputs.seed), int(inputs.stream),
            exc_reset["v"], inh_reset["v"], exc_reset["timer"], exc_reset["lastspike"],
            _ptr(counts, ctypes.c_int32))
        return counts


class NativeTrainer(PlasticState):
    """A plastic network on the native kernel; the state stays in this process's memory.

    ``threads`` threads share each presentation, each owning a range of
    neurons with their synapses; the result is the same for any number.

    The weights stay pixel-major (``self.weights``, as in every engine); the
    other synapse variables live in the kernel's layout: one record per
    synapse (:data:`RECORD`: weight, lastupdate, post1, post2, pre) in group
    order, and ``post2before`` (written on post spikes only) beside them. The
    kernel loads the weights into the records before a presentation and
    writes them back after it.
    """

    backend = "native"
    _SYN_VARS = ("pre", "post1", "post2", "post2before", "lastupdate")

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork, threads: int = 1):
        if threads < 1:
            raise ValueError(f"threads == {threads}, must be >= 1")
        super().__init__(cfg, net_arrays)
        self.threads = min(int(threads), cfg.n_neurons)
        self._lib = kernel_library()
        self._kernel = _Kernel(cfg, self.delays_ms, cfg.sample_steps, self.threads)
        self._records = np.zeros((cfg.n_input * cfg.n_neurons, len(RECORD)))
        self._post2before = np.empty(cfg.n_input * cfg.n_neurons)
        self._load_synapses({v: self.state.pop(("syn", v)) for v in self._SYN_VARS})

    def _load_synapses(self, syn: dict[str, np.ndarray]) -> None:
        """Pixel-major synapse variables into the kernel's layout."""
        k = self._kernel
        for col, name in enumerate(RECORD[1:], start=1):
            self._records[:, col] = k.to_groups(syn[name])
        self._post2before[:] = k.to_groups(syn["post2before"])
        for key, arr in self.state.items():
            self.state[key] = np.ascontiguousarray(arr)
        self.theta = np.ascontiguousarray(self.theta, dtype=np.float64)

    def prepare(self) -> float:
        """Nothing left to do: the kernel is loaded and the synapses grouped at construction."""
        return 0.0

    def dynamic_state(self) -> dict[str, np.ndarray]:
        out = super().dynamic_state()
        k = self._kernel
        for col, name in enumerate(RECORD[1:], start=1):
            out[f"syn_{name}"] = k.from_groups(self._records[:, col])
        out["syn_post2before"] = k.from_groups(self._post2before)
        return out

    def set_dynamic_state(self, state: dict[str, np.ndarray]) -> None:
        state = expand_synapse_traces(state, self.delays_ms, self.cfg)
        super().set_dynamic_state(state)  # the neurons and theta (self.state holds no synapses)
        self._load_synapses({v: np.asarray(state[f"syn_{v}"], dtype=np.float64)
                             for v in self._SYN_VARS})

    def _after_sample(self) -> None:
        # The kernel shifted every lastupdate; the neurons' lastspike here, in
        # place, with the same arithmetic as PlasticState's.
        for key in _TIMES:
            if key[0] != "syn":
                np.subtract(self.state[key], self.cfg.sample_ms * 1e-3, out=self.state[key])

    def present(self, image: np.ndarray, *, sample: int, attempt: int, intensity: float,
                seed: int) -> np.ndarray:
        """Show one image for present+rest; returns its (n_neurons,) response counts."""
        cfg = self.cfg
        rates = np.ascontiguousarray(model.input_rates(image, cfg, intensity), dtype=np.float64)
        self.weights = np.ascontiguousarray(self.weights, dtype=np.float64)
        st = self.state
        syn = _Synapses(_ptr(self._records, ctypes.c_double),
                        _ptr(self._post2before, ctypes.c_double), None)
        io = _PlasticIO(_ptr(self.weights, ctypes.c_double), cfg.sample_ms * 1e-3)
        counts = np.zeros(cfg.n_neurons, dtype=np.int32)
        self._lib.stdp_native_train_present(
            ctypes.byref(self._kernel.model),
            _neurons({v: st[("exc", v)] for v in _NEURON_VARS}),
            _ptr(self.theta, ctypes.c_double),
            _neurons({v: st[("inh", v)] for v in _NEURON_VARS}), syn, ctypes.byref(io),
            _ptr(rates, ctypes.c_double), int(seed), model.STREAMS["train"], int(sample),
            int(attempt), _ptr(counts, ctypes.c_int32))
        self._after_sample()
        return counts
