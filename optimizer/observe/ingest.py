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

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from optimizer.errors import InputError
from optimizer.identity import file_digest
from optimizer.observe.blocks import CHUNKS, raws
from optimizer.observe.fastpath import FastEvents
from optimizer.observe.prepare import prepare_file
from optimizer.observe.readers import READERS, detect, estimate_rows
from optimizer.observe.validate import BadRow, CampaignFacts, Validator
from optimizer.observe.worker import prepared_elsewhere
from optimizer.observe.writer import BatchWriter, Tally
from optimizer.store.logged import paused_gc as no_cycle_collection

BATCH = 10_000  # input rows per chunk and transaction
# Worker processes per format, one for each WORKER_ROWS rows up to these: preparing JSON
# rows takes about twice as long as writing them, CSV and Parquet rows about as long or
# less (benchmarks/ingest_logs.py); a worker takes a second of CPU to start.
WORKERS = {"jsonl": 2, "csv": 1, "parquet": 1}
WORKER_ROWS = 200_000

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


def stored_campaigns(store) -> dict[str, CampaignFacts]:
    """What rows of each stored campaign are checked against."""
    return {
        c.name: CampaignFacts(
            frozenset(s.name for s in store.segments(c.name)),
            frozenset(store.creative_ids(c.name)),
        )
        for c in store.campaigns()
    }


def ingest_file(
    store,  # optimizer.store.Store
    path: str | Path,
    fmt: str = "auto",
    campaign: str | None = None,
    progress: Progress | None = None,
    fast: bool = True,
    workers: int | None = None,
) -> IngestReport:
    """Ingest one file into ``store``; returns the counts (see ``IngestReport``).

    Event files (JSONL, CSV, Parquet) are checked a chunk of columns at a time
    (``prepare.py``), by ``workers`` other processes (``worker.py``) while this one writes
    (by default one for each ``WORKER_ROWS`` rows up to ``WORKERS[fmt]``, on a machine with
    several cores), or none (here, while a thread writes). ``fast=False`` takes every row
    through the full validation and writes each batch before reading on (the same rows
    stored; the baseline of ``benchmarks/ingest_logs.py``), as DSJSON and reports always
    are.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path")
    fmt = detect(path, fmt)
    rows = estimate_rows(path, fmt)
    advance = progress(f"ingesting {path.name}", rows) if progress else None
    if fast and fmt in CHUNKS:
        if workers is None:
            workers = min(WORKERS[fmt], rows // WORKER_ROWS) if (os.cpu_count() or 1) > 1 else 0
        tally = _ingest_chunks(store, path, fmt, campaign, advance, workers)
    else:
        tally = _ingest_rows(store, path, fmt, campaign, advance, fast)
    return IngestReport(file=str(path), format=fmt, **asdict(tally))


def _ingest_chunks(store, path: Path, fmt: str, campaign, advance, workers: int) -> Tally:
    facts = stored_campaigns(store)
    with ThreadPoolExecutor(1) as pool:  # the file's digest, while the rows are read
        digest = pool.submit(file_digest, path)
        tally = Tally()  # rows read and rows found bad here; the writer counts what it stores
        writer = BatchWriter(store, str(path), digest)
        if workers:
            chunks = prepared_elsewhere(path, fmt, facts, campaign, BATCH, workers)
        else:
            chunks = prepare_file(path, fmt, facts, campaign, BATCH)
        try:
            with no_cycle_collection():
                for prepared, span in chunks:
                    writer.put(prepared, tally, functools.partial(raws, path, fmt, span))
                    if advance is not None:
                        advance(prepared.read)
                writer.close()
        except BaseException:
            writer.abandon()
            raise
        finally:
            chunks.close()
    tally.merge(writer.tally)
    return tally


def _ingest_rows(store, path: Path, fmt: str, campaign, advance, fast: bool) -> Tally:
    facts = campaign_facts(store)
    validator = Validator(facts, campaign, fast=FastEvents(facts, campaign).event if fast else None)
    parse = _parser(validator, fmt)
    tally = Tally()  # rows read and rows found bad here; the writer counts what it stores
    writer = BatchWriter(store, str(path), file_digest(path), background=fast)
    pending = 0
    try:
        for line, row, raw, problem in READERS[fmt](path):
            pending += 1
            try:
                if row is None:
                    problem = problem or "unreadable row"
                    summary = "malformed JSON" if problem.startswith("malformed JSON") else problem
                    raise BadRow(problem, summary)
                writer.add(line, parse(row), raw)
            except BadRow as exc:
                writer.bad(line, exc, raw, tally)
            if pending >= BATCH:
                writer.flush()
                tally.read += pending
                if advance is not None:
                    advance(pending)
                pending = 0
        tally.read += pending
        writer.close()
    except BaseException:
        writer.abandon()
        raise
    if advance is not None:
        advance(pending)
    tally.merge(writer.tally)
    return tally
