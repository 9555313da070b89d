"""learn streams the store's events to VW while it reads them: the same events, in the same
order, as reading and joining the whole log first, so the same model and the same report."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from optimizer.config import Attribution
from optimizer.errors import OptimizerError
from optimizer.observe import join
from optimizer.offline import learn_from_logs, simulate_logs
from optimizer.store import Store
from optimizer.store.logged import OutOfOrder, iter_logged


def _events(cfg, n: int, seed: int, no_list_every: int = 0) -> tuple[list[dict], list[dict]]:
    """Simulated decisions; a click is a reward row now, 5 minutes or (in the first half)
    30 minutes later (late for a 15-minute window), no click is no reward row (the window
    closes without one; those in the last 15 minutes of the data stay open). Every
    ``no_list_every``-th decision logs no candidate list."""
    rows, _ = simulate_logs(cfg, n, seed=seed, epsilon=1.0)
    delays = np.random.default_rng(seed).choice([0, 5, 30], size=n)
    delays[n // 2 :] = np.minimum(delays[n // 2 :], 5)
    decisions, rewards = [], []
    for i, (row, delay) in enumerate(zip(rows, delays, strict=True)):
        ts = datetime.fromisoformat(row["timestamp"])
        listed = not no_list_every or i % no_list_every
        decisions.append(
            dict(
                event_id=row["event_id"],
                run_id=None,
                timestamp=ts,
                campaign=cfg.name,
                segment=row["segment"],
                context=row["context"],
                candidates=row["candidates"] if listed else None,
                chosen=row["action"],
                probability=row["probability"],
                policy="logged",
                policy_version="logged",
            )
        )
        if row["reward"]:
            when = ts + timedelta(minutes=int(delay))
            rewards.append(dict(event_id=row["event_id"], kind="click", value=1.0, timestamp=when))
    return decisions, rewards


def _store(path: Path, cfg, events: tuple[list[dict], list[dict]]) -> Store:
    store = Store(f"sqlite:///{path}")
    store.save_campaign(cfg)
    store.insert_events(*events)
    return store


@pytest.fixture(scope="module")
def cfg(example_cfg):
    return example_cfg.model_copy(update={"attribution": Attribution(window_hours=0.25)})


@pytest.fixture(scope="module")
def store(tmp_path_factory, cfg):
    return _store(tmp_path_factory.mktemp("stream") / "s.db", cfg, _events(cfg, 3_000, seed=6))


def _same_learning(store, name: str, folder: Path, **kwargs) -> dict:
    """learn streamed and learn with the whole read first: the same report and model files."""
    streamed = learn_from_logs(store, name, folder / "streamed", **kwargs)
    whole = learn_from_logs(store, name, folder / "whole", stream=False, **kwargs)
    assert {**streamed, "path": ""} == {**whole, "path": ""}
    ours, theirs = Path(streamed["path"]), Path(whole["path"])
    assert ours.read_bytes() == theirs.read_bytes()
    assert Path(f"{ours}.json").read_text() == Path(f"{theirs}.json").read_text()
    policies = folder / "streamed" / name / "policies"
    assert list(policies.iterdir()) == [ours.parent]  # nothing left of the learning
    return streamed


@pytest.mark.parametrize("share,workers", [(0.0, 1), (0.3, 1), (0.3, 2)])
def test_the_streamed_command_learns_the_model_of_the_whole_read(
    store, cfg, tmp_path, monkeypatch, share, workers
):
    monkeypatch.setattr(join, "STREAM_CHUNK", 97)  # many reads, decisions waiting across them
    info = _same_learning(store, cfg.name, tmp_path, test_share=share, workers=workers)
    assert info["pending"] > 0 and info["late_rewards"] > 0 and info["default_reward"] > 0
    assert info["train_events"] == round((3_000 - info["pending"]) * (1 - share))


def test_decisions_without_a_candidate_list_are_learned_from_the_whole_read(
    cfg, tmp_path, monkeypatch
):
    """Their candidates are every action chosen in training: the stream cannot know them
    before its end, so learn reads the whole log first."""
    monkeypatch.setattr(join, "STREAM_CHUNK", 97)
    store = _store(tmp_path / "n.db", cfg, _events(cfg, 1_000, seed=7, no_list_every=50))
    info = _same_learning(store, cfg.name, tmp_path, test_share=0.2)
    assert info["train_events"] == round((1_000 - info["pending"]) * 0.8)


def test_decisions_stored_out_of_time_order_are_learned_from_the_whole_read(
    cfg, tmp_path, monkeypatch
):
    """A time stored in another text form sorts elsewhere in the query: the stream meets a
    decision earlier than the one before it, so learn reads (and sorts) the whole log."""
    from sqlalchemy import text

    monkeypatch.setattr(join, "STREAM_CHUNK", 97)
    decisions, rewards = _events(cfg, 1_000, seed=8)
    store = _store(tmp_path / "o.db", cfg, (decisions, rewards))
    first = decisions[0]
    with store.engine.begin() as conn:  # ISO 8601 with a T sorts after the space form
        conn.execute(
            text("UPDATE decision SET timestamp = :t WHERE event_id = :e"),
            {"t": first["timestamp"].strftime("%Y-%m-%dT%H:%M:%S"), "e": first["event_id"]},
        )
    with pytest.raises(OutOfOrder):  # what the stream meets
        list(iter_logged(store.engine, cfg.name))
    _same_learning(store, cfg.name, tmp_path, test_share=0.1)


def test_a_campaign_without_closed_events_is_an_error_and_saves_nothing(cfg, tmp_path):
    store = Store(f"sqlite:///{tmp_path}/e.db")
    store.save_campaign(cfg)
    with pytest.raises(OptimizerError, match="^no closed logged events for campaign 'stride"):
        learn_from_logs(store, cfg.name, tmp_path / "state")
    assert list((tmp_path / "state" / cfg.name / "policies").iterdir()) == []
    assert store.policies(cfg.name) == []
