"""The campaign report: one HTML page with PNG plots, readable offline.

Plots: true CTR per round against the oracle and uniform serving, allocation share per
segment over rounds, cumulative regret, prompt performance, the active pool's true CTR with
and without refresh, and generator versions compared. Tables: the lineage of each segment's
winner, retirements with their reasons, generator versions.
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

from optimizer.errors import OptimizerError

PLOTS = (
    "ctr_per_round",
    "allocation_share",
    "cumulative_regret",
    "prompt_performance",
    "pool_ctr",
    "generator_versions",
)


def _runs(store, campaign: str) -> dict[str, list]:
    runs: dict[str, list] = defaultdict(list)
    for row in store.rounds(campaign):
        runs[row.run_id].append(row)
    for rows in runs.values():
        rows.sort(key=lambda r: r.round)
    return runs


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_report(store, campaign: str, out: Path) -> Path:
    runs = _runs(store, campaign)
    if not runs:
        raise OptimizerError(
            f"campaign {campaign!r} has no rounds in {store.url}; play some with `run --rounds R`"
        )
    with_refresh = [rows for rows in runs.values() if rows[0].refresh]
    without = [rows for rows in runs.values() if not rows[0].refresh]
    main = with_refresh[-1] if with_refresh else list(runs.values())[-1]
    plain = without[-1] if without else None
    out.mkdir(parents=True, exist_ok=True)
    plt = _figure()
    rounds = [r.round for r in main]
    m = [r.metrics for r in main]

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / f"{name}.png", dpi=90)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(rounds, [x["expected_ctr"] for x in m], "o-", label="served (true CTR)")
    ax.plot(rounds, [x["oracle_ctr"] for x in m], "s--", label="oracle")
    ax.plot(rounds, [x["uniform_ctr"] for x in m], "^:", label="uniform")
    if plain:
        ax.plot(
            [r.round for r in plain],
            [r.metrics["expected_ctr"] for r in plain],
            "x-",
            label="served, no refresh",
        )
    ax.set(xlabel="round", ylabel="CTR", title="CTR per round")
    ax.legend()
    save(fig, "ctr_per_round")

    segments = sorted({s for x in m for s in x["shares"]})
    fig, axes = plt.subplots(len(segments), 1, figsize=(7, 2.2 * len(segments)), squeeze=False)
    for ax, seg in zip(axes[:, 0], segments, strict=True):
        ids = sorted({c for x in m for c in x["shares"].get(seg, {})})
        bottom = [0.0] * len(m)
        for cid in ids:
            values = [x["shares"].get(seg, {}).get(cid, 0.0) for x in m]
            ax.bar(rounds, values, bottom=bottom, label=cid[:8])
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set(ylabel="share", title=f"allocation share: {seg}", ylim=(0, 1.01))
    axes[-1, 0].set_xlabel("round")
    save(fig, "allocation_share")

    fig, ax = plt.subplots(figsize=(7, 4))
    for rows, label in ((main, "refresh"), (plain, "no refresh")):
        if rows:
            total, ys = 0.0, []
            for r in rows:
                total += r.metrics["regret"]
                ys.append(total)
            ax.plot([r.round for r in rows], ys, "o-", label=label)
    ax.set(xlabel="round", ylabel="expected regret (clicks)", title="Cumulative regret")
    ax.legend()
    save(fig, "cumulative_regret")

    fig, ax = plt.subplots(figsize=(7, 4))
    prompts = sorted({p for x in m for p in x["prompts"]})
    for pid in prompts:
        xs = [r for r, x in zip(rounds, m, strict=True) if pid in x["prompts"]]
        ys = [
            (x["prompts"][pid]["clicks"] + 1) / (x["prompts"][pid]["impressions"] + 2)
            for x in m
            if pid in x["prompts"]
        ]
        ax.plot(xs, ys, "o-", label=pid)
    ax.set(xlabel="round", ylabel="posterior mean CTR", title="Prompt performance")
    if prompts:
        ax.legend(fontsize=7)
    save(fig, "prompt_performance")

    fig, ax = plt.subplots(figsize=(7, 4))
    for rows, label in ((main, "refresh"), (plain, "no refresh")):
        if rows:
            ax.plot(
                [0] + [r.round for r in rows],
                [rows[0].metrics.get("initial_pool_true_ctr", rows[0].metrics["pool_true_ctr"])]
                + [r.metrics["pool_true_ctr"] for r in rows],
                "o-",
                label=label,
            )
    ax.set(xlabel="round", ylabel="true CTR of the active pool", title="Active pool")
    ax.legend()
    save(fig, "pool_ctr")

    fig, ax = plt.subplots(figsize=(7, 4))
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for x in m:
        for v, t in x["generator_versions"].items():
            totals[v][0] += t["clicks"]
            totals[v][1] += t["impressions"]
    names = sorted(totals)
    ax.bar(range(len(names)), [totals[n][0] / max(totals[n][1], 1) for n in names])
    ax.set_xticks(
        range(len(names)), [n.split("/")[-1][:28] for n in names], rotation=20, fontsize=7
    )
    ax.set(ylabel="CTR of served creatives", title="Generator versions")
    save(fig, "generator_versions")

    page = _html(campaign, store, main, plain)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _table(head: list[str], rows: list[list[object]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def _html(campaign: str, store, main, plain) -> str:
    last = main[-1].metrics
    creatives = {c.id: c for c in store.creatives(campaign)}
    winners = []
    for seg, rows in sorted(last["assessments"].items()):
        if rows:
            best = max(rows, key=lambda a: a["ctr"])
            c = creatives.get(best["creative_id"])
            lineage = (c.lineage or {}) if c else {}
            winners.append(
                [
                    seg,
                    c.headline if c else best["creative_id"],
                    f"{best['ctr']:.4f}",
                    (c.prompt_id if c else None) or "seed",
                    lineage.get("round", 0),
                    (c.generator_version if c else None) or "config",
                ]
            )
    retirements = [
        [r.round, x["segment"], x["creative_id"], x["reason"]]
        for r in main
        for x in r.metrics.get("retirements", [])
    ]
    generators = [
        [
            g.version,
            g.adapter or "-",
            (g.data_hash or "-")[:12],
            g.metrics.get("loss_first"),
            g.metrics.get("loss_last"),
            g.metrics.get("steps"),
        ]
        for g in store.generators(campaign)
    ]
    first, final = main[0].metrics, last
    summary = (
        f"Rounds: {len(main)}. Active pool true CTR after round 1: "
        f"{first['pool_true_ctr']:.4f}; after the last: {final['pool_true_ctr']:.4f}."
    )
    if plain:
        summary += f" Without refresh: {plain[-1].metrics['pool_true_ctr']:.4f}."
    images = "".join(f'<h2>{p.replace("_", " ")}</h2><img src="{p}.png" alt="{p}">' for p in PLOTS)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(campaign)}: report</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px}}
img{{max-width:100%}}</style></head>
<body><h1>{html.escape(campaign)}</h1><p>{html.escape(summary)}</p>
{images}
<h2>Winners and their lineage</h2>
{_table(["segment", "headline", "CTR", "prompt", "round", "generator"], winners)}
<h2>Retirements</h2>
{_table(["round", "segment", "creative", "reason"], retirements)}
<h2>Generator versions</h2>
{_table(["version", "adapter", "data hash", "loss first", "loss last", "steps"], generators)}
<script>
window.addEventListener("load", function () {{
  var ok = Array.prototype.filter.call(document.images,
    function (i) {{ return i.complete && i.naturalWidth > 0; }}).length;
  document.body.setAttribute("data-images-loaded", ok + "/" + document.images.length);
}});
</script>
</body></html>
"""
