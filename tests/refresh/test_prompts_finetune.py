from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from optimizer.config import PromptVariant
from optimizer.generate.prompts import render
from optimizer.records import Creative
from optimizer.refresh.assess import Assessment
from optimizer.refresh.finetune import build_examples, write_jsonl
from optimizer.refresh.prompts import (
    PromptArm,
    clean_instruction,
    distinctive_words,
    mutate,
    thompson_budget,
    weakest,
)


def c(headline, body="", segment="beginners", prompt="benefit"):
    return Creative.from_text(
        "stride-spring", headline, body, "Shop now", segment=segment, prompt_id=prompt
    )


def test_thompson_budget_favours_the_better_prompt():
    arms = [PromptArm("good", "t", "s"), PromptArm("bad", "t", "s")]
    stats = {"good": [60, 1000], "bad": [10, 1000]}
    budget = thompson_budget(arms, stats, 200, np.random.default_rng(0))
    assert sum(budget.values()) == 200 and budget["good"] > 190
    fresh = thompson_budget(arms, {}, 400, np.random.default_rng(1))
    assert min(fresh.values()) > 120  # no evidence: both explored


def test_mutation_carries_what_the_winners_did(example_cfg):
    winners = [c("Grip for muddy trails", "Rugged lugs."), c("Trail grip", "Mud and rock.")]
    losers = [c("Save now", "Deal ends Sunday."), c("Style for the street", "Bold colors.")]
    assert distinctive_words(winners, losers)[0] in ("grip", "mud", "muddy", "trail")
    parent = PromptArm("benefit", example_cfg.prompts[0].template, "sys")
    child = mutate(parent, winners, losers, 3, "benefit-r3", "Lead with {grip} and mud.")
    assert (child.parent, child.round, child.source) == ("benefit", 3, "mutation")
    assert "Mention: " in child.template and "Keep the headline to about" in child.template
    # the child still renders: no stray {braces} from the winners or the instruction
    request = render(
        example_cfg, PromptVariant(id=child.id, template=child.template), "trail_runners", []
    )
    assert "Lead with (grip) and mud." in request.user


@pytest.mark.parametrize(
    "raw,expected",
    [
        (
            "Focus on grip and comfort for trail runners.\nmore",
            "Focus on grip and comfort for trail runners.",
        ),
        ("ok", None),
        ("Visit https://x.io for more ad ideas today", None),
        ("", None),
    ],
)
def test_clean_instruction(raw, expected):
    assert clean_instruction(raw) == expected


def test_weakest_prompts_retire_beyond_the_cap():
    arms = [PromptArm(i, "t", "s") for i in "abc"]
    stats = {"a": [50, 1000], "b": [5, 1000], "c": [30, 1000]}
    assert [pid for pid, _ in weakest(arms, stats, 2)] == ["b"]
    assert weakest(arms, stats, 3) == []


def test_finetune_data_in_trl_formats(tmp_path):
    win, lose, mid = c("Comfort from step one"), c("Buy shoes"), c("Start running")
    creatives = {x.id: x for x in (win, lose, mid)}
    assessments = {
        "beginners": [
            Assessment("beginners", win.id, 0.06, 0.05, 0.07, 3000, 900),
            Assessment("beginners", mid.id, 0.04, 0.02, 0.055, 3000, 500),
            Assessment("beginners", lose.id, 0.01, 0.005, 0.015, 3000, 300),
        ]
    }

    def messages(x):
        return [{"role": "system", "content": "s"}, {"role": "user", "content": x.headline}]

    sft, prefs = build_examples(assessments, creatives, messages, top=2)
    assert [r["messages"][-1]["content"].splitlines()[0] for r in sft] == [
        "Headline: Comfort from step one",
        "Headline: Start running",
    ]
    assert all(r["messages"][-1]["role"] == "assistant" for r in sft)
    # only significant pairs: win vs lose, mid vs lose; never win vs mid (intervals overlap)
    pairs = Counter(
        (p["chosen"][0]["content"].splitlines()[0], p["rejected"][0]["content"].splitlines()[0])
        for p in prefs
    )
    assert pairs == Counter(
        {
            ("Headline: Comfort from step one", "Headline: Buy shoes"): 1,
            ("Headline: Start running", "Headline: Buy shoes"): 1,
        }
    )
    digest = write_jsonl(prefs, tmp_path / "p.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert {"prompt", "chosen", "rejected"} <= set(rows[0]) and len(digest) == 64
