"""Does reward make the copy better? The refresh loop against the simulator's truth.

For each seed: the campaign played in rounds with the whole refresh, and the ``retire-only``
control on the same seed and the same initial pool (refresh on, no new creatives), so the
lift from new creatives is told apart from the lift from retiring. Prints, per round: wall
and CPU seconds by stage, the pool's true CTR beside the control's, the final pool's make-up
(created vs seed creatives), and every source's raw candidates (before the filters and the
gate: count, mean and best true CTR), how many the filters kept and the gate admitted with
their true CTR, beside the pool they joined. Then the issue's figures with their targets,
and the generator's (the last version's raw candidates against the base model's on the same
prompts and segments, judged by the truth). Asserts nothing.

True CTR: a creative's expected reward over a fixed sample of its segment's users (the
``evaluation`` stream), as the rounds measure it; the optimizer never sees it.

Run: ``.venv/bin/python benchmarks/refresh.py --seeds 7 8 9 [--config configs/example.yaml]
[--rounds 5] [--impressions 10000] [--no-llm] [--json FILE]``. The machine's load is printed
with the times (CPU seconds are this process's, all its threads).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.allocate import config_policy  # noqa: E402
from optimizer.config import apply_overrides, load_config  # noqa: E402
from optimizer.refresh.models import Models  # noqa: E402
from optimizer.refresh.summary import summarise  # noqa: E402
from optimizer.rounds import Campaign  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "created_share": 0.5,
    "created_vs_seed": 1.1,
    "pool_lift": 1.5,
    "lift_over_control": 0.15,
    "generator_ratio": 1.2,
    "run_minutes": 6.0,
}


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(t0: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clock()
    return wall - t0[0], cpu - t0[1]


def play(campaign: Campaign, state, policy, rounds: int) -> tuple[object, list[dict]]:
    """Play ``rounds`` rounds; per round: wall and CPU seconds and the stages' seconds."""
    times = []
    for _ in range(rounds):
        t0 = clock()
        state = campaign.play(state, policy)
        wall, cpu = since(t0)
        times.append({"wall": wall, "cpu": cpu, "stages": dict(campaign.last_seconds)})
        kind = "main" if campaign.create else "control"
        print(
            f"   ({kind} round {state.round}: {wall:.0f} s wall, {cpu:.0f} s CPU, pool true CTR "
            f"{state.history[-1].pool_true_ctr:.5f})",
            flush=True,
        )
    return state, times


def run_seed(cfg, args, models: Models, folder: Path, base) -> dict:
    """The main run and its retire-only control on one seed; their figures. ``base``: the
    base generator's snapshot, served again first (None without the LLM)."""
    llm = base is not None
    if llm:
        from optimizer.refresh.lora import restore

        restore(models.backend, base)
    main = Campaign(cfg, args.impressions, True, None, folder, llm, models=models)
    control = Campaign(cfg, args.impressions, True, None, folder, llm, models=models, create=False)
    t0 = clock()
    state, policy = main.start(resume=False)
    start = since(t0)
    print(
        f"   (seed {cfg.seed}: initial pool {start[0]:.0f} s wall, {start[1]:.0f} s CPU)",
        flush=True,
    )
    twin = copy.deepcopy(state)  # the same initial pool for the control
    state, times = play(main, state, policy, args.rounds)
    twin, _ = play(control, twin, config_policy(cfg, control.streams), args.rounds)
    out = {
        "seed": cfg.seed,
        "start": {"wall": start[0], "cpu": start[1]},
        "rounds": times,
        "main": summarise(main, state).to_json(),
        "control": summarise(control, twin).to_json(),
        "history": [m.to_json() for m in state.history],
        "control_history": [m.pool_true_ctr for m in twin.history],
        "generator": generator_figures(cfg, models, state, main, base) if llm else None,
    }
    out["run_wall"] = start[0] + sum(t["wall"] for t in times)
    out["run_cpu"] = start[1] + sum(t["cpu"] for t in times)
    return out


def generator_figures(cfg, models: Models, state, campaign: Campaign, base) -> dict | None:
    """The last kept generator version against the base model (``base``: its snapshot): raw
    candidates on the same prompts, segments and seeds, judged by the simulator's truth
    (None: no version was kept)."""
    if not state.generator.get("adapter"):
        return None
    from optimizer.refresh.generator import compare_generators
    from optimizer.refresh.lora import snapshot
    from optimizer.rng import Streams

    truth = campaign.truth(campaign.simulator(state.simulator, state.round + 1))
    known = {(c.headline.lower(), c.body.lower()) for c in state.creatives.values()}
    rng = Streams(cfg.seed).round(10_000).fresh("generate")
    last = snapshot(models.backend)
    got = compare_generators(cfg, models.backend, base, last, truth.ctrs, rng, 4, known=known)
    return {
        "version": last.version,
        "last": got.child.mean,
        "base": got.parent.mean,
        "parsed": [got.child.parsed, got.parent.parsed],
        "ratio": got.ratio if got.parent.mean > 0 else None,
    }


def by_source(history: list[dict]) -> dict:
    """Per round and source, over segments: raw, kept and admitted candidates."""
    out = {}
    for m in history:
        rows = defaultdict(lambda: [0, 0.0, 0.0, 0, 0.0, 0, 0.0])
        for line in m.get("candidates", []):
            r = rows[line["source"]]
            r[0] += line["count"]
            r[1] += (line["mean_true_ctr"] or 0.0) * line["count"]
            r[2] = max(r[2], line["best_true_ctr"] or 0.0)
            r[3] += line["kept"]
            r[4] += (line["kept_true_ctr"] or 0.0) * line["kept"]
            r[5] += line["admitted"]
            r[6] += (line["admitted_true_ctr"] or 0.0) * line["admitted"]
        out[m["round"]] = dict(rows)
    return out


def print_seed(r: dict, stages: list[str]) -> None:
    m, c = r["main"], r["control"]
    print(f"\n== seed {r['seed']}: initial pool true CTR {m['initial_pool_true_ctr']:.5f}")
    print(
        f"   initial pool (generate + screen): {r['start']['wall']:.1f} s wall, "
        f"{r['start']['cpu']:.1f} s CPU"
    )
    print(
        "   round   wall    CPU  "
        + "".join(f"{s[:8]:>9}" for s in stages)
        + "   pool CTR  control  created  created/seed CTR"
    )
    for k, (t, line) in enumerate(zip(r["rounds"], m["rounds"][1:], strict=True), 1):
        share = line.get("created_share")
        ratio = (line.get("created_true_ctr") or 0) / (line.get("seed_true_ctr") or 1)
        print(
            f"   {k:>5} {t['wall']:>6.1f} {t['cpu']:>6.1f}  "
            + "".join(f"{t['stages'].get(s, 0.0):>9.1f}" for s in stages)
            + f"   {line['pool_true_ctr']:.5f}  {r['control_history'][k - 1]:.5f}"
            + f"  {share if share is not None else 0:>7.0%}  {ratio:>6.2f}"
        )
    print("   raw candidates by source (count, mean / best true CTR; kept; admitted):")
    for k, rows in by_source(r["history"]).items():
        for source, (n, s, best, kept, ks, adm, adms) in sorted(rows.items()):
            print(
                f"   r{k} {source[:38]:<38} {n:>4}  {s / max(n, 1):.5f} / {best:.5f}"
                f"  kept {kept:>3} {ks / max(kept, 1):.5f}  admitted {adm:>2} "
                f"{adms / max(adm, 1):.5f}"
            )
    joins = [j for h in r["history"] for j in h.get("joins", [])]
    new = [v for j in joins for v in j["admitted"].values()]
    pools = [j["pool_true_ctr"] for j in joins for _ in j["admitted"]]
    if new:
        better = sum(v > p for v, p in zip(new, pools, strict=True))
        print(
            f"   admitted: {len(new)}, mean true CTR {sum(new) / len(new):.5f} vs the pools "
            f"they joined {sum(pools) / len(pools):.5f}; {better} above their pool"
        )
    print(
        f"   final: lift {m['pool_lift']:.3f} (control {c['pool_lift']:.3f}), created "
        f"{m['created_share']:.0%} of the pool, created {m['created_true_ctr']} vs seed "
        f"{m['seed_true_ctr']}; run {r['run_wall']:.0f} s wall, {r['run_cpu']:.0f} s CPU"
    )


def figures(results: list[dict]) -> list[tuple[str, str, bool]]:
    """The issue's done-when figures: (what, per seed, met on every seed)."""
    rows = []

    def row(name: str, values: list, target: float, fmt: str) -> None:
        met = all(v is not None and v >= target for v in values)
        shown = ", ".join("n/a" if v is None else format(v, fmt) for v in values)
        rows.append((f"{name} (target >= {target:g})", shown, met))

    m = [r["main"] for r in results]
    row("created share of the final pool", [x["created_share"] for x in m], 0.5, ".0%")
    row(
        "created / surviving seed true CTR",
        [(x["created_true_ctr"] or 0) / (x["seed_true_ctr"] or 1) for x in m],
        TARGETS["created_vs_seed"],
        ".2f",
    )
    row("pool true CTR lift", [x["pool_lift"] for x in m], TARGETS["pool_lift"], ".3f")
    row(
        "lift over the retire-only control",
        [r["main"]["pool_lift"] - r["control"]["pool_lift"] for r in results],
        TARGETS["lift_over_control"],
        ".3f",
    )
    gen = [(r["generator"] or {}).get("ratio") for r in results]
    row("last generator / base raw true CTR", gen, TARGETS["generator_ratio"], ".2f")
    minutes = [-r["run_wall"] / 60 for r in results]  # at most 6: negated for the >= check
    row("minus 5-round run minutes (wall)", minutes, -TARGETS["run_minutes"], ".1f")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "example.yaml")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--impressions", type=int, default=10_000)
    parser.add_argument("--no-llm", action="store_true", help="recombination only")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    config = load_config(args.config)
    print(
        f"{args.config.name}: {args.rounds} rounds x {args.impressions:,} impressions, "
        f"seeds {args.seeds}, LLM {'off' if args.no_llm else 'on'}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    models = Models(config)
    snap = None
    if not args.no_llm and config.prompts:
        from optimizer.refresh.lora import snapshot

        snap = snapshot(models.backend)  # the base model, served again before each seed
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            cfg = apply_overrides(config, seed=seed)
            models.cfg = cfg
            results.append(run_seed(cfg, args, models, Path(tmp), snap))
            stages = sorted({s for r in results[-1]["rounds"] for s in r["stages"]})
            print_seed(results[-1], stages)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    print(f"\n{'figure':<58} {'per seed':<28} every seed")
    for name, shown, met in figures(results):
        print(f"{name:<58} {shown:<28} {'yes' if met else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
