"""File readers for ingestion: JSONL (and DSJSON), CSV and Parquet, streamed.

Each reader yields ``(line, row, raw, problem)``: the line (or row number), the parsed row
(a dict; None when it cannot be parsed), what to keep in quarantine (the line's bytes or
text, or the row itself), and why it could not be parsed (None when it could).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from optimizer.errors import InputError

FORMATS = ("auto", "jsonl", "csv", "parquet", "dsjson", "report")
PARQUET_BATCH = 5_000
Record = tuple[int, dict[str, Any] | None, Any, str | None]


def raw_text(raw: Any) -> str:
    """The text of a row for the quarantine table."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "backslashreplace")
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):  # the cells of a CSV row
        return ",".join(raw)
    return json.dumps(raw, default=str, ensure_ascii=False)


def json_problem(exc: orjson.JSONDecodeError) -> str:
    if "surrogate" in exc.msg:
        return (
            f"malformed JSON: a lone UTF-16 surrogate escape (such as \\udc80) at column "
            f"{exc.colno} is not valid text"
        )
    return f"malformed JSON: {exc.msg} at column {exc.colno}"


def read_jsonl(path: Path) -> Iterator[Record]:
    with path.open("rb") as f:
        for line, data in enumerate(f, start=1):
            if not data.strip():
                continue
            try:
                row = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                yield line, None, data, json_problem(exc)
                continue
            if not isinstance(row, dict):
                yield line, None, data, f"expected a JSON object, got {type(row).__name__}"
                continue
            yield line, row, data, None


def read_csv(path: Path) -> Iterator[Record]:
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        yield from csv_records(reader, header)


def csv_records(reader, header: list[str], before: int = 0) -> Iterator[Record]:
    """The records of a ``csv.reader`` whose lines follow line ``before`` of the file."""
    width = len(header)
    for values in reader:
        if not values:  # a blank line
            continue
        line = before + reader.line_num
        if len(values) > width:
            yield line, None, values, "more fields than the header has"
        elif not all(map(str.isascii, values)) and not _utf8(values):
            yield line, None, values, "invalid UTF-8 bytes in the row"
        else:
            yield line, {k: v for k, v in zip(header, values, strict=False) if v}, values, None


def _utf8(values: list[str]) -> bool:
    """Whether the cells hold valid text (bad bytes were decoded as lone surrogates)."""
    try:
        for v in values:
            v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _gaps(batch) -> bool:
    """Whether a record batch has a null or empty string cell (a missing field)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for col in batch.columns:
        if col.null_count:
            return True
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            if pc.any(pc.equal(col, "")).as_py():
                return True
    return False


def parquet_file(path: Path):
    """A ``pyarrow.parquet.ParquetFile``, or an InputError that says the file is not one."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None


def read_parquet(path: Path) -> Iterator[Record]:
    table = parquet_file(path)
    line = 0
    for batch in table.iter_batches(batch_size=PARQUET_BATCH):
        gaps = _gaps(batch)
        for row in batch.to_pylist():
            line += 1
            if gaps:  # a null or empty cell is a missing field
                yield line, {k: v for k, v in row.items() if v is not None and v != ""}, row, None
            else:
                yield line, row, row, None


READERS = {
    "jsonl": read_jsonl,
    "dsjson": read_jsonl,
    "csv": read_csv,
    "report": read_csv,
    "parquet": read_parquet,
}


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


def estimate_rows(path: Path, fmt: str) -> int:
    """Rows in a file for the progress bar: exact for Parquet, from the first MiB otherwise."""
    if fmt == "parquet":
        return parquet_file(path).metadata.num_rows
    with path.open("rb") as f:
        head = f.read(1 << 20)
    per_line = len(head) / max(head.count(b"\n"), 1)
    header = 1 if fmt in ("csv", "report") else 0
    return max(1, round(path.stat().st_size / max(per_line, 1)) - header)
