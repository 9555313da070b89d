"""Generator refresh benchmark: does training on what the audience rewarded make the
generator's raw candidates better? Prints numbers; asserts nothing.

Per seed, on a campaign file (default ``configs/example.yaml``):

1. The pool: the seed creatives plus ``--pool-generated`` base-model candidates per segment.
2. ``--rounds`` rounds of ``--impressions`` simulated users served by epsilon-greedy on the
   previous rounds' click rates (the propensity of every choice is logged).
3. From those logs: winners and significant preference pairs per segment
   (``optimizer.refresh.preferences``), rendered with the campaign's prompts; a LoRA adapter
   trained on them (``optimizer.refresh.lora``: ``--method sft`` or ``dpo``, ``--steps``,
   ``--lr``, ``--rank``, ``--batch-size``); wall and CPU seconds of the training.
4. Base and trained generator write ``-n`` raw candidates per segment and prompt on the same
   prompts and seeds (``optimizer.refresh.generator.compare_generators``), judged by the
   simulator's true CTR (mean over ``--eval-users`` users of the segment). Candidates that
   repeat a pool creative's text are copies: counted, left out of the means.

The simulator is used to serve the rounds and to judge, never by the trained code. The
machine's cores may be shared: the load average is printed, CPU seconds are the steadier
figure.

``--time-trl S``: instead, time ``S`` steps of TRL's ``SFTTrainer`` and ``DPOTrainer`` (LoRA
through ``peft_config``) against this project's loop on the same rows.

Run: ``.venv/bin/python benchmarks/generator.py [--seeds 7 8 9] [--method sft] [--steps 8]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.config import CampaignConfig, load_config  # noqa: E402
from optimizer.records import Context, Creative, Decision, Feedback  # noqa: E402
from optimizer.rng import Streams  # noqa: E402


def base_pool(cfg: CampaignConfig, backend, per_segment: int, rng) -> dict[str, list[Creative]]:
    """Seed creatives plus the base model's parsed candidates, per segment."""
    from optimizer.generate.pipeline import generate_candidates

    seeds = [
        Creative.from_text(cfg.name, s.headline, s.body, s.cta, segment=s.segment)
        for s in cfg.seed_creatives
    ]
    pool = {s.name: [c for c in seeds if c.segment in (None, s.name)] for s in cfg.segments}
    if per_segment:
        n = max(1, per_segment // max(len(cfg.prompts), 1))
        for cand in generate_candidates(cfg, backend, rng, None, n):
            if cand.creative is not None and cand.creative.id not in {
                c.id for c in pool[cand.segment]
            }:
                pool[cand.segment].append(cand.creative)
    return pool


def serve(cfg, sim, pool, rounds: int, impressions: int, eps: float, streams) -> list[Feedback]:
    """Epsilon-greedy per segment on the earlier rounds' click rates; logs propensities."""
    users_rng, clicks_rng, policy_rng = (streams.fresh(x) for x in ("users", "clicks", "policy"))
    shown = {s: np.zeros(len(cs)) for s, cs in pool.items()}
    clicks = {s: np.zeros(len(cs)) for s, cs in pool.items()}
    out = []
    for k in range(rounds):
        rate = {s: (clicks[s] + 1) / (shown[s] + 50) for s in pool}  # shrunk to ~2%
        for i, u in enumerate(sim.draw_contexts(impressions, users_rng)):
            cs = pool[u.segment]
            p = np.full(len(cs), eps / len(cs))
            p[int(np.argmax(rate[u.segment]))] += 1 - eps
            j = int(policy_rng.choice(len(cs), p=p))
            r = float(clicks_rng.random() < sim.expected_rewards(u, [cs[j]])[0])
            shown[u.segment][j] += 1
            clicks[u.segment][j] += r
            d = Decision(
                f"r{k}-{i}",
                float(i),
                cfg.name,
                u,
                tuple(c.id for c in cs),
                cs[j].id,
                float(p[j]),
                "eps-greedy",
                str(k),
            )
            out.append(Feedback(d, r))
    return out


def truth_judge(sim, users: list[Context]):
    by_segment: dict[str, list[Context]] = {}
    for u in users:
        by_segment.setdefault(u.segment, []).append(u)

    def judge(segment: str, creatives) -> list[float]:
        us = by_segment[segment]
        return [float(np.mean([sim.expected_rewards(u, [c])[0] for u in us])) for c in creatives]

    return judge


def one_seed(args, cfg: CampaignConfig, backend, seed: int) -> dict:
    from optimizer.refresh.generator import compare_generators, text_key
    from optimizer.refresh.lora import restore, snapshot, train
    from optimizer.refresh.preferences import (
        assessments_of,
        dpo_rows,
        generation_prompts,
        preference_pairs,
        sft_rows,
        winners,
    )
    from simulators.audience import AudienceSimulator

    streams = Streams(seed)
    base = snapshot(backend)
    sim = AudienceSimulator(cfg, streams.fresh("simulator"))
    pool = base_pool(cfg, backend, args.pool_generated, streams.fresh("generate"))
    logs = serve(cfg, sim, pool, args.rounds, args.impressions, args.eps, streams)
    assessed = assessments_of(logs)
    creatives = {c.id: c for cs in pool.values() for c in cs}
    rng = streams.fresh("finetune")
    prompt_of = generation_prompts(cfg, cfg.prompts, rng)
    sft = sft_rows(winners(assessed, top=args.top), creatives, prompt_of)
    dpo = dpo_rows(preference_pairs(assessed), creatives, prompt_of)
    result = train(
        backend,
        sft,
        dpo,
        args.method,
        args.steps,
        args.batch_size,
        args.lr,
        args.rank,
        rng,
        beta=args.beta,
    )
    backend.save_adapter(Path(args.out) / f"seed-{seed}")
    child = snapshot(backend)
    judge = truth_judge(sim, sim.draw_contexts(args.eval_users, streams.fresh("evaluation")))
    known = {text_key(c.headline, c.body) for c in creatives.values()}
    cmp = compare_generators(
        cfg, backend, base, child, judge, streams.fresh("bootstrap"), args.n, known=known
    )
    restore(backend, base)
    best = [(r["segment"], creatives[r["ids"][0]]) for r in sft]
    return {
        "seed": seed,
        "pool": sum(len(v) for v in pool.values()),
        "sft": len(sft),
        "pairs": len(dpo),
        "train_wall": result.seconds,
        "train_cpu": result.cpu_seconds,
        "losses": result.losses,
        "cmp": cmp,
        "pool_ctr": float(np.mean([np.mean(judge(s, cs)) for s, cs in pool.items()])),
        "winners_ctr": float(np.mean([judge(s, [c])[0] for s, c in best])) if best else 0.0,
    }


def show(r: dict) -> None:
    c = r["cmp"]
    print(
        f"seed {r['seed']}: pool {r['pool']}, sft rows {r['sft']}, pairs {r['pairs']}, "
        f"train {r['train_wall']:.1f} s wall / {r['train_cpu']:.1f} s CPU, loss "
        f"{r['losses'][0]:.3f} -> {r['losses'][-1]:.3f}; true CTR: pool {r['pool_ctr']:.5f}, "
        f"winners trained on {r['winners_ctr']:.5f}"
    )
    for name, side in (("base ", c.parent), ("child", c.child)):
        print(
            f"  {name} {side.version[-22:]:>22}: parsed {side.parsed}/{side.requests}, copies "
            f"{side.copies}, mean true CTR {side.mean:.5f}  "
            + " ".join(f"{s[:8]}={v:.4f}" for s, v in side.per_segment.items())
        )
    print(f"  ratio child/base {c.ratio:.3f}; {'keep' if c.keep else 'revert'}: {c.reason}")


def time_trl(args, cfg: CampaignConfig, backend) -> None:
    """Seconds per step of TRL's trainers and of this project's loop on the same rows."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    from optimizer.refresh.lora import restore, snapshot, train
    from optimizer.refresh.preferences import answer, generation_prompts

    rng = np.random.default_rng(0)
    prompt_of = generation_prompts(cfg, cfg.prompts, rng)
    seeds = [Creative.from_text(cfg.name, s.headline, s.body, s.cta) for s in cfg.seed_creatives]
    segs = [s.name for s in cfg.segments]
    rows = []
    for i in range(4 * args.batch_size):
        seg, win, lose = segs[i % len(segs)], seeds[i % len(seeds)], seeds[(i + 5) % len(seeds)]
        prompt = prompt_of(seg, win)
        rows.append((prompt, answer(win), answer(lose)))
    sft = [{"messages": [*p, {"role": "assistant", "content": a}]} for p, a, _ in rows]
    dpo = [
        {
            "prompt": p,
            "chosen": [{"role": "assistant", "content": a}],
            "rejected": [{"role": "assistant", "content": b}],
        }
        for p, a, b in rows
    ]
    steps, bs = args.time_trl, args.batch_size
    base = snapshot(backend)
    for method in ("sft", "dpo"):
        t = time.perf_counter(), time.process_time()
        train(backend, sft, dpo, method, steps, bs, args.lr, args.rank, np.random.default_rng(0))
        wall, cpu = time.perf_counter() - t[0], time.process_time() - t[1]
        print(
            f"this loop {method}: {steps} steps x {bs}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
            f"{cpu / steps:.1f} s CPU/step"
        )
        restore(backend, base)
    lora = LoraConfig(
        r=args.rank,
        lora_alpha=2 * args.rank,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    common = dict(
        output_dir=str(Path(args.out) / "trl"),
        max_steps=steps,
        per_device_train_batch_size=bs,
        learning_rate=args.lr,
        save_strategy="no",
        report_to=[],
        gradient_checkpointing=False,
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        logging_steps=1,
    )
    from transformers import AutoModelForCausalLM

    for method in ("sft", "dpo"):
        model = AutoModelForCausalLM.from_pretrained(backend.info.path)
        t = time.perf_counter(), time.process_time()
        if method == "sft":
            trainer = SFTTrainer(
                model=model,
                args=SFTConfig(**common, completion_only_loss=True),
                train_dataset=Dataset.from_list(sft),
                processing_class=backend.tokenizer,
                peft_config=lora,
            )
        else:
            trainer = DPOTrainer(
                model=model,
                args=DPOConfig(**common, beta=args.beta),
                train_dataset=Dataset.from_list(dpo),
                processing_class=backend.tokenizer,
                peft_config=lora,
            )
        setup = time.process_time() - t[1]
        trainer.train()
        wall, cpu = time.perf_counter() - t[0], time.process_time() - t[1]
        print(
            f"TRL {method}: {steps} steps x {bs}: {wall:.1f} s wall, {cpu:.1f} s CPU "
            f"(setup {setup:.1f} s CPU), {(cpu - setup) / steps:.1f} s CPU/step"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(ROOT / "configs" / "example.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--impressions", type=int, default=10_000)
    parser.add_argument("--eps", type=float, default=0.3)
    parser.add_argument("--pool-generated", type=int, default=4)
    parser.add_argument("--top", type=int, default=2)
    parser.add_argument("--method", choices=["sft", "dpo"], default="sft")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("-n", type=int, default=4, help="candidates per segment and prompt")
    parser.add_argument("--eval-users", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="/tmp/generator-benchmark")
    parser.add_argument("--time-trl", type=int, default=0, metavar="STEPS")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from optimizer.generate.pipeline import make_backend

    cfg = load_config(args.config)
    backend = make_backend(cfg)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {vars(args)}")
    if args.time_trl:
        time_trl(args, cfg, backend)
        return
    results = []
    for seed in args.seeds:
        t = time.perf_counter()
        results.append(one_seed(args, cfg, backend, seed))
        show(results[-1])
        print(f"  seed wall {time.perf_counter() - t:.0f} s; load {os.getloadavg()[0]:.1f}")
    base = np.mean([r["cmp"].parent.mean for r in results])
    child = np.mean([r["cmp"].child.mean for r in results])
    print(
        f"mean over seeds: base {base:.5f}, child {child:.5f}, ratio {child / base:.3f}; "
        f"per seed {[round(r['cmp'].ratio, 3) for r in results]}"
    )


if __name__ == "__main__":
    main()
