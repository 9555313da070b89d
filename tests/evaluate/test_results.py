"""Evaluation results are typed records; their JSON keeps the keys `evaluate --json` has."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from optimizer.evaluate.offline import evaluate_targets
from optimizer.evaluate.results import EvaluationResult
from optimizer.evaluate.targets import StaticTarget, UniformTarget
from optimizer.offline import simulate_logs

LOG = {
    "decisions": 410,
    "rewarded": 9,
    "default_reward": 391,
    "pending": 10,
    "late_rewards": 1,
    "orphan_rewards": 2,
}


@pytest.fixture(scope="module")
def comparison(example_cfg, tmp_path_factory):
    rows, _ = simulate_logs(example_cfg, 400, seed=2, epsilon=1.0)
    events = pd.DataFrame([{**r, "chosen": r["action"]} for r in rows])
    static = tmp_path_factory.mktemp("static") / "static.json"
    static.write_text(json.dumps({rows[0]["candidates"][0]: 1.0}))
    targets = [UniformTarget(), StaticTarget(static)]
    return evaluate_targets(events, targets, np.random.default_rng(0), ("ips", "dr"), clip=5.0)


def test_the_json_is_the_records_serialisation(comparison):
    result = EvaluationResult("stride-spring", 0.25, LOG, comparison)
    data = json.loads(json.dumps(result.as_dict()))
    assert list(data) == [
        "campaign",
        "test_share",
        *LOG,
        "events",
        "logged_mean_reward",
        "clip",
        "interval",
        "targets",
    ]
    assert (data["campaign"], data["events"], data["clip"]) == ("stride-spring", 400, 5.0)
    uniform, static = data["targets"]
    assert list(uniform) == ["target", "estimates", "diagnostics"]
    assert list(uniform["estimates"]) == ["ips", "dr"]
    assert list(uniform["estimates"]["ips"]) == ["estimator", "value", "low", "high", "n"]
    keys = ["n", "effective_sample_size", "ess_share", "mean_weight", "max_weight"]
    keys += ["share_clipped", "unseen_actions"]
    assert list(uniform["diagnostics"]) == keys
    assert list(static["diagnostics"]) == [*keys, "uncovered_events"]


def test_the_record_holds_what_the_json_rounds(comparison):
    uniform = comparison.target("uniform")
    static = comparison.targets[1]
    ips = uniform.estimates["ips"]
    assert ips.value == pytest.approx(comparison.logged_mean_reward, abs=1e-12)
    assert ips.low <= ips.value <= ips.high and ips.n == comparison.events
    # uniform is the logging policy: every weight is 1
    assert uniform.diagnostics.effective_sample_size == pytest.approx(400)
    assert uniform.diagnostics.uncovered_events is None
    # the static target always plays one of the 12 candidates (every list holds it): no event
    # is uncovered, and its weight 12 is clipped at 5 on the events that logged it
    d = static.diagnostics
    assert d.uncovered_events == 0
    assert d.max_weight == pytest.approx(12.0) and 0 < d.share_clipped < 1
    assert static.as_dict()["diagnostics"]["effective_sample_size"] == round(
        d.effective_sample_size, 1
    )
    with pytest.raises(KeyError):
        comparison.target("nope")
