"""What a run returns: typed summaries whose JSON (``to_json``) is what ``--json`` prints and
the store keeps with the run.

``Comparison``: a policy, uniform and the oracle served to the same users (``compare``, the
table replay). ``RunSummary``: a simulated campaign (``run_campaign``), a comparison plus its
pool and saved model. ``RoundsSummary``: a campaign played in rounds (``run_rounds``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses become dicts, tuples become lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Totals:
    """What one policy earned: ``expected_ctr`` is its true value on the users it met (mean
    click probability of what it chose), ``regret`` the expected regret against the oracle."""

    name: str
    impressions: int
    clicks: int
    ctr: float
    expected_ctr: float
    regret: float


@dataclass(frozen=True)
class CreativeLine:
    id: str
    headline: str
    impressions: int
    share: float
    clicks: int
    observed_ctr: float | None
    true_ctr: float | None  # mean true click probability over the segment's users


@dataclass(frozen=True)
class SegmentSummary:
    impressions: int
    clicks: int
    ctr: float
    best_creative: str | None  # by true CTR
    creatives: tuple[CreativeLine, ...]  # best true CTR first


@dataclass(frozen=True)
class Comparison:
    """A policy beside uniform and the oracle, served to the same users on one seed."""

    campaign: str
    run_id: str
    seed: int
    policy: Totals
    uniform: Totals
    oracle: Totals
    regret: float
    lift_vs_uniform: float | None  # clicks of the policy over clicks of uniform
    segments: Mapping[str, SegmentSummary]

    def to_json(self) -> dict:
        return plain(self)


@dataclass(frozen=True)
class PoolSummary:
    creatives: int
    generated_kept: int
    screened: int
    rejected: int


@dataclass(frozen=True)
class RunSummary(Comparison):
    """A simulated campaign: the comparison, the pool it served and where its policy went."""

    pool: PoolSummary
    model_path: str | None
    policy_version: str | None = None  # the registered policy version, when one was saved

    @classmethod
    def of(
        cls,
        comparison: Comparison,
        pool: PoolSummary,
        model_path: str | None,
        policy_version: str | None = None,
    ) -> RunSummary:
        fields = {f.name: getattr(comparison, f.name) for f in dataclasses.fields(Comparison)}
        return cls(**fields, pool=pool, model_path=model_path, policy_version=policy_version)

    def to_json(self) -> dict:
        out = plain(self)
        if self.policy_version is None:
            del out["policy_version"]
        return out


@dataclass(frozen=True)
class RoundLine:
    """One round in a rounds summary; round 0 (the initial pool) has only its pool value."""

    round: int
    pool_true_ctr: float
    served_ctr: float | None = None
    expected_ctr: float | None = None
    oracle_ctr: float | None = None
    uniform_ctr: float | None = None
    regret: float | None = None
    # by the simulator's truth: parsed candidates before the filters and the gate, per source
    # (operator:arm@generator) ``{count, mean_true_ctr, best_true_ctr}``; the pool's make-up
    raw_candidates: Mapping[str, Mapping[str, Any]] | None = None
    created_share: float | None = None
    created_true_ctr: float | None = None
    seed_true_ctr: float | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in plain(self).items() if v is not None}


@dataclass(frozen=True)
class RoundsSummary:
    """A campaign played in rounds. ``*_pool_true_ctr``: the true mean CTR of the active pool
    (each segment's creatives equally weighted) before round 1 and after the last round."""

    campaign: str
    run_id: str
    seed: int
    refresh: bool
    rounds: tuple[RoundLine, ...]
    initial_pool_true_ctr: float
    final_pool_true_ctr: float
    retirements: int
    new_creatives: int
    generator: str | None
    pool_lift: float  # final over initial pool true CTR
    # the final pool by the simulator's truth: created creatives' share of its (segment,
    # creative) entries, and the mean true CTR of the created and of the surviving seeds
    created_share: float | None = None
    created_true_ctr: float | None = None
    seed_true_ctr: float | None = None
    create: bool = True  # False: the retire-only control (refresh without new creatives)

    def to_json(self) -> dict:
        out = plain(self)
        out["rounds"] = [r.to_json() for r in self.rounds]
        return out
