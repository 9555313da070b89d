"""Regenerate: fill each segment's open slots with new creatives, best-predicted first.

Per segment with open slots: the prompt bandit splits ``candidates_per_slot`` generations a
slot among the prompts (Thompson sampling), the candidates are screened against the live
pool, and the creative scorer, fitted on every (segment, creative) outcome so far, admits
only candidates predicted to beat the segment's active creatives on average (the 135M
generator mostly writes weaker copy than what won). A slot no candidate earns stays open.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.records import Creative
from optimizer.refresh.models import Models
from optimizer.refresh.prompts import PromptArm, thompson_budget
from optimizer.refresh.state import State
from optimizer.refresh.timing import Stopwatch


@dataclass(frozen=True)
class Regeneration:
    admitted: dict[str, list[Creative]]  # segment -> new active creatives (with features)
    verdicts: dict[str, list]  # segment -> the filter's verdicts on its candidates
    gated_out: int | None  # candidates the gate turned away (None: no gate ran)
    unfilled: dict[str, int]  # segment -> slots left open


def openings(pool: Mapping[str, Sequence[str]], size: int) -> dict[str, int]:
    """Open slots per segment: how far each is below the pool size."""
    return {s: size - len(ids) for s, ids in pool.items() if len(ids) < size}


def regenerate(
    cfg: CampaignConfig,
    models: Models,
    state: State,
    need: Mapping[str, int],
    k: int,
    rng: np.random.Generator,
    watch: Stopwatch,
) -> Regeneration:
    """New creatives for the ``need`` open slots per segment; ``state`` is not changed."""
    from optimizer.filter.features import with_text_features

    if not need:
        return Regeneration({}, {}, None, {})
    with watch.stage("rank"):
        scorer = fit_scorer(models.screener.embedder, state)
    live = state.live()
    admitted, verdicts, unfilled = {}, {}, {}
    gated_out = None
    for segment, n in sorted(need.items()):
        made = candidates(
            cfg, models.backend, state.prompts, state.prompt_stats, segment, n, k, rng, watch
        )
        with watch.stage("filter"):
            verdicts[segment] = models.screener.screen(made, pool=live, select=False)
            kept = [v.creative for v in verdicts[segment] if v.kept]
        with watch.stage("rank"):
            if scorer is not None and kept:
                active = [state.creatives[i] for i in state.pool[segment]]
                order = gate(scorer, segment, kept, active)
                gated_out = (gated_out or 0) + len(kept) - len(order)
                kept = [kept[i] for i in order]
            chosen = with_text_features(kept[:n], models.screener.embedder)
        if len(chosen) < n:
            unfilled[segment] = n - len(chosen)
        admitted[segment] = chosen
        live += chosen
    return Regeneration(admitted, verdicts, gated_out, unfilled)


def candidates(
    cfg: CampaignConfig,
    backend,  # optimizer.generate.backends.Backend
    prompts: Sequence[PromptArm],
    prompt_stats: Mapping[str, Sequence[float]],
    segment: str,
    slots: int,
    k: int,
    rng: np.random.Generator,
    watch: Stopwatch,
) -> list[Creative]:
    """``candidates_per_slot`` parsed generations per slot for ``segment``, split among the
    prompts by Thompson sampling, with lineage round ``k``."""
    from optimizer.config import PromptVariant
    from optimizer.generate.pipeline import generate_candidates

    budget = thompson_budget(prompts, prompt_stats, slots * cfg.refresh.candidates_per_slot, rng)
    out = []
    for pid, n in sorted(budget.items()):
        arm = next(p for p in prompts if p.id == pid)
        variant = PromptVariant(id=arm.id, template=arm.template, system=arm.system)
        with watch.stage("generate"):
            made = generate_candidates(
                cfg.model_copy(update={"prompts": [variant]}), backend, rng, [segment], n
            )
        out += [
            dataclasses.replace(c.creative, lineage={**c.creative.lineage, "round": k})
            for c in made
            if c.creative is not None
        ]
    return out


def fit_scorer(embedder, state: State):
    """The creative scorer fitted on every (segment, creative) shown so far; None before
    anything was shown."""
    from optimizer.scorer import CreativeScorer, Outcome

    outcomes = []
    for key, (_, shown, _, _, clicks) in state.stats.data.items():
        segment, cid = key.split("\x1f")
        c = state.creatives.get(cid)
        if c is not None and shown:
            outcomes.append(Outcome(segment, c.headline, c.body, c.cta, int(shown), int(clicks)))
    return CreativeScorer(embedder).fit(outcomes) if outcomes else None


def gate(scorer, segment: str, kept: Sequence[Creative], active: Sequence[Creative]) -> list[int]:
    """Indices of ``kept`` the scorer predicts to beat ``active`` on average, best first."""
    from optimizer.scorer import admit

    return admit(
        scorer,
        segment,
        [(c.headline, c.body, c.cta) for c in kept],
        [(c.headline, c.body, c.cta) for c in active],
    )
