"""What the refresh did, in words: the creatives it created beside their parents and the
seeds, the operator and prompt arms with their children, the prompts it rewrote, and the
creatives it retired or the filters rejected."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from optimizer.records import Creative
from optimizer.refresh.assess import Assessment
from optimizer.report.evidence import rate
from optimizer.report.model import (
    ArmLine,
    Child,
    LineageLine,
    Parent,
    PromptStat,
    Rate,
    Removal,
    Rewrite,
    Text,
)
from optimizer.report.words import arm_words, operator_words, reason_group, with_headlines


@dataclass(frozen=True)
class Lookup:
    """What the report knows of each creative: text, record, observed and true CTRs per
    segment, and its status in the run (``live``, or why it left)."""

    texts: Mapping[str, Text]
    creatives: Mapping[str, Creative]
    assess: Mapping[str, Mapping[str, Assessment]]  # segment -> id -> assessment
    clicks: Mapping[str, Mapping[str, float]]  # segment -> id -> clicks
    true: Mapping[str, Mapping[str, float]]  # segment -> id -> true CTR; empty on logs
    status: Mapping[tuple[str, str], str]  # (segment, id) -> live | retired | ...

    @property
    def simulated(self) -> bool:
        return bool(self.true)

    def text(self, cid: str) -> Text:
        t = self.texts.get(cid)
        return t if t is not None else Text(cid, f"creative {cid[:6]}\u2026", known=False)

    def rate(self, segment: str, cid: str) -> Rate | None:
        a = self.assess.get(segment, {}).get(cid)
        return rate(a) if a is not None and a.events else None

    def value(self, segment: str, cid: str) -> float | None:
        """True CTR in the simulator, else the observed CTR."""
        if self.simulated:
            return self.true.get(segment, {}).get(cid)
        r = self.rate(segment, cid)
        return r.value if r is not None else None

    def seeds(self, segment: str) -> float | None:
        """Mean true (observed) CTR of the seed creatives that served ``segment``."""
        values = [
            v
            for cid in self.assess.get(segment, {})
            if (c := self.creatives.get(cid)) is not None and c.source == "seed"
            if (v := self.value(segment, cid)) is not None
        ]
        return sum(values) / len(values) if values else None


def _verdict(
    value: float | None, r: Rate | None, other: float | None, other_rate: Rate | None, sim: bool
) -> str:
    if other is None or value is None:
        return "-"
    if sim:
        return "yes" if value > other else "no"
    low, high = (other_rate.low, other_rate.high) if other_rate else (other, other)
    if r is not None and r.low > high:
        return "yes"
    if r is not None and r.high < low:
        return "no"
    return "unclear (intervals overlap)"


def lineage(
    children: Iterable[tuple[Creative, str, int]],
    look: Lookup,
    priors: Mapping[tuple[str, str], Sequence[float]] | None = None,
) -> list[LineageLine]:
    """``children``: (creative, segment, round) of each creative the loop created;
    ``priors``: (segment, id) -> the scorer's Beta prior ``(a, b)`` it was admitted with."""
    out = []
    for c, segment, k in children:
        prior = (priors or {}).get((segment, c.id))
        parents = tuple(
            Parent(look.text(p), look.value(segment, p), look.rate(segment, p))
            for p in c.lineage.get("parents", ()) or ([c.parent_id] if c.parent_id else [])
        )
        known = [p for p in parents if p.value is not None]
        top = max(known, key=lambda p: p.value or 0.0) if known else None
        value, r, seeds = look.value(segment, c.id), look.rate(segment, c.id), look.seeds(segment)
        sim = look.simulated
        out.append(
            LineageLine(
                child=look.text(c.id),
                segment=segment,
                round=k,
                how=operator_words(
                    str(c.lineage.get("operator") or c.source),
                    str(c.lineage.get("arm") or ""),
                    c.lineage.get("prompt_arm") or c.prompt_id,
                ),
                parents=parents,
                value=value,
                rate=r,
                seeds=seeds,
                beats_parents=(
                    _verdict(value, r, top.value, top.rate, sim) if top else "no parents"
                ),
                beats_seeds=_verdict(value, r, seeds, None, sim),
                status=look.status.get((segment, c.id), "live"),
                predicted=prior[0] / (prior[0] + prior[1]) if prior else None,
            )
        )
    return out


def beta_rate(wins: float, trials: float) -> Rate:
    """Mean and central 95% interval of ``Beta(1 + wins, 1 + trials - wins)``."""
    from scipy.stats import beta

    a, b = 1.0 + wins, 1.0 + max(trials - wins, 0.0)
    low, high = beta.ppf([0.025, 0.975], a, b)
    return Rate(a / (a + b), float(low), float(high))


def arms(
    credits: Mapping[str, Sequence[float]],
    children: Iterable[tuple[Creative, str]],
    look: Lookup,
) -> list[ArmLine]:
    """Each arm with the credit the operator bandit gave it and its children
    (``children``: creative and segment, each with its arm in ``lineage``)."""
    from optimizer.refresh.operators.bandit import arm_of

    by_arm: dict[str, list[Child]] = {}
    for c, segment in children:
        arm = arm_of(c)
        if arm is None:
            continue
        by_arm.setdefault(arm, []).append(
            Child(
                look.text(c.id),
                segment,
                look.rate(segment, c.id),
                look.true.get(segment, {}).get(c.id),
                look.status.get((segment, c.id), "live"),
            )
        )
    out = []
    for arm in sorted(set(credits) | set(by_arm)):
        wins, trials = (list(credits.get(arm, (0.0, 0.0))) + [0.0, 0.0])[:2]
        kids = sorted(by_arm.get(arm, []), key=lambda k: -(k.ctr.value if k.ctr else 0.0))
        out.append(ArmLine(arm, arm_words(arm), wins, trials, beta_rate(wins, trials), tuple(kids)))
    return sorted(out, key=lambda a: -a.reward.value)


def rewrites(rounds: Iterable[Mapping]) -> list[Rewrite]:
    """The prompts the LLM rewrote, from the rounds' metrics."""
    out = []
    for m in rounds:
        w = m.get("prompt_written")
        if w:
            out.append(
                Rewrite(
                    m["round"],
                    w["id"],
                    w.get("parent"),
                    w.get("segment", ""),
                    w.get("instruction"),
                    w.get("raw", ""),
                )
            )
    return out


def prompts(last: Mapping) -> list[PromptStat]:
    """The prompt arms of the last round with their creatives' impressions and clicks."""
    return [
        PromptStat(
            pid,
            str(p.get("source", "config")),
            p.get("parent"),
            float(p.get("impressions", 0)),
            float(p.get("clicks", 0)),
        )
        for pid, p in last.get("prompts", {}).items()
    ]


def retirements(rounds: Iterable[Mapping], look: Lookup) -> list[Removal]:
    return [
        Removal(
            look.text(r["creative_id"]),
            r["segment"],
            m["round"],
            "retired: " + reason_group(r["reason"]),
            with_headlines(r["reason"], look.texts),
        )
        for m in rounds
        for r in m.get("retirements", [])
    ]


def rejections(screenings: Iterable, look: Lookup) -> list[Removal]:
    """The filters' rejections (``screenings``: the store's screening rows)."""
    out = []
    for s in screenings:
        if s.kept:
            continue
        reasons = [r for r in s.reasons if isinstance(r, dict)] or [{"filter": "filter"}]
        words = "; ".join(str(r.get("reason", r.get("filter", ""))) for r in reasons)
        if s.creative_id is None:
            first = (s.raw or "").strip().splitlines()
            text = Text("", first[0][:120] if first else "(empty answer)", known=False)
            group = "rejected: unparseable answer"
        else:
            text = look.text(s.creative_id)
            group = f"rejected: {reasons[0].get('filter', 'filter')}"
        out.append(Removal(text, s.segment or "", None, group, with_headlines(words, look.texts)))
    return out
