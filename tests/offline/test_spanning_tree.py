"""The Python spanning-tree server speaks VW's protocol (spanning_tree.cc) to raw clients."""

from __future__ import annotations

import socket
import struct

import pytest

from optimizer.allocate.spanning_tree import SpanningTree, build_tree


@pytest.mark.parametrize("count", range(1, 10))
def test_build_tree_is_a_binary_tree_over_every_position(count):
    parent, kids, root = build_tree(count)
    assert sorted(parent) == sorted(kids) == list(range(count))
    assert parent[root] == -1 and list(parent.values()).count(-1) == 1
    for node in range(count):
        assert kids[node] == sum(1 for p in parent.values() if p == node) <= 2
        hops, up = 0, node
        while parent[up] != -1:  # every position reaches the root
            up, hops = parent[up], hops + 1
            assert hops <= count


def hello(port: int, unique_id: int, total: int, node: int) -> tuple[socket.socket, int]:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(struct.pack("<QQQ", unique_id, total, node))
    (ok,) = struct.unpack("<i", conn.recv(4))
    return conn, ok


def test_nodes_learn_their_parent_and_bad_nodes_are_refused():
    with SpanningTree("127.0.0.1", 0) as server:
        out_of_range, ok = hello(server.port, 7, 2, 2)
        assert ok == 0
        first, ok_first = hello(server.port, 7, 2, 1)
        taken, ok_taken = hello(server.port, 7, 2, 1)
        second, ok_second = hello(server.port, 7, 2, 0)
        assert (ok_first, ok_taken, ok_second) == (1, 0, 1)
        kids = {n: struct.unpack("<H", c.recv(2))[0] for n, c in ((1, first), (0, second))}
        assert sorted(kids.values()) == [0, 1]  # two nodes: a root with one child
        root, leaf = (first, second) if kids[1] == 1 else (second, first)
        root.sendall(struct.pack("!H", 26544))
        leaf.sendall(struct.pack("!H", 0))
        assert root.recv(6) == b"\xff" * 6  # no parent
        assert leaf.recv(6) == socket.inet_aton("127.0.0.1") + struct.pack("!H", 26544)
        for conn in (out_of_range, first, taken, second):
            conn.close()
