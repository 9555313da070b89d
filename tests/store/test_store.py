from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.errors import OptimizerError
from optimizer.generate import seed_creatives
from optimizer.records import Context, Decision, Feedback
from optimizer.store import Store


def event(
    i: int, reward: float = 0.0, chosen: str = "a", candidates=("a", "b"), prefix: str = "ev"
) -> Feedback:
    d = Decision(
        f"{prefix}-{i}",
        1_700_000_000.0 + i,
        "stride-spring",
        Context("beginners", {"age": 30.0}),
        tuple(candidates),
        chosen,
        0.5,
        "vw",
        "vw-squarecb-0",
    )
    return Feedback(d, reward)


@pytest.fixture()
def store(db_url, example_cfg):
    s = Store(db_url)
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
    # the records read back are the records written (one mapping both ways)
    assert sorted(store.active_creatives(example_cfg.name), key=lambda c: c.id) == sorted(
        creatives, key=lambda c: c.id
    )


_stores: dict[str, Store] = {}  # one database for every example, a new prefix each
_runs = itertools.count()


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 40), max_size=80))
def test_event_insert_is_idempotent(tmp_path_factory, ids):
    folder = str(tmp_path_factory.getbasetemp())
    store = _stores.get(folder) or _stores.setdefault(folder, Store(f"sqlite:///{folder}/e.db"))
    before = store.count_events()
    prefix = f"run{next(_runs)}"
    events = [event(i, float(i % 2), prefix=prefix) for i in ids]
    store.log(events)
    store.flush()
    store.log(events)  # the same events again
    assert store.flush() == (0, 0)
    after = store.count_events()
    assert (after[0] - before[0], after[1] - before[1]) == (len(set(ids)), len(set(ids)))


def test_a_conflicting_event_is_refused_not_merged(store):
    store.log([event(0, 1.0), event(1, 0.0)])
    store.flush()
    store.log([event(1, 0.0, chosen="b")])  # same id, another action
    with pytest.raises(OptimizerError, match="event 'ev-1' stored earlier: field 'chosen'"):
        store.flush()
    store.log([event(0, 0.0)])  # same decision, another reward value
    with pytest.raises(OptimizerError, match="'click' reward of event 'ev-0'.*field 'value'"):
        store.flush()
    events = store.logged_events("stride-spring")
    assert list(events.chosen) == ["a", "a"] and list(events.reward_value) == [1.0, 0.0]


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


def test_candidate_lists_are_stored_once_and_read_back(store):
    from sqlalchemy import func, select

    from optimizer.store.models import CandidateSetRow

    many = [f"creative-{i:04d}" for i in range(2_000)]
    store.log([event(i, candidates=many, chosen=many[i]) for i in range(50)])
    store.log([event(50, candidates=("a", "b"))])
    store.flush()
    with store.engine.connect() as conn:
        sets = conn.execute(select(func.count()).select_from(CandidateSetRow)).scalar_one()
    assert sets == 2  # 51 decisions, two distinct lists
    events = store.logged_events("stride-spring")
    assert [list(c) for c in events.candidates] == [many] * 50 + [["a", "b"]]
    assert list(events.chosen[:3]) == many[:3]


def test_unknown_campaign_and_bad_url(store):
    with pytest.raises(OptimizerError, match="no campaign 'nope'.*known: stride-spring"):
        store.campaign("nope")
    with pytest.raises(OptimizerError, match="not a valid SQLAlchemy URL"):
        Store("not a url")


def test_a_database_in_a_missing_folder_is_an_error(tmp_path):
    url = f"sqlite:///{tmp_path}/nowhere/o.db"
    with pytest.raises(
        OptimizerError,
        match=r"nowhere' does not exist; create it first \(mkdir -p\) or give a path",
    ):
        Store(url)
    assert not (tmp_path / "nowhere").exists()


def test_the_default_database_folder_is_created(tmp_path, monkeypatch):
    from optimizer.store import DEFAULT_DATABASE_URL

    monkeypatch.chdir(tmp_path)
    Store(DEFAULT_DATABASE_URL)
    assert (tmp_path / "runs" / "optimizer.db").is_file()
