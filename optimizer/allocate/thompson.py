"""Batched Beta-Bernoulli Thompson sampling with priors, a narrowed posterior and top-two.

One independent bandit per segment. Each arm's posterior is Beta(alpha + clicks, beta +
non-clicks), where (alpha, beta) is its prior: flat by default, a creative's own prior (from
the text scorer, :func:`~optimizer.allocate.priors.table_priors`) when one is set, or the
empirical-Bayes :class:`~optimizer.allocate.priors.GroupPrior`.

Informative priors follow the segment's level: the level factor
``lambda = (k + C) / (k + E)`` compares the segment's clicks ``C`` with the clicks ``E`` its
arms' prior means predict for the impressions they got (a Gamma(k, k)-Poisson posterior
mean), and each such prior is re-centred on ``mean * lambda`` with the same pseudo-clicks. A
prior that guessed the campaign's CTR wrong thus keeps its ranking of the arms, not its level.

``sharpness`` s draws from Beta(s * a, s * b): the posterior mean stays, the spread shrinks by
``sqrt(s)``. ``s = 1`` is textbook Thompson sampling; ``s > 1`` exploits more, which earns more
over short campaigns (Chapelle & Li, "An Empirical Evaluation of Thompson Sampling", NIPS
2011, shrink the posterior the same way). ``sharpen_every`` n makes the sharpness follow the
segment's evidence instead of staying constant: ``s * (1 + N / n)`` after N impressions of the
segment's candidates, so exploration fades as data arrive (off by default; ``benchmarks/
replay.py --sweep`` measures it). ``leader`` turns on top-two Thompson sampling
(Russo, "Simple Bayesian algorithms for best arm identification", COLT 2016): the leader with
probability ``leader``, otherwise the challenger, the argmax of a resample that differs.

The probability of an arm being the argmax has no closed form, so it is estimated with
``draws`` posterior samples, floored so no arm ever has probability zero, cached per segment
until the next update, and the action is drawn from that distribution: the logged
probability is exact for what the policy did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.allocate.counts import CountingBandit
from optimizer.allocate.priors import BetaPrior, GroupPrior, with_mean
from optimizer.records import Creative

ANY_SEGMENT = "*"  # key of a creative prior that holds in every segment


def argmax_probabilities(
    alpha: np.ndarray, beta: np.ndarray, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """P(arm is the argmax) under independent Beta(alpha, beta), by ``draws`` samples.

    Every arm keeps ``1 / (K * (draws + 1))`` of mass at least, so no logged probability is
    ever zero. Shape ``(K,)`` in, ``(K,)`` out, summing to 1.
    """
    k = len(alpha)
    theta = rng.beta(alpha, beta, size=(draws, k))
    wins = np.bincount(theta.argmax(axis=1), minlength=k)
    dist = (wins + 1.0 / k) / (draws + 1.0)
    return dist / dist.sum()


def top_two(p: np.ndarray, leader: float) -> np.ndarray:
    """Top-two sampling from argmax probabilities ``p`` (all in (0, 1)).

    P(a) = leader * p_a + (1 - leader) * sum_{b != a} p_b * p_a / (1 - p_b): the challenger of
    leader b is a resample's argmax conditioned on differing from b.
    """
    if len(p) == 1:
        return np.ones(1)
    ratio = p / (1.0 - p)
    q = p * (leader + (1.0 - leader) * (ratio.sum() - ratio))
    return q / q.sum()


class ThompsonPolicy(CountingBandit):
    """Batched Beta-Bernoulli Thompson sampling (see the module docstring)."""

    name = "thompson"

    def __init__(
        self,
        draws: int = 256,
        prior: tuple[float, float] = (1.0, 1.0),
        *,
        sharpness: float = 1.0,
        leader: float | None = None,
        sharpen_every: float | None = None,
        group_prior: GroupPrior | None = None,
        level_shape: float | None = None,
        name: str | None = None,
        **_: object,
    ) -> None:
        if int(draws) < 1:
            raise ValueError(f"draws must be at least 1, got {draws!r}")
        if not sharpness > 0:
            raise ValueError(f"sharpness must be positive, got {sharpness!r}")
        if sharpen_every is not None and not sharpen_every > 0:
            raise ValueError(f"sharpen_every must be positive, got {sharpen_every!r}")
        if leader is not None and not 0.0 < leader <= 1.0:
            raise ValueError(f"leader must lie in (0, 1], got {leader!r}")
        super().__init__()  # counts: segment -> id -> [successes, failures]
        self.draws = int(draws)
        self.prior = BetaPrior(*prior)  # arms without a creative or group prior
        self.sharpness = float(sharpness)
        self.leader = leader
        never = sharpen_every is None or math.isinf(sharpen_every)  # the registry default: inf
        self.sharpen_every = None if never else float(sharpen_every)
        self.group_prior = group_prior
        self.level_shape = level_shape
        if name is not None:
            self.name = name
        self.creative_priors: dict[str, dict[str, BetaPrior]] = {}  # segment|* -> id -> prior

    # -- priors ---------------------------------------------------------------------------

    def set_prior(self, creative_id: str, prior: BetaPrior, segment: str | None = None) -> None:
        """Give a creative its own prior (in ``segment`` only, or everywhere); works mid-run."""
        self.creative_priors.setdefault(segment or ANY_SEGMENT, {})[creative_id] = prior
        self._cache.clear()

    def set_priors(self, priors: Mapping[str | tuple[str, str], BetaPrior]) -> None:
        """Many priors at once: keys are creative ids or (segment, creative id) pairs."""
        for key, prior in priors.items():
            segment, creative_id = key if isinstance(key, tuple) else (None, key)
            self.set_prior(creative_id, prior, segment)

    def _level_shape(self) -> float:
        if self.level_shape is not None:
            return self.level_shape
        return self.group_prior.level_shape if self.group_prior is not None else 1.0

    def posterior(self, segment: str, candidates: Sequence[Creative]) -> tuple[np.ndarray, ...]:
        """Beta parameters ``(a, b)`` of each candidate's CTR, shape ``(K,)`` each.

        The prior (re-centred on the segment's level when informative) plus the counts.
        """
        seg = self.counts.get(segment, {})
        own = self.creative_priors.get(segment, {})
        anywhere = self.creative_priors.get(ANY_SEGMENT, {})
        stats = np.array([seg.get(c.id, [0.0, 0.0]) for c in candidates], dtype=float)
        priors, informative = [], []
        for c in candidates:
            prior = own.get(c.id) or anywhere.get(c.id)
            if prior is None and self.group_prior is not None:
                prior = self.group_prior.arm()
            informative.append(prior is not None)
            priors.append(prior or self.prior)
        alpha = np.array([p.alpha for p in priors])
        beta = np.array([p.beta for p in priors])
        mask = np.array(informative)
        if mask.any():
            mean = alpha / (alpha + beta)
            k = self._level_shape()
            seen = (stats[:, 0] + stats[:, 1])[mask]
            level = (k + stats[mask, 0].sum()) / (k + (seen * mean[mask]).sum())
            for i in np.flatnonzero(mask):
                beta[i] = with_mean(alpha[i], mean[i] * level).beta
        return alpha + stats[:, 0], beta + stats[:, 1]

    # -- policy ---------------------------------------------------------------------------

    def _distribution(
        self, segment: str, candidates: Sequence[Creative], rng: np.random.Generator | None
    ) -> tuple[float, ...]:
        a, b = self.posterior(segment, candidates)
        s = self.sharpness_now(segment, candidates)
        p = argmax_probabilities(s * a, s * b, self.draws, rng)
        if self.leader is not None:
            p = top_two(p, self.leader)
        return tuple(p.tolist())

    def sharpness_now(self, segment: str, candidates: Sequence[Creative]) -> float:
        """The sharpness of the next draw: constant, or grown with the segment's impressions."""
        if self.sharpen_every is None:
            return self.sharpness
        seg = self.counts.get(segment, {})
        seen = sum(sum(seg.get(c.id, (0.0, 0.0))) for c in candidates)
        return self.sharpness * (1.0 + seen / self.sharpen_every)

    def _counts(self, clicks: float, impressions: float) -> tuple[float, float]:
        return float(clicks), float(impressions - clicks)  # successes, failures

    # -- persistence ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.name,
            "format": 2,
            "draws": self.draws,
            "prior": [self.prior.alpha, self.prior.beta],
            "sharpness": self.sharpness,
            "leader": self.leader,
            "sharpen_every": self.sharpen_every,
            "level_shape": self.level_shape,
            "group_prior": self.group_prior.to_json() if self.group_prior else None,
            "creative_priors": {
                seg: {cid: [p.alpha, p.beta] for cid, p in priors.items()}
                for seg, priors in self.creative_priors.items()
            },
            "updates": self.updates,
            "counts": self.counts,
        }

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: Path) -> ThompsonPolicy:
        """Read a policy saved by :meth:`save` (also the first, counts-only format)."""
        data = json.loads(Path(path).read_text())
        group = data.get("group_prior")
        policy = cls(
            draws=data["draws"],
            prior=tuple(data["prior"]),
            sharpness=data.get("sharpness", 1.0),
            leader=data.get("leader"),
            sharpen_every=data.get("sharpen_every"),
            group_prior=GroupPrior.from_json(group) if group else None,
            level_shape=data.get("level_shape"),
            name=data.get("policy", cls.name),
        )
        for seg, priors in data.get("creative_priors", {}).items():
            for cid, (alpha, beta) in priors.items():
                policy.set_prior(cid, BetaPrior(alpha, beta), None if seg == ANY_SEGMENT else seg)
        policy.counts = data["counts"]
        policy.updates = data["updates"]
        return policy
