from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from optimizer.config import Attribution
from optimizer.observe.join import (
    COLUMNS,
    StreamedJoin,
    join_rewards,
    join_rewards_by_pairs,
    split_by_time,
    training_part,
)
from optimizer.store import Store


@pytest.fixture()
def store(tmp_path, example_cfg):
    from datetime import UTC, datetime

    s = Store(f"sqlite:///{tmp_path}/j.db")
    s.save_campaign(example_cfg)

    def t(h):
        return datetime(2026, 3, 1, tzinfo=UTC).replace(hour=h)

    d = [
        dict(
            event_id=f"d{i}",
            run_id=None,
            timestamp=t(i),
            campaign="stride-spring",
            segment="beginners",
            context={},
            candidates=["a", "b"],
            chosen="a",
            probability=0.5,
            policy="logged",
            policy_version="logged",
        )
        for i in range(5)
    ]
    r = [
        dict(event_id="d0", kind="click", value=1.0, timestamp=t(1)),  # in window
        dict(event_id="d1", kind="click", value=1.0, timestamp=t(1).replace(day=3)),  # late
        dict(event_id="d2", kind="conversion", value=5.0, timestamp=t(3)),  # other kind
        dict(event_id="d4", kind="click", value=1.0, timestamp=t(8)),  # in window
        dict(event_id="nobody", kind="click", value=1.0, timestamp=t(2)),  # orphan
    ]
    s.insert_events(d, r)
    return s


def test_window_default_late_orphan(store):
    joined = join_rewards(store, "stride-spring", Attribution(window_hours=6, default_reward=0.0))
    # the data clock is the late reward (March 3): every window has closed
    rewards = dict(zip(joined.events.event_id, joined.events.reward, strict=True))
    assert rewards == {"d0": 1.0, "d1": 0.0, "d2": 0.0, "d3": 0.0, "d4": 1.0}
    assert joined.summary() == {
        "decisions": 5,
        "rewarded": 2,
        "default_reward": 3,
        "pending": 0,
        "late_rewards": 1,
        "orphan_rewards": 1,
    }


def test_open_windows_are_pending_and_kinds_are_configurable(store):
    from datetime import UTC, datetime

    now = datetime(2026, 3, 1, 4, 30, tzinfo=UTC)
    joined = join_rewards(
        store, "stride-spring", Attribution(window_hours=2, kinds=["click", "conversion"]), now=now
    )
    # d3 (03:00) and d4 (04:00) are still inside their 2-hour windows at 04:30
    assert set(joined.events.event_id) == {"d0", "d1", "d2"} and joined.pending == 2
    assert dict(zip(joined.events.event_id, joined.events.reward, strict=True))["d2"] == 5.0


def test_split_by_time(store):
    joined = join_rewards(store, "stride-spring", Attribution())
    train, test = split_by_time(joined.events, 0.4)
    assert list(train.event_id) == ["d0", "d1", "d2"] and list(test.event_id) == ["d3", "d4"]


# -- the join of one row per decision against the join of pairs it replaced ---------------------
START = datetime(2026, 3, 1, tzinfo=UTC)
HOUR, MICRO = timedelta(hours=1), timedelta(microseconds=1)
# reward delays on and around the edges of the windows the attributions below use
DELAYS = [-HOUR, -MICRO, timedelta(0), 30 * 60 * 1_000_000 * MICRO, HOUR / 2 + MICRO, 6 * HOUR]
DELAYS += [6 * HOUR + MICRO, 24 * HOUR, 25 * HOUR, 72 * HOUR]
ATTRIBUTIONS = [
    Attribution(window_hours=6),
    Attribution(window_hours=0.5, kinds=["click", "conversion"], default_reward=-1.0),
    Attribution(window_hours=24, kinds=["view"], default_reward=0.25),
    Attribution(window_hours=1e-9, kinds=["click", "click"]),  # 3.6 us: a delay of 0 or 1 us
]
NOWS = [
    None,
    START.replace(tzinfo=None) + 10 * HOUR,  # naive: UTC
    (START + 10 * HOUR).astimezone(timezone(timedelta(hours=2))),
    START - HOUR,  # before every decision: all pending
]


def random_log(rng: np.random.Generator, n: int) -> tuple[list[dict], list[dict]]:
    """Decisions (tied times, ids that collations order differently, missing segments and
    candidate lists, another campaign) and rewards of several kinds around the windows'
    edges, late, early, and orphans."""
    prefixes = ["a-", "A", "a", "b_", "é", "Z", "a1"]
    lists = [["a", "b"], ["b", "c", "a"], None]
    decisions, rewards = [], []
    for i in range(n):
        ts = START + int(rng.integers(0, 30)) * HOUR / 2 + int(rng.choice([0, 1, 999_999])) * MICRO
        cands = lists[int(rng.integers(0, 3))]
        event_id = f"{prefixes[int(rng.integers(0, len(prefixes)))]}{i:04d}"
        decisions.append(
            dict(
                event_id=event_id,
                run_id=None,
                timestamp=ts,
                campaign="stride-spring" if rng.random() < 0.9 else "elsewhere",
                segment=[None, "beginners", "trail_runners"][int(rng.integers(0, 3))],
                context={"age": float(rng.integers(18, 70)), "device": "mobile"} if i % 3 else {},
                candidates=cands,
                chosen=cands[int(rng.integers(0, len(cands)))] if cands else "a",
                probability=float(rng.uniform(0.05, 1.0)),
                policy="logged",
                policy_version="logged",
            )
        )
        for kind in rng.permutation(["click", "conversion", "view"])[: int(rng.integers(0, 4))]:
            delay = DELAYS[int(rng.integers(0, len(DELAYS)))]
            value = float(rng.choice([0.0, 1.0, 2.5, -1.0]))
            rewards.append(dict(event_id=event_id, kind=kind, value=value, timestamp=ts + delay))
    for i in range(3):
        rewards.append(dict(event_id=f"gone{i}", kind="click", value=1.0, timestamp=START))
    return decisions, rewards


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_join_equals_the_join_of_pairs_on_random_logs(db_url, example_cfg, seed):
    s = Store(db_url)
    s.save_campaign(example_cfg)
    s.insert_events(*random_log(np.random.default_rng(seed), 150))
    for attribution in ATTRIBUTIONS:
        for now in NOWS:
            new = join_rewards(s, "stride-spring", attribution, now=now)
            old = join_rewards_by_pairs(s, "stride-spring", attribution, now=now)
            assert new.summary() == old.summary()
            assert (new.rewarded, new.late) == (old.rewarded, old.late)
            pd.testing.assert_frame_equal(new.events, old.events, check_exact=False, rtol=1e-12)
    every = join_rewards(s, "stride-spring", ATTRIBUTIONS[0])
    assert every.pending == 0 and every.late > 0 and every.orphans == 3 and every.defaulted > 0
    assert (every.events.timestamp.diff().dropna() >= pd.Timedelta(0)).all()


def test_empty_campaign(store):
    for join in (join_rewards, join_rewards_by_pairs):
        joined = join(store, "nobody", Attribution())
        assert joined.events.empty and list(joined.events.columns) == COLUMNS
        assert joined.summary()["orphan_rewards"] == 1


# -- the join streamed chunk by chunk, as learn reads it ----------------------------------------
def _streamed(frames, expected: pd.DataFrame) -> pd.DataFrame:
    """The frames a streamed join yields, as one; none when ``expected`` is empty."""
    parts = list(frames)
    assert all(len(p) for p in parts)
    if not parts:
        assert expected.empty
        return expected
    return pd.concat(parts, ignore_index=True)[COLUMNS]


@pytest.mark.parametrize("seed", [0, 3])
def test_the_streamed_join_equals_the_join_on_random_logs(db_url, example_cfg, seed):
    s = Store(db_url)
    s.save_campaign(example_cfg)
    s.insert_events(*random_log(np.random.default_rng(seed), 150))
    for attribution in ATTRIBUTIONS:
        for now in NOWS:
            whole = join_rewards(s, "stride-spring", attribution, now=now)
            for chunk in (1, 4, 1_000):
                streamed = StreamedJoin(s, "stride-spring", attribution, now=now, chunk=chunk)
                events = _streamed(streamed, whole.events)
                assert streamed.summary() == whole.summary()
                assert (streamed.closed, streamed.rewarded) == (len(whole.events), whole.rewarded)
                pd.testing.assert_frame_equal(events, whole.events, check_index_type=False)


def steady_log(n: int) -> tuple[list[dict], list[dict]]:
    """A decision every 10 seconds, every 7th clicked at once: with a 6-minute window, the
    last 36 decisions are open at the end, some of them clicked (closed) behind unclicked
    ones (pending)."""
    base = dict(campaign="stride-spring", segment="beginners", context={}, candidates=["a"])
    base |= dict(chosen="a", probability=1.0, run_id=None, policy="p", policy_version="1")
    times = [START + timedelta(seconds=10 * i) for i in range(n)]
    decisions = [dict(base, event_id=f"e{i:05d}", timestamp=t) for i, t in enumerate(times)]
    clicks = [
        dict(event_id=f"e{i:05d}", kind="click", value=1.0, timestamp=times[i])
        for i in range(0, n, 7)
    ]
    return decisions, clicks


@pytest.mark.parametrize("log", ["random", "steady"])
@pytest.mark.parametrize("share", [0.0, 0.3, 0.5, 0.9])
def test_the_streamed_training_part_is_the_split_by_time(db_url, example_cfg, share, log):
    s = Store(db_url)
    s.save_campaign(example_cfg)
    if log == "random":
        s.insert_events(*random_log(np.random.default_rng(7), 200))
    else:
        s.insert_events(*steady_log(300))
    for attribution in [*ATTRIBUTIONS[:3], Attribution(window_hours=0.1)]:
        whole = join_rewards(s, "stride-spring", attribution)
        train, _ = split_by_time(whole.events, share)
        for chunk in (1, 9, 1_000):
            streamed = StreamedJoin(s, "stride-spring", attribution, chunk=chunk)
            events = _streamed(training_part(streamed, share), train)
            pd.testing.assert_frame_equal(events, train, check_index_type=False)
            assert streamed.summary() == whole.summary()  # the test part was read too


def test_the_streamed_training_part_refuses_a_bad_share(store):
    streamed = StreamedJoin(store, "stride-spring", Attribution())
    with pytest.raises(ValueError, match=r"test share must be in \[0, 1\)"):
        next(training_part(streamed, 1.0))


def test_streamed_rows_wait_until_settled(tmp_path, example_cfg):
    """Decisions at 00:00 to 04:00 without a reward but d4's (at once), a 2-hour window, one
    row read at a time: a decision is yielded once a time 2 hours after it is read; at the
    end the clock is 04:00, d3 (03:00) is pending and d4, clicked, is yielded after it."""
    s = Store(f"sqlite:///{tmp_path}/w.db")
    s.save_campaign(example_cfg)
    base = dict(campaign="stride-spring", segment="beginners", context={}, candidates=["a"])
    base |= dict(chosen="a", probability=1.0, run_id=None, policy="p", policy_version="1")
    decisions = [dict(base, event_id=f"d{h}", timestamp=START + h * HOUR) for h in range(5)]
    s.insert_events(
        decisions, [dict(event_id="d4", kind="click", value=1.0, timestamp=START + 4 * HOUR)]
    )
    attribution = Attribution(window_hours=2)
    streamed = StreamedJoin(s, "stride-spring", attribution, chunk=1)
    seen = [list(frame["event_id"]) for frame in streamed]
    assert seen == [["d0"], ["d1"], ["d2"], ["d4"]]
    assert (streamed.pending, streamed.defaulted, streamed.rewarded) == (1, 3, 1)
    assert streamed.summary() == join_rewards(s, "stride-spring", attribution).summary()
