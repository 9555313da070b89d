"""UCB1 (Auer, Cesa-Bianchi & Fischer, Machine Learning 47, 2002), one bandit per segment.

Index of arm a after n_a of the segment's n impressions: mean_a + sqrt(2 ln n / n_a); an arm
never served comes first. UCB1 is deterministic, but a logged probability of 1 for the chosen
arm and 0 for the others would make the log useless for off-policy evaluation (inverse
propensity weights divide by the probability of the evaluated arm). So the policy mixes in
``epsilon`` of uniform traffic (default 0.01): every arm keeps probability >= epsilon / K, at a
cost of at most ``epsilon`` of the traffic. Ties in the index share the rest equally.
The distribution is cached per segment until the next update, as in batched serving.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from optimizer.allocate.counts import CountingBandit
from optimizer.records import Creative


class UCB1Policy(CountingBandit):
    name = "ucb1"

    def __init__(self, epsilon: float = 0.01, **_: object) -> None:
        if not 0.0 < epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in (0, 1], got {epsilon!r}")
        super().__init__()  # counts: segment -> id -> [clicks, impressions]
        self.epsilon = float(epsilon)

    def index(self, segment: str, candidates: Sequence[Creative]) -> np.ndarray:
        """UCB1 index of each candidate, shape ``(K,)``; ``inf`` for an arm never served."""
        seg = self.counts.get(segment, {})
        stats = np.array([seg.get(c.id, [0.0, 0.0]) for c in candidates], dtype=float)
        clicks, n = stats[:, 0], stats[:, 1]
        total = n.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = np.sqrt(2.0 * math.log(max(total, 1.0)) / n)
            return np.where(n > 0, clicks / n + bonus, np.inf)

    def _distribution(
        self, segment: str, candidates: Sequence[Creative], rng: np.random.Generator | None
    ) -> tuple[float, ...]:
        idx = self.index(segment, candidates)
        top = idx == idx.max() if np.isinf(idx.max()) else idx >= idx.max() - 1e-12
        k = len(candidates)
        p = (1.0 - self.epsilon) * top / top.sum() + self.epsilon / k
        return tuple((p / p.sum()).tolist())

    def _counts(self, clicks: float, impressions: float) -> tuple[float, float]:
        return float(clicks), float(impressions)

    def save(self, path: Path) -> None:
        data = {
            "policy": "ucb1",
            "epsilon": self.epsilon,
            "updates": self.updates,
            "counts": self.counts,
        }
        Path(path).write_text(json.dumps(data))

    @classmethod
    def load(cls, path: Path) -> UCB1Policy:
        data = json.loads(Path(path).read_text())
        policy = cls(epsilon=data["epsilon"])
        policy.counts = data["counts"]
        policy.updates = data["updates"]
        return policy
