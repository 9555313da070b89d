"""The creative scorer: a creative's click-through rate in its group, from its text, learnt
from differences within A/B tests (ad groups) or segments.

- :mod:`~optimizer.scorer.features`: the text features (MiniLM layers, style counts);
- :mod:`~optimizer.scorer.clogit`: the conditional logit and the variance components;
- :mod:`~optimizer.scorer.model`: :class:`CreativeScorer` (scores, CTRs, Beta priors), the
  refresh gate :func:`admit`;
- :mod:`~optimizer.scorer.validation`: pairwise accuracy, calibration, cross-validation;
- :mod:`~optimizer.scorer.files`: ``.npz`` + ``.json`` files that cannot run code;
- :mod:`~optimizer.scorer.registry`: outcomes from the store, ``scorer fit``/``predict``.
"""

from optimizer.scorer.files import ScorerFileError, load_scorer, save_scorer
from optimizer.scorer.model import CreativeScorer, Outcome, Prior, admit
from optimizer.scorer.registry import (
    FitResult,
    Prediction,
    fit,
    fit_and_register,
    latest_scorer,
    outcomes_from_store,
    predict_file,
    scorer_version,
)
from optimizer.scorer.validation import CrossValidation, cross_validate, pairwise_accuracy

__all__ = [
    "CreativeScorer",
    "CrossValidation",
    "FitResult",
    "Outcome",
    "Prediction",
    "Prior",
    "ScorerFileError",
    "admit",
    "cross_validate",
    "fit",
    "fit_and_register",
    "latest_scorer",
    "load_scorer",
    "outcomes_from_store",
    "scorer_version",
    "pairwise_accuracy",
    "predict_file",
    "save_scorer",
    "scorer_version",
]
