"""Moved to :mod:`optimizer.scorer`; these names stay importable from here until the callers
have moved."""

from optimizer.scorer import (
    CreativeScorer,
    Outcome,
    admit,
    fit_and_register,
    latest_scorer,
    outcomes_from_store,
    pairwise_accuracy,
)

__all__ = [
    "CreativeScorer",
    "Outcome",
    "admit",
    "fit_and_register",
    "latest_scorer",
    "outcomes_from_store",
    "pairwise_accuracy",
]
