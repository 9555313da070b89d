"""Learning the VW policy from logged decisions with VW's own parser, in one process or
split over several with AllReduce.

Each closed event becomes the multiline example :meth:`VWPolicy.learn_logged` learns from:
the policy's own lines (:meth:`VWPolicy.lines`, see :mod:`optimizer.allocate.vw_lines`)
with the label ``0:cost:probability`` on the chosen action (``cost = -reward``), then the
policy's bookkeeping of the event (:meth:`VWPolicy.note`), as ``learn_logged`` does.

This process formats the events in chunks and streams the text into a worker process
(:mod:`optimizer.allocate.vw_worker`) whose VW reads it with ``-d``: its parser and learner
threads run while the next chunk is read and formatted (the chunks may come from a read of
the store in progress, see :func:`train_chunks`). One worker learns every event in order with
the policy's own settings: the model of learning them one by one through pyvw (the same
weights; only the loss counters in the model header differ). Several workers (``Cluster``)
each learn every ``total``-th event (node ``i`` takes events ``i, i + total, ...``) and
average their weights at the end of the pass with VW's AllReduce, meeting at a
spanning-tree server (:mod:`optimizer.allocate.spanning_tree`); every node ends with the
same model. No cache file: with one pass it would only add a write.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from optimizer.allocate.spanning_tree import DEFAULT_PORT, SpanningTree
from optimizer.allocate.vw import VWPolicy
from optimizer.allocate.vw_worker import PolicySpec, Worker, failed, wait_all
from optimizer.errors import OptimizerError
from optimizer.records import Context, Creative

CHUNK_EVENTS = 5_000
Progress = Callable[[int], None]
CreativesFor = Callable[[tuple[str, ...]], Sequence[Creative]]
Chunk = tuple[pd.DataFrame, Sequence[tuple[str, ...]]]  # joined events, their candidate ids


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


class ExampleWriter:
    """Writes logged events, in order, as the text ``policy.learn_logged`` learns from:
    ``policy.lines`` with the label ``0:cost:probability`` on the chosen action, then
    ``policy.note`` for the event (feature scale, newcomers' trials), as ``learn_logged``
    does; the policy's own VW learns nothing.

    An action's line depends on the creative alone (``VWPolicy`` caches it by id), so the
    lines of a candidate list are built once; a segment is offered a candidate list once
    (``Newcomers.offered``: the first time counts)."""

    def __init__(self, policy: VWPolicy, creatives_for: CreativesFor) -> None:
        self.policy, self.creatives_for = policy, creatives_for
        self._blocks: dict[tuple[tuple[str, ...], str], tuple[str, str]] = {}
        self._offered: set[tuple[str, tuple[str, ...]]] = set()

    def texts(
        self, events, cands: Sequence[tuple[str, ...]], mine: Sequence[bool] | None = None
    ) -> list[str]:
        """The text of each of ``events`` (rows of the joined frame: segment, context,
        chosen, probability, reward; candidate ids ``cands``); events not ``mine`` are
        only noted (their text is empty)."""
        out = []
        rows = zip(
            events["segment"].tolist(),
            events["context"].tolist(),
            events["chosen"].tolist(),
            events["probability"].tolist(),
            events["reward"].tolist(),
            cands,
            mine if mine is not None else [True] * len(cands),
            strict=True,
        )
        for segment, features, chosen, p, r, c, keep in rows:
            context = Context(segment or "", features or {})
            if keep:
                block = self._blocks.get((c, chosen)) or self._block(context, c, chosen)
                shared = self.policy.lines(context, ())[0]
                out.append(f"{shared}\n{block[0]}0:{-float(r)}:{float(p)} {block[1]}")
            else:
                out.append("")
            first = (context.segment, c) not in self._offered
            if first:
                self._offered.add((context.segment, c))
            self.policy.note(context, c if first else (), chosen, float(r))
        return out

    def _block(self, context: Context, cands: tuple[str, ...], chosen: str) -> tuple[str, str]:
        actions = self.policy.lines(context, self.creatives_for(cands))[1:]
        i = cands.index(chosen)
        before = "".join(f"{line}\n" for line in actions[:i])
        block = self._blocks[(cands, chosen)] = (before, "\n".join(actions[i:]) + "\n\n")
        return block

    def state(self) -> dict:
        """The policy's bookkeeping after the events written, for the policy VW trains."""
        return {
            "scale": self.policy.scale.to_json(),
            "newcomers": self.policy.newcomers.to_json(),
            "thompson": None if (t := self.policy.thompson) is None else t.to_json(),
        }


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


def frame_chunks(
    events: pd.DataFrame, cands: Sequence[tuple[str, ...]], size: int = CHUNK_EVENTS
) -> Iterator[Chunk]:
    """``events`` and their candidate ids in consecutive parts of at most ``size`` rows."""
    for start in range(0, len(events), size):
        yield events.iloc[start : start + size], cands[start : start + size]


def learn_events(
    spec: PolicySpec,
    chunks: Iterable[Chunk],
    model: Path,
    nodes: Sequence[int],
    total: int,
    seat: ClusterSeat | None,
    unique_id: int,
    progress: Progress | None = None,
) -> list[int]:
    """Train on the events of ``chunks`` (in order) with ``nodes`` of ``total`` (see
    :func:`plan_nodes`) and save the first node's policy to ``model``: alone for one node,
    meeting at a spanning-tree server on loopback when all nodes run here, at the seat's
    server otherwise. Returns the number of events each node learned."""
    with contextlib.ExitStack() as stack:
        # the other local nodes' models (the same model) are dropped; beside ``model`` so
        # that moving them into place stays on one file system
        spare = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix=".nodes-", dir=model.parent))
        )
        if total == 1:
            cluster = None
        elif seat is None:
            tree = stack.enter_context(SpanningTree("127.0.0.1", 0))
            cluster = Cluster("127.0.0.1", tree.port, total, unique_id)
        else:
            cluster = Cluster(seat.host, seat.port, total, unique_id)
        models = [model] + [spare / f"node-{n}.vw" for n in nodes[1:]]
        return train_chunks(spec, chunks, id_creatives(), models, nodes, cluster, progress)


def train(
    spec: PolicySpec,
    events: pd.DataFrame,
    cands: Sequence[tuple[str, ...]],
    creatives_for: CreativesFor,
    models: Sequence[Path],
    nodes: Sequence[int] = (0,),
    cluster: Cluster | None = None,
    progress: Progress | None = None,
) -> list[int]:
    """:func:`train_chunks` on the frame ``events`` with candidate ids ``cands``."""
    chunks = frame_chunks(events, cands)
    return train_chunks(spec, chunks, creatives_for, models, nodes, cluster, progress)


def train_chunks(
    spec: PolicySpec,
    chunks: Iterable[Chunk],
    creatives_for: CreativesFor,
    models: Sequence[Path],
    nodes: Sequence[int] = (0,),
    cluster: Cluster | None = None,
    progress: Progress | None = None,
) -> list[int]:
    """Train a policy on the events of ``chunks`` (frames of the joined events with their
    candidate ids, in order) with one worker process per node in ``nodes`` (all of them
    without a cluster: ``(0,)``) and save node ``nodes[k]``'s policy to ``models[k]`` (with
    its ``.json``), each moved into place once every worker has succeeded. Each chunk is
    formatted and sent while the workers learn from the ones before; node ``i`` of ``total``
    learns the events ``i, i + total, ...`` counted over all chunks.

    Returns the number of events each node learned. Raises ``OptimizerError`` when a worker
    fails (the others are stopped; no model is written); an error raised by ``chunks``
    stops the workers too and is raised as it is."""
    total = cluster.total if cluster else 1
    spec = spec.for_nodes(total)
    here = set(nodes)
    try:
        writer = ExampleWriter(spec.policy(), creatives_for)  # VW checks the settings here
    except RuntimeError as exc:
        raise failed(str(exc)) from None
    workers: list[Worker] = []
    with tempfile.TemporaryDirectory(prefix=".learning-", dir=Path(models[0]).parent) as tmp:
        state = Path(tmp) / "state.json"
        try:
            for node in nodes:
                extra = cluster.args(node) if cluster else []
                workers.append(Worker(spec, extra, Path(tmp) / f"node-{node}.vw", node, state))
            start = 0  # the position of the chunk's first event among all events
            for events, cands in chunks:
                for part, chunk in frame_chunks(events, cands):
                    mine = None if len(here) == total else [
                        (start + j) % total in here for j in range(len(part))
                    ]  # fmt: skip
                    texts = writer.texts(part, chunk, mine)
                    for worker in workers:
                        own = texts[(worker.node - start) % total :: total]
                        worker.send("".join(own), len(own))
                    if progress:
                        progress(len(part) if mine is None else sum(mine))
                    start += len(part)
            learned = {str(w.node): w.events for w in workers}
            state.write_text(json.dumps({**writer.state(), "events": learned}))
            for worker in workers:
                worker.close()
            wait_all(workers)
        finally:
            for worker in workers:
                worker.kill()
        for worker, model in zip(workers, models, strict=True):
            meta = (Path(f"{worker.model}.json"), Path(f"{model}.json"))
            for src, dst in (meta, (worker.model, Path(model))):  # the model last: complete
                os.replace(src, dst)
    return [w.events for w in workers]
