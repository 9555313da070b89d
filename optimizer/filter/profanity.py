"""Profanity and insults with ``alt-profanity-check`` (a linear model it ships)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def profanity_scores(texts: Sequence[str]) -> np.ndarray:
    """Probability that each text is offensive, shape ``(n,)``."""
    if not texts:
        return np.zeros(0)
    from profanity_check import predict_prob

    return np.asarray(predict_prob(list(texts)), dtype=float)
