"""Learning from logs through VW's text parser learns the model of the one-by-one path."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.allocate.registry import EXPLORATIONS
from optimizer.allocate.vw import VWPolicy, action_line, shared_line
from optimizer.allocate.vw_logged import (
    PolicySpec,
    example_text,
    id_creatives,
    learn_one_by_one,
    train,
)
from optimizer.errors import OptimizerError
from optimizer.records import Context


def distributions(policy, rows) -> np.ndarray:
    creatives = id_creatives()
    return np.array(
        [
            policy.distribution(
                Context(r["segment"], r["context"]), creatives(tuple(r["candidates"]))
            )
            for r in rows
        ]
    )


@pytest.mark.parametrize("exploration", sorted(EXPLORATIONS))
def test_the_text_path_learns_the_one_by_one_model(logged, tmp_path, exploration):
    train_events, cands, held_out, _ = logged
    events, cands = train_events.iloc[:2_000], cands[:2_000]
    spec = PolicySpec(exploration, {}, seed=3)
    (learned,) = train(spec, events, cands, id_creatives(), [tmp_path / "policy.vw"])
    assert learned == 2_000
    reference = VWPolicy(exploration, {}, seed=3)
    learn_one_by_one(reference, events, cands, id_creatives())

    fast = VWPolicy.load(tmp_path / "policy.vw")
    assert fast.updates == 2_000
    new, old = distributions(fast, held_out[:300]), distributions(reference, held_out[:300])
    np.testing.assert_allclose(new, old, rtol=0, atol=1e-6)
    # the model learned something: it is not the untrained policy's distribution
    untrained = distributions(VWPolicy(exploration, {}, seed=3), held_out[:300])
    assert np.abs(new - untrained).max() > 0.05


def test_an_event_is_the_example_serving_builds_with_its_label(logged):
    train_events, cands, _, _ = logged
    row = train_events.iloc[[3]].copy()
    row["reward"], row["probability"] = 1.0, 0.25
    chosen = cands[3].index(row["chosen"].iloc[0])
    actions = [action_line(c) for c in id_creatives()(cands[3])]
    actions[chosen] = f"0:-1.0:0.25 {actions[chosen]}"
    shared = shared_line(Context(row["segment"].iloc[0], row["context"].iloc[0]))
    assert example_text(row, cands[3:4], id_creatives()) == "\n".join([shared, *actions]) + "\n\n"


def test_a_worker_that_fails_is_a_one_line_error_and_nothing_is_saved(logged, tmp_path):
    train_events, cands, _, _ = logged
    spec = PolicySpec("epsilon", {"epsilon": 7.0}, seed=0)  # the config refuses it; VW too
    with pytest.raises(OptimizerError, match=r"^VW failed learning from logs: .*epsilon must be"):
        train(spec, train_events, cands, id_creatives(), [tmp_path / "policy.vw"])
    assert not (tmp_path / "policy.vw").exists()


def test_progress_counts_every_event(logged, tmp_path):
    train_events, cands, _, _ = logged
    seen: list[int] = []
    spec = PolicySpec("squarecb", {}, seed=0)
    train(spec, train_events, cands, id_creatives(), [tmp_path / "p.vw"], progress=seen.append)
    assert sum(seen) == len(train_events) and len(seen) >= 1
