"""Does the learner beat the baseline? Apprentice-mode logs, evaluated off-policy.

In apprentice mode the baseline is served with probability ``1 - explore`` and the
learner's draw otherwise, each decision logged with that mixture probability and its
candidate list starting with the baseline. Both policies are then targets on the same
events: the baseline is deterministic (all mass on the first candidate), the learner is a
stored version. Their difference is estimated per event with doubly robust pseudo-outcomes
(Dudik, Langford and Li 2011), ``dr_i(learner) - dr_i(baseline)``, whose mean has a
normal 95% interval (paired, so the shared noise cancels). With ``explore = 0`` the
learner's weights are ``pi(baseline | x)``: only events where it agrees with the baseline
carry information, the estimate leans on the reward model, and ``support`` says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import select

from optimizer.errors import OptimizerError
from optimizer.store.models import DecisionRow


class BaselineTarget:
    """All mass on the first logged candidate: the apprentice baseline."""

    name = "baseline"

    def distributions(self, events: pd.DataFrame, cands: Sequence[tuple[str, ...]]) -> list:
        shared: dict[int, np.ndarray] = {}
        out = []
        for c in cands:
            if len(c) not in shared:
                shared[len(c)] = np.eye(len(c))[0]
            out.append(shared[len(c)])
        return out


def _apprentice_ids(store, campaign: str) -> set[str]:
    q = select(DecisionRow.event_id).where(
        DecisionRow.campaign == campaign, DecisionRow.policy == "apprentice"
    )
    with store.engine.connect() as conn:
        return set(conn.execute(q).scalars())


def compare_with_baseline(store, campaign: str, target: str, clip: float | None = None) -> dict:
    """Learner ``target`` (e.g. ``policy:VERSION``) vs the baseline on apprentice logs."""
    from optimizer.evaluate.estimators import Z95, pseudo_outcomes
    from optimizer.evaluate.offline import target_inputs
    from optimizer.evaluate.targets import RewardModel, candidate_lists, make_target
    from optimizer.offline import closed_events

    joined = closed_events(store, campaign)
    events = joined.events[joined.events["event_id"].isin(_apprentice_ids(store, campaign))]
    events = events.reset_index(drop=True)
    if len(events) < 2:
        raise OptimizerError(
            f"campaign {campaign!r} has {len(events)} closed apprentice-mode decisions; "
            "serve in apprentice mode and wait for the reward windows to close"
        )
    fold = np.arange(len(events)) % 2
    models = [RewardModel().fit(events[fold == 1]), RewardModel().fit(events[fold == 0])]
    cands = candidate_lists(events)
    terms, support = {}, {}
    learner_target = make_target(target, store)
    for t in (learner_target, BaselineTarget()):
        inputs, _ = target_inputs(t, events, cands, models, fold)
        terms[t.name] = pseudo_outcomes("dr", inputs, clip)
        w = inputs.target_p / inputs.logged_p
        support[t.name] = round(float(w.sum() ** 2 / max((w**2).sum(), 1e-12)), 1)
    learner, baseline = terms[learner_target.name], terms["baseline"]
    diff = learner - baseline
    half = Z95 * float(diff.std(ddof=1)) / np.sqrt(len(diff))
    value = float(diff.mean())
    verdict = (
        "learner beats baseline"
        if value - half > 0
        else "baseline beats learner"
        if value + half < 0
        else "no difference shown"
    )
    return {
        "campaign": campaign,
        "events": len(events),
        "learner": {"target": target, "dr": round(float(learner.mean()), 6)},
        "baseline": {"dr": round(float(baseline.mean()), 6)},
        "difference": {
            "value": round(value, 6),
            "low": round(value - half, 6),
            "high": round(value + half, 6),
        },
        "effective_sample_size": support,
        "verdict": verdict,
    }
