"""LLM edits conditioned on winners: mutation and crossover, bandit arms ``mutation`` and
``crossover`` (or ``mutation:<prompt id>`` / ``crossover:<prompt id>``: the same edit with
that prompt arm's system message and rewritten instruction, so the prompt arm is credited
with the children too).

- **Mutation** rewrites one winner and changes one thing: either the headline (the model
  writes a new headline for the winner's body, which is kept) or the body (the winner's
  headline is prefilled and the model writes a new body). The call to action stays the
  winner's: whatever its segment rewards in it is kept.
- **Crossover** shows two winners as few-shot examples and asks for one ad that joins the
  best of both; the call to action is one of the two parents'.

Winners are the segment's best creatives by one draw from each posterior
(:attr:`Parents.ranked`, so uncertainty gets its chance), cycling over the top ``TOP``;
the segment's worst (:attr:`Parents.losers`) are shown by headline as what to avoid.

The prompts are short, in the generation format (``Headline: ...`` / ``Body: ...``), and the
answer is prefilled: a 135M model follows a begun answer far better than an instruction. A
bigger model behind the OpenAI-compatible backend reads the same prompt (that backend asks
for the answer to start with the prefill). Answers are parsed by the generation pipeline's
parser; an answer that repeats a live or once-active creative is dropped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.generate.backends import Backend, ChatRequest, Sampling
from optimizer.generate.pipeline import Candidate, sampling_of
from optimizer.generate.prompts import PREFILL, ParseError, parse_answer
from optimizer.records import Creative
from optimizer.refresh.operators import Parents, with_lineage

MUTATION = "mutation"
CROSSOVER = "crossover"
OPERATORS = (MUTATION, CROSSOVER)
TOP = 3  # winners an edit may start from: the segment's best three by the posterior draw
SYSTEM = "You write short, clear ads."
CHANGES = ("headline", "body")  # what a mutation changes


@dataclass(frozen=True)
class EditRequest:
    """One edit for the LLM: the chat request and everything its child's lineage needs."""

    operator: str  # mutation | crossover
    arm: str  # the bandit arm: the operator, or "<operator>:<prompt id>"
    segment: str
    parents: tuple[Creative, ...]  # the winners it starts from, best first
    change: str  # mutation: "headline" or "body"; crossover: "both"
    request: ChatRequest
    prompt_arm: str | None = None
    instruction: str | None = None

    @property
    def one_line(self) -> bool:
        """A mutation's answer is one line (the headline, or the body after a prefilled
        headline); a crossover's is two."""
        return self.operator == MUTATION


def parse_arm(arm: str) -> tuple[str, str | None] | None:
    """``(operator, prompt id or None)`` of an edit arm, None for another operator's arm."""
    operator, _, prompt_id = arm.partition(":")
    return (operator, prompt_id or None) if operator in OPERATORS else None


def _audience(cfg: CampaignConfig, segment: str) -> str:
    seg = cfg.segment(segment)
    return f"Ad for {cfg.product}. Audience: {(seg.description or seg.name).rstrip('.')}."


def _ad(c: Creative) -> str:
    return f"Headline: {c.headline}\nBody: {c.body}"


def _avoid(losers: Sequence[Creative], parents: Sequence[Creative]) -> str:
    shown = [c.headline for c in losers if c.id not in {p.id for p in parents}]
    if not shown:
        return ""
    return "Ads that lost (avoid what they say): " + "; ".join(f'"{h}"' for h in shown) + ".\n"


def mutation_request(
    cfg: CampaignConfig,
    winner: Creative,
    losers: Sequence[Creative],
    change: str,
    segment: str,
    system: str = SYSTEM,
    instruction: str | None = None,
) -> ChatRequest:
    """The request that rewrites ``winner``'s ``change`` (``headline`` or ``body``)."""
    if change == "headline":
        task = (
            f"Write a new headline for the same body, at most {cfg.headline_limit} characters. "
            "Keep what made it win; change the words."
        )
        prefill = PREFILL
    else:
        task = (
            f"Write a new body for the same headline: one sentence, at most {cfg.body_limit} "
            "characters. Keep what made it win; change the words."
        )
        prefill = f"{PREFILL} {winner.headline}\nBody:"
    user = (
        f"{_audience(cfg, segment)}\nThis ad won with this audience:\n{_ad(winner)}\n"
        f"{_avoid(losers, [winner])}{task}" + (f"\n{instruction}" if instruction else "")
    )
    return ChatRequest(system=system, user=user, prefill=prefill)


def crossover_request(
    cfg: CampaignConfig,
    pair: Sequence[Creative],
    losers: Sequence[Creative],
    segment: str,
    system: str = SYSTEM,
    instruction: str | None = None,
) -> ChatRequest:
    """The request that joins the two winners of ``pair`` into one ad."""
    examples = "\n\n".join(_ad(c) for c in pair)
    task = (
        f"Write one new ad that joins the best of both. Headline: at most {cfg.headline_limit} "
        f"characters. Body: one sentence, at most {cfg.body_limit} characters."
    )
    user = (
        f"{_audience(cfg, segment)}\nTwo ads that won with this audience:\n{examples}\n"
        f"{_avoid(losers, pair)}{task}" + (f"\n{instruction}" if instruction else "")
    )
    return ChatRequest(system=system, user=user, prefill=PREFILL)


def edit_requests(
    cfg: CampaignConfig,
    parents: Parents,
    arm: str,
    n: int,
    rng: np.random.Generator,
    prompt=None,  # optimizer.refresh.prompts.PromptArm of "<operator>:<prompt id>"
) -> list[EditRequest]:
    """``n`` requests of edit arm ``arm`` for ``parents.segment`` (see the module doc); fewer
    when the segment has too few creatives (a crossover needs two). ``rng`` draws what each
    mutation changes."""
    operator, _ = parse_arm(arm) or (None, None)
    top = list(parents.ranked[:TOP])
    if operator is None or n <= 0 or len(top) < (2 if operator == CROSSOVER else 1):
        return []
    system = (prompt.system if prompt is not None and prompt.system else "") or SYSTEM
    instruction = getattr(prompt, "instruction", None)
    prompt_id = prompt.id if prompt is not None else None
    pairs = [(a, b) for i, a in enumerate(top) for b in top[i + 1 :]]
    out = []
    for i in range(n):
        if operator == MUTATION:
            winner = top[i % len(top)]
            change = CHANGES[int(rng.integers(len(CHANGES)))]
            chosen: tuple[Creative, ...] = (winner,)
            request = mutation_request(
                cfg, winner, parents.losers, change, parents.segment, system, instruction
            )
        else:
            chosen, change = pairs[i % len(pairs)], "both"
            request = crossover_request(
                cfg, chosen, parents.losers, parents.segment, system, instruction
            )
        out.append(
            EditRequest(
                operator, arm, parents.segment, chosen, change, request, prompt_id, instruction
            )
        )
    return out


def one_line(sampling: Sampling) -> Sampling:
    """``sampling`` for a one-line answer: stop at the end of the line."""
    return dataclasses.replace(sampling, stop=("\n", *sampling.stop), follow="", line_chars=())


def complete_edits(
    cfg: CampaignConfig,
    backend: Backend,
    requests: Sequence[EditRequest],
    rng: np.random.Generator,
    k: int | None = None,
) -> list[Candidate]:
    """The answers to ``requests`` parsed into candidates, in request order: the one-line
    answers in one backend call, the two-line answers in another. Each creative carries its
    lineage (``operators.with_lineage``: operator, arm, parents, prompt arm, generator, round
    ``k``; plus the change, the instruction, the model, sampling, seed and raw answer);
    source ``edited``. A failed parse is a candidate without a creative and with the error."""
    sampling = sampling_of(cfg)
    seed = int(rng.integers(0, 2**31 - 1))
    answers: list[str] = [""] * len(requests)
    modes = {}
    offset = 0
    for single in (True, False):
        rows = [i for i, r in enumerate(requests) if r.one_line == single]
        if not rows:
            continue
        mode = one_line(sampling) if single else sampling
        modes[single] = mode
        got = backend.complete([requests[i].request for i in rows], mode, seed + offset)
        for i, text in zip(rows, got, strict=True):
            answers[i] = text
        offset += len(rows)
    now = time.time()
    return [
        _candidate(cfg, backend, r, raw, modes[r.one_line], seed, i, now, k)
        for i, (r, raw) in enumerate(zip(requests, answers, strict=True))
    ]


def _candidate(
    cfg: CampaignConfig,
    backend: Backend,
    r: EditRequest,
    raw: str,
    sampling: Sampling,
    seed: int,
    index: int,
    now: float,
    k: int | None,
) -> Candidate:
    parent = r.parents[0]
    text = raw + (f"\nBody: {parent.body}" if r.change == "headline" else "")
    try:
        headline, body = parse_answer(text, cfg.body_limit, r.request.prefill, cfg.headline_limit)
    except ParseError as exc:
        return Candidate(r.segment, r.arm, raw, None, str(exc))
    ctas = list(cfg.calls_to_action)
    if r.operator == MUTATION:
        cta = parent.cta
    else:
        cta = r.parents[index % len(r.parents)].cta  # the parents' calls to action in turn
    if cta not in ctas:
        cta = ctas[index % len(ctas)]
    info = backend.info
    creative = Creative.from_text(
        cfg.name,
        headline,
        body,
        cta,
        segment=r.segment,
        prompt_id=r.prompt_arm,
        generator_version=info.version,
        lineage={
            "change": r.change,
            "instruction": r.instruction,
            "model": info.id,
            "revision": info.revision,
            "sampling": sampling.as_dict(),
            "seed": seed,
            "index": index,
            "segment": r.segment,
            "time": now,
            "raw": raw,
            "prefill": r.request.prefill,
        },
    )
    creative = with_lineage(creative, r.operator, r.arm, r.parents, k or 0, "edited", r.prompt_arm)
    return Candidate(r.segment, r.arm, raw, creative)


def edit(
    cfg: CampaignConfig,
    backend: Backend,
    prompts: Sequence,  # optimizer.refresh.prompts.PromptArm
    plan: Mapping[str, Mapping[str, int]],
    parents: Mapping[str, Parents],
    k: int,
    rng: np.random.Generator,
) -> dict[str, list[Creative]]:
    """Parsed, new candidates per segment: ``plan[segment][arm]`` edits for each edit arm
    (``mutation``, ``crossover``, or either with ``:<prompt id>``; other arms are ignored),
    from ``parents[segment]``, all segments in one batched call per answer form. Answers
    that repeat a creative of ``parents[segment].live`` or ``.seen`` are dropped."""
    by_id = {p.id: p for p in prompts}
    requests: list[EditRequest] = []
    for segment, arms in sorted(plan.items()):
        for arm, n in sorted(arms.items()):
            parsed = parse_arm(arm)
            if parsed is None or segment not in parents:
                continue
            prompt = by_id.get(parsed[1]) if parsed[1] else None
            requests += edit_requests(cfg, parents[segment], arm, n, rng, prompt)
    out: dict[str, list[Creative]] = {}
    if not requests:
        return out
    for made in complete_edits(cfg, backend, requests, rng, k):
        c = made.creative
        p = parents[made.segment]
        old = {x.id for x in p.live} | set(p.seen)
        texts = {(x.headline.lower(), x.body.lower()) for x in p.live}
        if c is None or c.id in old or (c.headline.lower(), c.body.lower()) in texts:
            continue
        out.setdefault(made.segment, []).append(c)
    return out
