"""The fast Brian2 engine: C++ standalone binaries, compiled once per node and re-run.

This module owns the compiled builds: their key (configuration, Brian2
version, model and engine sources, compiler, CPU), the node-local cache where
the first process compiles and publishes a build under a file lock, the
private copy each process runs, and the ``run_args`` files through which a
run receives its network and inputs. :class:`StandaloneFrozen` runs frozen
passes of many samples per binary run; :class:`StandaloneTrainer` one
plastic sample per run, its state going in and coming back as files.
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
from pathlib import Path

import numpy as np

from .. import model
from ..config import Config
from ..network import FrozenNetwork, network_fingerprint
from . import brian
from .base import (_CARRIED, PassInputs, PlasticState, UnsafeDirectoryError, build_cache_dir,
                   count_slot_spikes, private_dir, toolchain_parts, warn_single_threaded)
from .brian import COMPILE_ARGS, _build, _set_prefs

logger = logging.getLogger(__name__)

__all__ = ["StandaloneProject", "StandaloneFrozen", "StandaloneTrainer"]

#: Brian2 names of the objects whose variables :data:`~.base._CARRIED` lists.
_BRIAN_NAMES = {"exc": "exc", "inh": "inh", "syn": "inp_exc"}


# --------------------------------------------------------------------------
# Builds: key, node-local cache, private copies
# --------------------------------------------------------------------------
def _work_root() -> Path:
    """Where a process keeps its private copy of a build: tmpfs when there is one.

    A directory of this user only (:func:`~.base.private_dir`): a
    ``/dev/shm/stdp_ray-<uid>`` that is a link or another user's is not used
    (a warning, then the build cache's ``work`` directory).
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        try:
            return private_dir(shm / f"stdp_ray-{os.getuid()}")
        except UnsafeDirectoryError as exc:
            logger.warning("%s; using the build cache instead", exc)
    return private_dir(build_cache_dir() / "work")


@functools.lru_cache(maxsize=1)
def _toolchain_fingerprint() -> str:
    """What else shapes a build: the model and engine sources, the compiler, the CPU.

    The sources are those that generate a build's code: :mod:`stdp_ray.model`
    (equations, reset values), :mod:`.brian` (the network), this module (the
    device calls) and the C++ input hash header.
    """
    sources = (model.__file__, brian.__file__, __file__, brian.INPUT_HASH_HEADER)
    parts = [Path(f).read_bytes() for f in sources] + toolchain_parts()
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
        #: The binary's command-line name of the input synapses' delays (known once attached).
        self.delay_arg: str | None = None
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
        # The binary knows a variable by its owner's and its own Brian2 name; a
        # pathway's delays are `delay` up to Brian2 2.10 and `_pre_delay` since 2.11.
        delay = objects["syn"].pre.variables["delay"]
        self.delay_arg = f"{delay.owner.name}.{delay.name}"
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


# --------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------
class StandaloneFrozen:
    """Frozen passes on compiled C++ standalone binaries, reused for every pass.

    Two builds serve a simulator: one of ``n_slots`` slots for full chunks and
    a small one for the follow-up passes of quiet samples (a slot costs its
    simulated time even when silent, so padding a few retries to a full chunk
    would double the cost of a chunk). Each pass runs the build with the
    network's weights, theta and delays (written once) and the pass's inputs
    as ``run_args``.

    Parameters
    ----------
    cfg : Config
    net_arrays : FrozenNetwork
    n_slots : int
        Samples of the largest pass (slots of the main build), >= 1.
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

    def prepare(self) -> float:
        """Compile or adopt every build now (else each happens at its first pass).

        Returns
        -------
        float
            Seconds spent.
        """
        t0 = time.perf_counter()
        for p in self.projects:
            p.attach()
        return time.perf_counter() - t0

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
            p.static_arg(p.delay_arg, self.net_arrays.delays_ms.reshape(-1) * 1e-3, fp),
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


class StandaloneTrainer(PlasticState):
    """A plastic network on a compiled standalone binary, one binary run per sample.

    The state goes in as ``run_args`` files and comes back from the results
    directory; the delays are written once.

    Parameters
    ----------
    cfg : Config
    net_arrays : FrozenNetwork
        The starting weights, theta and delays.
    """

    backend = "standalone"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork, threads: int = 1):
        warn_single_threaded(self.backend, threads)
        super().__init__(cfg, net_arrays)
        self.project = StandaloneProject(cfg, "train", 1)
        self._fp = hashlib.sha256(self.delays_ms.tobytes()).hexdigest()[:16]

    def prepare(self) -> float:
        """Compile or adopt the build now (else the first sample does); returns seconds spent."""
        t0 = time.perf_counter()
        self.project.attach()
        return time.perf_counter() - t0

    def present(self, image: np.ndarray, *, sample: int, attempt: int, intensity: float,
                seed: int) -> np.ndarray:
        """Show one image for present+rest; returns its (n_neurons,) response counts."""
        p, cfg = self.project, self.cfg
        p.attach()
        tag = f"{os.getpid()}_state"
        args = [p.static_arg(p.delay_arg, self.delays_ms.reshape(-1) * 1e-3, self._fp),
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

