from __future__ import annotations

import numpy as np
import pytest

from optimizer.generate.prompts import (
    ParseError,
    fit_headline,
    fit_sentences,
    parse_answer,
    pick_examples,
    render,
)


def test_render_fills_every_variable(example_cfg):
    prompt = example_cfg.prompts[0]
    examples = pick_examples(example_cfg, "trail_runners", 2, np.random.default_rng(0))
    request = render(example_cfg, prompt, "trail_runners", examples)
    assert "{" not in request.user and "Off-road runners" in request.user
    assert "at most 30 characters" in request.user
    assert request.user.count("Headline: ") >= 3  # the format line and two examples
    assert request.prefill == "Headline:"


def test_examples_are_drawn_with_the_generator(example_cfg):
    a = [pick_examples(example_cfg, "beginners", 2, np.random.default_rng(s)) for s in range(8)]
    assert len({tuple(e.headline for e in x) for x in a}) > 1
    again = pick_examples(example_cfg, "beginners", 2, np.random.default_rng(3))
    assert again == a[3]


@pytest.mark.parametrize(
    "answer,expected",
    [
        (
            " Faster miles\nBody: Light foam for race day.",
            ("Faster miles", "Light foam for race day."),
        ),
        (
            ' "Grip for trails"\n**Body:** Mud is no match.\nHeadline: more',
            ("Grip for trails", "Mud is no match."),
        ),
        (
            " Meet the Stride Aero: A shoe for every runner\nBody: Go.",
            ("Meet the Stride Aero", "Go."),
        ),
    ],
)
def test_parse_answer(answer, expected):
    assert parse_answer(answer, 90, headline_limit=30) == expected


@pytest.mark.parametrize("answer,error", [(" \nBody: x", "no headline"), (" Fast\n\n", "no body")])
def test_parse_answer_errors(answer, error):
    with pytest.raises(ParseError, match=error):
        parse_answer(answer, 90)


def test_fitting_to_limits():
    assert fit_sentences("One two. Three four five. Six.", 25) == "One two. Three four five."
    assert fit_sentences("A single sentence that is far too long", 10) == (
        "A single sentence that is far too long"
    )  # left for the format filter to reject
    assert fit_headline("Speed, comfort and grip for every runner", 30) == (
        "Speed, comfort and grip for every runner"
    )  # first clause has one word: unchanged
    assert fit_headline("Run fast: light foam for every runner", 30) == "Run fast"
