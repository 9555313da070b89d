"""What an off-policy evaluation returns: typed records whose JSON is ``as_dict()``.

Records hold the values as computed; ``as_dict()`` rounds them for display and scripts
(estimates and rates to 6 decimals, diagnostics as before) and keeps the keys the
``evaluate --json`` output has always had.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optimizer.evaluate.estimators import Estimate


@dataclass(frozen=True)
class Diagnostics:
    """How far the target is from the logging policy on the logged events.

    ``effective_sample_size``: ``(sum w)^2 / sum w^2`` of the (clipped) importance weights;
    ``max_weight``: the largest unclipped weight; ``share_clipped``: the share of events
    whose weight exceeds the clip. ``unseen_actions``: actions the target plays that the
    logs never show; ``uncovered_events``: for a static target, events none of whose
    candidates it lists (served uniformly), else None.
    """

    n: int
    effective_sample_size: float
    mean_weight: float
    max_weight: float
    share_clipped: float
    unseen_actions: tuple[str, ...] = ()
    uncovered_events: int | None = None

    @property
    def ess_share(self) -> float:
        return self.effective_sample_size / self.n if self.n else 0.0

    def as_dict(self) -> dict:
        out = {
            "n": self.n,
            "effective_sample_size": round(self.effective_sample_size, 1),
            "ess_share": round(self.ess_share, 4),
            "mean_weight": round(self.mean_weight, 4),
            "max_weight": round(self.max_weight, 4),
            "share_clipped": round(self.share_clipped, 4),
            "unseen_actions": list(self.unseen_actions),
        }
        if self.uncovered_events is not None:
            out["uncovered_events"] = self.uncovered_events
        return out


@dataclass(frozen=True)
class TargetResult:
    """One target policy: an estimate per estimator (by name) and its weight diagnostics."""

    target: str
    estimates: Mapping[str, Estimate]
    diagnostics: Diagnostics

    def as_dict(self) -> dict:
        return {
            "target": self.target,
            "estimates": {name: e.as_dict() for name, e in self.estimates.items()},
            "diagnostics": self.diagnostics.as_dict(),
        }


@dataclass(frozen=True)
class Comparison:
    """Several targets evaluated on the same ``events`` logged events."""

    events: int
    logged_mean_reward: float
    clip: float | None
    interval: str  # "bootstrap" or "normal"
    targets: tuple[TargetResult, ...]

    def target(self, name: str) -> TargetResult:
        for result in self.targets:
            if result.target == name:
                return result
        raise KeyError(name)

    def as_dict(self) -> dict:
        return {
            "events": self.events,
            "logged_mean_reward": round(self.logged_mean_reward, 6),
            "clip": self.clip,
            "interval": self.interval,
            "targets": [t.as_dict() for t in self.targets],
        }


@dataclass(frozen=True)
class EvaluationResult:
    """A campaign's logged events, how they joined their rewards, and the comparison.

    ``log``: the join's counts (``Joined.summary()``: decisions, rewarded, default_reward,
    pending, late_rewards, orphan_rewards); ``test_share``: the latest share of events
    evaluated on (0: all of them)."""

    campaign: str
    test_share: float
    log: Mapping[str, int]
    comparison: Comparison

    def as_dict(self) -> dict:
        return {
            "campaign": self.campaign,
            "test_share": self.test_share,
            **self.log,
            **self.comparison.as_dict(),
        }
