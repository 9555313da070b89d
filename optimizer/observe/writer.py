"""The writing side of ingestion: batches of one file go to the store in a background
thread, so that preparing the next batch overlaps with the database's work (SQLite releases
the GIL while it inserts). At most two batches wait, so memory stays flat.

A batch the database refuses as a whole (a value it cannot store) is written again row by
row, and the rows it refuses are quarantined, so one bad row never loses the others.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError, StatementError

from optimizer.observe.prepare import Prepared
from optimizer.observe.readers import raw_text
from optimizer.observe.validate import BadRow
from optimizer.store import EventBatch, Written
from optimizer.store.rows import DECISION_COLUMNS, quarantine_row

SET_AT = DECISION_COLUMNS.index("candidate_set_id")


@dataclass
class Tally:
    """Counts of one file's ingestion (each instance is updated by one thread only)."""

    read: int = 0
    decisions: int = 0
    rewards: int = 0
    reports: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def bad(self, summary: str) -> None:
        self.quarantined += 1
        key = summary if len(summary) < 80 else summary[:77] + "..."
        self.reasons[key] = self.reasons.get(key, 0) + 1

    def add(self, written: Written) -> None:
        self.decisions += written.decisions
        self.rewards += written.rewards
        self.reports += written.reports
        self.duplicates += written.duplicates
        for _ in written.conflicts:
            self.bad("conflicting duplicate of a stored row")

    def merge(self, other: Tally) -> None:
        for name in ("read", "decisions", "rewards", "reports", "duplicates", "quarantined"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n


def _database_failed(exc: StatementError) -> bool:
    """The database itself failed (locked, gone), which is no row's fault."""
    return isinstance(exc, OperationalError | InterfaceError)


class BatchWriter:
    """Writes the batches of one file: rows from the row readers (``add``, ``bad``,
    ``flush``) or chunks prepared as columns (``put``); ``close`` waits for the last one
    and raises what the writer raised. ``digest``: the file's SHA-256 (or its future), which
    names its quarantine rows."""

    def __init__(
        self, store, file: str, digest: str | Future[str], background: bool = True
    ) -> None:
        self.store, self.file, self._digest = store, file, digest
        self.tally = Tally()  # the writer's counts: stored, duplicates, conflicts
        self.batch, self.raws = self._new()
        self._error: BaseException | None = None
        self._queue: queue.Queue | None = None
        if background:
            self._queue = queue.Queue(maxsize=1)
            self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
            self._thread.start()

    @property
    def digest(self) -> str:
        if isinstance(self._digest, Future):
            self._digest = self._digest.result()
        return self._digest

    def _quarantine_row(self, line: int, reason: str, raw: Any) -> dict:
        return quarantine_row(self.file, self.digest, line, reason, raw_text(raw))

    def _new(self) -> tuple[EventBatch, dict[int, Any]]:
        """An empty batch, and the raw rows by line that its quarantine rows quote."""
        raws: dict[int, Any] = {}
        return EventBatch(
            conflict_row=lambda line, why: self._quarantine_row(line, why, raws[line])
        ), raws

    def add(self, line: int, parts: tuple, raw: Any) -> None:
        self.batch.add(line, *parts)
        self.raws[line] = raw

    def bad(self, line: int, exc: BadRow, raw: Any, tally: Tally) -> None:
        self.batch.quarantine.append(self._quarantine_row(line, str(exc), raw))
        tally.bad(exc.summary)

    def flush(self) -> None:
        batch = self.batch
        self.batch, self.raws = self._new()
        self._send(batch)

    def put(self, prepared: Prepared, tally: Tally, raws: Callable[[], dict[int, str]]) -> None:
        """Write a prepared chunk; ``raws()`` reads its rows' text again (for the quarantine
        rows of conflicting duplicates, which only the database can tell)."""
        known: dict[int, str] = {}

        def conflict_row(line: int, reason: str) -> dict:
            if not known:
                known.update(raws())
            return self._quarantine_row(line, reason, known.get(line, ""))

        batch = EventBatch(conflict_row=conflict_row)
        batch.extend(0, prepared.decisions, prepared.decision_lines)
        batch.extend(1, prepared.rewards, prepared.reward_lines)
        batch.sets.update(prepared.sets)
        for line, reason, summary, raw in prepared.bad:
            batch.quarantine.append(quarantine_row(self.file, self.digest, line, reason, raw))
            tally.bad(summary)
        tally.read += prepared.read
        self._send(batch)

    def _send(self, batch: EventBatch) -> None:
        if self._queue is None:
            self._write(batch)
            return
        self._raise()
        self._queue.put(batch)

    def close(self) -> None:
        """Write what is left, wait for the writer, and raise its error if it had one."""
        if len(self.batch):
            self.flush()
        if self._queue is not None:
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def abandon(self) -> None:
        """Stop after the batch being written (the caller is failing)."""
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        assert self._queue is not None
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the main thread raises the first error
            try:
                self._write(batch)
            except BaseException as exc:  # handed to the main thread
                self._error = exc

    def _write(self, batch: EventBatch) -> None:
        try:
            self.tally.add(self.store.write_events(batch))
        except StatementError as exc:
            if _database_failed(exc):
                raise
            self._row_by_row(batch)

    def _row_by_row(self, batch: EventBatch) -> None:
        """Write each input row of a batch the database refused on its own."""
        parts: dict[int, EventBatch] = {}
        for kind, (rows, sources) in enumerate(zip(batch.rows, batch.sources, strict=True)):
            for row, line in zip(rows, sources, strict=True):
                one = parts.setdefault(line, EventBatch(conflict_row=batch.conflict_row))
                one.extend(kind, [row], [line])
                if kind == 0 and row[SET_AT] in batch.sets:
                    one.sets[row[SET_AT]] = batch.sets[row[SET_AT]]
        refused = []
        for line, one in parts.items():
            try:
                self.tally.add(self.store.write_events(one))
            except StatementError as exc:
                if _database_failed(exc):
                    raise
                reason = f"the database refused the row: {type(exc.orig or exc).__name__}"
                assert batch.conflict_row is not None
                refused.append(batch.conflict_row(line, reason))
                self.tally.bad(reason)
        self.store.quarantine(batch.quarantine + refused)
