"""The reference engine: Brian2's Cython runtime, one network per process, one sample per run.

Slow but simple: the procedure of the original script (Diehl & Cook's code).
The other engines are tested against it bit for bit.
"""

from __future__ import annotations

import time

import numpy as np

from .. import model
from ..config import Config
from ..network import FrozenNetwork
from .base import PassInputs, PlasticState, count_slot_spikes, warn_single_threaded
from .brian import _activate_runtime, _build, _reset_quantity

__all__ = ["RuntimeFrozen", "RuntimeTrainer"]


class RuntimeFrozen:
    """Frozen samples on Brian2's Cython runtime: the original script's procedure, the reference.

    One network is built and kept; each sample is one ``run`` of present + rest
    from t = 0, after Python sets its input and resets the dynamic state to
    what a standalone slot starts with (so both engines agree bit for bit).

    Parameters
    ----------
    cfg : Config
    net_arrays : FrozenNetwork
    n_slots : int
        Unused: a pass runs its samples one after another.
    """

    backend = "runtime"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork, n_slots: int = 1):
        self.cfg = cfg
        self.net_arrays = net_arrays
        self._net = None

    def prepare(self) -> float:
        """Build the network now (else the first pass does); returns the seconds spent."""
        t0 = time.perf_counter()
        _activate_runtime()
        if self._net is None:
            self._net, self._o = _build(self.cfg, "frozen", 1, self.net_arrays, slots=False)
        return time.perf_counter() - t0

    def run_pass(self, inputs: PassInputs) -> np.ndarray:
        """Simulate ``inputs`` one after another; returns (n, n_neurons) spike counts."""
        from brian2 import Hz, ms

        self.prepare()
        cfg = self.cfg
        o, net = self._o, self._net
        counts = np.zeros((len(inputs.images), cfg.n_neurons), dtype=np.int32)
        o["inp"].seed, o["inp"].stream = int(inputs.seed), int(inputs.stream)
        resets = {layer: model.slot_reset_values(cfg, layer) for layer in ("exc", "inh")}
        for k in range(len(inputs.images)):
            o["inp"].rate = model.input_rates(inputs.images[k], cfg, inputs.intensities[k]) * Hz
            o["inp"].sample, o["inp"].attempt = int(inputs.sample_ids[k]), int(inputs.attempts[k])
            o["inp"].start_step = 0
            for layer, values in resets.items():
                for name, (number, unit) in values.items():
                    setattr(o[layer], name, _reset_quantity(number, unit))
            net.t_ = 0.0
            before = o["mon"].num_spikes
            net.run(cfg.frozen_slot_ms * ms, namespace={})
            counts[k] = count_slot_spikes(np.asarray(o["mon"].i[before:]),
                                          np.asarray(o["mon"].t_[before:]), cfg, 1)[0]
        return counts


class RuntimeTrainer(PlasticState):
    """A plastic network on the Cython runtime (the reference engine).

    The network is built once, at construction; before each sample its state
    is set from this object's arrays and its time reset to 0, after it the
    state is read back.

    Parameters
    ----------
    cfg : Config
    net_arrays : FrozenNetwork
        The starting weights, theta and delays.
    """

    backend = "runtime"

    def __init__(self, cfg: Config, net_arrays: FrozenNetwork, threads: int = 1):
        warn_single_threaded(self.backend, threads)
        super().__init__(cfg, net_arrays)
        self.net = self.o = None
        self._arrays = net_arrays
        self.prepare()

    def prepare(self) -> float:
        """Build the network if not yet built; returns the seconds spent."""
        from brian2 import ms

        t0 = time.perf_counter()
        if self.net is None:
            _activate_runtime()
            self.net, self.o = _build(self.cfg, "train", 1, self._arrays)
            self.net.run(0 * ms, namespace={})
            self._arrays = None
        return time.perf_counter() - t0

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
