"""A fair trial for creatives that join a running campaign.

The bandit's model knows an established creative by its own weights (``SC``: this segment's
view of this creative) as well as by its words; a newcomer has only its words, so even one
that says better what the segment likes tends to rank below the incumbents, and SquareCB's
exploration late in a campaign is thin. So a creative first offered to a segment after the
segment has ``settled`` learned impressions is on trial until it has been shown
``impressions`` times there: the creatives on trial in a decision share at least ``floor``
of the probability (VW's distribution scaled to make room). Creatives of the first pool get
no trial: early exploration covers them. The adjusted distribution is the one sampled,
logged and returned by ``distribution``, so off-policy evaluation sees what was served.

Measured (``benchmarks/allocation.py``): without the trial a creative 1.5x as good as the
segment's best got under 1% of the segment's traffic on one seed of three.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class Newcomers:
    """Trial state per (segment, creative): when it was first offered and how often shown."""

    def __init__(
        self,
        floor: float = 0.3,
        impressions: int = 150,
        settled: int = 1_000,
        state: Mapping | None = None,
    ) -> None:
        if not 0.0 <= floor < 1.0:
            raise ValueError(f"floor must lie in [0, 1), got {floor!r}")
        self.floor, self.impressions, self.settled = floor, impressions, settled
        state = state or {}
        self.total: dict[str, int] = dict(state.get("total", {}))  # segment -> learned
        self.first: dict[str, int] = dict(state.get("first", {}))  # key -> total then
        self.shown: dict[str, int] = dict(state.get("shown", {}))  # key -> learned shown

    @staticmethod
    def _key(segment: str, creative_id: str) -> str:
        return f"{segment}\t{creative_id}"

    def offered(self, segment: str, ids: Sequence[str]) -> None:
        """Note the creatives offered to ``segment`` (the first time counts)."""
        total = self.total.get(segment, 0)
        for cid in ids:
            self.first.setdefault(self._key(segment, cid), total)

    def learned(self, segment: str, shown: str) -> None:
        """One learned impression of creative ``shown`` in ``segment``."""
        self.total[segment] = self.total.get(segment, 0) + 1
        key = self._key(segment, shown)
        self.shown[key] = self.shown.get(key, 0) + 1

    def on_trial(self, segment: str, ids: Sequence[str]) -> np.ndarray:
        total = self.total.get(segment, 0)
        out = []
        for cid in ids:
            key = self._key(segment, cid)
            joined_late = self.first.get(key, total) >= self.settled
            out.append(joined_late and self.shown.get(key, 0) < self.impressions)
        return np.array(out, dtype=bool)

    def adjust(self, segment: str, ids: Sequence[str], pmf: Sequence[float]) -> np.ndarray:
        """``pmf`` with the creatives on trial lifted to ``floor`` together (shared equally),
        the others scaled down in proportion."""
        p = np.asarray(pmf, dtype=float)
        trial = self.on_trial(segment, ids) if self.floor > 0 else np.zeros(len(p), bool)
        lifted = p[trial].sum()
        if not trial.any() or trial.all() or lifted >= self.floor:
            return p
        out = p.copy()
        out[trial] += (self.floor - lifted) / trial.sum()
        out[~trial] *= (1.0 - self.floor) / p[~trial].sum()
        return out

    def to_json(self) -> dict:
        return {
            "floor": self.floor,
            "impressions": self.impressions,
            "settled": self.settled,
            "state": {"total": self.total, "first": self.first, "shown": self.shown},
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Newcomers:
        return cls(
            float(data["floor"]), int(data["impressions"]), int(data["settled"]), data["state"]
        )
