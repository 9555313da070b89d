"""Validation of ingested rows: each parsed row becomes table rows (``store.rows``) or a
``BadRow`` whose message is the quarantine reason (it names the field and the fix).

Rows are checked against the campaign as stored: its name, its segments, and, when a
decision logs no candidate list, its creatives (the stored ones and the seed creatives of
its config). Every string has a size limit (``LIMITS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from optimizer.records import creative_id
from optimizer.store.rows import decision_row, report_row, reward_row

# Longest accepted value of each string field, in characters.
LIMITS = {
    "event_id": 200,
    "campaign": 200,
    "segment": 200,
    "action": 200,
    "candidate id": 200,
    "creative_id": 200,
    "kind": 50,
    "policy": 200,
    "policy_version": 200,
    "context key": 100,
    "context value": 1_000,
    "headline": 1_000,
    "body": 5_000,
    "cta": 200,
    "ad_group": 200,
}
MAX_CANDIDATES = 10_000
MAX_CONTEXT_FEATURES = 200


class BadRow(ValueError):
    """A row that cannot be stored; the message is the quarantine reason. ``summary`` is the
    reason without row-specific values, for the counts per reason."""

    def __init__(self, reason: str, summary: str | None = None) -> None:
        super().__init__(reason)
        self.summary = summary or reason


def show(value: Any, width: int = 40) -> str:
    """``repr`` of a value, shortened for a message."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 4] + "...'"


def bounded(value: str, name: str) -> str:
    """``value`` when it fits the field's size limit and holds no NUL character."""
    limit = LIMITS[name]
    if len(value) > limit:
        raise BadRow(
            f"field {name!r} is {len(value):,} characters, over the limit of {limit:,}",
            f"field {name!r} over the limit of {limit:,} characters",
        )
    if "\x00" in value:
        raise BadRow(f"field {name!r} contains a NUL character")
    return value


def timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        raise BadRow("timestamp must be an ISO 8601 string such as 2026-03-01T12:00:00Z")
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRow(f"timestamp {show(value)} is not ISO 8601", "timestamp not ISO 8601") from None
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


def text(row: dict, key: str, limit: str | None = None) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadRow(f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadRow(f"field {key!r} must be a string")
    return bounded(str(value).strip(), limit or key)


def optional_text(row: dict, key: str, default: str = "", strip: bool = True) -> str:
    value = row.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRow(f"field {key!r} must be a string")
    value = str(value)
    return bounded(value.strip() if strip else value, key)


def number(row: dict, key: str) -> float:
    value = row.get(key)
    if value is None:
        raise BadRow(f"missing field {key!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise BadRow(
            f"field {key!r} is not a number: {show(value)}", f"field {key!r} is not a number"
        ) from None
    if not math.isfinite(out):
        raise BadRow(f"field {key!r} is not finite: {show(value)}", f"field {key!r} not finite")
    return out


def maybe_number(value: Any) -> Any:
    """Flat ``ctx_`` cells of a CSV arrive as text: numbers become numbers."""
    if isinstance(value, str):
        try:
            out = float(value)
        except ValueError:
            return value
        return out if math.isfinite(out) else value
    return value


def context(row: dict) -> dict[str, str | float]:
    if "context" in row:
        ctx = row["context"]
        if isinstance(ctx, str):  # a JSON object in a CSV cell
            try:
                ctx = orjson.loads(ctx)
            except orjson.JSONDecodeError:
                raise BadRow("context is not a JSON object") from None
        if not isinstance(ctx, dict):
            raise BadRow("context must be an object of user features")
    else:
        ctx = {k[4:]: maybe_number(v) for k, v in row.items() if k.startswith("ctx_")}
    if len(ctx) > MAX_CONTEXT_FEATURES:
        raise BadRow(
            f"context has {len(ctx):,} features, over the limit of {MAX_CONTEXT_FEATURES}",
            f"context over {MAX_CONTEXT_FEATURES} features",
        )
    out: dict[str, str | float] = {}
    for key, value in ctx.items():
        key = bounded(str(key), "context key")
        if isinstance(value, str):
            out[key] = bounded(value, "context value")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise BadRow(f"context feature {show(key)} is not finite")
            out[key] = float(value)
        else:
            raise BadRow(
                f"context feature {show(key)} must be a string or a number",
                "context feature must be a string or a number",
            )
    return out


def candidates(row: dict, action: str) -> list[str] | None:
    value = row.get("candidates")
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split("|") if v]
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value
    ):
        raise BadRow("candidates must be a list of creative ids")
    if len(value) > MAX_CANDIDATES:
        raise BadRow(
            f"candidates: {len(value):,} ids, over the limit of {MAX_CANDIDATES:,}",
            f"candidates over {MAX_CANDIDATES:,} ids",
        )
    ids = [bounded(str(v), "candidate id") for v in value]
    if action not in ids:
        raise BadRow(
            f"action {show(action)} is not among the candidates", "action not among the candidates"
        )
    return ids


@dataclass(frozen=True)
class CampaignFacts:
    """What a row is checked against: a stored campaign's segments and creative ids."""

    segments: frozenset[str]
    creatives: frozenset[str]


@dataclass
class Validator:
    """Turns parsed rows into table rows for the campaigns of the store."""

    facts: Callable[[str], CampaignFacts | None]  # None: no such campaign
    default_campaign: str | None = None
    # Tried first on each event row; returns the rows or None (``fastpath.FastEvents``).
    fast: Callable[[dict], tuple | None] | None = None

    def campaign(self, row: dict) -> tuple[str, CampaignFacts]:
        name = str(row.get("campaign") or self.default_campaign or "").strip()
        if not name:
            raise BadRow("missing field 'campaign' (or pass --campaign)")
        facts = self.facts(name) if len(name) <= LIMITS["campaign"] else None
        if facts is None:
            raise BadRow(
                f"unknown campaign {show(name)}; register it first (ingest --config FILE)",
                "unknown campaign; register it first (ingest --config FILE)",
            )
        return name, facts

    def segment(self, row: dict, name: str, facts: CampaignFacts) -> str:
        segment = optional_text(row, "segment")
        if segment and segment not in facts.segments:
            known = ", ".join(sorted(facts.segments)) or "none"
            raise BadRow(
                f"segment {show(segment)} is not a segment of campaign {name!r} ({known})",
                "segment not in the campaign",
            )
        return segment

    def event(self, row: dict) -> tuple[dict | None, dict | None]:
        """(decision, reward-or-None) for a decision row, (None, reward) for a reward."""
        if self.fast is not None:
            done = self.fast(row)
            if done is not None:
                return done
        event_id = text(row, "event_id")
        ts = timestamp(row.get("timestamp"))
        if "action" not in row:
            if "reward" not in row:
                raise BadRow("neither a decision (no 'action') nor a reward (no 'reward')")
            return None, self.reward(event_id, ts, row)
        action = text(row, "action")
        p = number(row, "probability")
        if not 0.0 < p <= 1.0:
            raise BadRow(f"probability {p} is outside (0, 1]", "probability outside (0, 1]")
        name, facts = self.campaign(row)
        listed = candidates(row, action)
        if listed is None and action not in facts.creatives:
            raise BadRow(
                f"action {show(action)} is not a creative of campaign {name!r}; log the "
                "candidate list with the decision, or register the creative first",
                "action not a creative of the campaign",
            )
        decision = decision_row(
            event_id=event_id,
            timestamp=ts,
            campaign=name,
            segment=self.segment(row, name, facts) or None,
            context=context(row),
            candidates=listed,
            chosen=action,
            probability=p,
            policy=optional_text(row, "policy", "logged"),
            policy_version=optional_text(row, "policy_version", "logged"),
        )
        return decision, (self.reward(event_id, ts, row) if "reward" in row else None)

    def reward(self, event_id: str, ts: datetime, row: dict) -> dict:
        kind = optional_text(row, "kind", "click")
        return reward_row(event_id=event_id, kind=kind, value=number(row, "reward"), timestamp=ts)

    def dsjson(self, row: dict) -> tuple[dict | None, dict | None]:
        """A VW decision-service event: EventId, Timestamp, c (context with _multi),
        _label_Action (1-based), _label_probability, _label_cost (cost = -reward)."""
        for key in ("EventId", "Timestamp", "c", "_label_Action", "_label_probability"):
            if key not in row:
                raise BadRow(f"DSJSON: missing field {key!r}")
        c = row["c"]
        if not isinstance(c, dict) or not isinstance(c.get("_multi"), list) or not c["_multi"]:
            raise BadRow("DSJSON: 'c' needs a non-empty '_multi' list of actions")
        ids = [
            str(a.get("id", a.get("creative", i + 1))) if isinstance(a, dict) else str(i + 1)
            for i, a in enumerate(c["_multi"])
        ]
        index = int(number(row, "_label_Action")) - 1
        if not 0 <= index < len(ids):
            raise BadRow(
                f"DSJSON: _label_Action {index + 1} is outside 1..{len(ids)}",
                "DSJSON: _label_Action outside the actions",
            )
        ctx: dict[str, Any] = {}
        for ns, value in c.items():
            if ns.startswith("_"):
                continue
            if isinstance(value, dict):
                ctx.update({f"{ns}.{k}": v for k, v in value.items()})
            else:
                ctx[ns] = value
        flat = {
            "event_id": row["EventId"],
            "timestamp": row["Timestamp"],
            "campaign": row.get("campaign"),
            "context": ctx,
            "action": ids[index],
            "probability": row["_label_probability"],
            "candidates": ids,
            "segment": ctx.get("segment") or ctx.get("User.segment"),
        }
        if "_label_cost" in row:
            flat["reward"] = -number(row, "_label_cost")
        return self.event(flat)

    def report(self, row: dict) -> dict:
        name, facts = self.campaign(row)
        cid = optional_text(row, "creative_id")
        headline = optional_text(row, "headline", strip=False)
        body = optional_text(row, "body", strip=False)
        if not cid:
            if not headline:
                raise BadRow("a report row needs creative_id, or headline (and body)")
            cid = creative_id(name, headline, body, optional_text(row, "cta"))
        date = str(row.get("date") or "").strip()
        try:
            date = datetime.fromisoformat(date).date().isoformat()
        except ValueError:
            raise BadRow(
                f"date {show(date)} is not an ISO date such as 2026-03-01", "date not an ISO date"
            ) from None
        impressions, clicks = number(row, "impressions"), number(row, "clicks")
        conversions = number(row, "conversions") if "conversions" in row else None
        if impressions < 0 or clicks < 0 or clicks > impressions:
            raise BadRow("need 0 <= clicks <= impressions")
        return report_row(
            campaign=name,
            segment=self.segment(row, name, facts),
            creative_id=cid,
            date=date,
            ad_group=optional_text(row, "ad_group"),
            headline=headline,
            body=body,
            impressions=int(impressions),
            clicks=int(clicks),
            conversions=None if conversions is None else int(conversions),
        )
