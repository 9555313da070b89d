"""The lift of the loop on logged data: clicks the served policy earned against what uniform
serving and the best single creative would have earned, estimated off-policy with
:func:`optimizer.evaluate.offline.evaluate_targets` (doubly robust, 95% intervals)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from optimizer.evaluate.offline import evaluate_targets
from optimizer.evaluate.targets import UniformTarget
from optimizer.report.evidence import mean_rate
from optimizer.report.model import LiftLine

ESTIMATOR = "dr"
SERVED = "served policy"
UNIFORM = "uniform over the live creatives"


class RankedTarget:
    """Each segment's best creative by ``ranking`` (best first); where it is not among an
    impression's candidates, the best-ranked one that is. ``uncovered``: impressions none of
    whose candidates is ranked (served uniformly)."""

    name = "best single creative per segment"

    def __init__(self, ranking: Mapping[str, Sequence[str]]) -> None:
        self.rank = {s: {c: i for i, c in enumerate(ids)} for s, ids in ranking.items()}
        self.uncovered = 0

    def distributions(
        self, events: pd.DataFrame, cands: Sequence[tuple[str, ...]]
    ) -> list[np.ndarray]:
        out, shared, self.uncovered = [], {}, 0
        for segment, c in zip(events["segment"].fillna(""), cands, strict=True):
            key = (segment, c)
            dist = shared.get(key)
            if dist is None:
                rank = self.rank.get(segment, {})
                ranked = [rank[a] for a in c if a in rank]
                if ranked:
                    dist = (np.array([rank.get(a, -1) for a in c]) == min(ranked)).astype(float)
                else:
                    dist = np.full(len(c), 1.0 / len(c))
                shared[key] = dist
            self.uncovered += int(dist.max() < 1.0)
            out.append(dist)
        return out


def observed_lift(
    events: pd.DataFrame,
    rank: Callable[[pd.DataFrame], Mapping[str, Sequence[str]]],
    rng: np.random.Generator,
) -> tuple[LiftLine, ...]:
    """Clicks over the ``n`` logged impressions: counted for the policy that served them,
    estimated for uniform serving and for the best single creative per segment.

    The best creative is cross-fitted, so that a creative lucky on these impressions does
    not flatter the baseline: ``rank`` orders each segment's creatives on one half of the
    impressions (alternate ones), the other half estimates the value of serving the
    winner, and the two halves' estimates are averaged (their intervals combined)."""
    n = len(events)
    served = mean_rate(events["reward"].to_numpy(float))
    clicks = float(events["reward"].sum())
    lines = [LiftLine(SERVED, clicks, served.low * n, served.high * n, "counted")]
    uniform = _evaluate(events, UniformTarget(), rng)
    d = uniform.diagnostics
    lines.append(
        _line(
            UNIFORM,
            [uniform],
            n,
            "each impression's candidates shown equally often; effective sample "
            f"{d.effective_sample_size:,.0f} of {n:,}",
        )
    )
    fold = np.arange(n) % 2
    if n >= 4:
        halves = [
            _evaluate(
                events[fold == f].reset_index(drop=True),
                RankedTarget(rank(events[fold != f].reset_index(drop=True))),
                rng,
            )
            for f in (0, 1)
        ]
        ess = sum(h.diagnostics.effective_sample_size for h in halves)
        uncovered = sum(h.diagnostics.uncovered_events or 0 for h in halves)
        why = (
            "chosen on one half of the impressions, estimated on the other (both ways); "
            f"effective sample {ess:,.0f} of {n:,}"
        )
        if uncovered:
            why += f"; {uncovered:,} impressions without a ranked creative"
        lines.append(_line(RankedTarget.name, halves, n, why))
    return tuple(lines)


def _evaluate(events: pd.DataFrame, target, rng: np.random.Generator):
    return evaluate_targets(events, [target], rng, (ESTIMATOR,), None, "normal").targets[0]


def _line(name: str, results: Sequence, n: int, note: str) -> LiftLine:
    """The mean of ``results``' estimates (one per fold) as clicks on ``n`` impressions,
    with the halves' interval half-widths combined as independent (no fewer than 0)."""
    estimates = [r.estimates[ESTIMATOR] for r in results]
    k = len(estimates)
    value = sum(e.value for e in estimates) / k
    half = math.sqrt(sum(((e.high - e.low) / 2) ** 2 for e in estimates)) / k
    return LiftLine(name, value * n, max(value - half, 0.0) * n, (value + half) * n, note)
