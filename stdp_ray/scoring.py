"""Label assignment, prediction and scoring: pure functions on spike-count arrays."""

from __future__ import annotations

import numpy as np

from .network import NUM_CLASSES

__all__ = ["NUM_CLASSES", "assign_labels", "class_scores", "predict", "confusion_matrix",
           "accuracy", "combine_scores", "majority_vote"]


def _check_counts(counts: np.ndarray, name: str = "counts") -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"{name} has {counts.ndim} dimensions, must be 2 (samples, neurons)")
    return counts


def _check_labels(labels: np.ndarray, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels has shape {labels.shape}, must be ({n},)")
    if n and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError("labels must lie in 0..9")
    return labels.astype(np.int64)


def assign_labels(counts: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assign each neuron the class to which it responds most on average.

    Parameters
    ----------
    counts : ndarray, shape (n_samples, n_neurons)
        Response spike counts.
    labels : ndarray, shape (n_samples,)
        Class of each sample.

    Returns
    -------
    assignments : ndarray, shape (n_neurons,), int64
        ``argmax`` over classes of the mean response (ties: lowest class).
    class_rates : ndarray, shape (10, n_neurons), float64
        Mean response of each neuron to each class (0 for absent classes).
    """
    counts = _check_counts(counts)
    labels = _check_labels(labels, counts.shape[0])
    if counts.shape[0] == 0:
        raise ValueError("counts has 0 samples, must be >= 1")
    sums = np.zeros((NUM_CLASSES, counts.shape[1]))
    np.add.at(sums, labels, counts)
    n = np.bincount(labels, minlength=NUM_CLASSES).astype(float)
    rates = np.divide(sums, n[:, None], out=np.zeros_like(sums), where=n[:, None] > 0)
    return np.argmax(rates, axis=0), rates


def class_scores(counts: np.ndarray, assignments: np.ndarray) -> np.ndarray:
    """Mean response of the neurons assigned to each class.

    Returns
    -------
    ndarray, shape (n_samples, 10), float64
        NaN for classes that no neuron is assigned to.
    """
    counts = _check_counts(counts).astype(float)
    assignments = np.asarray(assignments)
    if assignments.shape != (counts.shape[1],):
        raise ValueError(f"assignments has shape {assignments.shape}, must be "
                         f"({counts.shape[1]},)")
    onehot = (assignments[:, None] == np.arange(NUM_CLASSES)[None, :]).astype(float)
    size = onehot.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = (counts @ onehot) / size[None, :]
    scores[:, size == 0] = np.nan
    return scores


def predict(scores: np.ndarray) -> np.ndarray:
    """Class with the highest score per row (NaN never wins; ties: lowest class)."""
    scores = np.asarray(scores, dtype=float)
    filled = np.where(np.isnan(scores), -np.inf, scores)
    return np.argmax(filled, axis=1)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(10, 10) int64 counts: rows true class, columns predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {labels.shape} and predicted {predicted.shape} differ in shape")
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(cm, (labels, predicted), 1)
    return cm


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of correct predictions."""
    labels = np.asarray(labels)
    predicted = np.asarray(predicted)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {labels.shape} and predicted {predicted.shape} differ in shape")
    if labels.size == 0:
        raise ValueError("labels is empty, must hold >= 1 sample")
    return float(np.mean(labels == predicted))


def combine_scores(member_scores: list[np.ndarray]) -> np.ndarray:
    """Ensemble score: the sum over members of their per-class scores (NaN counts as 0)."""
    if not member_scores:
        raise ValueError("member_scores is empty, must hold >= 1 member")
    stack = np.stack([np.nan_to_num(np.asarray(s, dtype=float), nan=0.0) for s in member_scores])
    return stack.sum(axis=0)


def majority_vote(member_predictions: list[np.ndarray]) -> np.ndarray:
    """Most frequent prediction per sample across members (ties: lowest class)."""
    if not member_predictions:
        raise ValueError("member_predictions is empty, must hold >= 1 member")
    preds = np.stack([np.asarray(p, dtype=np.int64) for p in member_predictions])
    votes = np.zeros((preds.shape[1], NUM_CLASSES), dtype=np.int64)
    for p in preds:
        votes[np.arange(preds.shape[1]), p] += 1
    return np.argmax(votes, axis=1)
