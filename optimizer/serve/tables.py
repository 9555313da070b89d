"""The queries a batch of the journal makes, on a connection in a write transaction.

``Tables``: SQLAlchemy Core, any backend. ``SqliteTables``: the same queries on SQLite as
SQL text on the DB-API connection (``json_each`` id lists, multi-row ``INSERT ... ON
CONFLICT DO NOTHING RETURNING`` of ``store.rows``' packed values), which costs a fraction
of the CPU per batch; the outcome logic in ``journal`` is written once over both.
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, update

from optimizer.serve.models import DeferredRow
from optimizer.store import rows
from optimizer.store.bulk import insert_ignore, insert_new
from optimizer.store.models import CandidateSetRow, DecisionRow, RewardRow

DECISION = DecisionRow.__table__  # type: ignore[attr-defined]
REWARD = RewardRow.__table__  # type: ignore[attr-defined]
DEFERRED = DeferredRow.__table__  # type: ignore[attr-defined]
CANDIDATE_SET = CandidateSetRow.__table__  # type: ignore[attr-defined]
DECISION_COLUMNS = [c.name for c in DECISION.columns]


class Tables:
    """The queries a batch makes, on a connection in a write transaction (SQLAlchemy Core:
    any backend). Event ids in, plain ids and keys out."""

    def __init__(self, conn, known_sets: set[str]) -> None:
        self.conn = conn
        self.known_sets = known_sets  # candidate sets stored before this transaction
        self.new_sets: set[str] = set()  # those it writes (known once it commits)

    def taken(self, ids: list[str]) -> dict[str, str]:
        """The ids among ``ids`` already ranked, logged or deferred: id -> chosen action."""
        q = select(DECISION.c.event_id, DECISION.c.chosen).where(DECISION.c.event_id.in_(ids))
        taken = dict(self.conn.execute(q).all())
        q = select(DEFERRED.c.event_id, DEFERRED.c.decision).where(DEFERRED.c.event_id.in_(ids))
        for event_id, row in self.conn.execute(q):
            taken[event_id] = row["chosen"]
        return taken

    def _insert_sets(self, decisions: list[dict]) -> None:
        sets = {
            r["candidate_set_id"]: r["candidates"]
            for r in decisions
            if r["candidate_set_id"]
            and r["candidate_set_id"] not in self.known_sets
            and r["candidate_set_id"] not in self.new_sets
        }
        if sets:
            rows = [{"id": k, "size": len(v), "ids": list(v)} for k, v in sets.items()]
            insert_ignore(self.conn, CANDIDATE_SET, rows)
            self.new_sets.update(sets)

    def insert_decisions(self, decisions: list[dict]) -> set[str]:
        """Insert decision rows and their candidate sets; returns the event ids inserted."""
        self._insert_sets(decisions)
        rows = [{c: r[c] for c in DECISION_COLUMNS} for r in decisions]
        return {k for (k,) in insert_new(self.conn, DECISION, rows)}

    def insert_deferred(self, deferred: list[dict]) -> set[str]:
        return {k for (k,) in insert_new(self.conn, DEFERRED, deferred)}

    def deferred(self, ids: list[str]) -> dict[str, Any]:
        """Deferred rows by event id."""
        q = select(DEFERRED).where(DEFERRED.c.event_id.in_(ids))
        return {r.event_id: r for r in self.conn.execute(q)}

    def decided(self, ids: list[str]) -> dict[str, tuple[str, datetime]]:
        """Logged decisions among ``ids``: id -> (campaign, time in UTC)."""
        q = select(DECISION.c.event_id, DECISION.c.campaign, DECISION.c.timestamp)
        found = self.conn.execute(q.where(DECISION.c.event_id.in_(ids)))
        return {r.event_id: (r.campaign, rows.utc(r.timestamp)) for r in found}

    def waiting(self, ids: list[str]) -> set[str]:
        """The ids among ``ids`` ranked with deferActivation and not activated yet."""
        q = select(DEFERRED.c.event_id).where(
            DEFERRED.c.event_id.in_(ids), DEFERRED.c.activated_at.is_(None)
        )
        return set(self.conn.execute(q).scalars())

    def activate(self, event_id: str, at: datetime) -> None:
        self.conn.execute(
            update(DEFERRED)
            .where(DEFERRED.c.event_id == event_id, DEFERRED.c.activated_at.is_(None))
            .values(activated_at=at)
        )

    def insert_rewards(self, rewards: list[dict]) -> set[tuple[str, str]]:
        """Insert reward rows; returns the (event id, kind) keys inserted."""
        return insert_new(self.conn, REWARD, rewards)


class SqliteTables(Tables):
    """On SQLite the queries of every batch (decisions and rewards in, the lookups rewards
    need) go to the DB-API connection as SQL text: SQLAlchemy's work per statement (cache
    key, compiled parameters, result set-up) cost more CPU than SQLite's own. Ids are
    passed as one JSON array (``json_each``), rows as multi-row ``INSERT ... ON CONFLICT DO
    NOTHING RETURNING`` of the values SQLite stores (``store.rows.packer``). The rare
    queries (deferred decisions, candidate sets) stay on SQLAlchemy, in the same
    transaction."""

    def __init__(self, conn, known_sets: set[str]) -> None:
        super().__init__(conn, known_sets)
        self.db = conn.connection.dbapi_connection

    def _select(self, sql: str, ids: list[str]):
        return self.db.execute(sql, (orjson.dumps(ids).decode(),))

    def _insert(self, table, packed: list[tuple]) -> set[tuple]:
        columns = tuple(c.name for c in table.columns)
        keys = tuple(c.name for c in table.primary_key.columns)
        limit = self.db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        per = max(1, min(1000, limit // len(columns)))
        new: set[tuple] = set()
        for start in range(0, len(packed), per):
            chunk = packed[start : start + per]
            sql = _insert_sql(table.name, columns, keys, len(chunk))
            new.update(self.db.execute(sql, list(itertools.chain.from_iterable(chunk))))
        return new

    def taken(self, ids: list[str]) -> dict[str, str]:
        taken = dict(self._select(_IN_DECISIONS.format("event_id, chosen"), ids))
        taken.update(self._select(_DEFERRED_CHOSEN, ids))
        return taken

    def insert_decisions(self, decisions: list[dict]) -> set[str]:
        if not decisions:
            return set()
        self._insert_sets(decisions)
        return {k for (k,) in self._insert(DECISION, [_PACK_DECISION(r) for r in decisions])}

    def decided(self, ids: list[str]) -> dict[str, tuple[str, datetime]]:
        found = self._select(_IN_DECISIONS.format("event_id, campaign, timestamp"), ids)
        return {i: (c, datetime.fromisoformat(t).replace(tzinfo=UTC)) for i, c, t in found}

    def waiting(self, ids: list[str]) -> set[str]:
        return {i for (i,) in self._select(_WAITING, ids)}

    def insert_rewards(self, rewards: list[dict]) -> set[tuple[str, str]]:
        if not rewards:
            return set()
        return self._insert(REWARD, [_PACK_REWARD(r) for r in rewards])


_IDS = "IN (SELECT value FROM json_each(?))"
_IN_DECISIONS = "SELECT {} FROM decision WHERE event_id " + _IDS
_DEFERRED_CHOSEN = (
    "SELECT event_id, json_extract(decision, '$.chosen') FROM deferred_decision "
    f"WHERE event_id {_IDS}"
)
_WAITING = f"SELECT event_id FROM deferred_decision WHERE event_id {_IDS} AND activated_at IS NULL"
_PACK_DECISION = rows.packer(rows.DECISION_COLUMNS)
_PACK_REWARD = rows.packer(rows.REWARD_COLUMNS)


@functools.lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...], keys: tuple[str, ...], n: int) -> str:
    one = "(" + ", ".join("?" * len(columns)) + ")"
    names = ", ".join(f'"{c}"' for c in columns)
    returning = ", ".join(f'"{k}"' for k in keys)
    return (
        f'INSERT INTO "{table}" ({names}) VALUES {", ".join([one] * n)} '
        f"ON CONFLICT DO NOTHING RETURNING {returning}"
    )
