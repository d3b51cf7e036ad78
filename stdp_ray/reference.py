"""The paper's own figures, quoted: what this package's results are compared with.

Diehl, P. U. & Cook, M. (2015). Unsupervised learning of digit recognition using
spike-timing-dependent plasticity. Frontiers in Computational Neuroscience 9:99,
table 1. These are quotations, the only figures in this package that are typed
in rather than measured.
"""

from __future__ import annotations

__all__ = ["PAPER_ACCURACY", "PAPER_EPOCHS", "paper_accuracy"]

#: Test accuracy (a fraction) by excitatory neurons, Diehl & Cook (2015), table 1.
PAPER_ACCURACY: dict[int, float] = {100: 0.829, 400: 0.870, 1600: 0.919, 6400: 0.950}
#: Training epochs behind each of those figures, where this project's record gives them
#: (the 6,400-neuron network was trained for 15 epochs).
PAPER_EPOCHS: dict[int, int] = {6400: 15}


def paper_accuracy(n_neurons: int) -> float | None:
    """The paper's test accuracy for ``n_neurons`` excitatory neurons (None: not in table 1)."""
    return PAPER_ACCURACY.get(int(n_neurons))
