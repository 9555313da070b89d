"""Generation and filter benchmarks on this machine's CPU. Prints numbers; asserts nothing.

- model load time: cold (GGUF -> safetensors conversion into an empty cache) and cached
- generation throughput: raw creatives per minute, kept after the filters
- embedding throughput (sentences per second)
- filter pass rates by first rejection reason
- the policy classifier's precision and recall on held-out splits

Run: ``.venv/bin/python benchmarks/generation.py [--segments 2] [-n 8] [--skip-cold]``
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.config import load_config  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "example.yaml"


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


def generation(segments: int, n: int, batch_size: int) -> None:
    from optimizer.config import apply_overrides
    from optimizer.generate.pipeline import generate_candidates, make_backend

    cfg = load_config(EXAMPLE)
    data = cfg.model_dump()
    data["generation"]["batch_size"] = batch_size
    from optimizer.config import parse_config

    cfg = apply_overrides(parse_config(data, "bench"))
    backend = make_backend(cfg)
    names = [s.name for s in cfg.segments][:segments]
    t0 = time.perf_counter()
    candidates = generate_candidates(cfg, backend, np.random.default_rng(0), names, n)
    wall = time.perf_counter() - t0
    print(
        f"\ngeneration, batch {batch_size}, {len(candidates)} answers "
        f"({segments} segments x {len(cfg.prompts)} prompts x {n}): {wall:.1f} s, "
        f"{len(candidates) / wall * 60:.1f} raw creatives/min, "
        f"{wall / len(candidates):.2f} s each"
    )

    from optimizer.filter.screen import Screener
    from optimizer.generate import seed_creatives

    screener = Screener.build(cfg)
    creatives = [c.creative for c in candidates if c.creative is not None]
    t0 = time.perf_counter()
    verdicts = screener.screen(creatives, pool=seed_creatives(cfg))
    screen_wall = time.perf_counter() - t0
    kept = sum(v.kept for v in verdicts)
    print(
        f"filters: {len(creatives)} parsed of {len(candidates)}, {kept} kept "
        f"({kept / wall * 60:.1f} kept creatives/min of generation); screening took "
        f"{screen_wall:.1f} s"
    )
    first = collections.Counter(v.rejections[0].filter for v in verdicts if not v.kept)
    first["parse"] = len(candidates) - len(creatives)
    total = len(candidates)
    print(
        "pass rates: kept {:.0%}; first reason: {}".format(
            kept / total, ", ".join(f"{k} {v / total:.0%}" for k, v in first.most_common())
        )
    )
    per_segment = collections.Counter(v.creative.segment for v in verdicts if v.kept)
    print("kept per segment:", dict(per_segment))


def embeddings() -> None:
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
    parser.add_argument("-n", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    load_times(args.skip_cold)
    generation(args.segments, args.n, args.batch_size)
    embeddings()


if __name__ == "__main__":
    main()
