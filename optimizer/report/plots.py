"""The report's plots as inline SVG (matplotlib, text kept as text).

Every plot labels its axes and, where it draws more than one series, has a legend; the
axis labels, legend and title carry the ids ``<plot>-xlabel``, ``<plot>-ylabel``,
``<plot>-legend`` and ``<plot>-title`` in the SVG, so a test can read them in the page.
Rounds and days sit on integer ticks. A creative keeps one colour in every plot.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from optimizer.report.model import ArmLine, Curve, Lift, LineageLine, Report, SegmentView
from optimizer.report.words import segment_name, short

OTHERS = "#bbbbbb"
MIN_SHARE = 0.02  # creatives never above this share of a segment are drawn as "others"
WIDTH = 9.0  # inches at 100 dpi: about the page's width


@dataclass(frozen=True)
class Plot:
    name: str
    title: str
    svg: str


def palette() -> list[str]:
    """60 colours, the strongest first."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    out = [to_hex(c) for c in colormaps["tab10"].colors]
    out += [to_hex(c) for c in colormaps["tab20"].colors[1::2]]
    out += [to_hex(c) for name in ("tab20b", "tab20c") for c in colormaps[name].colors]
    return out


def colours(segments: Sequence[SegmentView]) -> dict[str, str]:
    """One colour per creative, different from every creative it shares a segment with
    (greedy colouring in order of appearance; colours repeat only past 60 per segment)."""
    colors = palette()
    used: dict[str, set[int]] = {}  # segment -> colour indices taken
    where: dict[str, list[str]] = {}
    for view in segments:
        ids = [line.text.id for line in view.creatives] + list(view.allocation.shares)
        for cid in dict.fromkeys(ids):
            where.setdefault(cid, []).append(view.name)
    out: dict[str, str] = {}
    for cid, segs in where.items():
        taken = set().union(*(used.get(s, set()) for s in segs))
        k = next((i for i in range(len(colors)) if i not in taken), len(taken) % len(colors))
        out[cid] = colors[k]
        for s in segs:
            used.setdefault(s, set()).add(k)
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _finish(plt, fig, ax, name: str, title: str, xlabel: str, ylabel: str, legend=None) -> Plot:
    """Label, tag and serialise a figure."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.title.set_gid(f"{name}-title")
    ax.xaxis.label.set_gid(f"{name}-xlabel")
    ax.yaxis.label.set_gid(f"{name}-ylabel")
    if legend is not None:
        legend.set_gid(f"{name}-legend")
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return Plot(name, title, svg[svg.index("<svg") :])


def _integer_x(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def ctr_plot(curves: Sequence[Curve], period: str) -> Plot:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8))
    styles = ["o-", "s-", "^--", "v:", "x-", "d-"]
    for curve, style in zip(curves, styles * 2, strict=False):
        ax.plot(curve.x, curve.y, style, label=curve.label)
        if curve.low is not None and curve.high is not None:
            ax.fill_between(curve.x, curve.low, curve.high, alpha=0.15)
    _integer_x(ax)
    ax.yaxis.set_major_formatter(_percent(None))
    legend = ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _finish(plt, fig, ax, "ctr", f"CTR per {period}", period, "CTR", legend)


def pool_plot(curves: Sequence[Curve]) -> Plot:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    for curve in curves:
        dashed = curve.label.startswith(("created", "seed"))
        ax.plot(curve.x, curve.y, "o--" if dashed else "o-", label=curve.label)
    _integer_x(ax)
    ax.yaxis.set_major_formatter(_percent(None))
    legend = ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    title = "True CTR of the active pool (each creative shown equally)"
    return _finish(plt, fig, ax, "pool", title, "round (0: before the first)", "true CTR", legend)


def allocation_plot(view: SegmentView, colour: Mapping[str, str]) -> Plot:
    """Stacked shares of the segment's impressions per period, one colour per creative."""
    plt = _pyplot()
    a = view.allocation
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    named = [c for c, v in a.shares.items() if max(v, default=0.0) >= MIN_SHARE]
    rest = [c for c in a.shares if c not in named]
    if len(rest) < 2:
        named, rest = named + rest, []
    named.sort(key=lambda c: -sum(a.shares[c]))
    bottom = [0.0] * len(a.periods)
    series = [(c, a.shares[c], colour.get(c, OTHERS), short(a.names.get(c, "?"))) for c in named]
    if rest:
        others = [sum(a.shares[c][i] for c in rest) for i in range(len(a.periods))]
        series.append(("", others, OTHERS, f"{len(rest)} others, each under {MIN_SHARE:.0%}"))
    plot = allocation_name(view.name)
    for cid, values, color, name in series:
        bars = ax.bar(a.periods, values, bottom=bottom, color=color, label=name, width=0.8)
        for period, bar in zip(a.periods, bars, strict=True):
            bar.set_gid(f"{plot}-{cid or 'others'}-{period}")  # the creative's bar in the SVG
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _integer_x(ax)
    ax.set_ylim(0, 1.0)
    ax.yaxis.set_major_formatter(_percent(0))
    legend = ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    title = f"Share of impressions: {segment_name(view.name)}"
    return _finish(plt, fig, ax, plot, title, a.period, "share of impressions", legend)


def lift_plot(lift: Lift) -> Plot:
    """Clicks per way of serving: observed or off-policy (bars with 95% intervals), and the
    simulator's expected clicks (diamonds) where known."""
    plt = _pyplot()
    names = list(dict.fromkeys([x.name for x in lift.observed] + [x.name for x in lift.true]))
    fig, ax = plt.subplots(figsize=(WIDTH, 0.6 * len(names) + 1.4))
    ys = {n: i for i, n in enumerate(names)}
    obs = lift.observed
    ax.barh(
        [ys[x.name] for x in obs],
        [x.clicks for x in obs],
        xerr=[
            [x.clicks - (x.low if x.low is not None else x.clicks) for x in obs],
            [(x.high if x.high is not None else x.clicks) - x.clicks for x in obs],
        ],
        color="#4c72b0",
        alpha=0.8,
        capsize=4,
        label="counted or estimated off-policy (95% interval)",
    )
    if lift.true:
        ax.plot(
            [x.clicks for x in lift.true],
            [ys[x.name] for x in lift.true],
            "D",
            color="#dd8452",
            label="expected by the simulator's truth",
        )
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    legend = ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    xlabel = f"clicks on the {lift.impressions:,} logged impressions"
    return _finish(plt, fig, ax, "lift", "Lift of the loop", xlabel, "way of serving", legend)


def arms_plot(arms: Sequence[ArmLine]) -> Plot:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, 0.45 * len(arms) + 1.4))
    ys = list(range(len(arms)))
    ax.errorbar(
        [a.reward.value for a in arms],
        ys,
        xerr=[
            [a.reward.value - a.reward.low for a in arms],
            [a.reward.high - a.reward.value for a in arms],
        ],
        fmt="o",
        capsize=4,
    )
    ax.set_yticks(ys, [f"{a.arm} ({len(a.children)} children)" for a in arms])
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(_percent(0))
    ax.invert_yaxis()
    xlabel = "reward: chance a child beats its segment's pool (posterior mean, 95% interval)"
    return _finish(plt, fig, ax, "arms", "Operator and prompt arms", xlabel, "arm")


def lineage_plot(lines: Sequence[LineageLine], simulated: bool, colour: Mapping[str, str]):
    plt = _pyplot()
    pairs = [
        (max(p.value for p in x.parents if p.value is not None), x.value, x.child.id)
        for x in lines
        if x.value is not None and any(p.value is not None for p in x.parents)
    ]
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    ax.scatter(
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        c=[colour.get(p[2], OTHERS) for p in pairs],
        edgecolors="black",
        label="a created creative",
    )
    top = max([v for p in pairs for v in p[:2]] + [0.01]) * 1.1
    ax.plot([0, top], [0, top], "--", color="grey", label="as good as its best parent")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.xaxis.set_major_formatter(_percent())
    ax.yaxis.set_major_formatter(_percent())
    what = "true CTR" if simulated else "observed CTR"
    legend = ax.legend(fontsize=8, loc="upper left")
    title = "Created creatives vs their best parent"
    return _finish(
        plt,
        fig,
        ax,
        "lineage",
        title,
        f"best parent's {what}",
        f"created creative's {what}",
        legend,
    )


def plots(report: Report, colour: Mapping[str, str]) -> dict[str, Plot]:
    """Every plot the report has data for, by name."""
    out = {"ctr": ctr_plot(report.ctr_curves, report.period)}
    if report.pool_curves:
        out["pool"] = pool_plot(report.pool_curves)
    for view in report.segments:
        if view.allocation.periods:
            p = allocation_plot(view, colour)
            out[p.name] = p
    if report.lift is not None:
        out["lift"] = lift_plot(report.lift)
    if report.arms:
        out["arms"] = arms_plot(report.arms)
    if any(x.value is not None and x.parents for x in report.lineage):
        out["lineage"] = lineage_plot(report.lineage, report.simulated, colour)
    return out


def _percent(decimals: int | None = 1):
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=decimals)


def allocation_name(segment: str) -> str:
    """The name of a segment's allocation plot."""
    return "allocation-" + (re.sub(r"[^a-z0-9]+", "-", segment.lower()).strip("-") or "all")
