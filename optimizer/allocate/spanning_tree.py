"""The spanning-tree server that Vowpal Wabbit's AllReduce processes meet at, in Python.

VW processes started with ``--span_server HOST --span_server_port PORT --total N --node I
--unique_id U`` train one model together: at the end of a pass each sums its weights up a
binary tree and receives the average back. They find each other through this server. VW's
own daemon (``spanning_tree``, built from VW's C++ sources) does not ship with the pip
package, so this module speaks the same protocol; either server works with the same VW.

Protocol, read from VW 9's ``vowpalwabbit/spanning_tree/src/spanning_tree.cc`` (server) and
``vowpalwabbit/allreduce/src/allreduce_sockets.cc`` (client, ``all_reduce_init``):

1. client -> server: ``unique_id``, ``total``, ``node``, each a ``size_t`` (8 bytes, the
   client's byte order; little-endian on the x86 and ARM machines VW runs on);
2. server -> client: ``ok`` (int32), 0 when ``node >= total`` or the node is already taken
   (the client then stops with "Mapper already connected");
3. once all ``total`` nodes of a ``unique_id`` are in, the server orders them by address and
   lays a balanced binary tree over that order (``build_tree``), then sends each its number of
   children (uint16); each answers with the port it listens on for them (uint16, network
   order); the server sends each its parent's IPv4 address (4 bytes, network order) and port
   (as received), or all ones for the root, and closes the connection. The nodes then connect
   to each other directly; the server is not involved in the reduction itself.
"""

from __future__ import annotations

import argparse
import socket
import struct
import threading
from dataclasses import dataclass, field

DEFAULT_PORT = 26543  # VW's --span_server_port default
_HELLO = struct.Struct("<QQQ")  # unique_id, total, node
_READ_TIMEOUT_S = 60.0


def build_tree(count: int, offset: int = 0) -> tuple[dict[int, int], dict[int, int], int]:
    """Parent and child count of each of ``count`` positions (from ``offset``) in VW's
    balanced binary tree, and the root's position; the root's parent is -1."""
    parent: dict[int, int] = {}
    kids: dict[int, int] = {}

    def build(n: int, start: int) -> int:
        if n == 1:
            kids[start] = 0
            return start
        height = n.bit_length() - 1  # floor(log2 n)
        left = (1 << height) - 1
        root = start + left
        parent[build(left, start)] = root
        kids[root] = 1
        if n - left - 1 > 0:
            parent[build(n - left - 1, root + 1)] = root
            kids[root] = 2
        return root

    root = build(count, offset)
    parent[root] = -1
    return parent, kids, root


@dataclass
class _Group:
    total: int
    members: dict[int, tuple[socket.socket, bytes]] = field(default_factory=dict)


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        part = conn.recv(size - len(data))
        if not part:
            raise ConnectionError("peer closed the connection")
        data += part
    return data


class SpanningTree:
    """A spanning-tree server on ``host:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(self, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(1024)
        self.port: int = self._sock.getsockname()[1]
        self._groups: dict[int, _Group] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> SpanningTree:
        """Serve on a background thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        while True:
            try:
                conn, (address, _) = self._sock.accept()
            except OSError:  # the listening socket was closed: stop
                return
            threading.Thread(target=self._admit, args=(conn, address), daemon=True).start()

    def stop(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for group in self._groups.values():
                for conn, _ in group.members.values():
                    conn.close()
            self._groups.clear()

    def __enter__(self) -> SpanningTree:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _admit(self, conn: socket.socket, address: str) -> None:
        conn.settimeout(_READ_TIMEOUT_S)
        try:
            unique_id, total, node = _HELLO.unpack(_recv_exact(conn, _HELLO.size))
        except (OSError, ConnectionError):
            conn.close()
            return
        with self._lock:
            group = self._groups.setdefault(unique_id, _Group(total))
            ok = node < total == group.total and node not in group.members
            conn.sendall(struct.pack("<i", int(ok)))
            if not ok:
                conn.close()
                return
            group.members[node] = (conn, socket.inet_aton(address))
            if len(group.members) < group.total:
                return
            del self._groups[unique_id]
        self._connect(group)

    def _connect(self, group: _Group) -> None:
        """Tell every member of a complete group its place in the tree."""
        # VW orders by address (then socket); by address then node id here: any order is a tree
        order = sorted(group.members, key=lambda n: (group.members[n][1], n))
        conns = [group.members[n][0] for n in order]
        parent, kids, _ = build_tree(len(order))
        try:
            for i, conn in enumerate(conns):
                conn.sendall(struct.pack("<H", kids[i]))
            ports = [_recv_exact(conn, 2) for conn in conns]
            for i, conn in enumerate(conns):
                up = parent[i]
                if up < 0:
                    conn.sendall(b"\xff" * 6)
                else:
                    conn.sendall(group.members[order[up]][1] + ports[up])
        except (OSError, ConnectionError):
            pass  # a node that left fails on its own side; the others time out in VW
        finally:
            for conn in conns:
                conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m optimizer.allocate.spanning_tree",
        description="Spanning-tree server for VW AllReduce (learn --span-server HOST:PORT).",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    args = parser.parse_args(argv)
    server = SpanningTree(args.host, args.port)
    print(f"spanning tree listening on {args.host}:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
