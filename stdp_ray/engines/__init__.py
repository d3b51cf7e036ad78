"""Simulation engines behind one small interface.

An *engine* simulates the network of :mod:`stdp_ray.model` in one of two
forms: frozen (weights and theta constant; observe and test) through a
:class:`FrozenSimulator`, and plastic (training) through a
:class:`PlasticSimulator`. ``cfg.backend`` names the engine, and
:func:`make_frozen_simulator` and :func:`make_trainer` return it; the rest of
the package uses nothing else. The exact engines (all but ``fast``) agree
bit for bit: same input spikes
(keyed by sample, see :func:`stdp_ray.model.input_uniform`), same state reset
per frozen sample (:func:`stdp_ray.model.slot_reset_values`), same arithmetic.

=============  ==========================================================
``runtime``    Brian2's Cython runtime, one sample per run: the reference
               (:mod:`.runtime`).
``standalone`` Brian2's C++ standalone device, compiled once per node and
               re-run with new inputs (:mod:`.standalone`).
``native``     A hand-written C++ kernel, bit-identical to Brian2: the
               exact engine (:mod:`.native`).
``fast``       The same model in float32 with per-neuron traces, several
               times faster, held to ``native`` by statistics, not bits
               (:mod:`.fast`).
=============  ==========================================================

Modules: :mod:`.base` (engine-independent: pass inputs, spike counting,
plastic state, build cache; no Brian2), :mod:`.brian` (what both Brian2
engines share), :mod:`.kernels` (building and loading the compiled kernels),
:mod:`.layout` (the input synapses grouped by delay, for the kernels), one
module per engine. Importing this package imports no
simulator; an engine's module is imported when it is made.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

import numpy as np

from .base import (PassInputs, PlasticState, build_cache_dir, compiler_available,
                   count_slot_spikes)

if TYPE_CHECKING:
    from ..config import Config
    from ..network import FrozenNetwork

__all__ = ["Engine", "REGISTRY", "ENGINES", "EXACT_ENGINES", "arithmetic", "resolve",
           "FrozenSimulator", "PlasticSimulator", "make_frozen_simulator", "make_trainer",
           "PassInputs", "PlasticState", "count_slot_spikes", "compiler_available",
           "build_cache_dir"]

logger = logging.getLogger(__name__)


def _kernel_problem(module: str) -> Callable[[], str | None]:
    """Why the compiled kernel of ``module`` cannot load here (its ``unavailable()``)."""
    return lambda: importlib.import_module(f".{module}", __name__).unavailable()


def _compiler_problem() -> str | None:
    return None if compiler_available() else (
        "no C++ compiler found (g++/c++): Brian2's standalone backend cannot build")


@dataclasses.dataclass(frozen=True)
class Engine:
    """One engine: where its simulators live and how it relates to the others.

    Attributes
    ----------
    name : str
        The value of ``Config.backend`` (and ``--backend``).
    module : str
        Its module in this package, imported only when a simulator is made.
    frozen, plastic : str
        The classes of that module implementing :class:`FrozenSimulator`
        (made as ``cls(cfg, arrays, n_slots)``) and :class:`PlasticSimulator`
        (``cls(cfg, arrays, threads)``).
    exact : bool
        It agrees bit for bit with every other exact engine.
    fallback : str or None
        The engine used where this one cannot run here.
    unavailable : callable
        Why it cannot run here (a message), or None when it can.
    shown_as : str
        How a fallback's warning names it.
    """

    name: str
    module: str
    frozen: str
    plastic: str
    exact: bool
    fallback: str | None
    unavailable: Callable[[], str | None]
    shown_as: str

    def simulator(self, kind: str) -> type:
        """The class of its ``"frozen"`` or ``"plastic"`` simulator (imports its module)."""
        module = importlib.import_module(f".{self.module}", __name__)
        return getattr(module, self.frozen if kind == "frozen" else self.plastic)


#: Every engine, in the order ``--help`` lists them; the first is the default.
REGISTRY: tuple[Engine, ...] = (
    Engine("native", "native", "NativeFrozen", "NativeTrainer", exact=True,
           fallback="standalone", unavailable=_kernel_problem("native"),
           shown_as="the exact native backend (slower)"),
    Engine("fast", "fast", "FastFrozen", "FastTrainer", exact=False, fallback="native",
           unavailable=_kernel_problem("fast"), shown_as="the fast backend"),
    Engine("standalone", "standalone", "StandaloneFrozen", "StandaloneTrainer", exact=True,
           fallback="runtime", unavailable=_compiler_problem,
           shown_as="Brian2's standalone backend (slower)"),
    Engine("runtime", "runtime", "RuntimeFrozen", "RuntimeTrainer", exact=True, fallback=None,
           unavailable=lambda: None, shown_as="the Cython runtime (much slower)"),
)
_BY_NAME = {engine.name: engine for engine in REGISTRY}

#: Engine names, the values of ``Config.backend`` that the factories dispatch on.
ENGINES = tuple(_BY_NAME)
#: The engines that agree bit for bit (Brian2's two and the native kernel).
EXACT_ENGINES = tuple(engine.name for engine in REGISTRY if engine.exact)


def engine(name: str) -> Engine:
    """The :class:`Engine` called ``name`` (ValueError naming the known ones)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise _unknown(name) from None


def resolve(cfg: Config) -> Config:
    """``cfg`` with the engine that works here: ``cfg.backend``, else its fallback, and so on.

    fast -> native (its kernel neither installed nor compilable) -> standalone
    (no kernel) -> runtime (no C++ compiler); each step is one warning.
    """
    current = engine(cfg.backend)
    while current.fallback is not None:
        problem = current.unavailable()
        if problem is None:
            break
        following = engine(current.fallback)
        logger.warning("%s; falling back to %s", problem, following.shown_as)
        current = following
    return cfg if current.name == cfg.backend else cfg.replace(backend=current.name)


def arithmetic(backend: str) -> str | None:
    """None for an exact engine (interchangeable results), else the engine's name.

    Recorded with every phase's parts (:class:`stdp_ray.rundir.PhaseManifest`),
    so that responses of the fast engine never mix with exact ones.
    """
    if backend not in ENGINES:
        raise _unknown(backend)
    return None if backend in EXACT_ENGINES else backend


@runtime_checkable
class FrozenSimulator(Protocol):
    """A frozen network (constant weights and theta) that simulates passes of samples.

    Every sample of a pass starts from the same state
    (:func:`stdp_ray.model.slot_reset_values`) and draws its input spikes
    from its own key, so a sample's response does not depend on the pass it
    is in nor on what ran before.

    Attributes
    ----------
    backend : str
        The engine's name, one of :data:`ENGINES`.
    """

    backend: str

    def prepare(self) -> float:
        """Build, compile or adopt what the simulator needs now, not at its first pass.

        Idempotent; bench timings call it so the first pass is not charged
        with compilation.

        Returns
        -------
        float
            Seconds spent (close to 0 once prepared).
        """
        ...

    def run_pass(self, inputs: PassInputs) -> np.ndarray:
        """Simulate the samples of ``inputs``, each for one presentation and its rest.

        Parameters
        ----------
        inputs : PassInputs
            At most the simulator's ``n_slots`` samples.

        Returns
        -------
        ndarray, shape (n, n_neurons), int32
            Excitatory spikes of each sample during its presentation window.
        """
        ...


@runtime_checkable
class PlasticSimulator(Protocol):
    """A plastic network (STDP weights, adaptive theta) shown one sample at a time.

    The dynamic state carries over from sample to sample, as in the original
    script (Diehl & Cook's code);
    :meth:`dynamic_state` and :meth:`set_dynamic_state` let a checkpoint
    continue exactly, on any engine.

    Attributes
    ----------
    backend : str
        The engine's name, one of :data:`ENGINES`.
    """

    backend: str

    def prepare(self) -> float:
        """Build, compile or adopt what the engine needs now; returns the seconds spent."""
        ...

    def present(self, image: np.ndarray, *, sample: int, attempt: int, intensity: float,
                seed: int) -> np.ndarray:
        """Show one image for present + rest, learning as it goes.

        Parameters
        ----------
        image : ndarray, shape (n_input,)
            Pixel values.
        sample : int
            Training step, part of the input spikes' key.
        attempt : int
            0 for the first presentation of this step, +1 per repeat.
        intensity : float
            Input rates are ``pixel / 8 * intensity`` Hz.
        seed : int
            The run's seed, part of the input spikes' key.

        Returns
        -------
        ndarray, shape (n_neurons,), int32
            Excitatory spikes during the presentation window.
        """
        ...

    def get_weights(self) -> np.ndarray:
        """The input weights, (n_input, n_neurons)."""
        ...

    def normalize_weights(self, total: float) -> None:
        """Rescale each excitatory neuron's input weights to sum to ``total``."""
        ...

    def weight_moments(self) -> tuple[float, float]:
        """Mean and standard deviation of the input weights (training statistics)."""
        ...

    def set_weights(self, weights: np.ndarray) -> None:
        """Replace the input weights, (n_input, n_neurons), for the next sample."""
        ...

    def get_theta_mV(self) -> np.ndarray:
        """The adaptive thresholds in mV, (n_neurons,)."""
        ...

    def dynamic_state(self) -> dict[str, np.ndarray]:
        """Everything besides weights and delays needed to continue exactly (SI units)."""
        ...

    def set_dynamic_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from ``state``, a :meth:`dynamic_state`."""
        ...


def _unknown(backend: str) -> ValueError:
    return ValueError(f"backend == {backend!r}, must be one of {ENGINES}")


def make_frozen_simulator(cfg: Config, arrays: FrozenNetwork, n_slots: int) -> FrozenSimulator:
    """The frozen-pass simulator of engine ``cfg.backend``.

    Parameters
    ----------
    cfg : Config
    arrays : FrozenNetwork
        Weights, theta and delays.
    n_slots : int
        Most samples one pass will hold.

    Returns
    -------
    FrozenSimulator
    """
    return engine(cfg.backend).simulator("frozen")(cfg, arrays, n_slots)


def make_trainer(cfg: Config, arrays: FrozenNetwork, threads: int = 1) -> PlasticSimulator:
    """The training engine of ``cfg.backend``.

    Parameters
    ----------
    cfg : Config
    arrays : FrozenNetwork
        Starting weights, theta and delays.
    threads : int
        Threads that share each presentation (an engine that has none runs
        on one, after a warning). Results do not depend on it (fast: up to
        float rounding).

    Returns
    -------
    PlasticSimulator
    """
    return engine(cfg.backend).simulator("plastic")(cfg, arrays, threads)
