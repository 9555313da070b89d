"""Evaluate several target policies on the same logged events: one comparison table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from optimizer.evaluate.estimators import ESTIMATORS, Inputs, diagnostics, estimate
from optimizer.evaluate.targets import RewardModel, candidate_lists


def target_inputs(
    target, events: pd.DataFrame, cands: Sequence[tuple[str, ...]], model: RewardModel
) -> tuple[Inputs, list[str]]:
    """Estimator inputs for ``target`` and the actions it plays that the logs never show."""
    dists = target.distributions(events, cands)
    n = len(events)
    target_p, dm, q_logged = np.empty(n), np.empty(n), np.empty(n)
    q_cache: dict[tuple, np.ndarray] = {}
    mass: dict[str, float] = {}
    for i, (segment, chosen, c, dist) in enumerate(
        zip(events["segment"], events["chosen"], cands, dists, strict=True)
    ):
        key = (segment, c)
        q = q_cache.get(key)
        if q is None:
            q = q_cache[key] = model.predict(segment, c)
        j = c.index(chosen)
        target_p[i] = dist[j]
        dm[i] = float(dist @ q)
        q_logged[i] = q[j]
        if i < 100_000 or i % 97 == 0:  # enough to find the actions the target plays
            for a, p in zip(c, dist, strict=True):
                if p > 0:
                    mass[a] = mass.get(a, 0.0) + p
    logged = set(events["chosen"])
    unseen = sorted(a for a in mass if a not in logged)
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
) -> dict:
    """Estimates with intervals and weight diagnostics for every target.

    ``model_events`` fit the direct method's reward model (default: ``events``); pass the
    train split so the model is not fitted on the events it scores.
    """
    if len(events) == 0:
        from optimizer.errors import OptimizerError

        raise OptimizerError(
            "no closed logged events to evaluate; ingest decisions and "
            "rewards first (or wait for their attribution windows to close)"
        )
    model = RewardModel().fit(model_events if model_events is not None else events)
    cands = candidate_lists(events)
    observed = float(events["reward"].mean())
    rows = []
    for target in targets:
        inputs, unseen = target_inputs(target, events, cands, model)
        rows.append(
            {
                "target": target.name,
                "estimates": {
                    e: estimate(e, inputs, clip, ci, rng, replicates).as_dict() for e in estimators
                },
                "diagnostics": {
                    **diagnostics(inputs, clip),
                    "unseen_actions": unseen,
                    **(
                        {"uncovered_events": target.uncovered}
                        if hasattr(target, "uncovered")
                        else {}
                    ),
                },
            }
        )
    return {
        "events": len(events),
        "logged_mean_reward": round(observed, 6),
        "clip": clip,
        "interval": ci,
        "targets": rows,
    }
