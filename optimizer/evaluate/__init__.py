"""Evaluate: off-policy estimates of what another allocation would have earned."""

from optimizer.evaluate.estimators import ESTIMATORS, Estimate, Inputs, estimate
from optimizer.evaluate.results import Comparison, Diagnostics, EvaluationResult, TargetResult

__all__ = [
    "ESTIMATORS",
    "Comparison",
    "Diagnostics",
    "Estimate",
    "EvaluationResult",
    "Inputs",
    "TargetResult",
    "estimate",
]
