"""Label assignment, prediction and scoring on small hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from stdp_ray.scoring import (NUM_CLASSES, accuracy, assign_labels, class_scores, combine_scores,
                              confusion_matrix, majority_vote, predict)

NAN = np.nan


def _row(**values: float) -> list[float]:
    """A 10-class score row, NaN except ``c<k>=value``."""
    row = [NAN] * NUM_CLASSES
    for key, value in values.items():
        row[int(key[1:])] = value
    return row


# --------------------------------------------------------------------------
# assign_labels
# --------------------------------------------------------------------------
# Samples of classes 0, 0, 1, 1, 2; three neurons.
# neuron 0: mean response 1 to class 0, 4 to class 1, 0 to class 2 -> class 1
# neuron 1: 0, 1, 6 -> class 2
# neuron 2: 3, 0, 5 -> class 2 by the mean, although its *sum* for class 0 (6)
#           beats that for class 2 (5): a sum instead of a mean would say 0.
COUNTS = np.array([[1, 0, 4],
                   [1, 0, 2],
                   [5, 1, 0],
                   [3, 1, 0],
                   [0, 6, 5]])
LABELS = np.array([0, 0, 1, 1, 2])


def test_assign_labels_takes_argmax_of_mean_response():
    assignments, rates = assign_labels(COUNTS, LABELS)
    np.testing.assert_array_equal(assignments, [1, 2, 2])
    assert assignments.dtype == np.int64
    expected = np.zeros((NUM_CLASSES, 3))
    expected[0] = [1, 0, 3]
    expected[1] = [4, 1, 0]
    expected[2] = [0, 6, 5]
    assert rates.shape == (NUM_CLASSES, 3) and rates.dtype == np.float64
    np.testing.assert_array_equal(rates, expected)


def test_absent_class_gets_rate_zero():
    # Only classes 4 and 6 appear: the other eight have no samples, and their
    # rate must be exactly 0 (not NaN from 0 / 0).
    _, rates = assign_labels(np.array([[2, 0], [0, 3]]), np.array([4, 6]))
    assert np.all(np.isfinite(rates))
    absent = [c for c in range(NUM_CLASSES) if c not in (4, 6)]
    np.testing.assert_array_equal(rates[absent], 0.0)
    np.testing.assert_array_equal(rates[4], [2, 0])
    np.testing.assert_array_equal(rates[6], [0, 3])


@pytest.mark.parametrize("counts, labels, expected", [
    # equal mean response to classes 3 and 7 -> 3
    (np.array([[2], [2]]), np.array([7, 3]), 3),
    # equal mean response to 5 and 8 (two samples of 8, one of 5)
    (np.array([[4], [6], [5]]), np.array([8, 8, 5]), 5),
    # a silent neuron ties every class at 0 -> 0
    (np.array([[0], [0]]), np.array([6, 9]), 0),
], ids=["two-classes", "different-sample-counts", "silent-neuron"])
def test_assign_labels_ties_go_to_lowest_class(counts, labels, expected):
    assignments, _ = assign_labels(counts, labels)
    assert assignments.tolist() == [expected]


@pytest.mark.parametrize("counts, labels, match", [
    (np.array([1, 2, 3]), np.array([0, 1, 2]), r"counts has 1 dimensions, must be 2"),
    (np.ones((3, 2)), np.array([0, 1]), r"labels has shape \(2,\), must be \(3,\)"),
    (np.ones((3, 2)), np.array([[0, 1, 2]]), r"labels has shape \(1, 3\), must be \(3,\)"),
    (np.ones((2, 2)), np.array([0, 10]), r"labels must lie in 0\.\.9"),
    (np.ones((2, 2)), np.array([-1, 3]), r"labels must lie in 0\.\.9"),
    (np.ones((0, 2)), np.array([], dtype=int), r"counts has 0 samples, must be >= 1"),
], ids=["1-D-counts", "short-labels", "2-D-labels", "label-10", "label-negative",
        "zero-samples"])
def test_assign_labels_rejects(counts, labels, match):
    with pytest.raises(ValueError, match=match):
        assign_labels(counts, labels)


# --------------------------------------------------------------------------
# class_scores / predict
# --------------------------------------------------------------------------
def test_class_scores_mean_over_assigned_neurons_nan_for_empty_classes():
    counts = np.array([[2, 4, 7, 1],
                       [0, 3, 0, 5]])
    assignments = np.array([1, 1, 3, 0])
    scores = class_scores(counts, assignments)
    expected = np.full((2, NUM_CLASSES), NAN)
    expected[:, 0] = [1, 5]
    expected[:, 1] = [3, 1.5]
    expected[:, 3] = [7, 0]
    assert scores.shape == (2, NUM_CLASSES) and scores.dtype == np.float64
    np.testing.assert_array_equal(scores, expected)  # NaN positions must match too


@pytest.mark.parametrize("counts, assignments, match", [
    (np.ones((2, 3)), np.array([0, 1]), r"assignments has shape \(2,\), must be \(3,\)"),
    (np.ones((2, 3)), np.array([[0, 1, 2]]), r"assignments has shape \(1, 3\), must be \(3,\)"),
    (np.ones(3), np.array([0, 1, 2]), r"counts has 1 dimensions, must be 2"),
], ids=["short", "2-D", "1-D-counts"])
def test_class_scores_rejects(counts, assignments, match):
    with pytest.raises(ValueError, match=match):
        class_scores(counts, assignments)


@pytest.mark.parametrize("row, expected", [
    # a NaN before every finite score: plain argmax would return the NaN's index
    (_row(c0=NAN, c1=-5.0, c2=-1.0), 2),
    (_row(c3=0.0), 3),
    (_row(c4=2.0, c7=2.0, c9=1.0), 4),
    ([1.0, 3.0, 3.0, NAN, 3.0, 0, 0, 0, 0, 0], 1),
], ids=["nan-first", "single-finite", "tie-with-nans", "tie-finite"])
def test_predict_nan_never_wins_ties_lowest(row, expected):
    assert predict(np.array([row])).tolist() == [expected]


def test_predict_is_per_row():
    scores = np.array([_row(c5=1.0, c6=0.5), _row(c5=0.5, c6=1.0)])
    np.testing.assert_array_equal(predict(scores), [5, 6])


# --------------------------------------------------------------------------
# confusion_matrix / accuracy
# --------------------------------------------------------------------------
TRUE = np.array([0, 0, 1, 2, 2, 2, 9])
PRED = np.array([0, 1, 1, 2, 0, 2, 3])


def test_confusion_matrix_known_example():
    cm = confusion_matrix(TRUE, PRED)
    expected = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    expected[0, 0] = 1
    expected[0, 1] = 1
    expected[1, 1] = 1
    expected[2, 2] = 2
    expected[2, 0] = 1
    expected[9, 3] = 1
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == TRUE.size


def test_accuracy_known_example():
    assert accuracy(TRUE, PRED) == pytest.approx(4 / 7)
    assert accuracy(TRUE, TRUE) == 1.0


def test_accuracy_rejects_empty():
    with pytest.raises(ValueError, match=r"labels is empty, must hold >= 1 sample"):
        accuracy(np.array([], dtype=int), np.array([], dtype=int))


@pytest.mark.parametrize("func", [confusion_matrix, accuracy], ids=["confusion", "accuracy"])
@pytest.mark.parametrize("labels, predicted", [
    (np.array([1, 2, 3]), np.array([1, 2])),
    # shapes numpy would broadcast silently: (1,) against (3,), (3, 1) against (3,)
    (np.array([1]), np.array([1, 1, 1])),
    (np.array([[1], [2], [3]]), np.array([1, 2, 3])),
], ids=["3-vs-2", "1-vs-3", "3x1-vs-3"])
def test_shape_mismatch_rejected(func, labels, predicted):
    with pytest.raises(ValueError, match=r"labels .* and predicted .* differ in shape"):
        func(labels, predicted)


# --------------------------------------------------------------------------
# Ensembles
# --------------------------------------------------------------------------
def test_combine_scores_sums_with_nan_as_zero_and_beats_each_member():
    # True class 2. Member A says 1 (it has no class-0 neuron), member B says 0
    # (it has no class-1 neuron); summed with NaN as 0 the ensemble says 2.
    a = np.array([_row(c0=NAN, c1=5.0, c2=4.0)])
    b = np.array([_row(c0=6.0, c1=NAN, c2=4.0)])
    assert predict(a).tolist() == [1]
    assert predict(b).tolist() == [0]
    combined = combine_scores([a, b])
    expected = np.zeros((1, NUM_CLASSES))
    expected[0, :3] = [6.0, 5.0, 8.0]
    np.testing.assert_array_equal(combined, expected)  # no NaN survives
    assert predict(combined).tolist() == [2]


def test_combine_scores_single_member_is_nan_to_zero():
    a = np.array([_row(c1=2.0), _row(c4=3.0)])
    expected = np.nan_to_num(a, nan=0.0)
    np.testing.assert_array_equal(combine_scores([a]), expected)


def test_combine_scores_rejects_members_of_different_shape():
    with pytest.raises(ValueError, match=r"same shape"):
        combine_scores([np.zeros((2, NUM_CLASSES)), np.zeros((3, NUM_CLASSES))])


def test_majority_vote_beats_each_member():
    labels = np.array([1, 2, 3])
    members = [np.array([1, 2, 0]), np.array([1, 9, 3]), np.array([8, 2, 3])]
    assert all(accuracy(labels, m) == pytest.approx(2 / 3) for m in members)
    vote = majority_vote(members)
    np.testing.assert_array_equal(vote, labels)
    assert vote.dtype.kind == "i"


@pytest.mark.parametrize("members, expected", [
    ([[4], [6]], [4]),
    ([[6], [4]], [4]),
    ([[9], [5], [7]], [5]),
    ([[6], [4], [6], [4]], [4]),
    ([[8], [3], [8]], [8]),
], ids=["two-way-a", "two-way-b", "three-way", "two-two", "clear-majority"])
def test_majority_vote_ties_lowest_class(members, expected):
    assert majority_vote([np.array(m) for m in members]).tolist() == expected


@pytest.mark.parametrize("func, match", [
    (combine_scores, r"member_scores is empty, must hold >= 1 member"),
    (majority_vote, r"member_predictions is empty, must hold >= 1 member"),
], ids=["combine", "vote"])
def test_ensembles_reject_empty(func, match):
    with pytest.raises(ValueError, match=match):
        func([])

