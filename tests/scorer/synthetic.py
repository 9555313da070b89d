"""Small synthetic A/B-test tables: each ad group a story at its own level, its arms hooks
with known multipliers of the level (the truth the scorer should learn)."""

from __future__ import annotations

import numpy as np

from optimizer.scorer import Outcome

HOOKS = {
    "You Won't Believe What Happened Next": 1.6,
    "Watch What She Does When Nobody Is Looking": 1.45,
    "Why Everyone You Know Is Talking About This": 1.3,
    "The Story Behind It": 1.0,
    "A Summary Of The Events": 0.8,
    "Read The Official Statement": 0.65,
    "Quarterly Figures Released": 0.55,
}
SUBJECTS = [
    "A Teacher In Ohio",
    "This Tiny Rescue Dog",
    "A Nurse On Her Night Shift",
    "The Mayor Of A Small Town",
    "Two Brothers And A Bakery",
    "A Grandmother Learning To Code",
    "The Last Video Store",
    "A Farmer After The Flood",
    "An Orchestra Of Children",
    "A Bus Driver In Winter",
    "The Neighbors On Elm Street",
    "A Climber On Her First Peak",
]


def ad_group_table(
    rng: np.random.Generator,
    groups: int = 40,
    arms: int = 4,
    impressions: int = 20_000,
    effect: bool = True,
) -> list[Outcome]:
    """``groups`` tests of ``arms`` hooks each about one subject; each test's level is
    log-normal around 2% (sd 0.5); clicks binomial from level x multiplier (x 1 without
    ``effect``)."""
    out = []
    hooks = list(HOOKS)
    for g in range(groups):
        subject = SUBJECTS[g % len(SUBJECTS)]
        level = 0.02 * float(np.exp(0.5 * rng.standard_normal()))
        for k in rng.choice(len(hooks), size=arms, replace=False):
            ctr = level * (HOOKS[hooks[k]] if effect else 1.0)
            clicks = int(rng.binomial(impressions, min(ctr, 0.5)))
            out.append(
                Outcome("", f"{subject}: {hooks[k]}", "", "", impressions, clicks, f"test-{g}")
            )
    return out
