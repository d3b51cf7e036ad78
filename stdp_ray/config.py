"""The one configuration record of a network and how it is simulated.

Every constant of the Diehl & Cook (2015) model as the original script
(Diehl & Cook's code) has it lives here, in plain SI-free numbers whose unit
is part of the field name (``_mV``, ``_ms``, ``_Hz``). Brian2 units are
attached in :mod:`stdp_ray.model` only. The record is frozen and JSON-serialisable; it is
written beside every artifact, and loading an artifact checks it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any, Mapping

__all__ = ["Config", "BACKENDS", "config_from_dict", "config_to_dict"]

#: Simulation engines: the native C++ kernel, Brian2's C++ standalone device and its Cython runtime.
BACKENDS = ("native", "standalone", "runtime")

#: Schema version of the serialised configuration.
CONFIG_VERSION = 1


@dataclass(frozen=True)
class Config:
    """Model constants and simulation settings (by default the values of the original
    script, Diehl & Cook's code).

    Attributes
    ----------
    n_input : int
        Input (Poisson) neurons, one per pixel: 784.
    n_neurons : int
        Excitatory neurons, and as many inhibitory ones (paper: 100, 400,
        1600, 6400; the original script: 400).
    dt_ms : float
        Integration time step in ms (Brian2's default, 0.1 ms).
    v_rest_exc_mV, v_rest_inh_mV : float
        Resting potentials in mV (-65, -60).
    v_reset_exc_mV, v_reset_inh_mV : float
        Reset potentials in mV (-65, -45).
    v_thresh_exc_mV : float
        Excitatory threshold offset in mV: spike when ``v > theta + (-72)``.
    v_thresh_inh_mV : float
        Inhibitory threshold in mV (-40).
    e_inh_exc_mV, e_inh_inh_mV : float
        Inhibitory reversal potentials in mV for exc (-100) and inh (-85).
    tau_exc_ms, tau_inh_ms : float
        Membrane time constants in ms (100, 10).
    tau_ge_ms, tau_gi_ms : float
        Conductance decay time constants in ms (1, 2).
    refractory_exc_ms, refractory_inh_ms : float
        Refractory (clamped) periods in ms (5, 2).
    timer_min_ms : float
        Excitatory neurons may spike only when ``timer > timer_min_ms`` (50 ms).
    theta_init_mV : float
        Initial adaptive threshold in mV (20).
    theta_plus_mV : float
        Threshold increment per excitatory spike in mV while training (0.05).
    tau_theta_ms : float
        Threshold decay time constant in ms while training (1e7).
    w_exc_inh, w_inh_exc : float
        Fixed conductance jumps (dimensionless) of exc->inh (10.4) and
        inh->exc (17.0) synapses.
    w_init_scale, w_init_offset : float
        Initial input weights are ``(U[0,1) + offset) * scale`` (0.3, 0.01).
    w_max : float
        Upper clip of input weights (1.0).
    delay_max_ms : float
        Input->exc delays are uniform in ``[0, delay_max_ms)`` ms (10).
    nu_pre, nu_post : float
        STDP learning rates: depression on pre (1e-4), potentiation on post (0.01).
    tau_pre_ms, tau_post1_ms, tau_post2_ms : float
        STDP trace time constants in ms (20, 20, 40).
    weight_sum : float
        Before every training sample the input weights of each excitatory
        neuron are rescaled to sum to this (78).
    present_ms, rest_ms : float
        A sample is shown for ``present_ms`` (350) then the input is silent
        for ``rest_ms`` (150). Only spikes during presentation count.
    input_rate_divisor : float
        Input rate in Hz is ``pixel / input_rate_divisor * intensity`` (8).
    intensity : float
        First intensity tried for every sample (2).
    max_intensity : float
        Largest intensity tried; a sample still under ``min_spikes`` then is
        recorded as failed (the original script retried forever).
    min_spikes : int
        A presentation with fewer excitatory spikes is repeated at
        intensity + 1 (5).
    backend : str
        Simulation engine (not part of the model): "native" (the default,
        this package's C++ kernel), "standalone" (Brian2's C++ standalone
        device) or "runtime" (Brian2's Cython runtime, the reference). All
        three give bit-identical results.
    frozen_rest_ms : float or None
        Silence simulated after each presentation in observe and test. The
        dynamic state is reset before every sample there, so any rest at least
        as long as the longest delay (all input spikes delivered) gives the
        same responses as the original script's 150 ms; None (default) uses
        ``delay_max_ms``. Not part of the model.
    """

    n_input: int = 784
    n_neurons: int = 400
    dt_ms: float = 0.1
    v_rest_exc_mV: float = -65.0
    v_rest_inh_mV: float = -60.0
    v_reset_exc_mV: float = -65.0
    v_reset_inh_mV: float = -45.0
    v_thresh_exc_mV: float = -72.0
    v_thresh_inh_mV: float = -40.0
    e_inh_exc_mV: float = -100.0
    e_inh_inh_mV: float = -85.0
    tau_exc_ms: float = 100.0
    tau_inh_ms: float = 10.0
    tau_ge_ms: float = 1.0
    tau_gi_ms: float = 2.0
    refractory_exc_ms: float = 5.0
    refractory_inh_ms: float = 2.0
    timer_min_ms: float = 50.0
    theta_init_mV: float = 20.0
    theta_plus_mV: float = 0.05
    tau_theta_ms: float = 1e7
    w_exc_inh: float = 10.4
    w_inh_exc: float = 17.0
    w_init_scale: float = 0.3
    w_init_offset: float = 0.01
    w_max: float = 1.0
    delay_max_ms: float = 10.0
    nu_pre: float = 1e-4
    nu_post: float = 0.01
    tau_pre_ms: float = 20.0
    tau_post1_ms: float = 20.0
    tau_post2_ms: float = 40.0
    weight_sum: float = 78.0
    present_ms: float = 350.0
    rest_ms: float = 150.0
    input_rate_divisor: float = 8.0
    intensity: float = 2.0
    max_intensity: float = 32.0
    min_spikes: int = 5
    backend: str = "native"
    frozen_rest_ms: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "frozen_rest_ms":
                continue
            if f.type in ("float | None",) and isinstance(value, (int, float)) \
                    and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
                continue
            if f.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"{f.name} must be an int, got {type(value).__name__}")
            elif f.type in ("float", float):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise TypeError(f"{f.name} must be a number, got {type(value).__name__}")
                if value != value or value in (float("inf"), float("-inf")):
                    raise ValueError(f"{f.name} == {value}, must be finite")
                object.__setattr__(self, f.name, float(value))
            elif f.type in ("str", str) and not isinstance(value, str):
                raise TypeError(f"{f.name} must be a str, got {type(value).__name__}")
        _check_positive(self, "n_input", "n_neurons", "dt_ms", "tau_exc_ms", "tau_inh_ms",
                        "tau_ge_ms", "tau_gi_ms", "tau_theta_ms", "tau_pre_ms",
                        "tau_post1_ms", "tau_post2_ms", "weight_sum", "present_ms",
                        "input_rate_divisor", "intensity", "w_max")
        for name in ("rest_ms", "delay_max_ms", "refractory_exc_ms", "refractory_inh_ms",
                     "timer_min_ms", "min_spikes", "theta_plus_mV", "nu_pre", "nu_post"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} == {getattr(self, name)}, must be >= 0")
        if self.max_intensity > 1000:
            # presentations are stored as int16
            raise ValueError(f"max_intensity == {self.max_intensity}, must be <= 1000")
        if self.max_intensity < self.intensity:
            raise ValueError(
                f"max_intensity == {self.max_intensity}, must be >= intensity ({self.intensity})")
        if self.rest_ms < self.delay_max_ms:
            # Input spikes still in flight would cross into the next sample.
            raise ValueError(
                f"rest_ms == {self.rest_ms}, must be >= delay_max_ms ({self.delay_max_ms})")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend == {self.backend!r}, must be one of {BACKENDS}")
        if self.frozen_rest_ms is not None and self.frozen_rest_ms < self.delay_max_ms:
            raise ValueError(f"frozen_rest_ms == {self.frozen_rest_ms}, must be >= "
                             f"delay_max_ms ({self.delay_max_ms})")
        for name in ("present_ms", "rest_ms", "frozen_slot_ms"):
            steps = getattr(self, name) / self.dt_ms
            if abs(steps - round(steps)) > 1e-9:
                raise ValueError(f"{name} == {getattr(self, name)}, must be a multiple of "
                                 f"dt_ms ({self.dt_ms})")

    # Derived quantities -------------------------------------------------
    @property
    def present_steps(self) -> int:
        """Time steps of one presentation."""
        return int(round(self.present_ms / self.dt_ms))

    @property
    def sample_steps(self) -> int:
        """Time steps of one presentation plus its rest."""
        return int(round((self.present_ms + self.rest_ms) / self.dt_ms))

    @property
    def frozen_slot_ms(self) -> float:
        """Length of one frozen (observe/test) slot in ms: presentation + frozen rest."""
        rest = self.delay_max_ms if self.frozen_rest_ms is None else self.frozen_rest_ms
        return self.present_ms + rest

    @property
    def frozen_slot_steps(self) -> int:
        """Time steps of one frozen slot."""
        return int(round(self.frozen_slot_ms / self.dt_ms))

    @property
    def sample_ms(self) -> float:
        """Length of one presentation plus rest in ms."""
        return self.present_ms + self.rest_ms

    def replace(self, **changes: Any) -> "Config":
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def model_dict(self) -> dict[str, Any]:
        """The fields that define the network's maths (not how it is simulated)."""
        d = config_to_dict(self)
        for key in ("backend", "frozen_rest_ms", "version"):
            d.pop(key)
        return d

    def diff(self, other: "Config") -> dict[str, tuple[Any, Any]]:
        """The model fields (:meth:`model_dict`) in which ``other`` differs from this one.

        Parameters
        ----------
        other : Config

        Returns
        -------
        dict
            ``{field: (value here, value in other)}`` for each model field whose
            values differ; empty when both define the same network. How the
            network is simulated (``backend``, ``frozen_rest_ms``) is not compared.
        """
        mine, theirs = self.model_dict(), other.model_dict()
        return {k: (v, theirs[k]) for k, v in mine.items() if theirs[k] != v}

    def model_hash(self) -> str:
        """Stable hash of :meth:`model_dict` (names compiled builds, checks artifacts)."""
        blob = json.dumps(self.model_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _check_positive(cfg: Config, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value <= 0:
            raise ValueError(f"{name} == {value}, must be > 0")


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Serialise ``cfg`` to a JSON-compatible dict (with a schema version)."""
    if not isinstance(cfg, Config):
        raise TypeError(f"expected a Config, got {type(cfg).__name__}")
    d = dataclasses.asdict(cfg)
    d["version"] = CONFIG_VERSION
    return d


def config_from_dict(data: Mapping[str, Any], *, source: str = "configuration") -> Config:
    """Rebuild a :class:`Config` from :func:`config_to_dict` output.

    Parameters
    ----------
    data : mapping
        The serialised configuration.
    source : str
        Where ``data`` came from (a file name), for error messages.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"{source}: expected a JSON object, got {type(data).__name__}")
    data = dict(data)
    version = data.pop("version", CONFIG_VERSION)
    if version != CONFIG_VERSION:
        raise ValueError(f"{source}: configuration version == {version}, "
                         f"this stdp-ray reads version {CONFIG_VERSION}")
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown configuration fields {unknown}")
    try:
        return Config(**data)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{source}: {exc}") from exc
