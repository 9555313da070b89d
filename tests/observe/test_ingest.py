"""Ingestion: every kind of bad row quarantined with its reason, formats, resumption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimizer.errors import InputError
from optimizer.generate import seed_creatives
from optimizer.observe import ingest as ingest_module
from optimizer.observe.ingest import ingest_file
from optimizer.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GOOD = {
    "event_id": "e1",
    "timestamp": "2026-03-01T10:00:00Z",
    "campaign": "stride-spring",
    "segment": "beginners",
    "context": {"age": 31, "device": "mobile"},
    "action": "a",
    "candidates": ["a", "b"],
    "probability": 0.5,
}


@pytest.fixture()
def store(db_url, example_cfg):
    s = Store(db_url)
    s.save_campaign(example_cfg)
    return s


@pytest.fixture(scope="module")
def seed_ids(example_cfg) -> list[str]:
    return [c.id for c in seed_creatives(example_cfg)]


def jsonl(tmp_path, rows, name="log.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


LONG = "x" * 100_000
BAD_ROWS = [
    ('{"event_id": "x", "timestamp": ', "malformed JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    ('{"event_id": "s1", "action": "\\udc80"}', "malformed JSON: a lone UTF-16 surrogate"),
    ({**GOOD, "event_id": ""}, "missing field 'event_id'"),
    ({k: v for k, v in GOOD.items() if k != "probability"}, "missing field 'probability'"),
    ({**GOOD, "probability": 0}, "probability 0.0 is outside (0, 1]"),
    ({**GOOD, "probability": 1.5}, "probability 1.5 is outside (0, 1]"),
    ({**GOOD, "probability": "high"}, "field 'probability' is not a number: 'high'"),
    ({**GOOD, "campaign": "other"}, "unknown campaign 'other'; register it first"),
    ({**GOOD, "timestamp": "yesterday"}, "timestamp 'yesterday' is not ISO 8601"),
    ({**GOOD, "action": "z"}, "action 'z' is not among the candidates"),
    ({**GOOD, "context": [1]}, "context must be an object of user features"),
    ({**GOOD, "context": {"age": [1]}}, "context feature 'age' must be a string or a number"),
    ({"event_id": "r", "timestamp": "2026-03-01T10:00:00Z"}, "neither a decision"),
    (
        {"event_id": "r", "timestamp": "2026-03-01T10:00:00Z", "reward": "nan"},
        "field 'reward' is not finite",
    ),
    # checked against the campaign as stored
    (
        {**GOOD, "candidates": None, "action": "not-a-creative"},
        "action 'not-a-creative' is not a creative of campaign 'stride-spring'; log the "
        "candidate list",
    ),
    (
        {**GOOD, "segment": "astronauts"},
        "segment 'astronauts' is not a segment of campaign 'stride-spring' (bargain_hunters, "
        "beginners, eco_commuters, marathoners, trail_runners)",
    ),
    # bounded sizes
    ({**GOOD, "event_id": LONG}, "field 'event_id' is 100,000 characters, over the limit of 200"),
    ({**GOOD, "action": LONG}, "field 'action' is 100,000 characters, over the limit of 200"),
    ({**GOOD, "segment": LONG}, "field 'segment' is 100,000 characters, over the limit of 200"),
    (
        {**GOOD, "candidates": ["a", LONG]},
        "field 'candidate id' is 100,000 characters, over the limit of 200",
    ),
    (
        {**GOOD, "context": {LONG: 1}},
        "field 'context key' is 100,000 characters, over the limit of 100",
    ),
    (
        {**GOOD, "context": {"device": LONG}},
        "field 'context value' is 100,000 characters, over the limit of 1,000",
    ),
    ({**GOOD, "policy": LONG}, "field 'policy' is 100,000 characters, over the limit of 200"),
    ({**GOOD, "action": "a\x00"}, "field 'action' contains a NUL character"),
]


def test_every_kind_of_bad_row_is_quarantined_with_its_reason(tmp_path, store):
    rows = [GOOD] + [r for r, _ in BAD_ROWS] + [{**GOOD, "event_id": "e2"}]
    path = jsonl(tmp_path, rows)
    report = ingest_file(store, path)
    assert (report.read, report.decisions, report.quarantined) == (len(rows), 2, len(BAD_ROWS))
    quarantined = store.quarantined(str(path))
    assert [q.line for q in quarantined] == list(range(2, len(BAD_ROWS) + 2))
    for q, (_, reason) in zip(quarantined, BAD_ROWS, strict=True):
        assert q.reason.startswith(reason), (q.line, q.reason)
        assert q.raw and len(q.reason) < 300
    again = ingest_file(store, path)  # nothing new, no second quarantine row
    assert (again.decisions, again.duplicates, again.quarantined) == (0, 2, len(BAD_ROWS))
    assert len(store.quarantined(str(path))) == len(BAD_ROWS)


def test_a_lone_surrogate_quarantines_its_row_and_keeps_the_rest(tmp_path, store):
    rows = [{**GOOD, "event_id": f"g{i}"} for i in range(5)]
    rows.insert(2, json.dumps({**GOOD, "event_id": "bad", "policy": "\udc80"}))
    path = jsonl(tmp_path, rows)
    report = ingest_file(store, path)
    assert (report.decisions, report.quarantined) == (5, 1)
    (q,) = store.quarantined(str(path))
    assert q.line == 3 and "surrogate" in q.reason and "\\udc80" in q.raw


def test_decisions_without_candidates_name_creatives_of_the_campaign(tmp_path, store, seed_ids):
    no_list = {k: v for k, v in GOOD.items() if k != "candidates"}
    rows = [{**no_list, "event_id": f"n{i}", "action": a} for i, a in enumerate(seed_ids[:3])]
    report = ingest_file(store, jsonl(tmp_path, rows))  # seed creatives of the stored config
    assert (report.decisions, report.quarantined) == (3, 0)
    events = store.logged_events("stride-spring")
    assert list(events.candidates) == [[], [], []]


def test_csv_decisions_rewards_and_bad_rows(tmp_path, store, seed_ids):
    path = tmp_path / "d.csv"
    path.write_text(
        "event_id,timestamp,campaign,ctx_age,ctx_device,action,probability,candidates,reward\n"
        "c1,2026-03-01T10:00:00,stride-spring,30,mobile,a,0.25,a|b|c|d,1\n"
        f"c2,2026-03-01T10:00:01,stride-spring,31,desktop,{seed_ids[1]},0.25,,0\n"
        "c3,2026-03-01T10:00:02,stride-spring,31,desktop,b,0.25,,0,extra\n"
    )
    report = ingest_file(store, path)
    assert (report.decisions, report.rewards, report.quarantined) == (2, 2, 1)
    (q,) = store.quarantined(str(path))
    assert (q.line, q.reason) == (4, "more fields than the header has")
    events = store.logged_events("stride-spring")
    first = events[events.event_id == "c1"].iloc[0]
    assert first.context == {"age": 30.0, "device": "mobile"}
    assert first.candidates == ["a", "b", "c", "d"] and first.reward_value == 1.0


def test_parquet_dsjson_and_reports(tmp_path, store):
    parquet = ingest_file(store, EXAMPLES / "decisions.parquet")
    assert (parquet.format, parquet.decisions, parquet.rewards) == ("parquet", 4, 4)
    ds = ingest_file(store, EXAMPLES / "events.dsjson", campaign="stride-spring")
    assert (ds.format, ds.decisions, ds.quarantined) == ("dsjson", 4, 0)
    events = store.logged_events("stride-spring")
    row = events[events.event_id == "ds-1-0"].iloc[0]
    assert row.segment == "beginners" and len(row.candidates) == 12
    assert row.chosen == row.candidates[2]  # _label_Action 3 is 1-based
    rep = ingest_file(store, EXAMPLES / "report.csv")
    assert (rep.format, rep.reports, rep.quarantined) == ("report", 2, 0)
    assert {r.segment for r in store.reports("stride-spring")} == {"marathoners", "beginners"}
    assert {r.ad_group for r in store.reports("stride-spring")} == {""}


def test_reports_with_ad_groups(tmp_path, store):
    path = tmp_path / "tests.csv"
    path.write_text(
        "campaign,ad_group,headline,date,impressions,clicks\n"
        "stride-spring,test-1,Run faster,2026-03-01,1000,12\n"
        "stride-spring,test-2,Run faster,2026-03-01,900,7\n"  # same creative and date
        "stride-spring,test-2,Run faster,2026-03-01,900,8\n"  # the same row, other numbers
        f"stride-spring,test-3,{'x' * 1001},2026-03-01,900,8\n"
    )
    report = ingest_file(store, path)
    assert (report.reports, report.quarantined) == (2, 2)
    rows = sorted((r.ad_group, r.clicks) for r in store.reports("stride-spring"))
    assert rows == [("test-1", 12), ("test-2", 7)]
    conflict, too_long = [q.reason for q in store.quarantined(str(path))]
    assert conflict.startswith("conflicting duplicate of the report row of creative")
    assert conflict.endswith(
        "(segment '', ad group 'test-2') stored earlier: field 'clicks' differs"
    )
    assert too_long == "field 'headline' is 1,001 characters, over the limit of 1,000"


def test_unknown_format_and_missing_file(tmp_path, store):
    odd = tmp_path / "log.txt"
    odd.write_text("x\n")
    with pytest.raises(InputError, match=r"log\.txt: cannot tell the format.*--format"):
        ingest_file(store, odd)
    with pytest.raises(InputError, match="no such file"):
        ingest_file(store, tmp_path / "missing.jsonl")


def test_a_killed_ingest_resumes_without_loss_or_duplicates(tmp_path, store, monkeypatch):
    rows = [{**GOOD, "event_id": f"k{i}", "reward": i % 2} for i in range(2_500)]
    rows[700] = "{broken"
    path = jsonl(tmp_path, rows)
    monkeypatch.setattr(ingest_module, "BATCH", 500)
    real = store.write_events
    calls = {"n": 0}

    def dies_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("killed")  # the process dies between two batches
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "write_events", dies_on_third_batch)
    with pytest.raises(SystemExit):
        ingest_file(store, path)
    stored_before = store.count_events("stride-spring")[0]
    assert 0 < stored_before < 2_499
    monkeypatch.setattr(store, "write_events", real)
    report = ingest_file(store, path)
    assert store.count_events("stride-spring") == (2_499, 2_499)
    assert report.decisions == 2_499 - stored_before
    assert len(store.quarantined(str(path))) == 1


def test_a_row_the_database_refuses_is_quarantined_alone(tmp_path, store, monkeypatch):
    from sqlalchemy.exc import DataError

    rows = [{**GOOD, "event_id": f"p{i}"} for i in range(10)]
    path = jsonl(tmp_path, rows)
    real = store.write_events

    def refuses_p4(batch):
        if any(r[0] == "p4" for r in batch.rows[0]):  # packed: the event id first
            raise DataError("INSERT ...", {}, ValueError("value out of range"))
        return real(batch)

    monkeypatch.setattr(store, "write_events", refuses_p4)
    report = ingest_file(store, path)
    assert (report.decisions, report.quarantined) == (9, 1)
    (q,) = store.quarantined(str(path))
    assert (q.line, q.reason) == (5, "the database refused the row: ValueError")
