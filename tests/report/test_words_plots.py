"""Labels, names and colours of the report, and a page from rounds written straight into a
store: user text escaped, missing sections said in words."""

from __future__ import annotations

import re

import numpy as np
import pytest

from optimizer.generate import seed_creatives
from optimizer.loop import run_row
from optimizer.records import Context, Creative, Decision, Feedback
from optimizer.refresh.assess import Assessment
from optimizer.report import write_report
from optimizer.report.model import Allocation, CreativeLine, Rate, SegmentView, Text
from optimizer.report.plots import colours
from optimizer.report.words import label, leader, legend_names, with_headlines
from optimizer.store import Store
from optimizer.store.models import GeneratorRow, RoundRow
from tests.report.dom import ID, visible_text


def a(cid: str, ctr: float, low: float, high: float, events: int = 1_000, shown: int = 400):
    return Assessment("s", cid, ctr, low, high, events, shown)


BEST = a("best", 0.05, 0.04, 0.06)


@pytest.mark.parametrize(
    ("creative", "word", "why"),
    [
        (BEST, "leading", "highest lower bound"),
        (a("tie", 0.048, 0.035, 0.061), "leading", "not below the best's lower bound 4.00%"),
        (a("low", 0.02, 0.01, 0.03), "retiring", "upper bound 3.00% below the best's 5.00%"),
        (a("few", 0.0, 0.0, 0.12, shown=20), "learning", "shown 20 times"),
        (a("wide", 0.03, 0.0, 0.07), "learning", "could still match the best's 5.00%"),
        (a("early", 0.09, 0.0, 0.2, events=120), "learning", "judged after 300"),
        (a("new", 0.0, 0.0, 1.0, events=0, shown=0), "learning", "not served yet"),
    ],
)
def test_labels_say_why_with_numbers(creative, word, why):
    got, reason = label(creative, BEST, 300)
    assert got == word
    assert why in reason


def test_leader_is_the_surest_judged_creative():
    lucky = a("lucky", 0.09, 0.0, 0.25, shown=20)  # best point estimate, hardly shown
    early = a("early", 0.2, 0.1, 0.3, events=100)  # not judged yet
    assert leader([lucky, BEST, early], 300) is BEST
    assert leader([early], 300) is None


def test_legend_names_tell_apart_creatives_with_one_headline():
    texts = [
        Text("1", "Made for the long run", "Durable and cushioned"),
        Text("2", "Made for the long run", "Responsive foam returns energy"),
        Text("3", "Meet the Stride Aero", "Light"),
    ]
    names = legend_names(texts)
    assert names["3"] == "Meet the Stride Aero"
    assert names["1"] != names["2"]
    assert names["1"].startswith("Made for the long run / Durable")


def _view(name: str, ids: list[str]) -> SegmentView:
    line = lambda i: CreativeLine(  # noqa: E731
        Text(i, f"headline {i}"), name, "seed", None, 0, 0, 0.0, Rate(0, 0, 0), 0.0, "", ""
    )
    return SegmentView(name, 0, tuple(line(i) for i in ids), Allocation("round", (1,), {}))


def test_a_creative_keeps_one_colour_and_segments_never_share_one():
    views = [_view("a", ["x", "y", "z"]), _view("b", ["y", "w", "v"]), _view("c", ["v", "x"])]
    colour = colours(views)
    for view in views:
        used = [colour[line.text.id] for line in view.creatives]
        assert len(set(used)) == len(used), view.name
    # 70 creatives in one segment: colours repeat only past the palette's 60
    many = colours([_view("big", [str(i) for i in range(70)])])
    assert len(set(many.values())) == 60


def test_reasons_name_creatives_by_headline():
    texts = {"0123456789abcdef": Text("0123456789abcdef", "Chase your next PR")}
    reason = "confidently worse than 0123456789abcdef in beginners: near fedcba9876543210"
    out = with_headlines(reason, texts)
    assert "\u201cChase your next PR\u201d" in out and "another creative" in out
    assert not ID.search(out)


HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


def write_round(store, cfg, pool, extra=None, generator=None) -> None:
    """Round 1 of run ``r``: 600 impressions served uniformly over ``pool`` in one segment
    (the ``i``-th creative clicked with probability 0.05 (i + 1)), and its metrics (with
    ``extra`` keys) written straight into ``store``."""
    store.add_creatives(pool)
    store.start_run(run_row(cfg, "r", "rounds", 600, "uniform"))
    ids = tuple(c.id for c in pool)
    rng = np.random.default_rng(3)
    events = []
    for i in range(600):
        j = int(rng.integers(len(ids)))
        d = Decision(
            f"r-r001-{i:09d}",
            1.7e9 + i,
            cfg.name,
            Context("beginners", {}),
            ids,
            ids[j],
            1 / len(ids),
            "uniform",
            "v1",
        )
        events.append(Feedback(d, float(rng.random() < 0.05 * (j + 1))))
    store.log(events, run_id="r")
    assessed = [
        {
            "segment": "beginners",
            "creative_id": c,
            "ctr": 0.0,
            "low": 0.0,
            "high": 0.1,
            "events": 600,
            "shown": 200,
        }
        for c in ids
    ]
    metrics = {
        "round": 1,
        "impressions": 600,
        "clicks": 0,
        "served_ctr": 0.05,
        "expected_ctr": 0.05,
        "oracle_ctr": 0.08,
        "uniform_ctr": 0.05,
        "regret": 10.0,
        "shares": {},
        "generator_versions": {},
        "prompts": {},
        "retirements": [],
        "new_creatives": [],
        "generator": None,
        "pool_true_ctr": 0.02,
        "pool_size": {"beginners": len(ids)},
        "assessments": {"beginners": assessed},
        **(extra or {}),
    }
    row = RoundRow(run_id="r", round=1, campaign=cfg.name, refresh=True, metrics=metrics)
    store.save_round(row, (), generator)


@pytest.fixture()
def bare_rounds(tmp_path, example_cfg):
    """Two seed creatives and one with hostile text; metrics with none of the refresh's
    optional keys."""
    store = Store(f"sqlite:///{tmp_path}/bare.db")
    store.save_campaign(example_cfg)
    hostile = Creative.from_text(example_cfg.name, HOSTILE, "a <i>body</i>", "Shop now")
    write_round(store, example_cfg, [*seed_creatives(example_cfg)[:2], hostile])
    return store, example_cfg.name


def test_hostile_text_is_escaped_and_missing_sections_say_so(bare_rounds, tmp_path):
    store, name = bare_rounds
    page = write_report(store, name, tmp_path / "out").read_text()
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    text = visible_text(page)
    assert HOSTILE in text  # shown as written, as text
    assert "No created creatives yet" in text
    assert "No prompt was rewritten" in text
    assert "No operator or prompt arms recorded yet" in text
    assert "Nothing was retired or rejected" in text
    assert not ID.search(text)
    # the served policy, uniform and the best creative, each with an interval
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td class=\"n\">[\d,.]+</td><td class=\"n\">"
        r"[\d,.]+\u2013[\d,.]+</td>",
        page,
    )
    assert rows[:3] == [
        "served policy",
        "uniform over the live creatives",
        "best single creative per segment",
    ]


def test_a_refreshed_round_shows_prompts_in_full_arms_lineage_and_generators(tmp_path, example_cfg):
    cfg = example_cfg
    store = Store(f"sqlite:///{tmp_path}/gen.db")
    store.save_campaign(cfg)
    seeds = seed_creatives(cfg)[:2]
    version = "HuggingFaceTB/SmolLM2-135M-Instruct@base+lora-0123abcd"
    written = Creative.from_text(
        cfg.name,
        "Soft landings, every mile",
        "Foam that forgives.",
        "Shop now",
        source="generated",
        prompt_id="benefit-r1",
        generator_version=version,
        lineage={
            "operator": "generate",
            "arm": "generate:benefit-r1",
            "parents": [],
            "prompt_arm": "benefit-r1",
            "round": 1,
        },
    )
    edited = Creative.from_text(
        cfg.name,
        "Comfort from the very first step",
        seeds[0].body,
        seeds[0].cta,
        source="edited",
        parent_id=seeds[0].id,
        lineage={"operator": "mutation", "arm": "mutation", "parents": [seeds[0].id], "round": 1},
    )
    instruction = "Lead with comfort; name the <cushion> & the price."
    extra = {
        "prompt_written": {
            "id": "benefit-r1",
            "parent": "benefit",
            "segment": "beginners",
            "instruction": instruction,
            "raw": "Instruction: " + instruction,
        },
        "prompts": {
            "benefit-r1": {
                "clicks": 3,
                "impressions": 100,
                "source": "mutation",
                "parent": "benefit",
            }
        },
        "operators": {"generate:benefit-r1": [1.5, 2.0], "mutation": [0.2, 1.0]},
        "new_creatives": [
            {
                "id": c.id,
                "segment": "beginners",
                "prompt": c.prompt_id,
                "headline": c.headline,
                "generator": c.generator_version,
                "operator": c.lineage["arm"],
                "parents": c.lineage["parents"],
                "prior": [3.0, 47.0],  # the scorer's Beta prior: a 6% prediction
            }
            for c in (written, edited)
        ],
        "retirements": [
            {
                "segment": "beginners",
                "creative_id": seeds[1].id,
                "reason": f"confidently worse than {written.id} in beginners: CTR "
                "0.0100 [0.0000, 0.0200] below 0.0600 [0.0400, 0.0800]",
            }
        ],
    }
    generator = GeneratorRow(
        version=version,
        campaign=cfg.name,
        base="smollm2",
        adapter="runs/lora",
        data_hash="feedbeef" * 4,
        metrics={"loss_first": 2.5, "loss_last": 1.9, "steps": 3},
    )
    write_round(store, cfg, [*seeds, written, edited], extra, generator)
    page = write_report(store, cfg.name, tmp_path / "out").read_text()
    text = visible_text(page, sep="")
    assert "Lead with comfort; name the &lt;cushion&gt; &amp; the price.</pre>" in page
    assert "benefit-r1 from benefit, written from the evidence of beginners" in text
    arms = re.search(r'<table class="arms">.*?</table>', page, re.S).group(0)
    assert "generate:benefit-r1" in arms and "Soft landings, every mile" in arms
    assert "mutation" in arms and "Comfort from the very first step" in arms
    table = re.search(r'<table class="lineage">.*?</table>', page, re.S).group(0)
    lineage = visible_text(table, sep="")
    assert "edited: one winner rewritten" in lineage and seeds[0].headline in lineage
    assert "generated, prompt 'benefit-r1'" in lineage and "no parents" in lineage
    assert "scorer's prediction" in lineage and lineage.count("6.00%") == 2
    assert version in page  # the generator table names the version in full
    assert (
        "generated, prompt 'benefit-r1', generator SmolLM2-135M-Instruct@b\u2026+lora-0123abcd"
        in text
    )
    assert "confidently worse than \u201cSoft landings, every mile\u201d" in text
    assert not ID.search(visible_text(page))
