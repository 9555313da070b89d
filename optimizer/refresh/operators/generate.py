"""The LLM writes new candidates from prompt arms: bandit arm ``generate:<prompt id>``.

Every segment's and arm's requests go to the backend in one batched call (the backend shares
each prompt's prefix and keeps its batch full).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from optimizer.config import CampaignConfig, PromptVariant
from optimizer.records import Creative
from optimizer.refresh.operators import with_lineage
from optimizer.refresh.prompts import PromptArm

OPERATOR = "generate"


def arm_of(prompt_id: str) -> str:
    return f"{OPERATOR}:{prompt_id}"


def generate(
    cfg: CampaignConfig,
    backend,  # optimizer.generate.backends.Backend
    prompts: Sequence[PromptArm],
    plan: Mapping[str, Mapping[str, int]],
    k: int,
    rng: np.random.Generator,
) -> dict[str, list[Creative]]:
    """Parsed candidates per segment: ``plan[segment][arm]`` answers for each
    ``generate:<prompt id>`` arm, with lineage round ``k``."""
    from optimizer.generate.pipeline import Job, generate_jobs

    by_arm = {arm_of(p.id): p for p in prompts}
    jobs = [
        Job(segment, PromptVariant(id=p.id, template=p.template, system=p.system), n)
        for segment, arms in sorted(plan.items())
        for arm, n in sorted(arms.items())
        if n > 0 and (p := by_arm.get(arm)) is not None
    ]
    out: dict[str, list[Creative]] = {}
    if not jobs:
        return out
    for made in generate_jobs(cfg, backend, rng, jobs):
        if made.creative is None:
            continue
        c = with_lineage(
            made.creative, OPERATOR, arm_of(made.prompt_id), [], k, "generated", made.prompt_id
        )
        out.setdefault(made.segment, []).append(c)
    return out
