from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.allocate import make_policy, resolve_policy, sample
from optimizer.allocate.baselines import ThompsonPolicy, UniformPolicy
from optimizer.allocate.priors import BetaPrior
from optimizer.allocate.registry import load_policy_class
from optimizer.records import Context, Creative, Decision, Feedback

ARMS = [Creative.from_text("c", f"h{i}", "", "Shop now") for i in range(4)]


def fb(ctx, arm, reward, eid="e"):
    d = Decision(eid, 0.0, "c", ctx, tuple(a.id for a in ARMS), ARMS[arm].id, 0.25, "t", "v")
    return Feedback(d, reward)


@given(
    st.lists(st.floats(min_value=0.0, max_value=10.0), min_size=1, max_size=30),
    st.integers(0, 2**32 - 1),
)
def test_sample_gives_a_proper_distribution_and_a_positive_probability(weights, seed):
    if sum(weights) == 0:
        with pytest.raises(ValueError):
            sample(weights, np.random.default_rng(seed))
        return
    choice = sample(weights, np.random.default_rng(seed))
    assert 0.0 < choice.probability <= 1.0
    assert sum(choice.distribution) == pytest.approx(1.0)
    assert choice.distribution[choice.index] == choice.probability


def test_uniform():
    choice = UniformPolicy().choose(Context("a"), ARMS, np.random.default_rng(0))
    assert choice.distribution == (0.25,) * 4 and choice.probability == 0.25


@settings(deadline=None, max_examples=30)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=60), st.integers(0, 2**32 - 1)
)
def test_thompson_distribution_is_proper_after_any_history(history, seed):
    policy = ThompsonPolicy(draws=64)
    policy.learn([fb(Context("a"), arm, float(r)) for arm, r in history])
    choice = policy.choose(Context("a"), ARMS, np.random.default_rng(seed))
    assert all(p > 0 for p in choice.distribution)
    assert sum(choice.distribution) == pytest.approx(1.0)


def test_thompson_learns_per_segment_and_resumes(tmp_path):
    policy = ThompsonPolicy()
    batch = [fb(Context("a"), 2, 1.0)] * 30 + [fb(Context("a"), 0, 0.0)] * 30
    batch += [fb(Context("b"), 1, 1.0)] * 30
    rng = np.random.default_rng(0)
    before = policy.distribution(Context("a"), ARMS, rng)
    policy.learn(batch)
    after_a = policy.distribution(Context("a"), ARMS, rng)
    assert after_a != before and int(np.argmax(after_a)) == 2
    assert int(np.argmax(policy.distribution(Context("b"), ARMS, rng))) == 1
    policy.save(tmp_path / "t.json")
    loaded = ThompsonPolicy.load(tmp_path / "t.json")
    assert loaded.counts == policy.counts and loaded.version == policy.version


def test_make_policy_by_name():
    assert make_policy("uniform", seed=0).name == "uniform"
    assert make_policy("thompson", seed=0).name == "thompson"
    assert make_policy("top-two", seed=0).leader == 0.5
    assert make_policy("ucb1", seed=0).version == "ucb1-0"
    assert make_policy("vw", seed=0, exploration="epsilon").version == "vw-epsilon-0"
    with pytest.raises(
        ValueError, match="unknown policy 'ucb'; valid names: thompson, top-two, ucb1, uniform, vw"
    ):
        make_policy("ucb", seed=0)


def test_make_policy_passes_each_policy_its_own_parameters():
    policy = make_policy("thompson", seed=0, params={"sharpness": 4, "gamma_scale": 10})
    assert (policy.sharpness, policy.draws) == (4.0, 256)  # vw's gamma_scale is not its own
    with pytest.raises(ValueError, match=r"leader: must be a number above 0 and at most 1"):
        make_policy("top-two", seed=0, params={"leader": 1.5})
    with pytest.raises(ValueError, match="policy 'ucb1' takes epsilon; remove 'sharpness'"):
        make_policy("ucb1", seed=0, params={"sharpness": 2})
    with pytest.raises(
        ValueError, match="policy 'uniform' takes no prior; use thompson, top-two or auto"
    ):
        make_policy("uniform", seed=0, creative_priors={"x": BetaPrior(1, 9)})


@pytest.mark.parametrize(
    "features,expected", [(False, ("thompson", {"sharpness": 8.0})), (True, ("vw", {}))]
)
def test_auto_is_thompson_without_user_features_and_vw_with_them(features, expected):
    assert resolve_policy("auto", has_context_features=features) == expected
    policy = make_policy("auto", seed=0, has_context_features=features)
    assert policy.name == expected[0]
    assert resolve_policy("uniform", {}, has_context_features=True) == ("uniform", {})


def test_auto_needs_to_know_about_features():
    with pytest.raises(ValueError, match="pass has_context_features"):
        make_policy("auto", seed=0)
    with pytest.raises(ValueError, match="policy 'auto' names no class"):
        load_policy_class("auto")
