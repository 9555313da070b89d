"""Allocation benchmarks: the default VW policy against per-segment Thompson sampling,
uniform and the oracle on the example campaign; a creative added mid-campaign; VW decision
latency and learning throughput; ``--sweep``: the exploration and learning settings.

The pool is the example's seed creatives with their text features (what the filter stage
gives the bandit), so it runs without the LLM. Every policy meets the same users with the
same click draws on one seed. Prints numbers; asserts nothing. Run:
``.venv/bin/python benchmarks/allocation.py`` (``--seeds``, ``--impressions``, ``--sweep``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.allocate import EXPLORATIONS, Policy  # noqa: E402
from optimizer.allocate.baselines import ThompsonPolicy, UniformPolicy  # noqa: E402
from optimizer.allocate.vw import INTERACTIONS, LEARNING, VWPolicy, thompson_floor  # noqa: E402
from optimizer.config import CampaignConfig, apply_overrides, load_config  # noqa: E402
from optimizer.identity import Clock  # noqa: E402
from optimizer.loop import Serving, serve  # noqa: E402
from optimizer.records import Context, Creative, Decision, Feedback  # noqa: E402
from optimizer.rng import Streams  # noqa: E402
from simulators.audience import AudienceSimulator  # noqa: E402
from simulators.oracle import OraclePolicy  # noqa: E402

EXAMPLE = ROOT / "configs" / "example.yaml"
LAST = 10_000
MakePolicy = Callable[[int, AudienceSimulator], Policy]  # (VW seed, simulator) -> policy


@dataclass(frozen=True)
class Served:
    """One policy's run: per impression, the reward, the true CTR of the chosen creative,
    the segment, and the true CTR of every candidate (shape ``(n, k)``)."""

    reward: np.ndarray
    chosen: np.ndarray
    segment: np.ndarray
    truth: np.ndarray

    @property
    def clicks(self) -> int:
        return int(self.reward.sum())


def example_pool(cfg: CampaignConfig) -> list[Creative]:
    from optimizer.filter.embed import Embedder
    from optimizer.filter.features import with_text_features
    from optimizer.generate import seed_creatives

    return with_text_features(seed_creatives(cfg), Embedder.shared())


def play(cfg: CampaignConfig, pool: Sequence[Creative], make: MakePolicy, n: int) -> Served:
    streams = Streams(cfg.seed)
    sim = AudienceSimulator(cfg, streams.fresh("simulator"))
    policy = make(streams.int_seed("policy"), sim)
    seen: list[Feedback] = []
    serving = Serving(n, cfg.allocation.batch_size, streams, cfg.name, "bench", Clock(0.0, 1.0))
    serve(sim, {s.name: list(pool) for s in cfg.segments}, policy, serving, seen.extend)
    truth = np.array([fb.expected for fb in seen])
    index = [fb.decision.candidates.index(fb.decision.chosen) for fb in seen]
    return Served(
        reward=np.array([fb.reward for fb in seen]),
        chosen=truth[np.arange(len(seen)), index],
        segment=np.array([fb.decision.context.segment for fb in seen]),
        truth=truth,
    )


def segment_best(run: Served, window: slice) -> float:
    """Mean true CTR of showing each segment's best fixed creative (best on these very
    users, from the simulator's truth) to the impressions in ``window``."""
    truth, segment = run.truth[window], run.segment[window]
    total = sum(truth[segment == s].sum(0).max() for s in np.unique(segment))
    return float(total / len(truth))


POLICIES: dict[str, MakePolicy] = {
    "vw": lambda seed, sim: VWPolicy(seed=seed),
    "thompson": lambda seed, sim: ThompsonPolicy(),
    "uniform": lambda seed, sim: UniformPolicy(),
    "oracle": lambda seed, sim: OraclePolicy(sim),
}


def compare(seed: int, n: int) -> dict[str, float]:
    cfg = apply_overrides(load_config(EXAMPLE), seed=seed)
    pool = example_pool(cfg)
    runs = {name: play(cfg, pool, make, n) for name, make in POLICIES.items()}
    last = slice(n - LAST, n)
    ceiling = segment_best(runs["uniform"], slice(0, n)), segment_best(runs["uniform"], last)
    ts = runs["thompson"].clicks
    print(f"\nseed {seed}: {n:,} impressions, {len(pool)} creatives in every segment")
    print(f"{'':<22} {'clicks':>7} {'x TS':>6} {'true CTR':>9} {f'last {LAST:,}':>11}")
    for name, run in runs.items():
        print(
            f"{name:<22} {run.clicks:>7} {run.clicks / ts:>6.3f} {run.chosen.mean():>9.4f} "
            f"{run.chosen[last].mean():>11.4f}"
        )
    print(f"{'segment-best ceiling':<22} {'':>7} {'':>6} {ceiling[0]:>9.4f} {ceiling[1]:>11.4f}")
    vw = runs["vw"]
    return {
        "vw_x_ts": vw.clicks / ts,
        "vw_last_x_ceiling": float(vw.chosen[last].mean() / ceiling[1]),
    }


def newcomer(seeds: Sequence[int]) -> None:
    from tests.allocate.test_vw_newcomer import NEWCOMER, SEGMENT, newcomer_share

    print(
        f"\nA new creative for {SEGMENT} ({NEWCOMER[0]!r}) joins after 25,000 impressions: its "
        "share of the segment's next 5,000 (issue 13 asks >= 0.30)"
    )
    for seed in seeds:
        f = newcomer_share(seed)
        print(
            f"  seed {seed}: share {f['share']:.3f} (it is the best for {f['best_for']:.0%} of "
            f"those users, {f['ctr_ratio']:.2f}x the best old creative's CTR)"
        )


# The same features laid out as before issue 13 (-q UA: user and segment crossed with the
# creative's id and text features, linear terms kept), VW's default SGD, gamma_scale 10.
BEFORE = {"interactions": ("SC", "ST", "UC", "UT"), "learning": (), "params": {"gamma_scale": 10}}


def latency(n_candidates: int, decisions: int = 3_000) -> None:
    """Decision and learning time, the defaults and :data:`BEFORE` interleaved (so both
    meet the same machine load), with text features like the filter stage's."""
    policies = {"default": VWPolicy(seed=0), "before": VWPolicy(seed=0, **BEFORE)}
    rng = np.random.default_rng(0)
    arms = [
        Creative.from_text("b", f"headline {i}", "body", "Shop now", features=_fake_features(rng))
        for i in range(n_candidates)
    ]
    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in policies}
    for i in range(decisions):
        ctx = Context("seg", {"age": 20 + 40 * rng.random(), "weekly_km": 60 * rng.random(),
                              "device": "mobile" if rng.random() < 0.7 else "desktop"})  # fmt: skip
        reward = float(rng.random() < 0.03)
        for name, policy in policies.items():
            t0 = time.perf_counter()
            choice = policy.choose(ctx, arms, rng, event_id=str(i))
            t1 = time.perf_counter()
            d = Decision(
                str(i), 0.0, "b", ctx, tuple(a.id for a in arms), arms[choice.index].id,
                choice.probability, "vw", policy.version,
            )  # fmt: skip
            policy.learn([Feedback(d, reward)])
            times[name][0].append(t1 - t0)
            times[name][1].append(time.perf_counter() - t1)
    for name, (choose, learn) in times.items():
        c, lrn = np.array(choose) * 1e6, np.array(learn) * 1e6
        print(
            f"VW {name:<7} {n_candidates:>2} candidates: decision p50 {np.percentile(c, 50):6.1f} "
            f"us, p99 {np.percentile(c, 99):7.1f} us; learn p50 {np.percentile(lrn, 50):6.1f} us; "
            f"{decisions / (c.sum() + lrn.sum()) * 1e6:,.0f} decisions+learns/s"
        )


_REGCB = ["--regcbopt", "--cb_min_cost", "-1", "--cb_max_cost", "0"]
_BAG = {"exploration": "bag", "params": {"size": 5}}
_SGD = ("--clip_p", "1", "--ignore_linear", "CT")
# Logistic loss on the two costs (-1 a click, 0 none): VW then ranks by the logit, so
# SquareCB's gaps are in log-odds and gamma_scale is on another scale (4 measured best of
# 0.3, 1.2, 4, 12). VW does not store the loss in the model file: a saved policy would go on
# learning with squared loss after loading.
_LOGIT = ("--loss_function", "logistic", "--logistic_min", "-1", "--logistic_max", "0")
# One change at a time from the defaults (label, VWPolicy keyword arguments). RegCB is not a
# registry exploration: it runs as epsilon 0 with --regcbopt, which VW then uses instead.
# SquareCB's --elim is left out: VW 9.11 returned scores, not a distribution, with it.
SWEEP: list[tuple[str, dict]] = [
    ("default", {}),
    ("Thompson floor 0.3, sharpness 4", {"floor": {}}),
    ("Thompson floor 0.3, sharpness 1", {"floor": {"sharpness": 1.0}}),
    ("Thompson floor 0.15, sharpness 1", {"floor": {"share": 0.15, "sharpness": 1.0}}),
    ("Thompson floor 0.5, sharpness 1", {"floor": {"share": 0.5, "sharpness": 1.0}}),
    ("Thompson floor 0.3, sharpness 8", {"floor": {"sharpness": 8.0}}),
    ("bag 5, greedify", {**_BAG, "extra_args": ["--greedify"]}),
    ("cover 4, psi 0.1", {"exploration": "cover", "params": {"size": 4},
                          "extra_args": ["--psi", "0.1"]}),
    ("squarecb gamma_scale 15", {"params": {"gamma_scale": 15.0}}),
    ("squarecb gamma_scale 60, exponent 0.4", {"params": {"gamma_scale": 60.0},
                                               "extra_args": ["--gamma_exponent", "0.4"]}),
    ("squarecb gamma_scale 100", {"params": {"gamma_scale": 100.0}}),
    ("regcb-opt", {"exploration": "epsilon", "params": {"epsilon": 0.0}, "extra_args": _REGCB}),
    ("bag 5", _BAG),
    ("bag 5, cb_type dr", {**_BAG, "extra_args": ["--cb_type", "dr"]}),
    ("cover 4", {"exploration": "cover", "params": {"size": 4}}),
    ("epsilon 0.05", {"exploration": "epsilon", "params": {"epsilon": 0.05}}),
    ("learner: VW default SGD", {"learning": _SGD}),
    ("learner: adaptive normalized, l 0.05", {"learning": ("--adaptive", "--normalized", "-l",
                                                         "0.05", *_SGD)}),
    ("importance weights (no clip_p)", {"learning": ("--coin", "--ignore_linear", "CT")}),
    ("logistic loss, gamma_scale 4", {"learning": (*LEARNING, *_LOGIT),
                                      "params": {"gamma_scale": 4.0}}),
    ("interactions SC ST UT (before SU, UC)", {"interactions": ("SC", "ST", "UT")}),
    ("interactions SC ST UT SU (no UC)", {"interactions": ("SC", "ST", "UT", "SU")}),
    ("interactions SC ST UT UC (no SU)", {"interactions": ("SC", "ST", "UT", "UC")}),
    ("interactions + SUT (cubic)", {"interactions": (*INTERACTIONS, "SUT")}),
    ("interactions SC UC (ids only)", {"interactions": ("SC", "UC")}),
    ("interactions ST UT (text only)", {"interactions": ("ST", "UT")}),
]  # fmt: skip


def sweep(seeds: Sequence[int], n: int) -> None:
    """Each setting of :data:`SWEEP` on each seed: clicks over Thompson sampling's and the
    last 10,000 impressions' true CTR over the segment-best ceiling."""
    base = {}
    for seed in seeds:
        cfg = apply_overrides(load_config(EXAMPLE), seed=seed)
        pool = example_pool(cfg)
        ts, uniform = (play(cfg, pool, POLICIES[k], n) for k in ("thompson", "uniform"))
        base[seed] = (cfg, pool, ts.clicks, segment_best(uniform, slice(n - LAST, n)))
    print(f"{n:,} impressions; per seed: clicks (x Thompson's) last-{LAST:,} / segment-best")
    print("thompson: " + ", ".join(f"seed {s}: {b[2]}" for s, b in base.items()))
    for label, kwargs in SWEEP:
        t0 = time.perf_counter()
        cells, xs, lasts = [], [], []
        make = _vw_with(kwargs)
        for cfg, pool, ts, ceiling in base.values():
            run = play(cfg, pool, make, n)
            xs.append(run.clicks / ts)
            lasts.append(run.chosen[n - LAST :].mean() / ceiling)
            cells.append(f"{run.clicks:>5} ({xs[-1]:.3f}) {lasts[-1]:.3f}")
        print(
            f"{label:<38} " + " | ".join(cells) + f" | mean {np.mean(xs):.3f} {np.mean(lasts):.3f}"
            f"  [{time.perf_counter() - t0:.0f}s]",
            flush=True,
        )


def _vw_with(kwargs: dict) -> MakePolicy:
    """A maker of the policy; ``floor`` names the Thompson floor's settings (a fresh floor
    per run, on the policy's own stream)."""
    kwargs = dict(kwargs)
    floor = kwargs.pop("floor", None)
    if floor is None:
        return lambda seed, sim: VWPolicy(seed=seed, **kwargs)
    return lambda seed, sim: VWPolicy(seed=seed, thompson=thompson_floor(seed, **floor), **kwargs)


def _fake_features(rng: np.random.Generator) -> dict[str, float]:
    feats = {f"e{k}": float(rng.normal(0, 0.35)) for k in range(8)}
    return feats | {"len": float(rng.uniform(0.4, 1.2)), "num": float(rng.random() < 0.3),
                    "cta_shop_now": 1.0}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impressions", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--sweep", action="store_true", help="the settings table instead")
    parser.add_argument("--latency-only", action="store_true", help="latency, nothing else")
    args = parser.parse_args()
    if args.sweep:
        sweep(args.seeds, args.impressions)
        return
    print(f"VW defaults: interactions {' '.join(INTERACTIONS)}; {' '.join(LEARNING)}; "
          f"squarecb gamma_scale {EXPLORATIONS['squarecb'][1]['gamma_scale'][1]:g}")  # fmt: skip
    for n in (20, 50):
        latency(n)
    if args.latency_only:
        return
    ratios = [compare(seed, args.impressions) for seed in args.seeds]
    print(
        "\nVW / Thompson clicks: "
        + ", ".join(f"{r['vw_x_ts']:.3f}" for r in ratios)
        + f" (issue 13 asks >= 1.08); VW's last {LAST:,} / segment-best ceiling: "
        + ", ".join(f"{r['vw_last_x_ceiling']:.3f}" for r in ratios)
        + " (>= 1)"
    )
    newcomer(args.seeds)


if __name__ == "__main__":
    main()
