from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.evaluate.estimators import (
    Inputs,
    analytic_interval,
    diagnostics,
    estimate,
    point,
    pseudo_outcomes,
)

# three events, hand-computed below
HAND = Inputs(
    reward=np.array([1.0, 0.0, 1.0]),
    logged_p=np.array([0.5, 0.25, 0.2]),
    target_p=np.array([0.25, 0.5, 0.4]),
    dm=np.array([0.3, 0.2, 0.5]),
    q_logged=np.array([0.4, 0.1, 0.6]),
)
# w = [0.5, 2, 2]


def test_hand_computed_values():
    assert point("ips", HAND) == pytest.approx((0.5 + 0 + 2) / 3)
    assert point("snips", HAND) == pytest.approx(2.5 / 4.5)
    assert point("dm", HAND) == pytest.approx(1.0 / 3)
    dr = ((0.3 + 0.5 * (1 - 0.4)) + (0.2 + 2 * (0 - 0.1)) + (0.5 + 2 * (1 - 0.6))) / 3
    assert point("dr", HAND) == pytest.approx(dr)
    assert point("ips", HAND, clip=1.0) == pytest.approx((0.5 + 0 + 1) / 3)
    d = diagnostics(HAND, clip=1.0)
    assert d.effective_sample_size == pytest.approx(2.5**2 / 2.25)
    assert d.max_weight == 2.0 and d.share_clipped == pytest.approx(2 / 3)


def test_normal_interval_by_hand():
    low, high = analytic_interval("ips", HAND)
    terms = np.array([0.5, 0.0, 2.0])
    half = 1.959963984540054 * terms.std(ddof=1) / np.sqrt(3)
    assert (low, high) == pytest.approx((terms.mean() - half, terms.mean() + half))


def test_bootstrap_is_reproducible_and_needs_a_generator():
    a = estimate("dr", HAND, ci="bootstrap", rng=np.random.default_rng(1))
    b = estimate("dr", HAND, ci="bootstrap", rng=np.random.default_rng(1))
    assert a == b and a.low <= a.value <= a.high
    with pytest.raises(ValueError, match="needs the run's generator"):
        estimate("dr", HAND, ci="bootstrap")
    with pytest.raises(ValueError, match="unknown estimator 'xx'"):
        point("xx", HAND)


def test_inputs_validate_themselves():
    with pytest.raises(ValueError, match="logged probabilities must be in"):
        Inputs(np.ones(2), np.array([0.0, 1.0]), np.ones(2), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="target_p has 1 entries"):
        Inputs(np.ones(2), np.ones(2), np.ones(1), np.ones(2), np.ones(2))


probs = st.floats(min_value=0.01, max_value=1.0)
events = st.lists(st.tuples(probs, probs, st.sampled_from([0.0, 1.0])), min_size=2, max_size=60)


def make(rows, same_policy=False):
    logged = np.array([r[0] for r in rows])
    target = logged.copy() if same_policy else np.array([r[1] for r in rows])
    reward = np.array([r[2] for r in rows])
    return Inputs(reward, logged, target, np.zeros(len(rows)), np.zeros(len(rows)))


@given(events)
def test_ips_of_the_logging_policy_is_the_observed_mean(rows):
    inputs = make(rows, same_policy=True)
    assert point("ips", inputs) == pytest.approx(inputs.reward.mean())
    assert point("snips", inputs) == pytest.approx(inputs.reward.mean())


@given(events, st.floats(min_value=0.05, max_value=20.0))
def test_snips_is_invariant_to_scaling_the_probabilities(rows, c):
    inputs = make(rows)
    scaled = Inputs(inputs.reward, inputs.logged_p, inputs.target_p * c, inputs.dm, inputs.q_logged)
    assert point("snips", scaled) == pytest.approx(point("snips", inputs), rel=1e-9, abs=1e-12)


@settings(max_examples=200)
@given(events, st.floats(min_value=0.1, max_value=50.0))
def test_clipping_never_increases_the_variance_estimate(rows, clip):
    inputs = make(rows)
    assert pseudo_outcomes("ips", inputs, clip).var(ddof=1) <= (
        pseudo_outcomes("ips", inputs).var(ddof=1) + 1e-12
    )
    lo_c, hi_c = analytic_interval("ips", inputs, clip)
    lo, hi = analytic_interval("ips", inputs)
    assert hi_c - lo_c <= hi - lo + 1e-9
