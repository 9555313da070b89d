"""No gaming the reader: stuffed keywords, repeated stems and word lists are rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.filter.inputs import read_creatives
from optimizer.filter.readability import ProductWords, readability_checks, stem
from optimizer.filter.screen import Screener
from optimizer.records import Creative

HERE = Path(__file__).parent
PRODUCT = ProductWords.of("Stride Aero running shoes")


def creative(headline: str, body: str = "") -> Creative:
    return Creative.from_text("c", headline, body, "Shop now")


def reasons(c: Creative) -> list[str]:
    return [r.reason for r in readability_checks(c, PRODUCT)]


@pytest.mark.parametrize(
    "headline,body,reason",
    [
        ("Fast race speed PR racer lightweight tempo", "", "reads badly: 7 content words"),
        ("Trail trail grip mud rock roots rugged trail shoes", "", "keyword stuffing: 'trail' 3"),
        ("Trail grip for mud", "Grippy trail soles grip mud on every trail.", "keyword stuffing"),
        ("Race faster", "Speed race racer racing fast PR.", "keyword stuffing: 'rac' 4 times"),
        (
            "Fast. Light. Grippy. Durable.",
            "Speed, comfort, grip, style.",
            "keyword stuffing: a list",
        ),
        ("Speed + grip + comfort + style", "For runners.", "keyword stuffing: a list"),
        ("Eco planet recycled", "Sustainable recycled eco planet style.", "keyword stuffing"),
        ("Sustainable green planet shoes", "Recycled eco knit upper sustainably made.", "reads"),
        ("Good pricing", "Woody A.W.S.V.R.I.U.T.R.", "reads badly: a string of initials"),
    ],
)
def test_stuffed_copy_is_rejected_with_a_reason(headline, body, reason):
    found = reasons(creative(headline, body))
    assert any(r.startswith(reason) for r in found), found


def test_seed_and_clean_creatives_read_well(example_cfg):
    from optimizer.generate import seed_creatives

    texts = seed_creatives(example_cfg) + read_creatives(HERE / "clean.txt", example_cfg)
    assert {c.headline: reasons(c) for c in texts if reasons(c)} == {}


@pytest.mark.parametrize(
    "headline,body",
    [
        ("Stride Aero running shoes", "Your first race in a running shoe made for new runners."),
        ("Recycled, responsive, ready", "A shoe for the trail, the track and the street."),
        ("Great price, great run", "Deal ends Sunday."),
    ],
)
def test_the_product_name_and_short_lists_are_natural(headline, body):
    assert reasons(creative(headline, body)) == []


def test_stems():
    assert stem("trails") == stem("trail") == stem("Trail-ready") == "trail"
    assert stem("racer") == stem("racing") == stem("races")
    assert stem("running") == stem("runs") == "run"


def test_the_screener_rejects_stuffing(example_cfg):
    made = [
        creative("Fast race speed PR racer lightweight tempo", "Built for race-day speed."),
        creative("Trail trail grip mud rock roots rugged trail shoes", "For every trail."),
        # the filters before this one kept it
        creative(
            "Comfort for new runners", "Soft plush cushion comfortable easy cushioned comfort fit."
        ),
    ]
    for verdict in Screener.build(example_cfg).screen(made, select=False):
        assert any(r.filter == "readability" for r in verdict.rejections), verdict.as_dict()
