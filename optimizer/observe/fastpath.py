"""The common case of a decision or reward row, checked with a few comparisons.

``FastEvents.event(row)`` accepts only rows that the full validation (``Validator.event``)
accepts, and builds the same table rows; it returns None for anything unusual (a missing
or odd field, a value out of range, an unknown name), and the row then goes through the
full validation, which says exactly what is wrong. Candidate lists, which repeat from
row to row, are checked once each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from optimizer.observe.validate import (
    LIMITS,
    MAX_CONTEXT_FEATURES,
    BadRow,
    CampaignFacts,
    candidates,
)
from optimizer.store.rows import decision_row, reward_row

INF = math.inf
ID_MAX = LIMITS["event_id"]
NAME_MAX = min(LIMITS["campaign"], LIMITS["segment"], LIMITS["action"], LIMITS["policy"])
KEY_MAX, VALUE_MAX, KIND_MAX = LIMITS["context key"], LIMITS["context value"], LIMITS["kind"]
CACHE = 4_096  # candidate lists remembered as valid


def _name(value: Any, limit: int = NAME_MAX) -> bool:
    """A plain, stripped, bounded string without NUL."""
    return (
        type(value) is str
        and 0 < len(value) <= limit
        and value.strip() is value
        and "\x00" not in value
    )


def _or(value: Any, default: str) -> Any:
    """``default`` for a missing value (None or ""), as the full validation reads it."""
    return default if value is None or value == "" else value


def _number(value: Any) -> float | None:
    """A finite number (or its text), else None."""
    t = type(value)
    if t is float or t is int:
        out = float(value)
    elif t is str:
        try:
            out = float(value)
        except ValueError:
            return None
    else:
        return None
    return out if -INF < out < INF else None


def _time(value: Any) -> datetime | None:
    if type(value) is str:
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            return None
    elif type(value) is datetime:
        ts = value
    else:
        return None
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts if ts.tzinfo is UTC else ts.astimezone(UTC)


def _feature(value: Any, text: bool) -> str | float | None:
    """A context value: a bounded string (a number when it is the text of one and ``text``,
    as for flat ``ctx_`` columns), or a finite number; None when unusual."""
    t = type(value)
    if t is float or t is int:
        out = float(value)
        return out if -INF < out < INF else None
    if t is not str:
        return None
    if text:
        try:
            out = float(value)
        except ValueError:
            pass
        else:
            if -INF < out < INF:
                return out
    return value if len(value) <= VALUE_MAX and "\x00" not in value else None


def _context(row: dict) -> dict[str, str | float] | None:
    ctx = row.get("context")
    if ctx is not None:
        if type(ctx) is not dict:
            return None
        items, text = ctx.items(), False
    elif "context" in row:
        return None
    else:
        items, text = [(k[4:], v) for k, v in row.items() if k[:4] == "ctx_"], True
    if len(items) > MAX_CONTEXT_FEATURES:
        return None
    out: dict[str, str | float] = {}
    for key, value in items:
        if type(key) is not str or len(key) > KEY_MAX or "\x00" in key:
            return None
        clean = _feature(value, text)
        if clean is None:
            return None
        out[key] = clean
    return out


class FastEvents:
    """Checks and builds common event rows; see the module's docstring."""

    def __init__(
        self, facts: Callable[[str], CampaignFacts | None], default_campaign: str | None
    ) -> None:
        self.facts = facts
        self.default_campaign = default_campaign
        self._lists: dict[Any, tuple[str, ...]] = {}  # raw candidate list -> its valid ids
        self._names: set[str] = set()  # names seen to be plain, stripped and bounded
        self._campaigns: dict[str, CampaignFacts | None] = {}

    def _name(self, value: Any) -> bool:
        """``_name(value)``, remembered: actions, campaigns, policies repeat row after row."""
        if type(value) is not str:
            return False
        if value in self._names:
            return True
        if not _name(value):
            return False
        if len(self._names) >= CACHE:
            self._names.clear()
        self._names.add(value)
        return True

    def _facts(self, campaign: str) -> CampaignFacts | None:
        if campaign not in self._campaigns:
            self._campaigns[campaign] = self.facts(campaign)
        return self._campaigns[campaign]

    def event(self, row: dict) -> tuple[dict | None, dict | None] | None:
        event_id = row.get("event_id")
        ts = _time(row.get("timestamp"))
        if ts is None or not _name(event_id, ID_MAX):
            return None
        if "action" not in row:
            reward = self.reward(event_id, ts, row) if "reward" in row else None
            return None if reward is None else (None, reward)
        decision = self.decision(event_id, ts, row)
        if decision is None:
            return None
        if "reward" not in row:
            return decision, None
        reward = self.reward(event_id, ts, row)
        return None if reward is None else (decision, reward)

    def decision(self, event_id: str, ts: datetime, row: dict) -> dict | None:
        get = row.get
        action, p = get("action"), _number(get("probability"))
        campaign = get("campaign") or self.default_campaign
        if p is None or not 0.0 < p <= 1.0 or not self._name(action) or not self._name(campaign):
            return None
        facts = self._facts(campaign)
        if facts is None:
            return None
        segment = get("segment")
        if segment is not None and segment != "":
            if not self._name(segment) or segment not in facts.segments:
                return None
        else:
            segment = None
        listed = self.candidates(row, action, facts)
        ctx = _context(row)
        policy, version = _or(get("policy"), "logged"), _or(get("policy_version"), "logged")
        if listed is None or ctx is None or not self._name(policy) or not self._name(version):
            return None
        return decision_row(
            event_id=event_id,
            timestamp=ts,
            campaign=campaign,
            segment=segment,
            context=ctx,
            candidates=listed,
            chosen=action,
            probability=p,
            policy=policy,
            policy_version=version,
        )

    def candidates(self, row: dict, action: str, facts: CampaignFacts) -> tuple | None:
        """The valid candidate ids (() when none are logged and ``action`` is a creative of
        the campaign), or None when unusual."""
        raw = row.get("candidates")
        if raw is None:
            return () if action in facts.creatives else None
        key = raw if type(raw) is str else tuple(raw) if type(raw) is list else None
        if key is None:
            return None
        ids = self._lists.get(key)
        if ids is None:
            try:
                ids = tuple(candidates({"candidates": raw}, action) or ())
            except BadRow:
                return None
            if type(key) is tuple and key != ids:  # ids that are not strings: the slow way
                return None
            if len(self._lists) >= CACHE:
                self._lists.clear()
            self._lists[key] = ids
        return ids if action in ids else None

    def reward(self, event_id: str, ts: datetime, row: dict) -> dict | None:
        value, kind = _number(row["reward"]), _or(row.get("kind"), "click")
        if value is None or not _name(kind, KIND_MAX):
            return None
        return reward_row(event_id=event_id, kind=kind, value=value, timestamp=ts)
