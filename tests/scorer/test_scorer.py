"""The creative scorer in a campaign (groups are segments) against the simulator's truth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optimizer.filter.embed import Embedder
from optimizer.records import Creative
from optimizer.scorer import (
    CreativeScorer,
    Outcome,
    admit,
    load_scorer,
    pairwise_accuracy,
    save_scorer,
)
from simulators.audience import AudienceSimulator

PHRASES = {
    "speed": ["Chase a faster PR", "Built for race day", "Light and fast"],
    "trail": ["Grip for muddy trails", "Rugged on mountain rock", "Own the trail"],
    "comfort": ["Plush cushion all day", "Soft and comfortable", "Easy miles in comfort"],
    "price": ["20% off this week", "Save on your next pair", "Sale price, free shipping"],
    "eco": ["Recycled and sustainable", "Kind to the planet", "Eco knit upper"],
    "beginner": ["Your first 5K starts here", "Start a running habit", "For new runners"],
}


def synthetic_outcomes(cfg, seed: int) -> list[Outcome]:
    """~90 creatives mixing two angles; clicks drawn from the true CTR per segment."""
    sim = AudienceSimulator(cfg, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    users = sim.draw_contexts(3_000, np.random.default_rng(seed + 2))
    out = []
    for a, b in itertools.permutations(PHRASES, 2):
        for head, body in zip(PHRASES[a], PHRASES[b][::-1], strict=True):
            cta = cfg.calls_to_action[len(out) % len(cfg.calls_to_action)]
            c = Creative.from_text(cfg.name, head, body + ".", cta)
            for seg in cfg.segments:
                p = float(
                    np.mean(
                        [sim.expected_rewards(u, [c])[0] for u in users if u.segment == seg.name][
                            :300
                        ]
                    )
                )
                n = 5_000
                out.append(Outcome(seg.name, c.headline, c.body, cta, n, int(rng.binomial(n, p))))
    return out


@pytest.fixture(scope="module")
def held_out(example_cfg):
    """A scorer fitted on two thirds of the creatives, and the held-out outcomes."""
    outcomes = synthetic_outcomes(example_cfg, seed=3)
    texts = sorted({o.headline for o in outcomes})
    test_texts = set(np.random.default_rng(0).permutation(texts)[: len(texts) // 3])
    train = [o for o in outcomes if o.headline not in test_texts]
    test = [o for o in outcomes if o.headline in test_texts]
    return CreativeScorer(Embedder.shared()).fit(train), test


@pytest.mark.slow
def test_pairwise_accuracy_on_held_out_creatives(held_out, capsys):
    scorer, test = held_out
    accuracy = pairwise_accuracy(scorer, test)
    with capsys.disabled():
        print(
            f"\ncreative scorer: pairwise accuracy {accuracy:.3f} on {len(test)} held-out "
            f"(segment, creative) outcomes"
        )
    assert accuracy > 0.65


@pytest.mark.slow
def test_the_gate_admits_what_truly_beats_the_pool(held_out):
    """Per segment, an active pool of held-out creatives and the rest as candidates: the
    admitted candidates' observed CTR beats the pool's, and the gated-out ones' (the
    simulator's truth behind the 5,000 draws of each outcome)."""
    scorer, test = held_out
    by_segment: dict[str, list[Outcome]] = {}
    for o in test:
        by_segment.setdefault(o.segment, []).append(o)
    wins = 0
    for segment, rows in sorted(by_segment.items()):
        rng = np.random.default_rng(len(segment))
        rows = [rows[i] for i in rng.permutation(len(rows))]
        pool, candidates = rows[:6], rows[6:]
        texts = [(o.headline, o.body, o.cta) for o in candidates]
        order = admit(scorer, segment, texts, [(o.headline, o.body, o.cta) for o in pool])
        assert order and len(order) < len(candidates)  # some pass, some do not
        admitted = [candidates[i].ctr for i in order]
        gated = [c.ctr for i, c in enumerate(candidates) if i not in set(order)]
        pool_ctr = np.mean([o.ctr for o in pool])
        wins += np.mean(admitted) > pool_ctr and np.mean(admitted) > np.mean(gated)
        pred = scorer.predict(segment, [texts[i] for i in order])
        assert list(pred) == sorted(pred, reverse=True)  # best first
    assert wins >= len(by_segment) - 1, wins


def test_scorer_round_trip(tmp_path, example_cfg):
    outcomes = [
        Outcome("a", "Fast shoes", "Light.", "Shop now", 1000, 50),
        Outcome("a", "Cheap socks", "Soft.", "Shop now", 1000, 5),
        Outcome("b", "Fast shoes", "Light.", "Shop now", 1000, 5),
        Outcome("b", "Cheap socks", "Soft.", "Shop now", 1000, 50),
    ]
    scorer = CreativeScorer(Embedder.shared()).fit(outcomes)
    texts = [("Fast shoes", "Light.", "Shop now"), ("Cheap socks", "Soft.", "Shop now")]
    a, b = scorer.predict("a", texts), scorer.predict("b", texts)
    assert a[0] > a[1] and b[1] > b[0]  # segments like different things
    path = save_scorer(scorer, tmp_path / "s.npz")
    again = load_scorer(path)
    assert np.allclose(again.predict("a", texts), a) and np.allclose(again.predict("b", texts), b)
    assert np.allclose(
        again.prior(texts, segment="a").alpha, scorer.prior(texts, segment="a").alpha
    )
    with pytest.raises(ValueError, match="no outcomes"):
        CreativeScorer(Embedder.shared()).fit([])
