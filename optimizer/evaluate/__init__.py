"""Evaluate: off-policy estimates of what another allocation would have earned."""

from optimizer.evaluate.estimators import ESTIMATORS, Estimate, Inputs, estimate

__all__ = ["ESTIMATORS", "Estimate", "Inputs", "estimate"]
