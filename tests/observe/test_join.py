from __future__ import annotations

import pytest

from optimizer.config import Attribution
from optimizer.observe.join import join_rewards, split_by_time
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
