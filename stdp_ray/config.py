"""The one configuration record of a network and how it is simulated.

Every constant of the Diehl & Cook (2015) model as the original script
(Diehl & Cook's code) has it lives here, in plain SI-free numbers whose unit
is part of the field name (``_mV``, ``_ms``, ``_Hz``). Brian2 units are
attached in :mod:`stdp_ray.model` only. The record is frozen and JSON-serialisable; it is
written beside every artifact, and loading an artifact checks it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import InputError

__all__ = ["Config", "Bounds", "Choices", "ConfigError", "config_from_dict",
           "config_to_dict", "field_names", "field_range", "parse_setting", "parse_assignment",
           "apply_settings", "read_config_file", "format_config"]

#: Schema version of the serialised configuration.
CONFIG_VERSION = 1


class ConfigError(InputError):
    """A configuration value, key or file that cannot be used (names the field and the range)."""


@dataclass(frozen=True)
class Bounds:
    """The allowed interval of a numeric field (``None``: unbounded on that side).

    ``low_open``/``high_open`` exclude the end point.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the interval."""
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high
                                      or (self.high_open and value == self.high)):
            return False
        return True

    def describe(self) -> str:
        """The interval as the end of "must be ...": ``> 0``, ``>= 0``, ``in (0, 1000]``."""
        if self.low is not None and self.high is not None:
            if self.low == self.high:
                return f"{_num(self.low)}"
            return (f"in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}"
                    f"{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_num(self.high)}"
        return "finite"


@dataclass(frozen=True)
class Choices:
    """The allowed values of a text field."""

    values: tuple[str, ...]

    def contains(self, value: str) -> bool:
        """Whether ``value`` is one of the choices."""
        return value in self.values

    def describe(self) -> str:
        """The choices as the end of "must be ...": ``one of ('a', 'b')``."""
        return f"one of {self.values}"


class EngineChoices(Choices):
    """The engines of :data:`stdp_ray.engines.ENGINES`, which owns them (read when checked)."""

    def __init__(self):
        pass

    @property
    def values(self) -> tuple[str, ...]:
        from .engines import ENGINES

        return ENGINES


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def shorten(text: str, width: int = 40) -> str:
    """``text`` cut to ``width`` characters for a one-line message (its length said)."""
    return text if len(text) <= width else f"{text[:width - 20]}...({len(text)} characters)"


def _shown(value: Any) -> str:
    """A field's value in a message: ``repr``, but a long integer by its number of digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        return f"an integer of {len(str(abs(value)))} digits"
    return repr(value)


#: Shared ranges. Potentials are bounded only to catch unit slips (volts for millivolts).
VOLTAGE = Bounds(-500.0, 500.0)
POSITIVE = Bounds(0.0, None, low_open=True)
NON_NEGATIVE = Bounds(0.0, None)
#: Time constants (ms): at least 1 ns, so that their reciprocals and ``dt / tau`` stay finite.
TIME_CONSTANT = Bounds(1e-6, None)

#: Most time steps of any duration the engines count in steps: a presentation plus its
#: rest (``sample_steps``), a frozen slot (``frozen_slot_steps``), the longest delay, a
#: refractory period, ``timer_min_ms`` (each ``duration / dt_ms``). Ten million steps are
#: 1000 s of simulated time at the default 0.1 ms; the kernels hold step counts in 32 bits.
MAX_STEPS = 10_000_000
#: Most time steps of the longest input delay (``delay_max_ms / dt_ms``): the kernels keep
#: a spike queue slot per step of delay for every input neuron, the fast one in 16 bits.
MAX_DELAY_STEPS = 2**15 - 1

#: The durations counted in time steps: (field, least steps, most steps).
_STEP_COUNTS = (("present_ms", 1, MAX_STEPS), ("delay_max_ms", 0, MAX_DELAY_STEPS),
                ("rest_ms", 0, MAX_STEPS), ("refractory_exc_ms", 0, MAX_STEPS),
                ("refractory_inh_ms", 0, MAX_STEPS), ("timer_min_ms", 0, MAX_STEPS))


def exactly(value: float) -> Bounds:
    """The one allowed value (a field fixed by the data, e.g. MNIST's 784 pixels)."""
    return Bounds(value, value)


def _setting(default: Any, allowed: Bounds | Choices) -> Any:
    """A :class:`Config` field with its allowed range beside it (read by :func:`field_range`)."""
    return field(default=default, metadata={"allowed": allowed})


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
        this package's exact C++ kernel), "fast" (the same model in float32
        with per-neuron traces: several times faster, statistically
        equivalent, not bit-identical), "standalone" (Brian2's C++
        standalone device) or "runtime" (Brian2's Cython runtime, the
        reference). native, standalone and runtime give bit-identical results.
    frozen_rest_ms : float or None
        Silence simulated after each presentation in observe and test. The
        dynamic state is reset before every sample there, so any rest at least
        as long as the longest delay (all input spikes delivered) gives the
        same responses as the original script's 150 ms; None (default) uses
        ``delay_max_ms``. Not part of the model.
    """

    n_input: int = _setting(784, exactly(784))
    n_neurons: int = _setting(400, Bounds(1, 1_000_000))
    dt_ms: float = _setting(0.1, Bounds(1e-6, 10))
    v_rest_exc_mV: float = _setting(-65.0, VOLTAGE)
    v_rest_inh_mV: float = _setting(-60.0, VOLTAGE)
    v_reset_exc_mV: float = _setting(-65.0, VOLTAGE)
    v_reset_inh_mV: float = _setting(-45.0, VOLTAGE)
    v_thresh_exc_mV: float = _setting(-72.0, VOLTAGE)
    v_thresh_inh_mV: float = _setting(-40.0, VOLTAGE)
    e_inh_exc_mV: float = _setting(-100.0, VOLTAGE)
    e_inh_inh_mV: float = _setting(-85.0, VOLTAGE)
    tau_exc_ms: float = _setting(100.0, TIME_CONSTANT)
    tau_inh_ms: float = _setting(10.0, TIME_CONSTANT)
    tau_ge_ms: float = _setting(1.0, TIME_CONSTANT)
    tau_gi_ms: float = _setting(2.0, TIME_CONSTANT)
    refractory_exc_ms: float = _setting(5.0, NON_NEGATIVE)
    refractory_inh_ms: float = _setting(2.0, NON_NEGATIVE)
    timer_min_ms: float = _setting(50.0, NON_NEGATIVE)
    theta_init_mV: float = _setting(20.0, VOLTAGE)
    theta_plus_mV: float = _setting(0.05, NON_NEGATIVE)
    tau_theta_ms: float = _setting(1e7, TIME_CONSTANT)
    w_exc_inh: float = _setting(10.4, NON_NEGATIVE)
    w_inh_exc: float = _setting(17.0, NON_NEGATIVE)
    w_init_scale: float = _setting(0.3, NON_NEGATIVE)
    w_init_offset: float = _setting(0.01, NON_NEGATIVE)
    w_max: float = _setting(1.0, POSITIVE)
    delay_max_ms: float = _setting(10.0, NON_NEGATIVE)
    nu_pre: float = _setting(1e-4, NON_NEGATIVE)
    nu_post: float = _setting(0.01, NON_NEGATIVE)
    tau_pre_ms: float = _setting(20.0, TIME_CONSTANT)
    tau_post1_ms: float = _setting(20.0, TIME_CONSTANT)
    tau_post2_ms: float = _setting(40.0, TIME_CONSTANT)
    weight_sum: float = _setting(78.0, POSITIVE)
    present_ms: float = _setting(350.0, POSITIVE)
    rest_ms: float = _setting(150.0, NON_NEGATIVE)
    input_rate_divisor: float = _setting(8.0, POSITIVE)
    intensity: float = _setting(2.0, Bounds(0, 1000, low_open=True))
    max_intensity: float = _setting(32.0, Bounds(0, 1000, low_open=True))
    min_spikes: int = _setting(5, Bounds(0, 10**9))
    backend: str = _setting("native", EngineChoices())
    frozen_rest_ms: float | None = _setting(None, NON_NEGATIVE)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "frozen_rest_ms":
                continue
            if f.type in ("float | None",) and isinstance(value, (int, float)) \
                    and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
            elif f.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"{f.name} must be an int, got {type(value).__name__}")
            elif f.type in ("float", float):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise TypeError(f"{f.name} must be a number, got {type(value).__name__}")
                if value != value or value in (float("inf"), float("-inf")):
                    raise ValueError(f"{f.name} == {value}, must be finite")
                try:
                    object.__setattr__(self, f.name, float(value))
                except OverflowError:  # an int beyond the largest float
                    raise ValueError(f"{f.name} == {_shown(value)}, must be "
                                     f"{f.metadata['allowed'].describe()}") from None
            elif f.type in ("str", str):
                if not isinstance(value, str):
                    raise TypeError(f"{f.name} must be a str, got {type(value).__name__}")
            else:
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise TypeError(f"{f.name} must be a number or None, "
                                    f"got {type(value).__name__}")
            allowed = f.metadata["allowed"]
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} == {value}, must be finite")
            if not allowed.contains(value):
                raise ValueError(f"{f.name} == {_shown(value)}, must be {allowed.describe()}")
        # Relations between fields.
        if self.max_intensity < self.intensity:
            raise ValueError(
                f"max_intensity == {self.max_intensity}, must be >= intensity ({self.intensity})")
        if self.rest_ms < self.delay_max_ms:
            # Input spikes still in flight would cross into the next sample.
            raise ValueError(
                f"rest_ms == {self.rest_ms}, must be >= delay_max_ms ({self.delay_max_ms})")
        if self.frozen_rest_ms is not None and self.frozen_rest_ms < self.delay_max_ms:
            raise ValueError(f"frozen_rest_ms == {self.frozen_rest_ms}, must be >= "
                             f"delay_max_ms ({self.delay_max_ms})")
        self._check_step_counts()
        for name in ("present_ms", "rest_ms", "frozen_slot_ms"):
            steps = getattr(self, name) / self.dt_ms
            if abs(steps - round(steps)) > 1e-9:
                raise ValueError(f"{name} == {getattr(self, name)}, must be a multiple of "
                                 f"dt_ms ({self.dt_ms})")

    def _check_step_counts(self) -> None:
        """Every duration the engines count in time steps, counted, in 0..:data:`MAX_STEPS`
        (the longest delay in 0..:data:`MAX_DELAY_STEPS`).

        The one check of the derived quantities that reach the kernels: each
        duration of :data:`_STEP_COUNTS` over ``dt_ms``, a presentation plus its
        rest, and a frozen slot. Made before any work, so that no count can
        overflow or wrap where an engine converts it to an integer.

        Raises
        ------
        ValueError
            Naming the fields, their values and the allowed number of steps.
        """
        counts = [(name, getattr(self, name), low, high) for name, low, high in _STEP_COUNTS]
        frozen_rest = "delay_max_ms" if self.frozen_rest_ms is None else "frozen_rest_ms"
        counts += [("(present_ms + rest_ms)", self.sample_ms, 1, MAX_STEPS),
                   (f"(present_ms + {frozen_rest})", self.frozen_slot_ms, 1, MAX_STEPS)]
        for name, duration, low, high in counts:
            steps = duration / self.dt_ms
            if not (math.isfinite(steps) and low - 1e-9 <= steps <= high):
                limit = "MAX_STEPS" if high == MAX_STEPS else "MAX_DELAY_STEPS"
                raise ValueError(
                    f"{name} / dt_ms == {steps:.6g} time steps ({name} == {duration!r}, "
                    f"dt_ms == {self.dt_ms!r}), must be in {low}..{high} ({limit})")

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
        raise ConfigError(f"{source}: unknown configuration fields {unknown}"
                          f"{_suggest(unknown[0])}; known fields: {', '.join(field_names())}")
    try:
        return Config(**data)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{source}: {exc}") from exc


# --------------------------------------------------------------------------
# Settings from the command line and from files
# --------------------------------------------------------------------------
#: Words that set an optional field (``frozen_rest_ms``) back to None.
_NONE_WORDS = ("none", "null", "")


def field_names() -> list[str]:
    """Every :class:`Config` field, in declaration order."""
    return [f.name for f in fields(Config)]


def _field(name: str, source: str = "--set"):
    for f in fields(Config):
        if f.name == name:
            return f
    raise ConfigError(f"{source}: unknown configuration field {name!r}{_suggest(name)}; "
                      f"known fields: {', '.join(field_names())}")


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, field_names(), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def field_range(name: str) -> Bounds | Choices:
    """The allowed values of field ``name`` (declared beside the field)."""
    return _field(name, "field_range").metadata["allowed"]


def parse_setting(name: str, text: str, *, source: str = "--set") -> Any:
    """The value of field ``name`` written as ``text`` (``--set name=text``), typed.

    Only the type is checked here; the range is checked once, when the
    :class:`Config` is built.

    Raises
    ------
    ConfigError
        For an unknown field, or text that is not of the field's type.
    """
    f = _field(name, source)
    text = text.strip()
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    if kind == "str":
        return text
    if kind == "float | None" and text.lower() in _NONE_WORDS:
        return None
    allowed = f.metadata["allowed"].describe()
    digits = text.lstrip("+-").replace("_", "")
    if digits.isdigit() and len(digits) > (sys.get_int_max_str_digits() or 4300):
        # int() refuses it (Python's limit on decimal conversion): say why, naming the field
        raise ConfigError(f"{source} {name}={shorten(text)}: an integer of {len(digits)} "
                          f"digits; {name} must be {allowed}")
    try:
        if kind == "int":
            return int(text)
        return float(text)
    except ValueError:
        wanted = {"int": "an integer", "float": "a number"}.get(kind, "a number or none")
        raise ConfigError(f"{source} {name}={shorten(text)}: {shorten(text)!r} is not {wanted}; "
                          f"{name} must be {allowed}") from None


def parse_assignment(text: str, *, source: str = "--set") -> tuple[str, Any]:
    """``"nu_post=0.02"`` -> ``("nu_post", 0.02)`` (see :func:`parse_setting`)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"{source} {text!r}: must be KEY=VALUE with KEY a configuration "
                          f"field, e.g. nu_post=0.02")
    return name.strip(), parse_setting(name.strip(), value, source=source)


def apply_settings(cfg: Config, settings: Mapping[str, Any], *,
                   source: str = "--set") -> Config:
    """``cfg`` with ``settings`` (typed values) applied, validated once.

    Raises
    ------
    ConfigError
        Naming ``source``, the field, the value and the allowed range.
    """
    for name in settings:
        _field(name, source)
    try:
        return cfg.replace(**dict(settings))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def read_config_file(path: str | os.PathLike, base: Config | None = None) -> Config:
    """A configuration file (TOML or JSON, by extension) applied over ``base``.

    The file holds a flat table of :class:`Config` fields (any subset; an
    optional ``version``). A run directory's ``config.json`` (the fields under
    ``"config"``) and ``stdp-ray config show`` output are accepted as they are.

    Raises
    ------
    ConfigError
        If the file is missing or unparsable, names an unknown field, or holds
        a value of the wrong type or out of range (the message names the file
        and the field).
    """
    from . import reading

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"--config {path}: unknown format {path.suffix!r}, must be .toml "
                          "or .json")
    try:
        # Bounded: a regular file (never a device or a FIFO) of at most 1 MiB, strict UTF-8.
        text = reading.read_text(path, reading.MAX_CONFIG_BYTES, follow_links=True)
        raw = (reading.parse_toml(text, str(path)) if suffix == ".toml"
               else reading.parse_json(text, str(path)))
    except reading.ArtifactError as exc:
        raise ConfigError(f"--config {exc}") from None
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {path}: must hold a table of configuration fields")
    if isinstance(raw.get("config"), dict):  # a run directory's config.json
        raw = raw["config"]
    raw = dict(raw)
    version = raw.pop("version", CONFIG_VERSION)
    if version != CONFIG_VERSION:
        raise ConfigError(f"--config {path}: configuration version == {version}, this "
                          f"stdp-ray reads version {CONFIG_VERSION}")
    for name, value in raw.items():
        f = _field(name, f"--config {path}")
        if f.type == "float | None" and isinstance(value, str) \
                and value.lower() in _NONE_WORDS:
            raw[name] = None
    return apply_settings(base or Config(), raw, source=f"--config {path}")


def format_config(cfg: Config, fmt: str = "toml") -> str:
    """``cfg`` as TOML (fields with their allowed ranges as comments) or JSON.

    Both read back with :func:`read_config_file` to the same :class:`Config`.
    In TOML a field at its default is a comment (``# nu_post = 0.01  # default;
    must be >= 0``) and only the others are set, so ``config show > my.toml``
    followed by appending ``nu_post = 0.02`` (or uncommenting the line) sets
    that field: TOML refuses a key set twice, and a default is never set.
    """
    if fmt == "json":
        return json.dumps(config_to_dict(cfg), indent=2)
    if fmt != "toml":
        raise ConfigError(f"format == {fmt!r}, must be one of ('toml', 'json')")
    default = Config()
    lines = [f"# stdp-ray configuration (model hash {cfg.model_hash()})",
             "# fields at their default are comments: append or uncomment KEY = VALUE to set one",
             f"version = {CONFIG_VERSION}"]
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        allowed = f.metadata["allowed"].describe()
        if value is None:
            shown, allowed = '"none"', f"{allowed} or unset"
        else:
            shown = json.dumps(value) if isinstance(value, str) else repr(value)
        if value == getattr(default, f.name):
            lines.append(f"# {f.name} = {shown}  # default; must be {allowed}")
        else:
            lines.append(f"{f.name} = {shown}  # must be {allowed}")
    return "\n".join(lines) + "\n"
