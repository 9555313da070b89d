"""What Thompson sampling and UCB1 share: one bandit per segment over two counts per
creative, learnt from single impressions or from totals, and a distribution cached per
(segment, candidate list) until the next update, as in batched serving."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from optimizer.allocate.base import Feedback, SampledPolicy
from optimizer.records import Context, Creative


class CountingBandit(SampledPolicy):
    """``counts[segment][creative id]`` holds two numbers a subclass defines (what
    :meth:`_counts` makes of clicks and impressions); the subclass computes the distribution
    from them in :meth:`_distribution`."""

    name: str

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, list[float]]] = {}  # segment -> id -> two counts
        self.updates = 0
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, ...]] = {}

    @property
    def version(self) -> str:
        return f"{self.name}-{self.updates}"

    def _counts(self, clicks: float, impressions: float) -> tuple[float, float]:
        """The two counts that ``clicks`` of ``impressions`` add."""
        raise NotImplementedError

    def _distribution(
        self, segment: str, candidates: Sequence[Creative], rng: np.random.Generator | None
    ) -> tuple[float, ...]:
        raise NotImplementedError

    def distribution(
        self,
        context: Context,
        candidates: Sequence[Creative],
        rng: np.random.Generator | None = None,
    ) -> tuple[float, ...]:
        key = (context.segment, tuple(c.id for c in candidates))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        out = self._distribution(context.segment, candidates, rng)
        self._cache[key] = out
        return out

    def learn(self, feedbacks: Sequence[Feedback]) -> None:
        for fb in feedbacks:
            r = min(max(fb.reward, 0.0), 1.0)
            self._add(fb.decision.context.segment, fb.decision.chosen, *self._counts(r, 1.0))
        if feedbacks:
            self.updates += len(feedbacks)
            self._cache.clear()

    def learn_totals(self, segment: str, totals: Mapping[str, tuple[float, float]]) -> None:
        """Learn aggregated outcomes: ``{creative id: (clicks, impressions)}`` in ``segment``.

        The same update as :meth:`learn` on that many single impressions, in one step (a
        report, or a batch replayed in bulk).
        """
        n = 0
        for creative_id, (clicks, impressions) in totals.items():
            if not 0 <= clicks <= impressions:
                raise ValueError(
                    f"creative {creative_id}: clicks {clicks} outside [0, {impressions}]"
                )
            self._add(segment, creative_id, *self._counts(clicks, impressions))
            n += int(impressions)
        if n:
            self.updates += n
            self._cache.clear()

    def _add(self, segment: str, creative_id: str, first: float, second: float) -> None:
        stats = self.counts.setdefault(segment, {}).setdefault(creative_id, [0.0, 0.0])
        stats[0] += first
        stats[1] += second
