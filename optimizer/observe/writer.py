"""The writing side of ingestion: batches of one file go to the store in a background
thread, so that parsing the next batch overlaps with the database's work (SQLite releases
the GIL while it inserts). At most two batches wait, so memory stays flat.

A batch the database refuses as a whole (a value it cannot store) is written again row by
row, and the rows it refuses are quarantined, so one bad row never loses the others.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError, StatementError

from optimizer.observe.readers import raw_text
from optimizer.observe.validate import BadRow
from optimizer.store import EventBatch, Written
from optimizer.store.rows import quarantine_row


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
    """Collects the rows of one file into batches and writes them (``add``, ``bad``,
    ``flush``; ``close`` waits for the last one and raises what the writer raised)."""

    def __init__(self, store, file: str, digest: str, background: bool = True) -> None:
        self.store, self.file, self.digest = store, file, digest
        self.tally = Tally()  # the writer's counts: stored, duplicates, conflicts
        self.batch, self.raws = self._new()
        self._error: BaseException | None = None
        self._queue: queue.Queue | None = None
        if background:
            self._queue = queue.Queue(maxsize=1)
            self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
            self._thread.start()

    def _new(self) -> tuple[EventBatch, dict[int, Any]]:
        """An empty batch, and the raw rows by line that its quarantine rows quote."""
        raws: dict[int, Any] = {}

        def conflict_row(line: int, reason: str) -> dict:
            return quarantine_row(self.file, self.digest, line, reason, raw_text(raws[line]))

        return EventBatch(conflict_row=conflict_row), raws

    def add(self, line: int, parts: tuple, raw: Any) -> None:
        self.batch.add(line, *parts)
        self.raws[line] = raw

    def bad(self, line: int, exc: BadRow, raw: Any, tally: Tally) -> None:
        row = quarantine_row(self.file, self.digest, line, str(exc), raw_text(raw))
        self.batch.quarantine.append(row)
        tally.bad(exc.summary)

    def flush(self) -> None:
        batch = self.batch
        self.batch, self.raws = self._new()
        if self._queue is None:
            self._write(batch)
            return
        self._raise()
        self._queue.put(batch)

    def close(self) -> None:
        """Write what is left, wait for the writer, and raise its error if it had one."""
        if self.batch.rows != ([], [], []) or self.batch.quarantine:
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
        parts: dict[int, list] = {}
        for kind, (rows, sources) in enumerate(zip(batch.rows, batch.sources, strict=True)):
            for row, line in zip(rows, sources, strict=True):
                parts.setdefault(line, [None, None, None])[kind] = row
        refused = []
        for line, (decision, reward, report) in parts.items():
            one = EventBatch(conflict_row=batch.conflict_row)
            one.add(line, decision, reward, report)
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
