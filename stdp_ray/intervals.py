"""How sure an accuracy is: the binomial interval of one network, the spread over seeds.

A test accuracy is ``correct / n`` over ``n`` test images; its uncertainty for
one network is binomial (the images are a sample of all digits that could be
drawn). Networks trained from different seeds differ beyond that: a training is
chaotic, and one spike more sends it on its own trajectory. So a row made of
one network gets the Wilson score interval of its accuracy, and a row made of
several seeds gets their mean and standard deviation, and the interval in which
one more network of the same recipe would fall (a prediction interval): that is
the interval against which a single published network (the paper's) is judged.

All functions are pure and take fractions in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["CONFIDENCE", "Interval", "SeedSummary", "wilson_interval", "seed_summary",
           "t_quantile", "outside"]

#: The confidence of every interval this package reports.
CONFIDENCE = 0.95

# Two-sided 95 % quantiles of Student's t by degrees of freedom (1..30); above 30 the
# normal quantile is within 4 % (scipy is not a dependency).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_Z95 = 1.959964


@dataclass(frozen=True)
class Interval:
    """A two-sided interval of an accuracy.

    Attributes
    ----------
    low, high : float
        Its ends, fractions in [0, 1].
    """

    low: float
    high: float

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside (ends included)."""
        return self.low <= value <= self.high

    @property
    def half_width(self) -> float:
        """Half its width, a fraction."""
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class SeedSummary:
    """Networks of one recipe trained from several seeds.

    Attributes
    ----------
    k : int
        Networks (seeds).
    mean, sd : float
        Mean accuracy and its sample standard deviation (ddof=1; 0 for one network).
    prediction : Interval
        Where one more network of the recipe falls with 95 % probability:
        ``mean +- t(k-1) * sd * sqrt(1 + 1/k)`` (assumes normal spread between seeds),
        clipped to [0, 1]; for ``k == 1`` the binomial interval is all there is, and
        this is None.
    """

    k: int
    mean: float
    sd: float
    prediction: Interval | None


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} is a {type(value).__name__}, must be a number")
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} == {value}, must be in [0, 1]")
    return value


def t_quantile(dof: int) -> float:
    """The two-sided 95 % quantile of Student's t with ``dof`` >= 1 degrees of freedom."""
    if isinstance(dof, bool) or not isinstance(dof, (int, np.integer)) or dof < 1:
        raise ValueError(f"dof == {dof!r}, must be an integer >= 1")
    return _T95[dof - 1] if dof <= len(_T95) else _Z95


def wilson_interval(accuracy: float, n: int) -> Interval:
    """The 95 % Wilson score interval of an accuracy measured on ``n`` images.

    Parameters
    ----------
    accuracy : float
        Correct answers / ``n``, in [0, 1].
    n : int
        Test images scored, >= 1.

    Returns
    -------
    Interval
        Never outside [0, 1]; for 10,000 images near 90 % it is about +- 0.6 points.
    """
    p = _check_fraction("accuracy", accuracy)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n == {n!r}, must be an integer >= 1 (test images)")
    z2 = _Z95 * _Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # Rounding must not leave p itself outside (at p == 0 or 1 an end is p exactly).
    return Interval(max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def seed_summary(accuracies: Sequence[float]) -> SeedSummary:
    """Mean, standard deviation and prediction interval of networks from several seeds.

    Parameters
    ----------
    accuracies : sequence of float
        One accuracy per seed (>= 1), fractions in [0, 1].
    """
    values = [_check_fraction(f"accuracies[{i}]", a) for i, a in enumerate(accuracies)]
    if not values:
        raise ValueError("accuracies is empty, need >= 1 network")
    k = len(values)
    mean = float(np.mean(values))
    if k == 1:
        return SeedSummary(1, mean, 0.0, None)
    sd = float(np.std(values, ddof=1))
    half = t_quantile(k - 1) * sd * math.sqrt(1 + 1 / k)
    return SeedSummary(k, mean, sd, Interval(max(0.0, mean - half), min(1.0, mean + half)))


def outside(interval: Interval | None, value: float | None) -> bool | None:
    """Whether ``value`` lies outside ``interval`` (None when either is unknown)."""
    if interval is None or value is None:
        return None
    return not interval.contains(_check_fraction("value", value))
