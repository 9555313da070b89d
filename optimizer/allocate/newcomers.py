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
        # derived, for speed: ids offered and ids on trial, per segment
        self._known: dict[str, set[str]] = {}
        self._trial: dict[str, set[str]] = {}
        for key, then in self.first.items():
            segment, cid = key.split("\t", 1)
            self._known.setdefault(segment, set()).add(cid)
            if then >= settled and self.shown.get(key, 0) < impressions:
                self._trial.setdefault(segment, set()).add(cid)

    @staticmethod
    def _key(segment: str, creative_id: str) -> str:
        return f"{segment}\t{creative_id}"

    def offered(self, segment: str, ids: Sequence[str]) -> None:
        """Note the creatives offered to ``segment`` (the first time counts)."""
        known = self._known.setdefault(segment, set())
        if known.issuperset(ids):
            return
        total = self.total.get(segment, 0)
        for cid in ids:
            if cid not in known:
                known.add(cid)
                self.first[self._key(segment, cid)] = total
                if total >= self.settled and self.impressions > 0:
                    self._trial.setdefault(segment, set()).add(cid)

    def learned(self, segment: str, shown: str) -> None:
        """One learned impression of creative ``shown`` in ``segment``."""
        self.total[segment] = self.total.get(segment, 0) + 1
        key = self._key(segment, shown)
        self.shown[key] = n = self.shown.get(key, 0) + 1
        if n >= self.impressions:
            self._trial.get(segment, set()).discard(shown)

    def on_trial(self, segment: str, ids: Sequence[str]) -> np.ndarray:
        """Which of ``ids`` are on trial in ``segment`` (one not offered yet would be, once
        offered, when the segment is settled)."""
        trial = self._trial.get(segment, set())
        known = self._known.get(segment, set())
        late = self.total.get(segment, 0) >= self.settled and self.impressions > 0
        return np.array([c in trial or (late and c not in known) for c in ids], dtype=bool)

    def adjust(self, segment: str, ids: Sequence[str], pmf: Sequence[float]) -> np.ndarray:
        """``pmf`` with the creatives on trial lifted to ``floor`` together (shared equally),
        the others scaled down in proportion."""
        p = np.asarray(pmf, dtype=float)
        if self.floor <= 0 or (
            not self._trial.get(segment) and self._known.get(segment, set()).issuperset(ids)
        ):
            return p
        trial = self.on_trial(segment, ids)
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
