"""The store: SQLite by default, any SQLAlchemy URL (PostgreSQL for several processes).

Stages hand it records; it never hands SQL to the CLI. ``Store`` composes the catalogue
(campaigns, creatives, runs, policies: ``catalog.py``) and the event reads
(``queries.py``) with the event writes below (``events.py`` does the writing): batched,
idempotent, and refusing conflicting duplicates. Opening a store creates or upgrades its
schema (``schema.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from optimizer.errors import OptimizerError
from optimizer.records import Feedback
from optimizer.store.bulk import insert_ignore
from optimizer.store.catalog import CatalogMixin
from optimizer.store.engine import connect, write_transaction
from optimizer.store.events import QUARANTINE, EventBatch, EventWriter, Written
from optimizer.store.queries import EventQueriesMixin
from optimizer.store.rows import decision_row, feedback_rows, report_row, reward_row
from optimizer.store.schema import initialise

FLUSH_EVERY = 5_000


class Store(CatalogMixin, EventQueriesMixin):
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = connect(url)
        initialise(self.engine, url)
        self._writer = EventWriter(self.engine)
        self._queued = EventBatch()

    # -- events --------------------------------------------------------------------------------
    def log(self, feedbacks: Iterable[Feedback], run_id: str | None = None) -> None:
        """Queue decisions and rewards; written in batches of ``FLUSH_EVERY`` events."""
        for fb in feedbacks:
            decision, reward = feedback_rows(fb, run_id)
            self._queued.add(len(self._queued.rows[0]), decision, reward)
        if len(self._queued.rows[0]) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> tuple[int, int]:
        """Write queued events; returns (new decisions, new rewards)."""
        batch, self._queued = self._queued, EventBatch()
        written = self._write_strict(batch)
        return written.decisions, written.rewards

    def write_events(self, batch: EventBatch) -> Written:
        """Write a batch in one transaction; conflicting input rows are quarantined with
        ``batch.conflict_row`` and reported in ``Written.conflicts`` (see ``events.py``)."""
        if not len(batch):
            return Written()
        return self._writer.write(batch)

    def insert_events(
        self, decisions: Sequence[dict], rewards: Sequence[dict], reports: Sequence[dict] = ()
    ) -> tuple[int, int, int]:
        """Insert already-validated event rows (the keyword arguments of ``rows.decision_row``,
        ``reward_row`` and ``report_row``); returns how many of each were new."""
        batch = EventBatch()
        for i, d in enumerate(decisions):
            batch.add(i, decision=decision_row(**{k: v for k, v in d.items() if k != "digest"}))
        for i, r in enumerate(rewards, start=len(decisions)):
            batch.add(i, reward=reward_row(**{k: v for k, v in r.items() if k != "digest"}))
        for i, r in enumerate(reports, start=len(decisions) + len(rewards)):
            batch.add(i, report=report_row(**{k: v for k, v in r.items() if k != "digest"}))
        written = self._write_strict(batch)
        return written.decisions, written.rewards, written.reports

    def _write_strict(self, batch: EventBatch) -> Written:
        """Write rows from the program itself: a conflicting duplicate is an error."""
        if not len(batch):
            return Written()
        batch.conflict_row = None
        written = self._writer.write(batch)
        if written.conflicts:
            n, first = len(written.conflicts), next(iter(written.conflicts.values()))
            raise OptimizerError(
                f"{n} event(s) not stored in {self.url}: {first}; event ids must be unique "
                "(use a new run or a fresh database)"
            )
        return written

    def quarantine(self, rows: Sequence[dict]) -> int:
        """Store quarantine rows (``rows.quarantine_row``); returns how many were new."""
        if not rows:
            return 0
        with write_transaction(self.engine) as conn:
            return insert_ignore(conn, QUARANTINE, rows)
