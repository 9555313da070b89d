from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from optimizer.allocate.registry import EXPLORATIONS, exploration_args
from optimizer.allocate.vw import FeatureScale, VWPolicy, action_line, shared_line
from optimizer.records import Context, Creative, Decision, Feedback

ARMS = [Creative.from_text("c", f"headline {i}", "body", "Shop now") for i in range(5)]


def feedback(policy, ctx, rng, reward_of):
    eid = f"e{policy.updates}-{rng.integers(1 << 30)}"
    choice = policy.choose(ctx, ARMS, rng, event_id=eid)
    chosen = ARMS[choice.index]
    d = Decision(
        event_id=eid,
        timestamp=0.0,
        campaign="c",
        context=ctx,
        candidates=tuple(a.id for a in ARMS),
        chosen=chosen.id,
        probability=choice.probability,
        policy=policy.name,
        policy_version=policy.version,
        distribution=choice.distribution,
    )
    return Feedback(d, reward_of(ctx, choice.index))


@pytest.mark.parametrize("name", sorted(EXPLORATIONS))
def test_each_exploration_returns_a_proper_distribution(name):
    policy = VWPolicy(exploration=name, seed=1)
    rng = np.random.default_rng(0)
    ctx = Context("a", {"age": 30.0, "device": "mobile"})
    for _ in range(50):
        policy.learn([feedback(policy, ctx, rng, lambda c, i: float(i == 2))])
    dist = policy.distribution(ctx, ARMS)
    assert len(dist) == len(ARMS)
    assert all(0.0 <= p <= 1.0 for p in dist)
    assert sum(dist) == pytest.approx(1.0, abs=1e-5)


def test_learns_a_personalised_policy():
    """Segment a likes arm 0, segment b likes arm 3: VW must tell them apart (-q UA)."""
    policy = VWPolicy(exploration="squarecb", seed=3)
    rng = np.random.default_rng(1)
    best = {"a": 0, "b": 3}

    def reward(ctx, i):
        return float(rng.random() < (0.5 if i == best[ctx.segment] else 0.05))

    before = {s: policy.distribution(Context(s), ARMS) for s in best}
    for _ in range(1500):
        ctx = Context("a" if rng.random() < 0.5 else "b")
        policy.learn([feedback(policy, ctx, rng, reward)])
    for segment, arm in best.items():
        after = policy.distribution(Context(segment), ARMS)
        assert after != before[segment]
        assert int(np.argmax(after)) == arm


def test_cost_is_negative_reward_in_the_label():
    policy = VWPolicy(seed=0)
    rng = np.random.default_rng(0)
    ctx = Context("a")
    # clicks on arm 1 only: its cost -1 must make it the favourite, not the least favourite
    for _ in range(300):
        policy.learn([feedback(policy, ctx, rng, lambda c, i: float(i == 1))])
    assert int(np.argmax(policy.distribution(ctx, ARMS))) == 1


def test_save_and_load_resume_identically(tmp_path):
    rng = np.random.default_rng(2)
    policy = VWPolicy(exploration="epsilon", params={"epsilon": 0.1}, seed=5)
    ctx = Context("a", {"device": "mobile"})
    for _ in range(100):
        policy.learn([feedback(policy, ctx, rng, lambda c, i: float(i == 4))])
    policy.save(tmp_path / "p.vw")
    loaded = VWPolicy.load(tmp_path / "p.vw")
    assert loaded.updates == policy.updates and loaded.version == policy.version
    assert loaded.distribution(ctx, ARMS) == pytest.approx(policy.distribution(ctx, ARMS))
    # both keep learning the same way from the same feedback
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    for _ in range(20):
        policy.learn([feedback(policy, ctx, r1, lambda c, i: 1.0)])
        loaded.learn([feedback(loaded, ctx, r2, lambda c, i: 1.0)])
    assert loaded.distribution(ctx, ARMS) == pytest.approx(policy.distribution(ctx, ARMS))


def test_learn_rejects_a_decision_it_did_not_make():
    policy = VWPolicy(seed=0)
    d = Decision("x", 0.0, "c", Context("a"), tuple(a.id for a in ARMS), ARMS[0].id, 0.2, "vw", "v")
    with pytest.raises(KeyError, match="not made by this policy"):
        policy.learn([Feedback(d, 1.0)])


def test_exploration_args_and_errors():
    assert exploration_args("squarecb", {"gamma_scale": 5}) == [
        "--squarecb",
        "--gamma_scale",
        "5.0",
    ]
    assert exploration_args("bag", {}) == ["--bag", "5"]
    with pytest.raises(ValueError, match="valid names: bag, cover, epsilon, softmax, squarecb"):
        exploration_args("ucb", {})
    with pytest.raises(ValueError, match="takes gamma_scale"):
        exploration_args("squarecb", {"x": 1})


def test_shared_line_escapes_vw_syntax():
    line = shared_line(Context("seg a", {"city": "New York|NY", "age": 31}))
    assert line == "shared |S segment=seg_a |U age:31 city=New_York_NY"


def test_action_line_puts_the_id_and_the_text_features_apart():
    plain = Creative.from_text("c", "Run far", "Go", "Shop now")
    assert action_line(plain) == f"|C creative={plain.id}"
    featured = dataclasses.replace(plain, features={"e0": -0.25, "cta_shop now": 1.0})
    assert action_line(featured) == f"|C creative={plain.id} |T cta_shop_now:1 e0:-0.25"


def test_numbers_are_standardised_from_the_first_contexts_learned_then_frozen():
    scale = FeatureScale(warmup=100)
    rng = np.random.default_rng(0)
    ages = rng.normal(40.0, 10.0, size=100)
    for a in ages:
        scale.observe({"age": float(a), "device": "mobile"})
    z = (50.0 - ages.mean()) / ages.std(ddof=1)
    assert shared_line(Context("s", {"age": 50.0}), scale) == f"shared |S segment=s |U age:{z:.4g}"
    scale.observe({"age": 1e6})  # past the warm-up: no effect
    assert scale.z("age", 50.0) == pytest.approx(z)
    assert scale.z("age", 1e6) == 3.0 and scale.z("height", 2.0) == 0.0


def test_the_scale_is_learned_and_saved_with_the_model(tmp_path):
    policy = VWPolicy(seed=0)
    for i in range(50):
        ctx = Context("a", {"age": float(20 + i)})
        policy.learn_logged(ctx, ARMS, i % 5, 0.2, float(i % 5 == 1))
    assert policy.scale.stats["age"][:2] == [50.0, pytest.approx(44.5)]
    policy.save(tmp_path / "p.vw")
    loaded = VWPolicy.load(tmp_path / "p.vw")
    assert loaded.scale.stats == policy.scale.stats
    ctx = Context("a", {"age": 60.0})
    assert loaded.lines(ctx, ARMS) == policy.lines(ctx, ARMS)
    assert loaded.distribution(ctx, ARMS) == pytest.approx(policy.distribution(ctx, ARMS))
