"""Checks of event fields a column at a time (Arrow arrays in, numpy arrays out).

Each check accepts only values the full validation (``validate.py``) accepts and gives the
value it would store; anything unusual fails, and its row goes through the full validation,
which says exactly what is wrong (``tests/observe/test_columns.py`` holds the two together).
Columns with few distinct values (names, candidate lists, context values) are checked once
per distinct value. A null cell is a missing field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from optimizer.observe.fastpath import _feature, _name, _number
from optimizer.observe.validate import LIMITS, MAX_CANDIDATES, MAX_CONTEXT_FEATURES
from optimizer.store.rows import candidate_set_id

# The characters ``str.strip()`` removes (``str.isspace``), for a regular expression.
SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
STRIPPED = f"(?s)^[^{SPACE}](.*[^{SPACE}])?$"  # no white space at either end
DECIMAL = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"  # read alike by Python and Arrow
# The ISO 8601 times read here (anything else takes the full validation): a UTC time of day.
ISO_UTC = r"^\d{4}-\d\d-\d\d[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|\+00:00)?$"
FIRST_US = -30610224000 * 10**6  # 1000-01-01, microseconds since 1970
LAST_US = 253402300800 * 10**6 - 1  # 9999-12-31 23:59:59.999999
UNITS = {"s": 10**6, "ms": 10**3, "us": 1}


def is_text(array: pa.Array) -> bool:
    return pa.types.is_string(array.type) or pa.types.is_large_string(array.type)


def mask(array: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy (null: False)."""
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False)


def encode(array: pa.Array) -> tuple[list, np.ndarray]:
    """The distinct values of ``array`` and each row's index among them (-1 for null)."""
    enc = pc.dictionary_encode(array)
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return enc.dictionary.to_pylist(), codes


def per_row(values: Sequence[Any], codes: np.ndarray, null: Any, dtype: Any = object):
    """``values[code]`` for each row's code (``null`` for -1)."""
    table = np.empty(len(values) + 1, dtype=dtype)
    table[: len(values)] = values
    table[-1] = null
    return table[codes]


REQUIRED = object()  # the default of a field that must be given


@dataclass(frozen=True)
class Coded:
    """A column with few distinct values: each row's index among them."""

    values: list  # the distinct values; the last one stands for a null cell
    good: np.ndarray  # whether each distinct value passes
    codes: np.ndarray  # per row (-1: a null cell)

    def ok(self) -> np.ndarray:
        return self.good[self.codes]

    def at(self, rows: np.ndarray) -> list:
        """The values of ``rows``."""
        return per_row(self.values[:-1], self.codes[rows], self.values[-1]).tolist()


def names(array: pa.Array, limit: int, default: Any = REQUIRED) -> Coded:
    """A name column: a plain, stripped string within ``limit`` characters without NUL; a
    null or empty cell is ``default`` (which may be None; ``REQUIRED``: not accepted)."""
    missing = default is REQUIRED
    null = None if missing else default
    if not is_text(array):  # only null cells can pass
        codes = np.where(np.asarray(array.is_null()), -1, 0)
        return Coded([None, null], np.array([False, not missing]), codes)
    values, codes = encode(array)
    clean = [null if v == "" else v for v in values]
    good = [not missing if v == "" else _name(v, limit) for v in values]
    return Coded(clean + [null], np.array(good + [not missing]), codes)


def event_ids(array: pa.Array) -> np.ndarray:
    """ok per row: an event id within its limit, stripped, without NUL."""
    if not is_text(array):
        return np.zeros(len(array), bool)
    size = pc.utf8_length(array)
    ok = pc.and_(pc.greater(size, 0), pc.less_equal(size, LIMITS["event_id"]))
    ok = pc.and_(ok, pc.invert(pc.match_substring(array, "\x00")))
    return mask(pc.and_(ok, pc.match_substring_regex(array, STRIPPED)))


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def timestamps(array: pa.Array) -> pa.Array:
    """Each row's time as the store writes it (``2026-03-01 12:00:00.000000``, UTC); null
    where the full validation must decide (another zone, another form, out of range)."""
    if pa.types.is_timestamp(array.type):
        return _arrow_times(array)
    if not is_text(array):
        return pa.nulls(len(array), pa.string())
    ok = pc.match_substring_regex(array, ISO_UTC)
    day = pc.utf8_slice_codeunits(array, 0, 10)
    days, codes = encode(day)
    ok = pc.and_(ok, pa.array(per_row([_valid_date(d) for d in days], codes, False, bool)))
    # What follows the seconds (".123", "Z", "+00:00", ".5Z"...): the digits of the
    # fraction once the zone and the trailing zeros are trimmed (padded with zeros again).
    rest = pc.utf8_rtrim(pc.utf8_slice_codeunits(array, 19, 32), characters="Z+:0")
    fraction = pc.utf8_rpad(pc.utf8_slice_codeunits(rest, 1, 7), width=6, padding="0")
    clock = pc.utf8_slice_codeunits(array, 11, 19)
    text = pc.binary_join_element_wise(day, " ", clock, ".", fraction, "")
    return pc.if_else(ok, text, pa.scalar(None, pa.string()))


def _arrow_times(array: pa.Array) -> pa.Array:
    """Arrow timestamps: stored as UTC (a naive one is UTC already)."""
    ticks = pc.fill_null(pc.cast(array, pa.int64()), 0).to_numpy(zero_copy_only=False)
    if array.type.unit == "ns":
        ok, micros = ticks % 1000 == 0, ticks // 1000
    else:
        scale = UNITS[array.type.unit]
        ok = np.abs(ticks) <= LAST_US // scale
        micros = np.where(ok, ticks, 0) * scale
    ok &= (micros >= FIRST_US) & (micros <= LAST_US) & ~np.asarray(array.is_null())
    text = pc.cast(pa.array(micros, pa.timestamp("us")), pa.string())
    return pc.if_else(pa.array(ok), text, pa.scalar(None, pa.string()))


def decimals(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(value, ok) per row of a text column: ok for the plain decimal numbers with a finite
    value, which Python's ``float`` reads as Arrow does (both round correctly)."""
    n = len(array)
    plain = pc.match_substring_regex(array, DECIMAL)
    if not pc.any(plain).as_py():
        return np.zeros(n), np.zeros(n, bool)
    try:
        values = pc.cast(pc.if_else(plain, array, pa.scalar(None, array.type)), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # out of range: Python decides
        return np.zeros(n), np.zeros(n, bool)
    values = pc.fill_null(values, math.nan).to_numpy(zero_copy_only=False)
    return values, np.isfinite(values)


def numbers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(value, ok) per row: a finite number, or the text of one."""
    n = len(array)
    t = array.type
    if pa.types.is_floating(t) or pa.types.is_integer(t):
        values = pc.cast(array, pa.float64(), safe=False)
        values = pc.fill_null(values, math.nan).to_numpy(zero_copy_only=False)
        return values, np.isfinite(values)
    if not is_text(array):
        return np.zeros(n), np.zeros(n, bool)
    values, ok = decimals(array)
    if ok.all():
        return values, ok
    texts, codes = encode(pc.if_else(pa.array(ok), pa.scalar(None, array.type), array))
    parsed = [_number(v) for v in texts]
    good = per_row([p is not None for p in parsed], codes, False, bool)
    more = per_row([math.nan if p is None else p for p in parsed], codes, math.nan, float)
    return np.where(ok, values, more), ok | good


def candidate_ids(raw: Any) -> tuple[str, ...] | None:
    """The ids of a candidate list (a list of strings, or ``a|b`` text), or None when the
    full validation must look at it."""
    if type(raw) is str:
        ids = tuple(v for v in raw.split("|") if v)
    elif type(raw) is list and all(type(v) is str for v in raw):
        ids = tuple(raw)
    else:
        return None
    limit = LIMITS["candidate id"]
    if not ids or len(ids) > MAX_CANDIDATES:
        return None
    if any(len(v) > limit or "\x00" in v for v in ids):
        return None
    return ids


def candidate_lists(array: pa.Array) -> tuple[list, np.ndarray]:
    """(ids per distinct list, each row's index among them; -1 when none is logged) of a
    candidates column: ``a|b`` text, or lists of strings. The ids of a list the full
    validation must look at are None."""
    null = np.asarray(array.is_null())
    if is_text(array):
        texts, codes = encode(array)
        return [candidate_ids(t) for t in texts], codes
    listed = pa.types.is_list(array.type) or pa.types.is_large_list(array.type)
    if not listed or not is_text(pc.list_flatten(array)):
        return [None], np.where(null, -1, 0)
    # Lists of strings without NUL are told apart by their items joined with NUL.
    joined = pc.binary_join(array, "\x00")
    _, codes = encode(joined)
    lists: list = [None] * (int(codes.max()) + 1 if len(codes) else 0)
    distinct, first = np.unique(codes, return_index=True)
    for code, row in zip(distinct.tolist(), first.tolist(), strict=True):
        if code >= 0:
            lists[code] = candidate_ids(array[row].as_py())
    odd = np.asarray(joined.is_null()) & ~null  # a list holding a null id
    items = pc.list_flatten(array)
    with_nul = mask(pc.match_substring(items, "\x00"))
    if with_nul.any():
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        odd[parents[with_nul]] = True
    if odd.any():
        lists.append(None)
        codes = np.where(odd, len(lists) - 1, codes)
    return lists, codes


def set_ids(lists: Sequence[tuple[str, ...] | None]) -> list[str | None]:
    return [candidate_set_id(ids) if ids else None for ids in lists]


def combinations(*codes: np.ndarray) -> tuple[list[tuple], np.ndarray]:
    """The distinct combinations of several code columns (codes >= -1) and each row's
    index among them."""
    key = np.zeros(len(codes[0]), np.int64)
    for c in codes:
        key = key * (int(c.max(initial=-1)) + 2) + (c + 1)
    distinct, inverse = np.unique(key, return_inverse=True)
    combos = []
    for k in distinct.tolist():
        parts = []
        for c in reversed(codes):
            size = int(c.max(initial=-1)) + 2
            parts.append(k % size - 1)
            k //= size
        combos.append(tuple(reversed(parts)))
    return combos, inverse


# -- context ---------------------------------------------------------------------------------
KEY_MAX, VALUE_MAX = LIMITS["context key"], LIMITS["context value"]
SORTED = orjson.OPT_SORT_KEYS


def _key(key: Any) -> bool:
    return type(key) is str and len(key) <= KEY_MAX and "\x00" not in key


def dict_contexts(values: Sequence[Any]) -> list[str | None]:
    """The stored JSON of each context object (features: strings, or numbers stored as
    floats; JSON text of an object as a CSV cell holds it), or None where the full
    validation must look at it (also for a missing context)."""
    out: list[str | None] = []
    keys: set[str] = set()  # keys seen to be fine
    dumps, loads = orjson.dumps, orjson.loads
    for ctx in values:
        if type(ctx) is not dict:
            if type(ctx) is str:
                try:
                    ctx = loads(ctx)
                except orjson.JSONDecodeError:
                    ctx = None
            if type(ctx) is not dict:
                out.append(None)
                continue
        if len(ctx) > MAX_CONTEXT_FEATURES:
            out.append(None)
            continue
        plain = True
        for key, value in ctx.items():
            t = type(value)
            if t is float:
                if value - value != 0:  # inf or nan
                    break
            elif t is str:
                if len(value) > VALUE_MAX or "\x00" in value:
                    break
            elif t is int:
                plain = False
            else:
                break
            if key not in keys:
                if not _key(key):
                    break
                keys.add(key)
        else:
            if not plain:
                ctx = {k: v if type(v) is str else float(v) for k, v in ctx.items()}
            out.append(dumps(ctx, option=SORTED).decode())
            continue
        out.append(None)
    return out


def _features(column: pa.Array, head: str) -> tuple[pa.Array, np.ndarray]:
    """(``head`` and the JSON of the feature, "" for none; ok) per row of a flat column:
    numbers as they are, a text cell holding a number that number."""
    t = column.type
    null = np.asarray(column.is_null())
    if pa.types.is_floating(t) or pa.types.is_integer(t):
        values = pc.fill_null(pc.cast(column, pa.float64(), safe=False), 0.0)
        values = values.to_numpy(zero_copy_only=False)
        text = pc.binary_join_element_wise(head, json_floats(values), "")
        return pc.if_else(pa.array(null), "", text), null | np.isfinite(values)
    if not is_text(column):  # lists, objects, booleans: for the full validation
        return pa.array([""] * len(column), pa.string()), null
    numbers, numeric = decimals(column)
    rest = column if not numeric.any() else pc.if_else(pa.array(numeric), None, column)
    values, codes = encode(rest)
    features = [_feature(v, True) for v in values]
    texts = ["" if f is None else head + orjson.dumps(f).decode() for f in features]
    text = pa.array(per_row(texts, codes, ""), pa.string())
    good = per_row([f is not None for f in features], codes, True, bool)
    if numeric.any():
        texts = pc.binary_join_element_wise(head, json_floats(numbers), "")
        text = pc.if_else(pa.array(numeric), texts, text)
    return text, good


def json_floats(values: np.ndarray) -> pa.Array:
    """orjson's JSON text of each float, made once per distinct value (by its bits, so
    that -0.0 is not 0.0)."""
    bits, inverse = np.unique(values.view(np.int64), return_inverse=True)
    texts = orjson.dumps(bits.view(np.float64).tolist())[1:-1].split(b",")
    return pa.array(texts, pa.binary()).cast(pa.string()).take(pa.array(inverse.ravel()))


def flat_contexts(columns: dict[str, pa.Array], n: int) -> tuple[pa.Array, np.ndarray]:
    """(stored JSON, ok) per row of flat context columns (``ctx_age`` -> feature ``age``):
    a text cell holding a number is that number, an empty cell no feature."""
    ok = np.ones(n, bool)
    if len(columns) > MAX_CONTEXT_FEATURES or not all(_key(k) for k in columns):
        return pa.nulls(n, pa.string()), np.zeros(n, bool)
    parts = []
    for key in sorted(columns):
        text, good = _features(columns[key], "," + orjson.dumps(key).decode() + ":")
        parts.append(text)
        ok &= good
    if not parts:
        return pa.array(["{}"] * n, pa.string()), ok
    # Each present feature leads with a comma (Arrow's "skip" of nulls drops rows).
    body = pc.utf8_slice_codeunits(pc.binary_join_element_wise(*parts, ""), 1)
    return pc.binary_join_element_wise("{", body, "}", ""), ok
