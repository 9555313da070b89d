"""Operators: recombination of the best assets, lineage on every child, and the operator
bandit that moves budget to the arm whose children win."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.records import Creative
from optimizer.refresh.assess import CreativeStats
from optimizer.refresh.operators import Parents
from optimizer.refresh.operators.bandit import arm_of, budget, credit, value
from optimizer.refresh.operators.recombine import assemblies, recombine
from optimizer.refresh.posterior import posteriors, thompson_ranking

SEGMENT = "marathoners"


def seed(headline: str, body: str, cta: str = "Shop now") -> Creative:
    return Creative.from_text("stride-spring", headline, body, cta)


def shown(stats: CreativeStats, creative_id: str, impressions: int, clicks: int) -> None:
    """``impressions`` events of ``SEGMENT`` in which the creative was shown, with clicks."""
    stats.data[stats.key(SEGMENT, creative_id)] = [
        float(impressions),
        float(impressions),
        float(clicks),
        float(clicks),
        float(clicks),
    ]


@pytest.fixture()
def pool(example_cfg):
    """The example's seed creatives for marathoners, with the speed and endurance ones
    (what the segment likes) clearly ahead in the data."""
    creatives = [seed(c.headline, c.body, c.cta) for c in example_cfg.seed_creatives]
    stats = CreativeStats()
    winners = {"Chase your next PR", "Made for the long run", "Faster miles, lighter feet"}
    for c in creatives:
        shown(stats, c.id, 2_000, 90 if c.headline in winners else 20)
    return creatives, stats, winners


def parents_of(creatives, stats, rng) -> Parents:
    post = posteriors(stats, SEGMENT, [c.id for c in creatives])
    by_id = {c.id: c for c in creatives}
    ranked = tuple(by_id[i] for i, _ in thompson_ranking(post, rng))
    return Parents(SEGMENT, ranked, ranked[-2:], tuple(creatives), frozenset(by_id))


def test_recombination_assembles_the_best_assets_and_passes_the_screen(example_cfg, pool):
    from optimizer.filter.screen import Screener

    creatives, stats, winners = pool
    parents = parents_of(creatives, stats, np.random.default_rng(0))
    assert {c.headline for c in parents.ranked[:3]} == winners  # the posterior's best
    made = recombine(
        example_cfg.name, parents, example_cfg.calls_to_action, 12, 3, np.random.default_rng(1)
    )
    assert len(made) == 12 and len({c.id for c in made}) == 12
    best = {c.id: c for c in parents.ranked[:4]}
    texts = {(c.headline, c.body) for c in creatives}
    for c in made:
        # a headline of one of the best, a body of another, an allowed call to action
        head, body = c.lineage["assets"]["headline"], c.lineage["assets"]["body"]
        assert head != body and {head, body} <= set(best)
        assert (c.headline, c.body) == (best[head].headline, best[body].body)
        assert (c.headline, c.body) not in texts and c.cta in example_cfg.calls_to_action
        # lineage: operator, arm, parents, round, no generator
        assert c.source == "recombined" and c.segment == SEGMENT
        assert c.parent_id == head and c.lineage["parents"] == [head, body]
        assert c.lineage["operator"] == c.lineage["arm"] == "recombine"
        assert c.lineage["round"] == 3 and c.lineage["generator"] is None
        assert arm_of(c) == "recombine"
    # screened like any candidate: assets of screened creatives fit the length limits and
    # make no new claim, and reassembled they read well; only near-duplicates of the pool (or
    # of each other: the filters compare texts, not calls to action) may fall
    verdicts = Screener.build(example_cfg).screen(made, pool=creatives, select=False)
    reasons = {r.filter for v in verdicts for r in v.rejections}
    assert reasons <= {"duplicate"}, [v.rejections for v in verdicts if not v.kept]
    distinct = {(c.headline, c.body) for c in made}
    assert sum(v.kept for v in verdicts) >= len(distinct) - 2


def test_recombination_skips_running_and_retired_assemblies(example_cfg, pool):
    creatives, stats, _ = pool
    parents = parents_of(creatives, stats, np.random.default_rng(0))
    ctas = example_cfg.calls_to_action
    every = assemblies(example_cfg.name, parents, ctas)
    assert len(every) == 4 * 3 * len(ctas)  # 4 parents: 12 ordered pairs, any CTA
    retired = recombine(example_cfg.name, parents, ctas, 5, 1, np.random.default_rng(2))
    gone = parents.seen | {c.id for c in retired}
    again = Parents(SEGMENT, parents.ranked, parents.losers, parents.live, gone)
    left = assemblies(example_cfg.name, again, ctas)
    assert len(left) == len(every) - 5
    assert not {c.id for c in retired} & {
        c.id for c in recombine(example_cfg.name, again, ctas, 100, 2, np.random.default_rng(3))
    }


def child(arm: str, headline: str) -> Creative:
    c = Creative.from_text("c", headline, "body", "Shop now", segment=SEGMENT, source="recombined")
    from optimizer.refresh.operators import with_lineage

    return with_lineage(c, arm, arm, [], 1, "recombined")


def test_credit_rewards_children_above_their_segments_pool():
    stats, creatives = CreativeStats(), {}
    for i, (arm, clicks) in enumerate([("good", 80), ("good", 70), ("bad", 10), ("bad", 15)]):
        c = child(arm, f"headline {i}")
        creatives[c.id] = c
        shown(stats, c.id, 2_000, clicks)
    young = child("young", "just admitted")  # no data yet: no credit either way
    creatives[young.id] = young
    pool = {SEGMENT: list(creatives)}
    got = credit(creatives, pool, stats, min_events=300)
    assert got["good"][1] == got["bad"][1] == 2.0
    assert got["good"][0] > 1.9 and got["bad"][0] < 0.1  # P(child > pool mean) each
    assert got["young"] == [0.0, 0.0]  # no data yet: neither a win nor a loss
    # every candidate is a trial: those that never joined the pool earned nothing
    made = {"good": 10, "bad": 10, "young": 5, "silent": 30}
    got = credit(creatives, pool, stats, 300, made)
    assert got["good"][1] == got["bad"][1] == 10.0 and got["good"][0] > 1.9
    assert got["young"] == [0.0, 4.0] and got["silent"] == [0.0, 30.0]
    assert value("good", got) > value("young", got) > value("silent", got)


def test_budget_flows_to_the_arm_whose_children_win():
    """A fake generator: arm ``good`` writes creatives with a true CTR of 4%, ``bad`` of 1%,
    ``new`` is untried. Each round the bandit splits 60 candidates; one of each arm's
    becomes a child and is served 2,000 times (simulated clicks)."""
    rng = np.random.default_rng(0)
    truth = {"good": 0.04, "bad": 0.01}
    stats, creatives = CreativeStats(), {}
    arms = ["good", "bad"]
    first = budget(arms, {}, 60, rng)
    assert min(first.values()) > 10  # no evidence yet: both explored
    for k in range(4):
        for arm in arms:
            c = child(arm, f"{arm} {k}")
            creatives[c.id] = c
            shown(stats, c.id, 2_000, int(rng.binomial(2_000, truth[arm])))
    credits = credit(creatives, {SEGMENT: list(creatives)}, stats, 300)
    later = budget([*arms, "new"], credits, 60, rng)
    assert later["good"] > 30 and later["bad"] < 5
    assert later["new"] > 0  # an untried arm still gets a chance


def test_budget_respects_supply_and_the_llm_cap():
    rng = np.random.default_rng(1)
    split = budget(
        ["recombine", "generate:a", "generate:b"],
        {"recombine": [0.0, 20.0]},  # recombination's children all lost
        50,
        rng,
        supply={"recombine": 5},
        caps={"llm": 12},
        group=lambda a: "free" if a == "recombine" else "llm",
    )
    assert split["generate:a"] + split["generate:b"] == 12  # the cap, though they win
    assert split["recombine"] == 5  # what is left goes where there is room, up to supply
