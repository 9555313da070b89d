"""Off-policy estimators of a target policy's value from logged bandit data.

Notation, for logged events ``i = 1..n``: context ``x_i``, logged action ``a_i`` drawn with
probability ``p_i`` by the logging policy, reward ``r_i``; target policy ``pi``; importance
weight ``w_i = pi(a_i | x_i) / p_i`` (optionally clipped at ``M``: ``min(w_i, M)``); reward
model ``q(x, a)``.

- IPS (Horvitz-Thompson): ``V = 1/n sum_i w_i r_i``
- SNIPS (self-normalised IPS): ``V = sum_i w_i r_i / sum_i w_i``
- DM (direct method): ``V = 1/n sum_i sum_a pi(a | x_i) q(x_i, a)``
- DR (doubly robust, Dudik, Langford and Li 2011):
  ``V = 1/n sum_i [ sum_a pi(a | x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)) ]``

Each estimator is the mean of per-event pseudo-outcomes (SNIPS: a ratio of means), so an
analytical interval is ``V +- z * sd / sqrt(n)`` (SNIPS by the delta method) and a bootstrap
interval resamples events with the run's generator (Poisson bootstrap, which needs no index
arrays of size n x B).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from optimizer.evaluate.results import Diagnostics
from optimizer.stats import Z95

ESTIMATORS = ("ips", "snips", "dm", "dr")


@dataclass(frozen=True)
class Inputs:
    """Arrays of shape ``(n,)`` describing the logged events under one target policy.

    ``target_p``: pi(a_i | x_i); ``dm``: sum_a pi(a | x_i) q(x_i, a); ``q_logged``:
    q(x_i, a_i).
    """

    reward: np.ndarray
    logged_p: np.ndarray
    target_p: np.ndarray
    dm: np.ndarray
    q_logged: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.reward)
        for name in ("logged_p", "target_p", "dm", "q_logged"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, reward {n}")
        if n and (np.any(self.logged_p <= 0) or np.any(self.logged_p > 1)):
            raise ValueError("logged probabilities must be in (0, 1]")


@dataclass(frozen=True)
class Estimate:
    estimator: str
    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def weights(inputs: Inputs, clip: float | None = None) -> np.ndarray:
    w = inputs.target_p / inputs.logged_p
    return np.minimum(w, clip) if clip is not None else w


def pseudo_outcomes(name: str, inputs: Inputs, clip: float | None = None) -> np.ndarray:
    """Per-event terms whose mean is the estimate (for SNIPS, the numerator's terms)."""
    w = weights(inputs, clip)
    if name in ("ips", "snips"):
        return w * inputs.reward
    if name == "dm":
        return inputs.dm.astype(float)
    if name == "dr":
        return inputs.dm + w * (inputs.reward - inputs.q_logged)
    raise ValueError(f"unknown estimator {name!r}; valid: {', '.join(ESTIMATORS)}")


def point(name: str, inputs: Inputs, clip: float | None = None) -> float:
    if len(inputs.reward) == 0:
        return float("nan")
    terms = pseudo_outcomes(name, inputs, clip)
    if name == "snips":
        w = weights(inputs, clip)
        return float(terms.sum() / w.sum()) if w.sum() > 0 else float("nan")
    return float(terms.mean())


def analytic_interval(
    name: str, inputs: Inputs, clip: float | None = None, z: float = Z95
) -> tuple[float, float]:
    n = len(inputs.reward)
    value = point(name, inputs, clip)
    if n < 2:
        return value, value
    terms = pseudo_outcomes(name, inputs, clip)
    if name == "snips":
        w = weights(inputs, clip)
        # delta method: var of (w_i r_i - V w_i) / mean(w)
        terms = (terms - value * w) / max(w.mean(), 1e-12)
    sd = float(np.std(terms, ddof=1))
    half = z * sd / np.sqrt(n)
    return value - half, value + half


def bootstrap_interval(
    name: str,
    inputs: Inputs,
    rng: np.random.Generator,
    clip: float | None = None,
    replicates: int = 200,
    level: float = 0.95,
) -> tuple[float, float]:
    n = len(inputs.reward)
    if n < 2:
        v = point(name, inputs, clip)
        return v, v
    terms = pseudo_outcomes(name, inputs, clip)
    w = weights(inputs, clip)
    values = np.empty(replicates)
    for b in range(replicates):
        k = rng.poisson(1.0, size=n)
        if name == "snips":
            denom = float((k * w).sum())
            values[b] = float((k * terms).sum()) / denom if denom > 0 else np.nan
        else:
            values[b] = float((k * terms).sum()) / max(int(k.sum()), 1)
    alpha = (1.0 - level) / 2
    return float(np.nanquantile(values, alpha)), float(np.nanquantile(values, 1 - alpha))


def estimate(
    name: str,
    inputs: Inputs,
    clip: float | None = None,
    ci: str = "bootstrap",
    rng: np.random.Generator | None = None,
    replicates: int = 200,
) -> Estimate:
    value = point(name, inputs, clip)
    if ci == "bootstrap":
        if rng is None:
            raise ValueError("a bootstrap interval needs the run's generator")
        low, high = bootstrap_interval(name, inputs, rng, clip, replicates)
    elif ci == "normal":
        low, high = analytic_interval(name, inputs, clip)
    else:
        raise ValueError(f"unknown interval {ci!r}; valid: bootstrap, normal")
    return Estimate(name, value, low, high, len(inputs.reward))


def diagnostics(inputs: Inputs, clip: float | None = None) -> Diagnostics:
    """Effective sample size (sum w)^2 / sum w^2, weight range and the share clipped."""
    raw = inputs.target_p / inputs.logged_p
    w = weights(inputs, clip)
    n = len(w)
    if n == 0:
        return Diagnostics(
            n=0, effective_sample_size=0.0, mean_weight=0.0, max_weight=0.0, share_clipped=0.0
        )
    squares = float((w**2).sum())
    return Diagnostics(
        n=n,
        effective_sample_size=float(w.sum() ** 2 / squares) if squares > 0 else 0.0,
        mean_weight=float(w.mean()),
        max_weight=float(raw.max()),
        share_clipped=float((raw > clip).mean()) if clip else 0.0,
    )
