from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.allocate import make_policy
from optimizer.allocate.priors import BetaPrior, GroupPrior
from optimizer.allocate.replay import Arms, replay_batches
from optimizer.allocate.thompson import ThompsonPolicy, argmax_probabilities, top_two
from optimizer.allocate.ucb import UCB1Policy
from optimizer.records import Context, Creative, Decision, Feedback

ARMS = [Creative.from_text("c", f"h{i}", "", "Shop now") for i in range(4)]
PRIOR = GroupPrior(mean=0.03, level_shape=4.0, pseudo_clicks=10.0)


def fb(segment, arm, reward, eid="e"):
    d = Decision(
        eid, 0.0, "c", Context(segment), tuple(a.id for a in ARMS), ARMS[arm].id, 0.25, "t", "v"
    )
    return Feedback(d, reward)


def synthetic_tests(rng, n=40, k=4):
    """Tests drawn from PRIOR's own model: a Gamma level per test, Gamma relative effects."""
    out = []
    for i in range(n):
        level = PRIOR.mean * rng.gamma(PRIOR.level_shape, 1 / PRIOR.level_shape)
        ctr = level * rng.gamma(PRIOR.pseudo_clicks, 1 / PRIOR.pseudo_clicks, k)
        arms = tuple(Creative.from_text("t", f"s{i} h{j}", "", "") for j in range(k))
        out.append(Arms(f"s{i}", arms, ctr))
    return out


def share_of_oracle(policy, tests, per_arm, batch, seed):
    got, best = replay_batches(policy, tests, per_arm, batch, np.random.default_rng([seed, 1]))
    return got.sum() / best.sum()


def test_batched_thompson_beats_uniform_on_every_seed():
    for seed in range(4):
        tests = synthetic_tests(np.random.default_rng(seed))
        ts = share_of_oracle(make_policy("thompson", seed=0), tests, 1500, 200, seed)
        uniform = share_of_oracle(make_policy("uniform", seed=0), tests, 1500, 200, seed)
        assert ts > uniform + 0.03, (seed, ts, uniform)


def test_group_prior_neither_floods_nor_starves_a_creative_entering_at_low_traffic():
    """Three arms have run 1,000 impressions each when a fourth enters. A flat prior makes the
    newcomer look like a 50% CTR and sends it nearly the whole next batch; the group prior
    centres it on the test's level, gives it a fair share, and earns more while traffic is
    low (100 impressions per arm, batches of 50), averaged over seeds."""
    gains, shares = [], {"flat": [], "eb": []}
    for seed in range(8):
        rng = np.random.default_rng(seed)
        tests = synthetic_tests(rng)
        history = [rng.binomial(1000, t.ctr[:3]) for t in tests]
        result = {}
        for name, prior in (("flat", None), ("eb", PRIOR)):
            policy = make_policy("thompson", seed=0, group_prior=prior)
            for t, clicks in zip(tests, history, strict=True):
                policy.learn_totals(
                    t.segment,
                    {c.id: (int(k), 1000) for c, k in zip(t.creatives[:3], clicks, strict=True)},
                )
            rng_p = np.random.default_rng(seed)
            new = [policy.distribution(Context(t.segment), t.creatives, rng_p)[3] for t in tests]
            shares[name].append(np.mean(new))
            result[name] = share_of_oracle(policy, tests, 100, 50, seed)
        gains.append(result["eb"] - result["flat"])
    assert np.mean(shares["flat"]) > 0.8 and np.mean(shares["eb"]) < 0.5, shares
    assert np.mean(gains) > 0.004, gains


def test_a_creative_prior_moves_early_traffic_and_its_weight_shrinks_with_data():
    policy = ThompsonPolicy(group_prior=PRIOR)
    policy.set_prior(ARMS[1].id, BetaPrior.from_ctr(0.06, 2000))  # the text says: twice as good
    rng = np.random.default_rng(0)
    dist = policy.distribution(Context("a"), ARMS, rng)
    assert int(np.argmax(dist)) == 1 and dist[1] > 0.5

    # The data say arm 1 is as good as the others (3%): its posterior mean walks from the
    # prior's 6% towards 3%, and the prior's share of its pseudo-data shrinks.
    means, weights = [], []
    for _ in range(5):
        policy.learn_totals("a", {a.id: (60, 2000) for a in ARMS})
        a, b = policy.posterior("a", ARMS)
        n = policy.counts["a"][ARMS[1].id]
        means.append(a[1] / (a[1] + b[1]))
        weights.append((a[1] + b[1] - sum(n)) / (a[1] + b[1]))
    assert means[0] < 0.06 and all(x > y for x, y in zip(means, means[1:], strict=False))
    assert means[-1] == pytest.approx(0.03, abs=0.004)
    assert all(x > y for x, y in zip(weights, weights[1:], strict=False))
    assert policy.distribution(Context("a"), ARMS, rng)[1] < dist[1]


def test_informative_priors_follow_the_tests_level():
    """A group prior 10x too high keeps its ranking but not its level once clicks arrive."""
    policy = ThompsonPolicy(group_prior=GroupPrior(0.2, level_shape=2.0, pseudo_clicks=10.0))
    policy.learn_totals("a", {ARMS[0].id: (20, 1000), ARMS[1].id: (20, 1000)})
    a, b = policy.posterior("a", ARMS)
    fresh_mean = a[3] / (a[3] + b[3])  # arm 3 has no data: only its re-centred prior
    assert fresh_mean == pytest.approx(0.02, rel=0.25)


def test_set_prior_mid_campaign_changes_the_next_distribution():
    policy = ThompsonPolicy(group_prior=PRIOR)
    policy.learn_totals("a", {a.id: (30, 1000) for a in ARMS[:3]})
    rng = np.random.default_rng(0)
    before = policy.distribution(Context("a"), ARMS, rng)
    policy.set_prior(ARMS[3].id, BetaPrior.from_ctr(0.001, 5000), segment="a")
    after = policy.distribution(Context("a"), ARMS, rng)
    assert after[3] < before[3] / 5
    assert policy.distribution(Context("b"), ARMS, rng)[3] > after[3]  # only in segment a


def test_sharpness_exploits_more_with_the_same_posterior_mean():
    plain, sharp = ThompsonPolicy(draws=4000), ThompsonPolicy(draws=4000, sharpness=8.0)
    for policy in (plain, sharp):
        policy.learn_totals("a", {ARMS[0].id: (12, 400), ARMS[1].id: (8, 400)})
    rng = np.random.default_rng(0)
    p, s = (x.distribution(Context("a"), ARMS[:2], rng)[0] for x in (plain, sharp))
    assert 0.6 < p < s


def test_sharpness_follows_the_segments_impressions_when_sharpen_every_is_set():
    growing = ThompsonPolicy(draws=4000, sharpness=2.0, sharpen_every=1000.0)
    assert growing.sharpness_now("a", ARMS[:2]) == 2.0  # nothing seen yet
    growing.learn_totals("a", {ARMS[0].id: (12, 400), ARMS[1].id: (8, 400)})
    assert growing.sharpness_now("a", ARMS[:2]) == pytest.approx(2.0 * (1 + 800 / 1000))
    assert growing.sharpness_now("b", ARMS[:2]) == 2.0  # evidence counts per segment
    fixed = ThompsonPolicy(draws=4000, sharpness=3.6)  # the same sharpness, held constant
    fixed.learn_totals("a", {ARMS[0].id: (12, 400), ARMS[1].id: (8, 400)})
    rng = np.random.default_rng(0)
    g, f = (x.distribution(Context("a"), ARMS[:2], rng)[0] for x in (growing, fixed))
    assert g == pytest.approx(f, abs=0.03)
    assert make_policy("thompson", seed=0).sharpen_every is None  # off by default (inf)
    with pytest.raises(ValueError, match="sharpen_every must be positive"):
        ThompsonPolicy(sharpen_every=0.0)


def test_top_two_matches_its_sampling_procedure():
    """P(a) = leader * p_a + (1 - leader) * P(a is the challenger), the challenger being a
    resample's argmax given it differs from the leader, checked by simulating it."""
    rng = np.random.default_rng(0)
    alpha, beta = np.array([30.0, 25.0, 20.0]), np.array([970.0, 975.0, 980.0])
    p = argmax_probabilities(alpha, beta, 100_000, rng)
    q = top_two(p, 0.5)
    n = 100_000
    first = rng.beta(alpha, beta, size=(n, 3)).argmax(axis=1)
    picks = first.copy()
    todo = np.flatnonzero(rng.random(n) >= 0.5)  # these play the challenger
    while todo.size:
        again = rng.beta(alpha, beta, size=(todo.size, 3)).argmax(axis=1)
        found = again != first[todo]
        picks[todo[found]] = again[found]
        todo = todo[~found]
    assert np.bincount(picks, minlength=3) / n == pytest.approx(q, abs=0.01)


history = st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=40)


@settings(deadline=None, max_examples=40)
@given(
    st.sampled_from(["thompson", "top-two", "ucb1"]),
    history,
    st.lists(st.floats(0.001, 0.9), min_size=4, max_size=4),
    st.integers(0, 2**32 - 1),
)
def test_logged_probability_is_the_distributions_entry(name, events, prior_ctrs, seed):
    policy = make_policy(name, seed=0, params={"draws": 64} if name != "ucb1" else {})
    if name != "ucb1":
        for arm, ctr in zip(ARMS, prior_ctrs, strict=True):
            policy.set_prior(arm.id, BetaPrior.from_ctr(ctr, 50))
    policy.learn([fb("a", arm, float(r)) for arm, r in events])
    choice = policy.choose(Context("a"), ARMS, np.random.default_rng(seed))
    dist = policy.distribution(Context("a"), ARMS, np.random.default_rng(seed + 1))
    assert choice.distribution == pytest.approx(dist, rel=1e-12)  # cached until an update
    assert choice.probability == choice.distribution[choice.index]
    assert all(0.0 < p <= 1.0 for p in dist)
    assert sum(dist) == pytest.approx(1.0)


def test_ucb1_serves_unplayed_arms_first_and_keeps_every_propensity_positive():
    policy = UCB1Policy(epsilon=0.02)
    policy.learn_totals("a", {ARMS[0].id: (5, 100), ARMS[1].id: (1, 100)})
    dist = policy.distribution(Context("a"), ARMS, None)
    assert dist[2] == dist[3] == pytest.approx(0.49 + 0.005)
    policy.learn_totals("a", {ARMS[2].id: (0, 100), ARMS[3].id: (0, 100)})
    dist = policy.distribution(Context("a"), ARMS, None)
    assert dist[0] == pytest.approx(0.98 + 0.005) and min(dist) == pytest.approx(0.005)


@pytest.mark.parametrize("name", ["thompson", "top-two", "ucb1"])
def test_save_and_load_round_trip(tmp_path, name):
    params = {"sharpness": 2.0, "sharpen_every": 7.0} if name == "thompson" else {}
    policy = make_policy(name, seed=0, params=params, group_prior=PRIOR if name != "ucb1" else None)
    policy.learn([fb("a", 2, 1.0)] * 5 + [fb("a", 0, 0.0)] * 9 + [fb("b", 1, 1.0)])
    if name != "ucb1":
        policy.set_prior(ARMS[3].id, BetaPrior(2.0, 50.0), segment="b")
    policy.save(tmp_path / "p.json")
    loaded = type(policy).load(tmp_path / "p.json")
    assert (loaded.name, loaded.version, loaded.counts) == (name, policy.version, policy.counts)
    for seg in ("a", "b"):
        for x in (policy, loaded):
            x._cache.clear()
        assert loaded.distribution(Context(seg), ARMS, np.random.default_rng(3)) == (
            policy.distribution(Context(seg), ARMS, np.random.default_rng(3))
        )


def test_loads_the_first_thompson_format(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(
        '{"policy": "thompson", "draws": 64, "prior": [1.0, 1.0], "updates": 3,'
        ' "counts": {"a": {"x": [1.0, 2.0]}}}'
    )
    policy = ThompsonPolicy.load(path)
    assert policy.counts == {"a": {"x": [1.0, 2.0]}} and policy.version == "thompson-3"
