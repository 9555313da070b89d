"""Learning from logs through VW's text parser learns the model of the one-by-one path."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.allocate.registry import EXPLORATIONS
from optimizer.allocate.vw import VWPolicy
from optimizer.allocate.vw_logged import (
    Cluster,
    ExampleWriter,
    PolicySpec,
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
    assert fast.scale.to_json() == reference.scale.to_json()
    assert fast.newcomers.to_json() == reference.newcomers.to_json()
    floors = [p.thompson and p.thompson.to_json() for p in (fast, reference)]
    assert floors[0] == floors[1]
    assert (floors[0] is not None) == (exploration == "squarecb")  # SquareCB's Thompson floor
    new, old = distributions(fast, held_out[:300]), distributions(reference, held_out[:300])
    np.testing.assert_allclose(new, old, rtol=0, atol=1e-6)
    # the model learned something: it is not the untrained policy's distribution
    untrained = distributions(VWPolicy(exploration, {}, seed=3), held_out[:300])
    assert np.abs(new - untrained).max() > 0.05


def test_an_event_is_the_example_the_policy_learns_with_its_label(logged):
    train_events, cands, _, _ = logged
    rows = train_events.iloc[:4].copy()
    rows.loc[3, ["reward", "probability"]] = 1.0, 0.25
    policy, reference = VWPolicy("squarecb", {}, seed=0), VWPolicy("squarecb", {}, seed=0)
    writer = ExampleWriter(policy, id_creatives())
    texts = writer.texts(rows, cands[:4])
    contexts = [Context(rows["segment"][i], rows["context"][i]) for i in range(4)]
    for i in range(3):
        reference.note(contexts[i], cands[i], rows["chosen"][i], float(rows["reward"][i]))
    lines = reference.lines(contexts[3], id_creatives()(cands[3]))
    chosen = cands[3].index(rows["chosen"][3])
    lines[chosen + 1] = f"0:-1.0:0.25 {lines[chosen + 1]}"  # cost = -reward on the chosen
    assert texts[3] == "\n".join(lines) + "\n\n"
    reference.note(contexts[3], cands[3], rows["chosen"][3], 1.0)
    assert writer.state() == {
        "scale": reference.scale.to_json(),
        "newcomers": reference.newcomers.to_json(),
        "thompson": reference.thompson.to_json(),  # the Thompson floor's counts, with rewards
    }
    counts = writer.state()["thompson"]["state"]["counts"]
    assert sum(v[0] for arms in counts.values() for v in arms.values()) == rows["reward"].sum()


def test_settings_vw_refuses_are_a_one_line_error(logged, tmp_path):
    train_events, cands, _, _ = logged
    spec = PolicySpec("epsilon", {"epsilon": 7.0}, seed=0)  # the config refuses it; VW too
    with pytest.raises(OptimizerError, match=r"^VW failed learning from logs: .*epsilon must be"):
        train(spec, train_events, cands, id_creatives(), [tmp_path / "policy.vw"])
    assert list(tmp_path.iterdir()) == []


def test_workers_that_fail_are_a_one_line_error_and_nothing_is_saved(logged, tmp_path):
    train_events, cands, _, _ = logged
    nowhere = Cluster("no-such-host.invalid", 26543, total=2, unique_id=1)
    models = [tmp_path / "node-0.vw", tmp_path / "node-1.vw"]
    spec = PolicySpec("squarecb", {}, seed=0)
    with pytest.raises(
        OptimizerError, match=r"^VW failed learning from logs: gethostbyname\(no-such-host"
    ):
        train(spec, train_events, cands, id_creatives(), models, [0, 1], nowhere)
    assert list(tmp_path.iterdir()) == []


def test_progress_counts_every_event(logged, tmp_path):
    train_events, cands, _, _ = logged
    seen: list[int] = []
    spec = PolicySpec("squarecb", {}, seed=0)
    train(spec, train_events, cands, id_creatives(), [tmp_path / "p.vw"], progress=seen.append)
    assert sum(seen) == len(train_events) and len(seen) >= 1
