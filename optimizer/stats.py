"""Statistical constants shared by the stages."""

from __future__ import annotations

from statistics import NormalDist

# The two-sided 95% normal quantile (1.95996...): intervals, significance tests.
Z95 = NormalDist().inv_cdf(0.975)
