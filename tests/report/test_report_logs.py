"""The report of a campaign whose events came from ``ingest`` (no simulator): observed
figures with intervals, what needs the simulator's truth left out with the reason."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from optimizer.offline import simulate_logs
from optimizer.report import gather
from optimizer.report.browser import chromium, dump_dom
from optimizer.store import Store
from tests.conftest import EXAMPLE
from tests.report.dom import ID, figures, rendered, text_of, visible_text

INTERVAL = r"\d+\.\d\d% \[\d+\.\d\d\u2013\d+\.\d\d%\]"


@pytest.fixture(scope="module")
def logged(tmp_path_factory, example_cfg):
    """3,000 impressions of a skewed logging policy (epsilon-greedy, 0.3) over the seed
    creatives, ingested from JSONL with the campaign's config, and the report of them."""
    tmp = tmp_path_factory.mktemp("logs")
    rows, truths = simulate_logs(example_cfg, 3_000, seed=4, epsilon=0.3)
    log = tmp / "decisions.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    url = f"sqlite:///{tmp}/l.db"
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(log), "--config", str(EXAMPLE), "--db", url])
    assert result.exit_code == 0, result.output
    out = tmp / "out"
    result = runner.invoke(
        main, ["report", "--campaign", example_cfg.name, "--db", url, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return SimpleNamespace(
        rows=rows,
        truths=truths,
        store=Store(url),
        name=example_cfg.name,
        cfg=example_cfg,
        out=out,
        page=(out / "index.html").read_text(),
    )


def test_observed_figures_have_intervals_and_truth_is_left_out_with_the_reason(logged):
    page = logged.page
    assert 'data-mode="logged"' in page
    note = re.search(r'<div class="note"><b>Not shown</b>.*?</div>', page, re.S)
    assert note, "the page does not say what it leaves out"
    said = visible_text(note.group(0), sep="")
    assert (
        "true CTRs, the oracle and the pool's true value: these events came from an ad "
        "server's logs (ingest), not from the simulator" in said
    )
    assert "operator and prompt arms" in said and "has no rounds" in said
    rest = visible_text(page.replace(note.group(0), ""))
    for word in ("true CTR", "oracle", "expected by the simulator"):
        assert word not in rest
    assert "pool" not in figures(page)
    # every creative's row: its CTR with an interval; every seed by its text, never its id
    rows = re.findall(r'<tr><td><div class="ad".*?</tr>', page, re.S)
    assert len(rows) >= 12
    for row in rows:
        assert re.search(INTERVAL, row), row[:200]
    assert not ID.search(rest)
    for c in logged.cfg.seed_creatives:
        assert c.headline in rest


def test_lift_on_logs_counts_the_served_clicks_and_covers_the_truth(logged):
    report = gather(logged.store, logged.name)
    lift = {x.name: x for x in report.lift.observed}
    assert report.lift.impressions == len(logged.rows)
    assert not report.lift.true  # no simulator to ask
    served = lift["served policy"]
    assert served.clicks == sum(r["reward"] for r in logged.rows)
    assert served.low < served.clicks < served.high
    # uniform serving's true expected clicks on these users lie in the off-policy interval
    uniform = lift["uniform over the live creatives"]
    truth = float(sum(np.mean(t) for t in logged.truths))
    assert uniform.low <= truth <= uniform.high
    best = lift["best single creative per segment"]
    assert best.low is not None and best.low < best.clicks < best.high


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (.ci/run installs it)")
def test_logged_report_renders_in_headless_chromium(logged):
    dom = dump_dom(logged.out / "index.html")
    plots = figures(dom)
    assert {"ctr", "lift"} <= set(plots)
    assert sum(n.startswith("allocation-") for n in plots) == 5
    assert rendered(dom) == (len(plots), len(plots))
    for name, svg in plots.items():
        axes = text_of(svg, f"{name}-xlabel") and text_of(svg, f"{name}-ylabel")
        assert axes or text_of(svg, f"{name}-legend"), name
