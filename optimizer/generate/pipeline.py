"""Generate candidate creatives per segment and prompt variant, with their lineage."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.config import CampaignConfig, PromptVariant
from optimizer.generate.backends import Backend, ChatRequest, Sampling
from optimizer.generate.prompts import (
    BODY,
    ParseError,
    body_request,
    parse_answer,
    pick_examples,
    render,
    split_answer,
)
from optimizer.records import Creative


@dataclass(frozen=True)
class Candidate:
    """One generated answer: the creative parsed from it, or why none could be."""

    segment: str
    prompt_id: str
    raw: str
    creative: Creative | None
    error: str | None = None


def make_backend(cfg: CampaignConfig) -> Backend:
    gen = cfg.generation
    if gen.backend == "openai":
        from optimizer.generate.backends import OpenAIBackend

        return OpenAIBackend(gen.base_url or "", gen.model, os.environ.get(gen.api_key_env))
    from optimizer.generate.backends import TransformersBackend

    threads = gen.threads or _env_int("CREATIVE_OPTIMIZER_THREADS")
    return TransformersBackend(gen.model, gen.device, threads, gen.batch_size, gen.dtype)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() else None


def sampling_of(cfg: CampaignConfig) -> Sampling:
    g = cfg.generation
    return Sampling(
        temperature=g.temperature,
        top_p=g.top_p,
        max_new_tokens=g.max_new_tokens,
        follow=BODY,  # the answer is two lines: the prefilled "Headline:", then "Body:"
        line_chars=(cfg.headline_limit, cfg.body_limit),
    )


@dataclass(frozen=True)
class Job:
    """``n`` answers for ``segment`` from prompt variant ``prompt``."""

    segment: str
    prompt: PromptVariant
    n: int


def generate_candidates(
    cfg: CampaignConfig,
    backend: Backend,
    rng: np.random.Generator,
    segments: Sequence[str] | None = None,
    n: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Candidate]:
    """``n`` answers per segment and prompt variant (default ``generation.n_per_prompt``),
    in one batched call (see ``generate_jobs``)."""
    n = n or cfg.generation.n_per_prompt
    segments = list(segments) if segments else [s.name for s in cfg.segments]
    jobs = [Job(segment, prompt, n) for segment in segments for prompt in cfg.prompts]
    return generate_jobs(cfg, backend, rng, jobs, progress)


def generate_jobs(
    cfg: CampaignConfig,
    backend: Backend,
    rng: np.random.Generator,
    jobs: Sequence[Job],
    progress: Callable[[int], None] | None = None,
) -> list[Candidate]:
    """The answers of every job, in job order, from one call to the backend (one call for
    all segments and prompts is faster than one call each: the backend batches them and
    shares each prompt's prefix).

    The call to action is drawn from the campaign's allowed list with ``rng``, never free
    text. Few-shot examples are drawn per answer, so a batch does not copy one example.
    """
    sampling = sampling_of(cfg)
    rows: list[tuple[str, str]] = []
    requests: list[ChatRequest] = []
    for job in jobs:
        for _ in range(job.n):
            examples = pick_examples(cfg, job.segment, cfg.generation.examples, rng)
            rows.append((job.segment, job.prompt.id))
            requests.append(render(cfg, job.prompt, job.segment, examples))
    if not requests:
        return []
    seed = int(rng.integers(0, 2**31 - 1))
    answers = backend.complete(requests, sampling, seed, progress)
    _ask_missing_bodies(backend, sampling, seed, requests, answers)
    ctas = list(cfg.calls_to_action)
    now = time.time()
    out = []
    for i, ((segment, prompt_id), raw) in enumerate(zip(rows, answers, strict=True)):
        cta = ctas[int(rng.integers(len(ctas)))]
        request = requests[i]
        try:
            headline, body = parse_answer(raw, cfg.body_limit, request.prefill, cfg.headline_limit)
        except ParseError as exc:
            out.append(Candidate(segment, prompt_id, raw, None, str(exc)))
            continue
        lineage = {
            "prompt_id": prompt_id,
            "model": backend.info.id,
            "revision": backend.info.revision,
            "sampling": sampling.as_dict(),
            "seed": seed,
            "index": i,
            "segment": segment,
            "time": now,
            "raw": raw,
            "prefill": request.prefill,
        }
        creative = Creative.from_text(
            cfg.name,
            headline,
            body,
            cta,
            segment=segment,
            source="generated",
            prompt_id=prompt_id,
            generator_version=backend.info.version,
            lineage=lineage,
        )
        out.append(Candidate(segment, prompt_id, raw, creative))
    return out


def _ask_missing_bodies(
    backend: Backend,
    sampling: Sampling,
    seed: int,
    requests: list[ChatRequest],
    answers: list[str],
) -> None:
    """A model may stop after the headline (a backend that cannot force the ``Body:`` line):
    ask for the body alone, one line, and put the follow-up in place of the answer."""
    followups = [
        (i, body_request(requests[i], h))
        for i, a in enumerate(answers)
        for h, b in [split_answer(a, requests[i].prefill)]
        if h and not b
    ]
    if not followups:
        return
    one_line = dataclasses.replace(sampling, stop=("\n", *sampling.stop), follow="")
    bodies = backend.complete([r for _, r in followups], one_line, seed + len(requests))
    for (i, r), body in zip(followups, bodies, strict=True):
        requests[i] = r
        answers[i] = body
