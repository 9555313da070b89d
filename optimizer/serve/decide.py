"""One ranking: context and candidates in, a logged decision and its ranking out.

``online``: the served policy's distribution is sampled and the probability of the drawn
action is logged. ``apprentice``: the caller's baseline action is served with probability
``1 - explore`` and a draw from the learner's distribution otherwise, and the exact
mixture probability is logged. With ``explore > 0`` every action the learner may play has
logged probability at least ``explore`` times its own, so importance weights of the
learner stay below ``1 / explore`` and those of the baseline below ``1 / (1 - explore)``:
``evaluate`` can estimate both from the same logs and compare them. With ``explore = 0``
the baseline is logged with probability 1, which supports estimating the baseline alone.
In apprentice mode the stored candidate list starts with the baseline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from optimizer.allocate.base import sample
from optimizer.errors import OptimizerError
from optimizer.records import Context, Creative, Decision
from optimizer.serve.policy import Served
from optimizer.serve.schemas import RankRequest, flatten_features
from optimizer.store import rows

MODES = ("online", "apprentice")


class RequestError(OptimizerError):
    """A request the service refuses; becomes ``{"error": {code, message}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Ranked:
    decision: Decision
    ranking: list[tuple[str, float]]  # chosen first, then by probability; excluded at 0
    creative: Creative | None  # None for an action id that is not a stored creative


def _candidates(req: RankRequest, served: Served) -> tuple[list[Creative], list[str]]:
    """(eligible candidates in request order, excluded ids)."""
    if req.actions:
        ids = list(dict.fromkeys(a.id for a in req.actions))
        if len(ids) != len(req.actions):
            raise RequestError(422, "BadArgument", "actions: an action id appears twice")
    elif req.segment is not None:
        if req.segment not in served.pool:
            raise RequestError(
                422,
                "BadArgument",
                f"segment: unknown segment {req.segment!r}; valid: {', '.join(served.pool)}",
            )
        ids = [c.id for c in served.pool[req.segment]]
        if not ids:
            raise RequestError(
                422, "BadArgument", f"segment: {req.segment!r} has no active creative"
            )
    else:
        raise RequestError(422, "BadArgument", "actions: give actions or a segment")
    excluded = set(req.excludedActions)
    kept = [i for i in ids if i not in excluded]
    if not kept:
        raise RequestError(422, "BadArgument", "excludedActions: every action is excluded")
    known = served.creatives
    cands = [known.get(i) or Creative(id=i, campaign="", headline=i, body="", cta="") for i in kept]
    return cands, [i for i in ids if i in excluded]


def rank(
    req: RankRequest,
    served: Served,
    campaign: str,
    mode: str,
    explore: float,
    rng: np.random.Generator,
    now: datetime | None = None,
) -> Ranked:
    cands, excluded = _candidates(req, served)
    context = Context(segment=req.segment or "", features=flatten_features(req.contextFeatures))
    learner = served.policy.choose(context, cands, rng)
    if mode == "apprentice":
        base = req.baselineAction or cands[0].id
        ids = [c.id for c in cands]
        if base not in ids:
            raise RequestError(
                422, "BadArgument", f"baselineAction: {base!r} is not among the eligible actions"
            )
        b = ids.index(base)
        order = [b] + [i for i in range(len(cands)) if i != b]  # baseline first in the log
        cands = [cands[i] for i in order]
        learned = np.asarray(learner.distribution)[order]
        mix = explore * learned
        mix[0] += 1.0 - explore
        choice = sample(mix, rng) if explore > 0 else sample([1.0] + [0.0] * (len(cands) - 1), rng)
        policy_name = "apprentice"
    else:
        choice, policy_name = learner, served.policy.name
    now = now or datetime.now(UTC)
    decision = Decision(
        event_id=req.eventId or uuid.uuid4().hex,
        timestamp=now.timestamp(),
        campaign=campaign,
        context=context,
        candidates=tuple(c.id for c in cands),
        chosen=cands[choice.index].id,
        probability=choice.probability,
        policy=policy_name,
        policy_version=served.version,
        distribution=choice.distribution,
    )
    others = sorted(
        (i for i in range(len(cands)) if i != choice.index), key=lambda i: -choice.distribution[i]
    )
    ranking = [(cands[i].id, float(choice.distribution[i])) for i in [choice.index, *others]]
    ranking += [(i, 0.0) for i in excluded]
    chosen = served.creatives.get(decision.chosen)
    return Ranked(decision, ranking, chosen)


def decision_row(decision: Decision) -> dict:
    """The ``decision`` row ingest would write for ``decision`` (the store's row builder)."""
    return rows.served_decision_row(decision)
