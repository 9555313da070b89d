"""Identical re-sends are no-ops; conflicting duplicates (same key, other content) are
quarantined and never merged into the stored event; concurrent ingests store once."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from optimizer.observe.ingest import ingest_file
from optimizer.offline import ingest_files
from optimizer.store import Store
from tests.observe.test_ingest import GOOD, jsonl


@pytest.fixture()
def store(db_url, example_cfg):
    s = Store(db_url)
    s.save_campaign(example_cfg)
    return s


def _events(store) -> dict[str, tuple]:
    frame = store.logged_events("stride-spring")
    return {
        e: (chosen, value)
        for e, chosen, value in zip(frame.event_id, frame.chosen, frame.reward_value, strict=True)
    }


def test_a_conflicting_decision_is_quarantined_not_credited(tmp_path, store):
    first = jsonl(tmp_path, [{**GOOD, "event_id": "e1"}, {**GOOD, "event_id": "e2"}], "a.jsonl")
    ingest_file(store, first)
    second = jsonl(
        tmp_path,
        [
            {**GOOD, "event_id": "e1", "action": "b", "reward": 1},  # another action shown
            {**GOOD, "event_id": "e2"},  # an identical re-send
            {**GOOD, "event_id": "e3", "reward": 1},
        ],
        "b.jsonl",
    )
    report = ingest_file(store, second)
    assert (report.decisions, report.rewards, report.duplicates, report.quarantined) == (1, 1, 1, 1)
    assert report.reasons == {"conflicting duplicate of a stored row": 1}
    (q,) = store.quarantined(str(second))
    assert (q.line, q.reason) == (
        1,
        "conflicting duplicate of event 'e1' stored earlier: field 'chosen' differs",
    )
    # the click of the conflicting row is not credited to the stored decision
    assert _events(store)["e1"][1] != 1.0 and _events(store)["e3"] == ("a", 1.0)
    again = ingest_file(store, second)  # re-ingesting: the same quarantine row, nothing new
    assert (again.stored, again.duplicates, again.quarantined) == (0, 3, 1)
    assert len(store.quarantined(str(second))) == 1


def test_conflicts_within_one_file_and_in_rewards(tmp_path, store):
    rows = [
        {**GOOD, "event_id": "d1", "probability": 0.5},
        {**GOOD, "event_id": "d1", "probability": 0.25, "segment": "marathoners"},
        {"event_id": "d1", "timestamp": "2026-03-01T10:05:00Z", "reward": 1},
        {"event_id": "d1", "timestamp": "2026-03-01T10:05:00Z", "reward": 1},  # identical
        {"event_id": "d1", "timestamp": "2026-03-01T10:05:00Z", "reward": 0},
        {"event_id": "d1", "timestamp": "2026-03-01T10:05:00Z", "reward": 1, "kind": "buy"},
    ]
    report = ingest_file(store, jsonl(tmp_path, rows))
    assert (report.decisions, report.rewards, report.duplicates) == (1, 2, 1)
    reasons = [q.reason for q in store.quarantined()]
    assert reasons == [
        "conflicting duplicate of event 'd1' stored earlier: fields 'segment', 'probability' "
        "differ",
        "conflicting duplicate of the 'click' reward of event 'd1' stored earlier: field "
        "'value' differs",
    ]


def test_a_conflicting_row_stores_none_of_its_parts(tmp_path, store):
    """A joined row whose reward conflicts keeps its (new) decision out too."""
    reward = {"event_id": "j1", "timestamp": "2026-03-01T10:00:00Z", "reward": 1}
    ingest_file(store, jsonl(tmp_path, [reward], "rewards.jsonl"))  # the reward came first
    joined = [{**GOOD, "event_id": "j1", "reward": 0}, {**GOOD, "event_id": "j2", "reward": 0}]
    report = ingest_file(store, jsonl(tmp_path, joined, "joined.jsonl"))
    assert (report.decisions, report.rewards, report.quarantined) == (1, 1, 1)
    assert set(_events(store)) == {"j2"}
    assert store.orphan_rewards() == 1  # j1's reward, still waiting for a clean decision


def test_identical_events_from_other_formats_are_duplicates(tmp_path, store):
    """The content digest is of the values, not of the text: JSON and CSV agree."""
    ingest_file(store, jsonl(tmp_path, [{**GOOD, "reward": 1, "context": {"age": 31}}]))
    csv = tmp_path / "same.csv"
    csv.write_text(
        "event_id,timestamp,campaign,segment,ctx_age,action,candidates,probability,reward\n"
        "e1,2026-03-01T11:00:00+01:00,stride-spring,beginners,31.0,a,a|b,0.50,1.0\n"
    )
    report = ingest_file(store, csv)
    assert (report.stored, report.duplicates, report.quarantined) == (0, 2, 0)


def _ingest(url: str, cfg, path: str, barrier) -> None:
    barrier.wait()
    store = Store(url)
    (report,) = ingest_files(store, [path], config=cfg)
    assert report.quarantined == 0


def test_two_first_time_ingests_at_once(tmp_path, example_cfg, db_url):
    """Two processes create and fill the same new database at the same moment."""
    rows = [{**GOOD, "event_id": f"c{i}", "reward": i % 2} for i in range(3_000)]
    paths = [jsonl(tmp_path, rows[:2_000], "a.jsonl"), jsonl(tmp_path, rows[1_000:], "b.jsonl")]
    ctx = multiprocessing.get_context("fork")
    attempts = 3 if db_url.startswith("sqlite") else 1
    for attempt in range(attempts):
        url = db_url.replace("store.db", f"store-{attempt}.db")
        barrier = ctx.Barrier(2)
        procs = [
            ctx.Process(target=_ingest, args=(url, example_cfg, str(p), barrier)) for p in paths
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(300)
        assert [p.exitcode for p in procs] == [0, 0], f"attempt {attempt}"
        assert Store(url).count_events("stride-spring") == (3_000, 3_000)


def test_the_report_json_is_its_serialisation(tmp_path, store):
    report = ingest_file(store, jsonl(tmp_path, [GOOD, "{bad"]))
    data = report.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "file": str(tmp_path / "log.jsonl"),
        "format": "jsonl",
        "read": 2,
        "decisions": 1,
        "rewards": 0,
        "reports": 0,
        "duplicates": 0,
        "quarantined": 1,
        "reasons": {"malformed JSON": 1},
        "stored": 1,
    }


def _ingest_slowly(url: str, path: str) -> None:
    import optimizer.observe.ingest as ingest_module

    ingest_module.BATCH = 200
    ingest_file(Store(url), path)


def test_a_kill_9_mid_ingest_then_a_rerun_stores_each_event_once(tmp_path, store, db_url):
    import os
    import signal
    import time

    rows = [{**GOOD, "event_id": f"k{i}", "reward": i % 2} for i in range(20_000)]
    path = jsonl(tmp_path, rows)
    proc = multiprocessing.get_context("fork").Process(
        target=_ingest_slowly, args=(db_url, str(path))
    )
    proc.start()
    deadline = time.monotonic() + 120
    while store.count_events("stride-spring")[0] < 1_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    before = store.count_events("stride-spring")
    assert 1_000 <= before[0] < 20_000 and before[0] == before[1]  # whole rows only
    report = ingest_file(store, path)
    assert store.count_events("stride-spring") == (20_000, 20_000)
    assert report.decisions == 20_000 - before[0]
    assert report.duplicates == 2 * before[0]
