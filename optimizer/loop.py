"""The campaign loop, top to bottom: generate -> filter -> allocate -> observe -> refresh.

``run_campaign`` runs a simulated campaign in numbered steps, one call per stage. ``serve``
is the allocate/observe inner loop shared by the campaign and the table-driven replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np

from optimizer.allocate import Policy, make_policy
from optimizer.config import CampaignConfig
from optimizer.generate import seed_creatives
from optimizer.identity import Clock, library_versions, run_key
from optimizer.observe import Tally, respond
from optimizer.pool import Pool, build_pool
from optimizer.records import Context, Creative, Decision, Feedback
from optimizer.rng import Streams
from simulators.base import Simulator

Progress = Callable[[int], None]
# Given a label and a total, returns the callback that advances that task's progress.
ProgressFactory = Callable[[str, int], Progress]
Sink = Callable[[list[Feedback]], None]


def serve(
    simulator: Simulator,
    pool: Pool,
    policy: Policy,
    impressions: int,
    batch_size: int,
    streams: Streams,
    campaign: str,
    run_id: str,
    clock: Clock,
    sink: Sink | None = None,
    progress: Progress | None = None,
) -> Tally:
    """Serve ``impressions`` simulated users; the policy learns after every batch.

    Users, click draws and policy randomness come from fresh ``users``, ``clicks`` and
    ``policy`` streams, so every policy served on one seed meets the same users with the same
    luck (common random numbers).
    """
    users, clicks, policy_rng = (streams.fresh(n) for n in ("users", "clicks", "policy"))
    arrivals = _arrivals(simulator, users, clicks, impressions)
    tally = Tally()
    for start in range(0, impressions, batch_size):
        m = min(batch_size, impressions - start)
        batch: list[Feedback] = []
        for i in range(start, start + m):
            context, draw = next(arrivals)
            candidates = pool[context.segment]
            event_id = f"{run_id}-{i:09d}"
            choice = policy.choose(context, candidates, policy_rng, event_id=event_id)
            decision = Decision(
                event_id=event_id,
                timestamp=clock.at(i),
                campaign=campaign,
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
    impressions: int,
    batch_size: int,
    streams: Streams,
    campaign: str,
    run_id: str,
    clock: Clock,
    sink: Sink | None = None,
    progress: ProgressFactory | None = None,
) -> dict:
    """Serve ``policy``, uniform and the oracle on the same seed; summarise side by side."""
    from optimizer.allocate.baselines import UniformPolicy
    from simulators.oracle import OraclePolicy

    def bar(label: str) -> Progress | None:
        return progress(f"serving {label}", impressions) if progress else None

    tally = serve(
        make_simulator(),
        pool,
        policy,
        impressions,
        batch_size,
        streams,
        campaign,
        run_id,
        clock,
        sink,
        bar(policy.name),
    )
    uniform = serve(
        make_simulator(),
        pool,
        UniformPolicy(),
        impressions,
        batch_size,
        streams,
        campaign,
        run_id + "-uniform",
        clock,
        None,
        bar("uniform"),
    )
    oracle_sim = make_simulator()
    oracle = serve(
        oracle_sim,
        pool,
        OraclePolicy(oracle_sim),
        impressions,
        batch_size,
        streams,
        campaign,
        run_id + "-oracle",
        clock,
        None,
        bar("oracle"),
    )
    return {
        "campaign": campaign,
        "run_id": run_id,
        "seed": streams.seed,
        "policy": tally.totals(policy.name),
        "uniform": uniform.totals("uniform"),
        "oracle": oracle.totals("oracle"),
        "regret": round(tally.regret, 3),
        "lift_vs_uniform": round(tally.clicks / uniform.clicks, 4) if uniform.clicks else None,
        "segments": tally.segment_table(),
    }


def initial_pool(
    cfg: CampaignConfig,
    streams: Streams,
    generate: bool = True,
    screen: bool = True,
    store=None,  # optimizer.store.Store | None
    progress: ProgressFactory | None = None,
) -> tuple[list[Creative], list]:
    """Steps 1 and 2: the seed creatives and, when the config has prompts, the LLM's
    candidates per segment, screened together. Returns the kept creatives (with text
    features for the bandit) and every verdict."""
    seeds = seed_creatives(cfg)
    if not screen:
        return seeds, []
    from optimizer.screening import generate_and_screen

    batch = run_key("initial", cfg.config_hash(), cfg.seed, generate)
    return generate_and_screen(
        cfg,
        streams.fresh("generate"),
        store,
        batch,
        seeds=seeds,
        generate=generate,
        progress=progress,
    )


def run_campaign(
    cfg: CampaignConfig,
    impressions: int,
    store=None,  # optimizer.store.Store | None
    state_dir: Path | None = None,
    progress: ProgressFactory | None = None,
    generate: bool = True,
    screen: bool = True,
) -> dict:
    """One simulated campaign: returns the summary (also stored with the run).

    ``generate``: let the LLM write candidates when the config has prompts. ``screen``: run
    the filter stage (needed for text features; off, the bandit sees creative ids only).
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
    if store is not None:
        from optimizer.store.models import RunRow

        store.save_campaign(cfg)
        store.start_run(
            RunRow(
                id=run_id,
                campaign=cfg.name,
                policy=alloc.policy,
                seed=cfg.seed,
                config_hash=cfg.config_hash(),
                impressions=impressions,
                batch_size=alloc.batch_size,
                versions=library_versions(),
            )
        )

    # 1-2. Generate and filter the initial pool.
    creatives, verdicts = initial_pool(cfg, streams, generate, screen, store, progress)
    pool = build_pool(creatives, [s.name for s in cfg.segments])
    if store is not None:
        store.add_creatives(creatives)

    # 3-4. Allocate and observe: the bandit serves simulated users and learns from clicks;
    #      uniform and the oracle serve the same users for comparison.
    policy = make_policy(
        alloc.policy,
        seed=streams.int_seed("policy"),
        exploration=alloc.exploration,
        params=dict(alloc.params),
    )
    start = datetime.fromisoformat(cfg.simulator.start).timestamp()
    clock = Clock(start=start, step=86_400 / cfg.simulator.impressions_per_day)
    sink = (lambda batch: store.log(batch, run_id=run_id)) if store is not None else None
    summary = compare(
        lambda: AudienceSimulator(cfg, streams.fresh("simulator")),
        pool,
        policy,
        impressions,
        alloc.batch_size,
        streams,
        cfg.name,
        run_id,
        clock,
        sink,
        progress,
    )
    summary["pool"] = {
        "creatives": len(creatives),
        "generated_kept": sum(c.source == "generated" for c in creatives),
        "screened": len(verdicts),
        "rejected": sum(not v.kept for v in verdicts),
    }

    # 5. Persist the learned policy so a later run or evaluation can resume from it.
    model_path = None
    if state_dir is not None and hasattr(policy, "save"):
        folder = Path(state_dir) / cfg.name / run_id
        folder.mkdir(parents=True, exist_ok=True)
        model_path = str(folder / f"policy.{policy.name}")
        policy.save(Path(model_path))
    summary["model_path"] = model_path
    if store is not None:
        if model_path is not None and policy.name == "vw":
            from optimizer.store.models import PolicyRow

            store.save_policy(
                PolicyRow(
                    version=f"vw-run-{run_id}",
                    campaign=cfg.name,
                    kind="vw",
                    path=model_path,
                    source="run",
                    events=impressions,
                    metrics={
                        "text_features": screen,
                        "seed": cfg.seed,
                        "expected_ctr": summary["policy"]["expected_ctr"],
                    },
                )
            )
            summary["policy_version"] = f"vw-run-{run_id}"
        store.finish_run(run_id, summary, model_path)
    return summary


def replay_table(
    table,
    policy_name: str,
    impressions: int,
    batch_size: int,
    seed: int,
    progress: ProgressFactory | None = None,
) -> dict:
    """The table-driven A/B replay (``simulate --arms-csv``): same summary keys as a run."""
    from simulators.table import TableSimulator

    streams = Streams(seed)
    policy = make_policy(policy_name, seed=streams.int_seed("policy"))
    pool = {s: list(cs) for s, cs in table.creatives.items()}
    run_id = run_key(
        "table",
        table.campaign,
        sorted(table.ctr.items()),
        seed,
        policy_name,
        impressions,
        batch_size,
    )
    return compare(
        lambda: TableSimulator(table),
        pool,
        policy,
        impressions,
        batch_size,
        streams,
        table.campaign,
        run_id,
        Clock(0.0, 1.0),
        None,
        progress,
    )
