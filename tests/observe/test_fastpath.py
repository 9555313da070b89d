"""The fast path accepts only what the full validation accepts, and builds the same rows."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.observe.fastpath import FastEvents
from optimizer.observe.validate import BadRow, CampaignFacts, Validator

FACTS = CampaignFacts(frozenset({"beginners", "marathoners"}), frozenset({"c1", "c2"}))


def facts(name: str) -> CampaignFacts | None:
    return FACTS if name == "stride-spring" else None


JSON_ROW = {
    "event_id": "e1",
    "timestamp": "2026-03-01T10:00:00Z",
    "campaign": "stride-spring",
    "segment": "beginners",
    "context": {"age": 31, "device": "mobile"},
    "action": "a",
    "candidates": ["a", "b"],
    "probability": 0.5,
    "reward": 1,
}
CSV_ROW = {
    **{k: v for k, v in JSON_ROW.items() if k != "context"},
    "candidates": "a|b",
    "probability": "0.5",
    "reward": "1",
    "ctx_age": "31",
    "ctx_device": "mobile",
}
PARQUET_ROW = {**JSON_ROW, "timestamp": datetime(2026, 3, 1, 10, tzinfo=UTC)}
REWARD_ROW = {"event_id": "e1", "timestamp": "2026-03-01T10:05:00Z", "reward": 1.0}
USUAL = [JSON_ROW, CSV_ROW, PARQUET_ROW, REWARD_ROW]

texts = st.one_of(
    st.sampled_from(["a", "c1", "c2", "b", " a", "a\x00", "x" * 201, "", "beginners", "mars"]),
    st.text(max_size=3),
)
values = st.one_of(
    texts,
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0.5", "1", "nan", "inf", " 0.25 ", "1e400", "-0.0"]),
)
FIELDS = {
    "event_id": st.one_of(texts, st.integers(0, 9)),
    "timestamp": st.one_of(
        st.sampled_from(["2026-03-01T11:00:00+01:00", "2026-03-01 10:00", "soon", " 2026-03-01"]),
        st.datetimes(timezones=st.sampled_from([UTC, None])),
        values,
    ),
    "campaign": st.sampled_from(["stride-spring", "other", "", None, 3, " stride-spring"]),
    "segment": values,
    "action": texts,
    "probability": values,
    "candidates": st.one_of(
        st.lists(st.sampled_from(["a", "b", "c1", 1, True, "x" * 201]), max_size=4),
        st.sampled_from(["a|b", "c1|c2|", "b", "", ("a", "b")]),
        values,
    ),
    "context": st.one_of(
        st.dictionaries(st.sampled_from(["age", "device", "x" * 101]), values, max_size=3),
        st.sampled_from(['{"age": 3}', "[1]"]),
        values,
    ),
    "ctx_age": values,
    "ctx_device": values,
    "policy": values,
    "policy_version": values,
    "reward": values,
    "kind": values,
}


@st.composite
def rows(draw) -> dict:
    """A usual row with a few fields changed or removed."""
    row = dict(draw(st.sampled_from(USUAL)))
    for key in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        if draw(st.booleans()):
            row.pop(key, None)
        else:
            row[key] = draw(FIELDS[key])
    return row


@settings(max_examples=800, deadline=None)
@given(rows(), st.sampled_from([None, "stride-spring"]))
def test_the_fast_path_agrees_with_the_full_validation(row, default_campaign):
    fast = FastEvents(facts, default_campaign).event(row)
    try:
        slow = Validator(facts, default_campaign).event(row)
    except BadRow:
        slow = None
    if fast is not None:
        assert slow == fast


def test_the_fast_path_takes_the_usual_rows():
    """Not a check that cannot fail: the rows of the log formats do take the fast path."""
    for row in USUAL:
        assert FastEvents(facts, None).event(row) == Validator(facts, None).event(row)
