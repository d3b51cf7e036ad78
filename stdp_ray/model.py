"""The maths of the Diehl & Cook (2015) network: equations and pure functions.

Nothing here touches a Brian2 device. The equations are strings in Brian2's
syntax whose constants are named (see :func:`namespace`); the functions are
plain numpy on arrays, so tests call them directly.

Input spikes come from a counter-based random stream rather than Brian2's
global ``rand()``: input neuron ``i`` spikes in time step ``k`` of a
presentation when ``u(seed, stream, sample, attempt, i, k) < rate_i * dt``,
where ``u`` is uniform on [0, 1) from a splitmix64 hash of its arguments. This
is the same Bernoulli-per-step process as Brian2's ``PoissonGroup``, but a
sample's input depends only on its key, never on what was simulated before it,
which makes evaluation results independent of sharding and identical across
Brian2's runtime and standalone devices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: the model's record is read, never imported here
    from .config import Config


__all__ = [
    "EXC_EQS", "INH_EQS", "THETA_PLASTIC_EQS", "THETA_FROZEN_EQS", "INPUT_EQS",
    "INPUT_THRESHOLD", "EXC_THRESHOLD", "STDP_MODEL", "STDP_ON_PRE", "STDP_ON_POST",
    "STREAMS", "namespace", "initial_weights", "initial_delays", "normalize_weights",
    "input_rates", "slot_input_rates", "slot_reset_values", "splitmix64", "input_uniform",
    "input_spikes",
]

#: Membrane, conductances and the excitatory "timer" (shared by both layers).
#: ``ge``/``gi`` are dimensionless conductances (relative to the leak).
_NEURON_EQS = """
dv/dt = (v_rest - v + i_exc + i_inh) / tau_mem : volt (unless refractory)
i_exc = ge * -v : volt
i_inh = gi * (e_inh - v) : volt
dge/dt = -ge / tau_ge : 1
dgi/dt = -gi / tau_gi : 1
dtimer/dt = 1 : second
"""

#: Excitatory layer, without theta (added by the form).
EXC_EQS = _NEURON_EQS
#: Inhibitory layer.
INH_EQS = _NEURON_EQS

#: Adaptive threshold while training: decays slowly, +theta_plus per spike.
THETA_PLASTIC_EQS = "dtheta/dt = -theta / tau_theta : volt"
#: Frozen threshold in observe and test: a constant per neuron.
THETA_FROZEN_EQS = "theta : volt (constant)"

#: Excitatory spike: above the adaptive threshold and 50 ms after the last one.
EXC_THRESHOLD = "v > theta + v_thresh_exc and timer > timer_min"
EXC_RESET = "v = v_reset_exc; timer = 0*ms"
EXC_RESET_TRAINING = EXC_RESET + "; theta += theta_plus"
INH_THRESHOLD = "v > v_thresh_inh"
INH_RESET = "v = v_reset_inh"

#: Input layer: one neuron per pixel. ``rate`` is set per sample; the shared
#: integers name the random stream of the current presentation.
INPUT_EQS = """
rate : Hz
seed : integer (shared)
stream : integer (shared)
sample : integer (shared)
attempt : integer (shared)
start_step : integer (shared)
"""

#: Bernoulli-per-step input spikes during the presentation window only.
INPUT_THRESHOLD = (
    "rate > 0*Hz and t_in_timesteps - start_step < present_steps and "
    "input_uniform(seed, stream, sample, attempt, i, t_in_timesteps - start_step) < rate * dt"
)

#: Input->exc synapses: plastic weight with nearest-spike STDP traces.
STDP_MODEL = """
w : 1
post2before : 1
dpre/dt = -pre / tau_pre : 1 (event-driven)
dpost1/dt = -post1 / tau_post1 : 1 (event-driven)
dpost2/dt = -post2 / tau_post2 : 1 (event-driven)
"""
#: Presynaptic spike arrives: drive ge, depress by the post1 trace.
STDP_ON_PRE = "ge_post += w; pre = 1.; w = clip(w - nu_pre * post1, 0, w_max)"
#: Postsynaptic spike: potentiate by the pre trace (post2 before the update).
STDP_ON_POST = ("post2before = post2; w = clip(w + nu_post * pre * post2before, 0, w_max); "
                "post1 = 1.; post2 = 1.")
#: Frozen input->exc synapses.
FROZEN_MODEL = "w : 1 (constant)"
FROZEN_ON_PRE = "ge_post += w"

#: Random-stream identifiers: the input of sample ``k`` of the training set
#: differs between training and observing.
STREAMS = {"train": 1, "observe": 2, "test": 3}


def namespace(cfg: Config) -> dict:
    """Brian2 namespace: every named constant of the equations, with units.

    Parameters
    ----------
    cfg : Config
        The configuration.

    Returns
    -------
    dict
        Name -> Brian2 quantity (or plain number).
    """
    from brian2 import Hz, mV, ms  # local: keep this module importable without a device

    return {
        "tau_ge": cfg.tau_ge_ms * ms,          # excitatory conductance decay
        "tau_gi": cfg.tau_gi_ms * ms,          # inhibitory conductance decay
        "v_thresh_exc": cfg.v_thresh_exc_mV * mV,  # exc threshold offset (added to theta)
        "timer_min": cfg.timer_min_ms * ms,    # exc may fire only after this since its last spike
        "v_reset_exc": cfg.v_reset_exc_mV * mV,    # exc reset potential
        "theta_plus": cfg.theta_plus_mV * mV,  # theta increment per exc spike (training)
        "tau_theta": cfg.tau_theta_ms * ms,    # theta decay (training)
        "v_thresh_inh": cfg.v_thresh_inh_mV * mV,  # inh threshold
        "v_reset_inh": cfg.v_reset_inh_mV * mV,    # inh reset potential
        "present_steps": cfg.present_steps,    # time steps of one presentation
        "tau_pre": cfg.tau_pre_ms * ms,        # presynaptic trace
        "tau_post1": cfg.tau_post1_ms * ms,    # postsynaptic trace for depression
        "tau_post2": cfg.tau_post2_ms * ms,    # postsynaptic trace for potentiation
        "nu_pre": cfg.nu_pre,                  # depression rate
        "nu_post": cfg.nu_post,                # potentiation rate
        "w_max": cfg.w_max,                    # weight clip
        "w_exc_inh": cfg.w_exc_inh,            # exc->inh conductance jump
        "w_inh_exc": cfg.w_inh_exc,            # inh->exc conductance jump
        "Hz": Hz,
    }


def exc_constants(cfg: Config) -> dict:
    """Constants substituted into the excitatory equations."""
    from brian2 import mV, ms

    return {"tau_mem": cfg.tau_exc_ms * ms, "v_rest": cfg.v_rest_exc_mV * mV,
            "e_inh": cfg.e_inh_exc_mV * mV}


def inh_constants(cfg: Config) -> dict:
    """Constants substituted into the inhibitory equations."""
    from brian2 import mV, ms

    return {"tau_mem": cfg.tau_inh_ms * ms, "v_rest": cfg.v_rest_inh_mV * mV,
            "e_inh": cfg.e_inh_inh_mV * mV}


# --------------------------------------------------------------------------
# Pure functions on arrays
# --------------------------------------------------------------------------
def initial_weights(cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """Initial input weights ``(U[0,1) + 0.01) * 0.3`` as (n_input, n_neurons) float64."""
    u = rng.random((cfg.n_input, cfg.n_neurons))
    return (u + cfg.w_init_offset) * cfg.w_init_scale


def initial_delays(cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """Input->exc delays in ms, uniform in ``[0, delay_max)``, shape (n_input, n_neurons).

    Delays are rounded to whole time steps, as Brian2 applies them.
    """
    d = rng.random((cfg.n_input, cfg.n_neurons)) * cfg.delay_max_ms
    return np.round(d / cfg.dt_ms) * cfg.dt_ms


def normalize_weights(weights: np.ndarray, total: float) -> np.ndarray:
    """Rescale each column (the inputs of one excitatory neuron) to sum to ``total``.

    Parameters
    ----------
    weights : ndarray, shape (n_input, n_neurons)
    total : float
        Target column sum (78 in the paper).

    Returns
    -------
    ndarray
        A new array; columns summing to zero are left at zero.
    """
    sums = weights.sum(axis=0)
    factors = np.divide(total, sums, out=np.zeros_like(sums, dtype=float), where=sums > 0)
    return weights * factors


def input_rates(image: np.ndarray, cfg: Config, intensity: float) -> np.ndarray:
    """Input rates in Hz for one image: ``pixel / 8 * intensity``."""
    return np.asarray(image, dtype=float) / cfg.input_rate_divisor * intensity


def slot_input_rates(images: np.ndarray, cfg: Config, intensities: np.ndarray) -> np.ndarray:
    """Input rates in Hz of several images, each at its own intensity.

    Row ``k`` equals ``input_rates(images[k], cfg, intensities[k])`` bit for
    bit: the same operations, ``pixel / 8 * intensity``, broadcast over rows.

    Parameters
    ----------
    images : ndarray, shape (n, n_input)
        Pixel values (uint8 or float).
    cfg : Config
    intensities : ndarray, shape (n,)
        Intensity of each image.

    Returns
    -------
    ndarray, shape (n, n_input), float64
    """
    return (np.asarray(images, dtype=float) / cfg.input_rate_divisor
            * np.asarray(intensities)[:, None])


def slot_reset_values(cfg: Config, layer: str) -> dict[str, tuple[float | bool, str]]:
    """The state of a layer's neurons at the start of every frozen sample.

    Potentials at rest, conductances zero, the excitatory timer past its
    minimum, never spiked, not refractory. Every engine starts a frozen
    sample from these values, so a sample's response does not depend on what
    was simulated before it.

    Parameters
    ----------
    cfg : Config
    layer : {"exc", "inh"}

    Returns
    -------
    dict
        Variable name -> ``(number, unit)``, in assignment order; the value is
        ``number * unit`` with ``unit`` the name of a Brian2 unit (``"mV"``,
        ``"ms"``, ``"second"``) or ``"1"`` for a plain number. Numbers and
        units are kept as written, not converted to SI, so that every engine
        computes the value with the same floating-point operation (``-65.0 *
        mV`` is not bit-identical to the literal ``-0.065``).
    """
    if layer not in ("exc", "inh"):
        raise ValueError(f"layer == {layer!r}, must be 'exc' or 'inh'")
    rest = cfg.v_rest_exc_mV if layer == "exc" else cfg.v_rest_inh_mV
    # not_refractory first: Brian2 guards an assignment to `v` (declared
    # "unless refractory") by the neuron's not_refractory at that point of the
    # code, so clearing it first resets every potential. Otherwise a neuron
    # still refractory when the previous sample's slot ended (an inh neuron
    # that spiked in its last 2 ms) would keep its reset potential, and its
    # response would depend on the sample before it (on the sharding).
    return {"not_refractory": (True, "1"), "v": (rest, "mV"), "ge": (0, "1"), "gi": (0, "1"),
            "timer": (cfg.rest_ms, "ms"),
            "lastspike": (-1e4, "second")}  # Brian2's "never spiked"


_M64 = (1 << 64) - 1


def splitmix64(x: np.ndarray | int) -> np.ndarray:
    """The splitmix64 finaliser on uint64 (vectorised; wraps modulo 2**64)."""
    z = (np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def input_uniform(seed, stream, sample, attempt, neuron, step) -> np.ndarray:
    """Uniform [0, 1) numbers keyed by (seed, stream, sample, attempt, neuron, step).

    Reference implementation of the hash compiled into the simulation (the
    C++ header ``stdp_ray/engines/input_hash.h`` and its Cython twin in
    :mod:`stdp_ray.engines.brian`); all arguments are non-negative integers
    < 2**31 and broadcast against each other.
    """
    u64 = np.uint64
    seed = np.asarray(seed, dtype=np.int64).astype(u64)
    base = splitmix64((seed << u64(8)) | np.asarray(stream, dtype=np.int64).astype(u64))
    h = splitmix64(base ^ np.asarray(sample, dtype=np.int64).astype(u64))
    h = splitmix64(h ^ ((np.asarray(attempt, dtype=np.int64).astype(u64) << u64(32))
                        | np.asarray(neuron, dtype=np.int64).astype(u64)))
    h = splitmix64(h ^ np.asarray(step, dtype=np.int64).astype(u64))
    return (h >> u64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def input_spikes(rates_hz: np.ndarray, cfg: Config, *, seed: int, stream: int, sample: int,
                 attempt: int) -> np.ndarray:
    """Boolean (present_steps, n_input) input raster of one presentation (numpy reference)."""
    steps = np.arange(cfg.present_steps)[:, None]
    neurons = np.arange(len(rates_hz))[None, :]
    u = input_uniform(seed, stream, sample, attempt, neurons, steps)
    p = np.asarray(rates_hz)[None, :] * (cfg.dt_ms * 1e-3)
    return (np.asarray(rates_hz)[None, :] > 0) & (u < p)
