"""The current allocation per segment, for ad servers that take weighted line items.

A creative's weight is the share of the segment's traffic the served policy gives it: the
policy's distribution averaged over the segment's most recent logged contexts (the users
the segment really has), or over the bare segment when none is logged. Exploration is part
of the policy, so its share is in the weights.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from optimizer.config import CampaignConfig
from optimizer.errors import InputError
from optimizer.records import Context, Creative
from optimizer.serve.policy import load_served
from optimizer.store.models import DecisionRow

FORMATS = ("json", "csv")
RECENT = 500  # logged contexts per segment the weights average over


@dataclass(frozen=True)
class LineItem:
    segment: str
    creative_id: str
    headline: str
    body: str
    cta: str
    weight: float


@dataclass(frozen=True)
class Allocation:
    campaign: str
    policy_version: str
    generated_at: str
    items: list[LineItem]

    def as_dict(self) -> dict:
        segments: dict[str, list[dict]] = {}
        for item in self.items:
            row = {k: v for k, v in asdict(item).items() if k != "segment"}
            segments.setdefault(item.segment, []).append(row)
        return {
            "campaign": self.campaign,
            "policy_version": self.policy_version,
            "generated_at": self.generated_at,
            "segments": segments,
        }

    def to_csv(self) -> str:
        out = io.StringIO()
        fields = ["campaign", "policy_version", "generated_at", *LineItem.__dataclass_fields__]
        writer = csv.DictWriter(out, fields, lineterminator="\n")
        writer.writeheader()
        for item in self.items:
            writer.writerow(
                {
                    "campaign": self.campaign,
                    "policy_version": self.policy_version,
                    "generated_at": self.generated_at,
                    **asdict(item),
                }
            )
        return out.getvalue()


def _contexts(store, campaign: str, segment: str) -> list[dict]:
    q = (
        select(DecisionRow.context)
        .where(DecisionRow.campaign == campaign, DecisionRow.segment == segment)
        .order_by(DecisionRow.timestamp.desc())  # type: ignore[attr-defined]
        .limit(RECENT)
    )
    with store.engine.connect() as conn:
        return [c or {} for c in conn.execute(q).scalars()]


def _distribution(policy, context: Context, cands: list[Creative], rng) -> np.ndarray:
    if hasattr(policy, "distribution"):
        try:
            return np.asarray(policy.distribution(context, cands), dtype=float)
        except TypeError:  # policies whose distribution is estimated by sampling
            return np.asarray(policy.distribution(context, cands, rng), dtype=float)
    return np.asarray(policy.choose(context, cands, rng).distribution, dtype=float)


def current_allocation(
    store, cfg: CampaignConfig, rng: np.random.Generator, now: datetime | None = None
) -> Allocation:
    """Weights per segment and creative from the campaign's newest policy version."""
    served = load_served(store, cfg)
    items: list[LineItem] = []
    for segment, cands in served.pool.items():
        if not cands:
            continue
        contexts = _contexts(store, cfg.name, segment) or [{}]
        total = np.zeros(len(cands))
        for features in contexts:
            total += _distribution(served.policy, Context(segment, features), cands, rng)
        weights = total / total.sum()
        items += [
            LineItem(segment, c.id, c.headline, c.body, c.cta, round(float(w), 6))
            for c, w in zip(cands, weights, strict=True)
        ]
    stamp = (now or datetime.now(UTC)).isoformat()
    return Allocation(cfg.name, served.version, stamp, items)


def render(allocation: Allocation, fmt: str) -> str:
    if fmt == "json":
        import json

        return json.dumps(allocation.as_dict(), indent=2)
    if fmt == "csv":
        return allocation.to_csv()
    raise InputError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
