"""How well a scorer ranks and predicts held-out creatives.

Pairwise accuracy: for pairs of creatives of the same group, the share whose order of
observed CTR the scores get right, on all pairs with different CTRs and on the pairs whose
difference is statistically significant (two-proportion z-test, ``|z| > 1.96``).
Calibration: mean predicted CTR of held-out creatives against their mean observed CTR.
Cross-validation folds hold out whole groups (as a new A/B test would be) when there are
enough of them, else creatives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.scorer.model import CreativeScorer, Outcome, aggregate, fold_of
from optimizer.stats import Z95


def within_group_pairs(
    group: Sequence[str], clicks: np.ndarray, impressions: np.ndarray
) -> np.ndarray:
    """Every pair ``(i, j, z)`` of rows in the same group, ``i < j``, with the pooled
    two-proportion z statistic of CTR_i - CTR_j; shape ``(pairs, 3)``."""
    c, n = np.asarray(clicks, float), np.asarray(impressions, float)
    rows: dict[str, list[int]] = {}
    for k, g in enumerate(group):
        rows.setdefault(g, []).append(k)
    out = []
    for idx in rows.values():
        for a, i in enumerate(idx):
            for j in idx[a + 1 :]:
                p = (c[i] + c[j]) / (n[i] + n[j])
                se = np.sqrt(p * (1 - p) * (1 / n[i] + 1 / n[j]))
                z = (c[i] / n[i] - c[j] / n[j]) / se if se > 0 else 0.0
                out.append((i, j, z))
    return np.array(out, dtype=float).reshape(-1, 3)


def pair_accuracy(score: np.ndarray, pairs: np.ndarray, significant: bool) -> tuple[float, int]:
    """(share of pairs ordered right by ``score``, number of pairs): the significant ones
    (``|z| > 1.96``) or all with a difference. A tie in score counts as wrong."""
    z = pairs[:, 2]
    keep = np.abs(z) > Z95 if significant else z != 0
    if not keep.any():
        return float("nan"), 0
    i, j = pairs[keep, 0].astype(int), pairs[keep, 1].astype(int)
    return float(np.mean(np.sign(score[i] - score[j]) == np.sign(z[keep]))), int(keep.sum())


def pairwise_accuracy(
    scorer: CreativeScorer, outcomes: Sequence[Outcome], significant: bool = False
) -> float:
    """Share of pairs of creatives in the same group whose CTR order the scorer gets right
    (pairs with equal observed CTR skipped; only significant pairs when asked)."""
    rows = aggregate(outcomes)
    score = group_scores(scorer, rows)
    pairs = within_group_pairs(
        [f"{o.segment}\x1f{o.ad_group}" for o in rows],
        np.array([o.clicks for o in rows]),
        np.array([o.impressions for o in rows]),
    )
    return pair_accuracy(score, pairs, significant)[0]


def group_scores(scorer: CreativeScorer, rows: Sequence[Outcome]) -> np.ndarray:
    """The scorer's score of each row in its segment, shape ``(n,)``."""
    out = np.zeros(len(rows))
    by_segment: dict[str, list[int]] = {}
    for k, o in enumerate(rows):
        by_segment.setdefault(o.segment, []).append(k)
    for segment, idx in by_segment.items():
        out[idx] = scorer.scores(
            segment, [(rows[k].headline, rows[k].body, rows[k].cta) for k in idx]
        )
    return out


def group_predictions(scorer: CreativeScorer, rows: Sequence[Outcome]) -> np.ndarray:
    """Predicted CTR of each row, each group predicted as a whole (a new group's level is
    the scorer's pooled level), shape ``(n,)``."""
    out = np.zeros(len(rows))
    by_group: dict[tuple[str, str], list[int]] = {}
    for k, o in enumerate(rows):
        by_group.setdefault(o.group, []).append(k)
    for (segment, ad_group), idx in by_group.items():
        texts = [(rows[k].headline, rows[k].body, rows[k].cta) for k in idx]
        out[idx] = scorer.predict(segment, texts, ad_group=ad_group)
    return out


@dataclass(frozen=True)
class Calibration:
    """Mean and median predicted vs observed CTR of held-out creatives; ``group_error`` the
    median over groups of ``|log(mean predicted / mean observed)|``."""

    predicted_mean: float
    observed_mean: float
    predicted_median: float
    observed_median: float
    group_error: float

    @property
    def ratio(self) -> float:
        return self.predicted_mean / self.observed_mean if self.observed_mean else float("nan")


def calibration(predicted: np.ndarray, observed: np.ndarray, group: Sequence[str]) -> Calibration:
    """Calibration of predicted against observed CTRs of the same rows."""
    groups: dict[str, list[int]] = {}
    for k, g in enumerate(group):
        groups.setdefault(g, []).append(k)
    errors = [
        abs(np.log(max(predicted[i].mean(), 1e-9) / max(observed[i].mean(), 1e-9)))
        for i in map(np.array, groups.values())
    ]
    return Calibration(
        float(predicted.mean()),
        float(observed.mean()),
        float(np.median(predicted)),
        float(np.median(observed)),
        float(np.median(errors)),
    )


@dataclass(frozen=True)
class FoldResult:
    significant_accuracy: float
    significant_pairs: int
    all_accuracy: float
    all_pairs: int
    calibration: Calibration


@dataclass(frozen=True)
class CrossValidation:
    """Per-fold results; ``held_out`` says what a fold holds out (``"group"`` or
    ``"creative"``)."""

    folds: tuple[FoldResult, ...]
    held_out: str

    def _values(self, field: str) -> np.ndarray:
        values = np.array([getattr(f, field) for f in self.folds], dtype=float)
        return values[np.isfinite(values)]

    def mean(self, field: str) -> float:
        """Mean over the folds that have a value (NaN when none has)."""
        values = self._values(field)
        return float(values.mean()) if len(values) else float("nan")

    def sd(self, field: str) -> float:
        values = self._values(field)
        return float(values.std()) if len(values) else float("nan")

    @property
    def calibration_ratio(self) -> float:
        return float(np.mean([f.calibration.ratio for f in self.folds]))


def fold_keys(rows: Sequence[Outcome], folds: int) -> tuple[list[str], str]:
    """What the folds split: groups when there are at least ``2 * folds`` of them, else
    creatives (texts)."""
    if len({o.group for o in rows}) >= 2 * folds:
        return [f"{o.segment}\x1f{o.ad_group}" for o in rows], "group"
    return [f"{o.headline}\x1f{o.body}\x1f{o.cta}" for o in rows], "creative"


def cross_validate(
    outcomes: Sequence[Outcome],
    make: Callable[[], CreativeScorer],
    folds: int = 5,
    seed: int = 0,
) -> CrossValidation:
    """``folds``-fold cross-validation of scorers made by ``make`` (hash folds of ``seed``)."""
    rows = aggregate(outcomes)
    keys, held_out = fold_keys(rows, folds)
    fold = np.array([fold_of(k, seed, folds) for k in keys])
    results = []
    for f in sorted(set(fold)):
        train = [o for o, k in zip(rows, fold, strict=True) if k != f]
        test = [o for o, k in zip(rows, fold, strict=True) if k == f]
        if not train or len(test) < 2:
            continue
        results.append(evaluate(make().fit(train), test))
    return CrossValidation(tuple(results), held_out)


def evaluate(scorer: CreativeScorer, test: Sequence[Outcome]) -> FoldResult:
    """Pairwise accuracy and calibration of a fitted scorer on held-out outcomes."""
    group = [f"{o.segment}\x1f{o.ad_group}" for o in test]
    c = np.array([o.clicks for o in test], float)
    n = np.array([o.impressions for o in test], float)
    pairs = within_group_pairs(group, c, n)
    score = group_scores(scorer, test)
    sig, n_sig = pair_accuracy(score, pairs, significant=True)
    every, n_all = pair_accuracy(score, pairs, significant=False)
    cal = calibration(group_predictions(scorer, test), c / n, group)
    return FoldResult(sig, n_sig, every, n_all, cal)
