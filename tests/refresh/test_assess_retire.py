from __future__ import annotations

import numpy as np

from optimizer.records import Context, Decision, Feedback
from optimizer.refresh.assess import CreativeStats
from optimizer.refresh.retire import choose_retirements


def feedbacks(n, probs, ctrs, seed=0):
    """Uniform-ish logging over creatives a, b, c with known propensities."""
    rng = np.random.default_rng(seed)
    ids = list(probs)
    out = []
    for i in range(n):
        j = int(rng.choice(len(ids), p=list(probs.values())))
        chosen = ids[j]
        d = Decision(f"e{i}", 0.0, "c", Context("s"), tuple(ids), chosen, probs[chosen], "t", "v")
        out.append(Feedback(d, float(rng.random() < ctrs[chosen])))
    return out


def test_ips_assessment_is_unbiased_under_unequal_serving():
    probs = {"a": 0.7, "b": 0.2, "c": 0.1}
    ctrs = {"a": 0.02, "b": 0.08, "c": 0.05}
    covered, errors = 0, []
    for seed in range(10):
        stats = CreativeStats()
        stats.update(feedbacks(10_000, probs, ctrs, seed))
        for cid, p in ctrs.items():
            a = stats.assess("s", cid)
            covered += a.low <= p <= a.high
            errors.append(a.ctr - p)
        assert stats.assess("s", "a").shown > stats.assess("s", "c").shown
    assert covered / 30 >= 0.8  # nominal 95%
    assert abs(np.mean(errors)) < 0.003  # no bias from the unequal serving


def test_retire_confidently_worse_and_keep_the_best():
    probs = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    stats = CreativeStats()
    stats.update(feedbacks(30_000, probs, {"a": 0.01, "b": 0.08, "c": 0.075}))
    rows = {"s": [stats.assess("s", c) for c in probs]}
    out = choose_retirements(rows, {}, {}, min_events=100, keep_at_least=1)
    assert [r.creative_id for r in out] == ["a"]
    assert out[0].reason.split(":")[0] in (
        "confidently worse than b in s",
        "confidently worse than c in s",
    )
    assert choose_retirements(rows, {}, {}, min_events=100, keep_at_least=3) == []
    assert choose_retirements(rows, {}, {}, min_events=10**6) == []


def test_retire_fatigued():
    probs = {"a": 0.5, "b": 0.5}
    before = CreativeStats()
    before.update(feedbacks(20_000, probs, {"a": 0.06, "b": 0.06}, seed=1))
    now = CreativeStats()
    now.update(feedbacks(20_000, probs, {"a": 0.06, "b": 0.01}, seed=2))
    rows = {"s": [before.assess("s", c) for c in probs]}
    recent = {("s", c): now.assess("s", c) for c in probs}
    previous = {("s", c): before.assess("s", c).ctr for c in probs}
    out = choose_retirements(rows, recent, previous, min_events=100, keep_at_least=0)
    assert [(r.creative_id, r.reason.split(":")[0]) for r in out] == [("b", "fatigued in s")]
