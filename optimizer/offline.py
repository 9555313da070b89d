"""The offline workflow on an ad server's logs: ingest -> learn -> evaluate.

Library functions behind the ``ingest``, ``learn`` and ``evaluate`` commands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from optimizer.config import Attribution, CampaignConfig, parse_config
from optimizer.errors import OptimizerError
from optimizer.evaluate.results import EvaluationResult
from optimizer.evaluate.targets import make_target
from optimizer.observe.ingest import IngestReport, ingest_file
from optimizer.observe.join import Joined, join_rewards, split_by_time
from optimizer.rng import Streams

if TYPE_CHECKING:
    from optimizer.allocate.vw_logged import ClusterSeat

ProgressFactory = Callable[[str, int], Callable[[int], None]]


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
) -> dict:
    """Train a VW policy counterfactually on the logged decisions (the earlier
    ``1 - test_share`` of them), save it and register it as a version.

    VW parses the events as text in a worker process (:mod:`optimizer.allocate.vw_logged`);
    one worker learns the same model as feeding the events one by one. ``workers > 1``
    splits the events over that many local processes joined by AllReduce; ``seat`` makes
    them nodes of a job over several machines (each machine runs ``learn`` with its nodes
    on the same closed events; the machine with node 0 registers the version)."""
    from optimizer.allocate.vw_logged import PolicySpec, learn_events, plan_nodes
    from optimizer.identity import run_key

    nodes, total = plan_nodes(workers, seat)
    joined = closed_events(store, campaign)
    train, _ = split_by_time(joined.events, test_share)
    if len(train) == 0:
        raise OptimizerError(
            f"no closed logged events for campaign {campaign!r}; ingest "
            "decisions (and rewards) first"
        )
    last = train["timestamp"].iloc[-1]
    key = run_key(campaign, len(train), str(last), exploration, params, seed)
    version = f"vw-logs-{key if total == 1 else run_key(key, total)}"
    path = Path(state_dir) / campaign / "policies" / version / "policy.vw"
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = PolicySpec(exploration, dict(params or {}), Streams(seed).int_seed("policy"))
    learn_events(spec, train, path, nodes, total, seat, int(key, 16), progress)
    metrics = {
        "train_events": len(train),
        "test_share": test_share,
        "train_until": str(last),
        "mean_reward": round(float(train["reward"].mean()), 6),
        "exploration": exploration,
        "seed": seed,
        "nodes": total,
        "learning": list(spec.for_nodes(total).learning_args()),
    }
    if nodes[0] == 0:
        _register(store, version, campaign, path, len(train), metrics)
    return {"version": version, "path": str(path), **metrics, **joined.summary()}


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
