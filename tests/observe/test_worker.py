"""Rows prepared in a worker process: the same result as in-process, errors raised in the
ingesting process, and a killed ingest leaves no worker behind and resumes cleanly."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from optimizer.errors import InputError
from optimizer.observe import blocks
from optimizer.observe.ingest import ingest_file
from optimizer.store import Store
from tests.observe.test_ingest import BAD_ROWS, GOOD, jsonl

CSV_HEADER = [
    "event_id",
    "timestamp",
    "campaign",
    "segment",
    "action",
    "candidates",
    "probability",
    "reward",
    "ctx_age",
]


@pytest.fixture()
def store(db_url, example_cfg):
    s = Store(db_url)
    s.save_campaign(example_cfg)
    return s


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_workers_store_what_this_process_stores(tmp_path, example_cfg, monkeypatch, fmt):
    import optimizer.observe.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "BATCH", 400)  # several chunks for each worker
    monkeypatch.setattr(blocks, "CSV_BLOCK", 20_000)
    rows = [{**GOOD, "event_id": f"w{i}", "reward": i % 2} for i in range(3_000)]
    rows[10:10] = [r for r, _ in BAD_ROWS] + [{**GOOD, "event_id": "w7", "action": "b"}]
    path = jsonl(tmp_path, rows)
    if fmt == "csv":
        path = tmp_path / "log.csv"
        lines = [",".join(CSV_HEADER)] + [
            f"w{i},2026-03-01T10:00:00Z,stride-spring,beginners,a,a|b,0.5,{i % 2},31"
            for i in range(3_000)
        ]
        lines[100:100] = ["bad,row", "w7,2026-03-01T10:00:00Z,stride-spring,,b,a|b,0.5,1,31"]
        path.write_text("\n".join(lines) + "\n")
    results = []
    for workers in (0, 1, 2):
        store = Store(f"sqlite:///{tmp_path}/{workers}.db")
        store.save_campaign(example_cfg)
        report = ingest_file(store, path, workers=workers).as_dict()
        frame = store.logged_events("stride-spring")
        events = sorted(zip(frame.event_id, frame.timestamp, frame.reward_value, strict=True))
        quarantined = [(q.line, q.reason, q.raw) for q in store.quarantined(str(path))]
        results.append((report, events, quarantined))
    assert results[0] == results[1] == results[2]
    assert results[0][0]["decisions"] == 3_000 and results[0][0]["quarantined"] > 0
    (conflict,) = [q for q in results[0][2] if "conflicting" in q[1]]  # its raw read again
    assert "w7" in conflict[2] and conflict[2] == path.read_text().splitlines()[conflict[0] - 1]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_damaged_parquet_file_is_an_input_error_here(tmp_path, store, workers):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "damaged.parquet"
    rows = [{**GOOD, "event_id": f"d{i}", "candidates": None} for i in range(2_000)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=500, compression="none")
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 2_000] = b"\xff" * 2_000  # pages, not the footer
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"damaged\.parquet: a part of the Parquet file"):
        ingest_file(store, path, workers=workers)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match=r"garbage\.parquet: not a readable Parquet file"):
        ingest_file(store, garbage, workers=workers)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


def _ingest_with_worker(url: str, path: str) -> None:
    import optimizer.observe.ingest as ingest_module

    ingest_module.BATCH = 500
    ingest_file(Store(url), path, workers=1)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_kill_9_leaves_no_worker_and_a_rerun_stores_each_event_once(tmp_path, store, db_url):
    rows = [{**GOOD, "event_id": f"k{i}", "reward": i % 2} for i in range(60_000)]
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = multiprocessing.get_context("fork").Process(
        target=_ingest_with_worker, args=(db_url, str(path))
    )
    proc.start()
    deadline = time.monotonic() + 120
    while store.count_events("stride-spring")[0] < 2_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert workers, "the ingest had no worker process"
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, workers)), "the worker outlived the killed ingest"
    before = store.count_events("stride-spring")
    assert 2_000 <= before[0] < 60_000 and before[0] == before[1]  # whole rows only
    report = ingest_file(store, path, workers=1)
    assert store.count_events("stride-spring") == (60_000, 60_000)
    assert report.decisions == 60_000 - before[0] and report.duplicates == 2 * before[0]
