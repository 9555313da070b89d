"""The read behind learning and evaluation: a campaign's decisions, one row each in time
order, with every reward stored for them as arrays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from optimizer.store import Store
from optimizer.store.logged import (
    DECISION_COLUMNS,
    OutOfOrder,
    decision_count,
    iter_logged,
    read_logged,
)
from tests.observe.test_join import random_log


@pytest.fixture()
def store(db_url, example_cfg):
    s = Store(db_url)
    s.save_campaign(example_cfg)
    return s


def _rewards(logged) -> set[tuple]:
    ids = logged.decisions["event_id"].to_numpy()
    return {
        (ids[i], k, v, pd.Timestamp(t).tz_localize("UTC"))
        for i, k, v, t in zip(
            logged.reward_of,
            logged.reward_kind,
            logged.reward_value,
            logged.reward_time,
            strict=True,
        )
    }


def test_decisions_and_rewards_as_stored(store):
    decisions, rewards = random_log(np.random.default_rng(5), 80)
    store.insert_events(decisions, rewards)
    logged = store.logged_decisions("stride-spring")
    frame = logged.decisions
    ours = [d for d in decisions if d["campaign"] == "stride-spring"]
    assert list(frame.columns) == list(DECISION_COLUMNS) and len(frame) == len(ours)
    expected = sorted(ours, key=lambda d: (d["timestamp"], d["event_id"]))
    assert list(frame["event_id"]) == [d["event_id"] for d in expected]
    assert list(frame["timestamp"]) == [pd.Timestamp(d["timestamp"]) for d in expected]
    assert list(frame["context"]) == [d["context"] for d in expected]
    assert [c for c in frame["candidates"]] == [d["candidates"] or [] for d in expected]
    assert list(frame["probability"]) == [d["probability"] for d in expected]
    assert [s if isinstance(s, str) else None for s in frame["segment"]] == [
        d["segment"] for d in expected
    ]
    by_list = {}
    for cands in frame["candidates"]:  # one list object per stored set
        assert by_list.setdefault(tuple(cands), cands) is cands
    mine = {d["event_id"] for d in ours}
    assert _rewards(logged) == {
        (r["event_id"], r["kind"], r["value"], pd.Timestamp(r["timestamp"]))
        for r in rewards
        if r["event_id"] in mine
    }


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_chunks_split_a_decisions_rewards(store, chunk):
    decisions, rewards = random_log(np.random.default_rng(6), 40)
    store.insert_events(decisions, rewards)
    with store.engine.connect() as conn:
        whole = read_logged(conn, "stride-spring")
        parts = read_logged(conn, "stride-spring", chunk=chunk)
    assert np.bincount(whole.reward_of).max() >= 2  # some decision has several rewards
    pd.testing.assert_frame_equal(parts.decisions, whole.decisions)
    for name in ("reward_of", "reward_kind", "reward_value", "reward_time"):
        assert np.array_equal(getattr(parts, name), getattr(whole, name)), name


@pytest.mark.parametrize("chunk", [1, 2, 5, 1_000])
def test_the_parts_read_one_after_another_are_the_whole_read(store, chunk):
    decisions, rewards = random_log(np.random.default_rng(8), 60)
    store.insert_events(decisions, rewards)
    with store.engine.connect() as conn:
        whole = read_logged(conn, "stride-spring")
    parts = list(iter_logged(store.engine, "stride-spring", chunk=chunk))
    assert all(len(p.decisions) for p in parts)
    if chunk < 1_000:
        assert len(parts) > 1
    frame = pd.concat([p.decisions for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(frame, whole.decisions)
    starts = np.cumsum([0] + [len(p.decisions) for p in parts])
    # every reward stays with its decision, in the same order: no decision is split
    assert np.array_equal(
        np.concatenate([p.reward_of + s for p, s in zip(parts, starts[:-1], strict=True)]),
        whole.reward_of,
    )
    for name in ("reward_kind", "reward_value", "reward_time"):
        joined = np.concatenate([getattr(p, name) for p in parts])
        assert np.array_equal(joined, getattr(whole, name)), name
    assert decision_count(store.engine, "stride-spring") == len(whole.decisions)


def test_times_stored_in_another_text_form_are_read_in_time_order(tmp_path, example_cfg):
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.save_campaign(example_cfg)
    t0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
    base = dict(campaign="stride-spring", segment="beginners", context={}, candidates=None)
    base |= dict(chosen="a", probability=0.5, run_id=None, policy="p", policy_version="1")
    decisions = [
        dict(base, event_id=e, timestamp=t0 + timedelta(hours=h)) for e, h in (("x", 0), ("y", -1))
    ]
    rewards = [
        dict(event_id=e, kind="click", value=v, timestamp=t0) for e, v in (("x", 1.0), ("y", 2.0))
    ]
    store.insert_events(decisions, rewards)
    with store.engine.begin() as conn:  # ISO 8601 with a T: sorts after the space form
        conn.execute(
            text("UPDATE decision SET timestamp = '2026-03-01T09:00:00' WHERE event_id = 'y'")
        )
    logged = store.logged_decisions("stride-spring")
    assert list(logged.decisions["event_id"]) == ["y", "x"]
    with pytest.raises(OutOfOrder, match="decisions of 'stride-spring' stored out of time order"):
        list(iter_logged(store.engine, "stride-spring"))
    assert logged.decisions["timestamp"].iloc[0] == pd.Timestamp(t0 - timedelta(hours=1))
    stamp = pd.Timestamp(t0)
    assert _rewards(logged) == {("x", "click", 1.0, stamp), ("y", "click", 2.0, stamp)}


def test_no_decisions(store):
    assert list(iter_logged(store.engine, "stride-spring")) == []
    assert decision_count(store.engine, "stride-spring") == 0
    logged = store.logged_decisions("stride-spring")
    assert logged.decisions.empty and list(logged.decisions.columns) == list(DECISION_COLUMNS)
    assert len(logged.reward_of) == len(logged.reward_time) == 0
