"""Event writes: decisions, rewards and report rows, append-only and idempotent.

A batch is written in one serialised write transaction. A row whose key is already stored
with the same content digest is an identical re-send: a no-op, counted as a duplicate. A
row whose key is stored with different content is a conflicting duplicate: the input row it
came from is not stored at all (none of its parts) and is quarantined with the field that
differs, in the same transaction. Candidate lists are stored once in ``candidate_set``.

Rows travel packed: tuples in table column order holding what the database stores
(``rows.packer``), so that a batch is inserted with a few multi-row statements (SQLite) or
one ``COPY`` per table (PostgreSQL), and stored digests are read only when a batch stored
fewer rows than it had.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from optimizer.store.bulk import (
    IN_CHUNK,
    digests,
    insert_ignore,
    insert_new,
    pg_insert_rows,
    sqlite_insert_rows,
)
from optimizer.store.engine import EVENTS_LOCK, write_transaction
from optimizer.store.models import (
    CandidateSetRow,
    DecisionRow,
    QuarantineRow,
    ReportRow,
    RewardRow,
)
from optimizer.store.rows import (
    DECISION_CONTENT,
    REPORT_CONTENT,
    REPORT_KEY,
    REWARD_CONTENT,
    packer,
    unpack,
)

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

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.table.columns)

    def key_of(self) -> Callable[[tuple], tuple]:
        """The key of a packed row."""
        at = [self.columns.index(k) for k in self.key]
        return lambda row: tuple(row[i] for i in at)


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
NAMES = ("decisions", "rewards", "reports")
PACK = tuple(packer(kind.columns) for kind in KINDS)


@dataclass
class EventBatch:
    """Rows from one chunk of input, written in one transaction.

    ``add(source, ...)`` adds the parts of one input row (a decision and its joined reward,
    or a report row, as ``rows`` builds them); they are stored together or not at all.
    ``rows[k]`` holds packed rows of ``KINDS[k]`` (``extend`` adds rows packed already)
    and ``sources[k]`` the input row of each; ``sets`` the candidate lists the decisions
    name. ``conflict_row(source, reason)`` makes the quarantine row of an input row that
    turns out to conflict.
    """

    rows: tuple[list, list, list] = field(default_factory=lambda: ([], [], []))
    sources: tuple[list, list, list] = field(default_factory=lambda: ([], [], []))
    sets: dict[str, Sequence[str]] = field(default_factory=dict)
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
            rows[0].append(PACK[0](decision))
            sources[0].append(source)
            if decision["candidate_set_id"]:
                self.sets[decision["candidate_set_id"]] = decision["candidates"]
        if reward is not None:
            rows[1].append(PACK[1](reward))
            sources[1].append(source)
        if report is not None:
            rows[2].append(PACK[2](report))
            sources[2].append(source)

    def extend(self, kind: int, rows: Sequence[tuple], sources: Sequence[int]) -> None:
        """Add packed rows of ``KINDS[kind]``; the caller adds the candidate sets that
        packed decisions name to ``sets``."""
        self.rows[kind].extend(rows)
        self.sources[kind].extend(sources)

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


def insert_candidate_sets(
    conn: Connection, sets: Mapping[str, Sequence[str]], known: set[str] | frozenset[str]
) -> None:
    """Store the candidate sets (id -> ordered ids) not ``known`` to be stored."""
    rows = [{"id": k, "size": len(v), "ids": list(v)} for k, v in sets.items() if k not in known]
    insert_ignore(conn, CANDIDATE_SET, rows)


def _insert(conn: Connection, kind: Kind, sources: list, rows: list) -> tuple[int, list]:
    """Insert packed rows, skipping stored keys: (how many were inserted, the (source, row)
    pairs that may not have been: exactly those on PostgreSQL, all of them on SQLite when
    any was not)."""
    if conn.dialect.name == "sqlite":
        inserted = sqlite_insert_rows(conn, kind.table, rows)
        return inserted, (list(zip(sources, rows, strict=True)) if inserted < len(rows) else [])
    if conn.dialect.name == "postgresql":
        new = pg_insert_rows(conn, kind.table, rows)
    else:
        new = insert_new(conn, kind.table, [unpack(kind.columns, r) for r in rows])
    return len(new), _not_inserted(kind, list(zip(sources, rows, strict=True)), new)


def _conflicts(conn: Connection, kind: Kind, rows: list[tuple[int, tuple]]) -> dict[int, str]:
    """Input rows among ``rows`` whose key is stored with other content, with the reason."""
    key_of, at = kind.key_of(), kind.columns.index("digest")
    keys = [key_of(r) for _, r in rows]
    if conn.dialect.name in ("sqlite", "postgresql"):
        stored = digests(conn, kind.table, kind.key, keys)
    else:
        stored = {k: r["digest"] for k, r in _stored(conn, kind, keys).items()}
    clashing = [(s, r) for s, r in rows if stored.get(key_of(r), r[at]) != r[at]]
    if not clashing:
        return {}
    earlier = _stored(conn, kind, [key_of(r) for _, r in clashing])
    return {
        s: f"conflicting duplicate of {kind.describe(unpack(kind.columns, r))} stored earlier: "
        + _difference(kind, earlier[key_of(r)], unpack(kind.columns, r))
        for s, r in reversed(clashing)  # the first reason of an input row wins
    }


class _Retry(Exception):
    """Roll the transaction back and write the batch again without the conflicting rows."""


def _not_inserted(kind: Kind, rows: list[tuple[int, tuple]], new: set[tuple]) -> list:
    """The rows that were not inserted: of those whose key is in ``new``, only the first
    (an insert keeps the first of the same key and skips the rest)."""
    key_of = kind.key_of()
    claimed: set[tuple] = set()
    rest = []
    for s, r in rows:
        key = key_of(r)
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
                    written = self._attempt(conn, batch, bad)
                    if batch.conflict_row is not None:
                        rows = [batch.conflict_row(s, r) for s, r in sorted(bad.items())]
                        insert_ignore(conn, QUARANTINE, rows)
                    insert_ignore(conn, QUARANTINE, batch.quarantine)
            except _Retry:
                continue
            self._sets.update(batch.sets)
            written.conflicts = bad
            return written

    def _attempt(self, conn: Connection, batch: EventBatch, bad: dict[int, str]) -> Written:
        written = Written()
        insert_candidate_sets(conn, batch.sets, self._sets)
        found: dict[int, str] = {}
        for kind, rows, sources, name in zip(KINDS, batch.rows, batch.sources, NAMES, strict=True):
            if bad:
                pairs = [(s, r) for s, r in zip(sources, rows, strict=True) if s not in bad]
                sources, rows = [s for s, _ in pairs], [r for _, r in pairs]
            inserted, rest = _insert(conn, kind, sources, rows)
            setattr(written, name, inserted)
            conflicts = _conflicts(conn, kind, rest) if rest else {}
            written.duplicates += len(rows) - inserted - len(conflicts)
            for s, reason in conflicts.items():
                found.setdefault(s, reason)
        if found:
            bad.update(found)
            raise _Retry
        return written
