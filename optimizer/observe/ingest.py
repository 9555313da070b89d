"""Ingest an ad server's logs: decisions, rewards, VW DSJSON and aggregated reports.

Files are streamed (``readers.py``) and written in batches, so memory stays flat for any
file size. A bad row never aborts the file and is never dropped: it goes to the
``quarantine`` table with the file, line and reason (``validate.py`` says why). Inserts are
idempotent by event id and content: re-ingesting a file, or a file whose ingestion was
killed half-way, stores each event exactly once; a row that reuses a stored event id with
different content is quarantined as a conflicting duplicate.

Formats (see README, "Log formats", and ``examples/``):

- decision events: ``event_id``, ``timestamp`` (ISO 8601), ``campaign``, optional
  ``segment``, ``context`` (an object; flat ``ctx_*`` columns in CSV/Parquet), ``action``,
  ``probability`` in (0, 1], optional ``candidates`` (list; ``|``-separated in CSV),
  optional ``reward`` (and ``kind``) when the log is already joined;
- reward events: ``event_id``, ``timestamp``, ``reward``, optional ``kind``;
- VW decision-service JSON (DSJSON), one event a line;
- aggregated reports (CSV): ``campaign``, ``segment``, ``creative_id`` or ``headline`` and
  ``body``, ``date``, ``impressions``, ``clicks``, optional ``conversions`` and
  ``ad_group`` (an A/B test or ad set).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError, StatementError

from optimizer.errors import InputError
from optimizer.identity import file_digest
from optimizer.observe.readers import READERS, detect, estimate_rows, raw_text
from optimizer.observe.validate import BadRow, CampaignFacts, Validator
from optimizer.store import EventBatch, Written
from optimizer.store.rows import quarantine_row

BATCH = 5_000  # input rows per transaction

Progress = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class IngestReport:
    """What ingesting one file did; ``as_dict()`` is its JSON."""

    file: str
    format: str
    read: int = 0
    decisions: int = 0
    rewards: int = 0
    reports: int = 0
    duplicates: int = 0  # identical re-sends of stored rows (no-ops)
    quarantined: int = 0  # bad rows and conflicting duplicates
    reasons: dict[str, int] = field(default_factory=dict)  # quarantined rows per reason

    @property
    def stored(self) -> int:
        return self.decisions + self.rewards + self.reports

    def as_dict(self) -> dict:
        return {**asdict(self), "stored": self.stored}


@dataclass
class _Tally:
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


def campaign_facts(store) -> Callable[[str], CampaignFacts | None]:
    """Looks up (once per campaign) what rows of a campaign are checked against."""
    names = {c.name for c in store.campaigns()}
    cache: dict[str, CampaignFacts | None] = {}

    def facts(name: str) -> CampaignFacts | None:
        if name not in cache:
            cache[name] = (
                CampaignFacts(
                    frozenset(s.name for s in store.segments(name)),
                    frozenset(store.creative_ids(name)),
                )
                if name in names
                else None
            )
        return cache[name]

    return facts


def _parser(validator: Validator, fmt: str) -> Callable[[dict], tuple]:
    if fmt == "report":
        return lambda row: (None, None, validator.report(row))
    event = validator.dsjson if fmt == "dsjson" else validator.event
    return lambda row: (*event(row), None)


class _Writer:
    """Writes the batches of one file; a batch the database refuses (a value it cannot
    store) is written again row by row, and the rows it refuses are quarantined."""

    def __init__(self, store, path: Path, digest: str, tally: _Tally) -> None:
        self.store, self.file, self.digest, self.tally = store, str(path), digest, tally
        self.raws: dict[int, Any] = {}
        self.batch = self._new()

    def _new(self) -> EventBatch:
        return EventBatch(conflict_row=self.conflict_row)

    def conflict_row(self, line: int, reason: str) -> dict:
        return quarantine_row(self.file, self.digest, line, reason, raw_text(self.raws[line]))

    def bad(self, line: int, exc: BadRow, raw: Any) -> None:
        row = quarantine_row(self.file, self.digest, line, str(exc), raw_text(raw))
        self.batch.quarantine.append(row)
        self.tally.bad(exc.summary)

    def add(self, line: int, parts: tuple, raw: Any) -> None:
        self.batch.add(line, *parts)
        self.raws[line] = raw

    def flush(self) -> None:
        batch, self.batch = self.batch, self._new()
        try:
            self.tally.add(self.store.write_events(batch))
        except StatementError as exc:
            if isinstance(exc, OperationalError | InterfaceError):
                raise  # the database itself failed (locked, gone): not a row's fault
            self._row_by_row(batch)
        self.raws.clear()

    def _row_by_row(self, batch: EventBatch) -> None:
        parts: dict[int, list] = {}
        for kind, (rows, sources) in enumerate(zip(batch.rows, batch.sources, strict=True)):
            for row, line in zip(rows, sources, strict=True):
                parts.setdefault(line, [None, None, None])[kind] = row
        refused = []
        for line, (decision, reward, report) in parts.items():
            one = self._new()
            one.add(line, decision, reward, report)
            try:
                self.tally.add(self.store.write_events(one))
            except StatementError as exc:
                if isinstance(exc, OperationalError | InterfaceError):
                    raise
                reason = f"the database refused the row: {type(exc.orig or exc).__name__}"
                refused.append(self.conflict_row(line, reason))
                self.tally.bad(reason)
        self.store.quarantine(batch.quarantine + refused)


def ingest_file(
    store,  # optimizer.store.Store
    path: str | Path,
    fmt: str = "auto",
    campaign: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest one file into ``store``; returns the counts (see ``IngestReport``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path")
    fmt = detect(path, fmt)
    parse = _parser(Validator(campaign_facts(store), campaign), fmt)
    tally = _Tally()
    writer = _Writer(store, path, file_digest(path), tally)
    advance = progress(f"ingesting {path.name}", estimate_rows(path, fmt)) if progress else None
    shown = pending = 0
    for line, row, raw, problem in READERS[fmt](path):
        tally.read += 1
        pending += 1
        try:
            if row is None:
                problem = problem or "unreadable row"
                summary = "malformed JSON" if problem.startswith("malformed JSON") else problem
                raise BadRow(problem, summary)
            writer.add(line, parse(row), raw)
        except BadRow as exc:
            writer.bad(line, exc, raw)
        if pending >= BATCH:
            writer.flush()
            pending = 0
            if advance is not None:
                advance(tally.read - shown)
                shown = tally.read
    writer.flush()
    if advance is not None:
        advance(tally.read - shown)
    return IngestReport(file=str(path), format=fmt, **asdict(tally))
