"""Uncertainty for SquareCB: VW's distribution floored by a per-segment Thompson sampler's.

SquareCB explores by the predicted gap alone: a good creative that VW underestimates gets the
small share a large gap allows, is seldom shown again, and its estimate is slow to recover
(on seed 4 of the example campaign VW settled on a segment's second-best creative, the best
keeping ~4% of the traffic). A Beta-Bernoulli posterior per (segment, creative) knows how
little it has seen of such a creative: its probability of being the segment's best
(:func:`optimizer.allocate.thompson.argmax_probabilities`) stays high while the evidence is
thin. :class:`SegmentThompson` raises each creative's probability to ``share`` times that
probability (the others scaled down to make room), drawn from Beta(s(1 + clicks),
s(1 + misses)) with sharpness s: the spread narrowed by sqrt(s), as in ``thompson.py``.

Measured (``benchmarks/allocation.py --sweep``, seeds 1-6, example campaign): share 0.3 and
sharpness 4 raised VW's clicks over per-segment Thompson sampling from 1.074 to 1.111 on
average (worst seed 1.046 -> 1.086) and the last 10,000 impressions' CTR over the
segment-best ceiling from 0.977 to 0.992 (worst 0.948 -> 0.980). Sharpness 1 did not help
(1.072-1.077, worst seed below 1.01): the floor spent traffic on creatives a flat posterior
could not yet rule out; sharpness 8 was in between (1.096, worst 1.008). On by default
under SquareCB (``VWPolicy(thompson=None)`` turns it off); ``learn`` from logs feeds it each
event's reward.

The argmax probabilities are estimated with ``draws`` posterior samples per candidate list
and redrawn when ``every`` more impressions of the segment have been learned, in learning,
so a decision only reads them. At most ``lists`` candidate lists are kept (the least
recently used go first), so an ad server that sends many different candidate lists bounds
the memory, the model file and the redraws. The floored distribution is the one sampled and
logged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from optimizer.allocate.thompson import argmax_probabilities


class SegmentThompson:
    """Clicks and impressions per (segment, creative) and VW's distribution floored by their
    Thompson probabilities (see the module docstring)."""

    def __init__(
        self,
        share: float = 0.3,
        sharpness: float = 4.0,
        every: int = 100,
        draws: int = 256,
        rng: np.random.Generator | None = None,
        state: Mapping | None = None,
        lists: int = 64,
    ) -> None:
        if not 0.0 <= share < 1.0:
            raise ValueError(f"share must lie in [0, 1), got {share!r}")
        if not sharpness > 0:
            raise ValueError(f"sharpness must be positive, got {sharpness!r}")
        if int(lists) < 1:
            raise ValueError(f"lists must be at least 1, got {lists!r}")
        self.share, self.sharpness, self.every, self.draws = share, sharpness, every, draws
        self.lists = int(lists)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        state = state or {}
        self.counts: dict[str, dict[str, list[float]]] = {
            seg: {cid: [float(v[0]), float(v[1])] for cid, v in arms.items()}
            for seg, arms in state.get("counts", {}).items()
        }  # segment -> id -> [clicks, impressions]
        # segment -> impressions learned since its last estimate; the estimates
        self._seen: dict[str, int] = dict(state.get("seen", {}))
        self._cache: dict[tuple[str, tuple[str, ...]], np.ndarray] = {
            (seg, tuple(ids)): np.array(p, dtype=float) for seg, ids, p in state.get("cache", [])
        }
        if "rng" in state:
            self.rng.bit_generator.state = state["rng"]

    def learned(self, segment: str, creative_id: str, reward: float) -> None:
        """One learned impression; every ``every`` of a segment, the estimates of the
        candidate lists offered there are redrawn (so a decision only reads them)."""
        stats = self.counts.setdefault(segment, {}).setdefault(creative_id, [0.0, 0.0])
        stats[0] += min(max(float(reward), 0.0), 1.0)
        stats[1] += 1.0
        self._seen[segment] = seen = self._seen.get(segment, 0) + 1
        if seen >= self.every:
            self._seen[segment] = 0
            for key in [k for k in self._cache if k[0] == segment]:
                self._cache[key] = self._estimate(segment, key[1])

    def probabilities(self, segment: str, ids: Sequence[str]) -> np.ndarray:
        """P(each of ``ids`` is the segment's best), as last estimated (a candidate list not
        seen before is estimated now)."""
        key = (segment, tuple(ids))
        hit = self._cache.pop(key, None)  # re-inserted last: the most recently used
        if hit is None:
            hit = self._estimate(segment, key[1])
            while len(self._cache) >= self.lists:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = hit
        return hit

    def _estimate(self, segment: str, ids: Sequence[str]) -> np.ndarray:
        arms = self.counts.get(segment, {})
        stats = np.array([arms.get(c, (0.0, 0.0)) for c in ids], dtype=float).reshape(-1, 2)
        s = self.sharpness
        alpha, beta = s * (1.0 + stats[:, 0]), s * (1.0 + stats[:, 1] - stats[:, 0])
        return argmax_probabilities(alpha, beta, self.draws, self.rng)

    def adjust(self, segment: str, ids: Sequence[str], pmf: Sequence[float]) -> np.ndarray:
        """``pmf`` with each creative raised to ``share`` times its Thompson probability,
        renormalised."""
        p = np.asarray(pmf, dtype=float)
        if self.share <= 0 or len(p) < 2:
            return p
        out = np.maximum(p, self.share * self.probabilities(segment, ids))
        return out / out.sum()

    def to_json(self) -> dict:
        return {
            "share": self.share,
            "sharpness": self.sharpness,
            "every": self.every,
            "draws": self.draws,
            "lists": self.lists,
            "state": {  # all of it, so a saved policy resumes exactly
                "counts": self.counts,
                "seen": self._seen,
                "cache": [[seg, list(ids), p.tolist()] for (seg, ids), p in self._cache.items()],
                "rng": self.rng.bit_generator.state,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping, rng: np.random.Generator | None = None) -> SegmentThompson:
        return cls(
            float(data["share"]),
            float(data["sharpness"]),
            int(data["every"]),
            int(data["draws"]),
            rng,
            data["state"],
            int(data.get("lists", 64)),
        )
