"""Baselines with the same interface as the VW policy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from optimizer.allocate.base import Choice, Feedback, sample
from optimizer.records import Context, Creative


class UniformPolicy:
    """Every candidate equally likely: the classic A/B(/n) split."""

    name = "uniform"
    version = "uniform"

    def __init__(self, **_: object) -> None:
        pass

    def choose(
        self,
        context: Context,
        candidates: Sequence[Creative],
        rng: np.random.Generator,
        event_id: str | None = None,
    ) -> Choice:
        n = len(candidates)
        return sample([1.0 / n] * n, rng)

    def learn(self, feedbacks: Sequence[Feedback]) -> None:
        return None

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"policy": "uniform"}))

    @classmethod
    def load(cls, path: Path) -> UniformPolicy:
        return cls()


class ThompsonPolicy:
    """Beta-Bernoulli Thompson sampling, one independent bandit per segment.

    The probability of the arm Thompson sampling picks has no closed form, so the policy
    estimates the distribution with ``draws`` posterior samples per decision and then samples
    its action from that distribution: the logged probability is exact for what it did.
    The estimate is cached per segment until the next update.
    """

    name = "thompson"

    def __init__(self, draws: int = 256, prior: tuple[float, float] = (1.0, 1.0), **_: object):
        self.draws = draws
        self.prior = prior
        self.counts: dict[str, dict[str, list[float]]] = {}  # segment -> id -> [succ, fail]
        self.updates = 0
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, ...]] = {}

    @property
    def version(self) -> str:
        return f"thompson-{self.updates}"

    def distribution(
        self, context: Context, candidates: Sequence[Creative], rng: np.random.Generator
    ) -> tuple[float, ...]:
        key = (context.segment, tuple(c.id for c in candidates))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        seg = self.counts.get(context.segment, {})
        a0, b0 = self.prior
        stats = np.array([seg.get(c.id, [0.0, 0.0]) for c in candidates])
        theta = rng.beta(a0 + stats[:, 0], b0 + stats[:, 1], size=(self.draws, len(candidates)))
        wins = np.bincount(theta.argmax(axis=1), minlength=len(candidates))
        # every arm keeps a sliver of mass so no logged probability is ever zero
        dist = (wins + 1.0 / len(candidates)) / (self.draws + 1.0)
        out = tuple((dist / dist.sum()).tolist())
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
            seg = self.counts.setdefault(fb.decision.context.segment, {})
            stats = seg.setdefault(fb.decision.chosen, [0.0, 0.0])
            r = min(max(fb.reward, 0.0), 1.0)
            stats[0] += r
            stats[1] += 1.0 - r
        if feedbacks:
            self.updates += len(feedbacks)
            self._cache.clear()

    def save(self, path: Path) -> None:
        Path(path).write_text(
            json.dumps(
                {
                    "policy": "thompson",
                    "draws": self.draws,
                    "prior": list(self.prior),
                    "updates": self.updates,
                    "counts": self.counts,
                }
            )
        )

    @classmethod
    def load(cls, path: Path) -> ThompsonPolicy:
        data = json.loads(Path(path).read_text())
        policy = cls(draws=data["draws"], prior=tuple(data["prior"]))
        policy.counts = data["counts"]
        policy.updates = data["updates"]
        return policy
