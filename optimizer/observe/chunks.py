"""Runs of event rows as columns (``Chunk``), built from parsed rows (JSONL, and CSV rows
the fast CSV reader leaves to Python) or from Arrow columns (CSV blocks, Parquet).

A chunk keeps, besides the columns, how to give back any one row as the row readers give it
(``row``) and what the quarantine keeps of it (``raw``), for the rows that go through the
full validation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optimizer.observe.columns import (
    candidate_ids,
    candidate_lists,
    dict_contexts,
    flat_contexts,
    is_text,
)

FIELDS = (
    "event_id",
    "timestamp",
    "campaign",
    "segment",
    "action",
    "probability",
    "policy",
    "policy_version",
    "reward",
    "kind",
)
STRINGS = ("event_id", "campaign", "segment", "action", "policy", "policy_version", "kind")
_ABSENT = object()


@dataclass
class Chunk:
    """Rows of one file as columns; a null cell is a missing field."""

    lines: np.ndarray  # the line (the row number for Parquet) of each row
    fields: dict[str, pa.Array]  # FIELDS, each of length n
    candidates: tuple[list, np.ndarray]  # ids per distinct list (None: odd), row codes
    context: pa.Array  # stored JSON of each row's context; null where it is odd
    has_action: np.ndarray  # a decision (else a reward, when it has one)
    has_reward: np.ndarray
    forced: np.ndarray  # rows that must take the full validation
    row: Callable[[int], dict]  # row i as the row reader gives it
    raw: Callable[[int], Any]  # what quarantine keeps of row i
    problems: list[tuple[int, str, Any]] = field(default_factory=list)  # unreadable rows
    extra: list[tuple[int, dict, Any]] = field(default_factory=list)  # (line, row, raw) rows
    # for the row validation only (e.g. a CSV row with fewer cells than the header)

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def read(self) -> int:
        return len(self.lines) + len(self.problems) + len(self.extra)


def _column(values: list) -> pa.Array:
    """An Arrow column of parsed values (null where a value is of an odd type for it)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    numbers = [v for v in values if type(v) is float or type(v) is int]
    if len(numbers) >= len(values) // 2:
        return pa.array([float(v) if type(v) in (float, int) else None for v in values])
    return pa.array([v if type(v) is str else None for v in values], pa.string())


def _odd(values: list, column: pa.Array) -> np.ndarray:
    """Rows whose value was given but is not in ``column`` (an odd type)."""
    given = np.fromiter((v is not None for v in values), bool, len(values))
    return given & np.asarray(column.is_null())


def _keys(value: Any) -> Any:
    """A hashable key of a logged candidate list (the text, or the ids as a tuple)."""
    if type(value) is list:
        try:
            key = tuple(value)
            hash(key)
        except TypeError:
            return _ABSENT
        return key
    return value if type(value) is str else _ABSENT


def list_codes(values: Sequence[Any]) -> tuple[list, np.ndarray]:
    """Candidate lists of parsed rows as (ids per distinct list, each row's index)."""
    index: dict[Any, int] = {}
    codes, prev, code = [], _ABSENT, -1
    for v in values:
        if v is not prev and v != prev:  # the list of the row before, most often
            prev = v
            code = -1 if v is None else index.setdefault(_keys(v), len(index))
        codes.append(code)
    lists = [
        None if k is _ABSENT else candidate_ids(list(k) if type(k) is tuple else k) for k in index
    ]
    return lists, np.array(codes, np.int64)


def from_rows(
    rows: list[dict], lines: list[int], raws: list, problems: list[tuple[int, str, Any]]
) -> Chunk:
    """A chunk of parsed rows (JSONL objects, or CSV rows without their empty cells)."""
    n = len(rows)
    fields, forced = {}, np.zeros(n, bool)
    for name in FIELDS:
        values = list(map(dict.get, rows, repeat(name)))
        fields[name] = column = _column(values)
        if column.null_count and not pa.types.is_null(column.type):
            forced |= _odd(values, column)
    has = {
        k: np.fromiter(map(dict.__contains__, rows, repeat(k)), bool, n)
        for k in ("action", "reward")
    }
    given = list(map(dict.get, rows, repeat("context")))
    contexts = dict_contexts(given)
    # Rows without a context object may have flat ``ctx_`` fields (a row without the key
    # gets None above, so there are none when no row got None).
    flat_rows = [i for i, r in enumerate(rows) if "context" not in r] if None in given else []
    if flat_rows:
        keys = sorted({k for i in flat_rows for k in rows[i] if k[:4] == "ctx_"})
        flat, ok = {}, np.ones(len(flat_rows), bool)
        for k in keys:
            values = [rows[i].get(k, _ABSENT) for i in flat_rows]
            given = np.fromiter((v is not _ABSENT for v in values), bool, len(values))
            flat[k[4:]] = column = _column([None if v is _ABSENT else v for v in values])
            ok &= ~(given & np.asarray(column.is_null()))  # null, or of an odd type
        text, good = flat_contexts(flat, len(flat_rows))
        ok &= good
        for i, t, good in zip(flat_rows, text.to_pylist(), ok.tolist(), strict=True):
            contexts[i] = t if good else None
    return Chunk(
        lines=np.asarray(lines, np.int64),
        fields=fields,
        candidates=list_codes([r.get("candidates") for r in rows]),
        context=pa.array(contexts, pa.string()),
        has_action=has["action"],
        has_reward=has["reward"],
        forced=forced,
        row=rows.__getitem__,
        raw=raws.__getitem__,
        problems=problems,
    )


def _plain(column: pa.Array) -> pa.Array:
    """Large strings and lists as plain ones; an empty text cell is a missing field, as a
    null one is."""
    t = column.type
    if pa.types.is_large_string(t):
        column = column.cast(pa.string())
    elif pa.types.is_large_list(t) and pa.types.is_large_string(t.value_type):
        column = column.cast(pa.list_(pa.string()))
    if is_text(column) and len(column):
        return pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)
    return column


def from_arrow(
    names: Sequence[str],
    columns: Sequence[pa.Array],
    lines: np.ndarray,
    row: Callable[[int], dict],
    raw: Callable[[int], Any],
    problems: list[tuple[int, str, Any]],
) -> Chunk:
    """A chunk of Arrow columns named ``names`` (CSV text cells, or Parquet values)."""
    n = len(lines)
    by_name = {name: _plain(c) for name, c in zip(names, columns, strict=True)}
    nulls = pa.nulls(n, pa.string())
    fields = {name: by_name.get(name, nulls) for name in FIELDS}
    forced = np.zeros(n, bool)
    if "context" in by_name:  # context objects: JSON text, or a struct
        present = ~np.asarray(by_name["context"].is_null())
        forced |= ~present  # flat ctx_ columns then: the full validation decides
        context = pa.array(dict_contexts(by_name["context"].to_pylist()), pa.string())
    else:
        flat = {k[4:]: c for k, c in by_name.items() if k.startswith("ctx_")}
        text, ok = flat_contexts(flat, n)
        context = pc.if_else(pa.array(ok), text, pa.scalar(None, pa.string()))
    cands = by_name.get("candidates")
    return Chunk(
        lines=lines,
        fields=fields,
        candidates=candidate_lists(cands) if cands is not None else ([], np.full(n, -1)),
        context=context,
        has_action=~np.asarray(fields["action"].is_null()),
        has_reward=~np.asarray(fields["reward"].is_null()),
        forced=forced,
        row=row,
        raw=raw,
        problems=problems,
    )
