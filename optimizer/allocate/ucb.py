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
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from optimizer.allocate.base import Choice, Feedback, sample
from optimizer.records import Context, Creative


class UCB1Policy:
    name = "ucb1"

    def __init__(self, epsilon: float = 0.01, **_: object) -> None:
        if not 0.0 < epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in (0, 1], got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.counts: dict[str, dict[str, list[float]]] = {}  # segment -> id -> [clicks, n]
        self.updates = 0
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, ...]] = {}

    @property
    def version(self) -> str:
        return f"ucb1-{self.updates}"

    def index(self, segment: str, candidates: Sequence[Creative]) -> np.ndarray:
        """UCB1 index of each candidate, shape ``(K,)``; ``inf`` for an arm never served."""
        seg = self.counts.get(segment, {})
        stats = np.array([seg.get(c.id, [0.0, 0.0]) for c in candidates], dtype=float)
        clicks, n = stats[:, 0], stats[:, 1]
        total = n.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = np.sqrt(2.0 * math.log(max(total, 1.0)) / n)
            return np.where(n > 0, clicks / n + bonus, np.inf)

    def distribution(
        self, context: Context, candidates: Sequence[Creative], rng: np.random.Generator | None
    ) -> tuple[float, ...]:
        key = (context.segment, tuple(c.id for c in candidates))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        idx = self.index(context.segment, candidates)
        top = idx == idx.max() if np.isinf(idx.max()) else idx >= idx.max() - 1e-12
        k = len(candidates)
        p = (1.0 - self.epsilon) * top / top.sum() + self.epsilon / k
        out = tuple((p / p.sum()).tolist())
        self._cache[key] = out
        return out

    def choose(
        self,
        context: Context,
        candidates: Sequence[Creative],
        rng: np.random.Generator,
        event_id: str | None = None,
    ) -> Choice:
        return sample(self.distribution(context, candidates, rng), rng)

    def learn(self, feedbacks: Sequence[Feedback]) -> None:
        for fb in feedbacks:
            r = min(max(fb.reward, 0.0), 1.0)
            self._add(fb.decision.context.segment, fb.decision.chosen, r, 1.0)
        if feedbacks:
            self.updates += len(feedbacks)
            self._cache.clear()

    def learn_totals(self, segment: str, totals: Mapping[str, tuple[float, float]]) -> None:
        """Learn aggregated outcomes: ``{creative id: (clicks, impressions)}`` in ``segment``."""
        n = 0
        for creative_id, (clicks, impressions) in totals.items():
            if not 0 <= clicks <= impressions:
                raise ValueError(
                    f"creative {creative_id}: clicks {clicks} outside [0, {impressions}]"
                )
            self._add(segment, creative_id, float(clicks), float(impressions))
            n += int(impressions)
        if n:
            self.updates += n
            self._cache.clear()

    def _add(self, segment: str, creative_id: str, clicks: float, n: float) -> None:
        stats = self.counts.setdefault(segment, {}).setdefault(creative_id, [0.0, 0.0])
        stats[0] += clicks
        stats[1] += n

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
