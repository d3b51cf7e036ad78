"""How the input synapses are laid out for the compiled kernels: groups by delay.

Brian2's spike queue delivers, in each step, the input spikes emitted ``d``
steps ago to their synapses of delay ``d``. Both kernels therefore keep the
784 x n input synapses grouped by (input neuron, delay), targets ascending:
the arrivals of one step are a few contiguous runs of memory. Each thread of
a kernel owns a range of neurons and, within every group, the consecutive
entries of its neurons (:func:`thread_splits`). :class:`SynapseLayout` holds
one network's grouping and converts synapse arrays between the pixel-major
order of the rest of the package (synapse ``i * n + j``) and group order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: the model's record is read, never imported here
    from ..config import Config


__all__ = ["delay_steps", "checked_steps", "delay_groups", "thread_splits", "thread_major_groups", "share_starts",
           "SynapseLayout"]


def delay_steps(delays_ms: np.ndarray, cfg: Config) -> np.ndarray:
    """Each synapse's delay in steps, rounded as Brian2's spike queue rounds it."""
    return (np.asarray(delays_ms, dtype=np.float64).reshape(-1) * 1e-3 / (cfg.dt_ms * 1e-3)
            + 0.5).astype(np.int64)


def checked_steps(delays_ms: np.ndarray, cfg: Config) -> tuple[np.ndarray, int]:
    """Each synapse's delay in steps (:func:`delay_steps`) and the largest, checked to be
    one per input synapse."""
    n_syn = cfg.n_input * cfg.n_neurons
    d = delay_steps(delays_ms, cfg)
    if d.size != n_syn:
        raise ValueError(f"delays hold {d.size} values, must hold {n_syn}")
    return d, (int(d.max()) if d.size else 0)


def delay_groups(delays_ms: np.ndarray, cfg: Config):
    """Input synapses grouped by (input neuron, delay), targets ascending.

    Returns
    -------
    start : ndarray of int64, (n_input * (max_delay + 1) + 1,)
        Group ``i * (max_delay + 1) + d`` is ``syn[start[g]:start[g + 1]]``.
    syn, post : ndarray of int32
        Synapse index ``i * n + j`` and target ``j`` of each entry.
    max_delay : int
    """
    n_in, n = cfg.n_input, cfg.n_neurons
    d, max_delay = checked_steps(delays_ms, cfg)
    k = np.arange(n_in * n, dtype=np.int64)
    i, j = np.divmod(k, n)
    order = np.lexsort((j, d, i))
    groups = i * (max_delay + 1) + d
    start = np.zeros(n_in * (max_delay + 1) + 1, dtype=np.int64)
    np.cumsum(np.bincount(groups, minlength=n_in * (max_delay + 1)), out=start[1:])
    return (start, k[order].astype(np.int32), j[order].astype(np.int32), max_delay)


def thread_splits(start: np.ndarray, post: np.ndarray, n: int, threads: int) -> np.ndarray:
    """Where each thread's entries of each delay group start.

    Thread ``t`` owns the neurons ``[t*n//threads, (t+1)*n//threads)``; within
    a group (targets ascending) its entries are consecutive. Returns an int32
    array of ``(n_groups + 1) * threads``: ``[g*threads + t]`` is where thread
    ``t``'s entries of group ``g`` start; each ends where the next one starts
    (the last row is a sentinel). With one thread, the groups' starts.
    """
    n_groups = start.size - 1
    owner = np.searchsorted((np.arange(1, threads) * n) // threads, np.arange(n), side="right")
    group_of = np.repeat(np.arange(n_groups), np.diff(start))
    per = np.bincount(group_of * threads + owner[post], minlength=n_groups * threads)
    split = np.empty((n_groups + 1, threads), dtype=np.int64)
    split[:-1, 0] = start[:-1]
    split[:-1, 1:] = start[:-1, None] + np.cumsum(per.reshape(n_groups, threads), axis=1)[:, :-1]
    split[-1] = start[-1]
    if start[-1] >= 2**31:
        raise ValueError(f"{start[-1]} synapses, a kernel holds at most 2**31 - 1")
    return np.ascontiguousarray(split.reshape(-1), dtype=np.int32)


def share_starts(n: int, threads: int) -> np.ndarray:
    """Where each thread's neurons start in the fast kernel, and ``n``: ``t * n // threads``
    rounded up to a multiple of 16 (a cache line of float32), so that no cache line of a
    per-neuron array is written by two threads (``share_start`` in ``fast_kernel.cpp``)."""
    t = np.arange(threads + 1, dtype=np.int64)
    out = np.minimum(n, (t * n // threads + 15) // 16 * 16)
    out[-1] = n
    return out


def thread_major_groups(delays_ms: np.ndarray, cfg: Config, threads: int):
    """Delay groups stored thread by thread: each thread's entries of every group together.

    Thread ``t`` owns the neurons ``[share_starts(n, threads)[t], ...[t + 1])``. Its
    entries of group ``g`` are ``split[g*threads + t]:split[(g+1)*threads + t]``,
    all of them one contiguous region of memory, so that no cache line of the
    weights is written by two threads (with :func:`thread_splits`' order the
    line where one thread's part of a group ends and the next one's begins
    is). With one thread the order is :func:`delay_groups`'.

    Returns
    -------
    split : ndarray of int32, ((n_groups + 1) * threads,)
    syn, post : ndarray of int32
        Synapse index ``i * n + j`` and target ``j`` of each entry.
    max_delay : int
    """
    n_in, n = cfg.n_input, cfg.n_neurons
    d, max_delay = checked_steps(delays_ms, cfg)
    if d.size >= 2**31:
        raise ValueError(f"{d.size} synapses, a kernel holds at most 2**31 - 1")
    n_groups = n_in * (max_delay + 1)
    k = np.arange(n_in * n, dtype=np.int64)
    i, j = np.divmod(k, n)
    owner = np.searchsorted(share_starts(n, threads)[1:-1], j, side="right")
    group = i * (max_delay + 1) + d
    order = np.lexsort((j, group, owner))
    counts = np.bincount(owner * n_groups + group, minlength=threads * n_groups)
    starts = np.zeros(threads * n_groups + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    split = np.empty((n_groups + 1, threads), dtype=np.int64)
    split[:-1] = starts[:-1].reshape(threads, n_groups).T
    split[-1] = [starts[(t + 1) * n_groups] for t in range(threads)]
    return (np.ascontiguousarray(split.reshape(-1), dtype=np.int32),
            k[order].astype(np.int32), j[order].astype(np.int32), max_delay)


class SynapseLayout:
    """One network's input synapses in group order.

    Parameters
    ----------
    cfg : Config
    delays_ms : ndarray
        Delays of the input synapses, (n_input, n_neurons) or flat pixel-major.
    threads : int
        Threads the groups are split between.
    thread_major : bool
        Store each thread's entries together (:func:`thread_major_groups`);
        else :func:`delay_groups`' order split by :func:`thread_splits`.

    Attributes
    ----------
    start : ndarray of int64 or None
        Group ``g = i * (max_delay + 1) + d`` is entries ``start[g]:start[g + 1]``
        (None when thread-major).
    syn : ndarray of int32
        Group order: position ``e`` holds synapse ``syn[e]`` (pixel-major index).
    post : ndarray of int32
        The target neuron of each entry.
    inverse : ndarray of int64
        Pixel-major synapse ``k`` sits at position ``inverse[k]``.
    split : ndarray of int32
        :func:`thread_splits`.
    steps : ndarray of int64
        Each synapse's delay in steps, pixel-major.
    max_delay : int
    """

    def __init__(self, cfg: Config, delays_ms: np.ndarray, threads: int = 1,
                 thread_major: bool = False):
        self.n_input, self.n_neurons = cfg.n_input, cfg.n_neurons
        if thread_major:
            self.split, self.syn, self.post, self.max_delay = thread_major_groups(
                delays_ms, cfg, threads)
            self.start = None
        else:
            self.start, self.syn, self.post, self.max_delay = delay_groups(delays_ms, cfg)
            self.split = thread_splits(self.start, self.post, cfg.n_neurons, threads)
        self.steps = delay_steps(delays_ms, cfg)
        self.inverse = np.empty(self.syn.size, dtype=np.int64)
        self.inverse[self.syn] = np.arange(self.syn.size)

    def positions_by_neuron(self) -> np.ndarray:
        """(n_neurons, n_input): the position of synapse (i, j) at ``[j, i]``."""
        return self.inverse.reshape(self.n_input, self.n_neurons).T

    def to_groups(self, values: np.ndarray, dtype=None) -> np.ndarray:
        """A pixel-major synapse array in group order (a new contiguous array)."""
        return np.ascontiguousarray(np.asarray(values).reshape(-1)[self.syn], dtype=dtype)

    def from_groups(self, values: np.ndarray) -> np.ndarray:
        """A group-order synapse array back in pixel-major order."""
        return values[self.inverse]
