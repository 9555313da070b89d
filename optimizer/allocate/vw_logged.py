"""Learning the VW policy from logged decisions with VW's own parser, in one process or
split over several with AllReduce.

Each closed event becomes the multiline example :meth:`VWPolicy.learn_logged` builds
(``shared_line``, ``action_line``, the label ``0:cost:probability`` on the chosen action with
``cost = -reward``), written as VW text::

    shared |User segment=beginners age:23.35 device=mobile weekly_km:3.49
    |Action creative=1a1f2dbc79f58555
    0:-1.0:0.0833 |Action creative=90b2fff9ce564cbe
    ...
    <blank line>

This process formats the events in chunks and streams the text into a worker process whose
VW reads it with ``-d`` (its parser and learner threads run while the next chunk is
formatted). One worker trains on every event in order with the policy's own arguments: the
same model as learning them one by one through pyvw (its weights are byte-identical; only
the loss counters in the model header differ). Several workers (``Cluster``) each learn
every ``total``-th event (node ``i`` takes events ``i, i + total, ...``) and average their
weights at the end of the pass with VW's AllReduce, meeting at a spanning-tree server
(:mod:`optimizer.allocate.spanning_tree`); every node ends with the same model.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from optimizer.allocate.spanning_tree import DEFAULT_PORT, SpanningTree
from optimizer.allocate.vw import VWPolicy, action_line, shared_line
from optimizer.errors import OptimizerError
from optimizer.records import Context, Creative

CHUNK_EVENTS = 5_000
QUEUED_CHUNKS = 4
Progress = Callable[[int], None]
CreativesFor = Callable[[tuple[str, ...]], Sequence[Creative]]


@dataclass(frozen=True)
class Cluster:
    """The VW processes of one training and where they meet (VW's ``--span_server``)."""

    host: str
    port: int
    total: int
    unique_id: int

    def args(self, node: int) -> list[str]:
        return [
            "--span_server", self.host, "--span_server_port", str(self.port),
            "--total", str(self.total), "--node", str(node), "--unique_id", str(self.unique_id),
        ]  # fmt: skip


@dataclass(frozen=True)
class ClusterSeat:
    """This machine's place in a training spread over machines: its first node ``node`` of
    ``total``, and the spanning-tree server ``host:port`` all of them meet at."""

    host: str
    port: int
    node: int
    total: int

    @classmethod
    def from_flags(
        cls, span_server: str | None, node: str | None, workers: int = 1
    ) -> ClusterSeat | None:
        """The seat ``--span-server HOST[:PORT] --node I/TOTAL`` name (None without both),
        checked to hold ``workers`` nodes."""
        if span_server is None and node is None:
            plan_nodes(workers, None)
            return None
        if span_server is None or node is None:
            raise OptimizerError(
                "--span-server and --node go together: give both to train as nodes of a job "
                "over several machines, or neither"
            )
        host, _, port_text = span_server.partition(":")
        port = DEFAULT_PORT if not port_text else int(port_text) if port_text.isdigit() else 0
        if not host or not 0 < port < 65536:
            raise OptimizerError(
                f"--span-server {span_server!r}: give HOST or HOST:PORT (port 1 to 65535)"
            )
        index, _, total = node.partition("/")
        if not (index.isdigit() and total.isdigit() and int(index) < int(total)):
            raise OptimizerError(
                f"--node {node!r}: give I/TOTAL, node I of TOTAL numbered from 0 (e.g. 0/4)"
            )
        seat = cls(host, port, int(index), int(total))
        plan_nodes(workers, seat)
        return seat


@dataclass(frozen=True)
class PolicySpec:
    """What a worker needs to build the policy: the arguments of :class:`VWPolicy`."""

    exploration: str
    params: dict[str, float]
    seed: int


def id_creatives() -> CreativesFor:
    """Creatives known by their id alone (what logs describe an action by), one shared list
    per candidate tuple."""
    cache: dict[tuple[str, ...], list[Creative]] = {}

    def creatives(ids: tuple[str, ...]) -> list[Creative]:
        found = cache.get(ids)
        if found is None:
            found = cache[ids] = [
                Creative(id=a, campaign="", headline=a, body="", cta="") for a in ids
            ]
        return found

    return creatives


def example_text(events, cands: Sequence[tuple[str, ...]], creatives_for: CreativesFor) -> str:
    """VW text of ``events`` (rows of the joined frame: segment, context, chosen,
    probability, reward) with their candidate ids ``cands``, one multiline example each."""
    blocks: dict[tuple[tuple[str, ...], str], tuple[str, str]] = {}
    out = []
    rows = zip(
        events["segment"].tolist(),
        events["context"].tolist(),
        events["chosen"].tolist(),
        events["probability"].tolist(),
        events["reward"].tolist(),
        cands,
        strict=True,
    )
    for segment, context, chosen, p, r, c in rows:
        block = blocks.get((c, chosen))
        if block is None:
            lines = [action_line(a) for a in creatives_for(c)]
            i = c.index(chosen)
            before = "".join(f"{line}\n" for line in lines[:i])
            block = blocks[(c, chosen)] = (before, "\n".join(lines[i:]) + "\n\n")
        shared = shared_line(Context(segment or "", context or {}))
        out.append(f"{shared}\n{block[0]}0:{-float(r)}:{float(p)} {block[1]}")
    return "".join(out)


def learn_one_by_one(
    policy: VWPolicy, events, cands: Sequence[tuple[str, ...]], creatives_for: CreativesFor
) -> None:
    """The reference path: every event parsed and learned through pyvw, one at a time.

    Slow (a few thousand events/s); the text path is tested against it and the benchmark
    measures it as the baseline."""
    rows = zip(
        events["segment"], events["context"], events["chosen"], events["probability"],
        events["reward"], cands, strict=True,
    )  # fmt: skip
    for segment, context, chosen, p, r, c in rows:
        policy.learn_logged(
            Context(segment or "", context or {}), creatives_for(c), c.index(chosen), float(p),
            float(r),
        )  # fmt: skip


def plan_nodes(workers: int, seat: ClusterSeat | None) -> tuple[list[int], int]:
    """The nodes this machine runs (``workers`` of them, from the seat's node) and the total
    number of nodes; raises ``OptimizerError`` when they do not fit."""
    first, total = (seat.node, seat.total) if seat else (0, workers)
    if workers < 1:
        raise OptimizerError(f"workers must be at least 1, not {workers}")
    if not 0 <= first < first + workers <= total:
        raise OptimizerError(
            f"nodes {first} to {first + workers - 1} do not exist in a job of {total} nodes "
            "(numbered from 0); give --node I/TOTAL with I + --workers at most TOTAL"
        )
    return list(range(first, first + workers)), total


def learn_events(
    spec: PolicySpec,
    events,
    model: Path,
    nodes: Sequence[int],
    total: int,
    seat: ClusterSeat | None,
    unique_id: int,
    progress: Callable[[str, int], Progress] | None = None,
) -> None:
    """Train on ``events`` with ``nodes`` of ``total`` (see :func:`plan_nodes`) and save the
    first node's policy to ``model``: alone for one node, meeting at a spanning-tree server
    on loopback when all nodes run here, at the seat's server otherwise."""
    from optimizer.evaluate.targets import candidate_lists

    cands = candidate_lists(events)
    size = sum(len(range(n, len(events), total)) for n in nodes)
    bar = progress("learning from logs", size) if progress else None
    with contextlib.ExitStack() as stack:
        spare = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vw-nodes-")))
        if total == 1:
            cluster = None
        elif seat is None:
            tree = stack.enter_context(SpanningTree("127.0.0.1", 0))
            cluster = Cluster("127.0.0.1", tree.port, total, unique_id)
        else:
            cluster = Cluster(seat.host, seat.port, total, unique_id)
        models = [model] + [spare / f"node-{n}.vw" for n in nodes[1:]]
        train(spec, events, cands, id_creatives(), models, nodes, cluster, bar)


def train(
    spec: PolicySpec,
    events,
    cands: Sequence[tuple[str, ...]],
    creatives_for: CreativesFor,
    models: Sequence[Path],
    nodes: Sequence[int] = (0,),
    cluster: Cluster | None = None,
    progress: Progress | None = None,
) -> list[int]:
    """Train a policy on ``events`` with one worker process per node in ``nodes`` (all of
    them without a cluster: ``(0,)``) and save node ``nodes[k]``'s policy to ``models[k]``
    (with its ``.json``), each moved into place once every worker has succeeded.

    Returns the number of events each node learned. Raises ``OptimizerError`` when a worker
    fails (the others are stopped; no model is written)."""
    total = cluster.total if cluster else 1
    shards = [(events.iloc[n::total], cands[n::total]) for n in nodes]
    workers: list[_Worker] = []
    with tempfile.TemporaryDirectory(prefix=".learning-", dir=Path(models[0]).parent) as tmp:
        try:
            for node, (shard, _) in zip(nodes, shards, strict=True):
                extra = cluster.args(node) if cluster else []
                workers.append(_Worker(spec, extra, Path(tmp) / f"node-{node}.vw", len(shard)))
            for start in range(0, max(len(s) for s, _ in shards), CHUNK_EVENTS):
                for worker, (shard, shard_cands) in zip(workers, shards, strict=True):
                    part = shard.iloc[start : start + CHUNK_EVENTS]
                    if len(part):
                        chunk = shard_cands[start : start + CHUNK_EVENTS]
                        worker.send(example_text(part, chunk, creatives_for))
                        if progress:
                            progress(len(part))
            for worker in workers:
                worker.close()
            _wait(workers)
        finally:
            for worker in workers:
                worker.kill()
        for worker, model in zip(workers, models, strict=True):
            meta = (Path(f"{worker.model}.json"), Path(f"{model}.json"))
            for src, dst in (meta, (worker.model, Path(model))):  # the model last: complete
                os.replace(src, dst)
    return [len(s) for s, _ in shards]


class _Worker:
    """A child process whose VW learns from the text written to its stdin.

    A thread writes the chunks (``write`` releases the GIL while VW reads), so the next
    chunk is formatted while VW learns from the last; at most ``QUEUED_CHUNKS`` wait."""

    def __init__(self, spec: PolicySpec, extra: list[str], model: Path, n: int):
        self.model, self.log = model, model.with_suffix(".log")
        job = {**spec.__dict__, "extra": extra, "model": str(model), "events": n}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "optimizer.allocate.vw_logged", json.dumps(job)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.broken = False
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()

    def _write(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if not self.broken:
                try:
                    self.proc.stdin.write(chunk)
                except OSError:  # VW stopped reading: it failed, see error()
                    self.broken = True
        try:
            self.proc.stdin.close()
        except OSError:
            self.broken = True

    def send(self, text: str) -> None:
        if self.broken:
            self.proc.wait()
            raise self.error()
        self._chunks.put(text.encode())

    def close(self) -> None:
        """End of the examples: VW finishes the pass (and its AllReduce) once it reads it."""
        self._chunks.put(None)
        self._writer.join()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._writer.is_alive():  # its writes fail now; let it drain and stop
            self._chunks.put(None)
            self._writer.join()

    def error(self) -> OptimizerError:
        lines = self.log.read_text(errors="replace").strip().splitlines()
        why = lines[-1] if lines else f"exit status {self.proc.returncode}"
        return OptimizerError(f"VW failed learning from logs: {why}")


def _wait(workers: list[_Worker]) -> None:
    """Wait for every worker; the first failure stops the others (which would wait for it in
    AllReduce) and is raised."""
    while True:
        codes = [w.proc.poll() for w in workers]
        failed = [w for w, c in zip(workers, codes, strict=True) if c not in (None, 0)]
        if failed:
            raise failed[0].error()
        if all(c == 0 for c in codes):
            return
        time.sleep(0.02)


def _worker_main(job: dict) -> None:
    """Worker body: VW reads the examples from stdin with its own parser and learns."""
    policy = VWPolicy(
        exploration=job["exploration"],
        params=job["params"],
        seed=job["seed"],
        extra_args=["-d", "/dev/stdin", *job["extra"]],
    )
    policy.updates = job["events"]
    policy.save(Path(job["model"]))


if __name__ == "__main__":
    _worker_main(json.loads(sys.argv[1]))
