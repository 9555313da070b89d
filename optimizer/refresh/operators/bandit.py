"""The operator bandit: Thompson sampling over operators and prompt arms, each credited with
the reward of the creatives it made.

Each candidate an arm makes is a trial. One that never joined the pool (filtered, or turned
away by the gate) earned nothing; one that did, a child, earns how it fares against its
segment: ``P(CTR > bar)`` under its posterior (:mod:`~optimizer.refresh.posterior`), where
``bar`` is the mean posterior CTR of the segment's active creatives. A child counts with
weight ``min(1, events / min_events)`` (the rest of it is not judged yet), and one retired
long ago still counts. An arm's credit ``[wins, trials]`` is recomputed from all the data
each round, and its value per candidate is ``Beta(a + wins, b + trials - wins)`` with an
empirical-Bayes prior worth one win at the pooled rate ``r`` of every arm
(``a = 1, b = (1 - r) / r``; ``Beta(1, 1)`` before any data), so an untried arm starts where
the others are on average, with a wide spread. The budget goes one candidate at a time to
the arm with the highest draw among those with room left (an arm's supply, or a shared cap on
the LLM's answers): budget flows to the arms whose candidates win, untried arms get a chance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from optimizer.records import Creative
from optimizer.refresh.assess import CreativeStats
from optimizer.refresh.posterior import pool_bar, posteriors, segment_level


def arm_of(c: Creative) -> str | None:
    """The bandit arm that made ``c``; None for a seed creative. Creatives generated before
    operators had arms (the initial pool) belong to their prompt's ``generate`` arm."""
    arm = c.lineage.get("arm")
    if arm:
        return str(arm)
    if c.source == "generated" and c.prompt_id:
        return f"generate:{c.prompt_id}"
    return None


def credit(
    creatives: Mapping[str, Creative],
    pool: Mapping[str, Sequence[str]],
    stats: CreativeStats,
    min_events: int,
    made: Mapping[str, float] | None = None,
) -> dict[str, list[float]]:
    """``{arm: [wins, trials]}`` (see the module docstring); ``made``: the candidates each arm
    made (at least its children)."""
    levels = {s: segment_level(stats, s) for s in pool}
    bars = {s: pool_bar(stats, s, ids) for s, ids in pool.items()}
    wins: dict[str, float] = {}
    unjudged: dict[str, float] = {}
    children: dict[str, int] = {}
    for c in creatives.values():
        arm = arm_of(c)
        if arm is None:
            continue
        children[arm] = children.get(arm, 0) + 1
        segments = [c.segment] if c.segment else list(pool)
        for s in segments:
            row = stats.data.get(stats.key(s, c.id))
            weight = min(1.0, row[0] / min_events) if row and s in bars else 0.0
            p = posteriors(stats, s, [c.id], levels[s])[c.id].above(bars[s]) if weight else 0.0
            wins[arm] = wins.get(arm, 0.0) + weight * p / len(segments)
            unjudged[arm] = unjudged.get(arm, 0.0) + (1.0 - weight) / len(segments)
    out = {}
    for arm in sorted({*children, *(made or {})}):
        trials = max(float((made or {}).get(arm, 0)), children.get(arm, 0)) - unjudged.get(arm, 0)
        out[arm] = [round(wins.get(arm, 0.0), 6), round(trials, 6)]
    return out


def prior(credits: Mapping[str, Sequence[float]]) -> tuple[float, float]:
    """The arms' common Beta prior: one win at the pooled rate (Beta(1, 1) without data)."""
    wins = sum(w for w, _ in credits.values())
    trials = sum(t for _, t in credits.values())
    if wins <= 0 or trials <= 0:
        return 1.0, 1.0
    rate = min(wins / trials, 0.5)
    return 1.0, (1.0 - rate) / rate


def value(arm: str, credits: Mapping[str, Sequence[float]]) -> float:
    """Posterior mean of an arm's reward per candidate."""
    a, b = prior(credits)
    wins, trials = credits.get(arm, (0.0, 0.0))
    return (a + wins) / (a + b + trials)


def budget(
    arms: Sequence[str],
    credits: Mapping[str, Sequence[float]],
    n: int,
    rng: np.random.Generator,
    supply: Mapping[str, int] | None = None,
    caps: Mapping[str, int] | None = None,
    group=lambda arm: arm,
) -> Counter:
    """How many candidates each arm makes: ``n`` Thompson draws, each unit to the best
    draw among arms with room. ``supply``: the most an arm can make; ``caps``: the most a
    group of arms (``group(arm)``) may make together."""
    supply, caps = supply or {}, dict(caps or {})
    a0, b0 = prior(credits)
    out: Counter = Counter()
    used: Counter = Counter()
    for _ in range(n):
        open_ = [
            a for a in arms if out[a] < supply.get(a, n) and used[group(a)] < caps.get(group(a), n)
        ]
        if not open_:
            break
        draws = []
        for a in open_:
            wins, trials = credits.get(a, (0.0, 0.0))
            draws.append(rng.beta(a0 + wins, b0 + max(trials - wins, 0.0)))
        arm = open_[int(np.argmax(draws))]
        out[arm] += 1
        used[group(arm)] += 1
    return out
