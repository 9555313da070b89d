"""The report of a campaign played in rounds, rendered in headless Chromium: every plot
labelled, every creative named by its text, the lineage of created creatives, the
simulator's truth rebuilt as the rounds recorded it."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from cli import main
from optimizer.config import apply_overrides
from optimizer.report import gather
from optimizer.report.browser import chromium, dump_dom
from optimizer.rounds import run_rounds
from optimizer.store import Store
from tests.report.dom import ID, bar_colours, figures, rendered, swatches, text_of, visible_text


@pytest.fixture(scope="module")
def played(tmp_path_factory, example_cfg):
    """Two rounds of 1,000 impressions with refresh (recombination only, no LLM) and two
    without, on one campaign; its report written by the CLI."""
    tmp = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{tmp}/r.db"
    cfg = apply_overrides(example_cfg, seed=6, database_url=url)
    store = Store(url)
    run_rounds(cfg, 2, 1_000, True, store, tmp / "state", generate=False)
    run_rounds(cfg, 2, 1_000, False, store, tmp / "state", generate=False)
    out = tmp / "out"
    result = CliRunner().invoke(
        main, ["report", "--campaign", cfg.name, "--db", url, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    refresh = [r for r in store.rounds(cfg.name) if r.refresh]
    return SimpleNamespace(
        cfg=cfg,
        store=store,
        out=out,
        page=(out / "index.html").read_text(),
        rounds=[r.metrics for r in sorted(refresh, key=lambda r: r.round)],
    )


@pytest.fixture(scope="module")
def dom(played) -> str:
    if chromium() is None:
        pytest.skip("Chromium is not installed (.ci/run installs it)")
    return dump_dom(played.out / "index.html")


def test_every_plot_is_drawn_with_labelled_axes_or_a_legend(played, dom):
    plots = figures(dom)
    segments = [s.name for s in played.cfg.segments]
    expected = {"ctr", "pool", "lift", "arms", "lineage"} | {
        f"allocation-{s.replace('_', '-')}" for s in segments
    }
    assert expected <= set(plots)
    assert rendered(dom) == (len(plots), len(plots))  # each SVG laid out at a visible width
    for name, svg in plots.items():
        axes = text_of(svg, f"{name}-xlabel") and text_of(svg, f"{name}-ylabel")
        assert axes or text_of(svg, f"{name}-legend"), name
        assert text_of(svg, f"{name}-title"), name
    # rounds on integer ticks: the x axis of the plots over rounds shows whole numbers only
    for name in ["ctr", "pool"] + [n for n in plots if n.startswith("allocation-")]:
        ticks = text_of(plots[name], "matplotlib.axis_1").split()
        label = text_of(plots[name], f"{name}-xlabel").split()
        numbers = ticks[: len(ticks) - len(label)]
        assert numbers and all(re.fullmatch(r"\d+", t) for t in numbers), (name, ticks)


def test_every_creative_is_named_by_its_text(played, dom):
    text = visible_text(dom)
    assert not ID.findall(text)  # no content-hash id is the name of anything
    creatives = {c.id: c for c in played.store.creatives(played.cfg.name)}
    last = played.rounds[-1]
    gone = {(r["segment"], r["creative_id"]) for r in last["retirements"]}
    live = [
        a["creative_id"]
        for s, rows in last["assessments"].items()
        for a in rows
        if (s, a["creative_id"]) not in gone
    ]
    assert live
    for cid in live:
        assert f'data-creative="{cid}"' in dom
        assert creatives[cid].headline in text
    # retirements in words: the creative's text beside the reason, grouped by reason
    section = re.search(r'<section id="removals">.*?</section>', dom, re.S).group(0)
    retired = [r for m in played.rounds for r in m["retirements"]]
    assert retired
    for r in retired:
        assert f'data-creative="{r["creative_id"]}"' in section
    counts = re.findall(r'<tr><td>retired: [^<]+</td><td class="n">(\d+)</td></tr>', section)
    assert sum(map(int, counts)) == len(retired)
    # the allocation legends name creatives by their headline, never by id
    headlines = {c.headline for c in creatives.values()}
    for name, svg in figures(dom).items():
        if name.startswith("allocation-"):
            legend = text_of(svg, f"{name}-legend")
            assert legend and not ID.search(legend)
            assert any(h[:20] in legend for h in headlines), name


def test_one_colour_per_creative_across_plots_and_tables(dom):
    bars, marks = bar_colours(dom), swatches(dom)
    assert len(bars) >= 12  # the seeds serve every segment
    shared = [cid for cid, fills in bars.items() if len(fills) == 1]
    assert len(shared) == len(bars), {c: f for c, f in bars.items() if len(f) > 1}
    for cid, fill in marks.items():
        assert len(fill) == 1, cid
        if cid in bars:
            assert fill == bars[cid], cid


def test_lineage_lists_every_created_creative_beside_its_parents(played, dom):
    created = [c for m in played.rounds for c in m["new_creatives"]]
    assert created, "recombination admitted no creative: the fixture shows no lineage"
    table = re.search(r'<table class="lineage">.*?</table>', dom, re.S)
    assert table, "no lineage table although the loop created creatives"
    for c in created:
        assert f'data-creative="{c["id"]}"' in table.group(0)
        for parent in c["parents"]:
            assert f'data-creative="{parent}"' in table.group(0)
    assert re.search(r"\d+ creatives created by the loop; \d+ beat their best parent", dom)


def test_rebuilt_truth_is_what_the_rounds_recorded(played):
    report = gather(played.store, played.cfg.name)
    recorded = {
        cid: v for m in played.rounds for j in m["joins"] for cid, v in j["admitted"].items()
    }
    assert recorded
    values = {x.child.id: x.value for x in report.lineage}
    for cid, v in recorded.items():
        assert values[cid] == pytest.approx(v, abs=2e-6)
    true = {x.name: x.clicks for x in report.lift.true}
    n = sum(m["impressions"] for m in played.rounds)
    assert report.lift.impressions == n
    expected = sum(m["expected_ctr"] * m["impressions"] for m in played.rounds)
    uniform = sum(m["uniform_ctr"] * m["impressions"] for m in played.rounds)
    assert true["served policy"] == pytest.approx(expected, abs=0.01)
    assert true["uniform over the live creatives"] == pytest.approx(uniform, abs=0.01)
    oracle = sum(m["oracle_ctr"] * m["impressions"] for m in played.rounds)
    assert true["oracle (each user's best creative)"] == pytest.approx(oracle, abs=0.01)
    assert true["uniform over the live creatives"] < true["best single creative per segment"]
    assert true["best single creative per segment"] <= true["oracle (each user's best creative)"]


def test_the_page_is_one_file_that_opens_offline(played):
    assert [p.name for p in played.out.iterdir()] == ["index.html"]
    page = played.page
    assert not re.search(r'(?:src|href)="(?!#)', page)  # only links within the page
    assert not re.search(r"url\((?!#)|@import|<link|<img", page)


def test_report_without_rounds_or_events_is_a_clear_error(tmp_path, example_cfg):
    url = f"sqlite:///{tmp_path}/e.db"
    Store(url).save_campaign(example_cfg)
    result = CliRunner().invoke(
        main, ["report", "--campaign", example_cfg.name, "--db", url, "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: campaign 'stride-spring' has no rounds and no logged events in {url}; play "
        "some with `run --rounds R`, or `ingest` an ad server's logs\n"
    )
    assert not (tmp_path / "o").exists()
