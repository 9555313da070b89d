"""The offline workflow on an ad server's logs: ingest -> learn -> evaluate.

Library functions behind the ``ingest``, ``learn`` and ``evaluate`` commands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from optimizer.config import Attribution, CampaignConfig, parse_config
from optimizer.errors import InputError, OptimizerError
from optimizer.observe.ingest import IngestReport, ingest_file
from optimizer.observe.join import Joined, join_rewards, split_by_time
from optimizer.records import Context, Creative
from optimizer.rng import Streams

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


def _id_creatives(ids: Sequence[str]) -> list[Creative]:
    return [Creative(id=a, campaign="", headline=a, body="", cta="") for a in ids]


def learn_from_logs(
    store,
    campaign: str,
    state_dir: Path,
    exploration: str = "squarecb",
    params: dict[str, float] | None = None,
    seed: int = 0,
    test_share: float = 0.0,
    progress: ProgressFactory | None = None,
) -> dict:
    """Train a VW policy counterfactually on the logged decisions (the earlier
    ``1 - test_share`` of them), save it and register it as a version."""
    from optimizer.allocate.vw import VWPolicy
    from optimizer.evaluate.targets import candidate_lists
    from optimizer.identity import run_key
    from optimizer.store.models import PolicyRow

    joined = closed_events(store, campaign)
    train, _ = split_by_time(joined.events, test_share)
    if len(train) == 0:
        raise OptimizerError(
            f"no closed logged events for campaign {campaign!r}; ingest "
            "decisions (and rewards) first"
        )
    policy = VWPolicy(
        exploration=exploration, params=params or {}, seed=Streams(seed).int_seed("policy")
    )
    cands = candidate_lists(train)
    cache: dict[tuple[str, ...], list[Creative]] = {}
    bar = progress("learning from logs", len(train)) if progress else None
    for i, (segment, context, chosen, p, r, c) in enumerate(
        zip(
            train["segment"],
            train["context"],
            train["chosen"],
            train["probability"],
            train["reward"],
            cands,
            strict=True,
        )
    ):
        creatives = cache.get(c) or cache.setdefault(c, _id_creatives(c))
        policy.learn_logged(
            Context(segment or "", context or {}), creatives, c.index(chosen), float(p), float(r)
        )
        if bar is not None and (i + 1) % 10_000 == 0:
            bar(10_000)
    if bar is not None:
        bar(len(train) % 10_000)
    last = train["timestamp"].iloc[-1]
    version = f"vw-logs-{run_key(campaign, len(train), str(last), exploration, params, seed)}"
    folder = Path(state_dir) / campaign / "policies" / version
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "policy.vw"
    policy.save(path)
    metrics = {
        "train_events": len(train),
        "test_share": test_share,
        "train_until": str(last),
        "mean_reward": round(float(train["reward"].mean()), 6),
        "exploration": exploration,
        "seed": seed,
    }
    store.save_policy(
        PolicyRow(
            version=version,
            campaign=campaign,
            kind="vw",
            path=str(path),
            source="logs",
            events=len(train),
            metrics=metrics,
            created_at=datetime.now(UTC),
        )
    )
    return {"version": version, "path": str(path), **metrics, **joined.summary()}


def make_target(spec: str, store):
    """``uniform``, ``static:FILE``, ``policy:VERSION`` (stored) or ``policy:PATH``."""
    from optimizer.evaluate.targets import StaticTarget, StoredPolicyTarget, UniformTarget

    if spec == "uniform":
        return UniformTarget()
    kind, _, value = spec.partition(":")
    if kind == "static" and value:
        return StaticTarget(value)
    if kind == "policy" and value:
        path = Path(value)
        creatives: list[Creative] = []
        if not path.exists():
            row = store.policy(value)
            path = Path(row.path)
            if row.metrics.get("text_features"):
                from optimizer.filter.embed import Embedder
                from optimizer.filter.features import with_text_features

                creatives = with_text_features(
                    store.active_creatives(row.campaign), Embedder.shared()
                )
        return StoredPolicyTarget(path, f"policy:{value}", creatives)
    raise InputError(
        f"target {spec!r}: use uniform, static:FILE (CSV or JSON of action "
        "probabilities) or policy:VERSION|PATH"
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
) -> dict:
    from optimizer.evaluate.offline import evaluate_targets

    joined = closed_events(store, campaign)
    if test_share:
        train, test = split_by_time(joined.events, test_share)
    else:
        train, test = joined.events, joined.events
    built = [make_target(t, store) for t in targets]
    result = evaluate_targets(
        test,
        built,
        Streams(seed).fresh("bootstrap"),
        estimators,
        clip,
        ci,
        replicates,
        model_events=train if test_share else None,
    )
    return {"campaign": campaign, "test_share": test_share, **joined.summary(), **result}


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
