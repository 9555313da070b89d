"""Prompt variants as arms: a Thompson-sampling budget, evidence-driven rewrites, retirement.

A prompt's reward is what its creatives earned (clicks over impressions). New variants are
written from evidence, in the spirit of OPRO (Yang et al. 2023, "Large Language Models as
Optimizers"): a meta-prompt shows the LLM the best and worst creatives with their measured
CTR and asks for a better instruction. A 135M model rarely writes a useful one, so each new
variant also carries a structured mutation taken from the winners: the words that set them
apart from the losers, and their headline length.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from optimizer.filter.checks import STOPWORDS
from optimizer.records import Creative


@dataclass(frozen=True)
class PromptArm:
    id: str
    template: str
    system: str
    parent: str | None = None
    round: int = 0
    source: str = "config"  # config | mutation
    instruction: str | None = None  # the LLM-written line, when it passed the checks

    def as_dict(self) -> dict:
        return asdict(self)


def thompson_budget(
    arms: Sequence[PromptArm],
    stats: Mapping[str, Sequence[float]],
    slots: int,
    rng: np.random.Generator,
) -> Counter:
    """How many generations each prompt gets: one Beta(1 + clicks, 1 + misses) draw per
    slot, the slot going to the highest draw."""
    budget: Counter = Counter()
    counts = [stats.get(a.id, (0, 0))[:2] for a in arms]  # (clicks, impressions)
    for _ in range(slots):
        draws = [rng.beta(1 + c, 1 + max(n - c, 0)) for c, n in counts]
        budget[arms[int(np.argmax(draws))].id] += 1
    return budget


def _words(texts: Sequence[str]) -> Counter:
    return Counter(
        w
        for t in texts
        for w in set(re.findall(r"[a-z][a-z'-]{2,}", t.lower()))
        if w not in STOPWORDS
    )


def distinctive_words(
    winners: Sequence[Creative], losers: Sequence[Creative], k: int = 3
) -> list[str]:
    win = _words([f"{c.headline} {c.body}" for c in winners])
    lose = _words([f"{c.headline} {c.body}" for c in losers])
    scored = {
        w: n / max(len(winners), 1) - lose.get(w, 0) / max(len(losers), 1) for w, n in win.items()
    }
    return [w for w, s in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0])) if s > 0][:k]


def meta_prompt(
    product: str, segment_description: str, scored: Sequence[tuple[Creative, float]]
) -> str:
    lines = [f"{c.headline} | {c.body} (CTR {ctr:.2%})" for c, ctr in scored]
    return (
        f"Ads for {product}, shown to: {segment_description.rstrip('.')}.\n"
        "Measured results, best first:\n"
        + "\n".join(lines)
        + "\nWrite one short instruction (one sentence) for writing a better ad for this "
        "audience."
    )


def clean_instruction(text: str) -> str | None:
    """The first line of the model's answer if it reads like an instruction, else None."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    line = line.strip("\"'*- ")
    words = line.split()
    if not 4 <= len(words) <= 30 or re.search(r"[{}<>#@]|https?:", line):
        return None
    return line


def mutate(
    parent: PromptArm,
    winners: Sequence[Creative],
    losers: Sequence[Creative],
    round_: int,
    new_id: str,
    instruction: str | None = None,
) -> PromptArm:
    """A child of ``parent`` that asks for what the winners did."""
    words = distinctive_words(winners, losers)
    lengths = [len(c.headline.split()) for c in winners] or [4]
    extra = []
    if words:
        extra.append("Mention: " + ", ".join(words) + ".")
    extra.append(f"Keep the headline to about {int(np.median(lengths))} words.")
    if winners:
        extra.append(f"A winning ad for this audience: {winners[0].headline} | {winners[0].body}")
    if instruction:
        extra.append(instruction)
    text = "\n".join(e.replace("{", "(").replace("}", ")") for e in extra)
    return PromptArm(
        id=new_id,
        template=parent.template.rstrip() + "\n" + text + "\n",
        system=parent.system,
        parent=parent.id,
        round=round_,
        source="mutation",
        instruction=instruction,
    )


def weakest(
    arms: Sequence[PromptArm], stats: Mapping[str, Sequence[float]], keep: int
) -> list[tuple[str, str]]:
    """Prompts to retire beyond ``keep``: the lowest posterior mean CTR first."""
    if len(arms) <= keep:
        return []
    ranked = sorted(arms, key=lambda a: posterior_mean(a, stats))
    return [
        (a.id, f"weakest prompt: posterior mean CTR {posterior_mean(a, stats):.4f}")
        for a in ranked[: len(arms) - keep]
    ]


def posterior_mean(arm: PromptArm, stats: Mapping[str, Sequence[float]]) -> float:
    """Mean of the prompt's Beta(1 + clicks, 1 + misses) posterior CTR."""
    clicks, impressions = stats.get(arm.id, (0, 0))[:2]
    return (1 + clicks) / (2 + impressions)
