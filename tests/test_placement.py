"""Where evaluation chunks run: dealt round robin over the nodes' CPU slots."""

from __future__ import annotations

import pytest

from stdp_ray import placement


@pytest.mark.parametrize("nodes, cycle", [
    ({"b": 1, "a": 1}, ["a", "b"]),
    ({"a": 2, "b": 1}, ["a", "b", "a"]),
    ({"a": 1, "b": 3, "c": 0.5}, ["a", "b", "b", "b"]),   # no slot below one CPU
    ({"x": 2.0}, ["x", "x"]),
])
def test_a_cycle_has_each_node_once_per_cpu_interleaved_in_id_order(nodes, cycle):
    assert placement.slot_cycle(nodes) == cycle


def test_no_cpu_no_placement():
    with pytest.raises(ValueError, match=r"none has a CPU, cannot place chunks"):
        placement.slot_cycle({"a": 0.5})


def test_chunks_are_dealt_in_order_over_the_cycle():
    assert placement.deal(range(7), {"a": 2, "b": 1}) == {"a": [0, 2, 3, 5, 6], "b": [1, 4]}


def test_a_node_gets_a_chunk_only_when_it_has_a_free_slot():
    queues = placement.ChunkQueues(range(6), {"a": 1, "b": 1})
    assert queues.next_ready() == [(0, "a"), (1, "b")]
    assert queues.next_ready() == []            # both busy
    queues.finished("b")
    assert queues.next_ready() == [(3, "b")]    # b's next, not a's
    queues.finished("a")
    queues.finished("b")
    assert queues.next_ready() == [(2, "a"), (5, "b")]
    assert len(queues) == 1


def test_placement_follows_from_the_chunks_and_the_cluster_alone():
    runs = []
    for order in (["a", "b"], ["b", "a"]):   # nodes listed and finishing in either order
        queues = placement.ChunkQueues(range(8), {n: 2 for n in order})
        ran = {}
        while len(queues):
            for chunk, node in queues.next_ready():
                ran[chunk] = node
            for node in order:
                queues.finished(node)
        runs.append(ran)
    assert runs[0] == runs[1] == {c: "abab"[c % 4] for c in range(8)}


def test_the_queue_of_a_node_that_left_is_dealt_over_the_others():
    queues = placement.ChunkQueues(range(9), {"a": 1, "b": 1, "c": 1})
    assert queues.next_ready() == [(0, "a"), (1, "b"), (2, "c")]
    assert queues.node_left("b") == [4, 7]
    assert queues.nodes == ["a", "c"]
    queues.finished("a")
    queues.finished("c")
    assert queues.next_ready() == [(3, "a"), (5, "c")]
    remaining = []
    while len(queues):
        queues.finished("a")
        queues.finished("c")
        remaining += queues.next_ready()
    assert sorted(c for c, _ in remaining) == [4, 6, 7, 8]   # every chunk once


def test_the_last_node_never_leaves_and_unknown_nodes_are_ignored():
    queues = placement.ChunkQueues(range(3), {"a": 1})
    assert queues.node_left("a") == [] and queues.nodes == ["a"]
    assert queues.node_left("zz") == []
    queues.finished("zz")


@pytest.mark.parametrize("limit, busy", [(1, [(0, "a")]), (3, [(0, "a"), (2, "a"), (1, "b")])])
def test_workers_cap_the_slots_in_flight(limit, busy):
    queues = placement.ChunkQueues(range(6), {"a": 2, "b": 2}, limit=limit)
    assert queues.next_ready() == busy
    with pytest.raises(ValueError, match=r"limit == 0, must be >= 1"):
        placement.ChunkQueues(range(6), {"a": 2}, limit=0)
