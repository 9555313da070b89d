"""Rewrite prompts from evidence: one new variant a round, written for one segment.

The meta-prompt shows the LLM one segment's description with that segment's best and worst
creatives and their propensity-corrected CTRs (``prompts.meta_prompt``); the new variant is
a structured mutation of the best prompt from the same evidence, plus the LLM's instruction
when it reads like one. The weakest prompts beyond ``refresh.max_prompts`` retire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.records import Creative
from optimizer.refresh.assess import Assessment
from optimizer.refresh.metrics import PromptRetirement, PromptWritten
from optimizer.refresh.prompts import (
    PromptArm,
    clean_instruction,
    meta_prompt,
    mutate,
    posterior_mean,
    weakest,
)

SYSTEM = "You improve instructions for writing ads."


@dataclass(frozen=True)
class PromptRewrite:
    child: PromptArm
    written: PromptWritten
    retired: tuple[PromptRetirement, ...]


def rewrite_segment(openings: Mapping[str, int], segments: Sequence[str], k: int) -> str:
    """The segment round ``k`` rewrites for: the one with the most open slots (where new
    creatives are needed now); ties go round the segments in turn, one further each round."""
    start = (k - 1) % len(segments)
    in_turn = [*segments[start:], *segments[:start]]
    return max(in_turn, key=lambda s: openings.get(s, 0))  # the first of equals wins


def rewrite_prompt(
    backend,  # optimizer.generate.backends.Backend
    cfg: CampaignConfig,
    prompts: Sequence[PromptArm],
    prompt_stats: Mapping[str, Sequence[float]],
    creatives: Mapping[str, Creative],
    assessments: Sequence[Assessment],
    segment: str,
    k: int,
    rng: np.random.Generator,
) -> PromptRewrite:
    """A child of the best prompt (posterior mean CTR) written from ``segment``'s
    ``assessments``, and the prompts to retire once it joins. Draws the LLM's seed from
    ``rng``."""
    from optimizer.generate.backends import ChatRequest, Sampling

    ranked = sorted((a for a in assessments if a.shown), key=lambda a: -a.ctr)
    best, worst = ranked[:3], [a for a in ranked[-2:] if a not in ranked[:3]]
    scored = [(creatives[a.creative_id], a.ctr) for a in best + worst]
    description = next(s.description for s in cfg.segments if s.name == segment) or segment
    request = ChatRequest(SYSTEM, meta_prompt(cfg.product, description, scored), "")
    raw = backend.complete(
        [request], Sampling(max_new_tokens=40, stop=("\n",)), int(rng.integers(2**31 - 1))
    )[0]
    instruction = clean_instruction(raw)
    parent = max(prompts, key=lambda p: posterior_mean(p, prompt_stats))
    winners = [creatives[a.creative_id] for a in ranked[:3]]
    losers = [creatives[a.creative_id] for a in ranked[-3:]]
    child = mutate(parent, winners, losers, k, f"{parent.id}-r{k}", instruction)
    retired = weakest([*prompts, child], prompt_stats, cfg.refresh.max_prompts)
    return PromptRewrite(
        child=child,
        written=PromptWritten(child.id, child.parent, segment, instruction, raw[:200]),
        retired=tuple(PromptRetirement(pid, reason) for pid, reason in retired),
    )
