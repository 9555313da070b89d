"""The campaign report: one self-contained HTML page a marketer can act on.

``gather`` reads the store into typed records (:mod:`~optimizer.report.model`), ``plots``
draws them as inline SVG, ``page`` writes the HTML. The page shows, per segment, the live
creatives as text with observed CTR and interval, share of traffic, source and a label
(leading, learning, retiring) with the numbers behind it, and their allocation over time;
the CTR per round (or day) and the active pool's true CTR; the lift of the loop against
uniform serving and the best single creative (off-policy on the logged impressions, and by
the simulator's truth); the creatives the loop created beside their parents and the seeds;
CTR by source; the operator and prompt arms with their children and the rewritten prompts;
retirements and rejections grouped by reason. On a log from ``ingest`` the sections that
need the simulator's truth are left out, and the page says why.
"""

from __future__ import annotations

from pathlib import Path

from optimizer.report.gather import gather
from optimizer.report.model import Report

__all__ = ["Report", "gather", "write_report"]


def write_report(store, campaign: str, out: Path) -> Path:
    """Write ``out/index.html`` for ``campaign``; returns its path. Raises
    ``OptimizerError`` when the campaign has neither rounds nor logged events."""
    from optimizer.report.page import render
    from optimizer.report.plots import colours, plots

    report = gather(store, campaign)
    colour = colours(report.segments)
    page = render(report, plots(report, colour), colour)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    tmp = out / "index.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
