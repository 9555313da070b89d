"""Event files read as chunks of columns (``chunks.Chunk``), each with its ``Span``.

- JSONL: orjson line by line (the parser of the row reader, so the same lines are bad).
- CSV: byte blocks ending at a newline, parsed by Arrow's CSV reader as text cells. Python's
  ``csv`` module, which defines what a CSV row is here (``readers.read_csv``), reads instead
  whatever Arrow could read otherwise: the rest of the file from the first quote character
  or lone carriage return, a block with invalid UTF-8 or NUL bytes, and the lines whose
  number of cells is not the header's.
- Parquet: record batches.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import compress, count, islice
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv

from optimizer.errors import InputError
from optimizer.observe.chunks import Chunk, from_arrow, from_rows
from optimizer.observe.readers import csv_records, json_problem, parquet_file, raw_text

CHUNK_ROWS = 10_000  # rows per chunk (JSONL, Parquet)
CSV_BLOCK = 4 << 20  # bytes per CSV block
SKIP_BLOCK = 1 << 20  # bytes read at a time to pass over the lines of a chunk
Keep = Callable[[int], bool]  # whether to build the chunk of an index (the others are skipped)


@dataclass(frozen=True)
class Span:
    """Where a chunk's rows are: read from byte ``offset`` (row index for Parquet), whose
    lines follow line ``before`` of the file; the chunk holds lines ``first``..``last``."""

    offset: int
    before: int
    first: int
    last: int


def _rows_chunk(records) -> Chunk:
    """A chunk of row-reader records ``(line, row, raw, problem)``."""
    rows, lines, raws, problems = [], [], [], []
    for line, row, raw, problem in records:
        if row is None:
            problems.append((line, problem or "unreadable row", raw))
        else:
            rows.append(row)
            lines.append(line)
            raws.append(raw)
    return from_rows(rows, lines, raws, problems)


# -- JSONL ------------------------------------------------------------------------------------
def _all(_: int) -> bool:
    return True


def _json_rows(batch: list[bytes]) -> tuple[list[Any], dict[int, str | None]]:
    """Each line parsed, and why the lines that are not rows are not (None: a blank line).
    orjson reads the lines in one ``map``, which stops only at a line it cannot parse."""
    parsed: list[Any] = []
    odd: dict[int, str | None] = {}
    lines = iter(batch)
    while True:
        try:
            parsed.extend(map(orjson.loads, lines))
            break
        except orjson.JSONDecodeError as exc:  # extend() kept the lines before it
            at = len(parsed)
            odd[at] = json_problem(exc) if batch[at].strip() else None
            parsed.append(None)
    kinds = list(map(type, parsed))
    if kinds.count(dict) + len(odd) < len(kinds):  # JSON values other than objects
        for i, kind in enumerate(kinds):
            if kind is not dict and i not in odd:
                odd[i] = f"expected a JSON object, got {kind.__name__}"
    return parsed, odd


def _skip_lines(f, n: int) -> int:
    """Move ``f`` past its next ``n`` lines, or to its end; how many lines ended on the way
    (``islice(f, n)`` without making the lines)."""
    passed = 0
    while passed < n:
        start = f.tell()
        block = f.read(SKIP_BLOCK)
        if not block:
            break
        ends = block.count(b"\n")
        if passed + ends < n:
            passed += ends
            continue
        at = -1
        for _ in range(n - passed):
            at = block.index(b"\n", at + 1)
        f.seek(start + at + 1)
        return n
    return passed


def jsonl_chunks(
    path: Path, rows: int = CHUNK_ROWS, keep: Keep = _all
) -> Iterator[tuple[Chunk, Span]]:
    with path.open("rb") as f:
        line = 0
        for index in count():
            offset = f.tell()
            if not keep(index):  # another worker's: only counted
                passed = _skip_lines(f, rows)
                if not passed:  # the end (or a last line without a newline, to skip)
                    return
                line += passed
                continue
            batch = list(islice(f, rows))
            if not batch:
                return
            before, line = line, line + len(batch)
            parsed, odd = _json_rows(batch)
            lines: Any = range(before + 1, line + 1)
            problems = [(lines[i], odd[i], batch[i]) for i in sorted(odd) if odd[i] is not None]
            if odd:
                rows_only = [True] * len(batch)
                for i in odd:
                    rows_only[i] = False
                parsed = list(compress(parsed, rows_only))
                batch = list(compress(batch, rows_only))
                lines = list(compress(lines, rows_only))
            chunk = from_rows(parsed, list(lines), batch, problems)
            yield chunk, Span(offset, before, before + 1, line)


# -- CSV --------------------------------------------------------------------------------------
def _header(first: bytes) -> list[str] | None:
    """The header line's cells, when the fast reader can take the file from there."""
    if b'"' in first or b"\x00" in first or first.rstrip(b"\n").rstrip(b"\r").count(b"\r"):
        return None
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    header = next(csv.reader([text]), [])
    return header if len(header) >= 2 and len(set(header)) == len(header) else None


def _python_csv(
    f, offset: int, before: int, header: list[str] | None, rows: int, keep: Keep, first: int
) -> Iterator[tuple[Chunk, Span]]:
    """The rest of the file from byte ``offset`` (after line ``before``) with Python's
    reader (which reads the header first when ``header`` is None), in chunks numbered from
    ``first``."""
    f.seek(offset)
    reader = csv.reader(io.TextIOWrapper(f, "utf-8", "surrogateescape", newline=""))
    if header is None:
        header = next(reader, None)
        if header is None:
            return
    records = csv_records(reader, header, before)
    for index in count(first):
        batch = list(islice(records, rows))
        if not batch:
            return
        if keep(index):
            yield _rows_chunk(batch), Span(offset, before, batch[0][0], batch[-1][0])


def csv_chunks(
    path: Path, rows: int = CHUNK_ROWS, keep: Keep = _all
) -> Iterator[tuple[Chunk, Span]]:
    with path.open("rb") as f:
        header = _header(f.readline())
        if header is None:
            yield from _python_csv(f, 0, 0, None, rows, keep, 0)
            return
        line = 1
        for index in count():
            offset = f.tell()
            block = f.read(CSV_BLOCK)
            if not block:
                return
            if not block.endswith(b"\n"):
                block += f.readline()
            if b'"' in block or block.count(b"\r") != block.count(b"\r\n"):
                yield from _python_csv(f, offset, line, header, rows, keep, index)
                return
            lines = block.count(b"\n") + (not block.endswith(b"\n"))
            if keep(index):
                yield _csv_block(block, header, line), Span(offset, line, line + 1, line + lines)
            line += lines


def _csv_block(block: bytes, header: list[str], before: int) -> Chunk:
    """A block of whole lines without quote characters or lone carriage returns."""
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return _block_by_python(block, header, before)
    if b"\x00" in block:
        return _block_by_python(block, header, before)
    octets = np.frombuffer(block, np.uint8)
    ends = np.flatnonzero(octets == 10)
    if not block.endswith(b"\n"):
        ends = np.append(ends, len(block))
    starts = np.concatenate(([0], ends[:-1] + 1))
    stops = ends - ((ends > starts) & (octets[np.maximum(ends - 1, 0)] == 13))
    commas = np.flatnonzero(octets == 44)
    cells = np.searchsorted(commas, stops) - np.searchsorted(commas, starts) + 1
    blank = stops == starts
    good = ~blank & (cells == len(header))
    odd = ~blank & ~good
    lines = before + 1 + np.arange(len(starts))
    table = None
    if good.any():  # Arrow skips the blank lines and those with other numbers of cells
        table = _arrow_csv(block if block.endswith(b"\n") else block + b"\n", len(header))
        if table.num_rows != int(good.sum()):
            return _block_by_python(block, header, before)  # Arrow read it otherwise
    extra, problems = [], []
    spans = zip(lines[odd].tolist(), starts[odd].tolist(), stops[odd].tolist(), strict=True)
    for line, s, e in spans:
        text = block[s:e].decode("utf-8")
        for _, row, raw, problem in csv_records(csv.reader([text]), header):
            if row is None:
                problems.append((line, problem, raw))
            else:
                extra.append((line, row, raw))
    columns = [c.combine_chunks() for c in table.columns] if table is not None else []
    return _cells_chunk(header, columns, lines[good], problems, extra)


def _skip(_row) -> str:
    return "skip"


def _arrow_csv(data: bytes, width: int) -> pa.Table:
    names = [f"c{i}" for i in range(width)]
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(
            column_names=names, use_threads=False, block_size=len(data) + 1
        ),
        parse_options=pacsv.ParseOptions(
            quote_char=False,
            double_quote=False,
            escape_char=False,
            ignore_empty_lines=True,
            invalid_row_handler=_skip,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            check_utf8=False,
        ),
    )


def _cells_chunk(header, columns, lines, problems, extra) -> Chunk:
    def cells(i: int) -> list[str]:
        return [c[i].as_py() for c in columns]

    def row(i: int) -> dict:
        return {k: v for k, v in zip(header, cells(i), strict=True) if v}

    if not columns:
        columns = [pa.array([], pa.string()) for _ in header]
    chunk = from_arrow(header, columns, lines, row, cells, problems)
    chunk.extra = extra
    return chunk


def _block_by_python(block: bytes, header: list[str], before: int) -> Chunk:
    text = io.StringIO(block.decode("utf-8", "surrogateescape"), newline="")
    return _rows_chunk(csv_records(csv.reader(text), header, before))


# -- Parquet ----------------------------------------------------------------------------------
def _batches(path: Path, rows: int) -> Iterator[pa.RecordBatch]:
    """A Parquet file's record batches; a part that cannot be read is an InputError."""
    batches = parquet_file(path).iter_batches(batch_size=rows)
    while True:
        try:
            batch = next(batches, None)
        except (OSError, pa.ArrowException) as exc:  # a damaged page, a bad encoding
            raise InputError(f"{path}: a part of the Parquet file cannot be read ({exc})") from None
        if batch is None:
            return
        yield batch


def parquet_chunks(
    path: Path, rows: int = CHUNK_ROWS, keep: Keep = _all
) -> Iterator[tuple[Chunk, Span]]:
    done = 0
    for index, batch in enumerate(_batches(path, rows)):
        n = batch.num_rows
        if not keep(index):
            done += n
            continue

        def raw(i: int, batch=batch) -> dict:
            return batch.slice(i, 1).to_pylist()[0]

        def row(i: int, raw=raw) -> dict:  # a null or empty cell is a missing field
            return {k: v for k, v in raw(i).items() if v is not None and v != ""}

        lines = np.arange(done + 1, done + n + 1)
        chunk = from_arrow(batch.schema.names, batch.columns, lines, row, raw, [])
        yield chunk, Span(done, done, done + 1, done + n)
        done += n


CHUNKS = {"jsonl": jsonl_chunks, "csv": csv_chunks, "parquet": parquet_chunks}


def raws(path: Path, fmt: str, span: Span) -> dict[int, str]:
    """What quarantine keeps of each row of ``span`` (read again: for conflicts only)."""
    out: dict[int, str] = {}
    if fmt == "parquet":
        import pyarrow.parquet as pq

        done = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS):
            if done + batch.num_rows >= span.first:
                for i, row in enumerate(batch.to_pylist(), start=done + 1):
                    if span.first <= i <= span.last:
                        out[i] = raw_text(row)
            done += batch.num_rows
            if done >= span.last:
                break
        return out
    with path.open("rb") as f:
        f.seek(span.offset)
        if fmt == "csv":
            reader = csv.reader(io.TextIOWrapper(f, "utf-8", "surrogateescape", newline=""))
            numbered: Any = ((span.before + reader.line_num, values) for values in reader)
        else:
            numbered = enumerate(f, start=span.before + 1)
        for line, data in numbered:
            if line > span.last:
                break
            if line >= span.first:
                out[line] = raw_text(data)
    return out
