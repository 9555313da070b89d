"""Ingest an ad server's logs: decisions, rewards, VW DSJSON and aggregated reports.

Files are streamed (JSONL and CSV line by line, Parquet by record batch) and written in
batches, so memory stays flat for any file size. A bad row never aborts the file and is
never dropped: it goes to the ``quarantine`` table with the file, line and reason. Inserts
are idempotent by event id, so re-ingesting a file, or a file whose ingestion was killed
half-way, stores each event exactly once.

Formats (see README, "Log formats", and ``examples/``):

- decision events: ``event_id``, ``timestamp`` (ISO 8601), ``campaign``, optional
  ``segment``, ``context`` (an object; flat ``ctx_*`` columns in CSV/Parquet), ``action``,
  ``probability`` in (0, 1], optional ``candidates`` (list; ``|``-separated in CSV),
  optional ``reward`` (and ``kind``) when the log is already joined;
- reward events: ``event_id``, ``timestamp``, ``reward``, optional ``kind``;
- VW decision-service JSON (DSJSON), one event a line;
- aggregated reports (CSV): ``campaign``, ``segment``, ``creative_id`` or ``headline`` and
  ``body``, ``date``, ``impressions``, ``clicks``, optional ``conversions``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optimizer.errors import InputError
from optimizer.identity import file_digest
from optimizer.records import creative_id

FORMATS = ("auto", "jsonl", "csv", "parquet", "dsjson", "report")
BATCH = 5_000


class BadRow(ValueError):
    """A row that cannot be stored; the message is the quarantine reason."""


@dataclass
class IngestReport:
    file: str
    format: str
    read: int = 0
    decisions: int = 0
    rewards: int = 0
    reports: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def stored(self) -> int:
        return self.decisions + self.rewards + self.reports

    def as_dict(self) -> dict:
        return {**asdict(self), "stored": self.stored}


# -- reading -----------------------------------------------------------------------------------
Record = tuple[int, dict[str, Any] | None, str]  # line, parsed row (None: unparseable), raw


def _jsonl(path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8", errors="replace") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                yield line, None, f"malformed JSON: {exc.msg} at column {exc.colno}|{text}"
                continue
            if not isinstance(row, dict):
                yield line, None, f"expected a JSON object, got {type(row).__name__}|{text}"
                continue
            yield line, row, text


def _csv(path: Path) -> Iterator[Record]:
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        for row in reader:
            raw = ",".join("" if v is None else str(v) for v in row.values())
            if None in row:  # more fields than the header
                yield reader.line_num, None, f"more fields than the header has|{raw}"
                continue
            yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}, raw


def _parquet(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    line = 0
    for batch in table.iter_batches(batch_size=BATCH):
        for row in batch.to_pylist():
            line += 1
            clean = {k: v for k, v in row.items() if v is not None and v != ""}
            yield line, clean, json.dumps(row, default=str)


def detect(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            header = next(csv.reader(f), [])
        return "report" if {"impressions", "clicks"} <= set(header) else "csv"
    if suffix in (".jsonl", ".json", ".ndjson", ".dsjson"):
        if suffix == ".dsjson":
            return "dsjson"
        with path.open(encoding="utf-8", errors="replace") as f:
            first = next((t for t in f if t.strip()), "")
        return "dsjson" if '"_label_cost"' in first or '"EventId"' in first else "jsonl"
    raise InputError(
        f"{path}: cannot tell the format from the extension {suffix!r}; "
        f"pass --format ({', '.join(FORMATS[1:])})"
    )


# -- validation ----------------------------------------------------------------------------------
def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        raise BadRow("timestamp must be an ISO 8601 string such as 2026-03-01T12:00:00Z")
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRow(f"timestamp {value!r} is not ISO 8601") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _text(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadRow(f"missing field {key!r}")
    if not isinstance(value, str | int):
        raise BadRow(f"field {key!r} must be a string")
    return str(value).strip()


def _number(row: dict, key: str) -> float:
    value = row.get(key)
    if value is None:
        raise BadRow(f"missing field {key!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRow(f"field {key!r} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise BadRow(f"field {key!r} is not finite: {value!r}")
    return number


def _context(row: dict) -> dict[str, str | float]:
    if "context" in row:
        ctx = row["context"]
        if isinstance(ctx, str):  # a JSON object in a CSV cell
            try:
                ctx = json.loads(ctx)
            except json.JSONDecodeError:
                raise BadRow("context is not a JSON object") from None
        if not isinstance(ctx, dict):
            raise BadRow("context must be an object of user features")
    else:
        ctx = {k[4:]: _maybe_number(v) for k, v in row.items() if k.startswith("ctx_")}
    out: dict[str, str | float] = {}
    for key, value in ctx.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadRow(f"context feature {key!r} must be a string or a number")
        out[str(key)] = float(value) if isinstance(value, int | float) else value
    return out


def _maybe_number(value: Any) -> Any:
    """Flat ``ctx_`` cells of a CSV arrive as text: numbers become numbers."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _candidates(row: dict, action: str) -> list[str] | None:
    value = row.get("candidates")
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.split("|") if v]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise BadRow("candidates must be a list of creative ids")
    ids = [str(v) for v in value]
    if action not in ids:
        raise BadRow(f"action {action!r} is not among the candidates")
    return ids


def _reward_row(event_id: str, ts: datetime, row: dict) -> dict:
    return dict(
        event_id=event_id,
        kind=str(row.get("kind") or "click"),
        value=_number(row, "reward"),
        timestamp=ts,
    )


@dataclass
class Validator:
    """Turns parsed rows into table rows; knows the campaigns of the store."""

    campaigns: set[str]
    default_campaign: str | None = None

    def campaign(self, row: dict) -> str:
        name = str(row.get("campaign") or self.default_campaign or "").strip()
        if not name:
            raise BadRow("missing field 'campaign' (or pass --campaign)")
        if name not in self.campaigns:
            raise BadRow(f"unknown campaign {name!r}; register it first (ingest --config FILE)")
        return name

    def event(self, row: dict) -> tuple[str, dict | None, dict | None]:
        """('decision', decision, reward-or-None) or ('reward', None, reward)."""
        event_id = _text(row, "event_id")
        ts = _timestamp(row.get("timestamp"))
        if "action" not in row:
            if "reward" not in row:
                raise BadRow("neither a decision (no 'action') nor a reward (no 'reward')")
            return "reward", None, _reward_row(event_id, ts, row)
        action = _text(row, "action")
        p = _number(row, "probability")
        if not 0.0 < p <= 1.0:
            raise BadRow(f"probability {p} is outside (0, 1]")
        decision = dict(
            event_id=event_id,
            run_id=None,
            timestamp=ts,
            campaign=self.campaign(row),
            segment=(str(row["segment"]).strip() or None) if row.get("segment") else None,
            context=_context(row),
            candidates=_candidates(row, action) or [],
            chosen=action,
            probability=p,
            policy=str(row.get("policy") or "logged"),
            policy_version=str(row.get("policy_version") or "logged"),
        )
        reward = _reward_row(event_id, ts, row) if "reward" in row else None
        return "decision", decision, reward

    def dsjson(self, row: dict) -> tuple[str, dict | None, dict | None]:
        """A VW decision-service event: EventId, Timestamp, c (context with _multi),
        _label_Action (1-based), _label_probability, _label_cost (cost = -reward)."""
        for key in ("EventId", "Timestamp", "c", "_label_Action", "_label_probability"):
            if key not in row:
                raise BadRow(f"DSJSON: missing field {key!r}")
        c = row["c"]
        if not isinstance(c, dict) or not isinstance(c.get("_multi"), list) or not c["_multi"]:
            raise BadRow("DSJSON: 'c' needs a non-empty '_multi' list of actions")
        ids = [
            str(a.get("id", a.get("creative", i + 1))) if isinstance(a, dict) else str(i + 1)
            for i, a in enumerate(c["_multi"])
        ]
        index = int(_number(row, "_label_Action")) - 1
        if not 0 <= index < len(ids):
            raise BadRow(f"DSJSON: _label_Action {index + 1} is outside 1..{len(ids)}")
        context: dict[str, Any] = {}
        for ns, value in c.items():
            if ns.startswith("_"):
                continue
            if isinstance(value, dict):
                context.update({f"{ns}.{k}": v for k, v in value.items()})
            else:
                context[ns] = value
        flat = {
            "event_id": row["EventId"],
            "timestamp": row["Timestamp"],
            "campaign": row.get("campaign"),
            "context": context,
            "action": ids[index],
            "probability": row["_label_probability"],
            "candidates": ids,
            "segment": context.get("segment") or context.get("User.segment"),
        }
        if "_label_cost" in row:
            flat["reward"] = -_number(row, "_label_cost")
        return self.event(flat)

    def report(self, row: dict) -> dict:
        campaign = self.campaign(row)
        cid = str(row.get("creative_id") or "").strip()
        headline, body = str(row.get("headline") or ""), str(row.get("body") or "")
        if not cid:
            if not headline:
                raise BadRow("a report row needs creative_id, or headline (and body)")
            cid = creative_id(campaign, headline, body, str(row.get("cta") or ""))
        date = str(row.get("date") or "").strip()
        try:
            date = datetime.fromisoformat(date).date().isoformat()
        except ValueError:
            raise BadRow(f"date {date!r} is not an ISO date such as 2026-03-01") from None
        impressions, clicks = _number(row, "impressions"), _number(row, "clicks")
        conversions = _number(row, "conversions") if "conversions" in row else None
        if impressions < 0 or clicks < 0 or clicks > impressions:
            raise BadRow("need 0 <= clicks <= impressions")
        return dict(
            campaign=campaign,
            segment=str(row.get("segment") or ""),
            creative_id=cid,
            date=date,
            headline=headline,
            body=body,
            impressions=int(impressions),
            clicks=int(clicks),
            conversions=None if conversions is None else int(conversions),
        )


# -- the ingestion loop ------------------------------------------------------------------------
def ingest_file(
    store,  # optimizer.store.Store
    path: str | Path,
    fmt: str = "auto",
    campaign: str | None = None,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> IngestReport:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path")
    fmt = detect(path, fmt)
    report = IngestReport(file=str(path), format=fmt)
    digest = file_digest(path)
    validator = Validator({c.name for c in store.campaigns()}, campaign)
    reader = {"jsonl": _jsonl, "dsjson": _jsonl, "csv": _csv, "report": _csv, "parquet": _parquet}[
        fmt
    ]
    advance = progress(f"ingesting {path.name}", estimate_rows(path, fmt)) if progress else None
    decisions: list[dict] = []
    rewards: list[dict] = []
    reports: list[dict] = []
    quarantine: list[dict] = []
    shown = 0

    def flush() -> None:
        nd, nr, np_ = store.insert_events(decisions, rewards, reports)
        report.decisions += nd
        report.rewards += nr
        report.reports += np_
        report.duplicates += (len(decisions) - nd) + (len(reports) - np_) + (len(rewards) - nr)
        store.quarantine(quarantine)
        decisions.clear(), rewards.clear(), reports.clear(), quarantine.clear()

    for line, row, raw in reader(path):
        report.read += 1
        try:
            if row is None:
                raise BadRow(raw.split("|", 1)[0])
            if fmt == "report":
                reports.append(validator.report(row))
            else:
                kind, decision, reward = (
                    validator.dsjson(row) if fmt == "dsjson" else validator.event(row)
                )
                if decision is not None:
                    decisions.append(decision)
                if reward is not None:
                    rewards.append(reward)
        except BadRow as exc:
            reason = str(exc)
            text = raw.split("|", 1)[1] if row is None and "|" in raw else raw
            quarantine.append(
                dict(
                    id=hashlib.sha256(f"{digest}:{line}".encode()).hexdigest()[:24],
                    file=str(path),
                    line=line,
                    reason=reason,
                    raw=text.strip()[:2000],
                )
            )
            report.quarantined += 1
            key = reason.split(":")[0] if reason.startswith("malformed JSON") else reason
            key = key if len(key) < 60 else key[:57] + "..."
            report.reasons[key] = report.reasons.get(key, 0) + 1
        if len(decisions) + len(rewards) + len(reports) + len(quarantine) >= BATCH:
            flush()
            if advance is not None:
                advance(report.read - shown)
                shown = report.read
    flush()
    if advance is not None:
        advance(report.read - shown)
    return report


def estimate_rows(path: Path, fmt: str) -> int:
    """Rows in a file for the progress bar: exact for Parquet, from the first MiB otherwise."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as f:
        head = f.read(1 << 20)
    per_line = len(head) / max(head.count(b"\n"), 1)
    header = 1 if fmt in ("csv", "report") else 0
    return max(1, round(path.stat().st_size / max(per_line, 1)) - header)
