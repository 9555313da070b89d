"""What a filter says about a creative: kept, or rejected with every reason and score."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from optimizer.records import Creative


@dataclass(frozen=True)
class Rejection:
    # format | safety | claims | readability | policy | relevance | duplicate | diversity | parse
    filter: str
    reason: str
    score: float | None = None


@dataclass(frozen=True)
class Verdict:
    creative: Creative | None  # None when the model's answer could not be parsed
    rejections: tuple[Rejection, ...] = ()
    scores: Mapping[str, float] = field(default_factory=dict)
    raw: str | None = None

    @property
    def kept(self) -> bool:
        return not self.rejections

    def as_dict(self) -> dict:
        c = self.creative
        return {
            "id": c.id if c else None,
            "segment": c.segment if c else None,
            "prompt_id": c.prompt_id if c else None,
            "headline": c.headline if c else None,
            "body": c.body if c else None,
            "cta": c.cta if c else None,
            "kept": self.kept,
            "reasons": [
                {"filter": r.filter, "reason": r.reason, "score": r.score} for r in self.rejections
            ],
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            **({"raw": self.raw} if self.raw is not None and c is None else {}),
        }
