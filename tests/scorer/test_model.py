"""The scorer on A/B tests: learnt within ad groups, calibrated on new ones, honest priors."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.filter.embed import Embedder
from optimizer.scorer import CreativeScorer, Outcome, Prior, cross_validate
from tests.scorer.synthetic import HOOKS, SUBJECTS, ad_group_table


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.shared()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_ranks_the_arms_of_new_tests_and_predicts_their_level(embedder, seed):
    """Five folds of held-out tests whose subjects' levels differ by a factor of ~2: the
    order of significantly different arms is learnt from the other tests, and the mean
    predicted CTR of the held-out arms is within 20% of the observed."""
    table = ad_group_table(np.random.default_rng(seed))
    cv = cross_validate(table, lambda: CreativeScorer(embedder), folds=5, seed=seed)
    assert cv.held_out == "group" and len(cv.folds) == 5
    assert cv.mean("significant_accuracy") > 0.85, cv
    assert 0.8 < cv.calibration_ratio < 1.2, cv


def test_a_fitted_group_keeps_its_observed_level(embedder):
    table = ad_group_table(np.random.default_rng(3), groups=12)
    scorer = CreativeScorer(embedder).fit(table)
    rows = [o for o in table if o.ad_group == "test-5"]
    pred = scorer.predict("", [(o.headline, "", "") for o in rows], ad_group="test-5")
    n = np.array([o.impressions for o in rows])
    observed = sum(o.clicks for o in rows) / n.sum()
    assert np.isclose((pred * n).sum() / n.sum(), observed)
    # a new group at a known level: its arms' mean is that level, the best hook on top
    hooks = list(HOOKS)
    new = scorer.predict("", [f"{SUBJECTS[0]}: {h}" for h in hooks], level=0.05)
    assert np.isclose(new.mean(), 0.05) and np.argmax(new) == 0


def test_the_prior_is_the_prediction_weighed_by_how_much_copy_matters(embedder):
    scorer = CreativeScorer(embedder).fit(ad_group_table(np.random.default_rng(4)))
    texts = [f"{SUBJECTS[1]}: {h}" for h in HOOKS]
    for level in (None, 0.03):
        prior = scorer.prior(texts, level=level)
        assert isinstance(prior, Prior) and len(prior) == len(texts)
        assert np.allclose(prior.mean, scorer.predict("", texts, level=level), rtol=1e-6)
        # finite and modest: at least one impression, at most 1 / (0.04 mu)
        assert np.all(prior.strength >= 1) and np.all(prior.strength <= 1 / (0.04 * prior.mean))
        pairs = list(prior)
        assert pairs[0] == (prior.alpha[0], prior.beta[0])
    known, unknown = scorer.prior(texts, level=0.03), scorer.prior(texts)
    assert np.all(known.strength > 3 * unknown.strength)  # the level's uncertainty counts
    # its own impressions soon outweigh it: 20,000 impressions at 5% move the mean there
    post = (known.alpha + 1_000) / (known.strength + 20_000)
    assert np.all(np.abs(post - 0.05) < 0.01)


def test_copy_that_does_not_matter_gives_flat_predictions(embedder):
    """No hook changes the CTR: out-of-fold scores carry no signal, so the temperature
    flattens them and the text explains (almost) nothing."""
    scorer = CreativeScorer(embedder).fit(ad_group_table(np.random.default_rng(5), effect=False))
    pred = scorer.predict("", [f"{SUBJECTS[2]}: {h}" for h in HOOKS], level=0.02)
    assert pred.max() / pred.min() < 1.15, pred
    assert scorer.explained_variance < 0.3


def test_segments_and_ad_groups_are_separate_groups(embedder):
    rows = [
        Outcome("a", "Fast shoes", "", "", 1000, 50, "t1"),
        Outcome("a", "Slow shoes", "", "", 1000, 10, "t1"),
        Outcome("b", "Fast shoes", "", "", 1000, 50, "t1"),
        Outcome("b", "Slow shoes", "", "", 1000, 10, "t1"),
        Outcome("b", "Fast shoes", "", "", 500, 20, "t1"),  # a second day: summed
    ]
    scorer = CreativeScorer(embedder).fit(rows)
    assert set(scorer.groups) == {("a", "t1"), ("b", "t1")}
    level, _, clicks, impressions = scorer.groups[("b", "t1")]
    assert (clicks, impressions) == (80, 2500) and np.isclose(level, 80 / 2500)
    with pytest.raises(ValueError, match="no outcomes"):
        CreativeScorer(embedder).fit([Outcome("a", "x", "", "", 0, 0)])
