"""The creative scorer: a creative's click-through rate in its group, from its text.

A creative's score ``s = t * x . (w + v_segment)`` is its log relative effect: ``x`` the
text features (:mod:`optimizer.scorer.features`), ``w`` learnt by the conditional logit
from differences within groups (:mod:`optimizer.scorer.clogit`), ``v_segment`` a
per-segment correction shrunk towards 0 (fitted when there are several segments, which may
like different things), ``t`` the temperature fitted on out-of-fold scores. A group is an
(segment, ad group) pair: an A/B test or ad set, or a campaign's segment when reports carry
no ad group. The predicted CTR is the group's level times ``exp(s)`` relative to the group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from optimizer.filter.embed import Embedder
from optimizer.scorer.clogit import (
    conditional_loss,
    copy_variance,
    fit_conditional_logit,
    level_variance,
    temperature,
)
from optimizer.scorer.features import Text, TextFeatures, as_texts
from optimizer.scorer.level import LevelModel

# A group's clicks weigh c / (1 + C_g / GROUP_CLICKS) in the fit: a large A/B test tells
# about as much about copy in general as a small one (its story matters more than its size);
# equal weights per test gave +0.012 pairwise accuracy on significant Upworthy pairs.
GROUP_CLICKS = 10.0
# L2 penalties (per click) tried by out-of-fold likelihood: on Upworthy any of them ranks as
# well; on a campaign's segments (strong, simulated tastes) 1e-2 shrank too much.
L2_GRID = (1e-2, 1e-3, 1e-4)  # tried in this order, each fit starting from the last
MIN_LOG_VARIANCE = 0.04  # a prior never pins a CTR down to better than about +-20%


@dataclass(frozen=True)
class Outcome:
    """Impressions and clicks of one creative in one segment (and ad group)."""

    segment: str
    headline: str
    body: str
    cta: str
    impressions: int
    clicks: int
    ad_group: str = ""

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def group(self) -> tuple[str, str]:
        return (self.segment, self.ad_group)


@dataclass(frozen=True)
class Prior:
    """Beta priors of creatives' CTRs: ``alpha`` pseudo-clicks and ``beta`` pseudo-non-clicks,
    shape ``(n,)`` each. Iterating gives one ``(alpha, beta)`` pair per creative, in order."""

    alpha: np.ndarray
    beta: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> np.ndarray:
        """Pseudo-impressions ``alpha + beta``."""
        return self.alpha + self.beta

    def __len__(self) -> int:
        return len(self.alpha)

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(zip(self.alpha.tolist(), self.beta.tolist(), strict=True))


def fold_of(key: str, seed: int, folds: int) -> int:
    """A stable fold for ``key`` (a test id or a text): a hash, not a random stream."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % folds


def aggregate(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """One outcome per (group, text): repeated rows (report days) summed; no impressions
    dropped."""
    sums: dict[tuple, list[int]] = {}
    for o in outcomes:
        key = (o.segment, o.ad_group, o.headline, o.body, o.cta)
        acc = sums.setdefault(key, [0, 0])
        acc[0] += int(o.impressions)
        acc[1] += int(o.clicks)
    return [Outcome(s, h, b, c, n, k, a) for (s, a, h, b, c), (n, k) in sums.items() if n > 0]


class CreativeScorer:
    """Fit with :meth:`fit`; :meth:`predict` gives CTRs, :meth:`prior` Beta priors."""

    def __init__(
        self,
        embedder: Embedder | None = None,
        segments: Sequence[str] = (),
        ctas: Sequence[str] = (),
        l2: float | None = None,
        folds: int = 5,
    ) -> None:
        self.embedder = embedder or Embedder.shared()
        self.segments = list(segments)
        self.features = TextFeatures(self.embedder, ctas)
        self.l2_grid = L2_GRID if l2 is None else (l2,)
        self.l2, self.folds = self.l2_grid[-1], folds
        self.w: np.ndarray | None = None
        self.v = np.zeros((0, 0))  # per-segment corrections, rows in ``self.interacting``
        self.interacting: list[str] = []
        self.temperature = 1.0
        # per (segment, ad group): level, reference score, clicks, impressions
        self.groups: dict[tuple[str, str], tuple[float, float, float, float]] = {}
        self.copy_var = self.residual_var = self.level_var = 0.0
        self.level_model: LevelModel | None = None  # a new group's level from its text

    @property
    def ctas(self) -> list[str]:
        return self.features.ctas

    # fitting ---------------------------------------------------------------------------

    def fit(self, outcomes: Sequence[Outcome]) -> CreativeScorer:
        """Fit on outcomes (at least one creative with impressions)."""
        rows = aggregate(outcomes)
        if not rows:
            raise ValueError("no outcomes to fit the scorer on")
        texts = [(o.headline, o.body, o.cta) for o in rows]
        x = self.features.fit(texts).transform(texts)
        segs = [o.segment for o in rows]
        self.segments = sorted(set(segs))
        per_segment = {s: segs.count(s) for s in self.segments}
        self.interacting = (
            [s for s in self.segments if per_segment[s] > 1] if len(self.segments) > 1 else []
        )
        group = np.array([f"{o.segment}\x1f{o.ad_group}" for o in rows])
        c = np.array([o.clicks for o in rows], dtype=float)
        n = np.array([o.impressions for o in rows], dtype=float)
        totals: dict[str, float] = {}
        for g, k in zip(group, c, strict=True):
            totals[g] = totals.get(g, 0.0) + k
        weighted = c / (1 + np.array([totals[g] for g in group]) / GROUP_CLICKS)
        # small matrix-vector products: one BLAS thread is faster (2.2 s instead of 21 s on
        # two busy cores for the 2,772 Upworthy headlines, embeddings cached)
        with threadpool_limits(1, user_api="blas"):
            self._fit_arrays(rows, x, segs, group, c, weighted, n)
        return self

    def _fit_arrays(self, rows, x, segs, group, c, weighted, n) -> None:
        """Penalty, weights, temperature, group levels, variances and the level model."""
        held_out = self._choose_l2(rows, x, segs, group, weighted, n)
        self._fit_weights(x, segs, group, weighted, n)
        if held_out is not None and c.sum() > 0:
            self.temperature = temperature(held_out, group, c, n)
        score = self.temperature * self._raw(x, segs)
        self._fit_levels(rows, score)
        self.copy_var = copy_variance(group, c, n, np.zeros(len(rows)))
        oof = self.temperature * held_out if held_out is not None else np.zeros(len(rows))
        self.residual_var = min(copy_variance(group, c, n, oof), self.copy_var)
        self._fit_level_model(x, group)

    def _fit_level_model(self, x: np.ndarray, group: np.ndarray) -> None:
        """The level of a new group from the mean features of its creatives, when there are
        enough groups to check it on held-out ones; else the pooled level (and the spread of
        the groups' levels as its uncertainty)."""
        keys = sorted(set(group))
        stats = np.array([self.groups[tuple(k.split("\x1f", 1))][2:] for k in keys])
        if len(keys) < 2 * self.folds:
            self.level_model = None
            self.level_var = level_variance(stats[:, 0], stats[:, 1])
            return
        index = {k: i for i, k in enumerate(keys)}
        rows = np.array([index[g] for g in group])
        means = np.zeros((len(keys), x.shape[1]))
        np.add.at(means, rows, x)
        means /= np.bincount(rows)[:, None]
        fold = np.array([fold_of(k, 0, self.folds) for k in keys])
        self.level_model = LevelModel.fit(means, stats[:, 0], stats[:, 1], fold)
        self.level_var = self.level_model.variance

    def _fit_weights(self, x, segs, group, c, n, start: np.ndarray | None = None) -> None:
        coef = _solve(x, segs, self.interacting, group, c, n, self.l2, start)
        self.w, self.v = _split(coef, x.shape[1], len(self.interacting))

    def _choose_l2(self, rows, x, segs, group, c, n) -> np.ndarray | None:
        """Set ``l2`` to the penalty whose out-of-fold scores, at their best temperature,
        best explain who got the (weighted) clicks ``c``; returns those scores (None when
        there is too little data to hold any out: ``l2`` stays the largest)."""
        best, starts = (np.inf, None), {}
        for l2 in self.l2_grid:
            held_out = self._out_of_fold(rows, x, segs, group, c, n, l2, starts)
            if held_out is None or c.sum() == 0:
                return None
            t = temperature(held_out, group, c, n)
            loss = conditional_loss(t * held_out, group, c, n)
            if loss < best[0]:
                best, self.l2 = (loss, held_out), l2
        return best[1]

    def _out_of_fold(
        self, rows, x, segs, group, c, n, l2: float, starts: dict[int, np.ndarray]
    ) -> np.ndarray | None:
        """Scores of each row from a model fitted without its fold: folds by group when
        there are enough groups (as for a new A/B test), else by creative (a new creative).
        ``starts`` holds each fold's last solution, the next fit's starting point."""
        by_group = len(set(group)) >= 2 * self.folds
        keys = list(group) if by_group else [f"{o.headline}\x1f{o.body}\x1f{o.cta}" for o in rows]
        fold = np.array([fold_of(k, 0, self.folds) for k in keys])
        if len(rows) < 2 * self.folds or len(set(fold)) < 2:
            return None
        segs = np.array(segs, dtype=object)
        out = np.zeros(len(rows))
        for f in sorted(set(fold)):
            train, test = fold != f, fold == f
            coef = _solve(
                x[train],
                segs[train],
                self.interacting,
                group[train],
                c[train],
                n[train],
                l2,
                starts.get(f),
            )
            starts[f] = coef
            w, v = _split(coef, x.shape[1], len(self.interacting))
            out[test] = _apply(x[test], segs[test], self.interacting, w, v)
        return out

    def _fit_levels(self, rows: Sequence[Outcome], score: np.ndarray) -> None:
        """Per group: observed CTR (its level), the impression-weighted mean of ``exp(s)``
        (its reference, in logs), its clicks and impressions."""
        acc: dict[tuple[str, str], list[float]] = {}
        for o, s in zip(rows, score, strict=True):
            a = acc.setdefault(o.group, [0.0, 0.0, 0.0])
            a[0] += o.clicks
            a[1] += o.impressions
            a[2] += o.impressions * np.exp(s)
        self.groups = {
            g: (max(k, 0.5) / m, float(np.log(e / m)), k, m) for g, (k, m, e) in acc.items()
        }

    # prediction ------------------------------------------------------------------------

    def _raw(self, x: np.ndarray, segs: Sequence[str]) -> np.ndarray:
        if self.w is None:
            raise ValueError("the scorer is not fitted")
        return _apply(x, segs, self.interacting, self.w, self.v)

    def scores(self, segment: str, texts: Sequence[str | Text]) -> np.ndarray:
        """Log relative effects ``s`` of creatives in ``segment``, shape ``(n,)``: only
        differences mean something (comparable across calls for the same segment)."""
        return self._scored(segment, texts)[1]

    def _scored(self, segment: str, texts: Sequence[str | Text]) -> tuple[np.ndarray, np.ndarray]:
        texts = as_texts(texts)
        if not texts:
            return np.zeros((0, 0)), np.zeros(0)
        x = self.features.transform(texts)
        return x, self.temperature * self._raw(x, [segment] * len(texts))

    def pooled_level(self, segment: str | None = None) -> float:
        """Mean observed CTR of the segment's groups (of all groups for an unknown one)."""
        levels = [v[0] for g, v in self.groups.items() if g[0] == segment]
        return float(np.mean(levels or [v[0] for v in self.groups.values()]))

    def _anchor(
        self, segment: str, ad_group: str, x: np.ndarray, s: np.ndarray, level: float | None
    ) -> tuple[float, float, float]:
        """(level, reference score, log-variance of the level) for creatives of a group."""
        known = self.groups.get((segment, ad_group))
        if known is not None and level is None:
            return known[0], known[1], 1.0 / (known[2] + 0.5)
        ref = float(np.log(np.mean(np.exp(s - s.max()))) + s.max()) if len(s) else 0.0
        if level is not None:
            return float(level), ref, 0.0
        if self.level_model is not None and len(s):
            return self.level_model.predict(x.mean(0)), ref, self.level_var
        return self.pooled_level(segment), ref, self.level_var

    def predict(
        self,
        segment: str,
        texts: Sequence[str | Text],
        *,
        ad_group: str = "",
        level: float | None = None,
    ) -> np.ndarray:
        """Predicted CTR of each creative, shape ``(n,)``: ``level * exp(s - ref)``.

        For a group seen in fitting (``level`` not given): its observed CTR and the
        impression-weighted mean of ``exp(s)`` of its fitted creatives. Otherwise the texts
        are the group's creatives: ``level`` when given (the group's observed CTR), else the
        level predicted from their text (:mod:`optimizer.scorer.level`; with too few fitted
        groups, the mean CTR of the segment's groups, or of all groups for a new segment), and
        ``ref`` is the log of the mean ``exp(s)`` of these texts, so that their mean is the
        level.
        """
        x, s = self._scored(segment, texts)
        lv, ref, _ = self._anchor(segment, ad_group, x, s, level)
        return np.clip(lv * np.exp(s - ref), 1e-9, 1.0 - 1e-9) if len(s) else s

    def prior(
        self,
        texts: Sequence[str | Text],
        ad_group: str | None = None,
        level: float | None = None,
        *,
        segment: str = "",
    ) -> Prior:
        """Beta priors of the creatives' CTRs, for Thompson sampling or a warm start.

        Mean ``mu_i`` = :meth:`predict`. Spread: the log CTR of a creative is taken as normal
        around ``log mu_i`` with variance ``v = r + l``: ``r`` the variance of copy effects
        that the text leaves unexplained, estimated on out-of-fold scores net of sampling
        noise (:func:`~optimizer.scorer.clogit.copy_variance`); ``l`` the uncertainty of the
        level: for a new group without ``level``, the held-out variance of log levels that
        the level model leaves (or the between-group variance), ``1 / clicks`` for a fitted
        group, 0 when ``level`` is given; and ``v >= 0.04`` (a prior weighs at most
        ``1 / (0.04 mu)`` impressions). Matching the Beta's mean and variance to that
        log-normal's (variance ``mu^2 (e^v - 1)``) gives
        ``alpha + beta = (1 - mu) / (mu (e^v - 1)) - 1`` pseudo-impressions (at least 1),
        ``alpha = mu (alpha + beta)``. On the Upworthy tests ``r`` is about 0.07: a
        headline's prior at a known level near 1% weighs about 1,200 impressions, a few
        hundred when the level is unknown; its own impressions soon outweigh it.
        """
        x, s = self._scored(segment, texts)
        lv, ref, level_var = self._anchor(segment, ad_group or "", x, s, level)
        mu = np.clip(lv * np.exp(s - ref), 1e-6, 0.5)
        v = max(self.residual_var + level_var, MIN_LOG_VARIANCE)
        strength = np.maximum((1 - mu) / (mu * np.expm1(v)) - 1, 1.0)
        return Prior(mu * strength, (1 - mu) * strength)

    @property
    def explained_variance(self) -> float:
        """Share of the between-creative variance of log CTR the text explains, held out."""
        return 1 - self.residual_var / self.copy_var if self.copy_var > 0 else 0.0


def _solve(x, segs, interacting, group, c, n, l2, start=None) -> np.ndarray:
    """Pooled weights ``w`` (d,) then per-segment corrections ``v`` (len(interacting), d),
    as one vector, from ``start`` (zeros by default)."""
    blocks = [x] + [x * np.array([s == t for s in segs], float)[:, None] for t in interacting]
    return fit_conditional_logit(np.hstack(blocks), group, c, n, l2, start)


def _split(coef: np.ndarray, d: int, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """``w`` (d,) and ``v`` (segments, d) from the solution vector."""
    return coef[:d], coef[d:].reshape(segments, d)


def _apply(x, segs, interacting, w, v) -> np.ndarray:
    out = x @ w
    for k, t in enumerate(interacting):
        mask = np.array([s == t for s in segs], dtype=bool)
        out[mask] += x[mask] @ v[k]
    return out


def admit(
    scorer: CreativeScorer,
    segment: str,
    candidates: Sequence[Text],
    active: Sequence[Text],
) -> list[int]:
    """Indices of the candidates (headline, body, CTA) predicted to beat the segment's
    ``active`` creatives on average, best first: a replacement must not dilute the pool."""
    if not candidates:
        return []
    s = scorer.scores(segment, [*candidates, *active])
    pred, pool = np.exp(s[: len(candidates)]), np.exp(s[len(candidates) :])
    bar = float(np.mean(pool)) if len(pool) else -np.inf
    return [int(i) for i in np.argsort(-pred, kind="stable") if pred[i] >= bar]
