"""The report's content as typed records: what :mod:`~optimizer.report.gather` reads from
the store, and what the plots and the page render. Nothing here knows SQL or HTML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rate:
    """An observed rate with its 95% interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Text:
    """What a user reads: a creative's headline, body and call to action."""

    id: str
    headline: str
    body: str = ""
    cta: str = ""
    known: bool = True  # False: the logs name an id the store has no text for


@dataclass(frozen=True)
class CreativeLine:
    """One creative in one segment, as the segment's table shows it.

    ``ctr``: propensity-corrected CTR (the value of always showing it, see
    :mod:`optimizer.refresh.assess`) with its interval; ``events``: impressions of the segment
    in which it was a candidate; ``shown``/``clicks``: times shown and clicks; ``share``: its
    share of the segment's traffic in the last period; ``label``: leading, learning or
    retiring, ``why``: the numbers behind it; ``true_ctr``: by the simulator (None on logs).
    """

    text: Text
    segment: str
    source: str  # in words: seed, recombined, edited (...), generated (...)
    generator: str | None
    events: int
    shown: int
    clicks: float
    ctr: Rate
    share: float
    label: str
    why: str
    true_ctr: float | None = None
    live: bool = True


@dataclass(frozen=True)
class Allocation:
    """Each creative's share of a segment's impressions per period (``periods``: 1, 2, ...)."""

    period: str  # what a period is: "round", "day", "period"
    periods: tuple[int, ...]
    shares: Mapping[str, tuple[float, ...]]  # creative id -> share per period
    names: Mapping[str, str] = field(default_factory=dict)  # creative id -> headline


@dataclass(frozen=True)
class SegmentView:
    name: str
    impressions: int
    creatives: tuple[CreativeLine, ...]  # live ones, best first
    allocation: Allocation


@dataclass(frozen=True)
class Parent:
    text: Text
    value: float | None  # true CTR (simulator) or observed CTR (logs)
    rate: Rate | None = None  # observed, with its interval (logs)


@dataclass(frozen=True)
class LineageLine:
    """A creative the loop created, beside the winners it came from and the seeds."""

    child: Text
    segment: str
    round: int
    how: str  # the operator in words
    parents: tuple[Parent, ...]
    value: float | None  # the child's true CTR (simulator) or observed CTR (logs)
    rate: Rate | None  # observed, with its interval
    seeds: float | None  # mean true (observed) CTR of the segment's seed creatives
    beats_parents: str  # yes | no | unclear | no parents
    beats_seeds: str
    status: str  # live | retired (...)
    predicted: float | None = None  # the scorer's prior mean CTR when it was admitted


@dataclass(frozen=True)
class Child:
    text: Text
    segment: str
    ctr: Rate | None
    true_ctr: float | None
    status: str


@dataclass(frozen=True)
class ArmLine:
    """An arm of the operator and prompt bandit, credited with its children's reward."""

    arm: str
    how: str  # in words
    wins: float
    trials: float
    reward: Rate  # posterior mean of P(child beats its segment) with a 95% interval
    children: tuple[Child, ...]


@dataclass(frozen=True)
class Rewrite:
    """A prompt the LLM rewrote, in full."""

    round: int
    prompt: str
    parent: str | None
    segment: str
    instruction: str | None
    raw: str


@dataclass(frozen=True)
class PromptStat:
    """A prompt arm and the impressions and clicks of the creatives it wrote."""

    id: str
    source: str  # config | mutation (rewritten by the LLM)
    parent: str | None
    impressions: float
    clicks: float


@dataclass(frozen=True)
class Removal:
    """A retired or rejected creative, its text and the reason in words."""

    text: Text
    segment: str
    round: int | None
    group: str  # the kind of reason, for grouping
    reason: str


@dataclass(frozen=True)
class LiftLine:
    """Clicks one way of serving earned (or would have) on the logged impressions."""

    name: str
    clicks: float
    low: float | None
    high: float | None
    note: str = ""


@dataclass(frozen=True)
class Lift:
    impressions: int
    observed: tuple[LiftLine, ...]  # served (counted), uniform and best (off-policy)
    true: tuple[LiftLine, ...] = ()  # expected clicks by the simulator's truth
    estimator: str = "dr"
    note: str = ""


@dataclass(frozen=True)
class Curve:
    label: str
    x: tuple[int, ...]
    y: tuple[float, ...]
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None


@dataclass(frozen=True)
class SourceLine:
    """Impressions and clicks of the creatives of one source (seed, recombined, ...)."""

    source: str
    creatives: int
    shown: int
    clicks: float
    ctr: Rate


@dataclass(frozen=True)
class GeneratorLine:
    """A generator version the refresh trained (LoRA), with its training losses."""

    version: str
    adapter: str | None
    data_hash: str | None
    loss_first: float | None
    loss_last: float | None
    steps: int | None


@dataclass(frozen=True)
class Report:
    """Everything the page shows. ``simulated``: a campaign played in rounds against the
    simulator (true CTRs known); else a log from ``ingest`` (observed figures only).
    ``hidden``: section -> why it is not shown."""

    campaign: str
    simulated: bool
    summary: tuple[str, ...]
    segments: tuple[SegmentView, ...]
    ctr_curves: tuple[Curve, ...]
    pool_curves: tuple[Curve, ...] = ()
    lineage: tuple[LineageLine, ...] = ()
    arms: tuple[ArmLine, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()
    prompts: tuple[PromptStat, ...] = ()
    removals: tuple[Removal, ...] = ()
    sources: tuple[SourceLine, ...] = ()
    generators: tuple[GeneratorLine, ...] = ()
    lift: Lift | None = None
    hidden: Mapping[str, str] = field(default_factory=dict)
    period: str = "round"
