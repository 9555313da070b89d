"""Preference data from logged decisions: what each segment's audience chose, corrected for
how the bandit served it, in the formats TRL trains on.

Each creative's click-through rate in a segment is the inverse-propensity estimate of
``assess.py`` (``x_i = 1[a_i = c] r_i / p_i`` over the segment's events in which ``c`` was a
candidate), with its standard error ``se = (high - ctr) / 1.96``. A pair ``(w, l)`` of the same
segment is a preference when the difference is significant by a one-sided z-test on the
independent estimates, Bonferroni-corrected over the segment's ``m`` pairs (a segment of six
creatives tests fifteen pairs; at 1.96 each, one pair of equals in three segments would pass):

    z = (ctr_w - ctr_l) / sqrt(se_w^2 + se_l^2) >= Phi^-1(1 - alpha / m)   (alpha = 0.05)

Only pairs from the same segment are formed: a segment's taste is the label. Every row carries a
weight: for a pair, ``(ctr_w - ctr_l) / segment mean ctr`` (the lift, in the segment's own
units); for a supervised example, ``ctr / segment mean ctr``. The rows are ordered by segment,
then by the creatives' estimates with ids breaking ties, so the same logs give the same files.

Formats (TRL's conversational datasets): DPO rows ``{"prompt": [system, user messages],
"chosen": [assistant message], "rejected": [assistant message]}``; SFT rows ``{"messages":
[system, user, assistant]}``; both with ``weight``, ``segment`` and the creative ids.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.records import Creative, Feedback
from optimizer.refresh.assess import Z95, Assessment, CreativeStats

Messages = list[dict[str, str]]
# (segment, creative) -> the chat prompt (system and user messages) the answer answers
PromptOf = Callable[[str, Creative], Messages | None]


@dataclass(frozen=True)
class Preference:
    """A significant win of ``chosen`` over ``rejected`` in ``segment``."""

    segment: str
    chosen: str  # creative id
    rejected: str
    diff: float  # IPS CTR difference
    z: float
    weight: float  # diff / the segment's mean IPS CTR


@dataclass(frozen=True)
class Winner:
    """A creative to imitate in ``segment``, weighted by ``ctr / segment mean``."""

    segment: str
    creative_id: str
    ctr: float
    low: float
    weight: float


def assessments_of(feedbacks: Iterable[Feedback]) -> dict[str, list[Assessment]]:
    """Per segment, the IPS assessment of every creative that was a candidate in the logged
    ``feedbacks`` (decisions with their logged propensities), in id order."""
    stats = CreativeStats()
    stats.update(feedbacks)
    keys = sorted(k.split("\x1f") for k in stats.data)
    out: dict[str, list[Assessment]] = {}
    for segment, cid in keys:
        out.setdefault(segment, []).append(stats.assess(segment, cid))
    return out


def _se(a: Assessment) -> float:
    return (a.high - a.ctr) / Z95


def _segment_mean(rows: Sequence[Assessment]) -> float:
    return float(np.mean([a.ctr for a in rows])) if rows else 0.0


def preference_pairs(
    assessments: Mapping[str, Sequence[Assessment]],
    alpha: float = 0.05,
    min_shown: int = 1,
    max_per_segment: int | None = None,
) -> list[Preference]:
    """Every significant (winner, loser) pair of each segment at familywise level ``alpha``;
    see the module doc. Creatives shown fewer than ``min_shown`` times are left out. With
    ``max_per_segment``, a segment keeps its pairs of largest ``z``.
    """
    from scipy.stats import norm

    out: list[Preference] = []
    for segment in sorted(assessments):
        rows = [a for a in assessments[segment] if a.shown >= min_shown and a.events > 0]
        rows.sort(key=lambda a: (-a.ctr, a.creative_id))
        mean = _segment_mean(rows)
        tests = len(rows) * (len(rows) - 1) // 2
        z_min = float(norm.isf(alpha / max(tests, 1)))
        found = []
        for i, w in enumerate(rows):
            for lose in rows[i + 1 :]:
                diff = w.ctr - lose.ctr
                se = math.sqrt(_se(w) ** 2 + _se(lose) ** 2)
                z = diff / se if se > 0 else 0.0
                if z >= z_min and diff > 0:
                    weight = diff / mean if mean > 0 else 1.0
                    found.append(
                        Preference(segment, w.creative_id, lose.creative_id, diff, z, weight)
                    )
        found.sort(key=lambda p: (-p.z, p.chosen, p.rejected))
        out += found[:max_per_segment] if max_per_segment is not None else found
    return out


def winners(
    assessments: Mapping[str, Sequence[Assessment]], top: int = 2, min_shown: int = 1
) -> list[Winner]:
    """Each segment's ``top`` creatives by the lower end of their 95% interval (a winner is
    one that is good for sure, not one that got lucky on few impressions)."""
    out = []
    for segment in sorted(assessments):
        rows = [a for a in assessments[segment] if a.shown >= min_shown and a.events > 0]
        mean = _segment_mean(rows)
        rows.sort(key=lambda a: (-a.low, -a.ctr, a.creative_id))
        for a in rows[:top]:
            weight = a.ctr / mean if mean > 0 else 1.0
            out.append(Winner(segment, a.creative_id, a.ctr, a.low, weight))
    return out


def answer(c: Creative) -> str:
    """The assistant's answer that writes ``c`` (the generation format, prefill included)."""
    return f"Headline: {c.headline}\nBody: {c.body}"


def dpo_rows(
    pairs: Sequence[Preference], creatives: Mapping[str, Creative], prompt_of: PromptOf
) -> list[dict]:
    """TRL's conversational preference format, one row per pair whose creatives and prompt
    are known: ``prompt``, ``chosen``, ``rejected``, plus ``weight``, ``segment``, ``ids``."""
    out = []
    for p in pairs:
        win, lose = creatives.get(p.chosen), creatives.get(p.rejected)
        messages = prompt_of(p.segment, win) if win and lose else None
        if not messages:
            continue
        out.append(
            {
                "prompt": messages,
                "chosen": [{"role": "assistant", "content": answer(win)}],
                "rejected": [{"role": "assistant", "content": answer(lose)}],
                "weight": round(p.weight, 6),
                "segment": p.segment,
                "ids": [p.chosen, p.rejected],
            }
        )
    return out


def sft_rows(
    best: Sequence[Winner], creatives: Mapping[str, Creative], prompt_of: PromptOf
) -> list[dict]:
    """TRL's conversational language-modelling format: ``messages`` (system, user, the
    winner's answer), plus ``weight``, ``segment``, ``ids``."""
    out = []
    for w in best:
        c = creatives.get(w.creative_id)
        messages = prompt_of(w.segment, c) if c else None
        if not messages:
            continue
        out.append(
            {
                "messages": [*messages, {"role": "assistant", "content": answer(c)}],
                "weight": round(w.weight, 6),
                "segment": w.segment,
                "ids": [w.creative_id],
            }
        )
    return out


def generation_prompts(cfg: CampaignConfig, arms: Sequence, rng: np.random.Generator) -> PromptOf:
    """``prompt_of`` for the generator's own prompts: the prompt arm (``PromptArm`` or
    ``PromptVariant``) that wrote the creative, or one drawn with ``rng`` for a creative no
    current arm wrote (a seed creative), rendered for the segment with few-shot examples drawn
    as generation draws them. Calls draw from ``rng`` in call order."""
    from optimizer.config import PromptVariant
    from optimizer.generate.prompts import pick_examples, render

    by_id = {a.id: a for a in arms}

    def prompt_of(segment: str, c: Creative) -> Messages | None:
        if not arms:
            return None
        arm = by_id.get(c.prompt_id or "") or arms[int(rng.integers(len(arms)))]
        variant = PromptVariant(id=arm.id, template=arm.template, system=arm.system)
        examples = pick_examples(cfg, segment, cfg.generation.examples, rng)
        req = render(cfg, variant, segment, examples)
        return [{"role": "system", "content": req.system}, {"role": "user", "content": req.user}]

    return prompt_of
