"""Assess: each creative's click-through rate per segment, corrected for how the bandit
served it.

The bandit shows creatives unequally and in response to users, so a creative's raw CTR is
biased. For creative ``c`` in segment ``s`` we estimate the value of the policy "always
show ``c``" from every logged event of ``s`` in which ``c`` was a candidate, with inverse
propensity weighting: ``x_i = 1[a_i = c] r_i / p_i``, estimate ``mean(x)`` and a normal 95%
interval ``mean +- 1.96 sd(x) / sqrt(n)``, whose variance counts one extra click so that a
creative without clicks yet is not judged on a zero-width interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from optimizer.records import Feedback
from optimizer.stats import Z95


@dataclass(frozen=True)
class Assessment:
    segment: str
    creative_id: str
    ctr: float
    low: float
    high: float
    events: int  # events of the segment in which it was a candidate
    shown: int


class CreativeStats:
    """Running sums per (segment, creative): events as a candidate, times shown, sum x,
    sum x^2, clicks (JSON-serialisable)."""

    def __init__(self, data: dict[str, list[float]] | None = None) -> None:
        self.data: dict[str, list[float]] = data or {}

    @staticmethod
    def key(segment: str, creative_id: str) -> str:
        return f"{segment}\x1f{creative_id}"

    def update(self, feedbacks: Iterable[Feedback]) -> None:
        for fb in feedbacks:
            d = fb.decision
            seg = d.context.segment
            for cid in d.candidates:
                row = self.data.setdefault(self.key(seg, cid), [0.0, 0.0, 0.0, 0.0, 0.0])
                row[0] += 1
                if cid == d.chosen:
                    x = fb.reward / d.probability
                    row[1] += 1
                    row[2] += x
                    row[3] += x * x
                    row[4] += fb.reward

    def assess(self, segment: str, creative_id: str) -> Assessment:
        n, shown, s1, s2, _ = self.data.get(self.key(segment, creative_id), [0.0] * 5)
        if n == 0:
            return Assessment(segment, creative_id, 0.0, 0.0, 1.0, 0, 0)
        mean = s1 / n
        # Variance as if one more click had come at the creative's average propensity
        # (shown / n): with few or no clicks the plain sample variance is 0 and the interval
        # a degenerate [0, 0], which would retire a creative shown a handful of times.
        # The plus-one click gives an upper bound of about 2 / shown in that case.
        x0 = n / max(shown, 1.0)
        m1, m2 = (s1 + x0) / (n + 1), (s2 + x0 * x0) / (n + 1)
        var = max(s2 / n - mean * mean, m2 - m1 * m1, 0.0)
        half = Z95 * math.sqrt(var / n)
        return Assessment(
            segment, creative_id, mean, max(mean - half, 0.0), mean + half, int(n), int(shown)
        )


@dataclass(frozen=True)
class RoundAssessment:
    """A round's evidence per segment: ``overall`` over all rounds so far (per segment, in
    pool order), ``recent`` from this round alone and ``previous`` from the rounds before,
    both keyed by (segment, creative id)."""

    overall: dict[str, list[Assessment]]
    recent: dict[tuple[str, str], Assessment]
    previous: dict[tuple[str, str], Assessment]


def assess_round(
    stats: CreativeStats, pool: Mapping[str, Sequence[str]], served: Sequence[Feedback]
) -> RoundAssessment:
    """Assess every active creative; adds this round's ``served`` events to ``stats``."""
    previous = {(s, c): stats.assess(s, c) for s, ids in pool.items() for c in ids}
    stats.update(served)
    this_round = CreativeStats()
    this_round.update(served)
    overall = {s: [stats.assess(s, c) for c in ids] for s, ids in pool.items()}
    recent = {(s, c): this_round.assess(s, c) for s, ids in pool.items() for c in ids}
    return RoundAssessment(overall, recent, previous)
