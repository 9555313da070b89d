"""Preference data from logged decisions: propensity-weighted, significant pairs only, in
TRL's formats, the same files from the same logs."""

from __future__ import annotations

import json

import numpy as np

from optimizer.records import Context, Creative, Decision, Feedback
from optimizer.refresh.finetune import write_jsonl
from optimizer.refresh.preferences import (
    assessments_of,
    dpo_rows,
    generation_prompts,
    preference_pairs,
    sft_rows,
    winners,
)

CAMPAIGN = "stride-spring"


def c(headline: str, segment: str = "beginners") -> Creative:
    return Creative.from_text(CAMPAIGN, headline, "Body text.", "Find your fit", segment=segment)


def logs(
    segment: str, arms: list[tuple[Creative, float, float]], n: int, rng: np.random.Generator
) -> list[Feedback]:
    """``n`` logged events of ``segment``; ``arms``: (creative, true CTR, share). The logging
    policy plays each creative with its share (logged as the propensity), and it is clicked
    with its true CTR."""
    pool = [x for x, _, _ in arms]
    ctrs = [ctr for _, ctr, _ in arms]
    p = np.array([share for _, _, share in arms])
    chosen = rng.choice(len(pool), size=n, p=p)
    clicked = rng.random(n) < np.array(ctrs)[chosen]
    ids = tuple(x.id for x in pool)
    out = []
    for i, (j, r) in enumerate(zip(chosen.tolist(), clicked.tolist(), strict=True)):
        d = Decision(
            f"{segment}-{i}",
            float(i),
            CAMPAIGN,
            Context(segment),
            ids,
            ids[j],
            float(p[j]),
            "t",
            "1",
        )
        out.append(Feedback(d, float(r)))
    return out


GOOD, SAME_A, SAME_B, BAD = c("Comfort first"), c("Start today"), c("Begin here"), c("Buy now")


def significant(rng: np.random.Generator) -> list[Feedback]:
    """A clear winner and loser, and two creatives of equal CTR that the logging policy
    played very unequally."""
    arms = [(GOOD, 0.10, 0.25), (SAME_A, 0.05, 0.6), (SAME_B, 0.05, 0.05), (BAD, 0.01, 0.1)]
    return logs("beginners", arms, 20_000, rng)


def test_pairs_only_for_significant_differences_propensity_weighted():
    found = {}
    for seed in range(3):
        assessed = assessments_of(significant(np.random.default_rng(seed)))
        pairs = preference_pairs(assessed)
        found[seed] = {(p.chosen, p.rejected) for p in pairs}
        assert (GOOD.id, BAD.id) in found[seed]
        assert (GOOD.id, SAME_A.id) in found[seed] and (SAME_A.id, BAD.id) in found[seed]
        # equal CTRs: SAME_A got 12x the clicks of SAME_B, but no pair either way (seed 1 would
        # have one at z >= 1.96 per pair: 1.99; the six pairs are tested at 0.05 together)
        assert not {(SAME_A.id, SAME_B.id), (SAME_B.id, SAME_A.id)} & found[seed]
        for p in pairs:
            assert p.z >= 2.39 and p.diff > 0  # Phi^-1(1 - 0.05 / 6)
            assert p.weight > 0 and p.segment == "beginners"
    # a pair never goes the wrong way
    assert all((BAD.id, GOOD.id) not in f for f in found.values())


def test_raw_click_counts_would_have_paired_the_equal_creatives():
    """The test above is about the propensities: unweighted, SAME_A looks better."""
    fb = significant(np.random.default_rng(0))
    clicks = {x.id: 0.0 for x in (SAME_A, SAME_B)}
    for f in fb:
        if f.decision.chosen in clicks:
            clicks[f.decision.chosen] += f.reward
    assert clicks[SAME_A.id] > 5 * clicks[SAME_B.id]


def test_no_pairs_across_segments_or_from_too_little_data():
    rng = np.random.default_rng(1)
    trail = c("Trail grip", "trail_runners")
    few = logs("beginners", [(GOOD, 0.10, 0.5), (BAD, 0.01, 0.5)], 40, rng)
    other = logs("trail_runners", [(trail, 0.001, 1.0)], 5_000, rng)
    pairs = preference_pairs(assessments_of(few + other))
    assert pairs == []  # 40 events: not significant; one creative alone in its segment


def prompt_of(segment: str, x: Creative) -> list[dict]:
    return [{"role": "system", "content": "s"}, {"role": "user", "content": f"ad for {segment}"}]


def test_trl_formats_with_weights_and_deterministic(tmp_path):
    creatives = {x.id: x for x in (GOOD, SAME_A, SAME_B, BAD)}
    digests = []
    for _ in range(2):
        assessed = assessments_of(significant(np.random.default_rng(0)))
        dpo = dpo_rows(preference_pairs(assessed), creatives, prompt_of)
        sft = sft_rows(winners(assessed, top=2), creatives, prompt_of)
        digests.append(
            (write_jsonl(dpo, tmp_path / "d.jsonl"), write_jsonl(sft, tmp_path / "s.jsonl"))
        )
    assert digests[0] == digests[1]
    rows = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    first = rows[0]
    assert first["prompt"][-1] == {"role": "user", "content": "ad for beginners"}
    assert first["chosen"] == [
        {"role": "assistant", "content": "Headline: Comfort first\nBody: Body text."}
    ]
    assert first["rejected"][0]["role"] == "assistant" and first["weight"] > 0
    # the largest z first: the best against the worst
    assert first["ids"] == [GOOD.id, BAD.id]
    sft_rows_ = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["ids"] for r in sft_rows_][0] == [GOOD.id]
    assert [m["role"] for m in sft_rows_[0]["messages"]] == ["system", "user", "assistant"]
    # a winner's weight is its CTR over the segment's mean
    by_id = {a.creative_id: a.ctr for a in assessed["beginners"]}
    mean = np.mean(list(by_id.values()))
    assert [r["weight"] for r in sft_rows_] == [
        round(by_id[r["ids"][0]] / mean, 6) for r in sft_rows_
    ]
    assert sft_rows_[0]["weight"] > 1.5


def test_generation_prompts_render_the_campaign_prompts(example_cfg):
    from optimizer.refresh.prompts import PromptArm

    arms = [PromptArm(p.id, p.template, p.system) for p in example_cfg.prompts]
    prompt_of_ = generation_prompts(example_cfg, arms, np.random.default_rng(0))
    own = Creative.from_text(CAMPAIGN, "h", "b", "Shop now", prompt_id=arms[1].id)
    messages = prompt_of_("trail_runners", own)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Off-road runners" in messages[1]["content"]
    assert messages[1]["content"].startswith("Ad copy for")  # the arm that wrote it
