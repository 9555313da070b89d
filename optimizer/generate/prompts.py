"""Prompt variants rendered per segment, and model output parsed back into creatives."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

from optimizer.config import CampaignConfig, PromptVariant, SeedCreative
from optimizer.generate.backends import ChatRequest

PREFILL = "Headline:"
BODY = "Body:"


def format_example(headline: str, body: str) -> str:
    return f"Headline: {headline}\nBody: {body}"


def pick_examples(
    cfg: CampaignConfig, segment: str, k: int, rng: np.random.Generator
) -> list[SeedCreative]:
    """Up to ``k`` seed creatives as few-shot examples, the segment's own first."""
    own = [c for c in cfg.seed_creatives if c.segment == segment]
    rest = [c for c in cfg.seed_creatives if c.segment != segment]
    order = own + [rest[i] for i in rng.permutation(len(rest))]
    return order[:k]


def render(
    cfg: CampaignConfig, prompt: PromptVariant, segment: str, examples: Sequence[SeedCreative]
) -> ChatRequest:
    seg = cfg.segment(segment)
    values = {
        "product": cfg.product,
        "brief": cfg.brief,
        "brand_voice": cfg.brand_voice,
        "segment": seg.name,
        "segment_description": seg.description or seg.name,
        "examples": "\n\n".join(format_example(e.headline, e.body) for e in examples),
        "headline_max": cfg.headline_limit,
        "body_max": cfg.body_limit,
        "calls_to_action": ", ".join(cfg.calls_to_action),
    }
    return ChatRequest(
        system=prompt.system, user=prompt.template.format(**values).strip(), prefill=PREFILL
    )


_LABEL = re.compile(r"^[\s*#>-]*(headline|title|body|text|description)\s*[:\-]\s*(.*)$", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class ParseError(ValueError):
    """The model's answer has no usable headline or body."""


def _clean(text: str) -> str:
    text = text.strip().strip("*").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return " ".join(text.split())


def fit_sentences(text: str, limit: int) -> str:
    """The longest run of whole leading sentences within ``limit`` characters (or all)."""
    if len(text) <= limit:
        return text
    out = ""
    for sentence in _SENTENCE.split(text):
        candidate = f"{out} {sentence}".strip()
        if len(candidate) > limit:
            break
        out = candidate
    return out or text


_CLAUSE = re.compile(r"\s*[:;,!?\u2013\u2014]\s*|\s+-\s+")


def fit_headline(text: str, limit: int) -> str:
    """A headline over ``limit`` keeps its first clause when that fits (2+ words), else all."""
    if len(text) <= limit:
        return text
    first = _CLAUSE.split(text, maxsplit=1)[0].strip()
    return first if len(first) <= limit and len(first.split()) >= 2 else text


def split_answer(continuation: str, prefill: str = PREFILL) -> tuple[str | None, str | None]:
    """The first headline and body lines of an answer, cleaned; None where missing."""
    headline = body = None
    for line in (prefill + continuation).splitlines():
        m = _LABEL.match(line)
        if not m:
            continue
        label, value = m.group(1).lower(), _clean(m.group(2))
        if label in ("headline", "title") and headline is None:
            headline = value or None
        elif label in ("body", "text", "description") and body is None:
            body = value or None
    return headline, body


def parse_answer(
    continuation: str, body_limit: int, prefill: str = PREFILL, headline_limit: int | None = None
) -> tuple[str, str]:
    """Headline and body from an answer in the ``Headline: ...`` / ``Body: ...`` format."""
    headline, body = split_answer(continuation, prefill)
    if not headline:
        raise ParseError("no headline in the answer")
    if not body:
        raise ParseError("no body in the answer")
    if headline_limit is not None:
        headline = fit_headline(headline, headline_limit)
    return headline, fit_sentences(body, body_limit)


def body_request(request: ChatRequest, headline: str) -> ChatRequest:
    """A follow-up that asks only for the body of an answer that stopped after its headline."""
    return dataclasses.replace(request, prefill=f"{PREFILL} {headline}\n{BODY}")
