"""The conditional logit: which creative of a group gets the group's clicks.

Within a group ``g`` (an ad group, or a segment), creative ``i`` with ``n_i`` impressions
and score ``s_i = x_i . w`` gets clicks at rate ``exp(a_g + s_i)``. Conditioned on the
group's total clicks, the clicks follow a multinomial with probabilities
``n_i exp(s_i) / sum_j n_j exp(s_j)``: the group level ``a_g`` cancels, so the model learns
only from differences within groups (the Poisson-multinomial equivalence; McFadden's
conditional logit). Each click weighs the same; an L2 penalty keeps ``w`` small.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize


class Groups:
    """Rows sorted by group, with the boundaries ``reduceat`` needs."""

    def __init__(self, group: np.ndarray) -> None:
        self.order = np.argsort(group, kind="stable")
        g = np.asarray(group)[self.order]
        self.starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1] if len(g) else np.zeros(0, int)
        self.sizes = np.diff(np.r_[self.starts, len(g)])

    def log_softmax_loss(
        self, s: np.ndarray, clicks: np.ndarray, offset: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Negative conditional log-likelihood of sorted rows and its gradient in ``s``."""
        z = s + offset
        top = np.maximum.reduceat(z, self.starts)
        e = np.exp(z - np.repeat(top, self.sizes))
        total = np.add.reduceat(e, self.starts)
        group_clicks = np.add.reduceat(clicks, self.starts)
        loss = float(-(clicks * z).sum() + (group_clicks * (top + np.log(total))).sum())
        grad = -clicks + np.repeat(group_clicks, self.sizes) * e / np.repeat(total, self.sizes)
        return loss, grad


def fit_conditional_logit(
    x: np.ndarray,
    group: np.ndarray,
    clicks: np.ndarray,
    impressions: np.ndarray,
    l2: float = 1e-2,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Weights ``w``, shape ``(d,)``, maximising the conditional log-likelihood per click
    minus ``l2 * |w|^2`` (L-BFGS from ``start``, zeros by default). ``x`` is ``(n, d)``; the
    other arrays ``(n,)``."""
    g = Groups(group)
    xs = np.asarray(x, dtype=float)[g.order]
    c = np.asarray(clicks, dtype=float)[g.order]
    offset = np.log(np.asarray(impressions, dtype=float)[g.order])
    per_click = 1.0 / max(c.sum(), 1.0)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad_s = g.log_softmax_loss(xs @ w, c, offset)
        return loss * per_click + l2 * w @ w, xs.T @ grad_s * per_click + 2 * l2 * w

    w0 = np.zeros(xs.shape[1]) if start is None else np.asarray(start, dtype=float)
    return optimize.minimize(objective, w0, jac=True, method="L-BFGS-B").x


def conditional_loss(
    score: np.ndarray, group: np.ndarray, clicks: np.ndarray, impressions: np.ndarray
) -> float:
    """Negative conditional log-likelihood per click of scores ``s`` (``(n,)`` arrays)."""
    g = Groups(group)
    c = np.asarray(clicks, float)[g.order]
    offset = np.log(np.asarray(impressions, dtype=float)[g.order])
    loss, _ = g.log_softmax_loss(np.asarray(score, float)[g.order], c, offset)
    return loss / max(c.sum(), 1e-12)


def temperature(
    score: np.ndarray, group: np.ndarray, clicks: np.ndarray, impressions: np.ndarray
) -> float:
    """The factor ``t`` in [0, 10] that makes held-out scores ``t * score`` best explain
    who got the clicks (an unpenalised one-parameter conditional logit): the penalised fit
    shrinks scores, and held-out ones may carry less signal than the fit thinks."""
    res = optimize.minimize_scalar(
        lambda t: conditional_loss(t * score, group, clicks, impressions),
        bounds=(0.0, 10.0),
        method="bounded",
    )
    return float(res.x)


def copy_variance(
    group: np.ndarray, clicks: np.ndarray, impressions: np.ndarray, offset: np.ndarray
) -> float:
    """Method-of-moments variance of the log click rate between creatives of the same group
    that ``offset`` (a predicted log relative effect) leaves unexplained, net of sampling
    noise: with ``y_i = log((c_i + 0.5) / n_i) - offset_i``, noise variance ``1 / (c_i + 0.5)``
    and ``k_g`` creatives in group ``g``,
    ``[sum_g sum_i (y_i - mean_g y)^2 - sum_g (k_g - 1) / k_g * sum_i noise_i]
    / sum_g (k_g - 1)``. Floored at 0."""
    g = Groups(group)
    c = np.asarray(clicks, float)[g.order]
    y = np.log((c + 0.5) / np.asarray(impressions, float)[g.order]) - np.asarray(offset)[g.order]
    k = g.sizes.astype(float)
    mean = np.add.reduceat(y, g.starts) / k
    spread = ((y - np.repeat(mean, g.sizes)) ** 2).sum()
    noise = ((k - 1) / k * np.add.reduceat(1.0 / (c + 0.5), g.starts)).sum()
    dof = (k - 1).sum()
    return float(max(spread - noise, 0.0) / dof) if dof > 0 else 0.0


def level_variance(clicks_by_group: np.ndarray, impressions_by_group: np.ndarray) -> float:
    """Variance of the log click rate between groups, net of sampling noise (floored at 0)."""
    c = np.asarray(clicks_by_group, float)
    if len(c) < 2:
        return 0.0
    y = np.log((c + 0.5) / np.asarray(impressions_by_group, float))
    return float(max(y.var(ddof=1) - np.mean(1.0 / (c + 0.5)), 0.0))
