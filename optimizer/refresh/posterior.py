"""Posteriors of creatives' CTRs in a segment, from the served data: what the refresh
decides by (parents to breed from, the gate's bar, the operators' credit).

A creative's CTR in segment ``s`` has the Beta posterior
``Beta(m * L_s + clicks, m * (1 - L_s) + misses)``: an empirical-Bayes prior worth
``PRIOR_IMPRESSIONS`` impressions at the segment's level ``L_s`` (its clicks over its
impressions, all creatives and rounds), updated with the creative's own clicks and
impressions in the segment. A creative hardly shown stays near the segment's level
instead of a flat prior's 50%. The counts are those the assessments keep
(:class:`~optimizer.refresh.assess.CreativeStats`); under a contextual policy a creative's
raw CTR leans towards the users it was shown to, which the propensity-corrected
assessments (used to retire) do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from optimizer.refresh.assess import CreativeStats

PRIOR_IMPRESSIONS = 200.0
DEFAULT_LEVEL = 0.01  # a segment nothing was shown in yet


@dataclass(frozen=True)
class Posterior:
    """Beta(``alpha``, ``beta``) of one creative's CTR."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def quantile(self, q: float) -> float:
        from scipy.stats import beta

        return float(beta.ppf(q, self.alpha, self.beta))

    def above(self, bar: float) -> float:
        """P(CTR > ``bar``)."""
        from scipy.special import betainc

        return float(1.0 - betainc(self.alpha, self.beta, bar))


def counts(stats: CreativeStats, segment: str, creative_id: str) -> tuple[float, float]:
    """(clicks, impressions) of a creative in a segment, all rounds."""
    row = stats.data.get(stats.key(segment, creative_id))
    return (row[4], row[1]) if row else (0.0, 0.0)


def segment_level(stats: CreativeStats, segment: str) -> float:
    """Clicks over impressions of every creative shown in ``segment``."""
    clicks = shown = 0.0
    prefix = stats.key(segment, "")
    for key, row in stats.data.items():
        if key.startswith(prefix):
            clicks += row[4]
            shown += row[1]
    return clicks / shown if shown and clicks else DEFAULT_LEVEL


def posteriors(
    stats: CreativeStats, segment: str, ids: Iterable[str], level: float | None = None
) -> dict[str, Posterior]:
    """The posterior of each creative in ``ids`` (see the module docstring)."""
    lv = segment_level(stats, segment) if level is None else level
    out = {}
    for cid in ids:
        clicks, shown = counts(stats, segment, cid)
        out[cid] = Posterior(
            PRIOR_IMPRESSIONS * lv + clicks, PRIOR_IMPRESSIONS * (1 - lv) + shown - clicks
        )
    return out


def pool_bar(stats: CreativeStats, segment: str, active: Iterable[str]) -> float:
    """The gate's bar: mean posterior CTR of the segment's active creatives, from their
    data (a newcomer must not dilute the pool it joins)."""
    post = posteriors(stats, segment, active)
    return float(np.mean([p.mean for p in post.values()])) if post else DEFAULT_LEVEL


def thompson_ranking(
    post: Mapping[str, Posterior], rng: np.random.Generator
) -> list[tuple[str, float]]:
    """(creative id, one draw from its posterior), best draw first: the segment's winners
    chosen with their uncertainty (a creative little shown gets its chance)."""
    ids = sorted(post)
    draws = [float(rng.beta(post[i].alpha, post[i].beta)) for i in ids]
    return sorted(zip(ids, draws, strict=True), key=lambda x: -x[1])
