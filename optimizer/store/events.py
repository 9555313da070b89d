"""Event writes: decisions, rewards and report rows, append-only and idempotent.

A batch is written in one serialised write transaction. A row whose key is already stored
with the same content digest is an identical re-send: a no-op, counted as a duplicate. A
row whose key is stored with different content is a conflicting duplicate: the input row it
came from is not stored at all (none of its parts) and is quarantined with the field that
differs, in the same transaction. Candidate lists are stored once in ``candidate_set``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from optimizer.store.bulk import (
    IN_CHUNK,
    digests,
    insert_ignore,
    insert_new,
    pg_insert_new,
    sqlite_insert_count,
)
from optimizer.store.engine import EVENTS_LOCK, write_transaction
from optimizer.store.models import (
    CandidateSetRow,
    DecisionRow,
    QuarantineRow,
    ReportRow,
    RewardRow,
)
from optimizer.store.rows import DECISION_CONTENT, REPORT_CONTENT, REPORT_KEY, REWARD_CONTENT

DECISION = DecisionRow.__table__  # type: ignore[attr-defined]
REWARD = RewardRow.__table__  # type: ignore[attr-defined]
REPORT = ReportRow.__table__  # type: ignore[attr-defined]
CANDIDATE_SET = CandidateSetRow.__table__  # type: ignore[attr-defined]
QUARANTINE = QuarantineRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Kind:
    """One kind of event row: its table, key and content columns, and how to name it."""

    table: Any
    key: tuple[str, ...]
    content: tuple[str, ...]
    describe: Callable[[dict], str]


DECISIONS = Kind(DECISION, ("event_id",), DECISION_CONTENT, lambda r: f"event {r['event_id']!r}")
REWARDS = Kind(
    REWARD,
    ("event_id", "kind"),
    REWARD_CONTENT,
    lambda r: f"the {r['kind']!r} reward of event {r['event_id']!r}",
)
REPORTS = Kind(
    REPORT,
    REPORT_KEY,
    REPORT_CONTENT,
    lambda r: (
        f"the report row of creative {r['creative_id']!r} on {r['date']} (segment "
        f"{r['segment']!r}, ad group {r['ad_group']!r})"
    ),
)
KINDS = (DECISIONS, REWARDS, REPORTS)


@dataclass
class EventBatch:
    """Rows from one chunk of input, written in one transaction.

    ``add(source, ...)`` adds the parts of one input row (a decision and its joined reward,
    or a report row); they are stored together or not at all. ``conflict_row(source,
    reason)`` makes the quarantine row of an input row that turns out to conflict.
    """

    rows: tuple[list, list, list] = field(default_factory=lambda: ([], [], []))
    sources: tuple[list, list, list] = field(default_factory=lambda: ([], [], []))
    quarantine: list[dict] = field(default_factory=list)
    conflict_row: Callable[[int, str], dict] | None = None

    def add(
        self,
        source: int,
        decision: dict | None = None,
        reward: dict | None = None,
        report: dict | None = None,
    ) -> None:
        rows, sources = self.rows, self.sources
        if decision is not None:
            rows[0].append(decision)
            sources[0].append(source)
        if reward is not None:
            rows[1].append(reward)
            sources[1].append(source)
        if report is not None:
            rows[2].append(report)
            sources[2].append(source)

    def __len__(self) -> int:
        return sum(len(r) for r in self.rows) + len(self.quarantine)


@dataclass
class Written:
    """What a batch stored: new rows of each kind, identical re-sends (duplicates), and
    the input rows quarantined as conflicting duplicates (source -> reason)."""

    decisions: int = 0
    rewards: int = 0
    reports: int = 0
    duplicates: int = 0
    conflicts: dict[int, str] = field(default_factory=dict)


def _columns(table, row: dict) -> dict:
    return {c.name: row[c.name] for c in table.columns}


def insert_candidate_sets(conn: Connection, decisions: Sequence[dict], known: set[str]) -> None:
    """Store the candidate sets that ``decisions`` name, except those ``known`` to be."""
    sets = {
        r["candidate_set_id"]: r["candidates"]
        for r in decisions
        if r["candidate_set_id"] and r["candidate_set_id"] not in known
    }
    rows = [{"id": k, "size": len(v), "ids": list(v)} for k, v in sets.items()]
    insert_ignore(conn, CANDIDATE_SET, rows)


def insert_decisions(
    conn: Connection, rows: Sequence[dict], known_sets: set[str] | frozenset[str] = frozenset()
) -> set[tuple]:
    """Insert decision rows (from ``rows.decision_row``) and the candidate sets they name
    (except ``known_sets``, known to be stored), in ``conn``'s transaction, skipping event
    ids already stored; returns the keys ``(event_id,)`` inserted."""
    insert_candidate_sets(conn, rows, set(known_sets))
    return insert_new(conn, DECISION, [_columns(DECISION, r) for r in rows])


# Row keys holding the stored (SQLite) form of a column, where it differs from the value.
STORED_AS = {"timestamp": "timestamp_text", "context": "context_json"}


def _insert(conn: Connection, kind: Kind, live: list[tuple[int, dict]]) -> tuple[int, list]:
    """Insert the rows, skipping stored keys: (how many were inserted, the rows that may
    not have been: exactly those on PostgreSQL, all of them on SQLite when any was not)."""
    rows = [r for _, r in live]
    if conn.dialect.name == "sqlite":
        inserted = sqlite_insert_count(conn, kind.table, rows, STORED_AS)
        return inserted, (live if inserted < len(live) else [])
    if conn.dialect.name == "postgresql":
        new = pg_insert_new(conn, kind.table, rows, {"context": "context_json"})
    else:
        new = insert_new(conn, kind.table, [_columns(kind.table, r) for r in rows])
    return len(new), _not_inserted(kind, live, new)


def _conflicts(conn: Connection, kind: Kind, rows: list[tuple[int, dict]]) -> dict[int, str]:
    """Input rows among ``rows`` whose key is stored with other content, with the reason."""
    keys = [_key(kind, r) for _, r in rows]
    if conn.dialect.name in ("sqlite", "postgresql"):
        stored = digests(conn, kind.table, kind.key, keys)
    else:
        stored = {k: r["digest"] for k, r in _stored(conn, kind, keys).items()}
    clashing = [(s, r) for s, r in rows if stored.get(_key(kind, r), r["digest"]) != r["digest"]]
    if not clashing:
        return {}
    earlier = _stored(conn, kind, [_key(kind, r) for _, r in clashing])
    return {
        s: f"conflicting duplicate of {kind.describe(r)} stored earlier: "
        + _difference(kind, earlier[_key(kind, r)], r)
        for s, r in reversed(clashing)  # the first reason of an input row wins
    }


class _Retry(Exception):
    """Roll the transaction back and write the batch again without the conflicting rows."""


def _key(kind: Kind, row: dict) -> tuple:
    return tuple(row[k] for k in kind.key)


def _not_inserted(kind: Kind, rows: list[tuple[int, dict]], new: set[tuple]) -> list:
    """The rows that were not inserted: of those whose key is in ``new``, only the first
    (an insert keeps the first of the same key and skips the rest)."""
    claimed: set[tuple] = set()
    rest = []
    for s, r in rows:
        key = _key(kind, r)
        if key in new and key not in claimed:
            claimed.add(key)
        else:
            rest.append((s, r))
    return rest


def _stored(conn: Connection, kind: Kind, keys: Sequence[tuple]) -> dict[tuple, dict]:
    """Stored rows of ``kind`` by key (looked up by the key's first column)."""
    table, first = kind.table, kind.table.c[kind.key[0]]
    wanted = set(keys)
    firsts = list(dict.fromkeys(k[0] for k in keys))
    out: dict[tuple, dict] = {}
    for start in range(0, len(firsts), IN_CHUNK):
        q = select(table).where(first.in_(firsts[start : start + IN_CHUNK]))
        for r in conn.execute(q).mappings():
            key = tuple(r[k] for k in kind.key)
            if key in wanted:
                out[key] = dict(r)
    return out


def _difference(kind: Kind, stored: dict, row: dict) -> str:
    content = [c if c != "candidates" else "candidate_set_id" for c in kind.content]
    fields = [c for c in content if stored.get(c) != row.get(c)]
    names = [("candidates" if f == "candidate_set_id" else f) for f in fields]
    if not names:
        return "its content differs"
    listed = ", ".join(repr(n) for n in names)
    return f"field {listed} differs" if len(names) == 1 else f"fields {listed} differ"


class EventWriter:
    """Writes event batches to one engine; remembers which candidate sets exist."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self._sets: set[str] = set()

    def write(self, batch: EventBatch) -> Written:
        bad: dict[int, str] = {}
        while True:
            try:
                with write_transaction(self.engine, EVENTS_LOCK) as conn:
                    written, sets = self._attempt(conn, batch, bad)
                    if batch.conflict_row is not None:
                        rows = [batch.conflict_row(s, r) for s, r in sorted(bad.items())]
                        insert_ignore(conn, QUARANTINE, rows)
                    insert_ignore(conn, QUARANTINE, batch.quarantine)
            except _Retry:
                continue
            self._sets |= sets
            written.conflicts = bad
            return written

    def _attempt(
        self, conn: Connection, batch: EventBatch, bad: dict[int, str]
    ) -> tuple[Written, set[str]]:
        written = Written()
        pairs = zip(batch.sources[0], batch.rows[0], strict=True)
        sets = {r["candidate_set_id"] for s, r in pairs if s not in bad and r["candidate_set_id"]}
        live = [r for s, r in zip(batch.sources[0], batch.rows[0], strict=True) if s not in bad]
        insert_candidate_sets(conn, live, self._sets)
        found: dict[int, str] = {}
        for kind, rows, sources, name in zip(
            KINDS, batch.rows, batch.sources, ("decisions", "rewards", "reports"), strict=True
        ):
            live = [(s, r) for s, r in zip(sources, rows, strict=True) if s not in bad]
            inserted, rest = _insert(conn, kind, live)
            setattr(written, name, inserted)
            conflicts = _conflicts(conn, kind, rest) if rest else {}
            written.duplicates += len(live) - inserted - len(conflicts)
            for s, reason in conflicts.items():
                found.setdefault(s, reason)
        if found:
            bad.update(found)
            raise _Retry
        return written, sets
