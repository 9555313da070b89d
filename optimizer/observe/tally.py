"""Running totals of what a policy earned, with the simulator's ground truth beside them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from optimizer.records import Creative, Feedback
from optimizer.summaries import CreativeLine, SegmentSummary, Totals


@dataclass
class CreativeTally:
    headline: str
    shown: int = 0
    clicks: float = 0.0
    true_sum: float = 0.0  # sum over the segment's impressions of this creative's p(click)
    offered: int = 0  # impressions where it was a candidate


@dataclass
class SegmentTally:
    impressions: int = 0
    clicks: float = 0.0
    creatives: dict[str, CreativeTally] = field(default_factory=dict)


@dataclass
class Tally:
    """Totals of one policy's run. ``regret`` is the expected (pseudo-)regret:
    sum over impressions of max_a p(x, a) - p(x, chosen)."""

    impressions: int = 0
    clicks: float = 0.0
    expected: float = 0.0
    oracle_expected: float = 0.0
    uniform_expected: float = 0.0
    segments: dict[str, SegmentTally] = field(default_factory=dict)

    def add(self, fb: Feedback, candidates: Sequence[Creative]) -> None:
        d = fb.decision
        seg = self.segments.setdefault(d.context.segment, SegmentTally())
        self.impressions += 1
        self.clicks += fb.reward
        seg.impressions += 1
        seg.clicks += fb.reward
        for i, c in enumerate(candidates):
            ct = seg.creatives.get(c.id)
            if ct is None:
                ct = seg.creatives[c.id] = CreativeTally(headline=c.headline)
            ct.offered += 1
            if fb.expected is not None:
                ct.true_sum += fb.expected[i]
            if c.id == d.chosen:
                ct.shown += 1
                ct.clicks += fb.reward
        if fb.expected is not None:
            self.expected += fb.expected[d.candidates.index(d.chosen)]
            self.oracle_expected += max(fb.expected)
            self.uniform_expected += sum(fb.expected) / len(fb.expected)

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def regret(self) -> float:
        return self.oracle_expected - self.expected

    def totals(self, name: str) -> Totals:
        n = max(self.impressions, 1)
        return Totals(
            name=name,
            impressions=self.impressions,
            clicks=int(self.clicks),
            ctr=round(self.ctr, 6),
            expected_ctr=round(self.expected / n, 6),
            regret=round(self.regret, 3),
        )

    def segment_table(self) -> dict[str, SegmentSummary]:
        """Per segment (sorted by name): its creatives, best true CTR first."""
        return {name: _segment(seg) for name, seg in sorted(self.segments.items())}


def _segment(seg: SegmentTally) -> SegmentSummary:
    rows = [
        CreativeLine(
            id=cid,
            headline=ct.headline,
            impressions=ct.shown,
            share=round(ct.shown / seg.impressions, 4) if seg.impressions else 0.0,
            clicks=int(ct.clicks),
            observed_ctr=round(ct.clicks / ct.shown, 5) if ct.shown else None,
            true_ctr=round(ct.true_sum / ct.offered, 5) if ct.offered else None,
        )
        for cid, ct in seg.creatives.items()
    ]
    rows.sort(key=lambda r: -(r.true_ctr or 0.0))
    return SegmentSummary(
        impressions=seg.impressions,
        clicks=int(seg.clicks),
        ctr=round(seg.clicks / seg.impressions, 5) if seg.impressions else 0.0,
        best_creative=rows[0].id if rows else None,
        creatives=tuple(rows),
    )
