"""Off-policy evaluation against the simulator's ground truth, over several seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer.evaluate.offline import evaluate_targets
from optimizer.evaluate.targets import StaticTarget, UniformTarget
from optimizer.offline import simulate_logs

SEEDS = range(12)
N = 3_000


def frame(rows):
    return pd.DataFrame([{**r, "chosen": r["action"]} for r in rows])


def true_value(rows, truths, target) -> float:
    events = frame(rows)
    cands = [tuple(r["candidates"]) for r in rows]
    dists = target.distributions(events, cands)
    return float(np.mean([d @ t for d, t in zip(dists, truths, strict=True)]))


def high_rate(cfg):
    """The example audience with a conversion-like reward (25-60% rates).

    DR beats IPS when its reward model explains part of the reward's variance. With 2%
    Bernoulli clicks the noise p(1 - p) dwarfs what any model explains, and DR and IPS err
    alike (measured: 0.0039 vs 0.0035 mean absolute error over 8 seeds of 3,000 events)."""
    from optimizer.config import parse_config

    data = cfg.model_dump()
    for truth in data["simulator"]["segments"].values():
        truth["base_ctr"] = 0.25
        truth["tastes"] = {k: 2 * v for k, v in truth["tastes"].items()}
    return parse_config(data, "high-rate")


@pytest.mark.slow
def test_intervals_cover_the_truth_and_dr_beats_ips(example_cfg, tmp_path):
    # target: a static allocation that favours three creatives; logs: a skewed logger
    from optimizer.generate import seed_creatives

    example_cfg = high_rate(example_cfg)
    ids = [c.id for c in seed_creatives(example_cfg)]
    static = tmp_path / "static.csv"
    static.write_text(
        "action,probability\n"
        + "\n".join(
            f"{a},{p}"
            for a, p in zip(ids, [0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05], strict=False)
        )
    )
    covered = {e: 0 for e in ("ips", "snips", "dr")}
    err = {e: [] for e in ("ips", "dr")}
    for seed in SEEDS:
        rows, truths = simulate_logs(example_cfg, N, seed, epsilon=0.6)
        events = frame(rows)
        for target in (UniformTarget(), StaticTarget(static)):
            truth = true_value(rows, truths, target)
            result = evaluate_targets(
                events,
                [target],
                np.random.default_rng(seed),
                estimators=("ips", "snips", "dr"),
                ci="normal",
            )
            est = result.targets[0].estimates
            for e in covered:
                covered[e] += est[e].low <= truth <= est[e].high
            for e in err:
                err[e].append(abs(est[e].value - truth))
    runs = 2 * len(SEEDS)
    for e, hits in covered.items():
        assert hits / runs >= 0.8, f"{e} covered the truth in {hits}/{runs} runs"
    assert np.mean(err["dr"]) < np.mean(err["ips"])


def test_logging_policy_as_target_recovers_the_observed_mean(example_cfg):
    rows, _ = simulate_logs(example_cfg, 500, seed=3, epsilon=1.0)
    result = evaluate_targets(frame(rows), [UniformTarget()], np.random.default_rng(0), ci="normal")
    (uniform,) = result.targets
    assert uniform.estimates["ips"].value == pytest.approx(result.logged_mean_reward, abs=1e-9)
    assert uniform.diagnostics.max_weight == pytest.approx(1.0)
    assert uniform.diagnostics.effective_sample_size == pytest.approx(500)
