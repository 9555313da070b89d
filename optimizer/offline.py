"""The offline workflow on an ad server's logs: ingest -> learn -> evaluate.

Library functions behind the ``ingest``, ``learn`` and ``evaluate`` commands.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

from optimizer.config import Attribution, CampaignConfig, parse_config
from optimizer.errors import OptimizerError
from optimizer.evaluate.results import EvaluationResult
from optimizer.evaluate.targets import make_target
from optimizer.observe.ingest import IngestReport, ingest_file
from optimizer.observe.join import (
    Joined,
    StreamedJoin,
    join_rewards,
    split_by_time,
    training_part,
)
from optimizer.rng import Streams

if TYPE_CHECKING:
    from optimizer.allocate.vw_logged import Chunk, ClusterSeat, PolicySpec

ProgressFactory = Callable[[str, int], Callable[[int], None]]
T = TypeVar("T")
READ_AHEAD = 4  # chunks of joined events read ahead of the learning


def ingest_files(
    store,
    paths: Sequence[str],
    fmt: str = "auto",
    campaign: str | None = None,
    config: CampaignConfig | None = None,
    progress: ProgressFactory | None = None,
) -> list[IngestReport]:
    """Ingest files in order; a config registers its campaign first."""
    if config is not None:
        store.save_campaign(config)
    return [ingest_file(store, p, fmt, campaign, progress) for p in paths]


def stored_config(store, campaign: str) -> CampaignConfig:
    row = store.campaign(campaign)
    return parse_config(row.config, f"stored config of {campaign}")


def closed_events(store, campaign: str, attribution: Attribution | None = None) -> Joined:
    attribution = attribution or stored_config(store, campaign).attribution
    return join_rewards(store, campaign, attribution)


def learn_from_logs(
    store,
    campaign: str,
    state_dir: Path,
    exploration: str = "squarecb",
    params: dict[str, float] | None = None,
    seed: int = 0,
    test_share: float = 0.0,
    progress: ProgressFactory | None = None,
    workers: int = 1,
    seat: ClusterSeat | None = None,
    stream: bool = True,
) -> dict:
    """Train a VW policy counterfactually on the logged decisions (the earlier
    ``1 - test_share`` of the closed ones), save it and register it as a version.

    VW parses the events as text in a worker process (:mod:`optimizer.allocate.vw_logged`);
    one worker learns the same model as feeding the events one by one. ``workers > 1``
    splits the events over that many local processes joined by AllReduce; ``seat`` makes
    them nodes of a job over several machines (each machine runs ``learn`` with its nodes
    on the same closed events; the machine with node 0 registers the version).

    The events stream from the store to the workers: read and joined in chunks
    (:class:`StreamedJoin`), each chunk learned while the next one is read, so that only
    events not yet settled wait in memory (see :func:`training_part`). Logs the stream
    cannot take are read whole first (``stream=False`` always reads so): decisions stored
    out of time order (:class:`OutOfOrder`) and decisions without a candidate list (their
    candidates are every action chosen in training, known only at the end). Either way the
    events, their order and so the model are the same."""
    from optimizer.allocate.vw_logged import PolicySpec, plan_nodes
    from optimizer.identity import run_key
    from optimizer.store.logged import OutOfOrder

    nodes, total = plan_nodes(workers, seat)
    attribution = stored_config(store, campaign).attribution
    spec = PolicySpec(exploration, dict(params or {}), Streams(seed).int_seed("policy"))
    # what the nodes of a job over several machines all know before reading: where they meet
    unique_id = int(run_key(campaign, exploration, params, seed, test_share, total), 16)
    folder = Path(state_dir) / campaign / "policies"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".learning-", dir=folder) as tmp:
        model, train = Path(tmp) / "policy.vw", None
        if stream:
            try:
                train = _streamed(store, campaign, attribution, test_share)
                _learn(spec, train, model, nodes, total, seat, unique_id, progress)
            except (OutOfOrder, _WholeLogNeeded):
                train = None
        if train is None:
            train = _whole(store, campaign, attribution, test_share)
            _learn(spec, train, model, nodes, total, seat, unique_id, progress)
        key = run_key(campaign, train.events, str(train.last), exploration, params, seed)
        version = f"vw-logs-{key if total == 1 else run_key(key, total)}"
        path = folder / version / "policy.vw"
        path.parent.mkdir(exist_ok=True)
        for src, dst in ((Path(f"{model}.json"), Path(f"{path}.json")), (model, path)):
            os.replace(src, dst)  # the model last: complete
    metrics = {
        "train_events": train.events,
        "test_share": test_share,
        "train_until": str(train.last),
        "mean_reward": round(train.reward / train.events, 6),
        "exploration": exploration,
        "seed": seed,
        "nodes": total,
        "learning": list(spec.for_nodes(total).learning_args()),
    }
    if nodes[0] == 0:
        _register(store, version, campaign, path, train.events, metrics)
    return {"version": version, "path": str(path), **metrics, **train.summary()}


class _WholeLogNeeded(Exception):
    """A decision without a candidate list: its candidates are every action chosen in
    training (``candidate_lists``), known once every training event is read."""


@dataclass
class _Training:
    """The training events, in chunks with their candidate ids, as they go to the workers,
    and once they have gone: how many (``events``), the sum of their rewards, the time of
    the last, and the summary of the join. Raises ``OptimizerError`` at the end of the
    chunks when there were none (the workers stop; no model is written)."""

    campaign: str
    chunks: Iterator[Chunk]
    summary: Callable[[], dict[str, int]]
    size: int  # for the progress bar: the events, or the most there can be
    events: int = 0
    reward: float = 0.0
    last: pd.Timestamp | None = None

    def __iter__(self) -> Iterator[Chunk]:
        for events, cands in self.chunks:
            if len(events):
                self.events += len(events)
                self.reward += float(events["reward"].sum())
                self.last = events["timestamp"].iloc[-1]
                yield events, cands
        if not self.events:
            raise OptimizerError(
                f"no closed logged events for campaign {self.campaign!r}; ingest "
                "decisions (and rewards) first"
            )


def _streamed(store, campaign: str, attribution: Attribution, test_share: float) -> _Training:
    """The training events as the store's read reaches them (see :class:`StreamedJoin`),
    read, joined and split by a thread a few chunks ahead of the learning (SQLite works
    without the GIL while this process formats examples)."""
    from optimizer.store.logged import decision_count

    joined = StreamedJoin(store, campaign, attribution)

    def chunks() -> Iterator[Chunk]:
        # the read shares one list per stored set: one tuple each (the list kept, so that
        # its id stays its own)
        tuples: dict[int, tuple[list[str], tuple[str, ...]]] = {}
        for events in training_part(joined, test_share):
            lists = events["candidates"].tolist()
            for c in lists:
                if id(c) not in tuples:
                    tuples[id(c)] = (c, tuple(c))
            cands = [tuples[id(c)][1] for c in lists]
            if not all(cands):
                raise _WholeLogNeeded
            yield events, cands

    most = int(round(decision_count(store.engine, campaign) * (1.0 - test_share)))
    return _Training(campaign, _ahead(chunks(), READ_AHEAD), joined.summary, most)


def _whole(store, campaign: str, attribution: Attribution, test_share: float) -> _Training:
    """The training events of the whole log read and joined first."""
    from optimizer.allocate.vw_logged import frame_chunks
    from optimizer.evaluate.targets import candidate_lists

    joined = join_rewards(store, campaign, attribution)
    train, _ = split_by_time(joined.events, test_share)
    chunks = frame_chunks(train, candidate_lists(train))
    return _Training(campaign, chunks, joined.summary, len(train))


def _learn(
    spec: PolicySpec,
    train: _Training,
    model: Path,
    nodes: list[int],
    total: int,
    seat: ClusterSeat | None,
    unique_id: int,
    progress: ProgressFactory | None,
) -> None:
    """Learn from ``train``'s events with ``nodes`` (see :func:`learn_events`) into
    ``model``; the workers start while the first events are read."""
    from optimizer.allocate.vw_logged import learn_events

    bar = progress("learning from logs", train.size) if progress else None
    learn_events(spec, iter(train), model, nodes, total, seat, unique_id, bar)


_DONE = object()


def _ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """``items``, made by a thread that keeps up to ``depth`` of them ready; its exception
    is raised here, after the items before it. Stopping early stops the thread (and closes
    ``items`` there)."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # raised in the consumer
            put((_DONE, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    maker = threading.Thread(target=make, name="read-ahead", daemon=True)
    maker.start()
    try:
        while True:
            item, exc = ready.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        maker.join()


def _register(store, version: str, campaign: str, path: Path, events: int, metrics: dict) -> None:
    from optimizer.store.models import PolicyRow

    store.save_policy(
        PolicyRow(
            version=version,
            campaign=campaign,
            kind="vw",
            path=str(path),
            source="logs",
            events=events,
            metrics=metrics,
            created_at=datetime.now(UTC),
        )
    )


def evaluate_logged(
    store,
    campaign: str,
    targets: Sequence[str],
    estimators: Sequence[str],
    clip: float | None = None,
    ci: str = "bootstrap",
    replicates: int = 200,
    seed: int = 0,
    test_share: float = 0.0,
) -> EvaluationResult:
    """Off-policy estimates of each target (see :func:`make_target`) on the campaign's
    closed logged events, or on the latest ``test_share`` of them with the reward model
    fitted on the rest."""
    from optimizer.evaluate.offline import evaluate_targets

    built = [make_target(t, store) for t in targets]  # bad targets fail before any work
    joined = closed_events(store, campaign)
    if test_share:
        train, test = split_by_time(joined.events, test_share)
    else:
        train, test = joined.events, joined.events
    comparison = evaluate_targets(
        test,
        built,
        Streams(seed).fresh("bootstrap"),
        estimators,
        clip,
        ci,
        replicates,
        model_events=train if test_share else None,
    )
    return EvaluationResult(campaign, test_share, joined.summary(), comparison)


def simulate_logs(
    cfg: CampaignConfig, n: int, seed: int, epsilon: float = 1.0
) -> tuple[list[dict], list[np.ndarray]]:
    """Decision events with joined rewards from the simulator under an epsilon-greedy
    logging policy (``epsilon = 1`` is uniform), and each event's true click probabilities
    of its candidates (the ground truth any target policy's value is computed from).

    For tests, benchmarks and the examples; the rows are in the ingestion format."""
    from optimizer.generate import seed_creatives
    from optimizer.pool import build_pool
    from simulators.audience import AudienceSimulator

    streams = Streams(seed)
    sim = AudienceSimulator(cfg, streams.fresh("simulator"))
    pool = build_pool(seed_creatives(cfg), [s.name for s in cfg.segments])
    users, clicks, policy = (streams.fresh(s) for s in ("users", "clicks", "policy"))
    start = datetime.fromisoformat(cfg.simulator.start)
    rows, truths = [], []
    for i, ctx in enumerate(sim.draw_contexts(n, users)):
        cands = pool[ctx.segment]
        truth = sim.expected_rewards(ctx, cands)
        k = len(cands)
        # the logging policy favours the first creative of the pool: a skewed, known policy
        dist = np.full(k, epsilon / k)
        dist[0] += 1.0 - epsilon
        j = int(policy.choice(k, p=dist))
        truths.append(truth)
        ts = start.timestamp() + i * 5.0
        rows.append(
            {
                "event_id": f"sim-{seed}-{i}",
                "campaign": cfg.name,
                "segment": ctx.segment,
                "timestamp": datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z"),
                "context": dict(ctx.features),
                "action": cands[j].id,
                "candidates": [c.id for c in cands],
                "probability": float(dist[j]),
                "reward": 1.0 if clicks.random() < truth[j] else 0.0,
            }
        )
    return rows, truths
