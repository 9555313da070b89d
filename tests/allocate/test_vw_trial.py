"""The trial of creatives that join a running segment (optimizer.allocate.newcomers)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.allocate.newcomers import Newcomers
from optimizer.allocate.vw import VWPolicy
from optimizer.records import Context, Creative

OLD = [Creative.from_text("c", f"headline {i}", "body", "Shop now") for i in range(4)]
NEW = Creative.from_text("c", "brand new", "body", "Shop now")


def settle(trial: Newcomers, segment: str = "s", n: int = 10) -> None:
    trial.offered(segment, [c.id for c in OLD])
    for i in range(n):
        trial.learned(segment, OLD[i % len(OLD)].id)


def test_a_late_creative_is_lifted_to_the_floor_and_the_rest_scaled():
    trial = Newcomers(floor=0.3, impressions=2, settled=10)
    settle(trial)
    ids = [c.id for c in [*OLD, NEW]]
    trial.offered("s", ids)
    pmf = [0.7, 0.1, 0.1, 0.05, 0.05]
    out = trial.adjust("s", ids, pmf)
    assert out[-1] == pytest.approx(0.3)
    np.testing.assert_allclose(out[:-1], np.array(pmf[:-1]) * 0.7 / 0.95)
    assert out.sum() == pytest.approx(1.0)
    # already above the floor: unchanged
    assert trial.adjust("s", ids, [0.1, 0.1, 0.1, 0.1, 0.6]).tolist() == [0.1] * 4 + [0.6]
    # the trial ends after `impressions` shown, and is per segment
    trial.learned("s", NEW.id)
    trial.learned("s", NEW.id)
    assert trial.adjust("s", ids, pmf).tolist() == pmf
    assert trial.adjust("t", ids, pmf).tolist() == pmf


def test_the_first_pool_gets_no_trial():
    trial = Newcomers(floor=0.3, impressions=100, settled=10)
    settle(trial, n=0)  # offered before anything was learned
    settle(trial, n=50)
    ids = [c.id for c in OLD]
    assert not trial.on_trial("s", ids).any()
    assert trial.adjust("s", ids, [0.97, 0.01, 0.01, 0.01]).tolist() == [0.97, 0.01, 0.01, 0.01]


def test_the_policy_serves_logs_and_saves_the_lifted_distribution(tmp_path):
    policy = VWPolicy(seed=0, newcomers=Newcomers(floor=0.4, impressions=50, settled=20))
    ctx = Context("s", {"age": 30.0})
    for i in range(40):
        policy.learn_logged(ctx, OLD, i % 4, 0.25, float(i % 4 == 0))
    rng = np.random.default_rng(0)
    choice = policy.choose(ctx, [*OLD, NEW], rng, event_id="e")
    assert choice.distribution[-1] == pytest.approx(0.4)
    assert policy.distribution(ctx, [*OLD, NEW]) == pytest.approx(list(choice.distribution))
    policy.discard_pending()
    policy.save(tmp_path / "p.vw")
    loaded = VWPolicy.load(tmp_path / "p.vw")
    assert loaded.newcomers.to_json() == policy.newcomers.to_json()
    assert loaded.distribution(ctx, [*OLD, NEW])[-1] == pytest.approx(0.4)


def test_floor_is_checked():
    with pytest.raises(ValueError, match="floor must lie in"):
        Newcomers(floor=1.0)
