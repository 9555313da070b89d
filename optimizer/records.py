"""Typed records passed between the stages of the loop.

Every record is a frozen dataclass that validates itself once at construction, so a stage
can trust what it receives (compare Open Bandit Pipeline's dicts of arrays, re-checked
everywhere).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

FeatureValue = str | float


def creative_id(campaign: str, headline: str, body: str, cta: str) -> str:
    """Content-hash id: the same text in the same campaign always gets the same id."""
    text = "\x1f".join(" ".join(part.split()).lower() for part in (campaign, headline, body, cta))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Creative:
    """One ad creative: the text a user sees, plus lineage for the refresh stage."""

    id: str
    campaign: str
    headline: str
    body: str
    cta: str
    segment: str | None = None  # None: eligible for every segment
    source: str = "seed"  # seed | generated | manual
    prompt_id: str | None = None
    generator_version: str | None = None
    parent_id: str | None = None
    lineage: Mapping[str, object] = field(default_factory=dict)
    # Numeric features the allocation policy may use besides the id (text-derived later).
    features: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("creative id must not be empty")
        if not self.headline.strip():
            raise ValueError(f"creative {self.id}: headline must not be empty")

    @classmethod
    def from_text(
        cls, campaign: str, headline: str, body: str, cta: str, **kwargs: object
    ) -> Creative:
        return cls(
            id=creative_id(campaign, headline, body, cta),
            campaign=campaign,
            headline=headline,
            body=body,
            cta=cta,
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def text(self) -> str:
        return f"{self.headline}. {self.body} {self.cta}".strip()


@dataclass(frozen=True)
class Context:
    """One impression opportunity: who the user is (segment and observable features)."""

    segment: str
    features: Mapping[str, FeatureValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What the policy chose and with which probability, at decision time."""

    event_id: str
    timestamp: float  # seconds since the epoch (simulated clock in the simulator)
    campaign: str
    context: Context
    candidates: tuple[str, ...]
    chosen: str
    probability: float
    policy: str
    policy_version: str
    distribution: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not (0.0 < self.probability <= 1.0) or math.isnan(self.probability):
            raise ValueError(
                f"decision {self.event_id}: probability {self.probability} is outside (0, 1]"
            )
        if self.chosen not in self.candidates:
            raise ValueError(f"decision {self.event_id}: chosen {self.chosen} not a candidate")
        if self.distribution and len(self.distribution) != len(self.candidates):
            raise ValueError(f"decision {self.event_id}: distribution and candidates differ")


@dataclass(frozen=True)
class Feedback:
    """The reward observed for one decision (a click, a conversion, a value)."""

    decision: Decision
    reward: float
    kind: str = "click"
    timestamp: float | None = None
    # Ground truth when it is known (simulator): expected reward of every candidate.
    expected: tuple[float, ...] | None = None

    @property
    def event_id(self) -> str:
        return self.decision.event_id
