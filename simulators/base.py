"""What every simulated audience offers the loop: users, responses and the ground truth."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from optimizer.records import Context, Creative


class Simulator(Protocol):
    """A stand-in for a real audience whose expected reward is known."""

    def draw_contexts(self, n: int, rng: np.random.Generator) -> list[Context]:
        """``n`` users, drawn i.i.d. from the audience."""
        ...

    def expected_rewards(self, context: Context, creatives: Sequence[Creative]) -> np.ndarray:
        """True click probability of each creative for this user, shape ``(len(creatives),)``."""
        ...

    def served(self, creative: Creative) -> None:
        """Tell the simulator a creative was shown (fatigue)."""
        ...

    def advance(self, impressions: int) -> None:
        """Move time forward by ``impressions`` (drift)."""
        ...


def draw_segments(
    names: Sequence[str], shares: np.ndarray, n: int, rng: np.random.Generator
) -> list[str]:
    cdf = np.cumsum(shares)
    idx = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(names) - 1)
    return [names[i] for i in idx]
