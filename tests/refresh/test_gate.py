"""Best-of-N under the scorer: candidates ranked by an optimistic score, and a gate whose bar
is the pool's posterior from its own data, not the scorer's estimate of the pool."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from optimizer.filter.verdict import Rejection, Verdict
from optimizer.records import Creative
from optimizer.refresh.assess import CreativeStats
from optimizer.refresh.metrics import InitialPool
from optimizer.refresh.regenerate import admit_segment, optimistic, room
from optimizer.refresh.state import State
from optimizer.refresh.timing import Stopwatch
from optimizer.scorer import Prior

SEGMENT = "s"


def creative(headline: str, cta: str = "Shop now") -> Creative:
    return Creative.from_text("c", headline, "A body.", cta, segment=SEGMENT)


class FakeScorer:
    """A prior per headline (alpha, beta); the pool's creatives get a very low one, so a gate
    that asked the scorer about the pool would set a bar near zero."""

    def __init__(self, priors: dict[str, tuple[float, float]]) -> None:
        self.priors = priors
        self.asked: list[str] = []

    def prior(self, texts, ad_group=None, level=None, *, segment=""):
        self.asked += [t[0] for t in texts]
        ab = np.array([self.priors.get(t[0], (0.1, 999.9)) for t in texts])
        return Prior(ab[:, 0], ab[:, 1])


class FakeScreener:
    """Rejects headlines containing 'bad'; anything else is kept."""

    embedder = SimpleNamespace(encode=lambda texts: np.ones((len(texts), 8)) / np.sqrt(8))

    def screen(self, creatives, pool=(), select=True):
        return [
            Verdict(c, (Rejection("format", "bad"),) if "bad" in c.headline else ())
            for c in creatives
        ]


def state_with_pool(ctr: float) -> State:
    """A segment of three active creatives, each shown 10,000 times at ``ctr``."""
    pool = [creative(f"pool {i}") for i in range(3)]
    stats = CreativeStats()
    for c in pool:
        n, k = 10_000.0, round(10_000 * ctr)
        stats.data[stats.key(SEGMENT, c.id)] = [n, n, float(k), float(k), float(k)]
    return State(
        round=1,
        policy="thompson",
        creatives={c.id: c for c in pool},
        pool={SEGMENT: [c.id for c in pool]},
        stats=stats,
        prompts=[],
        prompt_stats={},
        simulator={},
        generator={},
        initial=InitialPool(0.0, {SEGMENT: 3}),
        history=[],
    )


CANDIDATES = {
    "strong": (60.0, 1940.0),  # mean 3%, sure of it
    "novel": (3.0, 97.0),  # mean 3% too, unsure: a higher optimistic score
    "weak": (20.0, 1980.0),  # mean 1%
    "bad strong": (90.0, 1910.0),  # the best prior, but the filters reject it
}


def run_gate(pool_ctr: float, n: int = 2):
    state = state_with_pool(pool_ctr)
    scorer = FakeScorer(CANDIDATES)
    raw = {SEGMENT: [creative(h) for h in CANDIDATES]}
    models = SimpleNamespace(screener=FakeScreener())
    out = admit_segment(models, state, scorer, SEGMENT, n, state.live(), raw, Stopwatch())
    return out, scorer


def test_the_gates_bar_is_the_pools_posterior_and_ranking_is_optimistic():
    out, scorer = run_gate(pool_ctr=0.02)
    # the bar: mean posterior CTR of the pool from its data (about 2%), never asked of the
    # scorer, which would have put the pool near 0.01%
    assert out.bar == pytest.approx(0.02, abs=0.0005)
    assert not any(h.startswith("pool") for h in scorer.asked)
    # ranked by the upper quantile: the novel candidate before the equally good sure one
    assert [c.headline for c in out.admitted] == ["novel", "strong"]
    assert [c.headline for c in out.kept] == ["novel", "strong", "weak"]
    assert out.gated_out == 1  # weak: its optimistic score is below the bar
    # the admitted enter the bandit with the scorer's prior
    assert out.priors[creative("novel").id] == (3.0, 97.0)
    assert all(c.features for c in out.admitted)  # text features for VW


def test_a_pool_whose_data_is_better_turns_the_same_candidates_away():
    out, _ = run_gate(pool_ctr=0.06)
    assert out.bar == pytest.approx(0.06, abs=0.001)
    assert out.admitted == [] and out.gated_out == 3


def test_the_optimistic_score_rewards_uncertainty():
    sure, unsure = optimistic(np.array([300.0, 3.0]), np.array([9700.0, 97.0]))
    assert unsure > sure > 0.03 * 0.99


def test_every_segment_has_room_for_challengers():
    got = room({"a": ["x"] * 6, "b": ["x"] * 4, "c": ["x"] * 9}, size=6)
    assert got == {"a": 2, "b": 4, "c": 2}  # open slots plus two challengers
