"""The journal's outcomes, the learner's exactly-once passes, apprentice probabilities and
the comparison with the baseline against known click rates: in process, no server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from optimizer.records import Context, Decision
from optimizer.serve import journal
from optimizer.serve.decide import decision_row, rank
from optimizer.serve.journal import ActivateOp, Journal, RankOp, RewardOp, write_batch
from optimizer.serve.learner import Learner
from optimizer.serve.policy import Served
from optimizer.serve.schemas import RankRequest
from optimizer.serve.service import prepare_store
from optimizer.serve.settings import ServeSettings
from tests.serve.conftest import write_config

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture()
def settings(tmp_path) -> ServeSettings:
    config = write_config(tmp_path, window_hours=1.0, default_reward=0.0)
    return ServeSettings(
        config=str(config), db=f"sqlite:///{tmp_path / 's.db'}", state_dir=str(tmp_path / "runs")
    )


def _decision(
    event_id: str,
    at: datetime,
    chosen: str = "a",
    p: float = 0.5,
    policy: str = "vw",
    cands: tuple[str, ...] = ("a", "b"),
) -> dict:
    d = Decision(
        event_id=event_id,
        timestamp=at.timestamp(),
        campaign="stride-spring",
        context=Context("beginners", {"age": 30.0}),
        candidates=cands,
        chosen=chosen,
        probability=p,
        policy=policy,
        policy_version="v0",
    )
    return decision_row(d)


def _reward(event_id: str, at: datetime, value: float = 1.0) -> RewardOp:
    return RewardOp(event_id, "stride-spring", "click", value, at, HOUR)


@pytest.mark.parametrize("core", [False, True], ids=["sqlite-dbapi", "sqlalchemy-core"])
def test_journal_classifies_every_event(settings, monkeypatch, core):
    if core:  # the statements other backends (PostgreSQL) run, on the same SQLite file
        monkeypatch.setattr(journal, "_SqliteTables", journal._Tables)
    _, store = prepare_store(settings)
    out = write_batch(
        store.engine,
        [
            RankOp(_decision("e1", T0), deferred=False),
            RankOp(_decision("e1", T0), deferred=False),
            RankOp(_decision("d1", T0), deferred=True),
            _reward("e1", T0 + timedelta(minutes=5)),
            _reward("e1", T0 + timedelta(minutes=6)),
            _reward("d1", T0 + timedelta(minutes=5)),
            _reward("nope", T0),
            ActivateOp("nope", "stride-spring", T0),
        ],
    )
    assert [o.status for o in out] == [
        "new",
        "duplicate",
        "new",
        "recorded",
        "duplicate",
        "inactive",
        "unknown",
        "unknown",
    ]
    out = write_batch(
        store.engine,
        [
            ActivateOp("d1", "stride-spring", T0 + HOUR),
            _reward("d1", T0 + HOUR + timedelta(minutes=1)),
            RankOp(_decision("e2", T0), deferred=False),
            _reward("e2", T0 + 2 * HOUR),
            RankOp(_decision("e1", T0), deferred=False),
        ],
    )
    assert [o.status for o in out] == ["activated", "recorded", "new", "late", "duplicate"]
    assert out[-1].detail == "a"  # the action stored for e1
    assert store.count_events("stride-spring") == (3, 3)  # e1, d1, e2; late kept too


def test_group_commit_batches_concurrent_requests(settings):
    _, store = prepare_store(settings)

    async def go():
        journal = Journal(store.engine)
        journal.start()
        ops = [RankOp(_decision(f"g{i}", T0), deferred=False, caller_id=False) for i in range(200)]
        outcomes = await asyncio.gather(*(journal.submit(op) for op in ops))
        await journal.stop()
        return outcomes, journal.batches

    outcomes, batches = asyncio.run(go())
    assert all(o.status == "new" for o in outcomes)
    assert batches < 20  # 200 acknowledgements, a handful of commits
    assert store.count_events("stride-spring")[0] == 200


def test_learner_learns_each_decision_once_early_or_at_its_deadline(settings, monkeypatch):
    _, store = prepare_store(settings)
    ops = [RankOp(_decision(f"e{i}", T0 + timedelta(seconds=i)), False) for i in range(10)]
    ops += [
        _reward("e0", T0 + timedelta(seconds=10)),  # final early, first pass
        _reward("e2", T0 + timedelta(minutes=30)),  # final early, second pass
        _reward("e1", T0 + 2 * HOUR),  # late: e1 keeps the default reward
    ]
    write_batch(store.engine, ops)
    learned: list[tuple[str, float]] = []
    monkeypatch.setattr(Learner, "_learn", lambda self, row, r: learned.append((row.event_id, r)))
    learner = Learner(settings)
    assert learner.step(T0 + timedelta(seconds=20))["learned"] == 1
    assert learner.step(T0 + timedelta(minutes=40))["learned"] == 1
    final = learner.step(T0 + 3 * HOUR)
    assert (final["learned"], final["rewarded"], final["defaults"]) == (8, 0, 8)
    assert sorted(learned) == sorted(
        [("e0", 1.0), ("e2", 1.0)] + [(f"e{i}", 0.0) for i in range(10) if i not in (0, 2)]
    )
    restarted = Learner(settings)  # continues from the registered version's watermarks
    assert restarted.step(T0 + 4 * HOUR)["learned"] == 0
    assert len(learned) == 10


class _Uniform:
    name = "uniform"

    def choose(self, context, candidates, rng, event_id=None):
        from optimizer.allocate.base import sample

        return sample([1 / len(candidates)] * len(candidates), rng)


def _served() -> Served:
    return Served("v0", _Uniform(), {}, {}, ("v0", ()))


def test_apprentice_logs_the_mixture_probability_with_the_baseline_first():
    rng = np.random.default_rng(5)
    req = RankRequest(actions=[{"id": "x"}, {"id": "base"}, {"id": "y"}], baselineAction="base")
    served = [rank(req, _served(), "c", "apprentice", 0.3, rng).decision for _ in range(4000)]
    assert all(d.candidates == ("base", "x", "y") and d.policy == "apprentice" for d in served)
    share = np.mean([d.chosen == "base" for d in served])
    assert share == pytest.approx(0.7 + 0.1, abs=0.03)
    for d in served[:50]:
        assert d.probability == pytest.approx(0.8 if d.chosen == "base" else 0.1)
    pure = rank(req, _served(), "c", "apprentice", 0.0, rng).decision
    assert (pure.chosen, pure.probability) == ("base", 1.0)


@pytest.mark.parametrize(
    ("learner", "verdict"),
    [
        ({"better": 1.0}, "learner beats baseline"),
        ({"base": 1.0}, "no difference shown"),
    ],
)
def test_apprentice_comparison_against_known_click_rates(settings, tmp_path, learner, verdict):
    """Baseline CTR 0.1, the other action 0.3: the learner that always plays it is better
    by 0.2, and one that plays the baseline is not."""
    from optimizer.serve.apprentice import compare_with_baseline

    _, store = prepare_store(settings)
    rng = np.random.default_rng(11)
    req = RankRequest(actions=[{"id": "base"}, {"id": "better"}])
    ops, truth = [], {"base": 0.1, "better": 0.3}
    for i in range(3000):
        at = T0 + timedelta(seconds=10 * i)
        d = rank(req, _served(), "stride-spring", "apprentice", 0.4, rng, now=at).decision
        ops.append(RankOp(decision_row(d), False))
        if rng.random() < truth[d.chosen]:
            ops.append(_reward(d.event_id, at + timedelta(seconds=1)))
    write_batch(store.engine, ops)
    target = tmp_path / "learner.json"
    target.write_text(json.dumps(learner))
    result = compare_with_baseline(store, "stride-spring", f"static:{target}")
    assert result["verdict"] == verdict
    expected = 0.2 if "better" in learner else 0.0
    diff = result["difference"]
    assert diff["low"] - 0.01 <= expected <= diff["high"] + 0.01
    from click.testing import CliRunner

    from cli import main

    shown = CliRunner().invoke(
        main,
        [
            "apprentice",
            "--campaign",
            "stride-spring",
            "--db",
            settings.db,
            "--target",
            f"static:{target}",
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[1].endswith(f": {verdict}")
