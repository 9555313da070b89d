"""Regenerate: best-of-N under the creative scorer, for the segments with room.

A segment has room for its open slots (below ``refresh.pool_size``) plus ``CHALLENGERS``
newcomers every round, even when full: retirement trims the pool back to its size once they
have been judged, so a pool the evidence cannot yet trim still meets better copy. Per segment
with room ``r``:

1. The operator bandit (:mod:`~optimizer.refresh.operators.bandit`) splits
   ``N = r * refresh.candidates_per_slot`` candidates among the operators (recombination,
   the LLM's ``generate:<prompt id>``, ``mutation`` and ``crossover``); the LLM writes at
   most ``generation.batch_size`` answers a round (one batch), shared by its arms over all
   segments, and recombination at most the assemblies there are.
2. The operators make them (:mod:`~optimizer.refresh.operators`), the LLM's in one batched
   call for every segment.
3. The scorer, fitted on every (segment, creative) outcome so far (:func:`fit_scorer`), gives
   each candidate a Beta prior (``CreativeScorer.prior``); candidates are ranked by its
   upper ``OPTIMISM`` quantile, an optimistic score, so that novel copy the scorer is unsure
   of gets tried, and screened in that order against the live pool (of near-duplicates the
   best-ranked is kept).
4. The gate: a candidate is admitted only if that score reaches the segment's bar, the mean
   posterior CTR of its active creatives from their own data
   (:func:`~optimizer.refresh.posterior.pool_bar`), not the scorer's estimate of them; the
   best ``r`` are admitted. Their scorer priors go to the serving policy (Thompson sampling
   takes them as pseudo-counts; VW sees their text features).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.records import Creative
from optimizer.refresh.models import Models
from optimizer.refresh.operators import Parents
from optimizer.refresh.operators import bandit as operator_bandit
from optimizer.refresh.operators.edit import OPERATORS as EDITS
from optimizer.refresh.operators.edit import edit
from optimizer.refresh.operators.generate import arm_of, generate
from optimizer.refresh.operators.recombine import OPERATOR as RECOMBINE
from optimizer.refresh.operators.recombine import assemblies, recombine
from optimizer.refresh.posterior import pool_bar, posteriors, thompson_ranking
from optimizer.refresh.state import State
from optimizer.refresh.timing import Stopwatch

CHALLENGERS = 2  # newcomers a segment takes each round beyond its open slots
OPTIMISM = 0.8  # the quantile of the scorer's prior candidates are ranked and gated by
LOSERS = 2  # the worst creatives an editing operator is shown as what to avoid


@dataclass(frozen=True)
class Regeneration:
    admitted: dict[str, list[Creative]]  # segment -> new active creatives (with features)
    verdicts: dict[str, list]  # segment -> the filter's verdicts on its candidates
    gated_out: int | None  # candidates the gate turned away (None: no gate ran)
    unfilled: dict[str, int]  # segment -> open slots (below the pool size) left open
    raw: dict[str, list[Creative]] = field(default_factory=dict)  # before the filters
    kept: dict[str, list[Creative]] = field(default_factory=dict)  # by the filters
    plan: dict[str, dict[str, int]] = field(default_factory=dict)  # segment -> arm -> N
    bars: dict[str, float] = field(default_factory=dict)  # segment -> the gate's bar
    priors: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)


def openings(pool: Mapping[str, Sequence[str]], size: int) -> dict[str, int]:
    """Open slots per segment: how far each is below the pool size."""
    return {s: size - len(ids) for s, ids in pool.items() if len(ids) < size}


def room(pool: Mapping[str, Sequence[str]], size: int) -> dict[str, int]:
    """Newcomers each segment may take: its open slots plus ``CHALLENGERS``."""
    slots = openings(pool, size)
    return {s: slots.get(s, 0) + CHALLENGERS for s in pool}


def parents_of(state: State, segment: str, rng: np.random.Generator) -> Parents:
    """The segment's active creatives ranked by a posterior draw, its losers, the live pool."""
    ids = state.pool[segment]
    post = posteriors(state.stats, segment, ids)
    ranked = tuple(state.creatives[i] for i, _ in thompson_ranking(post, rng))
    by_mean = sorted(ids, key=lambda i: post[i].mean)
    losers = tuple(state.creatives[i] for i in by_mean[:LOSERS])
    return Parents(segment, ranked, losers, tuple(state.live()), frozenset(state.creatives))


def regenerate(
    cfg: CampaignConfig,
    models: Models,
    state: State,
    need: Mapping[str, int],
    k: int,
    rng: np.random.Generator,
    watch: Stopwatch,
    llm: bool = True,
    scorer=None,  # optimizer.scorer.CreativeScorer | None
) -> Regeneration:
    """New creatives for the ``need`` newcomers per segment (``llm``: the LLM's arms too,
    else recombination alone), ranked by ``scorer`` (None: no ranking, no gate); ``state``
    is not changed."""
    if not need:
        return Regeneration({}, {}, None, {})
    parents = {s: parents_of(state, s, rng) for s in sorted(need)}
    plan = plan_budget(cfg, state, parents, need, rng, llm)
    raw = make_candidates(cfg, models, state, parents, plan, k, rng, watch)
    live = state.live()
    slots = openings(state.pool, cfg.refresh.pool_size)
    done = {}
    for segment, n in sorted(need.items()):
        done[segment] = admit_segment(models, state, scorer, segment, n, live, raw, watch)
        live += done[segment].admitted
    gated = [d.gated_out for d in done.values() if d.gated_out is not None]
    return Regeneration(
        admitted={s: d.admitted for s, d in done.items()},
        verdicts={s: d.verdicts for s, d in done.items()},
        gated_out=sum(gated) if gated else None,
        unfilled={
            s: slots[s] - len(d.admitted)
            for s, d in done.items()
            if len(d.admitted) < slots.get(s, 0)
        },
        raw=raw,
        kept={s: d.kept for s, d in done.items()},
        plan=plan,
        bars={s: d.bar for s, d in done.items() if d.bar is not None},
        priors={(s, cid): p for s, d in done.items() for cid, p in d.priors.items()},
    )


def plan_budget(
    cfg: CampaignConfig,
    state: State,
    parents: Mapping[str, Parents],
    need: Mapping[str, int],
    rng: np.random.Generator,
    llm: bool = True,
) -> dict[str, dict[str, int]]:
    """Candidates per segment and arm (step 1 of the module docstring)."""
    arms = [RECOMBINE] + ([arm_of(p.id) for p in state.prompts] + list(EDITS) if llm else [])
    llm_left = cfg.generation.batch_size
    plan = {}
    for segment in sorted(need):
        supply = {RECOMBINE: len(assemblies(cfg.name, parents[segment], cfg.calls_to_action))}
        n = need[segment] * cfg.refresh.candidates_per_slot
        split = operator_bandit.budget(
            arms,
            state.operators,
            n,
            rng,
            supply=supply,
            caps={"llm": llm_left},
            group=lambda a: "free" if a == RECOMBINE else "llm",
        )
        llm_left -= sum(v for a, v in split.items() if a != RECOMBINE)
        plan[segment] = {a: split[a] for a in arms if split[a]}
    return plan


def make_candidates(
    cfg: CampaignConfig,
    models: Models,
    state: State,
    parents: Mapping[str, Parents],
    plan: Mapping[str, Mapping[str, int]],
    k: int,
    rng: np.random.Generator,
    watch: Stopwatch,
) -> dict[str, list[Creative]]:
    """Every operator's candidates per segment (step 2), before the filters."""
    out: dict[str, list[Creative]] = {s: [] for s in plan}
    with watch.stage("recombine"):
        for segment, arms in plan.items():
            out[segment] += recombine(
                cfg.name, parents[segment], cfg.calls_to_action, arms.get(RECOMBINE, 0), k, rng
            )
    llm = {s: {a: n for a, n in arms.items() if a != RECOMBINE} for s, arms in plan.items()}
    if any(llm.values()):
        with watch.stage("generate"):
            for segment, made in generate(cfg, models.backend, state.prompts, llm, k, rng).items():
                out[segment] += made
        with watch.stage("edit"):
            edits = edit(cfg, models.backend, state.prompts, llm, parents, k, rng)
            for segment, made in edits.items():
                out[segment] += made
    return out


@dataclass(frozen=True)
class Admission:
    """One segment's screening, ranking and gate."""

    verdicts: list
    kept: list[Creative]
    admitted: list[Creative]
    gated_out: int | None = None
    bar: float | None = None
    priors: dict[str, tuple[float, float]] = field(default_factory=dict)


def admit_segment(
    models: Models,
    state: State,
    scorer,  # optimizer.scorer.CreativeScorer | None
    segment: str,
    n: int,
    live: list[Creative],
    raw: Mapping[str, list[Creative]],
    watch: Stopwatch,
) -> Admission:
    """Steps 3-4 for one segment: rank by the optimistic score, screen in that order (of
    near-duplicates, such as one text with several calls to action, the best-ranked is
    kept), gate, admit."""
    from optimizer.filter.features import with_text_features

    made = list(raw.get(segment, []))
    score, prior = np.zeros(len(made)), None
    if scorer is not None and made:
        with watch.stage("rank"):
            prior = scorer.prior([(c.headline, c.body, c.cta) for c in made], "", segment=segment)
            score = optimistic(prior.alpha, prior.beta)
    order = [int(i) for i in np.argsort(-score, kind="stable")]
    with watch.stage("filter"):
        verdicts = models.screener.screen([made[i] for i in order], pool=live, select=False)
        kept_at = [i for i, v in zip(order, verdicts, strict=True) if v.kept]
    kept = [made[i] for i in kept_at]
    if prior is None:  # nothing shown yet: no scorer, no gate
        with watch.stage("rank"):
            chosen = with_text_features(kept[:n], models.screener.embedder)
        return Admission(verdicts, kept, chosen)
    with watch.stage("rank"):
        bar = pool_bar(state.stats, segment, state.pool[segment])
        passed = [i for i in kept_at if score[i] >= bar][:n]
        chosen = with_text_features([made[i] for i in passed], models.screener.embedder)
        priors = {
            made[i].id: (round(float(prior.alpha[i]), 4), round(float(prior.beta[i]), 4))
            for i in passed
        }
    gated_out = len(kept) - len([i for i in kept_at if score[i] >= bar])
    return Admission(verdicts, kept, chosen, gated_out, round(bar, 6), priors)


def optimistic(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The upper ``OPTIMISM`` quantile of each Beta(alpha, beta), shape ``(n,)``."""
    from scipy.stats import beta as beta_dist

    return beta_dist.ppf(OPTIMISM, alpha, beta)


def fit_scorer(embedder, state: State):
    """The creative scorer fitted on every (segment, creative) shown so far; None before
    anything was shown."""
    from optimizer.scorer import CreativeScorer, Outcome

    outcomes = []
    for key, (_, shown, _, _, clicks) in state.stats.data.items():
        segment, cid = key.split("\x1f")
        c = state.creatives.get(cid)
        if c is not None and shown:
            outcomes.append(Outcome(segment, c.headline, c.body, c.cta, int(shown), int(clicks)))
    return CreativeScorer(embedder).fit(outcomes) if outcomes else None
