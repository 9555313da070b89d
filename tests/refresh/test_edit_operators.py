"""LLM edit operators (mutation, crossover) against a fake backend: the requests carry the
winners and losers, the answers become creatives with lineage."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.generate.model import ModelInfo
from optimizer.records import Creative
from optimizer.refresh.operators import Parents
from optimizer.refresh.operators.edit import (
    CROSSOVER,
    MUTATION,
    complete_edits,
    edit,
    edit_requests,
    parse_arm,
)
from optimizer.refresh.prompts import PromptArm

CAMPAIGN = "stride-spring"


def c(headline: str, body: str, cta: str = "Learn more") -> Creative:
    return Creative.from_text(CAMPAIGN, headline, body, cta, segment="trail_runners")


BEST = c("Grip that owns the trail", "A lugged outsole bites into mud and rock.")
SECOND = c("Rugged enough for mountains", "Reinforced toe cap for every trail.", "Shop now")
THIRD = c("Made for the long run", "Durable and cushioned.")
LOSERS = (c("Save on your next pair", "Deal ends Sunday."), c("Style that keeps up", "Bold."))
PARENTS = Parents(
    "trail_runners", (BEST, SECOND, THIRD), LOSERS, (BEST, SECOND, THIRD, *LOSERS), frozenset()
)


class FakeBackend:
    """Answers one-line requests with a line, two-line requests with headline and body;
    records every call."""

    info = ModelInfo("fake", "r", "p", adapter="lora-abc")

    def __init__(self, one: str = " Mud, rock and roots: owned", two: str | None = None) -> None:
        self.calls: list[tuple[list, object, int]] = []
        self.one = one
        self.two = two or " Trail grip, mountain tough\nBody: Lugs bite into mud on every climb."

    def complete(self, requests, sampling, seed, progress=None):
        self.calls.append((list(requests), sampling, seed))
        one_line = "\n" in sampling.stop and not sampling.follow
        return [self.one if one_line else self.two for _ in requests]


def test_mutation_requests_show_the_winner_and_the_losers(example_cfg):
    reqs = edit_requests(example_cfg, PARENTS, MUTATION, 6, np.random.default_rng(0))
    assert len(reqs) == 6
    # the winners in posterior order, cycling over the top three
    assert [r.parents for r in reqs[:4]] == [(BEST,), (SECOND,), (THIRD,), (BEST,)]
    for r in reqs:
        user = r.request.user
        assert f"Headline: {r.parents[0].headline}\nBody: {r.parents[0].body}" in user
        assert '"Save on your next pair"' in user and '"Style that keeps up"' in user
        assert "Off-road runners" in user and example_cfg.product in user
        if r.change == "body":  # the winner's headline is kept: prefilled
            assert r.request.prefill == f"Headline: {r.parents[0].headline}\nBody:"
        else:
            assert r.change == "headline" and r.request.prefill == "Headline:"
    assert {r.change for r in reqs} == {"headline", "body"}


def test_crossover_requests_pair_two_winners(example_cfg):
    reqs = edit_requests(example_cfg, PARENTS, CROSSOVER, 4, np.random.default_rng(0))
    assert [tuple(p.id for p in r.parents) for r in reqs] == [
        (BEST.id, SECOND.id),
        (BEST.id, THIRD.id),
        (SECOND.id, THIRD.id),
        (BEST.id, SECOND.id),
    ]
    user = reqs[0].request.user
    assert user.index(BEST.headline) < user.index(SECOND.headline)
    assert "avoid" in user and reqs[0].request.prefill == "Headline:"
    lonely = Parents("trail_runners", (BEST,), (), (BEST,))
    assert edit_requests(example_cfg, lonely, CROSSOVER, 3, np.random.default_rng(0)) == []
    assert edit_requests(example_cfg, PARENTS, "recombine", 3, np.random.default_rng(0)) == []


def test_answers_become_creatives_with_lineage(example_cfg):
    backend = FakeBackend()
    rng = np.random.default_rng(1)
    reqs = edit_requests(example_cfg, PARENTS, MUTATION, 4, rng)
    reqs += edit_requests(example_cfg, PARENTS, CROSSOVER, 2, rng)
    made = complete_edits(example_cfg, backend, reqs, rng, k=3)
    # one call per answer form: one-line mutations, then two-line crossovers
    assert [len(call[0]) for call in backend.calls] == [4, 2]
    assert backend.calls[1][1].follow == "Body:" and backend.calls[0][1].follow == ""
    for r, cand in zip(reqs, made, strict=True):
        x = cand.creative
        assert x is not None and x.source == "edited" and x.segment == "trail_runners"
        assert x.lineage["operator"] == r.operator and x.lineage["arm"] == r.operator
        assert x.lineage["parents"] == [p.id for p in r.parents] and x.parent_id == r.parents[0].id
        assert x.lineage["round"] == 3 and x.lineage["change"] == r.change
        assert x.generator_version == backend.info.version == x.lineage["generator"]
        assert x.cta in example_cfg.calls_to_action
        if r.change == "headline":  # new headline, the winner's body and call to action
            assert (x.headline, x.body, x.cta) == (
                "Mud, rock and roots: owned",
                r.parents[0].body,
                r.parents[0].cta,
            )
        elif r.change == "body":  # the winner's headline, a new body
            assert (x.headline, x.body) == (r.parents[0].headline, "Mud, rock and roots: owned")
        else:
            assert x.headline == "Trail grip, mountain tough"
            assert x.body == "Lugs bite into mud on every climb."
            assert x.cta in {p.cta for p in r.parents}


def test_edit_batches_segments_drops_copies_and_credits_the_prompt_arm(example_cfg):
    arm = PromptArm("benefit-r2", "t", "You write ads for runners.", instruction="Say grip.")
    other = Parents("beginners", (LOSERS[0], LOSERS[1]), (), LOSERS)
    plan = {
        "trail_runners": {"mutation:benefit-r2": 2, "recombine": 5},
        "beginners": {"crossover": 1},
    }
    backend = FakeBackend(one=f" {BEST.headline}")  # every headline mutation copies BEST
    out = edit(
        example_cfg,
        backend,
        [arm],
        plan,
        {"trail_runners": PARENTS, "beginners": other},
        2,
        np.random.default_rng(1),  # draws: BEST's headline changes, SECOND's body
    )
    requests = [r for call in backend.calls for r in call[0]]
    assert len(requests) == 3  # the recombine arm is not an edit's
    trail = [r for r in requests if "Off-road" in r.user]
    assert all(r.system == arm.system and r.user.endswith("\nSay grip.") for r in trail)
    # BEST with its headline rewritten to itself is BEST again: dropped as a copy
    (x,) = out["trail_runners"]
    assert (x.headline, x.body) == (SECOND.headline, BEST.headline)
    assert x.lineage["prompt_arm"] == "benefit-r2" and x.prompt_id == "benefit-r2"
    assert x.lineage["arm"] == "mutation:benefit-r2" and x.lineage["instruction"] == "Say grip."
    assert [x.lineage["operator"] for x in out["beginners"]] == [CROSSOVER]


def test_unparseable_answers_are_candidates_with_the_error(example_cfg):
    backend = FakeBackend(two=" \n")
    reqs = edit_requests(example_cfg, PARENTS, CROSSOVER, 1, np.random.default_rng(0))
    (made,) = complete_edits(example_cfg, backend, reqs, np.random.default_rng(0))
    assert made.creative is None and "no headline" in made.error


@pytest.mark.parametrize(
    "arm,expected",
    [
        ("mutation", ("mutation", None)),
        ("crossover:benefit", ("crossover", "benefit")),
        ("generate:benefit", None),
        ("recombine", None),
    ],
)
def test_parse_arm(arm, expected):
    assert parse_arm(arm) == expected
