"""A round's metrics as typed records; their JSON is what the store and the report read.

``RoundMetrics.to_json`` gives the keys the report and ``--json`` know (``round``,
``served_ctr`` ... ``pool_size``); optional keys appear only when their step ran.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optimizer.observe import Tally
from optimizer.records import Creative
from optimizer.refresh.assess import Assessment
from optimizer.refresh.finetune import FinetuneData, GeneratorVersion
from optimizer.refresh.measure import Composition, Join, SourceLine, Truth, raw_by_source
from optimizer.refresh.prompts import PromptArm
from optimizer.refresh.retire import Retirement
from optimizer.summaries import plain


def pool_value(sim, pool: Mapping[str, Sequence[Creative]], rng: np.random.Generator) -> float:
    """True mean CTR of the active pool on users drawn with ``rng`` (pass a fresh
    ``evaluation`` stream for the same users every round), each segment's active creatives
    equally weighted (what uniform serving of the pool would earn); see
    :class:`~optimizer.refresh.measure.Truth`."""
    return Truth(sim, rng).pool(pool)


@dataclass(frozen=True)
class InitialPool:
    """Round 0: the pool before anything was served."""

    pool_true_ctr: float
    pool_size: Mapping[str, int]
    round: int = 0
    composition: Composition | None = None

    def to_json(self) -> dict:
        out = {"round": 0, "pool_true_ctr": self.pool_true_ctr, "pool_size": dict(self.pool_size)}
        if self.composition is not None:
            out["composition"] = composition_json(self.composition)
        return out

    @classmethod
    def from_json(cls, d: dict) -> InitialPool:
        c = d.get("composition")
        return cls(d["pool_true_ctr"], d["pool_size"], composition=composition_of(c))


def composition_json(c: Composition) -> dict:
    return {**plain(c), "created_share": c.created_share}


def composition_of(d: dict | None) -> Composition | None:
    if d is None:
        return None
    return Composition(**{k: d[k] for k in Composition.__dataclass_fields__})


@dataclass(frozen=True)
class RoundTruth:
    """What a round's candidates, newcomers and pool are worth by the simulator's truth
    (:mod:`~optimizer.refresh.measure`; recorded, never read by the optimizer)."""

    candidates: tuple[SourceLine, ...] = ()
    joins: tuple[Join, ...] = ()
    composition: Composition | None = None

    def to_json(self) -> dict:
        out = {
            "raw_candidates": raw_by_source(self.candidates),
            "candidates": plain(self.candidates),
            "joins": plain(self.joins),
        }
        if self.composition is not None:
            out["composition"] = composition_json(self.composition)
        return out

    @classmethod
    def from_json(cls, d: dict) -> RoundTruth:
        return cls(
            tuple(SourceLine(**x) for x in d.get("candidates", [])),
            tuple(Join(**x) for x in d.get("joins", [])),
            composition_of(d.get("composition")),
        )


@dataclass(frozen=True)
class Served:
    """What the policy earned this round (``*_ctr``: true values on the users it met)."""

    impressions: int
    clicks: int
    served_ctr: float
    expected_ctr: float
    oracle_ctr: float
    uniform_ctr: float
    regret: float
    shares: Mapping[str, Mapping[str, float]]  # segment -> creative -> share of impressions
    generator_versions: Mapping[str, Mapping[str, int]]  # version -> impressions, clicks


def served(tally: Tally, creatives: Mapping[str, Creative]) -> Served:
    n = max(tally.impressions, 1)
    shares = {
        s: {cid: round(ct.shown / max(seg.impressions, 1), 4) for cid, ct in seg.creatives.items()}
        for s, seg in tally.segments.items()
    }
    clicks: Counter = Counter()
    shown: Counter = Counter()
    for seg in tally.segments.values():
        for cid, ct in seg.creatives.items():
            v = creatives[cid].generator_version or "seed"
            clicks[v] += ct.clicks
            shown[v] += ct.shown
    return Served(
        impressions=tally.impressions,
        clicks=int(tally.clicks),
        served_ctr=round(tally.clicks / n, 6),
        expected_ctr=round(tally.expected / n, 6),
        oracle_ctr=round(tally.oracle_expected / n, 6),
        uniform_ctr=round(tally.uniform_expected / n, 6),
        regret=round(tally.regret, 3),
        shares=shares,
        generator_versions={
            v: {"impressions": int(shown[v]), "clicks": int(clicks[v])} for v in shown
        },
    )


@dataclass(frozen=True)
class PromptLine:
    clicks: float
    impressions: float
    source: str
    parent: str | None


def prompt_lines(
    prompts: Sequence[PromptArm], stats: Mapping[str, Sequence[float]]
) -> dict[str, PromptLine]:
    return {
        p.id: PromptLine(*stats.get(p.id, [0, 0])[:2], source=p.source, parent=p.parent)
        for p in prompts
    }


@dataclass(frozen=True)
class NewCreative:
    id: str
    segment: str
    prompt: str | None
    headline: str
    generator: str | None
    operator: str | None = None  # the operator bandit's arm that made it
    parents: tuple[str, ...] = ()
    prior: tuple[float, float] | None = None  # the scorer's Beta prior it entered with


@dataclass(frozen=True)
class PromptWritten:
    id: str
    parent: str | None
    segment: str  # whose description and creatives the meta-prompt showed
    instruction: str | None
    raw: str


@dataclass(frozen=True)
class PromptRetirement:
    prompt: str
    reason: str


@dataclass(frozen=True)
class RoundMetrics:
    """One round: what was served, the assessments it led to, and what the refresh did."""

    round: int
    served: Served
    assessments: Mapping[str, tuple[Assessment, ...]]
    prompts: Mapping[str, PromptLine]
    generator: str | None  # the generator version of this round's serving
    pool_true_ctr: float  # after the refresh
    pool_size: Mapping[str, int]
    retirements: tuple[Retirement, ...] = ()
    new_creatives: tuple[NewCreative, ...] = ()
    prompt_written: PromptWritten | None = None
    prompt_retirements: tuple[PromptRetirement, ...] = ()
    gated_out: int | None = None  # candidates the scorer's gate turned away
    unfilled: Mapping[str, int] = field(default_factory=dict)  # open slots left per segment
    finetune_data: FinetuneData | None = None
    generator_refresh: GeneratorVersion | None = None
    # the trained version against its parent on the same prompts (kept or reverted, and why)
    generator_comparison: Mapping[str, Any] | None = None
    operators: Mapping[str, Sequence[float]] = field(default_factory=dict)  # arm credit
    plan: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # segment -> arm -> N
    bars: Mapping[str, float] = field(default_factory=dict)  # segment -> the gate's bar
    truth: RoundTruth | None = None

    def to_json(self) -> dict:
        out = {"round": self.round, **plain(self.served)}
        for name in ("assessments", "prompts", "retirements", "new_creatives", "generator"):
            out[name] = plain(getattr(self, name))
        optional = ("prompt_written", "prompt_retirements", "gated_out", "unfilled")
        generator = ("finetune_data", "generator_refresh", "generator_comparison")
        for name in (*optional, *generator, "operators", "plan", "bars"):
            value = getattr(self, name)
            if value is not None and value != () and value != {}:
                out[name] = plain(value)
        if self.truth is not None:
            out.update(self.truth.to_json())
        out["pool_true_ctr"] = self.pool_true_ctr
        out["pool_size"] = dict(self.pool_size)
        return out

    @classmethod
    def from_json(cls, d: dict) -> RoundMetrics:
        def opt(name: str, make):
            return make(**d[name]) if name in d else None

        return cls(
            round=d["round"],
            served=Served(**{k: d[k] for k in Served.__dataclass_fields__}),
            assessments={
                s: tuple(Assessment(**a) for a in rows) for s, rows in d["assessments"].items()
            },
            prompts={p: PromptLine(**x) for p, x in d["prompts"].items()},
            generator=d["generator"],
            pool_true_ctr=d["pool_true_ctr"],
            pool_size=d["pool_size"],
            retirements=tuple(Retirement(**r) for r in d["retirements"]),
            new_creatives=tuple(
                NewCreative(
                    **{
                        **c,
                        "parents": tuple(c.get("parents", ())),
                        "prior": tuple(c["prior"]) if c.get("prior") else None,
                    }
                )
                for c in d["new_creatives"]
            ),
            prompt_written=opt("prompt_written", PromptWritten),
            prompt_retirements=tuple(
                PromptRetirement(**r) for r in d.get("prompt_retirements", [])
            ),
            gated_out=d.get("gated_out"),
            unfilled=d.get("unfilled", {}),
            finetune_data=opt("finetune_data", FinetuneData),
            generator_refresh=opt("generator_refresh", GeneratorVersion),
            generator_comparison=d.get("generator_comparison"),
            operators=d.get("operators", {}),
            plan=d.get("plan", {}),
            bars=d.get("bars", {}),
            truth=RoundTruth.from_json(d) if "raw_candidates" in d else None,
        )
