"""A campaign played in rounds: the whole loop, with the refresh stage closing it.

Each round: (1) allocate and observe M simulated impressions, (2) assess every creative per
segment with propensity-corrected CTRs, then, with refresh on, (3) retire, (4) rewrite
prompts, (5) regenerate and rank replacements, (6) refresh the generator with LoRA, and
(7) commit a checkpoint. Every round draws from its own random streams (seed, round), and
the checkpoint holds all state, so ``resume`` continues exactly where a killed run stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from optimizer.config import CampaignConfig
from optimizer.identity import Clock, library_versions, run_key
from optimizer.loop import initial_pool, serve
from optimizer.pool import build_pool
from optimizer.records import Creative, Feedback
from optimizer.refresh.assess import Assessment, CreativeStats
from optimizer.refresh.prompts import PromptArm
from optimizer.rng import Streams

ProgressFactory = Callable[[str, int], Callable[[int], None]]
EVAL_USERS = 1_000


# -- state -------------------------------------------------------------------------------------
@dataclasses.dataclass
class State:
    round: int
    creatives: dict[str, Creative]
    pool: dict[str, list[str]]  # segment -> active creative ids
    stats: CreativeStats
    prompts: list[PromptArm]
    prompt_stats: dict[str, list[float]]  # prompt id -> [clicks, impressions]
    simulator: dict
    generator: dict  # {"version": ..., "adapter": folder or None}
    history: list[dict]

    def to_json(self) -> dict:
        return {
            "round": self.round,
            "creatives": {k: dataclasses.asdict(v) for k, v in self.creatives.items()},
            "pool": self.pool,
            "stats": self.stats.data,
            "prompts": [p.as_dict() for p in self.prompts],
            "prompt_stats": self.prompt_stats,
            "simulator": self.simulator,
            "generator": self.generator,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, d: dict) -> State:
        return cls(
            round=d["round"],
            creatives={k: Creative(**v) for k, v in d["creatives"].items()},
            pool=d["pool"],
            stats=CreativeStats(d["stats"]),
            prompts=[PromptArm(**p) for p in d["prompts"]],
            prompt_stats=d["prompt_stats"],
            simulator=d["simulator"],
            generator=d["generator"],
            history=d["history"],
        )


def _checkpoint(folder: Path, state: State, policy) -> None:
    """Write round ``state.round`` atomically: a folder appears complete or not at all."""
    final = folder / f"round-{state.round:03d}"
    tmp = folder / f".round-{state.round:03d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    policy.save(tmp / "policy.vw")
    (tmp / "state.json").write_text(json.dumps(state.to_json()))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def _latest(folder: Path) -> Path | None:
    done = sorted(p for p in folder.glob("round-*") if (p / "state.json").exists())
    return done[-1] if done else None


# -- the round ---------------------------------------------------------------------------------
class Campaign:
    """Plays rounds of one campaign; holds what is expensive to build (models)."""

    def __init__(
        self,
        cfg: CampaignConfig,
        impressions: int,
        refresh: bool,
        store,
        state_dir: Path,
        generate: bool = True,
        progress: ProgressFactory | None = None,
    ) -> None:
        self.cfg, self.m, self.refresh, self.store = cfg, impressions, refresh, store
        self.generate = generate
        self.progress = progress
        self.streams = Streams(cfg.seed)
        self.run_id = run_key("rounds", cfg.config_hash(), cfg.seed, impressions, refresh, generate)
        self.folder = Path(state_dir) / cfg.name / self.run_id
        self._backend = None
        self._screener = None
        self.segments = [s.name for s in cfg.segments]

    # lazily built models
    @property
    def backend(self):
        if self._backend is None:
            from optimizer.generate.pipeline import make_backend

            self._backend = make_backend(self.cfg)
        return self._backend

    @property
    def screener(self):
        if self._screener is None:
            from optimizer.filter.screen import Screener

            self._screener = Screener.build(self.cfg)
        return self._screener

    def simulator(self, state: State, k: int):
        from simulators.audience import AudienceSimulator

        sim = AudienceSimulator(self.cfg, self.streams.fresh("simulator"))
        if state.simulator:
            sim.restore(state.simulator, self.streams.round(k).fresh("simulator"))
        return sim

    def pool_value(self, sim, pool: dict[str, list[Creative]]) -> float:
        """True mean CTR of the active pool: a fixed sample of users, each segment's active
        creatives equally weighted (what uniform serving of the pool would earn)."""
        users = sim.draw_contexts(EVAL_USERS, np.random.default_rng([self.cfg.seed, 10**6]))
        return float(np.mean([sim.expected_rewards(u, pool[u.segment]).mean() for u in users]))

    # -- start or resume -----------------------------------------------------------------------
    def start(self, resume: bool):
        from optimizer.allocate import make_policy
        from optimizer.allocate.vw import VWPolicy

        latest = _latest(self.folder) if resume else None
        if latest is not None:
            state = State.from_json(json.loads((latest / "state.json").read_text()))
            policy = VWPolicy.load(latest / "policy.vw")
            if state.generator.get("adapter"):
                self.backend.load_adapter(Path(state.generator["adapter"]))
            return state, policy
        shutil.rmtree(self.folder, ignore_errors=True)
        cfg = self.cfg
        if self.store is not None:
            self.store.save_campaign(cfg)
        creatives, _ = initial_pool(
            cfg, self.streams, self.generate, True, self.store, self.progress
        )
        creatives = [dataclasses.replace(c, lineage={**c.lineage, "round": 0}) for c in creatives]
        pool = build_pool(creatives, self.segments)
        alloc = cfg.allocation
        policy = make_policy(
            "vw",
            seed=self.streams.int_seed("policy"),
            exploration=alloc.exploration,
            params=dict(alloc.params),
        )
        prompts = [PromptArm(id=p.id, template=p.template, system=p.system) for p in cfg.prompts]
        version = self.backend.info.version if self.generate and cfg.prompts else None
        state = State(
            round=0,
            creatives={c.id: c for c in creatives},
            pool={s: [c.id for c in cs] for s, cs in pool.items()},
            stats=CreativeStats(),
            prompts=prompts,
            prompt_stats={},
            simulator={},
            generator={"version": version, "adapter": None},
            history=[],
        )
        sim = self.simulator(state, 0)
        state.history.append(
            {
                "round": 0,
                "pool_true_ctr": self.pool_value(sim, self._pool(state)),
                "pool_size": {s: len(v) for s, v in state.pool.items()},
            }
        )
        return state, policy

    def _pool(self, state: State) -> dict[str, list[Creative]]:
        return {s: [state.creatives[i] for i in ids] for s, ids in state.pool.items()}

    # -- one round -----------------------------------------------------------------------------
    def play(self, state: State, policy) -> State:
        k = state.round + 1
        streams = self.streams.round(k)
        cfg = self.cfg
        sim = self.simulator(state, k)
        pool = self._pool(state)
        # wall time per stage: stored with the round, kept out of the checkpoint (which must
        # be identical for a resumed run)
        self.seconds = Counter()
        t0 = time.perf_counter()

        # 1. Allocate and observe: M impressions, events logged with their probabilities.
        served: list[Feedback] = []

        def sink(batch: list[Feedback]) -> None:
            served.extend(batch)
            if self.store is not None:
                self.store.log(batch, run_id=self.run_id)

        start = datetime.fromisoformat(cfg.simulator.start).timestamp()
        clock = Clock(
            start + (k - 1) * self.m * 86_400 / cfg.simulator.impressions_per_day,
            86_400 / cfg.simulator.impressions_per_day,
        )
        bar = self.progress(f"round {k}: serving", self.m) if self.progress else None
        tally = serve(
            sim,
            pool,
            policy,
            self.m,
            cfg.allocation.batch_size,
            streams,
            cfg.name,
            f"{self.run_id}-r{k:03d}",
            clock,
            sink,
            bar,
        )

        self.seconds["allocate"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        # 2. Assess: propensity-corrected CTR per segment and creative, all rounds and this one.
        previous = {(s, c): state.stats.assess(s, c) for s, ids in state.pool.items() for c in ids}
        state.stats.update(served)
        recent_stats = CreativeStats()
        recent_stats.update(served)
        assessments = {s: [state.stats.assess(s, c) for c in ids] for s, ids in state.pool.items()}
        recent = {
            (a.segment, a.creative_id): recent_stats.assess(a.segment, a.creative_id)
            for rows in assessments.values()
            for a in rows
        }
        self._prompt_rewards(state, served)
        metrics = self._round_metrics(k, tally, state, assessments)
        self.seconds["assess"] += time.perf_counter() - t0
        t0 = time.perf_counter()

        retired: list[tuple[str, str]] = []
        generator_row = None
        if self.refresh:
            # 3. Retire: confidently worse than the segment's best, fatigued, or over the
            # pool size.
            from optimizer.refresh.retire import choose_retirements

            r = cfg.refresh
            for ret in choose_retirements(
                assessments,
                recent,
                previous,
                r.min_events,
                r.fatigue_drop,
                keep_at_least=2,
                capacity=r.pool_size,
            ):
                state.pool[ret.segment].remove(ret.creative_id)
                metrics["retirements"].append(dataclasses.asdict(ret))
                if not any(ret.creative_id in ids for ids in state.pool.values()):
                    retired.append((ret.creative_id, ret.reason))
            self.seconds["retire"] += time.perf_counter() - t0
            if self.generate and cfg.prompts:
                t0 = time.perf_counter()
                # 4. Rewrite prompts from evidence; retire the weakest.
                self._rewrite_prompts(state, assessments, k, streams, metrics)
                self.seconds["prompts"] += time.perf_counter() - t0
                # 5. Regenerate: fill each segment back to pool_size, best-scored first.
                self._regenerate(state, k, streams, metrics)
                t0 = time.perf_counter()
                # 6. Refresh the generator with LoRA on the winners, every few rounds.
                generator_row = self._finetune(state, assessments, k, metrics)
                self.seconds["finetune"] += time.perf_counter() - t0
        t0 = time.perf_counter()

        # 7. Commit: the checkpoint, then the round in the store.
        state.simulator = sim.state()
        state.round = k
        metrics["pool_true_ctr"] = self.pool_value(sim, self._pool(state))
        metrics["pool_size"] = {s: len(v) for s, v in state.pool.items()}
        state.history.append(metrics)
        _checkpoint(self.folder, state, policy)
        if self.store is not None:
            from optimizer.store.models import RoundRow

            self.store.add_creatives(
                [state.creatives[i] for ids in state.pool.values() for i in ids]
            )
            self.store.save_round(
                RoundRow(
                    run_id=self.run_id,
                    round=k,
                    campaign=cfg.name,
                    refresh=self.refresh,
                    metrics={**metrics, "seconds": self._rounded_seconds(t0)},
                ),
                retired,
                generator_row,
            )
        self.last_seconds = self._rounded_seconds(t0)
        return state

    def _rounded_seconds(self, commit_start: float) -> dict[str, float]:
        seconds = dict(self.seconds)
        seconds["commit"] = time.perf_counter() - commit_start
        return {k: round(v, 3) for k, v in seconds.items()}

    # -- pieces of a round ---------------------------------------------------------------------
    def _prompt_rewards(self, state: State, served: list[Feedback]) -> None:
        for fb in served:
            pid = state.creatives[fb.decision.chosen].prompt_id
            if pid is not None:
                row = state.prompt_stats.setdefault(pid, [0.0, 0.0])
                row[0] += fb.reward
                row[1] += 1

    def _round_metrics(
        self, k: int, tally, state: State, assessments: dict[str, list[Assessment]]
    ) -> dict:
        n = max(tally.impressions, 1)
        shares = {
            s: {
                cid: round(ct.shown / max(seg.impressions, 1), 4)
                for cid, ct in seg.creatives.items()
            }
            for s, seg in tally.segments.items()
        }
        by_version: Counter = Counter()
        shown_by_version: Counter = Counter()
        for seg in tally.segments.values():
            for cid, ct in seg.creatives.items():
                v = state.creatives[cid].generator_version or "seed"
                by_version[v] += ct.clicks
                shown_by_version[v] += ct.shown
        return {
            "round": k,
            "impressions": tally.impressions,
            "clicks": int(tally.clicks),
            "served_ctr": round(tally.clicks / n, 6),
            "expected_ctr": round(tally.expected / n, 6),
            "oracle_ctr": round(tally.oracle_expected / n, 6),
            "uniform_ctr": round(tally.uniform_expected / n, 6),
            "regret": round(tally.regret, 3),
            "shares": shares,
            "assessments": {
                s: [dataclasses.asdict(a) for a in rows] for s, rows in assessments.items()
            },
            "prompts": {
                p.id: {
                    "clicks": state.prompt_stats.get(p.id, [0, 0])[0],
                    "impressions": state.prompt_stats.get(p.id, [0, 0])[1],
                    "source": p.source,
                    "parent": p.parent,
                }
                for p in state.prompts
            },
            "generator_versions": {
                v: {"impressions": int(shown_by_version[v]), "clicks": int(by_version[v])}
                for v in shown_by_version
            },
            "retirements": [],
            "new_creatives": [],
            "generator": state.generator.get("version"),
        }

    def _rewrite_prompts(self, state, assessments, k, streams, metrics) -> None:
        from optimizer.generate.backends import ChatRequest, Sampling
        from optimizer.refresh.prompts import clean_instruction, meta_prompt, mutate, weakest

        ranked = sorted(
            (a for rows in assessments.values() for a in rows if a.shown), key=lambda a: -a.ctr
        )
        winners = [state.creatives[a.creative_id] for a in ranked[:3]]
        losers = [state.creatives[a.creative_id] for a in ranked[-3:]]
        scored = [(state.creatives[a.creative_id], a.ctr) for a in ranked[:3] + ranked[-2:]]
        request = ChatRequest(
            "You improve instructions for writing ads.",
            meta_prompt(self.cfg.product, self.cfg.brief, scored),
            "",
        )
        raw = self.backend.complete(
            [request],
            Sampling(max_new_tokens=40, stop=("\n",)),
            int(streams.fresh("generate").integers(2**31 - 1)),
        )[0]
        instruction = clean_instruction(raw)
        best_prompt = max(
            state.prompts,
            key=lambda p: (
                (1 + state.prompt_stats.get(p.id, [0, 0])[0])
                / (2 + state.prompt_stats.get(p.id, [0, 0])[1])
            ),
        )
        child = mutate(best_prompt, winners, losers, k, f"{best_prompt.id}-r{k}", instruction)
        state.prompts.append(child)
        for pid, reason in weakest(state.prompts, state.prompt_stats, self.cfg.refresh.max_prompts):
            state.prompts = [p for p in state.prompts if p.id != pid]
            metrics.setdefault("prompt_retirements", []).append({"prompt": pid, "reason": reason})
        metrics["prompt_written"] = {
            "id": child.id,
            "parent": child.parent,
            "instruction": instruction,
            "raw": raw[:200],
        }

    def _regenerate(self, state: State, k: int, streams: Streams, metrics: dict) -> None:
        from optimizer.config import PromptVariant
        from optimizer.filter.features import with_text_features
        from optimizer.generate.pipeline import generate_candidates
        from optimizer.refresh.prompts import thompson_budget
        from optimizer.refresh.scorer import CreativeScorer, Outcome, admit

        r = self.cfg.refresh
        rng = streams.fresh("generate")
        openings = {
            s: r.pool_size - len(ids) for s, ids in state.pool.items() if len(ids) < r.pool_size
        }
        if not openings:
            return
        # the scorer learns from every (segment, creative) outcome so far
        outcomes = []
        for key, (_, shown, _, _, clicks) in state.stats.data.items():
            segment, cid = key.split("\x1f")
            c = state.creatives.get(cid)
            if c is not None and shown:
                outcomes.append(
                    Outcome(segment, c.headline, c.body, c.cta, int(shown), int(clicks))
                )
        t_fit = time.perf_counter()
        scorer = CreativeScorer(self.screener.embedder).fit(outcomes) if outcomes else None
        self.seconds["rank"] += time.perf_counter() - t_fit
        live = [state.creatives[i] for ids in state.pool.values() for i in ids]
        for segment, need in sorted(openings.items()):
            budget = thompson_budget(
                state.prompts, state.prompt_stats, need * r.candidates_per_slot, rng
            )
            candidates = []
            for pid, n in sorted(budget.items()):
                arm = next(p for p in state.prompts if p.id == pid)
                cfg = self.cfg.model_copy(
                    update={
                        "prompts": [
                            PromptVariant(id=arm.id, template=arm.template, system=arm.system)
                        ]
                    }
                )
                t0 = time.perf_counter()
                candidates += generate_candidates(cfg, self.backend, rng, [segment], n)
                self.seconds["generate"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            made = [
                dataclasses.replace(c.creative, lineage={**c.creative.lineage, "round": k})
                for c in candidates
                if c.creative is not None
            ]
            verdicts = self.screener.screen(made, pool=live, select=False)
            kept = [v.creative for v in verdicts if v.kept]
            self.seconds["filter"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            if scorer is not None and kept:
                # rank by predicted CTR and admit only candidates predicted to beat the
                # segment's active creatives on average (the 135M generator mostly writes
                # weaker copy than what won)
                order = admit(
                    scorer,
                    segment,
                    [(c.headline, c.body, c.cta) for c in kept],
                    [
                        (c.headline, c.body, c.cta)
                        for c in (state.creatives[i] for i in state.pool[segment])
                    ],
                )
                metrics.setdefault("gated_out", 0)
                metrics["gated_out"] += len(kept) - len(order)
                kept = [kept[i] for i in order]
            self.seconds["rank"] += time.perf_counter() - t0
            chosen = with_text_features(kept[:need], self.screener.embedder)
            if len(chosen) < need:
                # the slot stays open until a candidate is predicted to beat the pool
                metrics.setdefault("unfilled", {})[segment] = need - len(chosen)
            for c in chosen:
                state.creatives[c.id] = c
                state.pool[segment].append(c.id)
                live.append(c)
            if self.store is not None:
                self.store.add_verdicts(self.cfg.name, f"{self.run_id}-r{k}-{segment}", verdicts)
            metrics["new_creatives"] += [
                {
                    "id": c.id,
                    "segment": segment,
                    "prompt": c.prompt_id,
                    "headline": c.headline,
                    "generator": c.generator_version,
                }
                for c in chosen
            ]

    def _finetune(self, state: State, assessments, k: int, metrics: dict):
        from optimizer.config import PromptVariant
        from optimizer.generate.prompts import pick_examples, render
        from optimizer.refresh.finetune import build_examples, lora_refresh, write_jsonl
        from optimizer.store.models import GeneratorRow

        ft = self.cfg.refresh.finetune
        if not ft.enabled or k % ft.every:
            return None
        prompts = {p.id: p for p in state.prompts}
        rng = np.random.default_rng([self.cfg.seed, k, 7])

        def messages(c: Creative):
            arm = prompts.get(c.prompt_id or "") or (state.prompts[0] if state.prompts else None)
            if arm is None or c.segment is None and not self.cfg.segments:
                return None
            segment = c.segment or self.cfg.segments[0].name
            req = render(
                self.cfg,
                PromptVariant(id=arm.id, template=arm.template, system=arm.system),
                segment,
                pick_examples(self.cfg, segment, self.cfg.generation.examples, rng),
            )
            return [
                {"role": "system", "content": req.system},
                {"role": "user", "content": req.user},
            ]

        sft, prefs = build_examples(assessments, state.creatives, messages)
        folder = self.folder / "finetune" / f"round-{k:03d}"
        data_hash = write_jsonl(sft, folder / "sft.jsonl")
        write_jsonl(prefs, folder / "preferences.jsonl")
        metrics["finetune_data"] = {
            "sft": len(sft),
            "preferences": len(prefs),
            "folder": str(folder),
        }
        if len(sft) < ft.min_examples:
            return None
        version = lora_refresh(
            self.backend,
            sft,
            folder / "adapter",
            ft.steps,
            ft.batch_size,
            ft.learning_rate,
            ft.rank,
            self.cfg.seed + k,
            data_hash,
        )
        state.generator = {"version": version.version, "adapter": version.adapter}
        metrics["generator_refresh"] = version.as_dict()
        return GeneratorRow(
            version=version.version,
            campaign=self.cfg.name,
            base=version.base,
            adapter=version.adapter,
            data_hash=data_hash,
            metrics=version.metrics,
        )


def run_rounds(
    cfg: CampaignConfig,
    rounds: int,
    impressions: int,
    refresh: bool = True,
    store=None,
    state_dir: Path = Path("runs"),
    resume: bool = False,
    generate: bool = True,
    progress: ProgressFactory | None = None,
) -> dict:
    """Play ``rounds`` rounds (resuming from the last checkpoint with ``resume``)."""
    campaign = Campaign(cfg, impressions, refresh, store, state_dir, generate, progress)
    state, policy = campaign.start(resume)
    if store is not None and state.round == 0:
        from optimizer.store.models import RunRow

        store.start_run(
            RunRow(
                id=campaign.run_id,
                campaign=cfg.name,
                kind="rounds",
                policy="vw",
                seed=cfg.seed,
                config_hash=cfg.config_hash(),
                impressions=impressions * rounds,
                batch_size=1,
                versions=library_versions(),
            )
        )
    while state.round < rounds:
        state = campaign.play(state, policy)
    history = state.history
    summary = {
        "campaign": cfg.name,
        "run_id": campaign.run_id,
        "seed": cfg.seed,
        "refresh": refresh,
        "rounds": [
            {
                k: h[k]
                for k in (
                    "round",
                    "served_ctr",
                    "expected_ctr",
                    "oracle_ctr",
                    "uniform_ctr",
                    "regret",
                    "pool_true_ctr",
                )
                if k in h
            }
            for h in history
        ],
        "initial_pool_true_ctr": history[0]["pool_true_ctr"],
        "final_pool_true_ctr": history[-1]["pool_true_ctr"],
        "retirements": sum(len(h.get("retirements", [])) for h in history),
        "new_creatives": sum(len(h.get("new_creatives", [])) for h in history),
        "generator": state.generator.get("version"),
    }
    summary["pool_lift"] = round(
        summary["final_pool_true_ctr"] / max(summary["initial_pool_true_ctr"], 1e-12), 4
    )
    if store is not None:
        store.finish_run(campaign.run_id, summary)
    return summary
