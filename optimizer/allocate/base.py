"""The policy interface every allocation policy implements."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from optimizer.records import Context, Creative, Feedback

__all__ = ["Choice", "Feedback", "Policy", "SampledPolicy", "SavablePolicy", "sample"]


@dataclass(frozen=True)
class Choice:
    """A policy's answer: index into the candidates, its probability, the distribution."""

    index: int
    probability: float
    distribution: tuple[float, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.index < len(self.distribution):
            raise ValueError(f"choice index {self.index} outside the distribution")
        if not (0.0 < self.probability <= 1.0):
            raise ValueError(f"probability {self.probability} is outside (0, 1]")
        if not math.isclose(sum(self.distribution), 1.0, abs_tol=1e-6):
            raise ValueError(f"distribution sums to {sum(self.distribution)}, not 1")


@runtime_checkable
class Policy(Protocol):
    name: str
    version: str

    def choose(
        self,
        context: Context,
        candidates: Sequence[Creative],
        rng: np.random.Generator,
        event_id: str | None = None,
    ) -> Choice: ...

    def learn(self, feedbacks: Sequence[Feedback]) -> None: ...


@runtime_checkable
class SavablePolicy(Policy, Protocol):
    def save(self, path: Path) -> None: ...


def sample(distribution: Sequence[float], rng: np.random.Generator) -> Choice:
    """Draw an index from ``distribution`` with ``rng``; renormalises float error away.

    One uniform draw and a search of the cumulative sum: cheaper per decision than
    ``rng.choice(p=...)``, which re-validates ``p`` every call.
    """
    p = np.asarray(distribution, dtype=float)
    if p.ndim != 1 or len(p) == 0 or (p < 0).any() or not np.isfinite(p).all():
        raise ValueError(f"not a distribution: {list(distribution)}")
    total = p.sum()
    if not total > 0:
        raise ValueError("distribution has no mass")
    p = p / total
    cdf = np.cumsum(p)
    index = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    index = min(index, len(p) - 1)
    while p[index] == 0.0:  # a draw can only land on a zero-width bin through rounding
        index -= 1
    return Choice(index=index, probability=float(p[index]), distribution=tuple(p.tolist()))


class SampledPolicy:
    """Base of a policy that serves a draw from its own :meth:`distribution`: ``choose``
    samples it with :func:`sample`, so the logged probability is the one it drew with."""

    def distribution(
        self,
        context: Context,
        candidates: Sequence[Creative],
        rng: np.random.Generator | None = None,
    ) -> tuple[float, ...]:
        """The probability of each of ``candidates``, in their order, summing to 1."""
        raise NotImplementedError

    def choose(
        self,
        context: Context,
        candidates: Sequence[Creative],
        rng: np.random.Generator,
        event_id: str | None = None,
    ) -> Choice:
        return sample(self.distribution(context, candidates, rng), rng)
