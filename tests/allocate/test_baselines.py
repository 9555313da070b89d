from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.allocate import make_policy, sample
from optimizer.allocate.baselines import ThompsonPolicy, UniformPolicy
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
    assert make_policy("vw", seed=0, exploration="epsilon").version == "vw-epsilon-0"
    with pytest.raises(
        ValueError, match="unknown policy 'ucb'; valid names: thompson, uniform, vw"
    ):
        make_policy("ucb", seed=0)
