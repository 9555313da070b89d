"""A round's refresh and truth as metrics, and a run's summary (``RoundsSummary``)."""

from __future__ import annotations

from collections.abc import Mapping

from optimizer.refresh.measure import Truth, candidate_lines, composition, joins
from optimizer.refresh.metrics import NewCreative, RoundMetrics, RoundTruth
from optimizer.refresh.operators.generate import arm_of
from optimizer.refresh.regenerate import Regeneration
from optimizer.refresh.state import State
from optimizer.summaries import RoundLine, RoundsSummary


def measure(truth: Truth, regen: Regeneration, state: State) -> RoundTruth:
    """The round by the simulator's truth: candidates by source (raw, kept, admitted), the
    newcomers beside the pool they joined, and the pool's make-up after the round."""
    active = state.active()
    return RoundTruth(
        candidate_lines(truth, regen.raw, regen.kept, regen.admitted),
        joins(truth, active, regen.admitted),
        composition(truth, active),
    )


def prompt_credit(state: State) -> dict[str, list[float]]:
    """Each prompt's ``[wins, trials]``: the operator bandit's credit of its ``generate``
    arm (the reward of the creatives it wrote, relative to their segments)."""
    return {p.id: list(state.operators.get(arm_of(p.id), [0.0, 0.0])) for p in state.prompts}


def refresh_metrics(done) -> dict:  # done: optimizer.rounds.Refreshed
    """The refresh's part of a round's metrics (``RoundMetrics`` fields)."""
    regen = done.regeneration
    new = [
        NewCreative(
            c.id,
            segment,
            c.prompt_id,
            c.headline,
            c.generator_version,
            str(c.lineage.get("arm")) if c.lineage.get("arm") else None,
            tuple(c.lineage.get("parents", ())),
            regen.priors.get((segment, c.id)),
        )
        for segment, creatives in regen.admitted.items()
        for c in creatives
    ]
    return {
        "retirements": done.retirements,
        "new_creatives": tuple(new),
        "prompt_written": done.rewrite.written if done.rewrite else None,
        "prompt_retirements": done.rewrite.retired if done.rewrite else (),
        "gated_out": regen.gated_out,
        "unfilled": regen.unfilled,
        "plan": regen.plan,
        "bars": regen.bars,
        "finetune_data": done.generator.data if done.generator else None,
        "generator_refresh": done.generator.version if done.generator else None,
        "generator_comparison": comparison(done.generator),
    }


def comparison(g) -> dict | None:  # g: optimizer.refresh.finetune.GeneratorRefresh | None
    """The trained generator version against its parent, when the refresh compared them."""
    if g is None or g.comparison is None or g.trained is None:
        return None
    return {"trained": g.trained.version, **g.comparison.as_dict()}


def _make_up(m: RoundMetrics) -> Mapping:
    if m.truth is None or m.truth.composition is None:
        return {}
    c = m.truth.composition
    return {
        "created_share": c.created_share,
        "created_true_ctr": c.created_true_ctr,
        "seed_true_ctr": c.seed_true_ctr,
    }


def summarise(campaign, state: State) -> RoundsSummary:  # campaign: optimizer.rounds.Campaign
    lines = [RoundLine(0, state.initial.pool_true_ctr)] + [
        RoundLine(
            m.round,
            m.pool_true_ctr,
            m.served.served_ctr,
            m.served.expected_ctr,
            m.served.oracle_ctr,
            m.served.uniform_ctr,
            m.served.regret,
            m.truth.to_json()["raw_candidates"] if m.truth is not None else None,
            **_make_up(m),
        )
        for m in state.history
    ]
    initial, final = state.initial.pool_true_ctr, lines[-1].pool_true_ctr
    last = _make_up(state.history[-1]) if state.history else {}
    return RoundsSummary(
        campaign=campaign.cfg.name,
        run_id=campaign.run_id,
        seed=campaign.cfg.seed,
        refresh=campaign.refresh,
        rounds=tuple(lines),
        initial_pool_true_ctr=initial,
        final_pool_true_ctr=final,
        retirements=sum(len(m.retirements) for m in state.history),
        new_creatives=sum(len(m.new_creatives) for m in state.history),
        generator=state.generator.get("version"),
        pool_lift=round(final / max(initial, 1e-12), 4),
        create=campaign.create,
        **last,
    )
