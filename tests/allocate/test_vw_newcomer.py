"""A creative added mid-campaign is judged by what it says (issue 13).

VW sees each creative's text features crossed with the segment and the user's features, so a
new creative that says what a segment likes gets a high prediction at once, before any
impression of its own. Against the simulator's truth: a creative that is the best for its
segment's users, added after 25,000 impressions, earns a large share of that segment's
traffic within the next 5,000 (issue 13 asks for 30% at least).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from optimizer.allocate import Policy
from optimizer.allocate.vw import VWPolicy
from optimizer.config import apply_overrides, load_config
from optimizer.generate import seed_creatives
from optimizer.identity import Clock
from optimizer.loop import Serving, serve
from optimizer.records import Creative
from optimizer.rng import Streams

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "example.yaml"
SEGMENT = "bargain_hunters"
# Price, style and a number, with the segment's favourite call to action.
NEWCOMER = ("30% off bold new colors", "Sale ends Sunday. Style for less.", "Get offer")
# Trails and grip: nothing this segment cares about.
MISFIT = ("Built for mountain trails", "Rugged grip on rock and roots.", "Learn more")


def newcomer_share(
    seed: int,
    before: int = 25_000,
    after: int = 5_000,
    make_policy: Callable[[int], Policy] = lambda seed: VWPolicy(seed=seed),
    newcomer: tuple[str, str, str] = NEWCOMER,
) -> dict[str, float]:
    """Serve the example campaign's seed creatives (with text features) to ``before`` users
    with ``make_policy(seed)`` (VW's defaults), add ``newcomer`` (headline, body, call to
    action) to :data:`SEGMENT`'s pool, serve ``after`` more. Returns the newcomer's share of
    the segment's impressions after it joined, the share of those users for whom it is truly
    the best, its true CTR over the best old creative's, and the segment's impressions."""
    from optimizer.filter.embed import Embedder
    from optimizer.filter.features import with_text_features
    from simulators.audience import AudienceSimulator

    cfg = apply_overrides(load_config(EXAMPLE), seed=seed)
    embedder = Embedder.shared()
    old = with_text_features(seed_creatives(cfg), embedder)
    new = with_text_features(
        [Creative.from_text(cfg.name, *newcomer, segment=SEGMENT, source="test")], embedder
    )[0]
    streams = Streams(seed)
    sim = AudienceSimulator(cfg, streams.fresh("simulator"))
    policy = make_policy(streams.int_seed("policy"))
    segments = [s.name for s in cfg.segments]
    pool = {s: list(old) for s in segments}
    serve(sim, pool, policy, Serving(before, 1, streams, cfg.name, "before", Clock(0.0, 1.0)))
    pool[SEGMENT] = [*old, new]
    seen: list = []
    later = Serving(after, 1, streams.round(1), cfg.name, "after", Clock(before, 1.0))
    tally = serve(sim, pool, policy, later, seen.extend)
    rows = tally.segment_table()[SEGMENT].creatives
    share = next(r.share for r in rows if r.id == new.id)
    truth = np.array([fb.expected for fb in seen if fb.decision.context.segment == SEGMENT])
    return {
        "share": share,
        "best_for": float(np.mean(truth.argmax(1) == len(old))),
        "ctr_ratio": float(truth[:, -1].mean() / truth[:, :-1].mean(0).max()),
        "impressions": len(truth),
    }


@pytest.mark.slow
def test_a_new_best_creative_wins_its_segment_traffic_at_once():
    figures = [newcomer_share(seed) for seed in (7, 8)]
    for f in figures:
        assert f["best_for"] > 0.9 and f["ctr_ratio"] > 1.4, figures  # it is the best
        # issue 13 asks for 0.30; measured 0.88 and 0.84 (its trial alone gives ~0.15)
        assert f["share"] >= 0.45, figures


@pytest.mark.slow
def test_a_new_creative_that_misfits_gets_its_trial_and_little_more():
    f = newcomer_share(7, newcomer=MISFIT)
    assert f["ctr_ratio"] < 0.5, f  # the premise: far below the segment's best
    # the trial: 150 impressions of about 1,000; measured 0.16
    assert 150 / f["impressions"] - 0.01 <= f["share"] <= 0.25, f
