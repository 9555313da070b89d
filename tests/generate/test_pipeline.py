"""The generation pipeline against a fake backend (the real model is in test_sampler.py)."""

from __future__ import annotations

import numpy as np

from optimizer.generate.model import ModelInfo
from optimizer.generate.pipeline import Job, generate_candidates, generate_jobs


class FakeBackend:
    """Answers with the segment's name; leaves out the body when the request says so."""

    info = ModelInfo("fake", "r", "p")

    def __init__(self, bodies: bool = True) -> None:
        self.calls: list[tuple[int, object]] = []
        self.bodies = bodies

    def complete(self, requests, sampling, seed, progress=None):
        self.calls.append((len(requests), sampling))
        if not sampling.follow:  # the follow-up for a missing body: one line
            return [" Light foam for race day." for _ in requests]
        body = "\nBody: Grippy soles for every trail." if self.bodies else ""
        return [f" Answer {seed + i}{body}" for i in range(len(requests))]


def test_all_segments_and_prompts_in_one_call_with_a_two_line_form(example_cfg):
    backend = FakeBackend()
    made = generate_candidates(example_cfg, backend, np.random.default_rng(0), None, 3)
    segments, prompts = len(example_cfg.segments), len(example_cfg.prompts)
    assert backend.calls[0][0] == len(made) == segments * prompts * 3
    assert len(backend.calls) == 1
    sampling = backend.calls[0][1]
    assert sampling.follow == "Body:" and sampling.line_chars == (30, 90)
    assert all(c.creative and c.creative.body.startswith("Grippy") for c in made)


def test_jobs_keep_their_order_and_prompt(example_cfg):
    backend = FakeBackend()
    p0, p1 = example_cfg.prompts
    jobs = [Job("beginners", p1, 2), Job("marathoners", p0, 1)]
    made = generate_jobs(example_cfg, backend, np.random.default_rng(0), jobs)
    assert [(c.segment, c.prompt_id) for c in made] == [
        ("beginners", p1.id),
        ("beginners", p1.id),
        ("marathoners", p0.id),
    ]
    assert generate_jobs(example_cfg, backend, np.random.default_rng(0), []) == []


def test_a_backend_that_cannot_force_the_body_gets_a_follow_up_call(example_cfg):
    backend = FakeBackend(bodies=False)  # as an OpenAI-compatible server may answer
    made = generate_candidates(example_cfg, backend, np.random.default_rng(0), ["beginners"], 2)
    assert len(backend.calls) == 2 and backend.calls[1][1].stop[0] == "\n"
    assert all(c.creative and c.creative.body == "Light foam for race day." for c in made)
    assert all(c.creative.lineage["prefill"].endswith("\nBody:") for c in made)


def test_the_same_seed_writes_the_same_creatives(example_cfg):
    def ids(seed: int) -> list[str]:
        made = generate_candidates(example_cfg, FakeBackend(), np.random.default_rng(seed))
        return [c.creative.id for c in made]

    assert ids(4) == ids(4) != ids(5)
