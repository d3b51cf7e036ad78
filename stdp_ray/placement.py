"""Where evaluation chunks run: dealt round robin over the nodes' CPU slots, on purpose.

Ray's default scheduler keeps millisecond-sized tasks on the driver's node while
it has a free CPU, and ``SPREAD`` spreads them only most of the time. Here the
chunks are dealt before any runs: the nodes that have CPUs, in the order of their
ids, each appear once per CPU in a cycle of slots (node A with 2 CPUs and B with
1: A, B, A), and chunk ``c`` goes to slot ``c mod len(cycle)``. Each node then has
its own queue, and a chunk is submitted to its node (Ray's node affinity) only
when that node has a free slot, so where every chunk ran follows from the
chunks and the cluster alone.

A node that leaves is noticed when a chunk meant for it comes back from another
node (the affinity is soft: Ray runs it elsewhere when its node is gone) or when
Ray no longer lists it; its queue is then dealt over the nodes that remain, in
the same way. Nothing here changes what a chunk computes: results never depend on
placement.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Mapping

__all__ = ["slot_cycle", "deal", "ChunkQueues", "cpu_nodes", "affinity"]


def slot_cycle(nodes: Mapping[str, float]) -> list[str]:
    """One cycle of CPU slots: each node id once per whole CPU, interleaved, ids sorted.

    Parameters
    ----------
    nodes : mapping
        Node id -> CPUs (nodes with fewer than one CPU get no slot).

    Returns
    -------
    list of str
        ``{"a": 2, "b": 1}`` -> ``["a", "b", "a"]``.

    Raises
    ------
    ValueError
        If no node has a CPU.
    """
    slots = {node: int(cpus) for node, cpus in nodes.items() if cpus >= 1}
    if not slots:
        raise ValueError(f"nodes == {dict(nodes)!r}: none has a CPU, cannot place chunks")
    order = sorted(slots)
    return [node for r in range(max(slots.values())) for node in order if slots[node] > r]


def deal(chunks: Iterable[int], nodes: Mapping[str, float]) -> dict[str, list[int]]:
    """Each node's chunks, dealt round robin over :func:`slot_cycle` in chunk order."""
    cycle = slot_cycle(nodes)
    dealt: dict[str, list[int]] = {node: [] for node in sorted(set(cycle))}
    for k, chunk in enumerate(chunks):
        dealt[cycle[k % len(cycle)]].append(chunk)
    return dealt


class ChunkQueues:
    """The chunks still to submit, one queue per node, and the slots each node has free.

    Parameters
    ----------
    chunks : iterable of int
        The chunks to compute, in order.
    nodes : mapping
        Node id -> CPUs of the nodes to use.
    limit : int, optional
        Most chunks in flight over all nodes (``--workers``); the slots are
        then the first ``limit`` of the cycle.
    """

    def __init__(self, chunks: Iterable[int], nodes: Mapping[str, float],
                 limit: int | None = None):
        cycle = slot_cycle(nodes)
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit == {limit}, must be >= 1")
            cycle = cycle[:limit] if limit <= len(cycle) else cycle
        self._capacity = {node: cycle.count(node) for node in set(cycle)}
        self._queues = {node: deque(dealt) for node, dealt in
                        deal(chunks, self._capacity).items()}
        self._busy = {node: 0 for node in self._queues}

    @property
    def nodes(self) -> list[str]:
        """The nodes in use, sorted."""
        return sorted(self._queues)

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def next_ready(self) -> list[tuple[int, str]]:
        """The chunks to submit now: ``(chunk, node)`` for every free slot with work,
        nodes in id order; marks them in flight."""
        ready = []
        for node in sorted(self._queues):
            queue = self._queues[node]
            while queue and self._busy[node] < self._capacity[node]:
                ready.append((queue.popleft(), node))
                self._busy[node] += 1
        return ready

    def finished(self, node: str) -> None:
        """A chunk meant for ``node`` came back: its slot is free."""
        if node in self._busy:
            self._busy[node] = max(0, self._busy[node] - 1)

    def node_left(self, node: str) -> list[int]:
        """``node`` is gone: deal its queued chunks over the nodes that remain.

        Returns
        -------
        list of int
            The chunks moved (empty if the node had none, or none remain).
        """
        if node not in self._queues or len(self._queues) == 1:
            return []
        moved = list(self._queues.pop(node))
        self._capacity.pop(node)
        self._busy.pop(node)
        for other, chunks in deal(moved, self._capacity).items():
            # After what the node already had: earlier chunks keep going first.
            self._queues[other].extend(chunks)
        return moved


def cpu_nodes() -> dict[str, float]:
    """The alive Ray nodes that have CPUs: node id -> CPUs (Ray must be started)."""
    import ray

    return {n["NodeID"]: float(n["Resources"].get("CPU", 0)) for n in ray.nodes()
            if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1}


def affinity(node: str):
    """Ray's scheduling strategy for ``node``, soft: elsewhere if the node is gone."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=node, soft=True)
