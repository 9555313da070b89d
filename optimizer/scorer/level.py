"""The level of a new group from its creatives' text (what the story is about).

Copy is compared within groups, but the mean text of a group says something about its level:
on the Upworthy tests a ridge regression of a test's log CTR on the mean features of its
headlines explains about a quarter of the between-test variance (held out by test), and the
median error of a new test's predicted level drops from 0.46 to 0.40 (in logs). Fitted only
when there are enough groups; otherwise a new group gets the pooled level.
"""

from __future__ import annotations

import numpy as np

from optimizer.scorer.clogit import level_variance

ALPHA = 3.0  # ridge penalty, the best of 1, 3, 10, 30 by cross-validation by test


def ridge(x: np.ndarray, y: np.ndarray, alpha: float = ALPHA) -> tuple[np.ndarray, float]:
    """Weights and intercept of a ridge regression of ``y`` on ``x``."""
    mean_x, mean_y = x.mean(0), y.mean()
    xc = x - mean_x
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - mean_y))
    return w, float(mean_y - mean_x @ w)


class LevelModel:
    """``level(mean features) = exp(b + x . w)``, ``b`` set so that the fitted groups' mean
    predicted level is their mean observed level; ``variance`` is the held-out variance of
    log levels it leaves unexplained, net of sampling noise."""

    def __init__(self, w: np.ndarray, b: float, variance: float) -> None:
        self.w, self.b, self.variance = w, b, variance

    @classmethod
    def fit(
        cls, x: np.ndarray, clicks: np.ndarray, impressions: np.ndarray, fold: np.ndarray
    ) -> LevelModel:
        """``x``: mean features of each group ``(groups, d)``; ``fold``: a fold per group."""
        y = np.log((clicks + 0.5) / impressions)
        held_out = np.zeros(len(y))
        for f in np.unique(fold):
            w, b = ridge(x[fold != f], y[fold != f])
            held_out[fold == f] = b + x[fold == f] @ w
        w, b = ridge(x, y)
        level = clicks / impressions
        b += float(np.log(level.mean() / np.exp(b + x @ w).mean()))
        variance = level_variance(clicks, impressions * np.exp(held_out))  # residuals' variance
        return cls(w, b, variance)

    def predict(self, x: np.ndarray) -> float:
        """The level of a new group whose creatives' mean features are ``x`` ``(d,)``."""
        return float(np.exp(self.b + x @ self.w))
