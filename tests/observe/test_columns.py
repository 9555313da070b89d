"""The column checks accept what the full validation accepts and store the same rows, with
the same reasons for the rest: each file is read both ways and the results compared."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from unittest.mock import patch

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.observe import blocks
from optimizer.observe.columns import SPACE, timestamps
from optimizer.observe.prepare import PACK_DECISION, PACK_REWARD, prepare_file
from optimizer.observe.readers import READERS
from optimizer.observe.validate import BadRow, Validator
from tests.observe.test_fastpath import FACTS, USUAL, facts, rows

CAMPAIGNS = {"stride-spring": FACTS}


def by_rows(path: Path, fmt: str, campaign: str | None) -> tuple:
    """What the row readers and the full validation make of a file."""
    validator = Validator(facts, campaign)
    decisions, rewards, bad, read = [], [], [], 0
    for line, row, _, problem in READERS[fmt](path):
        read += 1
        if row is None:
            bad.append((line, problem))
            continue
        try:
            decision, reward = validator.event(row)
        except BadRow as exc:
            bad.append((line, str(exc)))
            continue
        if decision is not None:
            decisions.append((line, PACK_DECISION(decision)))
        if reward is not None:
            rewards.append((line, PACK_REWARD(reward)))
    return read, decisions, rewards, bad


def by_columns(path: Path, fmt: str, campaign: str | None, rows: int = 7) -> tuple:
    decisions, rewards, bad, read = [], [], [], 0
    for prepared, _ in prepare_file(path, fmt, CAMPAIGNS, campaign, rows):
        read += prepared.read
        decisions += zip(prepared.decision_lines, prepared.decisions, strict=True)
        rewards += zip(prepared.reward_lines, prepared.rewards, strict=True)
        bad += [(line, reason) for line, reason, _, _ in prepared.bad]
    return read, decisions, rewards, bad


def assert_same(path: Path, fmt: str, campaign: str | None = None, rows: int = 7) -> tuple:
    expected = by_rows(path, fmt, campaign)
    assert by_columns(path, fmt, campaign, rows) == expected
    return expected


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "|".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def write_csv(path: Path, batch: list[dict], plain: bool) -> None:
    """``plain``: cells without quotes, commas or line breaks (Arrow reads those files)."""
    header = sorted({k for row in batch for k in row})
    table = [[_cell(row.get(k)) for k in header] for row in batch]
    if plain:
        odd = str.maketrans("", "", '",\r\n')
        lines = [",".join(c.translate(odd) for c in cells) for cells in [header, *table]]
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
    else:
        with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as f:
            csv.writer(f).writerows([header, *table])


def _typed(values: list) -> pa.Array:
    """A column of the values' own type where Parquet can store one, else their JSON."""
    try:
        column = pa.array(values)
        if "struct<>" not in str(column.type) and not pa.types.is_null(column.type):
            return column
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    return pa.array([None if v is None else json.dumps(v, default=str) for v in values])


def write_parquet(path: Path, batch: list[dict]) -> None:
    header = sorted({k for row in batch for k in row})
    pq.write_table(pa.table({k: _typed([row.get(k) for row in batch]) for k in header}), path)


batches = st.lists(st.one_of(rows(), st.sampled_from(USUAL)), min_size=1, max_size=12)
campaigns = st.sampled_from([None, "stride-spring"])
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@EXAMPLES
@given(batches, campaigns)
def test_jsonl_by_columns_is_jsonl_by_rows(tmp_path_factory, batch, campaign):
    path = tmp_path_factory.mktemp("j") / "log.jsonl"
    text = "\n".join(json.dumps(r, default=str) for r in batch) + "\n"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    assert_same(path, "jsonl", campaign)


@EXAMPLES
@given(batches, campaigns, st.booleans())
def test_csv_by_columns_is_csv_by_rows(tmp_path_factory, batch, campaign, plain):
    path = tmp_path_factory.mktemp("c") / "log.csv"
    flat = [
        {
            **{k: v for k, v in r.items() if k != "context"},
            **{
                f"ctx_{k}": v
                for k, v in (r["context"].items() if isinstance(r.get("context"), dict) else [])
            },
        }
        for r in batch
    ]
    write_csv(path, flat, plain)
    assert_same(path, "csv", campaign)


@EXAMPLES
@given(batches, campaigns)
def test_parquet_by_columns_is_parquet_by_rows(tmp_path_factory, batch, campaign):
    path = tmp_path_factory.mktemp("p") / "log.parquet"
    write_parquet(path, batch)
    assert_same(path, "parquet", campaign)


LINES = [b"", b"  ", b"[1]", b'{"x": ', b"null", b"1e400", b'{"event_id": "e", "reward": 1}', b"{}"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(LINES), max_size=40),
    st.booleans(),
    st.integers(1, 9),
    st.sampled_from([1, 7, 64, 1 << 20]),
    st.integers(2, 3),
)
def test_jsonl_chunks_of_each_worker_are_those_of_one_reader(
    tmp_path_factory, lines, newline_at_end, rows, block, workers
):
    """A worker passes over the other workers' chunks by counting their lines."""
    path = tmp_path_factory.mktemp("s") / "log.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if newline_at_end else b""))

    def read(keep=lambda _: True) -> list:
        return [
            (span, chunk.lines.tolist(), chunk.problems, [chunk.row(i) for i in range(len(chunk))])
            for chunk, span in blocks.jsonl_chunks(path, rows, keep)
        ]

    with patch.object(blocks, "SKIP_BLOCK", block):
        shares = [read(lambda i, k=k: i % workers == k) for k in range(workers)]
    assert sorted(sum(shares, []), key=lambda chunk: chunk[0].offset) == read()


GOOD = "e{i},2026-03-01T10:00:0{s}Z,stride-spring,beginners,a,a|b,0.5,1,31,mobile"
HEADER = (
    "event_id,timestamp,campaign,segment,action,candidates,probability,reward,ctx_age,ctx_device"
)


def _good(i: int) -> str:
    return GOOD.format(i=i, s=i % 10)


@pytest.mark.parametrize(
    "lines",
    [
        [_good(i) for i in range(20)],  # all plain
        [_good(0), "", _good(1), "   ", _good(2)],  # blank lines; one of spaces is a row
        [_good(0) + "\r", _good(1) + "\r", "\r", _good(2) + "\r"],  # CRLF
        [_good(0), "e1,2026-03-01T10:00:00Z,stride-spring", _good(2) + ",extra", _good(3)],
        [_good(0), _good(1).replace("a|b", '"a|b"'), _good(2)],  # a quote: Python from there
        [_good(0), '"e1,x",2026', _good(2)],  # a quoted comma
        [_good(0), _good(1) + "\rtail", _good(2)],  # a lone carriage return
        [_good(0), _good(1).replace("mobile", "mob\udcffile"), _good(2)],  # invalid UTF-8
        [_good(0), _good(1).replace("mobile", "mob\x00ile"), _good(2)],  # NUL
        [_good(0), _good(1).replace("2026-03-01T10:00:01Z", "2026-03-01T11:00:01+01:00")],
        [_good(0), _good(1).replace("0.5", " 0.5"), _good(2).replace("31", "1_0")],
    ],
)
def test_csv_blocks_read_as_python_reads_them(tmp_path, lines, monkeypatch):
    monkeypatch.setattr(blocks, "CSV_BLOCK", 200)  # several blocks per file
    path = tmp_path / "log.csv"
    path.write_bytes(("\n".join([HEADER, *lines]) + "\n").encode("utf-8", "surrogateescape"))
    _, decisions, _, _ = assert_same(path, "csv")
    assert decisions


def test_the_usual_rows_take_the_column_checks(tmp_path):
    """Not a check that cannot pass vacuously: the usual rows are built by columns."""
    path = tmp_path / "log.jsonl"
    path.write_text(
        "".join(json.dumps({**USUAL[0], "event_id": f"e{i}"}) + "\n" for i in range(50))
    )
    ((chunk, _),) = list(blocks.jsonl_chunks(path, 100))
    from optimizer.observe.prepare import Preparer

    prepare = Preparer(CAMPAIGNS.get, Validator(facts, None))
    ok, decided, rewarded, _ = prepare._columns(chunk)
    assert ok.all() and len(decided) == len(rewarded) == 50
    assert_same(path, "jsonl")


def test_space_is_what_strip_removes():
    spaces = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    listed = set(SPACE.replace("\u2000-\u200a", "".join(map(chr, range(0x2000, 0x200B)))))
    assert listed == spaces


@pytest.mark.parametrize(
    "text, stored",
    [
        ("2026-03-01T12:00:00Z", "2026-03-01 12:00:00.000000"),
        ("2026-03-01 12:00:00.5", "2026-03-01 12:00:00.500000"),
        ("2026-03-01T12:00:00.123456+00:00", "2026-03-01 12:00:00.123456"),
        ("2024-02-29T00:00:00", "2024-02-29 00:00:00.000000"),
        ("2026-02-29T00:00:00", None),  # not a day
        ("2026-03-01T24:00:00", None),
        ("2026-03-01T12:60:00", None),
        ("2026-03-01T12:00:60", None),
        ("0000-03-01T12:00:00", None),
        ("2026-03-01T12:00:00+01:00", None),  # the full validation converts it
        (" 2026-03-01T12:00:00", None),
        ("2026-03-01", None),
    ],
)
def test_timestamps(text, stored):
    assert timestamps(pa.array([text])).to_pylist() == [stored]


def _base(n: int = 4) -> dict:
    return {
        "event_id": [f"e{i}" for i in range(n)],
        "timestamp": [f"2026-03-01T10:00:0{i}Z" for i in range(n)],
        "campaign": ["stride-spring"] * n,
        "action": ["a"] * n,
        "candidates": [["a", "b"]] * n,
        "probability": [0.5] * n,
        "reward": [1.0, 0.0, None, 1.0][:n],
    }


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"ctx_tags": pa.array([["x"], ["y"], None, []])},  # lists: the full validation says
        {"ctx_flag": [True, False, None, True], "ctx_n": pa.array([1, 2, None, 3], pa.int32())},
        {"ctx_w": pa.array([1.5, float("inf"), -0.0, None], pa.float32())},
        {"event_id": [1, 2, 3, 4]},
        {"segment": [1, None, 3, 4]},
        {"timestamp": pa.array([0, 1_500_000, None, -1], pa.timestamp("us", "UTC"))},
        {"timestamp": pa.array([0, 1_000, 1_001, None], pa.timestamp("ns"))},
        {"timestamp": pa.array([0, 1, 2, 3], pa.timestamp("s", "Europe/Paris"))},
        {"candidates": pa.array([["a", "b"], ["a", None], ["a\x00b"], []])},
        {"candidates": pa.array([["a", "b"]] * 4, pa.large_list(pa.large_string()))},
        {"probability": ["0.5", " 0.25", "1e400", None], "reward": ["1", "-0.0", "x", "1_0"]},
        {"context": [{"age": 3.0}, {"age": None}, None, {"age": 4.0, "b": True}]},
        {"context": ['{"age": 3}', "[1]", None, '{"age": "x"}']},
        {"kind": ["", "buy", None, " click"], "policy": ["vw", "", None, "x" * 201]},
    ],
)
def test_parquet_types_read_as_rows_read_them(tmp_path, changes):
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({**_base(), **changes}), path)
    assert_same(path, "parquet")
