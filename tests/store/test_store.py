from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.errors import OptimizerError
from optimizer.generate import seed_creatives
from optimizer.records import Context, Decision, Feedback
from optimizer.store import Store


def event(i: int, reward: float = 0.0) -> Feedback:
    d = Decision(
        f"ev-{i}",
        1_700_000_000.0 + i,
        "stride-spring",
        Context("beginners", {"age": 30.0}),
        ("a", "b"),
        "a",
        0.5,
        "vw",
        "vw-squarecb-0",
    )
    return Feedback(d, reward)


@pytest.fixture()
def store(tmp_path, example_cfg):
    s = Store(f"sqlite:///{tmp_path}/sub/dir/o.db")  # creates the folder
    s.save_campaign(example_cfg)
    return s


def test_campaign_and_creatives_are_idempotent(store, example_cfg):
    creatives = seed_creatives(example_cfg)
    assert store.add_creatives(creatives) == len(creatives)
    assert store.add_creatives(creatives) == 0
    store.save_campaign(example_cfg)
    assert len(store.campaigns()) == 1
    assert len(store.segments(example_cfg.name)) == len(example_cfg.segments)
    rows = store.creatives(example_cfg.name)
    assert {r.id for r in rows} == {c.id for c in creatives}
    assert all(r.status == "active" and r.source == "seed" for r in rows)


@settings(deadline=None, max_examples=25)
@given(st.lists(st.integers(0, 40), max_size=80))
def test_event_insert_is_idempotent(tmp_path_factory, ids):
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('db')}/e.db")
    store.log([event(i, float(i % 2)) for i in ids])
    store.flush()
    store.log([event(i) for i in ids])  # the same events again
    store.flush()
    assert store.count_events() == (len(set(ids)), len(set(ids)))


def test_writes_are_batched(store, monkeypatch):
    import optimizer.store.db as db

    monkeypatch.setattr(db, "FLUSH_EVERY", 10)
    store.log([event(i) for i in range(9)])
    assert store.count_events() == (0, 0)  # queued, not written one by one
    store.log([event(9)])
    assert store.count_events() == (10, 10)


def test_creative_stats_join_rewards(store):
    store.log([event(0, 1.0), event(1, 0.0), event(2, 1.0)])
    store.flush()
    assert store.creative_stats("stride-spring") == {"a": (3, 2.0)}


def test_unknown_campaign_and_bad_url(store):
    with pytest.raises(OptimizerError, match="no campaign 'nope'.*known: stride-spring"):
        store.campaign("nope")
    with pytest.raises(OptimizerError, match="not a valid SQLAlchemy URL"):
        Store("not a url")


def test_schema_version_mismatch_is_explained(tmp_path):
    from sqlmodel import Session

    from optimizer.store.models import Meta

    url = f"sqlite:///{tmp_path}/old.db"
    with Session(Store(url).engine) as s:
        s.merge(Meta(key="schema_version", value="0"))
        s.commit()
    with pytest.raises(OptimizerError, match="schema version 0.*see CHANGELOG.md"):
        Store(url)
