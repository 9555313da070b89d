"""The campaign loop, top to bottom: generate -> filter -> allocate -> observe -> refresh.

``run_campaign`` runs a simulated campaign in numbered steps, one call per stage. ``serve``
is the allocate/observe inner loop shared by the campaign, the rounds and the table replay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from optimizer.allocate import Policy, config_policy, make_policy
from optimizer.config import CampaignConfig
from optimizer.generate import seed_creatives
from optimizer.identity import Clock, library_versions, run_key
from optimizer.observe import Tally, respond
from optimizer.pool import Pool, build_pool
from optimizer.records import Context, Creative, Decision, Feedback
from optimizer.rng import Streams
from optimizer.summaries import Comparison, PoolSummary, RunSummary
from simulators.base import Simulator

Progress = Callable[[int], None]
# Given a label and a total, returns the callback that advances that task's progress.
ProgressFactory = Callable[[str, int], Progress]
Sink = Callable[[list[Feedback]], None]


@dataclass(frozen=True)
class Serving:
    """What to serve and how: ``impressions`` users in batches of ``batch_size`` (the policy
    learns after each batch), drawing from ``streams``; events are ``{run_id}-{i:09d}`` of
    ``campaign``, stamped by ``clock``."""

    impressions: int
    batch_size: int
    streams: Streams
    campaign: str
    run_id: str
    clock: Clock


def campaign_clock(cfg: CampaignConfig, first: int = 0) -> Clock:
    """Simulated time from the config's start date and daily volume; impression 0 of the
    clock is the campaign's impression ``first``."""
    step = 86_400 / cfg.simulator.impressions_per_day
    return Clock(datetime.fromisoformat(cfg.simulator.start).timestamp() + first * step, step)


def serve(
    simulator: Simulator,
    pool: Pool,
    policy: Policy,
    serving: Serving,
    sink: Sink | None = None,
    progress: Progress | None = None,
) -> Tally:
    """Serve simulated users; the policy learns after every batch.

    Users, click draws and policy randomness come from fresh ``users``, ``clicks`` and
    ``policy`` streams, so every policy served on one seed meets the same users with the same
    luck (common random numbers).
    """
    streams, n = serving.streams, serving.impressions
    users, clicks, policy_rng = (streams.fresh(s) for s in ("users", "clicks", "policy"))
    arrivals = _arrivals(simulator, users, clicks, n)
    tally = Tally()
    for start in range(0, n, serving.batch_size):
        m = min(serving.batch_size, n - start)
        batch: list[Feedback] = []
        for i in range(start, start + m):
            context, draw = next(arrivals)
            candidates = pool[context.segment]
            event_id = f"{serving.run_id}-{i:09d}"
            choice = policy.choose(context, candidates, policy_rng, event_id=event_id)
            decision = Decision(
                event_id=event_id,
                timestamp=serving.clock.at(i),
                campaign=serving.campaign,
                context=context,
                candidates=tuple(c.id for c in candidates),
                chosen=candidates[choice.index].id,
                probability=choice.probability,
                policy=policy.name,
                policy_version=policy.version,
                distribution=choice.distribution,
            )
            feedback = respond(simulator, decision, candidates, draw)
            tally.add(feedback, candidates)
            batch.append(feedback)
        policy.learn(batch)
        simulator.advance(m)
        if sink is not None:
            sink(batch)
        if progress is not None:
            progress(m)
    return tally


def _arrivals(
    simulator: Simulator,
    users: np.random.Generator,
    clicks: np.random.Generator,
    impressions: int,
    chunk: int = 4096,
) -> Iterator[tuple[Context, float]]:
    """Users and their click draws, drawn in fixed chunks: the same stream for any batch size."""
    for start in range(0, impressions, chunk):
        m = min(chunk, impressions - start)
        yield from zip(simulator.draw_contexts(m, users), clicks.random(m).tolist(), strict=True)


def compare(
    make_simulator: Callable[[], Simulator],
    pool: Pool,
    policy: Policy,
    serving: Serving,
    sink: Sink | None = None,
    progress: ProgressFactory | None = None,
) -> Comparison:
    """Serve ``policy``, uniform and the oracle on the same seed; summarise side by side.

    Only the policy's events go to ``sink``; the baselines' run ids end in ``-uniform`` and
    ``-oracle``."""
    from optimizer.allocate.baselines import UniformPolicy
    from simulators.oracle import OraclePolicy

    def serve_as(label: str, sim: Simulator, served: Policy, sink: Sink | None) -> Tally:
        suffix = "" if served is policy else f"-{label}"
        bar = progress(f"serving {label}", serving.impressions) if progress else None
        spec = dataclasses.replace(serving, run_id=serving.run_id + suffix)
        return serve(sim, pool, served, spec, sink, bar)

    tally = serve_as(policy.name, make_simulator(), policy, sink)
    uniform = serve_as("uniform", make_simulator(), UniformPolicy(), None)
    oracle_sim = make_simulator()
    oracle = serve_as("oracle", oracle_sim, OraclePolicy(oracle_sim), None)
    return Comparison(
        campaign=serving.campaign,
        run_id=serving.run_id,
        seed=serving.streams.seed,
        policy=tally.totals(policy.name),
        uniform=uniform.totals("uniform"),
        oracle=oracle.totals("oracle"),
        regret=round(tally.regret, 3),
        lift_vs_uniform=round(tally.clicks / uniform.clicks, 4) if uniform.clicks else None,
        segments=tally.segment_table(),
    )


def initial_batch(cfg: CampaignConfig, generate: bool) -> str:
    """The screening batch key of a campaign's initial pool."""
    return run_key("initial", cfg.config_hash(), cfg.seed, generate)


def initial_pool(
    cfg: CampaignConfig,
    streams: Streams,
    generate: bool = True,
    screen: bool = True,
    progress: ProgressFactory | None = None,
) -> tuple[list[Creative], list]:
    """Steps 1 and 2: the seed creatives and, when the config has prompts, the LLM's
    candidates per segment, screened together. Returns the kept creatives (with text
    features for the bandit) and every verdict; writes nothing to the store."""
    seeds = seed_creatives(cfg)
    if not screen:
        return seeds, []
    from optimizer.screening import generate_and_screen

    return generate_and_screen(
        cfg,
        streams.fresh("generate"),
        None,
        initial_batch(cfg, generate),
        seeds=seeds,
        generate=generate,
        progress=progress,
    )


def store_pool(store, cfg: CampaignConfig, batch: str, creatives: list[Creative], verdicts: list):
    """The campaign, the verdicts of its screening batch and the kept creatives."""
    store.save_campaign(cfg)
    if verdicts:
        store.add_verdicts(cfg.name, batch, verdicts)
    store.add_creatives(creatives)


def run_campaign(
    cfg: CampaignConfig,
    impressions: int,
    store=None,  # optimizer.store.Store | None
    state_dir: Path | None = None,
    progress: ProgressFactory | None = None,
    generate: bool = True,
    screen: bool = True,
) -> RunSummary:
    """One simulated campaign: returns the summary (also stored with the run).

    ``generate``: let the LLM write candidates when the config has prompts. ``screen``: run
    the filter stage (needed for text features; off, the bandit sees creative ids only).
    Nothing is written to the store until the pool can serve every segment.
    """
    from simulators.audience import AudienceSimulator

    streams = Streams(cfg.seed)
    alloc = cfg.allocation
    run_id = run_key(
        cfg.config_hash(),
        cfg.seed,
        alloc.model_dump(),
        impressions,
        generate and bool(cfg.prompts),
        screen,
    )

    # 1-2. Generate and filter the initial pool; check every segment can be served.
    creatives, verdicts = initial_pool(cfg, streams, generate, screen, progress)
    pool = build_pool(creatives, [s.name for s in cfg.segments])
    if store is not None:
        store_pool(store, cfg, initial_batch(cfg, generate), creatives, verdicts)

    # 3-4. Allocate and observe: the bandit serves simulated users and learns from clicks;
    #      uniform and the oracle serve the same users for comparison.
    policy = config_policy(cfg, streams)
    if store is not None:
        store.start_run(run_row(cfg, run_id, "simulation", impressions, policy.name))
    serving = Serving(impressions, alloc.batch_size, streams, cfg.name, run_id, campaign_clock(cfg))
    sink = (lambda batch: store.log(batch, run_id=run_id)) if store is not None else None
    comparison = compare(
        lambda: AudienceSimulator(cfg, streams.fresh("simulator")),
        pool,
        policy,
        serving,
        sink,
        progress,
    )
    pool_summary = PoolSummary(
        creatives=len(creatives),
        generated_kept=sum(c.source == "generated" for c in creatives),
        screened=len(verdicts),
        rejected=sum(not v.kept for v in verdicts),
    )

    # 5. Persist the learned policy so a later run or evaluation can resume from it.
    model_path = save_policy(policy, state_dir, cfg.name, run_id)
    summary = RunSummary.of(comparison, pool_summary, model_path)
    if store is not None:
        if model_path is not None and policy.name == "vw":
            version = register_vw(store, cfg, summary, screen)
            summary = dataclasses.replace(summary, policy_version=version)
        store.finish_run(run_id, summary.to_json(), model_path)
    return summary


def run_row(cfg: CampaignConfig, run_id: str, kind: str, impressions: int, policy: str):
    """The store's row for a run serving ``policy`` (``optimizer.store.RunRow``)."""
    from optimizer.store.models import RunRow

    return RunRow(
        id=run_id,
        campaign=cfg.name,
        kind=kind,
        policy=policy,
        seed=cfg.seed,
        config_hash=cfg.config_hash(),
        impressions=impressions,
        batch_size=cfg.allocation.batch_size,
        versions=library_versions(),
    )


def save_policy(policy: Policy, state_dir: Path | None, campaign: str, run_id: str) -> str | None:
    """Save a policy that can be saved under ``state_dir/campaign/run_id``; its path."""
    if state_dir is None or not hasattr(policy, "save"):
        return None
    folder = Path(state_dir) / campaign / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"policy.{policy.name}"
    policy.save(path)
    return str(path)


def register_vw(store, cfg: CampaignConfig, summary: RunSummary, screen: bool) -> str:
    """Register a run's saved VW model as a policy version; returns the version."""
    from optimizer.store.models import PolicyRow

    version = f"vw-run-{summary.run_id}"
    store.save_policy(
        PolicyRow(
            version=version,
            campaign=cfg.name,
            kind="vw",
            path=summary.model_path,
            source="run",
            events=summary.policy.impressions,
            metrics={
                "text_features": screen,
                "seed": cfg.seed,
                "expected_ctr": summary.policy.expected_ctr,
            },
        )
    )
    return version


def replay_table(
    table,
    policy_name: str,
    impressions: int,
    batch_size: int,
    seed: int,
    progress: ProgressFactory | None = None,
    scorer=None,  # optimizer.scorer.CreativeScorer | None: text priors for the arms
    scorer_version: str | None = None,
) -> Comparison:
    """The table-driven A/B replay (``simulate --arms-csv``): the same comparison as a run.

    Tests carry no user features, so ``auto`` is Thompson sampling; with a ``scorer`` every
    arm enters with a text prior read from its headline."""
    from optimizer.allocate.priors import table_priors
    from simulators.table import TableSimulator

    streams = Streams(seed)
    policy = make_policy(
        policy_name,
        seed=streams.int_seed("policy"),
        has_context_features=False,
        creative_priors=table_priors(table, scorer) if scorer is not None else None,
    )
    pool = {s: list(cs) for s, cs in table.creatives.items()}
    run_id = run_key(
        "table",
        table.campaign,
        sorted(table.ctr.items()),
        seed,
        policy_name,
        impressions,
        batch_size,
        *([scorer_version] if scorer is not None else []),
    )
    serving = Serving(impressions, batch_size, streams, table.campaign, run_id, Clock(0.0, 1.0))
    return compare(lambda: TableSimulator(table), pool, policy, serving, None, progress)
