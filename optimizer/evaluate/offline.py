"""Evaluate several target policies on the same logged events: one comparison table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from optimizer.errors import OptimizerError
from optimizer.evaluate.estimators import ESTIMATORS, Inputs, diagnostics, estimate
from optimizer.evaluate.results import Comparison, TargetResult
from optimizer.evaluate.targets import RewardModel, candidate_lists


def target_inputs(
    target,
    events: pd.DataFrame,
    cands: Sequence[tuple[str, ...]],
    models: Sequence[RewardModel],
    fold: np.ndarray,
) -> tuple[Inputs, list[str]]:
    """Estimator inputs for ``target`` and the actions it plays that the logs never show.

    Event ``i`` is scored by ``models[fold[i]]``, a reward model not fitted on it."""
    dists = target.distributions(events, cands)
    n = len(events)
    target_p, dm, q_logged = np.empty(n), np.empty(n), np.empty(n)
    # Targets that ignore the user's features hand out one array per candidate set, so the
    # reward model's terms are computed once per (fold, segment, candidates, distribution).
    cache: dict[tuple, tuple[np.ndarray, float]] = {}
    played: set[str] = set()
    folds = fold.tolist()
    for i, (segment, chosen, c, dist) in enumerate(
        zip(events["segment"], events["chosen"], cands, dists, strict=True)
    ):
        key = (folds[i], segment, c, id(dist))
        hit = cache.get(key)
        if hit is None:
            q = models[folds[i]].predict(segment, c)
            hit = cache[key] = (q, float(dist @ q))
            played.update(a for a, p in zip(c, dist, strict=True) if p > 0)
        q, dm[i] = hit
        j = c.index(chosen)
        target_p[i] = dist[j]
        q_logged[i] = q[j]
    logged = set(events["chosen"])
    unseen = sorted(a for a in played if a not in logged)
    inputs = Inputs(
        reward=events["reward"].to_numpy(float),
        logged_p=events["probability"].to_numpy(float),
        target_p=target_p,
        dm=dm,
        q_logged=q_logged,
    )
    return inputs, unseen


def evaluate_targets(
    events: pd.DataFrame,
    targets: Sequence,
    rng: np.random.Generator,
    estimators: Sequence[str] = ESTIMATORS,
    clip: float | None = None,
    ci: str = "bootstrap",
    replicates: int = 200,
    model_events: pd.DataFrame | None = None,
) -> Comparison:
    """Estimates with intervals and weight diagnostics for every target.

    ``model_events`` fit the direct method's reward model, e.g. the train split. Without
    them the model is cross-fitted: events are split in two folds by position and each
    fold is scored by the model fitted on the other, so no event is scored by a model that
    saw its own reward.
    """
    if len(events) == 0:
        raise OptimizerError(
            "no closed logged events to evaluate; ingest decisions and "
            "rewards first (or wait for their attribution windows to close)"
        )
    if model_events is not None:
        models = [RewardModel().fit(model_events)]
        fold = np.zeros(len(events), dtype=int)
    else:
        fold = np.arange(len(events)) % 2
        models = [RewardModel().fit(events[fold == 1]), RewardModel().fit(events[fold == 0])]
    cands = candidate_lists(events)
    results = []
    for target in targets:
        inputs, unseen = target_inputs(target, events, cands, models, fold)
        results.append(
            TargetResult(
                target=target.name,
                estimates={e: estimate(e, inputs, clip, ci, rng, replicates) for e in estimators},
                diagnostics=replace(
                    diagnostics(inputs, clip),
                    unseen_actions=tuple(unseen),
                    uncovered_events=getattr(target, "uncovered", None),
                ),
            )
        )
    return Comparison(
        events=len(events),
        logged_mean_reward=float(events["reward"].mean()),
        clip=clip,
        interval=ci,
        targets=tuple(results),
    )
