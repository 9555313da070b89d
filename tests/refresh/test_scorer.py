"""The creative scorer against the simulator's ground truth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optimizer.filter.embed import Embedder
from optimizer.records import Creative
from optimizer.refresh.scorer import CreativeScorer, Outcome, pairwise_accuracy
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


@pytest.mark.slow
def test_pairwise_accuracy_on_held_out_creatives(example_cfg, capsys):
    outcomes = synthetic_outcomes(example_cfg, seed=3)
    texts = sorted({o.headline for o in outcomes})
    test_texts = set(np.random.default_rng(0).permutation(texts)[: len(texts) // 3])
    train = [o for o in outcomes if o.headline not in test_texts]
    test = [o for o in outcomes if o.headline in test_texts]
    scorer = CreativeScorer(Embedder.shared()).fit(train)
    accuracy = pairwise_accuracy(scorer, test)
    with capsys.disabled():
        print(
            f"\ncreative scorer: pairwise accuracy {accuracy:.3f} on {len(test)} held-out "
            f"(segment, creative) outcomes"
        )
    assert accuracy > 0.65


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
    scorer.save(tmp_path / "s.joblib")
    again = CreativeScorer.load(tmp_path / "s.joblib")
    assert np.allclose(again.predict("a", texts), a)
    with pytest.raises(ValueError, match="no outcomes"):
        CreativeScorer(Embedder.shared()).fit([])
