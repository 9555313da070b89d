"""Retire: creatives confidently worse than their segment's best, or fatigued."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from optimizer.refresh.assess import Assessment


@dataclass(frozen=True)
class Retirement:
    segment: str
    creative_id: str
    reason: str


def choose_retirements(
    assessments: Mapping[str, Sequence[Assessment]],
    recent: Mapping[tuple[str, str], Assessment],
    previous: Mapping[tuple[str, str], Assessment],
    min_events: int = 300,
    fatigue_drop: float = 0.5,
    keep_at_least: int = 2,
    capacity: int | None = None,
) -> list[Retirement]:
    """Per segment: retire a creative whose interval (``assessments``, all rounds) lies
    wholly below the best creative's lower bound, or whose CTR this round (``recent``) fell
    below ``fatigue_drop`` of its estimate before this round (``previous``) with the
    round's upper bound below that estimate's lower bound. Only creatives with ``min_events``
    events are judged; the ``keep_at_least`` best always stay. Then, while a segment holds
    more than ``capacity`` creatives, the mature one with the lowest upper bound retires if
    that bound lies below the best's estimate (a creative the bandit has hardly shown keeps
    a wide interval, and so its place, until the evidence is in)."""
    out: list[Retirement] = []
    for segment, rows in assessments.items():
        ranked = sorted(rows, key=lambda a: -a.ctr)
        protected = {a.creative_id for a in ranked[:keep_at_least]}
        mature = [a for a in ranked if a.events >= min_events]
        if not mature:
            continue
        best = max(mature, key=lambda a: a.low)
        judged = [
            r
            for a in mature
            if a.creative_id not in protected
            for r in [_judge(segment, a, best, recent, previous, min_events, fatigue_drop)]
            if r is not None
        ]
        out += judged
        if capacity is not None:
            gone = protected | {r.creative_id for r in judged}
            out += _over_capacity(segment, mature, best, gone, len(rows) - len(judged), capacity)
    return out


def _judge(
    segment: str,
    a: Assessment,
    best: Assessment,
    recent: Mapping[tuple[str, str], Assessment],
    previous: Mapping[tuple[str, str], Assessment],
    min_events: int,
    fatigue_drop: float,
) -> Retirement | None:
    """Retire ``a`` when confidently worse than ``best`` or fatigued; else None."""
    if a.high < best.low:
        return Retirement(
            segment,
            a.creative_id,
            f"confidently worse than {best.creative_id} in {segment}: "
            f"CTR {a.ctr:.4f} [{a.low:.4f}, {a.high:.4f}] below "
            f"{best.ctr:.4f} [{best.low:.4f}, {best.high:.4f}]",
        )
    before = previous.get((segment, a.creative_id))
    now = recent.get((segment, a.creative_id))
    if (
        before
        and now
        and now.events >= min_events
        and (now.ctr < fatigue_drop * before.ctr and now.high < before.low)
    ):
        return Retirement(
            segment,
            a.creative_id,
            f"fatigued in {segment}: CTR {now.ctr:.4f} [{now.low:.4f}, "
            f"{now.high:.4f}] this round, {before.ctr:.4f} [{before.low:.4f}, "
            f"{before.high:.4f}] before",
        )
    return None


def _over_capacity(
    segment: str,
    mature: Sequence[Assessment],
    best: Assessment,
    skip: set[str],
    left: int,
    capacity: int,
) -> list[Retirement]:
    """While ``left`` creatives exceed ``capacity``: the mature one with the lowest upper
    bound, if that bound lies below the best's estimate (``skip``: protected or retired)."""
    out = []
    for a in sorted(mature, key=lambda a: a.high):
        if left <= capacity or a.high >= best.ctr:
            break
        if a.creative_id in skip:
            continue
        out.append(
            Retirement(
                segment,
                a.creative_id,
                f"over the pool size {capacity} in {segment}: CTR {a.ctr:.4f} "
                f"[{a.low:.4f}, {a.high:.4f}], upper bound below the best's "
                f"{best.ctr:.4f} ({best.creative_id})",
            )
        )
        left -= 1
    return out
