"""Intervals of accuracies: Wilson for one network, spread and prediction over seeds."""

from __future__ import annotations

import math

import pytest

from stdp_ray import intervals


@pytest.mark.parametrize("accuracy, n, low, high", [
    (0.0, 10, 0.0, 0.2775),        # the textbook 0/10 case
    (0.8, 10, 0.4902, 0.9433),     # 8/10
    (0.9, 10_000, 0.8940, 0.9058),  # about +- 0.6 points on the full test set
    (1.0, 50, 0.9287, 1.0),
])
def test_the_wilson_interval_matches_known_values(accuracy, n, low, high):
    iv = intervals.wilson_interval(accuracy, n)
    assert iv.low == pytest.approx(low, abs=5e-4)
    assert iv.high == pytest.approx(high, abs=5e-4)
    assert iv.contains(accuracy)


def test_the_wilson_interval_is_symmetric_in_right_and_wrong():
    a, b = intervals.wilson_interval(0.3, 200), intervals.wilson_interval(0.7, 200)
    assert a.low == pytest.approx(1 - b.high)
    assert a.high == pytest.approx(1 - b.low)


def test_fewer_images_give_a_wider_interval():
    widths = [intervals.wilson_interval(0.9, n).half_width for n in (200, 1_000, 10_000)]
    assert widths == sorted(widths, reverse=True)
    assert widths[0] > 0.03 > 0.006 > widths[2]


def test_seeds_give_their_mean_sd_and_where_one_more_network_would_fall():
    s = intervals.seed_summary([0.88, 0.87, 0.89])
    assert s.k == 3 and s.mean == pytest.approx(0.88) and s.sd == pytest.approx(0.01)
    half = 4.303 * 0.01 * math.sqrt(1 + 1 / 3)
    assert s.prediction.low == pytest.approx(0.88 - half)
    assert s.prediction.high == pytest.approx(0.88 + half)


def test_one_seed_has_no_spread_and_no_prediction_interval():
    s = intervals.seed_summary([0.5])
    assert (s.k, s.mean, s.sd, s.prediction) == (1, 0.5, 0.0, None)


def test_a_value_outside_the_interval_is_said_to_differ():
    iv = intervals.wilson_interval(0.558, 10_000)
    assert intervals.outside(iv, 0.829) is True
    assert intervals.outside(iv, 0.558) is False
    assert intervals.outside(None, 0.829) is None
    assert intervals.outside(iv, None) is None


@pytest.mark.parametrize("dof, expected", [(1, 12.706), (4, 2.776), (30, 2.042), (1000, 1.96)])
def test_t_quantiles(dof, expected):
    assert intervals.t_quantile(dof) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: intervals.wilson_interval(1.2, 10), ValueError, r"accuracy == 1.2, must be in \[0, 1\]"),
    (lambda: intervals.wilson_interval(0.5, 0), ValueError, r"n == 0, must be an integer >= 1"),
    (lambda: intervals.wilson_interval(0.5, True), ValueError, r"n == True"),
    (lambda: intervals.wilson_interval("0.5", 10), TypeError, r"accuracy is a str"),
    (lambda: intervals.seed_summary([]), ValueError, r"accuracies is empty"),
    (lambda: intervals.seed_summary([0.5, float("nan")]), ValueError, r"accuracies\[1\] == nan"),
    (lambda: intervals.t_quantile(0), ValueError, r"dof == 0, must be an integer >= 1"),
])
def test_bad_input_is_refused_naming_it(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
