"""The oracle policy: always shows the creative with the highest true expected reward."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optimizer.allocate.base import Choice, Feedback
from optimizer.records import Context, Creative
from simulators.base import Simulator


class OraclePolicy:
    """Reads the simulator's ground truth; defines zero regret."""

    name = "oracle"

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.version = "oracle"

    def choose(
        self,
        context: Context,
        candidates: Sequence[Creative],
        rng: np.random.Generator,
        event_id: str | None = None,
    ) -> Choice:
        expected = self.simulator.expected_rewards(context, candidates)
        best = int(np.argmax(expected))
        dist = np.zeros(len(candidates))
        dist[best] = 1.0
        return Choice(index=best, probability=1.0, distribution=tuple(dist))

    def learn(self, feedbacks: Sequence[Feedback]) -> None:
        return None
