"""A campaign's logged decisions with the rewards stored for them, read for learning and
evaluation: one query (decisions left-joined to their rewards, in time order) read in
chunks, each chunk decoded column by column (times vectorised, contexts with orjson,
candidate sets fetched once per set), so Python builds one row per decision and a few
arrays per reward instead of a row object per (decision, reward) pair.

:func:`read_logged` returns the whole campaign at once; :func:`iter_logged` yields it chunk
by chunk (each chunk whole decisions), for a consumer that works while the next chunk is
read and keeps only a chunk in memory.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import compress
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import String, Text, cast, func, select, type_coerce
from sqlalchemy.engine import Connection, Engine

from optimizer.store.models import CandidateSetRow, DecisionRow, RewardRow

DECISION = DecisionRow.__table__  # type: ignore[attr-defined]
REWARD = RewardRow.__table__  # type: ignore[attr-defined]
CANDIDATE_SET = CandidateSetRow.__table__  # type: ignore[attr-defined]
CHUNK = 50_000  # joined rows decoded at a time
SETS_PER_QUERY = 500  # candidate set ids per IN (...) list
DECISION_COLUMNS = (
    "event_id",
    "timestamp",
    "segment",
    "context",
    "candidates",
    "chosen",
    "probability",
)


@dataclass(frozen=True)
class LoggedEvents:
    """A campaign's decisions and every reward stored for them (of any kind).

    ``decisions``: one row per decision, ordered by (timestamp, event_id), with the columns
    of ``DECISION_COLUMNS``: ``timestamp`` in UTC, ``context`` a dict, ``candidates`` the
    logged list ([] when none was logged; decisions with the same list share one list).
    The reward arrays have one entry per reward, shape (R,): ``reward_of`` the row of its
    decision in ``decisions`` (int64), ``reward_kind`` (object), ``reward_value``
    (float64), ``reward_time`` (datetime64[us], UTC).
    """

    decisions: pd.DataFrame
    reward_of: np.ndarray
    reward_kind: np.ndarray
    reward_value: np.ndarray
    reward_time: np.ndarray

    @property
    def times(self) -> np.ndarray:
        """The decisions' times, datetime64[us] (UTC), shape (N,)."""
        return self.decisions["timestamp"].dt.tz_convert(None).to_numpy("datetime64[us]")


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a read or an ingest builds millions of objects
    but no cycles (reference counting still frees everything): each full collection would
    walk the growing columns (measured: half of the read's CPU time at 1M events), and in
    ingestion its passes cost more than parsing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_logged(conn: Connection, campaign: str, chunk: int = CHUNK) -> LoggedEvents:
    """The decisions of ``campaign`` and their rewards (see :class:`LoggedEvents`), read
    ``chunk`` joined rows at a time (a server-side cursor on PostgreSQL)."""
    with paused_gc():
        result = conn.execution_options(stream_results=True).execute(_query(conn, campaign))
        columns = _Columns()
        for rows in result.partitions(chunk):
            columns.add(rows)
        sets = candidate_sets(conn, {k for k in columns.set_ids if k is not None})
        return columns.finish(sets)


class OutOfOrder(Exception):
    """The stored times' text forms order the decisions otherwise than their times (see
    :func:`_in_time_order`): only a whole read can put them in time order."""


def iter_logged(engine: Engine, campaign: str, chunk: int = CHUNK) -> Iterator[LoggedEvents]:
    """The decisions of ``campaign`` and their rewards as :func:`read_logged` reads them, in
    consecutive parts of about ``chunk`` joined rows: each part holds whole decisions (the
    rows of its last decision wait for the next read) and its ``reward_of`` points into its
    own ``decisions``, whose columns have the dtypes of the whole read's (pandas infers the
    string dtype, missing values NaN, for segments when any decision has one; a part whose
    decisions have none gets it too). Raises :class:`OutOfOrder` on reaching a decision
    earlier than the one before it (what :func:`read_logged` would sort), after yielding
    the parts before."""
    sets: dict[str, list[str]] = {}
    with engine.connect() as conn:
        segmented = select(DECISION.c.event_id).where(
            DECISION.c.campaign == campaign, DECISION.c.segment.is_not(None)
        )
        segmented = conn.execute(segmented.limit(1)).first() is not None
        result = conn.execution_options(stream_results=True).execute(_query(conn, campaign))
        parts = result.partitions(chunk)
        held: list = []  # the rows of the last decision read, whose rewards may continue
        last = None  # the time of the last decision yielded
        while True:
            with paused_gc():
                rows = next(parts, None)
                if rows is None:
                    rows, held = held, []
                else:
                    rows, held = _whole_decisions(held + list(rows))
                if not rows:
                    if held:
                        continue
                    return
                columns = _Columns()
                columns.add(rows)
                times = _concat(columns.times, "datetime64[us]")
                if (last is not None and times[0] < last) or (times[1:] < times[:-1]).any():
                    raise OutOfOrder(f"decisions of {campaign!r} stored out of time order")
                last = times[-1]
                new = {k for k in columns.set_ids if k is not None and k not in sets}
                sets.update(candidate_sets(conn, new))
                part = columns.finish(sets)
                if segmented and part.decisions["segment"].dtype == object:  # all None
                    part.decisions["segment"] = pd.Series(columns.segments, dtype="str")
            yield part


def _whole_decisions(rows: list) -> tuple[list, list]:
    """``rows`` split before the rows of their last decision (``([], rows)`` when all of
    them are that decision's)."""
    end, last = len(rows), rows[-1][0] if rows else None
    while end and rows[end - 1][0] == last:
        end -= 1
    return rows[:end], rows[end:]


def decision_count(engine: Engine, campaign: str) -> int:
    """The number of decisions stored for ``campaign``."""
    q = select(func.count()).select_from(DECISION).where(DECISION.c.campaign == campaign)
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def _query(conn: Connection, campaign: str):
    """Decisions left-joined to their rewards, in (time, event id) order, so a decision's
    rows are adjacent. Times and contexts come back as stored (no per-row conversion); on
    PostgreSQL event ids order by code point, as Python orders strings."""
    d, r = DECISION, REWARD
    postgresql = conn.dialect.name == "postgresql"
    event_id = d.c.event_id.collate("C") if postgresql else d.c.event_id

    def stored(time):  # PostgreSQL: naive UTC datetimes (the column has a time zone)
        return func.timezone("UTC", time) if postgresql else type_coerce(time, String)

    return (
        select(
            d.c.event_id,
            stored(d.c.timestamp),
            d.c.segment,
            cast(d.c.context, Text),
            d.c.candidate_set_id,
            d.c.chosen,
            d.c.probability,
            r.c.kind,
            r.c.value,
            stored(r.c.timestamp),
        )
        .select_from(d.outerjoin(r, r.c.event_id == d.c.event_id))
        .where(d.c.campaign == campaign)
        .order_by(d.c.timestamp, event_id)
    )


def candidate_sets(conn: Connection, ids: set[str]) -> dict[str, list[str]]:
    """Set id -> the stored list of candidate ids, one query per ``SETS_PER_QUERY`` ids."""
    wanted, out = sorted(ids), {}
    for start in range(0, len(wanted), SETS_PER_QUERY):
        some = wanted[start : start + SETS_PER_QUERY]
        q = select(CANDIDATE_SET.c.id, cast(CANDIDATE_SET.c.ids, Text))
        rows = conn.execute(q.where(CANDIDATE_SET.c.id.in_(some)))
        out.update((k, orjson.loads(v)) for k, v in rows)
    return out


def _times(values: Sequence[Any]) -> np.ndarray:
    """Stored times (SQLite's text, naive UTC datetimes, None; aware datetimes from another
    backend's driver) as datetime64[us] in UTC."""
    some = next((v for v in values if v is not None), None)
    if isinstance(some, datetime) and some.tzinfo is not None:
        return pd.to_datetime(list(values), utc=True).tz_convert(None).to_numpy("M8[us]")
    return np.array(values, dtype="datetime64[us]")


class _Columns:
    """The decoded columns of the chunks read so far."""

    def __init__(self) -> None:
        self.event_ids: list[str] = []
        self.segments: list[str | None] = []
        self.contexts: list[dict] = []
        self.set_ids: list[str | None] = []
        self.chosen: list[str] = []
        self.times: list[np.ndarray] = []
        self.probabilities: list[np.ndarray] = []
        self.rewards: list[tuple[np.ndarray, ...]] = []  # (row of decision, kind, value, time)
        self.last: str | None = None  # the event id of the last row read

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        ids, times, segments, contexts, set_ids, chosen, probs, kinds, values, rtimes = zip(
            *rows, strict=True
        )
        keys = np.array(ids, dtype=object)
        new = np.empty(len(keys), dtype=bool)  # the first row of a decision
        new[0] = keys[0] != self.last
        np.not_equal(keys[1:], keys[:-1], out=new[1:])
        self.last = keys[-1]
        if new.all():  # one row per decision (at most one reward each): nothing to skip
            first = tuple
            row_of = np.arange(len(self.event_ids), len(self.event_ids) + len(keys))
        else:
            selectors = new.tolist()

            def first(column: tuple) -> tuple:
                return tuple(compress(column, selectors))

            row_of = len(self.event_ids) - 1 + np.cumsum(new)
        self.event_ids.extend(first(ids))
        self.times.append(_times(first(times)))
        self.segments.extend(first(segments))
        self.contexts.extend(map(orjson.loads, first(contexts)))
        self.set_ids.extend(first(set_ids))
        self.chosen.extend(first(chosen))
        self.probabilities.append(np.array(first(probs), dtype=np.float64))
        if None in kinds:  # a decision without any reward
            has = np.not_equal(np.array(kinds, dtype=object), None)
            row_of = row_of[has]
            kinds, values, rtimes = (
                tuple(compress(c, has.tolist())) for c in (kinds, values, rtimes)
            )
        if len(kinds):
            kind = np.array(kinds, dtype=object)
            self.rewards.append((row_of, kind, np.array(values, np.float64), _times(rtimes)))

    def finish(self, sets: dict[str, list[str]]) -> LoggedEvents:
        empty: list[str] = []
        times = _concat(self.times, "datetime64[us]")
        frame = pd.DataFrame(
            {
                "event_id": self.event_ids,
                "timestamp": times,
                "segment": self.segments,
                "context": self.contexts,
                "candidates": [empty if k is None else sets[k] for k in self.set_ids],
                "chosen": self.chosen,
                "probability": _concat(self.probabilities, np.float64),
            },
            columns=list(DECISION_COLUMNS),
        )
        frame["timestamp"] = frame["timestamp"].dt.tz_localize("UTC")
        parts = list(zip(*self.rewards, strict=True)) or [()] * 4
        dtypes = (np.int64, object, np.float64, "datetime64[us]")
        of, kind, value, time = (_concat(p, t) for p, t in zip(parts, dtypes, strict=True))
        if (times[1:] < times[:-1]).any():
            frame, of = _in_time_order(frame, of)
        return LoggedEvents(frame, of, kind, value, time)


def _concat(parts: Sequence[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)


def _in_time_order(frame: pd.DataFrame, reward_of: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """``frame`` sorted by (timestamp, event_id), and ``reward_of`` pointing into it (the
    query's order is that one unless stored times differ in their text form)."""
    order = frame.sort_values(["timestamp", "event_id"]).index.to_numpy()
    where = np.empty_like(order)
    where[order] = np.arange(len(order))
    return frame.iloc[order].reset_index(drop=True), where[reward_of]
