"""Rich tables and lines for people; ``--json`` output is the same data serialised.

Every function takes the plain data a library call returned and gives renderables for
:func:`show`. Text that users or models wrote (headlines, bodies, names, targets) goes in as
:class:`rich.text.Text`, never as a markup string, so ``[/i]`` or ``[link=...]`` in a headline
prints as written; the console reads no markup or emoji codes either.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text


def console() -> Console:
    """A rich console on stdout; wide when piped so tables keep one row per line."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160, markup=False, emoji=False)


def show(renderables: Iterable[RenderableType]) -> None:
    out = console()
    for r in renderables:
        out.print(r)


def text(value: Any, style: str = "") -> Text:
    """User text as it was written: no markup, no emoji codes, control characters stripped."""
    from rich.text import Text

    return Text("" if value is None else str(value), style=style)


def table(title: str | None, *columns: str) -> Table:
    from rich.table import Table

    return Table(*columns, title=None if title is None else text(title))


def ratio(value: float | None, fmt: str = ".4f") -> str:
    return "-" if value is None else format(value, fmt)


# -- run and simulate ----------------------------------------------------------------------
def summary(s: dict) -> list[RenderableType]:
    """A run: pool, the policy against uniform and the oracle, then each segment's creatives."""
    out: list[RenderableType] = []
    pool = s.get("pool")
    if pool and pool["screened"]:
        out.append(
            f"pool: {pool['creatives']} creatives ({pool['generated_kept']} generated), "
            f"{pool['rejected']} of {pool['screened']} screened rejected"
        )
    title = f"{s['campaign']} (seed {s['seed']})"
    totals = table(title, "policy", "impressions", "clicks", "CTR", "true CTR", "regret")
    for key in ("policy", "uniform", "oracle"):
        t = s[key]
        totals.add_row(
            text(t["name"]),
            str(t["impressions"]),
            str(t["clicks"]),
            f"{t['ctr']:.4f}",
            f"{t['expected_ctr']:.4f}",
            f"{t['regret']:.1f}",
        )
    out.append(totals)
    if s.get("lift_vs_uniform"):
        out.append(
            text(
                f"{s['policy']['name']} got {s['lift_vs_uniform']:.2f}x the "
                "clicks of uniform on the same users."
            )
        )
    out += [segment_table(name, seg) for name, seg in s["segments"].items()]
    out.append("* the segment's best creative by true CTR")
    return out


def segment_table(name: str, seg: dict) -> Table:
    title = f"segment {name}: {seg['impressions']} impressions"
    t = table(title, "creative", "headline", "share", "impr.", "clicks", "observed CTR", "true CTR")
    for r in seg["creatives"]:
        star = " *" if r["id"] == seg["best_creative"] else ""
        t.add_row(
            text(r["id"] + star),
            text(r["headline"]),
            f"{r['share']:.1%}",
            str(r["impressions"]),
            str(r["clicks"]),
            ratio(r["observed_ctr"]),
            ratio(r["true_ctr"]),
        )
    return t


def rounds(s: dict) -> list[RenderableType]:
    """A campaign played in rounds: one row a round, then the pool's change."""
    refresh = "with" if s["refresh"] else "without"
    title = f"{s['campaign']}: rounds ({refresh} refresh)"
    t = table(
        title, "round", "served CTR", "true CTR", "oracle", "uniform", "regret", "pool true CTR"
    )
    for r in s["rounds"]:
        ctrs = [
            ratio(r.get(k)) for k in ("served_ctr", "expected_ctr", "oracle_ctr", "uniform_ctr")
        ]
        t.add_row(str(r["round"]), *ctrs, ratio(r.get("regret"), ".1f"), ratio(r["pool_true_ctr"]))
    made = ""
    if s.get("created_share") is not None:
        made = f"; created {s['created_share']:.0%} of the final pool"
        if s.get("created_true_ctr") is not None and s.get("seed_true_ctr"):
            made += f" (true CTR {s['created_true_ctr']:.4f} vs seeds {s['seed_true_ctr']:.4f})"
    return [
        t,
        text(
            f"active pool true CTR {s['initial_pool_true_ctr']:.4f} -> "
            f"{s['final_pool_true_ctr']:.4f} ({s['pool_lift']:.2f}x); "
            f"{s['retirements']} retirements, {s['new_creatives']} new "
            f"creatives{made}; generator {s['generator']}"
        ),
    ]


# -- generate and screen -------------------------------------------------------------------
def verdicts(rows: Sequence[dict], by_segment: bool) -> list[RenderableType]:
    """Screening verdicts, one row a creative (with segment and prompt when generated)."""
    columns = ["verdict", "headline", "body", "cta", "reasons", "relevance", "policy"]
    t = table(None, *(["segment", "prompt"] if by_segment else []), *columns)
    for r in rows:
        reasons = "; ".join(f"{x['filter']}: {x['reason']}" for x in r["reasons"])
        sc = r["scores"]
        where = [text(r["segment"] or "-"), text(r["prompt_id"] or "-")] if by_segment else []
        t.add_row(
            *where,
            text("kept", "green") if r["kept"] else text("rejected", "red"),
            text(r["headline"] or repr((r.get("raw") or "")[:40])),
            text(r["body"]),
            text(r["cta"]),
            text(reasons),
            ratio(sc.get("relevance"), ".2f"),
            ratio(sc.get("policy"), ".2f"),
        )
    kept = sum(r["kept"] for r in rows)
    return [t, f"{kept} kept, {len(rows) - kept} rejected"]


# -- logs -------------------------------------------------------------------------------------
def ingest_lines(reports: Iterable[dict]) -> list[str]:
    """One line a file, then its quarantine reasons, most frequent first (plain text)."""
    lines = []
    for r in reports:
        lines.append(
            f"{r['file']} ({r['format']}): read {r['read']}, stored {r['stored']} "
            f"({r['decisions']} decisions, {r['rewards']} rewards, {r['reports']} "
            f"report rows), duplicates {r['duplicates']}, quarantined {r['quarantined']}"
        )
        for reason, count in sorted(r["reasons"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  quarantined {count}: {reason}")
    return lines


def evaluation(result: dict) -> list[RenderableType]:
    """Off-policy estimates per target with 95% intervals and weight diagnostics."""
    head = text(
        f"{result['events']} closed events (mean logged reward "
        f"{result['logged_mean_reward']:.4f}); {result['pending']} pending, "
        f"{result['late_rewards']} late and {result['orphan_rewards']} orphan rewards"
    )
    names = list(result["targets"][0]["estimates"]) if result["targets"] else []
    title = f"{result['campaign']}: estimated mean reward [95% CI]"
    t = table(title, "target", *[e.upper() for e in names], "ESS", "max w", "unseen actions")
    for row in result["targets"]:
        cells = [
            f"{v['value']:.4f} [{v['low']:.4f}, {v['high']:.4f}]" for v in row["estimates"].values()
        ]
        d = row["diagnostics"]
        t.add_row(
            text(row["target"]),
            *map(text, cells),
            f"{d['effective_sample_size']:.0f}",
            f"{d['max_weight']:.2f}",
            str(len(d["unseen_actions"])),
        )
    return [head, t]


# -- the store --------------------------------------------------------------------------------
def campaign(info: dict) -> list[RenderableType]:
    """A stored campaign: counts, segments and runs."""
    from rich.text import Text

    c, e = info["creatives"], info["events"]
    seg = table("Segments", "segment", "share", "features")
    for s in info["segments"]:
        seg.add_row(text(s["name"]), f"{s['share']:.2f}", text(", ".join(s["features"])))
    runs = table("Runs", "run", "policy", "seed", "impressions", "status", "CTR", "lift vs uniform")
    for r in info["runs"]:
        runs.add_row(
            text(r["id"]),
            text(r["policy"]),
            str(r["seed"]),
            str(r["impressions"]),
            text(r["status"]),
            ratio(r["ctr"]),
            f"{r['lift_vs_uniform']:.2f}x" if r["lift_vs_uniform"] else "-",
        )
    return [
        Text.assemble(text(info["name"], "bold"), ": ", text(info["product"])),
        f"creatives: {c['active']} active, {c['retired']} retired, {c['rejected']} "
        f"rejected; events: {e['decisions']} decisions, {e['rewards']} rewards",
        seg,
        runs,
    ]


def creatives(rows: Iterable[dict]) -> list[RenderableType]:
    t = table(
        None, "id", "headline", "cta", "segment", "source", "status", "impr.", "clicks", "CTR"
    )
    for r in rows:
        t.add_row(
            text(r["id"]),
            text(r["headline"]),
            text(r["cta"]),
            text(r["segment"] or "all"),
            text(r["source"]),
            text(r["status"]),
            str(r["impressions"]),
            str(r["clicks"]),
            ratio(r["ctr"]),
        )
    return [t]


def predictions(rows: Iterable[dict]) -> list[RenderableType]:
    t = table(None, "segment", "headline", "body", "predicted CTR")
    for r in rows:
        t.add_row(
            text(r["segment"]), text(r["headline"]), text(r["body"]), f"{r['predicted_ctr']:.4f}"
        )
    return [t]
