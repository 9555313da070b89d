"""The report's observed sections, the same for a simulated and a logged campaign: each
segment's creatives with labels and allocation, CTR by source, and the off-policy lift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pandas as pd

from optimizer.records import Creative
from optimizer.refresh.assess import Assessment
from optimizer.report import evidence as ev
from optimizer.report.history import Lookup
from optimizer.report.lift import observed_lift
from optimizer.report.model import Allocation, CreativeLine, Lift, SegmentView, SourceLine
from optimizer.report.words import generator_name, label, leader, legend_names, source_words
from optimizer.rng import Streams


def segment_views(
    events: pd.DataFrame,
    look: Lookup,
    pool: Mapping[str, Sequence[str]],
    order: Sequence[str],
    min_events: int,
    rounds: bool,
) -> tuple[tuple[SegmentView, ...], str]:
    """Each segment of ``order`` with the creatives of ``pool`` (labelled, best first) and
    its allocation over periods; and what a period is."""
    period, index = ev.periods(events, rounds)
    allocations = ev.allocations(events, period, index)
    impressions = ev.segment_impressions(events)
    views = []
    for segment in [s for s in order if s in pool]:
        alloc = allocations.get(segment, Allocation(period, (), {}))
        alloc = replace(alloc, names=legend_names([look.text(c) for c in alloc.shares]))
        shares = ev.last_shares(alloc)
        lines = creative_lines(segment, pool[segment], look, shares, min_events, rounds, period)
        views.append(SegmentView(segment, impressions.get(segment, 0), lines, alloc))
    return tuple(views), period


def creative_lines(
    segment: str,
    ids: Sequence[str],
    look: Lookup,
    shares: Mapping[str, float],
    min_events: int,
    rounds: bool,
    period: str,
) -> tuple[CreativeLine, ...]:
    """``ids`` as table lines: live ones (in the pool; on logs, shown in the last period)
    first, judged before learning, by CTR."""
    found = look.assess.get(segment, {})
    best = leader([found[c] for c in ids if c in found], min_events)
    lines = []
    for cid in ids:
        a = found.get(cid) or Assessment(segment, cid, 0.0, 0.0, 1.0, 0, 0)
        live = rounds or shares.get(cid, 0.0) > 0
        word, why = label(a, best, min_events)
        if not live:
            word, why = "paused", f"no impressions in the last {period}"
        c = look.creatives.get(cid)
        lines.append(
            CreativeLine(
                text=look.text(cid),
                segment=segment,
                source=(
                    source_words(c.source, c.lineage, c.generator_version)
                    if c
                    else "logged (no record of its source)"
                ),
                generator=c.generator_version if c else None,
                events=a.events,
                shown=a.shown,
                clicks=look.clicks.get(segment, {}).get(cid, 0.0),
                ctr=ev.rate(a),
                share=shares.get(cid, 0.0),
                label=word,
                why=why,
                true_ctr=look.true.get(segment, {}).get(cid),
                live=live,
            )
        )
    lines.sort(key=lambda x: (not x.live, x.label == "learning", -x.ctr.value))
    return tuple(lines)


def sources(events: pd.DataFrame, records: Mapping[str, Creative]) -> tuple[SourceLine, ...]:
    """Impressions, clicks and CTR (clicks / impressions) of each source's creatives."""

    def source(cid: str) -> str:
        c = records.get(cid)
        if c is None:
            return "logged (no record)"
        gen = f", generator {generator_name(c.generator_version)}" if c.generator_version else ""
        return f"{c.source}{gen}"

    frame = pd.DataFrame(
        {"source": events["chosen"].map(source), "chosen": events["chosen"], "r": events["reward"]}
    )
    out = [
        SourceLine(
            str(name),
            int(part["chosen"].nunique()),
            len(part),
            float(part["r"].sum()),
            ev.mean_rate(part["r"].to_numpy(float)),
        )
        for name, part in frame.groupby("source")
    ]
    return tuple(sorted(out, key=lambda s: -s.shown))


def ranking(values: Mapping[str, Mapping[str, float]]) -> dict[str, list[str]]:
    """Per segment, creative ids best first."""
    return {s: sorted(v, key=lambda c: -v[c]) for s, v in values.items()}


def best_by_ctr(events: pd.DataFrame) -> dict[str, list[str]]:
    """Per segment, the creatives shown in ``events``, best observed CTR first."""
    assess = ev.assessments(ev.creative_stats(events))
    return ranking(
        {s: {c: a.ctr for c, a in rows.items() if a.shown > 0} for s, rows in assess.items()}
    )


def lift_on_logs(events: pd.DataFrame, seed: int) -> Lift:
    """Served clicks against uniform and the best creative, off-policy."""
    lines = observed_lift(events, best_by_ctr, Streams(seed).fresh("bootstrap"))
    return Lift(len(events), lines)
