"""The filter stage with the real embedding model, profanity model and policy classifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.filter.checks import format_checks, policy_rules
from optimizer.filter.classifier import evaluate_heldout
from optimizer.filter.inputs import read_creatives
from optimizer.filter.screen import Screener
from optimizer.records import Creative

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def screener(example_cfg):
    return Screener.build(example_cfg)


def test_known_violating_lines_are_always_rejected_with_a_reason(screener, example_cfg):
    creatives = read_creatives(HERE / "violating.txt", example_cfg)
    assert len(creatives) == 20
    for verdict in screener.screen(creatives, select=False):
        assert not verdict.kept, verdict.creative.headline
        assert all(r.reason for r in verdict.rejections)


def test_clean_creatives_pass(screener, example_cfg):
    creatives = read_creatives(HERE / "clean.txt", example_cfg)
    verdicts = screener.screen(creatives, select=False)
    rejected = {
        v.creative.headline: [r.reason for r in v.rejections] for v in verdicts if not v.kept
    }
    assert rejected == {}


def test_seed_creatives_of_the_example_pass(screener, example_cfg):
    from optimizer.generate import seed_creatives

    verdicts = screener.screen(seed_creatives(example_cfg))
    assert all(v.kept for v in verdicts), [v.as_dict() for v in verdicts if not v.kept]


def test_near_duplicates_of_the_pool_and_of_each_other(screener, example_cfg):
    pool = [
        Creative.from_text(
            example_cfg.name,
            "Chase your next PR",
            "Responsive foam returns energy on every stride.",
            "Shop now",
        )
    ]
    new = [
        Creative.from_text(
            example_cfg.name,
            "Chase your next PR!",
            "Responsive foam returns energy on each stride.",
            "Learn more",
        ),
        Creative.from_text(
            example_cfg.name,
            "Grip that owns the trail",
            "A lugged outsole bites into mud and rock.",
            "Shop now",
        ),
        Creative.from_text(
            example_cfg.name,
            "Grip that owns every trail",
            "A lugged outsole bites into mud and rock.",
            "Shop now",
        ),
    ]
    verdicts = screener.screen(new, pool=pool, select=False)
    assert not verdicts[0].kept
    # of two near-identical candidates the more relevant one stays, the other names it
    assert sorted([verdicts[1].kept, verdicts[2].kept]) == [False, True]
    kept, dropped = (new[1], verdicts[2]) if verdicts[1].kept else (new[2], verdicts[1])
    assert dropped.rejections[0].filter == "duplicate" and kept.id in dropped.rejections[0].reason
    assert verdicts[0].rejections[0].filter == "duplicate"
    assert pool[0].id in verdicts[0].rejections[0].reason
    assert verdicts[0].rejections[0].score >= example_cfg.filters.duplicate_max


def test_diversity_keeps_the_best_k_per_segment(example_cfg):
    from tests.conftest import small_config

    cfg = small_config(filters={"keep_per_segment": 2, "duplicate_max": 0.99})
    lines = [
        "Chase your next PR",
        "Faster miles, lighter feet",
        "Built for race day",
        "Speed for every tempo run",
    ]
    creatives = [
        Creative.from_text(
            cfg.name, h, "Responsive foam for fast runners.", "Shop now", segment="marathoners"
        )
        for h in lines
    ]
    verdicts = Screener.build(cfg).screen(creatives)
    assert sum(v.kept for v in verdicts) == 2
    dropped = [v for v in verdicts if not v.kept]
    assert all(v.rejections[0].filter == "diversity" for v in dropped)


@pytest.mark.parametrize(
    "headline,body,reason",
    [
        ("A headline that is far too long for search", "Body.", "headline too long"),
        ("Fast fast shoes", "For runners.", "a word repeated twice in a row"),
        ("Speed shoes", "Speed for speed lovers who need speed.", "repeated word 'speed'"),
        ("Shop the sale", "<div>now</div>", "markup or code"),
        ("Shop the sale", "Visit https://x.io today", "markup or code"),
        ("Shop the sale", "Fresh picks #RunningInStyle @Brand", "markup or code"),
        (
            "Faster miles",
            "The Stride Aero is our lightest shoe, so it's all",
            "body ends mid-sentence",
        ),
        ("Faster miles", "Our new Stride Aero is", "body ends mid-sentence"),
        (
            "Meet the Aero",
            "Recycled knit upper, great ride. Recycled knit upper, great ride.",
            "a phrase repeated in the body",
        ),
        ("Schnell \x07 laufen", "Body.", "garbage characters"),
        ("Быстрые кроссовки", "Для бега каждый день.", "wrong language (not Latin script)"),
    ],
)
def test_format_checks(example_cfg, headline, body, reason):
    c = Creative(id="x", campaign="c", headline=headline, body=body, cta="Shop now")
    reasons = [r.reason for r in format_checks(c, example_cfg)]
    assert any(r.startswith(reason) for r in reasons), reasons


def test_policy_rules_from_the_config(example_cfg):
    from tests.conftest import small_config

    cfg = small_config(
        filters={
            "required_disclaimer": "Terms apply",
            "prohibited": [{"name": "free claim", "patterns": [r"\bfree\b"]}],
        }
    )
    c = Creative.from_text(cfg.name, "Free socks", "With every pair.", "Shop now")
    reasons = [r.reason for r in policy_rules(c, cfg.filters)]
    assert "free claim: 'Free'" in reasons
    assert "required disclaimer missing: 'Terms apply'" in reasons
    ok = Creative.from_text(cfg.name, "Socks with every pair", "Terms apply.", "Shop now")
    assert policy_rules(ok, cfg.filters) == []


def test_policy_classifier_precision_and_recall_on_a_held_out_split(screener, capsys):
    results = [evaluate_heldout(screener.embedder, seed=s) for s in range(3)]
    precision = sum(r["precision"] for r in results) / 3
    recall = sum(r["recall"] for r in results) / 3
    with capsys.disabled():
        print(
            f"\npolicy classifier, 25% held out, 3 splits: precision {precision:.3f}, "
            f"recall {recall:.3f}"
        )
    assert precision > 0.8 and recall > 0.8


@pytest.mark.parametrize(
    "name,text,pattern",
    [
        ("in.txt", "Good headline\n| only a body\n", r"in\.txt: line 2: empty headline"),
        ("in.txt", "# nothing\n\n", r"in\.txt: no creatives in it"),
        ("in.csv", "title,body\nA,B\n", r"in\.csv: line 1: no 'headline' column"),
        ("in.csv", "headline,body\n,B\n", r"in\.csv: line 2: empty headline"),
        ("in.csv", "headline,segment\nA,nobody\n", r"in\.csv: line 2: unknown segment 'nobody'"),
    ],
)
def test_bad_input_files_name_the_line(tmp_path, example_cfg, name, text, pattern):
    from optimizer.errors import InputError

    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=pattern):
        read_creatives(path, example_cfg)


def test_csv_input(tmp_path, example_cfg):
    path = tmp_path / "in.csv"
    path.write_text(
        "headline,body,cta,segment\nChase your next PR,Fast foam.,Learn more,"
        "marathoners\nSave on shoes,,,\n"
    )
    first, second = read_creatives(path, example_cfg)
    assert (first.cta, first.segment, first.source) == ("Learn more", "marathoners", "manual")
    assert (second.body, second.cta, second.segment) == ("", "Shop now", None)
