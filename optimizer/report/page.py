"""The report as one self-contained HTML page: plots inline as SVG, styles inline, no
fonts, scripts or images fetched from anywhere. Every piece of user text is escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby

from optimizer.report.model import (
    ArmLine,
    CreativeLine,
    Lift,
    LineageLine,
    Removal,
    Report,
    SegmentView,
    Text,
)
from optimizer.report.plots import Plot, allocation_name
from optimizer.report.words import EXPLAINED, LABELS, interval, pct, segment_name

MAX_ROWS = 25  # rejections listed per reason; the rest are counted (retirements: all)

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 max-width:1240px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:2px solid #ddd}h3{margin-top:1.4em}
nav a{margin-right:1em}table{border-collapse:collapse;width:100%;font-size:13px;margin:.5em 0}
td,th{border-bottom:1px solid #e3e3e3;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;white-space:nowrap}
figure{margin:.8em 0}figure svg{max-width:100%;height:auto}
ul.parents{margin:0;padding-left:1em;font-size:12px}table.reasons{width:auto;min-width:40%}
summary{cursor:pointer;margin:.3em 0}
.ad b{display:block}.ad .body{color:#444}.cta{font-size:11px;background:#eef;padding:0 4px;
 border-radius:3px;white-space:nowrap}.sw{display:inline-block;width:12px;height:12px;
 border-radius:2px;margin-right:4px}.label{font-weight:600;padding:1px 6px;border-radius:8px;
 font-size:12px}.leading{background:#d8f0d8}.learning{background:#e4e8f4}
.retiring{background:#fbe2c8}.paused{background:#eee}.why{color:#555;font-size:12px}
.note,.empty{color:#555;background:#fafafa;border-left:3px solid #ccc;padding:.4em .8em}
pre{white-space:pre-wrap;background:#f7f7f7;padding:.5em;font-size:12px}
"""

SCRIPT = """
window.addEventListener("load", function () {
  var figs = document.querySelectorAll("figure.plot"), ok = 0;
  figs.forEach(function (f) {
    var s = f.querySelector("svg");
    if (s && s.getBoundingClientRect().width > 100) ok++;
  });
  document.body.setAttribute("data-plots-rendered", ok + "/" + figs.length);
});
"""


def esc(x: object) -> str:
    return html.escape(str(x))


def table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table of already escaped cells (:class:`Num` cells right-aligned)."""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


class Num(str):
    """An escaped cell holding a number (right-aligned)."""


def _td(cell: str) -> str:
    return f'<td class="n">{cell}</td>' if isinstance(cell, Num) else f"<td>{cell}</td>"


def num(x: object) -> Num:
    return Num(esc(x))


def ad(t: Text, colour: str | None = None) -> str:
    sw = f'<span class="sw" style="background:{colour}"></span>' if colour else ""
    body = f'<span class="body">{esc(t.body)}</span> ' if t.body else ""
    cta = f'<span class="cta">{esc(t.cta)}</span>' if t.cta else ""
    return (
        f'<div class="ad" data-creative="{esc(t.id)}"><b>{sw}{esc(t.headline)}</b>{body}{cta}</div>'
    )


def ad_line(t: Text, colour: str | None = None) -> str:
    """A creative on one line: headline, then its body in small type."""
    sw = f'<span class="sw" style="background:{colour}"></span>' if colour else ""
    body = f' <span class="body">{esc(t.body)}</span>' if t.body else ""
    return f'<span data-creative="{esc(t.id)}">{sw}<b>{esc(t.headline)}</b>{body}</span>'


def figure(plot: Plot | None) -> str:
    if plot is None:
        return ""
    return f'<figure class="plot" data-plot="{esc(plot.name)}">{plot.svg}</figure>'


def note(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{esc(text)}</p>'


def segment_section(view: SegmentView, plots: Mapping[str, Plot], colour, sim: bool) -> str:
    head = ["creative", "label", "CTR [95% interval]", "shown", "clicks"]
    head += [f"share, last {view.allocation.period}"] + (["true CTR"] if sim else []) + ["source"]
    rows = [_creative_row(c, colour, sim) for c in view.creatives]
    plot = plots.get(allocation_name(view.name))
    return (
        f"<h3>{esc(segment_name(view.name))} <small>({view.impressions:,} impressions)"
        f"</small></h3>{table(head, rows, 'creatives')}{figure(plot)}"
    )


def _creative_row(c: CreativeLine, colour: Mapping[str, str], sim: bool) -> list[str]:
    row = [
        ad(c.text, colour.get(c.text.id)),
        f'<span class="label {esc(c.label)}">{esc(c.label)}</span>'
        f'<div class="why">{esc(c.why)}</div>',
        num(interval(c.ctr) if c.events else "-"),
        num(f"{c.shown:,}"),
        num(f"{c.clicks:,.0f}"),
        num(pct(c.share)),
    ]
    if sim:
        row.append(num(pct(c.true_ctr)))
    return [*row, esc(c.source)]


def lift_section(lift: Lift | None, plot: Plot | None) -> str:
    if lift is None:
        return note("No logged impressions to compare.", "empty")
    head = ["way of serving", "clicks", "95% interval", "per 1,000 impressions", "how"]
    n = max(lift.impressions, 1)
    rows = [
        [
            esc(x.name),
            num(f"{x.clicks:,.1f}"),
            num(f"{x.low:,.1f}\u2013{x.high:,.1f}" if x.low is not None else "-"),
            num(f"{1000 * x.clicks / n:.1f}"),
            esc(x.note),
        ]
        for x in lift.observed
    ]
    out = (
        f"<p>On the {lift.impressions:,} impressions served: clicks counted for the served "
        "policy, and estimated off-policy (doubly robust, from the logged probabilities) for "
        "uniform serving and for each segment's best creative.</p>"
        + figure(plot)
        + table(head, rows, "lift")
    )
    if lift.true:
        rows = [
            [esc(x.name), num(f"{x.clicks:,.1f}"), num(f"{1000 * x.clicks / n:.1f}")]
            for x in lift.true
        ]
        out += "<p>Expected clicks by the simulator's truth on the same users:</p>"
        out += table(["way of serving", "expected clicks", "per 1,000 impressions"], rows)
    return out


def lineage_section(lines: Sequence[LineageLine], plot: Plot | None, colour, sim: bool) -> str:
    if not lines:
        return note(
            "No created creatives yet: the refresh has not admitted a creative of its own "
            "(each round it retires losers and breeds candidates from the winners; the gate "
            "admits one only when it is predicted to beat the pool).",
            "empty",
        )
    what = "true CTR" if sim else "observed CTR"
    head = ["round", "segment", "created creative", "how", "parents", what]
    head += ["seeds' mean", "beats its parents", "beats the seeds", "status"]
    scored = any(x.predicted is not None for x in lines)
    head += ["scorer's prediction"] if scored else []
    rows = []
    for x in lines:
        parents = "".join(
            f"<li>{ad_line(p.text, colour.get(p.text.id))} ({esc(pct(p.value))})</li>"
            for p in x.parents
        )
        value = pct(x.value) if sim else (interval(x.rate) if x.rate else "-")
        rows.append(
            [
                num(x.round),
                esc(segment_name(x.segment)),
                ad(x.child, colour.get(x.child.id)),
                esc(x.how),
                f'<ul class="parents">{parents}</ul>' if parents else "-",
                num(value),
                num(pct(x.seeds)),
                esc(x.beats_parents),
                esc(x.beats_seeds),
                esc(x.status),
                *([num(pct(x.predicted))] if scored else []),
            ]
        )
    won = sum(x.beats_parents == "yes" for x in lines)
    seeds = sum(x.beats_seeds == "yes" for x in lines)
    summary = (
        f"{len(lines)} creatives created by the loop; {won} beat their best parent and "
        f"{seeds} beat the mean of their segment's seeds ({what})."
    )
    return f"<p>{esc(summary)}</p>{note(EXPLAINED)}{figure(plot)}{table(head, rows, 'lineage')}"


def arms_section(report: Report, plot: Plot | None) -> str:
    arms, rewrites, prompts = report.arms, report.rewrites, report.prompts
    hidden = report.hidden.get("operator and prompt arms")
    if not arms:
        out = note(hidden or "No operator or prompt arms recorded yet.", "empty")
    else:
        head = [
            "arm",
            "what it does",
            "credit (wins / trials)",
            "reward [95% interval]",
            "children (observed CTR)",
        ]
        rows = [
            [
                esc(a.arm),
                esc(a.how),
                num(f"{a.wins:.1f} / {a.trials:.1f}"),
                num(interval(a.reward)),
                _children(a),
            ]
            for a in arms
        ]
        out = figure(plot) + table(head, rows, "arms")
    if prompts:
        rows = [
            [
                esc(p.id),
                esc(p.source if not p.parent else f"{p.source} of {p.parent}"),
                num(f"{p.impressions:,.0f}"),
                num(f"{p.clicks:,.0f}"),
                num(pct(p.clicks / p.impressions) if p.impressions else "-"),
            ]
            for p in prompts
        ]
        head = ["prompt", "source", "impressions of its creatives", "clicks", "CTR"]
        out += "<h3>Prompt arms</h3>" + table(head, rows, "prompts")
    if rewrites:
        out += "<h3>Prompts the LLM rewrote, in full</h3>"
        for w in rewrites:
            out += (
                f"<p>Round {w.round}: <b>{esc(w.prompt)}</b> from {esc(w.parent or '-')}, "
                f"written from the evidence of {esc(segment_name(w.segment))}.</p>"
                f"<pre>{esc(w.instruction or '(no instruction passed the checks)')}</pre>"
                f"<details><summary>the LLM's whole answer</summary><pre>{esc(w.raw)}</pre>"
                "</details>"
            )
    else:
        out += note("No prompt was rewritten (the LLM was off, or no round rewrote one).")
    return out


def _children(a: ArmLine) -> str:
    if not a.children:
        return "-"
    items = "".join(
        f"<li>{esc(k.text.headline)} ({esc(segment_name(k.segment))}): "
        f"{esc(interval(k.ctr) if k.ctr else 'not shown')}"
        f"{esc(', true ' + pct(k.true_ctr)) if k.true_ctr is not None else ''}; "
        f"{esc(k.status)}</li>"
        for k in a.children
    )
    return f"<details><summary>{len(a.children)} children</summary><ul>{items}</ul></details>"


def removals_section(removals: Sequence[Removal]) -> str:
    if not removals:
        return note("Nothing was retired or rejected.", "empty")
    ordered = sorted(removals, key=lambda r: r.group)
    groups = [(g, list(rs)) for g, rs in groupby(ordered, key=lambda r: r.group)]
    groups.sort(key=lambda g: -len(g[1]))
    out = table(["reason", "creatives"], [[esc(g), num(len(rs))] for g, rs in groups], "reasons")
    for g, rs in groups:
        retired = g.startswith("retired")
        shown = rs if retired else rs[:MAX_ROWS]
        rows = [
            [
                ad(r.text),
                esc(segment_name(r.segment)),
                num(r.round if r.round else "-"),
                esc(r.reason),
            ]
            for r in shown
        ]
        more = f" (the first {len(shown)} shown)" if len(shown) < len(rs) else ""
        out += (
            f"<details{' open' if retired else ''}>"
            f"<summary>{esc(g)}: {len(rs)}{more}</summary>"
            f"{table(['creative', 'segment', 'round', 'reason'], rows, 'removals')}</details>"
        )
    return out


def sources_section(report: Report) -> str:
    rows = [
        [
            esc(s.source),
            num(s.creatives),
            num(f"{s.shown:,}"),
            num(f"{s.clicks:,.0f}"),
            num(interval(s.ctr)),
        ]
        for s in report.sources
    ]
    head = ["source", "creatives shown", "impressions", "clicks", "CTR [95% interval]"]
    out = table(head, rows, "sources")
    if report.generators:
        rows = [
            [
                esc(g.version),
                esc(g.adapter or "-"),
                esc((g.data_hash or "-")[:12]),
                num(_loss(g.loss_first)),
                num(_loss(g.loss_last)),
                num(g.steps or "-"),
            ]
            for g in report.generators
        ]
        head = ["generator version", "adapter", "data", "loss, first step", "last step", "steps"]
        out += "<h3>Generator versions trained by the refresh</h3>" + table(head, rows)
    return out


def _loss(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def render(report: Report, plots: Mapping[str, Plot], colour: Mapping[str, str]) -> str:
    sim = report.simulated
    hidden = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in report.hidden.items())
    sections = [
        (
            "segments",
            "Creatives by segment",
            _labels_note()
            + "".join(segment_section(v, plots, colour, sim) for v in report.segments),
        ),
        ("ctr", "CTR over time", figure(plots.get("ctr")) + figure(plots.get("pool"))),
        ("lift", "Lift of the loop", lift_section(report.lift, plots.get("lift"))),
        (
            "lineage",
            "Created creatives and their parents",
            lineage_section(report.lineage, plots.get("lineage"), colour, sim),
        ),
        ("sources", "CTR by source and generator", sources_section(report)),
        (
            "arms",
            "Operators and prompts",
            arms_section(report, plots.get("arms")),
        ),
        ("removals", "Retirements and rejections", removals_section(report.removals)),
    ]
    nav = "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t, _ in sections)
    body = "".join(f'<section id="{k}"><h2>{esc(t)}</h2>{s}</section>' for k, t, s in sections)
    summary = "".join(f"<p>{esc(s)}</p>" for s in report.summary)
    hidden_html = f'<div class="note"><b>Not shown</b><ul>{hidden}</ul></div>' if hidden else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(report.campaign)}: report</title><style>{STYLE}</style></head>"
        f'<body data-mode="{"simulated" if sim else "logged"}">'
        f"<h1>{esc(report.campaign)}</h1>{summary}{hidden_html}<nav>{nav}</nav>{body}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def _labels_note() -> str:
    return note(LABELS)
