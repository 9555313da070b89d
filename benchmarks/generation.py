"""Generation and filter benchmarks on this machine's CPU. Prints numbers; asserts nothing.

- model load time: cold (GGUF -> safetensors conversion into an empty cache) and cached
- generation throughput with the embedded model: raw answers per minute, parse rate, keep
  rate (passed every filter, without the per-segment MMR selection, which caps what is kept
  by design) and kept creatives per minute; against a baseline tree (default ``/tmp/base``,
  the starting commit, when it exists) measured in the same run, alternating, each in its
  own process, and the ratios new/baseline. Both trees' answers go through this tree's
  filters. Wall time and CPU time are printed: on a machine shared with other work, CPU time
  per answer is the steadier figure.
- embedding throughput (sentences per second) and the policy classifier's precision and
  recall on held-out splits

Run: ``.venv/bin/python benchmarks/generation.py [--segments 2] [-n 12] [--threads 2]
[--repeats 1] [--dtypes auto bfloat16] [--baseline /tmp/base | --baseline none]
[--skip-load] [--skip-embeddings]``
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = Path("/tmp/base")


def load_times(skip_cold: bool) -> None:
    from optimizer.generate.model import load_causal_lm

    if not skip_cold:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["CREATIVE_OPTIMIZER_CACHE"] = tmp
            t0 = time.perf_counter()
            load_causal_lm("smollm2")
            cold = time.perf_counter() - t0
            print(f"model load, cold (convert GGUF + save + load): {cold:6.1f} s")
            del os.environ["CREATIVE_OPTIMIZER_CACHE"]
    load_causal_lm("smollm2")  # make sure the user cache is warm
    t0 = time.perf_counter()
    load_causal_lm("smollm2")
    print(f"model load, cached safetensors:               {time.perf_counter() - t0:6.1f} s")


def worker(tree: Path, args: argparse.Namespace) -> None:
    """Generate with the code of ``tree`` (its own example config) and write the answers and
    the time taken to ``args.out`` as JSON. Runs in its own process."""
    sys.path.insert(0, str(tree))
    import numpy as np

    from optimizer.config import load_config, parse_config
    from optimizer.generate.pipeline import generate_candidates, make_backend

    data = load_config(tree / "configs" / "example.yaml").model_dump()
    data["generation"]["batch_size"] = args.batch_size
    data["generation"]["threads"] = args.threads
    if "dtype" in data["generation"]:  # a tree before generation.dtype has float32 only
        data["generation"]["dtype"] = args.dtype or "auto"
    cfg = parse_config(data, "bench")
    backend = make_backend(cfg)
    names = [s.name for s in cfg.segments][: args.segments]
    generate_candidates(cfg, backend, np.random.default_rng(99), names[:1], 1)  # warm up
    wall, cpu = time.perf_counter(), time.process_time()
    candidates = generate_candidates(cfg, backend, np.random.default_rng(args.seed), names, args.n)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    answers = [
        {
            "segment": c.segment,
            "raw": c.raw,
            "error": c.error,
            **(
                {"headline": c.creative.headline, "body": c.creative.body, "cta": c.creative.cta}
                if c.creative
                else {}
            ),
        }
        for c in candidates
    ]
    Path(args.out).write_text(json.dumps({"wall": wall, "cpu": cpu, "answers": answers}))


def run_worker(tree: Path, args: argparse.Namespace, seed: int, dtype: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    command = [
        sys.executable,
        __file__,
        "--worker",
        str(tree),
        "--out",
        out,
        "--seed",
        str(seed),
        "--segments",
        str(args.segments),
        "-n",
        str(args.n),
        "--batch-size",
        str(args.batch_size),
        *(["--threads", str(args.threads)] if args.threads else []),
        *(["--dtype", dtype] if dtype else []),
    ]
    subprocess.run(command, check=True, cwd=tree)
    try:
        return json.loads(Path(out).read_text())
    finally:
        os.unlink(out)


def screen(results: list[dict]) -> list[tuple[int, int, int, collections.Counter]]:
    """Per result: answers, parsed, kept by this tree's filters, first rejection reasons."""
    from optimizer.config import load_config
    from optimizer.filter.screen import Screener
    from optimizer.generate import seed_creatives
    from optimizer.records import Creative

    cfg = load_config(ROOT / "configs" / "example.yaml")
    screener = Screener.build(cfg)
    out = []
    for result in results:
        answers = result["answers"]
        creatives = [
            Creative.from_text(
                cfg.name, a["headline"], a["body"], a["cta"], segment=a["segment"], source="bench"
            )
            for a in answers
            if a.get("headline")
        ]
        verdicts = screener.screen(creatives, pool=seed_creatives(cfg), select=False)
        first = collections.Counter(v.rejections[0].filter for v in verdicts if not v.kept)
        first["parse"] = len(answers) - len(creatives)
        for v in verdicts:  # kept but for the claims and readability filters of issue 11
            if v.rejections and {r.filter for r in v.rejections} <= {"claims", "readability"}:
                first["(only claims/readability)"] += 1
        out.append((len(answers), len(creatives), sum(v.kept for v in verdicts), first))
    return out


def generation(args: argparse.Namespace) -> None:
    trees = {}
    if args.baseline != "none" and Path(args.baseline).exists():
        trees["baseline"] = (Path(args.baseline), "")
    for dtype in args.dtypes:
        trees["new" if dtype == "auto" else f"new {dtype}"] = (ROOT, dtype)
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for r in range(args.repeats):  # alternate, so all see the same load on a shared machine
        for name, (tree, dtype) in trees.items():
            runs[name].append(run_worker(tree, args, seed=r, dtype=dtype))
    threads = args.threads or "torch default"
    print(
        f"\ngeneration, embedded SmolLM2-135M, {args.segments} segments x 2 prompts x {args.n} "
        f"answers, batch {args.batch_size}, threads {threads}, {args.repeats} repeat(s), "
        f"{os.cpu_count()} cores (shared with other work: compare ratios)"
    )
    rates = {}
    for name, results in runs.items():
        counts = screen(results)
        answers = sum(c[0] for c in counts)
        parsed = sum(c[1] for c in counts)
        kept = sum(c[2] for c in counts)
        first = sum((c[3] for c in counts), collections.Counter())
        wall = sum(x["wall"] for x in results)
        cpu = sum(x["cpu"] for x in results)
        rates[name] = (answers / wall * 60, kept / wall * 60, answers / cpu * 60, kept / cpu * 60)
        print(
            f"  {name:8s} {answers} answers in {wall:.0f} s wall, {cpu:.0f} s CPU: "
            f"{rates[name][0]:.1f} answers/min, {rates[name][1]:.1f} kept/min (wall); "
            f"{rates[name][2]:.1f} answers/CPU-min, {rates[name][3]:.1f} kept/CPU-min; "
            f"parsed {parsed / answers:.0%}, kept {kept / answers:.0%}"
        )
        print(
            f"  {'':8s} first rejection: "
            + ", ".join(f"{k} {v / answers:.0%}" for k, v in first.most_common())
        )
    for name in [n for n in rates if n != "baseline" and "baseline" in rates]:
        pairs = zip(rates[name], rates["baseline"], strict=True)
        ratio = [n / b if b else float("nan") for n, b in pairs]
        print(
            f"  ratio {name}/baseline: answers/min x{ratio[0]:.2f}, kept/min x{ratio[1]:.2f} "
            f"(wall); answers/CPU-min x{ratio[2]:.2f}, kept/CPU-min x{ratio[3]:.2f}"
        )


def embeddings() -> None:
    import numpy as np

    from optimizer.filter.classifier import evaluate_heldout, load_labels
    from optimizer.filter.embed import Embedder

    t0 = time.perf_counter()
    emb = Embedder()
    print(f"\nembedding model load: {time.perf_counter() - t0:.1f} s")
    texts, _, _ = load_labels()
    texts = [f"{t} #{i}" for i in range(3) for t in texts]  # distinct, so no cache hits
    t0 = time.perf_counter()
    emb.encode(texts)
    wall = time.perf_counter() - t0
    print(f"embedding throughput: {len(texts) / wall:.0f} sentences/s ({len(texts)} sentences)")
    results = [evaluate_heldout(emb, seed=s) for s in range(5)]
    p = [r["precision"] for r in results]
    r = [r["recall"] for r in results]
    print(
        f"policy classifier, 5 random 75/25 splits of {sum(load_labels()[1] >= 0)} labelled "
        f"texts: precision {np.mean(p):.3f} (min {min(p):.3f}), recall {np.mean(r):.3f} "
        f"(min {min(r):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--segments", type=int, default=2)
    parser.add_argument("-n", type=int, default=12, help="answers per segment and prompt")
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--dtypes", nargs="+", default=["auto"], help="generation.dtype of the new tree's runs"
    )
    parser.add_argument("--dtype", default="", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", default=str(DEFAULT_BASELINE), help="a tree, or 'none'")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-embeddings", action="store_true")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args)
        return
    sys.path.insert(0, str(ROOT))
    if not args.skip_load:
        load_times(args.skip_cold)
    generation(args)
    if not args.skip_embeddings:
        embeddings()


if __name__ == "__main__":
    main()
