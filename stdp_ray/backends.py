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
import functools
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


def network_fingerprint(arrays: FrozenNetwork) -> str:
    """Stable hash of a network's arrays (names simulators, run-time files and manifests)."""
    h = hashlib.sha256()
    for arr in (arrays.weights, arrays.theta_mV, arrays.delays_ms):
        a = np.ascontiguousarray(arr, dtype=np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------
# Building the network (device-agnostic: whatever device is active)
# --------------------------------------------------------------------------
def _build(cfg: Config, form: str, n_slots: int, net_arrays: FrozenNetwork,
           inputs: "PassInputs | None" = None, slots: bool = True):
    """Create the Brian2 objects of one network form; returns (Network, objects dict).

    For the frozen form with ``slots``, ``inputs`` fills the per-slot
    TimedArrays (zeros when None: a standalone build whose values come as
    ``run_args``); without ``slots`` the caller sets inputs and resets the
    state before each one-sample run.
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

    if not training and slots:
        # One slot per sample: load inputs and reset the state at its start.
        slot = cfg.frozen_slot_ms * ms
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
                f"v = {rest!r}*mV\nge = 0\ngi = 0\ntimer = {cfg.rest_ms!r}*ms\n"
                "lastspike = -1e4*second\nnot_refractory = True",
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
        rates = np.zeros((n_slots, cfg.n_input))
        n = len(self.images)
        rates[:n] = (self.images.astype(float) / cfg.input_rate_divisor
                     * self.intensities[:, None])
        return rates


class RuntimeFrozen:
    """Frozen samples on Brian2's Cython runtime: the seed's procedure, the reference.

    One network is built and kept; each sample is one ``run`` of present + rest
    from t = 0, after Python sets its input and resets the dynamic state to
    what a standalone slot starts with (so both engines agree bit for bit).
    """

    backend = "runtime"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork):
        self.cfg = cfg
        self.net_arrays = net_arrays
        self._net = None

    def run_pass(self, inputs: PassInputs) -> np.ndarray:
        """Simulate ``inputs`` one after another; returns (n, n_neurons) spike counts."""
        from brian2 import Hz, mV, ms

        _activate_runtime()
        cfg = self.cfg
        if self._net is None:
            self._net, self._o = _build(cfg, "frozen", 1, self.net_arrays, slots=False)
        o, net = self._o, self._net
        counts = np.zeros((len(inputs.images), cfg.n_neurons), dtype=np.int32)
        o["inp"].seed, o["inp"].stream = int(inputs.seed), int(inputs.stream)
        for k in range(len(inputs.images)):
            o["inp"].rate = (inputs.images[k].astype(float) / cfg.input_rate_divisor
                             * inputs.intensities[k]) * Hz
            o["inp"].sample, o["inp"].attempt = int(inputs.sample_ids[k]), int(inputs.attempts[k])
            o["inp"].start_step = 0
            for group, rest in ((o["exc"], cfg.v_rest_exc_mV), (o["inh"], cfg.v_rest_inh_mV)):
                group.v = rest * mV
                group.ge = 0
                group.gi = 0
                group.timer = cfg.rest_ms * ms
                group.lastspike = -1e4 * ms * 1000
                group.not_refractory = True
            net.t_ = 0.0
            before = o["mon"].num_spikes
            net.run(cfg.frozen_slot_ms * ms, namespace={})
            counts[k] = count_slot_spikes(np.asarray(o["mon"].i[before:]),
                                          np.asarray(o["mon"].t_[before:]), cfg, 1)[0]
        return counts


#: Compiler flags for both engines. Brian2's defaults add -ffast-math, which
#: lets the compiler reassociate and fuse floating-point operations
#: differently in Cython and standalone code; without it (and with FMA
#: contraction off) both engines compute bit-identical trajectories. Builds
#: are node-local caches, so -march=native is safe.
COMPILE_ARGS = ["-w", "-O3", "-march=native", "-fno-fast-math", "-ffp-contract=off",
                "-std=c++11"]


def _set_prefs() -> None:
    import brian2

    brian2.prefs.codegen.cpp.extra_compile_args_gcc = list(COMPILE_ARGS)
    # Brian2's Cython cache key ignores compiler flags: keep our own cache.
    flags = hashlib.sha256(" ".join(COMPILE_ARGS).encode()).hexdigest()[:8]
    brian2.prefs.codegen.runtime.cython.cache_dir = str(build_cache_dir().parent / f"cython-{flags}")
    brian2.prefs.codegen.cpp.extra_compile_args_msvc = ["/Ox", "/fp:precise"]
    brian2.prefs.logging.file_log = False
    brian2.prefs.logging.delete_log_on_exit = True
    # A slot is not a whole number of 0.1 ms steps in float arithmetic; Brian2's
    # TimedArray indexing rounds to the nearest 1/K of a slot, so this is benign.
    from brian2.utils.logger import BrianLogger

    BrianLogger.suppress_name("timedarray")


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


def _work_root() -> Path:
    """Where a process keeps its private copy of a build: tmpfs when there is one."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / f"stdp_ray-{os.getuid()}"
    return build_cache_dir() / "work"


@functools.lru_cache(maxsize=1)
def _toolchain_fingerprint() -> str:
    """What else shapes a build: this package's model code, the compiler, the CPU."""
    import platform
    import subprocess

    parts = [Path(model.__file__).read_bytes(), Path(__file__).read_bytes(),
             platform.machine().encode()]
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
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def _sweep_dead_projects(root: Path) -> None:
    """Remove private project copies whose process is gone (killed before its exit handlers)."""
    for d in root.glob("*.p*.*"):
        pid = d.name.split(".")[1][1:]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        shutil.rmtree(d, ignore_errors=True)


def _build_key(cfg: Config, form: str, n_slots: int) -> str:
    import brian2

    blob = (f"{cfg.model_hash()}|{form}|{n_slots}|{cfg.frozen_slot_ms}|"
            f"brian2={brian2.__version__}|{_toolchain_fingerprint()}|"
            f"{' '.join(COMPILE_ARGS)}").encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _placeholder(cfg: Config) -> FrozenNetwork:
    shape = (cfg.n_input, cfg.n_neurons)
    return FrozenNetwork(np.zeros(shape), np.zeros(cfg.n_neurons), np.zeros(shape))


class StandaloneProject:
    """One compiled network form, attached to this process's Brian2 device.

    The binary is compiled once per node into :func:`build_cache_dir` (under a
    file lock), then copied once into a project directory private to this
    process, where Brian2 finds its generated sources unchanged and does not
    recompile. Every run gets its own results directory, deleted after reading.
    """

    #: Seconds one binary run may take before it is killed.
    RUN_TIMEOUT = 6 * 3600

    def __init__(self, cfg: Config, form: str, n_slots: int):
        self.cfg, self.form, self.n_slots = cfg, form, int(n_slots)
        self.key = _build_key(cfg, form, self.n_slots)
        self.project_dir: Path | None = None
        self.results: dict[str, tuple[str, np.dtype]] | None = None
        self._runs = 0
        self._static: dict[str, str] = {}

    def attach(self) -> None:
        """Compile (once per node) or adopt the build, in a project directory of this process.

        Brian2's device is used only here, to generate and build the code; runs
        then call the binary directly, so several builds serve one process.
        """
        if self.results is not None and self.project_dir is not None \
                and (self.project_dir / "main").exists():
            return
        cache = build_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        shared = cache / self.key
        t0 = time.perf_counter()
        fresh = False
        if self.project_dir is None or not self.project_dir.exists():
            root = _work_root()
            root.mkdir(parents=True, exist_ok=True)
            _sweep_dead_projects(root)
            self.project_dir = Path(tempfile.mkdtemp(prefix=f"{self.key}.p{os.getpid()}.",
                                                     dir=root))
            atexit.register(shutil.rmtree, self.project_dir, True)
            if not (shared / "main").exists():
                # Compile once per node: the first process builds and publishes.
                with open(cache / f"{self.key}.lock", "w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    if not (shared / "main").exists():
                        self._compile()
                        tmp = Path(tempfile.mkdtemp(prefix=f".{self.key}.", dir=cache))
                        shutil.rmtree(tmp)
                        shutil.copytree(self.project_dir, tmp, symlinks=True,
                                        ignore=shutil.ignore_patterns("results*", "arg_*"))
                        os.replace(tmp, shared)
                        fresh = True
            if not fresh:
                # A published build is complete and never changes: copy it without the lock.
                shutil.rmtree(self.project_dir)
                shutil.copytree(shared, self.project_dir, symlinks=True)
        if not fresh:
            self._compile()  # sources unchanged: code generation only, make finds nothing to do
        self._static = {}
        logger.info("standalone %s build %s %s in %.1f s (%s)", self.form, self.key,
                    "compiled" if fresh else "reused", time.perf_counter() - t0, self.project_dir)

    def _compile(self) -> None:
        import brian2
        from brian2 import ms

        brian2.device.reinit()
        brian2.set_device("cpp_standalone", directory=str(self.project_dir), build_on_run=False)
        _set_prefs()
        brian2.prefs.devices.cpp_standalone.openmp_threads = 0
        net, objects = _build(self.cfg, self.form, self.n_slots, _placeholder(self.cfg))
        # Apply run-time arrays after the synapses exist but before the spike
        # queues read the delays (Brian2's default position is after that).
        brian2.device.apply_run_args()
        duration = self.cfg.sample_ms if self.form == "train" else self.cfg.frozen_slot_ms
        net.run(self.n_slots * duration * ms, namespace={})
        brian2.device.build(directory=str(self.project_dir), compile=True, run=False,
                            with_output=False)
        # Where the binary writes the arrays we read back, and their types.
        dev = brian2.get_device()
        wanted = {"spike_i": objects["mon"].variables["i"],
                  "spike_t": objects["mon"].variables["t"]}
        if self.form == "train":
            wanted["w"] = objects["syn"].variables["w"]
            wanted["theta"] = objects["exc"].variables["theta"]
            for g, v in _CARRIED:
                wanted[f"{g}_{v}"] = objects[g].variables[v]
        self.results = {k: (dev.get_array_filename(var), np.dtype(var.dtype))
                        for k, var in wanted.items()}
        brian2.device.reinit()
        brian2.set_device("runtime")

    def arg_file(self, name: str, values: np.ndarray, tag: str) -> str:
        """Write one run-time array into the project; returns its ``name=file`` argument."""
        rel = os.path.join("static_arrays", f"arg_{name.replace('.', '_')}_{tag}.dat")
        path = self.project_dir / rel
        tmp = path.with_suffix(".tmp")
        np.ascontiguousarray(values).tofile(tmp)
        os.replace(tmp, path)
        return f"{name}={rel}"

    def static_arg(self, name: str, values: np.ndarray, fingerprint: str) -> str:
        """Like :meth:`arg_file` for arrays that rarely change: written once per value."""
        key = (name, fingerprint)
        if key not in self._static:
            self._static[key] = self.arg_file(name, values, "static")
        return self._static[key]

    def run(self, args: list[str]) -> dict[str, np.ndarray]:
        """Run the binary with ``args`` (``name=value`` strings); returns its result arrays."""
        import subprocess

        self.attach()
        self._runs += 1
        results = self.project_dir / f"results_{os.getpid()}_{self._runs}"
        results.mkdir()
        try:
            proc = subprocess.run([str(self.project_dir / "main"), "--results_dir",
                                   str(results) + os.sep, *args], cwd=self.project_dir,
                                  capture_output=True, timeout=self.RUN_TIMEOUT)
            if proc.returncode != 0:
                tail = (proc.stdout + proc.stderr).decode(errors="replace")[-2000:]
                raise RuntimeError(f"standalone binary {self.project_dir / 'main'} exited with "
                                   f"{proc.returncode}: {tail}")
            return {k: np.fromfile(results / name, dtype=dtype)
                    for k, (name, dtype) in self.results.items()}
        finally:
            shutil.rmtree(results, ignore_errors=True)

    def remove_args(self, args: list[str]) -> None:
        for arg in args:
            try:
                os.remove(self.project_dir / arg.split("=", 1)[1])
            except OSError:
                pass


class StandaloneFrozen:
    """Frozen passes on compiled C++ standalone binaries, reused for every pass.

    Two builds serve a simulator: one of ``n_slots`` slots for full chunks and
    a small one for the follow-up passes of quiet samples (a slot costs its
    simulated time even when silent, so padding a few retries to a full chunk
    would double the cost of a chunk). Each pass runs the build with the
    network's weights, theta and delays (written once) and the pass's inputs
    as ``run_args``.
    """

    backend = "standalone"
    #: Slots of the build for follow-up passes.
    RETRY_SLOTS = 8

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork, n_slots: int):
        if n_slots < 1:
            raise ValueError(f"n_slots == {n_slots}, must be >= 1")
        self.cfg = cfg
        self.net_arrays = net_arrays
        self.n_slots = int(n_slots)
        sizes = sorted({min(self.RETRY_SLOTS, self.n_slots), self.n_slots})
        self.projects = [StandaloneProject(cfg, "frozen", k) for k in sizes]
        self._fingerprint = network_fingerprint(net_arrays)

    def prepare(self) -> None:
        """Compile or adopt every build now (else each happens at its first pass)."""
        for p in self.projects:
            p.attach()

    def run_pass(self, inputs: PassInputs) -> np.ndarray:
        """Simulate up to ``n_slots`` samples in one binary run; returns (n, n_neurons) counts."""
        n = len(inputs.images)
        if n > self.n_slots:
            raise ValueError(f"{n} samples, more than the build's n_slots == {self.n_slots}")
        p = next(p for p in self.projects if p.n_slots >= n)
        p.attach()
        fp = self._fingerprint
        network_args = [
            p.static_arg("inp_exc.w", self.net_arrays.weights.reshape(-1).astype(np.float64), fp),
            p.static_arg("inp_exc.delay", self.net_arrays.delays_ms.reshape(-1) * 1e-3, fp),
            p.static_arg("exc.theta", self.net_arrays.theta_mV * 1e-3, fp),
        ]
        sample_ids, attempts = inputs.padded_keys(p.n_slots)
        tag = f"{os.getpid()}_pass"
        pass_args = [
            p.arg_file("slot_rates.values", inputs.slot_rates_hz(self.cfg, p.n_slots), tag),
            p.arg_file("slot_sample.values", sample_ids.astype(np.float64), tag),
            p.arg_file("slot_attempt.values", attempts.astype(np.float64), tag),
        ]
        args = network_args + pass_args + [f"inp.seed={int(inputs.seed)}",
                                           f"inp.stream={int(inputs.stream)}"]
        try:
            out = p.run(args)
        finally:
            p.remove_args(pass_args)
        return count_slot_spikes(out["spike_i"], out["spike_t"], self.cfg, p.n_slots)[:n]


def make_frozen_simulator(cfg: Config, net_arrays: FrozenNetwork, n_slots: int):
    """The frozen-pass simulator for ``cfg.backend``."""
    if cfg.backend == "runtime":
        return RuntimeFrozen(cfg, net_arrays)
    return StandaloneFrozen(cfg, net_arrays, n_slots)


# --------------------------------------------------------------------------
# Training: one sample per run, the state carried from sample to sample
# --------------------------------------------------------------------------
#: Dynamic variables carried between training samples: (object, variable, SI dtype).
_CARRIED = [("exc", v) for v in ("v", "ge", "gi", "timer", "lastspike", "not_refractory")] + \
           [("inh", v) for v in ("v", "ge", "gi", "timer", "lastspike", "not_refractory")] + \
           [("syn", v) for v in ("pre", "post1", "post2", "post2before", "lastupdate")]
#: Variables holding absolute times: every sample starts at t = 0, so these are
#: shifted back by one sample's length between samples (in both engines alike).
_TIMES = {("exc", "lastspike"), ("inh", "lastspike"), ("syn", "lastupdate")}
_BRIAN_NAMES = {"exc": "exc", "inh": "inh", "syn": "inp_exc"}


class _TrainerBase:
    """State handling shared by both training engines (state kept in SI units)."""

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
        return self.weights.reshape(self.cfg.n_input, self.cfg.n_neurons)

    def set_weights(self, weights: np.ndarray) -> None:
        self.weights = np.array(weights, dtype=np.float64).reshape(-1)

    def get_theta_mV(self) -> np.ndarray:
        return self.theta * 1e3

    def dynamic_state(self) -> dict[str, np.ndarray]:
        """Everything besides weights/delays needed to continue exactly (SI units)."""
        out = {f"{g}_{v}": a.copy() for (g, v), a in self.state.items()}
        out["exc_theta_volt"] = self.theta.copy()
        return out

    def set_dynamic_state(self, state: dict[str, np.ndarray]) -> None:
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


class RuntimeTrainer(_TrainerBase):
    """A plastic network on the Cython runtime (the reference engine).

    The network is built once; before each sample its state is set from this
    object's arrays and its time reset to 0, after it the state is read back.
    """

    backend = "runtime"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork):
        super().__init__(cfg, net_arrays)
        _activate_runtime()
        self.net, self.o = _build(cfg, "train", 1, net_arrays)
        self.net.run(0 * _ms(), namespace={})

    def present(self, image: np.ndarray, *, sample: int, attempt: int, intensity: float,
                seed: int) -> np.ndarray:
        """Show one image for present+rest; returns its (n_neurons,) response counts."""
        from brian2 import Hz, ms

        _activate_runtime()
        o, cfg = self.o, self.cfg
        inp = o["inp"]
        inp.rate = model.input_rates(image, cfg, intensity) * Hz
        inp.seed, inp.stream = int(seed), model.STREAMS["train"]
        inp.sample, inp.attempt, inp.start_step = int(sample), int(attempt), 0
        o["syn"].w_[:] = self.weights
        o["exc"].theta_[:] = self.theta
        for (g, v), arr in self.state.items():
            getattr(o[g], v if v == "not_refractory" else v + "_")[:] = arr
        self.net.t_ = 0.0
        before = o["mon"].num_spikes
        self.net.run(cfg.sample_ms * ms, namespace={})
        counts = self._counts(o["mon"].i[before:], o["mon"].t_[before:])
        self.weights = np.array(o["syn"].w_[:], dtype=np.float64)
        self.theta = np.array(o["exc"].theta_[:], dtype=np.float64)
        for (g, v) in self.state:
            self.state[(g, v)] = np.array(getattr(o[g], v if v == "not_refractory" else v + "_")[:],
                                          dtype=self.state[(g, v)].dtype)
        self._after_sample()
        return counts


class StandaloneTrainer(_TrainerBase):
    """A plastic network on a compiled standalone binary, one binary run per sample.

    The state goes in as ``run_args`` files and comes back from the results
    directory; the delays are written once.
    """

    backend = "standalone"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork):
        super().__init__(cfg, net_arrays)
        self.project = StandaloneProject(cfg, "train", 1)
        self._fp = hashlib.sha256(self.delays_ms.tobytes()).hexdigest()[:16]

    def present(self, image: np.ndarray, *, sample: int, attempt: int, intensity: float,
                seed: int) -> np.ndarray:
        p, cfg = self.project, self.cfg
        p.attach()
        tag = f"{os.getpid()}_state"
        args = [p.static_arg("inp_exc.delay", self.delays_ms.reshape(-1) * 1e-3, self._fp),
                p.arg_file("inp.rate", model.input_rates(image, cfg, intensity), tag),
                p.arg_file("inp_exc.w", self.weights, tag),
                p.arg_file("exc.theta", self.theta, tag)]
        for (g, v), arr in self.state.items():
            args.append(p.arg_file(f"{_BRIAN_NAMES[g]}.{v}", arr, tag))
        args += [f"inp.seed={int(seed)}", f"inp.stream={model.STREAMS['train']}",
                 f"inp.sample={int(sample)}", f"inp.attempt={int(attempt)}", "inp.start_step=0"]
        out = p.run(args)
        counts = self._counts(out["spike_i"], out["spike_t"])
        self.weights = out["w"].astype(np.float64)
        self.theta = out["theta"].astype(np.float64)
        for (g, v) in self.state:
            self.state[(g, v)] = out[f"{g}_{v}"].astype(self.state[(g, v)].dtype)
        self._after_sample()
        return counts


def make_trainer(cfg: Config, net_arrays: FrozenNetwork):
    """The training engine for ``cfg.backend``."""
    if cfg.backend == "runtime":
        return RuntimeTrainer(cfg, net_arrays)
    return StandaloneTrainer(cfg, net_arrays)


def _ms():
    from brian2 import ms

    return ms
