"""Priors for Beta-Bernoulli policies: per creative, pooled across ad groups, or from text.

A prior is pseudo-data: ``alpha`` pseudo-clicks in ``alpha + beta`` pseudo-impressions. It is
a Beta distribution, so a creative's own clicks and impressions add to it and its weight
shrinks as they arrive.

:class:`GroupPrior` is the empirical-Bayes prior pooled across the ad groups (A/B tests) of
past reports: an arm's CTR is its group's level times its own relative effect,
``p = m0 * level * r``, with ``level ~ Gamma(k, k)`` (mean 1) and ``r`` spread so that the arm's
Beta prior holds ``a`` pseudo-clicks (relative spread about ``1 / sqrt(a)``).
:func:`fit_group_prior` fits ``m0`` (pooled CTR), ``k`` by marginal likelihood (a negative
binomial for the groups' total clicks) and ``a`` by the method of moments on the arms' CTRs
relative to their group's, less the binomial noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "BetaPrior",
    "GroupPrior",
    "TextScorer",
    "fit_group_prior",
    "table_priors",
]


@dataclass(frozen=True)
class BetaPrior:
    """``alpha`` pseudo-clicks and ``beta`` pseudo-non-clicks: a Beta(alpha, beta) prior."""

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"prior {name} must be a positive number, got {value!r}")

    @classmethod
    def from_ctr(cls, ctr: float, impressions: float) -> BetaPrior:
        """A prior worth ``impressions`` pseudo-impressions centred on ``ctr``."""
        if not 0.0 < ctr < 1.0:
            raise ValueError(f"prior ctr must lie strictly between 0 and 1, got {ctr!r}")
        return cls(alpha=ctr * impressions, beta=(1.0 - ctr) * impressions)

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def impressions(self) -> float:
        return self.alpha + self.beta


@dataclass(frozen=True)
class GroupPrior:
    """The empirical-Bayes prior of an arm in an ad group, learned across many groups.

    ``mean``: the pooled CTR of all arms (``m0``). ``level_shape``: shape ``k`` of the group
    level's Gamma(k, k) prior (the level's coefficient of variation is ``1 / sqrt(k)``).
    ``pseudo_clicks``: ``a``, the weight of an arm's prior around its group's level.
    """

    mean: float
    level_shape: float
    pseudo_clicks: float

    def __post_init__(self) -> None:
        if not 0.0 < self.mean < 1.0:
            raise ValueError(f"group prior mean must lie in (0, 1), got {self.mean!r}")
        for name in ("level_shape", "pseudo_clicks"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"group prior {name} must be a positive number, got {value!r}")

    def arm(self, ctr: float | None = None) -> BetaPrior:
        """An arm's Beta prior centred on ``ctr`` (default: the pooled mean)."""
        return with_mean(self.pseudo_clicks, self.mean if ctr is None else ctr)

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupPrior:
        return cls(**{k: float(data[k]) for k in ("mean", "level_shape", "pseudo_clicks")})


def with_mean(pseudo_clicks: float, ctr: float) -> BetaPrior:
    """``pseudo_clicks`` pseudo-clicks at mean ``ctr`` (kept inside (0, 1))."""
    ctr = min(max(ctr, 1e-9), 1.0 - 1e-9)
    return BetaPrior(alpha=pseudo_clicks, beta=pseudo_clicks * (1.0 - ctr) / ctr)


def fit_group_prior(
    groups: Sequence[object], clicks: Sequence[float], impressions: Sequence[float]
) -> GroupPrior:
    """Fit a :class:`GroupPrior` to arms' clicks and impressions, one row per arm.

    ``groups`` names each arm's ad group (an A/B test). Groups with one arm or no click say
    nothing about how arms differ and only count towards the level. Raises ``ValueError``
    naming the problem when the data cannot support a fit.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import gammaln

    c = np.asarray(clicks, dtype=float)
    n = np.asarray(impressions, dtype=float)
    if not len(groups) == len(c) == len(n):
        raise ValueError("groups, clicks and impressions must have one entry per arm")
    if len(c) == 0 or not (np.isfinite(c).all() and np.isfinite(n).all()):
        raise ValueError("no arms, or a click or impression count that is not a number")
    if (n <= 0).any() or (c < 0).any() or (c > n).any():
        raise ValueError("every arm needs impressions > 0 and 0 <= clicks <= impressions")
    _, gid = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    big_c, big_n = np.bincount(gid, weights=c), np.bincount(gid, weights=n)
    if big_c.sum() == 0:
        raise ValueError("no clicks at all: a click-through rate cannot be fitted")
    m0 = float(big_c.sum() / big_n.sum())

    expected = m0 * big_n

    def level_nll(log_k: float) -> float:
        k = math.exp(log_k)
        ll = gammaln(k + big_c) - gammaln(k) + k * np.log(k / (k + expected))
        ll += big_c * np.log(expected / (k + expected))
        return -float(ll.sum())

    a = _pseudo_clicks(gid, c, n)
    k = math.exp(minimize_scalar(level_nll, bounds=(-5.0, 12.0), method="bounded").x)
    return GroupPrior(mean=m0, level_shape=k, pseudo_clicks=a)


def _pseudo_clicks(gid: np.ndarray, c: np.ndarray, n: np.ndarray) -> float:
    """Method of moments for ``a``: the spread of arms' CTRs relative to their group's CTR.

    Per group with K >= 2 arms and a click: x = ctr / group ctr; its sample variance (K - 1
    in the denominator, so the group's own mean costs no spread) less the binomial noise
    ``mean(1 / expected clicks)`` estimates the squared coefficient of variation of the arms'
    true CTRs, about ``1 / a`` for a Beta prior with ``a`` pseudo-clicks. Groups are pooled
    with weights K - 1. A plug-in marginal likelihood with the group's CTR as the mean
    underestimates the spread by the factor (K - 1) / K instead.
    """
    num = den = 0.0
    used = 0
    for g in np.unique(gid):
        sel = gid == g
        if sel.sum() < 2 or c[sel].sum() == 0:
            continue
        level = c[sel].sum() / n[sel].sum()
        x = c[sel] / n[sel] / level
        num += (sel.sum() - 1) * (x.var(ddof=1) - np.mean(1.0 / (n[sel] * level)))
        den += sel.sum() - 1
        used += 1
    if used < 2:
        raise ValueError("need at least two ad groups with two or more arms and some clicks")
    cv2 = num / den
    return float(min(max(1.0 / cv2, 1e-2), 1e5)) if cv2 > 0 else 1e5


class TextScorer(Protocol):
    """What a text prior needs from a creative scorer (``optimizer.scorer.CreativeScorer``).

    ``prior(texts, level=...)`` treats the texts as the arms of one ad group whose CTR is
    ``level`` and returns one Beta prior per text, in order: ``(alpha, beta)`` pairs or
    objects with ``alpha``/``beta``. ``pooled_level()`` (optional) is the mean CTR of the
    groups the scorer learned from.
    """

    def prior(self, texts: Sequence[str], level: float | None = None) -> Iterable[Any]: ...


def as_beta_prior(value: Any, where: str) -> BetaPrior:
    """A :class:`BetaPrior` from a pair or an object with ``alpha`` and ``beta``."""
    if isinstance(value, BetaPrior):
        return value
    try:
        if hasattr(value, "alpha") and hasattr(value, "beta"):
            return BetaPrior(float(value.alpha), float(value.beta))
        alpha, beta = value
        return BetaPrior(float(alpha), float(beta))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not a Beta prior ({exc}); expected (alpha, beta)") from None


def table_priors(
    table: Any, scorer: TextScorer, level: float | None = None
) -> dict[tuple[str, str], BetaPrior]:
    """Text priors for every arm of an arms table (``simulators.table.ArmsTable``).

    Each segment of the table is one ad group; its creatives' headlines are the text the
    scorer reads. The priors are asked for at a known ``level`` (default: the scorer's
    ``pooled_level()``): the Thompson sampler re-centres informative priors on each test's
    observed level, so a prior's spread must describe how copy differs within a group only.
    A prior for an unknown level would add the level's variance to every arm alike and blur
    the text's ranking. Returns ``{(segment, creative id): prior}`` for
    :meth:`ThompsonPolicy.set_priors <optimizer.allocate.thompson.ThompsonPolicy.set_priors>`.
    """
    if level is None and callable(getattr(scorer, "pooled_level", None)):
        level = float(scorer.pooled_level())
    out: dict[tuple[str, str], BetaPrior] = {}
    for segment, creatives in table.creatives.items():
        headlines = [c.headline for c in creatives]
        priors = list(scorer.prior(headlines, level=level))
        if len(priors) != len(creatives):
            raise ValueError(
                f"scorer returned {len(priors)} priors for the {len(creatives)} arms of "
                f"segment {segment!r}"
            )
        for creative, prior in zip(creatives, priors, strict=True):
            out[(segment, creative.id)] = as_beta_prior(prior, f"segment {segment!r}")
    return out
