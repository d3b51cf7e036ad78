"""The arrays that define a network, their fingerprint and the number of classes.

This is the ground floor that every other layer shares: storage
(:mod:`stdp_ray.artifact`), the simulation engines (:mod:`stdp_ray.engines`),
training, evaluation and scoring. It imports neither Brian2 nor Ray, so code
that only moves networks around never loads a simulator.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["FrozenNetwork", "network_fingerprint", "NUM_CLASSES"]

#: Number of label classes (the digits 0-9).
NUM_CLASSES = 10


@dataclass(frozen=True)
class FrozenNetwork:
    """The arrays that define a trained network.

    Attributes
    ----------
    weights : ndarray, shape (n_input, n_neurons), float
        Input->exc weights (dimensionless), ``weights[i, j]`` from pixel i to neuron j.
    theta_mV : ndarray, shape (n_neurons,), float
        Adaptive threshold of each excitatory neuron in mV.
    delays_ms : ndarray, shape (n_input, n_neurons), float
        Input->exc delays in ms.
    """

    weights: np.ndarray
    theta_mV: np.ndarray
    delays_ms: np.ndarray


def network_fingerprint(arrays: FrozenNetwork) -> str:
    """Stable hash of a network's arrays (names simulators, run-time files and manifests).

    Parameters
    ----------
    arrays : FrozenNetwork

    Returns
    -------
    str
        16 hexadecimal digits of the SHA-256 of the arrays' shapes and float64 bytes.
    """
    h = hashlib.sha256()
    for arr in (arrays.weights, arrays.theta_mV, arrays.delays_ms):
        a = np.ascontiguousarray(arr, dtype=np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]
