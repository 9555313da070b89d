"""Baselines with the same interface as the VW policy.

``ThompsonPolicy`` lives in :mod:`optimizer.allocate.thompson`; it is re-exported here for the
imports that name it from this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from optimizer.allocate.base import Feedback, SampledPolicy
from optimizer.allocate.thompson import ThompsonPolicy
from optimizer.records import Context, Creative

__all__ = ["ThompsonPolicy", "UniformPolicy"]


class UniformPolicy(SampledPolicy):
    """Every candidate equally likely: the classic A/B(/n) split."""

    name = "uniform"
    version = "uniform"

    def __init__(self, **_: object) -> None:
        pass

    def distribution(
        self,
        context: Context,
        candidates: Sequence[Creative],
        rng: np.random.Generator | None = None,
    ) -> tuple[float, ...]:
        return (1.0 / len(candidates),) * len(candidates)

    def learn(self, feedbacks: Sequence[Feedback]) -> None:
        return None

    def learn_totals(self, segment: str, totals: Mapping[str, tuple[float, float]]) -> None:
        return None

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"policy": "uniform"}))

    @classmethod
    def load(cls, path: Path) -> UniformPolicy:
        return cls()
