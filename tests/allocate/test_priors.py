from __future__ import annotations

import numpy as np
import pytest

from optimizer.allocate.priors import BetaPrior, GroupPrior, fit_group_prior, table_priors
from simulators.table import arms_table


def simulated_report(rng, truth: GroupPrior, groups=300, arms=4, impressions=20_000):
    """Arms' clicks from ``truth``'s model: level ~ Gamma(k, k), arm CTR ~ Gamma(a, a) x level."""
    g, c, n = [], [], []
    for i in range(groups):
        level = truth.mean * rng.gamma(truth.level_shape, 1 / truth.level_shape)
        ctr = level * rng.gamma(truth.pseudo_clicks, 1 / truth.pseudo_clicks, arms)
        g += [f"g{i}"] * arms
        c += list(rng.binomial(impressions, np.minimum(ctr, 1.0)))
        n += [impressions] * arms
    return g, c, n


@pytest.mark.parametrize(
    "truth", [GroupPrior(0.01, 2.5, 9.0), GroupPrior(0.05, 8.0, 30.0), GroupPrior(0.02, 1.0, 4.0)]
)
def test_fit_group_prior_recovers_the_level_and_the_spread_over_seeds(truth):
    fits = [fit_group_prior(*simulated_report(np.random.default_rng(s), truth)) for s in range(3)]
    assert np.mean([f.mean for f in fits]) == pytest.approx(truth.mean, rel=0.1)
    assert np.mean([f.level_shape for f in fits]) == pytest.approx(truth.level_shape, rel=0.15)
    assert np.mean([f.pseudo_clicks for f in fits]) == pytest.approx(truth.pseudo_clicks, rel=0.15)


@pytest.mark.parametrize(
    "groups,clicks,impressions,pattern",
    [
        (["a", "a"], [1], [10, 10], "one entry per arm"),
        (["a", "a"], [1, 11], [10, 10], r"0 <= clicks <= impressions"),
        (["a", "a"], [1, 1], [10, 0], r"impressions > 0"),
        (["a", "a", "b"], [0, 0, 0], [10, 10, 10], "no clicks at all"),
        (["a", "a", "b"], [1, 2, 3], [10, 10, 10], "at least two ad groups with two or more"),
    ],
)
def test_fit_group_prior_rejects_data_it_cannot_fit(groups, clicks, impressions, pattern):
    with pytest.raises(ValueError, match=pattern):
        fit_group_prior(groups, clicks, impressions)


def test_group_prior_json_round_trip_and_arm_prior():
    prior = GroupPrior(0.02, 3.0, 10.0)
    assert GroupPrior.from_json(prior.to_json()) == prior
    arm = prior.arm()
    assert arm.mean == pytest.approx(0.02) and arm.alpha == 10.0


@pytest.mark.parametrize(
    "args,pattern",
    [((0.0, 1.0), "alpha must be a positive"), ((1.0, float("nan")), "beta must be a positive")],
)
def test_beta_prior_rejects_non_positive_pseudo_counts(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        BetaPrior(*args)


class LengthScorer:
    """A stand-in scorer: longer headlines get a higher prior CTR (unit test of the adapter)."""

    def __init__(self, answer=None):
        self.seen = []
        self.answer = answer

    def pooled_level(self):
        return 0.02

    def prior(self, headlines, level=None):
        self.seen.append((list(headlines), level))
        if self.answer is not None:
            return self.answer
        return [(0.001 * len(h), 100.0) for h in headlines]


def test_table_priors_asks_the_scorer_once_per_ad_group_in_order():
    table = arms_table(
        "t", [("t1", "a", "Short", 0.01), ("t1", "b", "A longer one", 0.02), ("t2", "a", "X", 0.3)]
    )
    scorer = LengthScorer()
    priors = table_priors(table, scorer)
    assert scorer.seen == [(["Short", "A longer one"], 0.02), (["X"], 0.02)]  # at a known level
    assert priors[("t1", "b")] == BetaPrior(0.012, 100.0)
    assert set(priors) == {("t1", "a"), ("t1", "b"), ("t2", "a")}
    table_priors(table, scorer, level=0.05)
    assert scorer.seen[-1][1] == 0.05


@pytest.mark.parametrize(
    "answer,pattern",
    [([(1.0, 2.0)], r"returned 1 priors for the 2 arms of segment 't1'"), ([(1, 2), (0, 1)], "")],
)
def test_table_priors_rejects_a_scorer_answer_that_does_not_fit(answer, pattern):
    table = arms_table("t", [("t1", "a", "One", 0.01), ("t1", "b", "Two", 0.02)])
    with pytest.raises(ValueError, match=pattern or "alpha must be a positive"):
        table_priors(table, LengthScorer(answer))
