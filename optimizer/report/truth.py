"""The simulator's truth for a campaign played in rounds, rebuilt from its stored config and
the run's seed: true CTRs of any creative, and the expected clicks of ways of serving the
impressions the run logged.

The simulator draws its hidden per-creative noise from the run's ``simulator`` stream and
measures pools on the ``evaluation`` stream's users (:class:`optimizer.refresh.measure.Truth`),
so the values here are the ones the rounds recorded, as long as the audience does not change
while it is served (no drift, no fatigue): :func:`why_not` says when they cannot be rebuilt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from optimizer.config import CampaignConfig
from optimizer.records import Context, Creative
from optimizer.refresh.measure import Truth
from optimizer.report.lift import SERVED, UNIFORM, RankedTarget
from optimizer.report.model import LiftLine
from optimizer.rng import Streams


def why_not(cfg: CampaignConfig | None, config_hash: str | None) -> str | None:
    """Why true CTRs cannot be rebuilt for a run (None when they can)."""
    if cfg is None:
        return "the campaign's config is not in the store, so its simulator cannot be rebuilt"
    if config_hash is not None and cfg.config_hash() != config_hash:
        return (
            "the campaign's config changed after this run, so its simulator cannot be rebuilt; "
            "play the rounds again to see true CTRs"
        )
    sim = cfg.simulator
    if sim.drift_sd > 0 or sim.fatigue.scale > 0:
        return (
            "the simulated audience drifts or tires of creatives, so a creative's true CTR "
            "changed while it was served; the store keeps only each round's pool values"
        )
    return None


class RunTruth:
    """True CTRs for one run's seed (``cfg`` with the run's seed)."""

    def __init__(self, cfg: CampaignConfig) -> None:
        from simulators.audience import AudienceSimulator

        streams = Streams(cfg.seed)
        self.sim = AudienceSimulator(cfg, streams.fresh("simulator"))
        self.truth = Truth(self.sim, streams.fresh("evaluation"))

    def ctrs(self, segment: str, creatives: Sequence[Creative]) -> dict[str, float]:
        """True CTR of each creative in ``segment`` on the evaluation users."""
        values = self.truth.ctrs(segment, list(creatives)).tolist()
        return {c.id: float(v) for c, v in zip(creatives, values, strict=True)}

    def lift(
        self,
        events: pd.DataFrame,
        creatives: Mapping[str, Creative],
        ranking: Mapping[str, Sequence[str]],
    ) -> tuple[LiftLine, ...]:
        """Expected clicks on the logged users of: what was served, uniform over each
        impression's candidates, each segment's truly best creative (``ranking``: best
        first; where it was not live, the best that was) and the oracle (each user's best)."""
        served = uniform = best = oracle = 0.0
        for segment, context, cands, chosen in zip(
            events["segment"],
            events["context"],
            events["candidates"],
            events["chosen"],
            strict=True,
        ):
            ids = list(cands) or [chosen]
            p = self.sim.expected_rewards(
                Context(segment, dict(context)), [creatives[i] for i in ids]
            )
            served += float(p[ids.index(chosen)])
            uniform += float(p.mean())
            oracle += float(p.max())
            best += float(p[ids.index(_first(ranking.get(segment, ()), ids))])
        return (
            LiftLine(SERVED, served, None, None),
            LiftLine(UNIFORM, uniform, None, None),
            LiftLine(RankedTarget.name, best, None, None),
            LiftLine("oracle (each user's best creative)", oracle, None, None),
        )


def _first(ranking: Sequence[str], ids: Sequence[str]) -> str:
    live = set(ids)
    return next((c for c in ranking if c in live), ids[0])
