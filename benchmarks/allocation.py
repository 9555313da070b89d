"""Allocation benchmarks: VW decision latency, learning throughput, policies compared.

Prints numbers; asserts nothing. Run: ``.venv/bin/python benchmarks/allocation.py``
(``--impressions`` for the policy table, default 50,000 as in the README's demo).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.allocate.vw import VWPolicy  # noqa: E402
from optimizer.config import apply_overrides, load_config  # noqa: E402
from optimizer.loop import run_campaign  # noqa: E402
from optimizer.records import Context, Creative, Decision, Feedback  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "example.yaml"


def latency(n_candidates: int, decisions: int = 3_000) -> None:
    policy = VWPolicy(seed=0)
    rng = np.random.default_rng(0)
    arms = [
        Creative.from_text("b", f"headline {i}", "body", "Shop now") for i in range(n_candidates)
    ]
    ctx = Context("seg", {"age": 31.0, "weekly_km": 20.0, "device": "mobile"})
    choose, learn = [], []
    for i in range(decisions):
        t0 = time.perf_counter()
        choice = policy.choose(ctx, arms, rng, event_id=str(i))
        t1 = time.perf_counter()
        d = Decision(
            str(i),
            0.0,
            "b",
            ctx,
            tuple(a.id for a in arms),
            arms[choice.index].id,
            choice.probability,
            "vw",
            policy.version,
        )
        policy.learn([Feedback(d, float(rng.random() < 0.03))])
        t2 = time.perf_counter()
        choose.append(t1 - t0)
        learn.append(t2 - t1)
    c, lrn = np.array(choose) * 1e6, np.array(learn) * 1e6
    print(
        f"VW squarecb, {n_candidates:>2} candidates: decision p50 {np.percentile(c, 50):7.1f} us,"
        f" p99 {np.percentile(c, 99):7.1f} us; learn p50 {np.percentile(lrn, 50):6.1f} us; "
        f"learning throughput {decisions / (c.sum() + lrn.sum()) * 1e6:,.0f} events/s "
        "(choose + learn)"
    )


def policies(impressions: int, seed: int) -> None:
    cfg = load_config(EXAMPLE)
    print(f"\nExample campaign, {impressions:,} impressions, seed {seed} (same users for all):")
    print(
        f"{'policy':<10} {'clicks':>7} {'CTR':>7} {'true CTR':>9} {'regret':>8} "
        f"{'x uniform':>9} {'wall s':>7}"
    )
    base = None
    for name in ("vw", "thompson", "uniform"):
        t0 = time.perf_counter()
        s = run_campaign(apply_overrides(cfg, policy=name, seed=seed), impressions).to_json()
        wall = time.perf_counter() - t0
        rows = [s["policy"]] if name != "uniform" else [s["uniform"], s["oracle"]]
        base = s["uniform"]["clicks"]
        for r in rows:
            label = r["name"]
            print(
                f"{label:<10} {r['clicks']:>7} {r['ctr']:>7.4f} {r['expected_ctr']:>9.4f} "
                f"{r['regret']:>8.1f} {r['clicks'] / base:>8.2f}x "
                f"{wall if label != 'oracle' else float('nan'):>7.1f}"
            )
    print("(wall s: the whole run_campaign call, which also serves uniform and the oracle)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impressions", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for n in (20, 50):
        latency(n)
    policies(args.impressions, args.seed)


if __name__ == "__main__":
    main()
