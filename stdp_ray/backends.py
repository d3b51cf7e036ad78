"""Brian2 shells: build the network and run it on the runtime or standalone device.

Two network *forms* exist:

``frozen``
    Weights and theta constant. A *pass* simulates several samples ("slots")
    in one Brian2 run: at the start of every slot a ``run_regularly``
    operation resets the dynamic state (potentials, conductances, timers) and
    loads the slot's image, intensity and random-stream key from
    ``TimedArray`` objects. The same objects run under the Cython runtime
    (the reference) and the C++ standalone device (compiled once per node,
    then re-run with new inputs through ``run_args``).
``train``
    Plastic input weights and adaptive theta; one sample per run, its state
    continuing from the previous sample as in the seed.

Brian2's device is process-global, so every entry point here sets the device
itself, inside the process that simulates.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import model
from .config import Config

logger = logging.getLogger(__name__)

__all__ = ["FrozenNetwork", "make_frozen_simulator", "RuntimeFrozen", "StandaloneFrozen",
           "RuntimeTrainer", "compiler_available", "build_cache_dir", "CACHE_ENV"]

#: Environment variable overriding where compiled standalone builds are cached.
CACHE_ENV = "STDP_RAY_CACHE"

# The input hash of :func:`stdp_ray.model.input_uniform`, in C++ and Cython.
_CPP_HASH = """
static inline uint64_t _stdp_splitmix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static inline double input_uniform(int64_t seed, int64_t stream, int64_t sample,
                                   int64_t attempt, int64_t neuron, int64_t step) {
    uint64_t h = _stdp_splitmix64((((uint64_t)seed) << 8) | (uint64_t)stream);
    h = _stdp_splitmix64(h ^ (uint64_t)sample);
    h = _stdp_splitmix64(h ^ ((((uint64_t)attempt) << 32) | (uint64_t)neuron));
    h = _stdp_splitmix64(h ^ (uint64_t)step);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}
"""

_CYTHON_HASH = """
from libc.stdint cimport uint64_t, int64_t

cdef inline uint64_t _stdp_splitmix64(uint64_t z) nogil:
    z = z + 0x9E3779B97F4A7C15ULL
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)

cdef double input_uniform(int64_t seed, int64_t stream, int64_t sample,
                          int64_t attempt, int64_t neuron, int64_t step) nogil:
    cdef uint64_t h = _stdp_splitmix64((<uint64_t>seed << 8) | <uint64_t>stream)
    h = _stdp_splitmix64(h ^ <uint64_t>sample)
    h = _stdp_splitmix64(h ^ ((<uint64_t>attempt << 32) | <uint64_t>neuron))
    h = _stdp_splitmix64(h ^ <uint64_t>step)
    return <double>(h >> 11) * (1.0 / 9007199254740992.0)
"""


def _input_function():
    """The Brian2 ``Function`` for the input hash (numpy, Cython and C++)."""
    from brian2 import Function

    def _py(seed, stream, sample, attempt, neuron, step):
        return model.input_uniform(seed, stream, sample, attempt, neuron, step)

    func = Function(_py, arg_units=[1] * 6, return_unit=1,
                    arg_types=["integer"] * 6, return_type="float", stateless=True)
    func.implementations.add_implementation("cpp", _CPP_HASH, name="input_uniform")
    func.implementations.add_implementation("cython", _CYTHON_HASH, name="input_uniform")
    return func


@dataclass(frozen=True)
class FrozenNetwork:
    """The arrays that define a trained network.

    Attributes
    ----------
    weights : ndarray, shape (n_input, n_neurons), float
        Input->exc weights (dimensionless), ``weights[i, j]`` from pixel i to neuron j.
    theta_mV : ndarray, shape (n_neurons,), float
        Adaptive threshold of each excitatory neuron in mV.
    delays_ms : ndarray, shape (n_input, n_neurons), float
        Input->exc delays in ms.
    """

    weights: np.ndarray
    theta_mV: np.ndarray
    delays_ms: np.ndarray


# --------------------------------------------------------------------------
# Building the network (device-agnostic: whatever device is active)
# --------------------------------------------------------------------------
def _build(cfg: Config, form: str, n_slots: int, net_arrays: FrozenNetwork,
           inputs: "PassInputs | None" = None):
    """Create the Brian2 objects of one network form; returns (Network, objects dict).

    For the frozen form, ``inputs`` fills the per-slot TimedArrays (zeros when
    None: a standalone build whose values come as ``run_args``).
    """
    from brian2 import (Equations, Network, NeuronGroup, SpikeMonitor, Synapses, TimedArray,
                        Hz, mV, ms)

    ns = model.namespace(cfg)
    ns["input_uniform"] = _input_function()
    n_in, n = cfg.n_input, cfg.n_neurons
    training = form == "train"

    inp = NeuronGroup(n_in, model.INPUT_EQS, threshold=model.INPUT_THRESHOLD, reset="",
                      name="inp", namespace=ns)

    theta_eqs = model.THETA_PLASTIC_EQS if training else model.THETA_FROZEN_EQS
    exc = NeuronGroup(n, Equations(model.EXC_EQS, **model.exc_constants(cfg)) + Equations(theta_eqs),
                      threshold=model.EXC_THRESHOLD,
                      reset=model.EXC_RESET_TRAINING if training else model.EXC_RESET,
                      refractory=cfg.refractory_exc_ms * ms, method="euler",
                      name="exc", namespace=ns)
    inh = NeuronGroup(n, Equations(model.INH_EQS, **model.inh_constants(cfg)),
                      threshold=model.INH_THRESHOLD, reset=model.INH_RESET,
                      refractory=cfg.refractory_inh_ms * ms, method="euler",
                      name="inh", namespace=ns)
    exc.v = cfg.v_rest_exc_mV * mV
    inh.v = cfg.v_rest_inh_mV * mV
    exc.theta = net_arrays.theta_mV * mV

    syn_ei = Synapses(exc, inh, on_pre="ge_post += w_exc_inh", name="exc_inh", namespace=ns)
    syn_ei.connect(j="i")
    syn_ie = Synapses(inh, exc, on_pre="gi_post += w_inh_exc", name="inh_exc", namespace=ns)
    syn_ie.connect("i != j")

    if training:
        syn = Synapses(inp, exc, model=model.STDP_MODEL, on_pre=model.STDP_ON_PRE,
                       on_post=model.STDP_ON_POST, name="inp_exc", namespace=ns)
    else:
        syn = Synapses(inp, exc, model=model.FROZEN_MODEL, on_pre=model.FROZEN_ON_PRE,
                       name="inp_exc", namespace=ns)
    # Pixel-major order: synapse k is (k // n, k % n), the layout of weights[i, j].
    pre_idx = np.repeat(np.arange(n_in, dtype=np.int32), n)
    post_idx = np.tile(np.arange(n, dtype=np.int32), n_in)
    syn.connect(i=pre_idx, j=post_idx)
    syn.delay = net_arrays.delays_ms.reshape(-1) * ms
    syn.w = net_arrays.weights.reshape(-1)

    mon = SpikeMonitor(exc, name="exc_spikes")
    objects = dict(inp=inp, exc=exc, inh=inh, syn=syn, syn_ei=syn_ei, syn_ie=syn_ie, mon=mon)

    if not training:
        # One slot per sample: load inputs and reset the state at its start.
        slot = cfg.sample_ms * ms
        if inputs is None:
            rates, ids, attempts = (np.zeros((n_slots, n_in)), np.zeros(n_slots, np.int32),
                                    np.zeros(n_slots, np.int32))
        else:
            rates = inputs.slot_rates_hz(cfg, n_slots)
            ids, attempts = inputs.padded_keys(n_slots)
            inp.seed = int(inputs.seed)
            inp.stream = int(inputs.stream)
        images = TimedArray(rates * Hz, dt=slot, name="slot_rates")
        keys = {"sample": TimedArray(ids, dt=slot, name="slot_sample"),
                "attempt": TimedArray(attempts, dt=slot, name="slot_attempt")}
        ns.update(slot_rates=images, slot_sample=keys["sample"], slot_attempt=keys["attempt"])
        inp.run_regularly(
            "sample = int(slot_sample(t))\n"
            "attempt = int(slot_attempt(t))\n"
            "start_step = t_in_timesteps\n"
            "rate = slot_rates(t, i)",
            dt=slot, when="start", name="inp_load")
        for group, rest in ((exc, cfg.v_rest_exc_mV), (inh, cfg.v_rest_inh_mV)):
            group.run_regularly(
                f"v = {rest!r}*mV\nge = 0\ngi = 0\ntimer = {cfg.rest_ms!r}*ms",
                dt=slot, when="start", name=f"{group.name}_reset")
        objects.update(slot_rates=images, slot_sample=keys["sample"],
                       slot_attempt=keys["attempt"])

    net = Network(list(objects.values()) if training else
                  [o for k, o in objects.items() if not k.startswith("slot_")])
    return net, objects


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
    slot, within = np.divmod(steps, cfg.sample_steps)
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
        rates = np.zeros((n_slots, cfg.n_input))
        n = len(self.images)
        rates[:n] = (self.images.astype(float) / cfg.input_rate_divisor
                     * self.intensities[:, None])
        return rates


class RuntimeFrozen:
    """Frozen passes on Brian2's Cython runtime (the reference engine)."""

    backend = "runtime"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork):
        self.cfg = cfg
        self.net_arrays = net_arrays

    def run_pass(self, inputs: PassInputs) -> np.ndarray:
        """Simulate ``inputs`` (one slot per sample); returns (n, n_neurons) spike counts."""
        from brian2 import ms

        _activate_runtime()
        n = len(inputs.images)
        net, objects = _build(self.cfg, "frozen", n, self.net_arrays, inputs)
        net.run(n * self.cfg.sample_ms * ms, namespace={})
        mon = objects["mon"]
        return count_slot_spikes(np.asarray(mon.i[:]), np.asarray(mon.t_[:]), self.cfg, n)


#: Compiler flags for both engines. Brian2's defaults add -ffast-math and
#: -march=native, which let the compiler reassociate and fuse floating-point
#: operations differently in Cython and standalone code; without them both
#: engines compute bit-identical trajectories.
COMPILE_ARGS = ["-w", "-O3", "-fno-fast-math", "-ffp-contract=off", "-std=c++11"]


def _set_prefs() -> None:
    import brian2

    brian2.prefs.codegen.cpp.extra_compile_args_gcc = list(COMPILE_ARGS)
    # Brian2's Cython cache key ignores compiler flags: keep our own cache.
    flags = hashlib.sha256(" ".join(COMPILE_ARGS).encode()).hexdigest()[:8]
    brian2.prefs.codegen.runtime.cython.cache_dir = str(build_cache_dir().parent / f"cython-{flags}")
    brian2.prefs.codegen.cpp.extra_compile_args_msvc = ["/Ox", "/fp:precise"]
    brian2.prefs.logging.file_log = False
    brian2.prefs.logging.delete_log_on_exit = True


def _activate_runtime() -> None:
    import brian2

    if type(brian2.get_device()).__name__ != "RuntimeDevice":
        brian2.device.reinit()
        brian2.set_device("runtime")
    _set_prefs()
    brian2.prefs.codegen.target = "cython"


# --------------------------------------------------------------------------
# C++ standalone
# --------------------------------------------------------------------------
def compiler_available() -> bool:
    """Whether a C++ compiler that Brian2's standalone device can use is on PATH."""
    return shutil.which(os.environ.get("CXX", "g++")) is not None or shutil.which("c++") is not None


def build_cache_dir() -> Path:
    """Node-local directory of compiled standalone builds (``$STDP_RAY_CACHE`` overrides)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stdp_ray" / "standalone"


def _build_key(cfg: Config, form: str, n_slots: int) -> str:
    import brian2

    blob = f"{cfg.model_hash()}|{form}|{n_slots}|brian2={brian2.__version__}".encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class StandaloneFrozen:
    """Frozen passes on a compiled C++ standalone binary, reused for every pass.

    The binary is compiled once per node into :func:`build_cache_dir` (under a
    file lock), then copied once into a project directory private to this
    process, where Brian2 finds its sources unchanged and does not recompile.
    Each pass runs the binary with new weights, theta, delays and inputs as
    ``run_args`` and its own results directory, deleted after reading.
    """

    backend = "standalone"
    _active: "StandaloneFrozen | None" = None  # the project this process's device holds

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork, n_slots: int):
        if n_slots < 1:
            raise ValueError(f"n_slots == {n_slots}, must be >= 1")
        self.cfg = cfg
        self.net_arrays = net_arrays
        self.n_slots = int(n_slots)
        self.key = _build_key(cfg, "frozen", self.n_slots)
        self._objects = None
        self._passes = 0
        self._network_args = None

    def _arg_file(self, name: str, values: np.ndarray, tag: str = "net") -> str:
        """Write one run-time array into the project; returns its ``name=file`` argument."""
        rel = os.path.join("static_arrays", f"arg_{name.replace('.', '_')}_{tag}.dat")
        path = self.project_dir / rel
        tmp = path.with_suffix(".tmp")
        np.ascontiguousarray(values, dtype=np.float64).tofile(tmp)
        os.replace(tmp, path)
        return f"{name}={rel}"

    # -- compile / attach -------------------------------------------------
    def _ensure_built(self) -> None:
        if StandaloneFrozen._active is self and self._objects is not None:
            return
        import brian2
        from brian2 import ms

        cache = build_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        shared = cache / self.key
        private = Path(tempfile.mkdtemp(prefix=f"{self.key}.", dir=cache))
        atexit.register(shutil.rmtree, private, True)
        t0 = time.perf_counter()
        with open(cache / f"{self.key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (shared / "main").exists():
                shutil.rmtree(private)
                shutil.copytree(shared, private, symlinks=True)
                fresh = False
            else:
                fresh = True
            self._compile(private)
            if fresh:
                # Publish the build for the other workers of this node.
                tmp = Path(tempfile.mkdtemp(prefix=f"{self.key}.publish.", dir=cache))
                shutil.rmtree(tmp)
                shutil.copytree(private, tmp, symlinks=True,
                                ignore=shutil.ignore_patterns("results*"))
                os.replace(tmp, shared) if not shared.exists() else shutil.rmtree(tmp)
        logger.info("standalone build %s ready in %s (%.1f s, %s)", self.key, private,
                    time.perf_counter() - t0, "compiled" if fresh else "reused")
        self.project_dir = private
        self._network_args = None
        StandaloneFrozen._active = self
        _ = brian2, ms

    def _compile(self, directory: Path) -> None:
        import brian2
        from brian2 import ms

        brian2.device.reinit()
        brian2.set_device("cpp_standalone", directory=str(directory), build_on_run=False)
        _set_prefs()
        brian2.prefs.devices.cpp_standalone.openmp_threads = 0
        placeholder = FrozenNetwork(np.zeros((self.cfg.n_input, self.cfg.n_neurons)),
                                    np.zeros(self.cfg.n_neurons),
                                    np.zeros((self.cfg.n_input, self.cfg.n_neurons)))
        net, objects = _build(self.cfg, "frozen", self.n_slots, placeholder)
        # Apply run-time arrays after the synapses exist but before the spike
        # queues read the delays (Brian2's default position is after that).
        brian2.device.apply_run_args()
        net.run(self.n_slots * self.cfg.sample_ms * ms, namespace={})
        brian2.device.build(directory=str(directory), compile=True, run=False,
                            with_output=False)
        self._net, self._objects = net, objects

    # -- run ----------------------------------------------------------------
    def run_pass(self, inputs: PassInputs) -> np.ndarray:
        """Simulate up to ``n_slots`` samples in one binary run; returns (n, n_neurons) counts."""
        import brian2

        n = len(inputs.images)
        if n > self.n_slots:
            raise ValueError(f"{n} samples, more than the build's n_slots == {self.n_slots}")
        self._ensure_built()
        o = self._objects
        sample_ids, attempts = inputs.padded_keys(self.n_slots)
        if self._network_args is None:
            # The network's arrays are the same for every pass: write them once.
            self._network_args = [
                self._arg_file("inp_exc.w", self.net_arrays.weights.reshape(-1)),
                self._arg_file("inp_exc.delay", self.net_arrays.delays_ms.reshape(-1) * 1e-3),
                self._arg_file("exc.theta", self.net_arrays.theta_mV * 1e-3),
            ]
        self._passes += 1
        tag = f"{os.getpid()}_{self._passes}"
        pass_files = [
            self._arg_file("slot_rates.values", inputs.slot_rates_hz(self.cfg, self.n_slots), tag),
            self._arg_file("slot_sample.values", sample_ids.astype(np.float64), tag),
            self._arg_file("slot_attempt.values", attempts.astype(np.float64), tag),
        ]
        run_args = self._network_args + pass_files + [
            f"inp.seed={int(inputs.seed)}", f"inp.stream={int(inputs.stream)}"]
        results = f"results_{tag}"
        device = brian2.get_device()
        try:
            device.run(directory=str(self.project_dir), results_directory=results,
                       with_output=False, run_args=run_args)
            mon = self._objects["mon"]
            counts = count_slot_spikes(np.asarray(mon.i[:]), np.asarray(mon.t_[:]), self.cfg,
                                       self.n_slots)
        finally:
            shutil.rmtree(self.project_dir / results, ignore_errors=True)
            for arg in pass_files:
                try:
                    os.remove(self.project_dir / arg.split("=", 1)[1])
                except OSError:
                    pass
        return counts[:n]


def make_frozen_simulator(cfg: Config, net_arrays: FrozenNetwork, n_slots: int):
    """The frozen-pass simulator for ``cfg.backend``."""
    if cfg.backend == "runtime":
        return RuntimeFrozen(cfg, net_arrays)
    return StandaloneFrozen(cfg, net_arrays, n_slots)


# --------------------------------------------------------------------------
# Training (runtime device): one persistent network, one sample per run
# --------------------------------------------------------------------------
class RuntimeTrainer:
    """A plastic network on the Cython runtime whose state carries from sample to sample."""

    backend = "runtime"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork):
        _activate_runtime()
        self.cfg = cfg
        self.net, self.o = _build(cfg, "train", 1, net_arrays)
        self.net.run(0 * _ms(), namespace={})

    def present(self, image: np.ndarray, *, sample: int, attempt: int, intensity: float,
                seed: int) -> np.ndarray:
        """Show one image for present+rest; returns its (n_neurons,) response counts."""
        from brian2 import Hz, ms

        o, cfg = self.o, self.cfg
        inp = o["inp"]
        start = int(round(self.net.t_ / (cfg.dt_ms * 1e-3)))
        inp.rate = model.input_rates(image, cfg, intensity) * Hz
        inp.seed = int(seed)
        inp.stream = model.STREAMS["train"]
        inp.sample = int(sample)
        inp.attempt = int(attempt)
        inp.start_step = start
        before = o["mon"].num_spikes
        self.net.run(cfg.sample_ms * ms, namespace={})
        i = np.asarray(o["mon"].i[before:])
        t = np.asarray(o["mon"].t_[before:])
        steps = np.round(t / (cfg.dt_ms * 1e-3)).astype(np.int64) - start
        return np.bincount(i[steps < cfg.present_steps], minlength=cfg.n_neurons).astype(np.int32)

    # -- state -------------------------------------------------------------
    def get_weights(self) -> np.ndarray:
        return np.asarray(self.o["syn"].w[:]).reshape(self.cfg.n_input, self.cfg.n_neurons)

    def set_weights(self, weights: np.ndarray) -> None:
        self.o["syn"].w[:] = np.asarray(weights).reshape(-1)

    def get_theta_mV(self) -> np.ndarray:
        return np.asarray(self.o["exc"].theta_[:]) * 1e3

    def dynamic_state(self) -> dict[str, np.ndarray]:
        """Everything besides weights/theta/delays needed to continue exactly (SI units)."""
        o = self.o
        state = {"t_steps": np.array(int(round(self.net.t_ / (self.cfg.dt_ms * 1e-3))))}
        for g in ("exc", "inh"):
            for var in ("v", "ge", "gi", "timer", "lastspike"):
                state[f"{g}_{var}"] = np.asarray(getattr(o[g], var + "_")[:], dtype=float)
            state[f"{g}_not_refractory"] = np.asarray(o[g].not_refractory[:], dtype=bool)
        for var in ("pre", "post1", "post2", "post2before", "lastupdate"):
            state[f"syn_{var}"] = np.asarray(getattr(o["syn"], var + "_")[:], dtype=float)
        # theta in volts as simulated: a round trip through mV is not exact.
        state["exc_theta_volt"] = np.asarray(o["exc"].theta_[:], dtype=float)
        return state

    def set_dynamic_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`dynamic_state` output (network time included)."""
        o = self.o
        for g in ("exc", "inh"):
            for var in ("v", "ge", "gi", "timer", "lastspike"):
                getattr(o[g], var + "_")[:] = state[f"{g}_{var}"]
            o[g].not_refractory[:] = state[f"{g}_not_refractory"]
        for var in ("pre", "post1", "post2", "post2before", "lastupdate"):
            getattr(o["syn"], var + "_")[:] = state[f"syn_{var}"]
        o["exc"].theta_[:] = state["exc_theta_volt"]
        self.net.t_ = float(int(state["t_steps"]) * self.cfg.dt_ms * 1e-3)


def _ms():
    from brian2 import ms

    return ms
