"""Row builders: the one place where records and validated input become table rows.

Every event row carries a content digest, so that the store can tell an identical re-send
(a no-op) from a conflicting duplicate (same key, different content) without comparing
columns. What counts as the content of each kind of row:

- decision: time, campaign, segment, context, candidate list (in order), chosen action,
  probability, policy and policy version; not ``run_id`` (provenance, not content);
- reward: time and value (the key is event id and kind);
- report row: headline, body, impressions, clicks, conversions (the key is campaign,
  segment, creative, date and ad group).

Timestamps are aware datetimes in UTC (a naive one is taken to be UTC), as the tables'
``UTCDateTime`` columns store and return them.
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from optimizer.records import Creative, Decision, Feedback

if TYPE_CHECKING:
    from optimizer.store.models import CreativeRow

# Fields shared by a Creative record and its CreativeRow (besides lineage).
CREATIVE_FIELDS = (
    "id",
    "campaign",
    "headline",
    "body",
    "cta",
    "segment",
    "source",
    "prompt_id",
    "generator_version",
    "parent_id",
)
# The columns of a decision that make its content, in digest order.
DECISION_CONTENT = (
    "timestamp",
    "campaign",
    "segment",
    "context",
    "candidates",
    "chosen",
    "probability",
    "policy",
    "policy_version",
)
REWARD_CONTENT = ("timestamp", "value")
REPORT_KEY = ("campaign", "segment", "creative_id", "date", "ad_group")
REPORT_CONTENT = ("headline", "body", "impressions", "clicks", "conversions")

# The columns of each event table, in table order: a packed row is a tuple of these. Named
# here rather than read from the models, so that building rows (in an ingest worker, say)
# does not load SQLAlchemy; tests/store/test_rows.py holds them to the tables.
DECISION_COLUMNS = (
    "event_id",
    "run_id",
    "timestamp",
    "campaign",
    "segment",
    "context",
    "candidate_set_id",
    "chosen",
    "probability",
    "policy",
    "policy_version",
    "digest",
)
REWARD_COLUMNS = ("event_id", "kind", "value", "timestamp", "digest")
REPORT_COLUMNS = (*REPORT_KEY, *REPORT_CONTENT, "digest")
# Row keys holding the stored form of a column (the text SQLite keeps, which a COPY to
# PostgreSQL reads as well), where it differs from the value.
STORED_AS = {"timestamp": "timestamp_text", "context": "context_json"}


def packer(columns: Sequence[str]) -> Callable[[dict], tuple]:
    """A function packing a row (from the builders below) into a tuple of ``columns`` in
    their stored form (``STORED_AS``)."""
    return operator.itemgetter(*(STORED_AS.get(c, c) for c in columns))


def unpack(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """The values of a packed row by column (aware UTC timestamps, context dicts), as
    SQLAlchemy reads them back."""
    out = dict(zip(columns, row, strict=True))
    if "timestamp" in out and isinstance(out["timestamp"], str):
        out["timestamp"] = datetime.fromisoformat(out["timestamp"]).replace(tzinfo=UTC)
    if "context" in out and isinstance(out["context"], str):
        out["context"] = orjson.loads(out["context"])
    return out


def utc(ts: datetime) -> datetime:
    """``ts`` in UTC (a naive ``ts`` is taken to be UTC already)."""
    if ts.tzinfo is UTC:
        return ts
    return ts.astimezone(UTC) if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


_last_text: tuple[datetime | None, str] = (None, "")  # a joined row's reward reuses it


def utc_text(ts: datetime) -> str:
    """``ts`` (in UTC) as the store writes it: ``2026-03-01 12:00:00.000000``."""
    global _last_text
    last = _last_text
    if last[0] is ts:
        return last[1]
    text = ts.isoformat(" ", "microseconds")[:26]
    _last_text = (ts, text)
    return text


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def content_digest(*parts: Any) -> str:
    """128-bit BLAKE2b of the parts' JSON (a list: unambiguous, unlike a joined string)."""
    data = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@functools.lru_cache(maxsize=4096)
def _set_id(ids: tuple[str, ...]) -> str:
    return hashlib.blake2b(orjson.dumps(ids), digest_size=16).hexdigest()


def candidate_set_id(ids: Sequence[str]) -> str | None:
    """Content hash of an ordered candidate list; None for no list."""
    return _set_id(ids if type(ids) is tuple else tuple(ids)) if ids else None


def decision_row(
    *,
    event_id: str,
    timestamp: datetime,
    campaign: str,
    segment: str | None,
    context: Mapping[str, Any],
    candidates: Sequence[str] | None,
    chosen: str,
    probability: float,
    policy: str = "logged",
    policy_version: str = "logged",
    run_id: str | None = None,
) -> dict[str, Any]:
    """The ``decision`` row of one event, with ``candidates`` (the list, resolved to a
    ``candidate_set`` by the store when written), ``candidate_set_id`` and ``digest``, and
    the stored text of the time and the context (``timestamp_text``, ``context_json``)."""
    ts = utc(timestamp)
    ts_text = utc_text(ts)
    ctx = {str(k): v if type(v) is str else float(v) for k, v in context.items()}
    ctx_json = orjson.dumps(ctx, option=orjson.OPT_SORT_KEYS).decode()
    cands = candidates if type(candidates) is tuple else tuple(candidates or ())
    set_id = candidate_set_id(cands)
    probability = float(probability)
    segment = segment or None
    content = [ts_text, campaign, segment, ctx_json, set_id, chosen, probability]
    content += [policy, policy_version]
    return {
        "event_id": event_id,
        "run_id": run_id,
        "timestamp": ts,
        "campaign": campaign,
        "segment": segment,
        "context": ctx,
        "candidates": cands,
        "candidate_set_id": set_id,
        "chosen": chosen,
        "probability": probability,
        "policy": policy,
        "policy_version": policy_version,
        "digest": hashlib.blake2b(orjson.dumps(content), digest_size=16).hexdigest(),
        "timestamp_text": ts_text,
        "context_json": ctx_json,
    }


def reward_row(*, event_id: str, kind: str, value: float, timestamp: datetime) -> dict[str, Any]:
    ts = utc(timestamp)
    ts_text, value = utc_text(ts), float(value)
    return {
        "event_id": event_id,
        "kind": kind,
        "value": value,
        "timestamp": ts,
        "digest": hashlib.blake2b(orjson.dumps([ts_text, value]), digest_size=16).hexdigest(),
        "timestamp_text": ts_text,
    }


def report_row(
    *,
    campaign: str,
    segment: str,
    creative_id: str,
    date: str,
    impressions: int,
    clicks: int,
    conversions: int | None = None,
    headline: str = "",
    body: str = "",
    ad_group: str = "",
) -> dict[str, Any]:
    """One row of an aggregated performance report (``ad_group`` "" when it has none)."""
    row = dict(
        campaign=campaign,
        segment=segment or "",
        creative_id=creative_id,
        date=date,
        ad_group=ad_group or "",
        headline=headline,
        body=body,
        impressions=int(impressions),
        clicks=int(clicks),
        conversions=None if conversions is None else int(conversions),
    )
    row["digest"] = content_digest(*(row[k] for k in REPORT_CONTENT))
    return row


def served_decision_row(d: Decision, run_id: str | None = None) -> dict[str, Any]:
    """The ``decision`` row of a policy's :class:`Decision` (see :func:`decision_row`)."""
    return decision_row(
        event_id=d.event_id,
        timestamp=from_epoch(d.timestamp),
        campaign=d.campaign,
        segment=d.context.segment,
        context=d.context.features,
        candidates=d.candidates,
        chosen=d.chosen,
        probability=d.probability,
        policy=d.policy,
        policy_version=d.policy_version,
        run_id=run_id,
    )


def feedback_rows(fb: Feedback, run_id: str | None = None) -> tuple[dict, dict]:
    """The decision and reward rows of a served impression."""
    d: Decision = fb.decision
    decision = served_decision_row(d, run_id)
    reward = reward_row(
        event_id=d.event_id,
        kind=fb.kind,
        value=fb.reward,
        timestamp=from_epoch(fb.timestamp if fb.timestamp is not None else d.timestamp),
    )
    return decision, reward


def creative_row(c: Creative, status: str = "active", reason: str | None = None) -> dict:
    return dict(
        {f: getattr(c, f) for f in CREATIVE_FIELDS},
        status=status,
        retired_reason=reason,
        lineage=dict(c.lineage),
        created_at=datetime.now(UTC),
    )


def creative_record(row: CreativeRow) -> Creative:
    """The record of a stored creative (without bandit features; recompute them to serve)."""
    return Creative(**{f: getattr(row, f) for f in CREATIVE_FIELDS}, lineage=row.lineage or {})


def quarantine_row(file: str, file_digest: str, line: int, reason: str, raw: str) -> dict:
    """A row of ``file`` that was not stored, and why; one per (file content, line)."""
    text = raw.strip()[:2000].encode("utf-8", "backslashreplace").decode("utf-8")
    return dict(
        id=hashlib.sha256(f"{file_digest}:{line}".encode()).hexdigest()[:24],
        file=file,
        line=line,
        reason=reason.encode("utf-8", "backslashreplace").decode("utf-8"),
        raw=text,
        created_at=datetime.now(UTC),
    )
