"""Group commit: requests enqueue their event and await the next batched write.

A request is answered only after the transaction holding its event has committed, so an
acknowledged decision or reward survives ``kill -9``; yet there is one commit per batch,
not per request: while one batch is being written the next one fills up. Each write
classifies every event in it (new, duplicate, unknown, late, not activated) with a few
queries per batch, and inserts with ``ON CONFLICT DO NOTHING ... RETURNING`` so two
workers racing on the same id store it once and only one of them is told it is new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from optimizer.errors import OptimizerError
from optimizer.serve import metrics
from optimizer.serve.tables import SqliteTables as _SqliteTables
from optimizer.serve.tables import Tables as _Tables
from optimizer.store import rows
from optimizer.store.engine import EVENTS_LOCK, begin_write, write_transaction

log = logging.getLogger("optimizer.serve")


@dataclass(frozen=True)
class RankOp:
    row: dict[str, Any]  # a decision row from ``store.rows.decision_row``
    deferred: bool
    caller_id: bool = True  # False: a fresh uuid, which cannot be taken already


@dataclass(frozen=True)
class ActivateOp:
    event_id: str
    campaign: str
    at: datetime


@dataclass(frozen=True)
class RewardOp:
    event_id: str
    campaign: str
    kind: str
    value: float
    at: datetime
    window: timedelta


@dataclass(frozen=True)
class Outcome:
    status: str  # new | duplicate | activated | active | recorded | late | unknown | inactive
    detail: Any = None  # the stored chosen action of a duplicate rank


class StoreUnavailable(OptimizerError):
    """The batch could not be written; nothing in it was acknowledged."""


# candidate sets written through each engine (a set never changes once stored)
_KNOWN_SETS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _json_row(row: dict) -> dict:
    return {**row, "timestamp": row["timestamp"].isoformat(), "candidates": list(row["candidates"])}


def _ranks(t: _Tables, ops: list[tuple[int, RankOp]], out: list[Outcome | None]) -> None:
    ids = [op.row["event_id"] for _, op in ops if op.caller_id]
    taken = t.taken(ids) if ids else {}
    live, deferred, seen = [], [], set()
    for i, op in ops:
        event_id = op.row["event_id"]
        if event_id in taken or event_id in seen:
            out[i] = Outcome("duplicate", taken.get(event_id))
            continue
        seen.add(event_id)
        if op.deferred:
            deferred.append(
                (
                    i,
                    dict(
                        event_id=event_id,
                        campaign=op.row["campaign"],
                        decision=_json_row(op.row),
                        created_at=op.row["timestamp"],
                    ),
                )
            )
        else:
            live.append((i, op.row))
    new = t.insert_decisions([r for _, r in live])
    if deferred:
        new |= t.insert_deferred([r for _, r in deferred])
    for i, r in live + deferred:
        out[i] = Outcome("new") if r["event_id"] in new else Outcome("duplicate")


def _activations(t: _Tables, ops: list[tuple[int, ActivateOp]], out: list[Outcome | None]) -> None:
    ids = [op.event_id for _, op in ops]
    waiting = t.deferred(ids)
    live = {event_id: campaign for event_id, (campaign, _) in t.decided(ids).items()}
    for i, op in ops:
        row = waiting.get(op.event_id)
        if row is None or row.campaign != op.campaign:
            known = live.get(op.event_id) == op.campaign
            out[i] = Outcome("active" if known else "unknown")
            continue
        if row.activated_at is not None or op.event_id in live:
            out[i] = Outcome("active")
            continue
        # the reward window starts at activation: the decision is stored with that time
        fields = {k: row.decision[k] for k in ACTIVATED_FIELDS}
        t.insert_decisions([rows.decision_row(**fields, timestamp=op.at)])
        t.activate(op.event_id, op.at)
        live[op.event_id] = op.campaign
        out[i] = Outcome("activated")


# What an activated decision keeps of its deferred row: all but the time, which becomes the
# activation's.
ACTIVATED_FIELDS = ("event_id", *(c for c in rows.DECISION_CONTENT if c != "timestamp"))


def _rewards(t: _Tables, ops: list[tuple[int, RewardOp]], out: list[Outcome | None]) -> None:
    ids = [op.event_id for _, op in ops]
    decided = t.decided(ids)
    waiting = t.waiting(ids)
    fresh = []
    for i, op in ops:
        found = decided.get(op.event_id)
        if found is None or found[0] != op.campaign:
            out[i] = Outcome("inactive" if op.event_id in waiting else "unknown")
            continue
        late = op.at - found[1] > op.window
        out[i] = Outcome("late" if late else "recorded")
        fresh.append(
            (
                i,
                rows.reward_row(
                    event_id=op.event_id, kind=op.kind, value=op.value, timestamp=op.at
                ),
            )
        )
    new = t.insert_rewards([r for _, r in fresh])
    for i, r in fresh:  # a key stored before, or twice in this batch: only one is new
        key = (r["event_id"], r["kind"])
        if key in new:
            new.discard(key)
        else:
            out[i] = Outcome("duplicate")


def write_batch(engine, ops: Sequence[Any], conn=None) -> list[Outcome]:
    """Write one batch in one transaction, serialised with other event writers (ingest):
    decisions, then activations, then rewards (a reward may follow its decision in the
    same batch). Returns one outcome per op. ``conn``: a SQLite connection of ``engine``
    that the caller holds between batches (not in a transaction); default: one from the
    pool."""
    out: list[Outcome | None] = [None] * len(ops)
    groups: dict[type, list] = {RankOp: [], ActivateOp: [], RewardOp: []}
    for i, op in enumerate(ops):
        groups[type(op)].append((i, op))
    known = _KNOWN_SETS.setdefault(engine, set())
    transaction = write_transaction(engine, EVENTS_LOCK) if conn is None else begin_write(conn)
    with transaction as conn:
        t = (_SqliteTables if conn.dialect.name == "sqlite" else _Tables)(conn, known)
        if groups[RankOp]:
            _ranks(t, groups[RankOp], out)
        if groups[ActivateOp]:
            _activations(t, groups[ActivateOp], out)
        if groups[RewardOp]:
            _rewards(t, groups[RewardOp], out)
    known.update(t.new_sets)  # only once committed
    return [o for o in out if o is not None]


CHECKPOINT_S = 1.0  # SQLite: how often the journal checkpoints the WAL
SQLITE_AUTOCHECKPOINT = 1000  # pages; SQLite's default, restored on a connection given back


class Journal:
    """The group-commit writer of one worker: requests enqueue and await; one batch is
    written at a time, the next fills while it is written."""

    def __init__(
        self, engine, linger: float = 0.0, max_batch: int = 1000, inline: bool = True
    ) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise OptimizerError(
                f"serve needs SQLite or PostgreSQL, not {engine.dialect.name}; "
                "use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
            )
        self.engine = engine
        self.linger = linger
        self.max_batch = max_batch
        # inline: write on the event loop's thread. A writer thread would have to win the
        # GIL back from the busy loop after every database call (up to the 5 ms switch
        # interval each time), which turned 0.5 ms writes into 20-50 ms under load.
        self.inline = inline
        self._queue: list[tuple[Any, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="journal")
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.batches = 0
        self._conn: Any = None  # SQLite: the connection batches are written on
        self._checkpointer: asyncio.Task | None = None

    def _write(self, ops: list[Any]) -> list[Outcome]:
        """Write one batch. On SQLite every batch goes on one held connection: a pool
        checkout and reset per batch cost as much CPU as the transaction's own statements.
        PostgreSQL takes one from the pool each time (a held connection would not survive
        a server restart)."""
        if self.engine.dialect.name != "sqlite":
            return write_batch(self.engine, ops)
        if self._conn is None:
            self._conn = self.engine.connect()
            # Checkpoints (copying the WAL into the database file, with an fsync) ran
            # inside a commit every ~1,000 WAL pages and stalled the event loop for 2-45
            # ms each time; on this connection they are off and _checkpoints runs them in
            # a thread instead.
            self._conn.connection.dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
        try:
            return write_batch(self.engine, ops, self._conn)
        except Exception:
            self._close()  # a fresh connection for the next batch
            raise

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # back to the pool as it came
                self._conn.connection.dbapi_connection.execute(
                    f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT}"
                )
                self._conn.close()
            self._conn = None

    def _checkpoint(self) -> None:
        raw = self.engine.raw_connection()
        try:
            raw.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            raw.close()

    async def _checkpoints(self) -> None:
        """SQLite: move the WAL into the database file every CHECKPOINT_S seconds in a
        thread (SQLite runs it without the GIL, and PASSIVE waits for no writer)."""
        while True:
            await asyncio.sleep(CHECKPOINT_S)
            try:
                await asyncio.to_thread(self._checkpoint)
            except Exception:  # the next one catches up; commits do not depend on it
                log.exception("WAL checkpoint failed")

    async def submit(self, op: Any) -> Outcome:
        future = asyncio.get_running_loop().create_future()
        self._queue.append((op, future))
        self._wake.set()
        return await future

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())
        if self.engine.dialect.name == "sqlite":
            self._checkpointer = loop.create_task(self._checkpoints())

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._stopping = True
        self._wake.set()
        if self._checkpointer is not None:
            self._checkpointer.cancel()
        if self._task is not None:
            await self._task
            self._task = None
        self._executor.shutdown(wait=True)
        self._close()

    async def _run(self) -> None:
        while not self._stopping or self._queue:
            await self._wake.wait()
            if self.linger:
                await asyncio.sleep(self.linger)
            await self._flush()

    async def _flush(self) -> None:
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        if not self._queue:
            self._wake.clear()
        if not batch:
            return
        ops = [op for op, _ in batch]
        try:
            if self.inline:
                outcomes = self._write(ops)
            else:
                loop = asyncio.get_running_loop()
                outcomes = await loop.run_in_executor(self._executor, self._write, ops)
        except Exception as exc:  # the database is down or locked: nobody is acknowledged
            log.exception("group commit of %d events failed", len(batch))
            error = StoreUnavailable(f"the store could not be written ({type(exc).__name__})")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        self.batches += 1
        metrics.BATCH.observe(len(batch))
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)
