from __future__ import annotations

import numpy as np
import pytest

from optimizer.generate import seed_creatives
from optimizer.records import Context
from simulators.audience import AudienceSimulator
from tests.conftest import small_config


@pytest.fixture(scope="module")
def sim_and_pool(example_cfg):
    return AudienceSimulator(example_cfg, np.random.default_rng(0)), seed_creatives(example_cfg)


def test_users_follow_the_segments(sim_and_pool, example_cfg):
    sim, _ = sim_and_pool
    users = sim.draw_contexts(20_000, np.random.default_rng(1))
    shares = {s.name: s.share for s in example_cfg.segments}
    for name, share in shares.items():
        observed = sum(u.segment == name for u in users) / len(users)
        assert observed == pytest.approx(share, abs=0.015)
    ages = [u.features["age"] for u in users if u.segment == "marathoners"]
    assert np.mean(ages) == pytest.approx(38, abs=1)
    assert min(ages) >= 18 and max(ages) <= 75


def test_click_rates_are_realistic(sim_and_pool):
    sim, pool = sim_and_pool
    users = sim.draw_contexts(2_000, np.random.default_rng(2))
    p = np.array([sim.expected_rewards(u, pool) for u in users])
    segment_means = p.mean(axis=0)
    assert 0.005 <= p.mean() <= 0.05
    assert segment_means.min() > 0.003 and segment_means.max() < 0.08


def test_best_creative_differs_across_segments_and_within_by_features(sim_and_pool):
    sim, pool = sim_and_pool
    users = sim.draw_contexts(3_000, np.random.default_rng(3))
    best_by_segment, split = {}, 0
    for seg in {u.segment for u in users}:
        p = np.array([sim.expected_rewards(u, pool) for u in users if u.segment == seg])
        best_by_segment[seg] = int(np.argmax(p.mean(axis=0)))
        _, counts = np.unique(np.argmax(p, axis=1), return_counts=True)
        split += int((counts / counts.sum() >= 0.1).sum() >= 2)
    assert len(set(best_by_segment.values())) >= 4  # across segments
    assert split >= 2  # within a segment, user features change the best creative


def test_hidden_reader_reads_text(sim_and_pool):
    sim, pool = sim_and_pool
    sale = next(c for c in pool if "20% off" in c.headline)
    angles = dict(zip(sim.angles, sim.read(sale), strict=True))
    assert angles["price"] == 1.0 and angles["trail"] == 0.0


def test_fatigue_lowers_the_click_rate(example_cfg):
    cfg = small_config(
        simulator={**example_cfg.simulator.model_dump(), "fatigue": {"scale": 100, "floor": 0.5}}
    )
    sim = AudienceSimulator(cfg, np.random.default_rng(0))
    creative = seed_creatives(cfg)[0]
    user = Context("marathoners", {"age": 40.0, "weekly_km": 50.0, "device": "mobile"})
    fresh = sim.expected_rewards(user, [creative])[0]
    for _ in range(1_000):
        sim.served(creative)
    tired = sim.expected_rewards(user, [creative])[0]
    assert tired == pytest.approx(fresh * (0.5 + 0.5 * np.exp(-10)), rel=1e-6)


def test_drift_moves_preferences_and_zero_drift_does_not(example_cfg):
    cfg = small_config(simulator={**example_cfg.simulator.model_dump(), "drift_sd": 0.5})
    pool = seed_creatives(cfg)
    user = Context("beginners", {"age": 30.0, "weekly_km": 10.0, "device": "mobile"})
    drifting = AudienceSimulator(cfg, np.random.default_rng(0))
    still = AudienceSimulator(small_config(), np.random.default_rng(0))
    before = drifting.expected_rewards(user, pool)
    assert np.allclose(before, still.expected_rewards(user, pool))
    drifting.advance(20_000)
    still.advance(20_000)
    assert not np.allclose(before, drifting.expected_rewards(user, pool))
    assert np.allclose(before, still.expected_rewards(user, pool))


def test_same_stream_same_world(example_cfg):
    pool = seed_creatives(example_cfg)
    user = Context("eco_commuters", {"age": 30.0, "weekly_km": 10.0, "device": "desktop"})
    a = AudienceSimulator(example_cfg, np.random.default_rng(5)).expected_rewards(user, pool)
    b = AudienceSimulator(example_cfg, np.random.default_rng(5)).expected_rewards(user, pool)
    c = AudienceSimulator(example_cfg, np.random.default_rng(6)).expected_rewards(user, pool)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
