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
from optimizer.observe.ingest import ingest_file
from optimizer.store import Store
from tests.observe.test_ingest import BAD_ROWS, GOOD, jsonl


@pytest.fixture()
def store(db_url, example_cfg):
    s = Store(db_url)
    s.save_campaign(example_cfg)
    return s


def test_the_worker_stores_what_this_process_stores(tmp_path, example_cfg):
    rows = [{**GOOD, "event_id": f"w{i}", "reward": i % 2} for i in range(3_000)]
    rows[10:10] = [r for r, _ in BAD_ROWS]
    path = jsonl(tmp_path, rows)
    reports, events = [], []
    for worker in (False, True):
        store = Store(f"sqlite:///{tmp_path}/{worker}.db")
        store.save_campaign(example_cfg)
        reports.append(ingest_file(store, path, worker=worker).as_dict())
        frame = store.logged_events("stride-spring")
        events.append(sorted(zip(frame.event_id, frame.timestamp, frame.reward_value, strict=True)))
        quarantined = [(q.line, q.reason) for q in store.quarantined(str(path))]
        events[-1].append(quarantined)
    assert reports[0] == reports[1] and reports[0]["decisions"] == 3_000
    assert events[0] == events[1]


def test_an_error_in_the_worker_is_raised_here(tmp_path, store):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match=r"broken\.parquet: not a readable Parquet file"):
        ingest_file(store, bad, worker=True)


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
    ingest_file(Store(url), path, worker=True)


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
    report = ingest_file(store, path, worker=True)
    assert store.count_events("stride-spring") == (60_000, 60_000)
    assert report.decisions == 60_000 - before[0] and report.duplicates == 2 * before[0]
