"""What both Brian2 engines share: building the network, the input hash, compiler settings.

Two network *forms* exist:

``frozen``
    Weights and theta constant. A *pass* simulates several samples ("slots")
    in one Brian2 run: at the start of every slot a ``run_regularly``
    operation resets the dynamic state (:func:`stdp_ray.model.slot_reset_values`)
    and loads the slot's image, intensity and random-stream key from
    ``TimedArray`` objects. The same objects run under the Cython runtime
    (:mod:`.runtime`, the reference) and the C++ standalone device
    (:mod:`.standalone`, compiled once per node, then re-run with new inputs
    through ``run_args``).
``train``
    Plastic input weights and adaptive theta; one sample per run, its state
    continuing from the previous sample as in the original script (Diehl &
    Cook's code).

Brian2's device is process-global, so every entry point sets the device
itself, inside the process that simulates. Brian2 is imported inside the
functions: importing this module loads no simulator.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .. import model
from ..config import Config
from ..network import FrozenNetwork
from ..paths import cache_dir
from .base import PassInputs

__all__ = ["COMPILE_ARGS", "INPUT_HASH_HEADER"]

#: The C++ input hash (:func:`stdp_ray.model.input_uniform`), shared with other engines.
INPUT_HASH_HEADER = Path(__file__).with_name("input_hash.h")

# The same hash in Cython, for the runtime engine. Cython cannot include the
# C++ header (its own syntax): keep the two bit-identical with input_hash.h.
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

#: Compiler flags for both engines. Brian2's defaults add -ffast-math, which
#: lets the compiler reassociate and fuse floating-point operations
#: differently in Cython and standalone code; without it (and with FMA
#: contraction off) both engines compute bit-identical trajectories. Builds
#: are node-local caches, so -march=native is safe.
COMPILE_ARGS = ["-w", "-O3", "-march=native", "-fno-fast-math", "-ffp-contract=off",
                "-std=c++11"]


def _input_function():
    """The Brian2 ``Function`` for the input hash (numpy, Cython and C++)."""
    from brian2 import Function

    def _py(seed, stream, sample, attempt, neuron, step):
        return model.input_uniform(seed, stream, sample, attempt, neuron, step)

    func = Function(_py, arg_units=[1] * 6, return_unit=1,
                    arg_types=["integer"] * 6, return_type="float", stateless=True)
    func.implementations.add_implementation("cpp", INPUT_HASH_HEADER.read_text(),
                                            name="input_uniform")
    func.implementations.add_implementation("cython", _CYTHON_HASH, name="input_uniform")
    return func


def _reset_code(values: dict) -> str:
    """Brian2 abstract code assigning :func:`stdp_ray.model.slot_reset_values`."""
    return "\n".join(f"{name} = {number!r}" if unit == "1" else f"{name} = {number!r}*{unit}"
                     for name, (number, unit) in values.items())


def _reset_quantity(number, unit: str):
    """``number * unit`` as Brian2 computes it from :func:`_reset_code` (plain if ``"1"``)."""
    if unit == "1":
        return number
    import brian2

    return number * getattr(brian2, unit)


# --------------------------------------------------------------------------
# Building the network (device-agnostic: whatever device is active)
# --------------------------------------------------------------------------
def _build(cfg: Config, form: str, n_slots: int, net_arrays: FrozenNetwork,
           inputs: PassInputs | None = None, slots: bool = True):
    # Longer than ~60 lines on purpose: the network is built top to bottom, groups, then
    # synapses, then monitors, in the order of the original script, so that it reads
    # beside it; each step is a few lines that use the previous ones' objects.
    """Create the Brian2 objects of one network form; returns (Network, objects dict).

    For the frozen form with ``slots``, ``inputs`` fills the per-slot
    TimedArrays (zeros when None: a standalone build whose values come as
    ``run_args``); without ``slots`` the caller sets inputs and resets the
    state before each one-sample run.
    """
    from brian2 import (Equations, Network, NeuronGroup, SpikeMonitor, Synapses, TimedArray,
                        Hz, defaultclock, mV, ms)

    # Every object of the network steps on the default clock: the model's time step.
    defaultclock.dt = cfg.dt_ms * ms
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
        for group in (exc, inh):
            group.run_regularly(_reset_code(model.slot_reset_values(cfg, group.name)),
                                dt=slot, when="start", name=f"{group.name}_reset")
        objects.update(slot_rates=images, slot_sample=keys["sample"],
                       slot_attempt=keys["attempt"])

    net = Network(list(objects.values()) if training else
                  [o for k, o in objects.items() if not k.startswith("slot_")])
    return net, objects


# --------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------
def _set_prefs() -> None:
    import brian2

    brian2.prefs.codegen.cpp.extra_compile_args_gcc = list(COMPILE_ARGS)
    # Brian2's Cython cache key ignores compiler flags: keep our own cache.
    flags = hashlib.sha256(" ".join(COMPILE_ARGS).encode()).hexdigest()[:8]
    brian2.prefs.codegen.runtime.cython.cache_dir = str(cache_dir() / f"cython-{flags}")
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
