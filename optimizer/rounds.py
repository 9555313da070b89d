"""A campaign played in rounds: the whole loop, with the refresh stage closing it.

Each round (``Campaign.play``): (1) allocate and observe M simulated impressions, (2) assess
every creative per segment with propensity-corrected CTRs and credit the operators with
their children's reward, then, with refresh on, (3) retire, (4) rewrite a prompt, (5)
regenerate: best-of-N candidates from the operators, screened, ranked by the scorer and
gated by the pool's posterior, (6) refresh the generator with LoRA, and (7) measure the
round against the simulator's truth and commit it: to the store, then its checkpoint.
Every round draws from its own random streams (seed, round), and the checkpoint holds all
state, so ``resume`` continues exactly where a killed run stopped.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from optimizer.allocate import Policy, config_policy
from optimizer.config import CampaignConfig
from optimizer.identity import run_key
from optimizer.loop import (
    Serving,
    campaign_clock,
    initial_batch,
    initial_pool,
    run_row,
    serve,
    store_pool,
)
from optimizer.observe import Tally
from optimizer.pool import build_pool
from optimizer.records import Feedback
from optimizer.refresh import checkpoint
from optimizer.refresh.assess import CreativeStats, assess_round
from optimizer.refresh.finetune import GeneratorRefresh, refresh_generator
from optimizer.refresh.measure import Truth, composition
from optimizer.refresh.metrics import InitialPool, RoundMetrics, prompt_lines, served
from optimizer.refresh.models import Models
from optimizer.refresh.operators.bandit import arm_of, credit
from optimizer.refresh.prompts import PromptArm
from optimizer.refresh.regenerate import Regeneration, fit_scorer, regenerate, room
from optimizer.refresh.retire import Retirement, choose_retirements
from optimizer.refresh.rewrite import PromptRewrite, rewrite_prompt, rewrite_segment
from optimizer.refresh.state import State
from optimizer.refresh.summary import measure, prompt_credit, refresh_metrics, summarise
from optimizer.refresh.timing import Stopwatch
from optimizer.rng import Streams
from optimizer.summaries import RoundsSummary

ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclasses.dataclass(frozen=True)
class Refreshed:
    """What steps 3-6 did to the pool in one round."""

    retirements: tuple[Retirement, ...] = ()
    gone: tuple[tuple[str, str], ...] = ()  # (creative id, reason) no segment serves any more
    rewrite: PromptRewrite | None = None
    regeneration: Regeneration = dataclasses.field(
        default_factory=lambda: Regeneration({}, {}, None, {})
    )
    generator: GeneratorRefresh | None = None


class Campaign:
    """Plays rounds of one campaign: its settings, random streams, models and state folder."""

    def __init__(
        self,
        cfg: CampaignConfig,
        impressions: int,
        refresh: bool,
        store,  # optimizer.store.Store | None
        state_dir: Path,
        generate: bool = True,
        progress: ProgressFactory | None = None,
        models: Models | None = None,
        create: bool = True,
    ) -> None:
        """``generate``: let the LLM write (the initial pool's candidates, prompt rewrites,
        the LLM operators, the generator refresh). ``create``: the refresh makes new
        creatives; off, it only retires (the ``retire-only`` control)."""
        self.cfg, self.m, self.refresh, self.store = cfg, impressions, refresh, store
        self.generate, self.create = generate, create
        self.progress = progress
        self.streams = Streams(cfg.seed)
        key = ("rounds", cfg.config_hash(), cfg.seed, impressions, refresh, generate)
        self.run_id = run_key(*key) if create else run_key(*key, "retire-only")
        self.folder = Path(state_dir) / cfg.name / self.run_id
        self.models = models or Models(cfg)
        self.segments = [s.name for s in cfg.segments]
        self.last_seconds: dict[str, float] = {}

    def simulator(self, saved: dict, k: int):
        """The audience before round ``k``, restored from its ``saved`` state (if any)."""
        from simulators.audience import AudienceSimulator

        sim = AudienceSimulator(self.cfg, self.streams.fresh("simulator"))
        if saved:
            sim.restore(saved, self.streams.round(k).fresh("simulator"))
        return sim

    def truth(self, sim) -> Truth:
        """True CTRs on the same evaluation users every round (to measure, never to decide)."""
        return Truth(sim, self.streams.fresh("evaluation"))

    # -- start or resume -----------------------------------------------------------------------
    def start(self, resume: bool) -> tuple[State, Policy]:
        """The last checkpoint with ``resume`` (when there is one), else round 0: the initial
        pool, generated and screened, stored only once every segment can be served."""
        latest = checkpoint.latest(self.folder) if resume else None
        if latest is not None:
            state, policy = checkpoint.read(latest)
            self.models.load_adapter(state.generator.get("adapter"))
            return state, policy
        shutil.rmtree(self.folder, ignore_errors=True)
        cfg = self.cfg
        creatives, verdicts = initial_pool(cfg, self.streams, self.generate, True, self.progress)
        creatives = [dataclasses.replace(c, lineage={**c.lineage, "round": 0}) for c in creatives]
        pool = build_pool(creatives, self.segments)
        if self.store is not None:
            store_pool(self.store, cfg, initial_batch(cfg, self.generate), creatives, verdicts)
        policy = config_policy(cfg, self.streams)
        version = self.models.backend.info.version if self.generate and cfg.prompts else None
        truth = self.truth(self.simulator({}, 0))
        state = State(
            round=0,
            policy=policy.name,
            creatives={c.id: c for c in creatives},
            pool={s: [c.id for c in cs] for s, cs in pool.items()},
            stats=CreativeStats(),
            prompts=[PromptArm(id=p.id, template=p.template, system=p.system) for p in cfg.prompts],
            prompt_stats={},
            simulator={},
            generator={"version": version, "adapter": None},
            initial=InitialPool(
                truth.pool(pool),
                {s: len(cs) for s, cs in pool.items()},
                0,
                composition(truth, pool),
            ),
            history=[],
        )
        state.count_made({"initial": initial_made(verdicts)})
        return state, policy

    # -- one round -----------------------------------------------------------------------------
    def play(self, state: State, policy: Policy) -> State:
        """Round ``state.round + 1``, top to bottom; returns the state after it."""
        k = state.round + 1
        streams = self.streams.round(k)
        watch = Stopwatch()
        sim = self.simulator(state.simulator, k)

        # 1. Allocate and observe: M impressions, events logged with their probabilities.
        with watch.stage("allocate"):
            tally, events = self.serve(sim, state, policy, streams, k)

        # 2. Assess: propensity-corrected CTR per segment and creative, all rounds and this
        # one; each operator and prompt arm is credited with its children's reward.
        with watch.stage("assess"):
            evidence = assess_round(state.stats, state.pool, events)
            state.credit_prompts((e.decision.chosen for e in events), (e.reward for e in events))
            state.operators = credit(
                state.creatives, state.pool, state.stats, self.cfg.refresh.min_events, state.made
            )
            shown = served(tally, state.creatives)
            prompts = prompt_lines(state.prompts, state.prompt_stats)
            version = state.generator.get("version")  # the generator of this round's pool

        # 3-6. Refresh: retire, rewrite a prompt, regenerate, refresh the generator.
        done = (
            self.refresh_pool(state, policy, evidence, k, streams, watch)
            if self.refresh
            else Refreshed()
        )

        # 7. Measure against the truth, then commit: the round to the store, the checkpoint.
        with watch.stage("measure"):
            truth = self.truth(sim)
            measured = measure(truth, done.regeneration, state)
            pool_true_ctr = truth.pool(state.active())
        t0 = time.perf_counter()
        state.simulator, state.round = sim.state(), k
        metrics = RoundMetrics(
            round=k,
            served=shown,
            assessments={s: tuple(rows) for s, rows in evidence.overall.items()},
            prompts=prompts,
            generator=version,
            pool_true_ctr=pool_true_ctr,
            pool_size=state.pool_size(),
            operators=state.operators,
            truth=measured,
            **refresh_metrics(done),
        )
        state.history.append(metrics)
        seconds = {**watch.rounded(), "commit": round(time.perf_counter() - t0, 3)}
        self.commit(state, policy, metrics, done, seconds)
        self.last_seconds = {**seconds, "commit": round(time.perf_counter() - t0, 3)}
        return state

    def serve(
        self, sim, state: State, policy: Policy, streams: Streams, k: int
    ) -> tuple[Tally, list[Feedback]]:
        """Step 1: serve the round's users from the active pool; events go to the store's
        queue as they are served and are committed with the round."""
        cfg, events = self.cfg, []

        def sink(batch: list[Feedback]) -> None:
            events.extend(batch)
            if self.store is not None:
                self.store.log(batch, run_id=self.run_id)

        serving = Serving(
            self.m,
            cfg.allocation.batch_size,
            streams,
            cfg.name,
            f"{self.run_id}-r{k:03d}",
            campaign_clock(cfg, (k - 1) * self.m),
        )
        bar = self.progress(f"round {k}: serving", self.m) if self.progress else None
        return serve(sim, state.active(), policy, serving, sink, bar), events

    def refresh_pool(
        self, state: State, policy: Policy, evidence, k: int, streams: Streams, watch: Stopwatch
    ) -> Refreshed:
        """Steps 3-6 of round ``k``; changes ``state``'s pool, prompts and generator."""
        cfg, r = self.cfg, self.cfg.refresh
        # 3. Retire: confidently worse than the segment's best, fatigued, or over the pool size.
        with watch.stage("retire"):
            retirements = choose_retirements(
                evidence.overall,
                evidence.recent,
                evidence.previous,
                r.min_events,
                r.fatigue_drop,
                keep_at_least=2,
                capacity=r.pool_size,
            )
            gone = state.retire(retirements)
        if not self.create:
            return Refreshed(tuple(retirements), tuple(gone))
        llm = self.generate and bool(cfg.prompts)
        need = room(state.pool, r.pool_size)
        rng = streams.fresh("generate")  # one stream: the rewrite's seed, then regeneration

        # 4. Rewrite a prompt from one segment's evidence; retire the weakest prompts.
        rewrite = None
        if llm:
            with watch.stage("prompts"):
                rewrite = self.rewrite(state, evidence, need, k, rng)
                state.replace_prompts(rewrite.child, [x.prompt for x in rewrite.retired])

        # 5. Regenerate: best-of-N candidates for each segment's room, admitted by the gate;
        # the newcomers enter the bandit with the scorer's prior.
        with watch.stage("rank"):
            scorer = fit_scorer(self.models.screener.embedder, state)
        regeneration = regenerate(cfg, self.models, state, need, k, rng, watch, llm, scorer)
        state.count_made(regeneration.plan)
        for segment, creatives in regeneration.admitted.items():
            state.admit(segment, creatives)
        if hasattr(policy, "set_prior"):  # Thompson sampling: pseudo-counts (VW: features)
            from optimizer.allocate.priors import BetaPrior

            for (segment, cid), (a, b) in regeneration.priors.items():
                policy.set_prior(cid, BetaPrior(a, b), segment)

        # 6. Refresh the generator with LoRA on the winners, every few rounds.
        with watch.stage("finetune"):
            generator = None
            if llm and r.finetune.enabled and k % r.finetune.every == 0:
                generator = refresh_generator(
                    cfg,
                    self.models.backend,
                    state.prompts,
                    state.creatives,
                    evidence.overall,
                    self.folder / "finetune" / f"round-{k:03d}",
                    streams.fresh("finetune"),
                    **generator_check(r.finetune, scorer, state.creatives.values()),
                )
                if generator.version is not None:
                    v = generator.version
                    state.generator = {"version": v.version, "adapter": v.adapter}
        return Refreshed(tuple(retirements), tuple(gone), rewrite, regeneration, generator)

    def rewrite(self, state: State, evidence, need, k: int, rng) -> PromptRewrite:
        """Step 4: a child of the best prompt arm (by its children's credit) written from the
        evidence of one segment."""
        segment = rewrite_segment(need, self.segments, k)
        return rewrite_prompt(
            self.models.backend,
            self.cfg,
            state.prompts,
            prompt_credit(state),
            state.creatives,
            evidence.overall[segment],
            segment,
            k,
            rng,
        )

    def commit(
        self,
        state: State,
        policy: Policy,
        metrics: RoundMetrics,
        done: Refreshed,
        seconds: dict[str, float],
    ) -> None:
        """Step 7: verdicts, creatives, events and the round in the store, then (only once
        they are committed) the checkpoint. A crash in between replays the round on resume,
        and its events, keyed by event id, are stored once."""
        k = state.round
        if self.store is not None:
            from optimizer.store.models import GeneratorRow, RoundRow

            for segment, verdicts in done.regeneration.verdicts.items():
                self.store.add_verdicts(self.cfg.name, f"{self.run_id}-r{k}-{segment}", verdicts)
            self.store.add_creatives(state.live())
            g = done.generator
            row = RoundRow(
                run_id=self.run_id,
                round=k,
                campaign=self.cfg.name,
                refresh=self.refresh,
                metrics={**metrics.to_json(), "seconds": seconds},
            )
            generator_row = None
            if g is not None and g.version is not None:
                generator_row = GeneratorRow(
                    version=g.version.version,
                    campaign=self.cfg.name,
                    base=g.version.base,
                    adapter=g.version.adapter,
                    data_hash=g.data_hash,
                    metrics=g.version.metrics,
                )
            self.store.save_round(row, list(done.gone), generator_row)
        checkpoint.write(self.folder, state, policy)


def initial_made(verdicts) -> dict[str, int]:
    """Candidates of the initial pool each prompt's ``generate`` arm wrote (parsed)."""
    made: dict[str, int] = {}
    for v in verdicts:
        arm = arm_of(v.creative) if v.creative is not None else None
        if arm is not None:
            made[arm] = made.get(arm, 0) + 1
    return made


def run_rounds(
    cfg: CampaignConfig,
    rounds: int,
    impressions: int,
    refresh: bool = True,
    store=None,  # optimizer.store.Store | None
    state_dir: Path = Path("runs"),
    resume: bool = False,
    generate: bool = True,
    progress: ProgressFactory | None = None,
    models: Models | None = None,
) -> RoundsSummary:
    """Play ``rounds`` rounds (resuming from the last checkpoint with ``resume``) serving the
    config's policy; the run is stored with the policy and batch size it served with."""
    campaign = Campaign(cfg, impressions, refresh, store, state_dir, generate, progress, models)
    state, policy = campaign.start(resume)
    if store is not None and state.round == 0:
        store.start_run(run_row(cfg, campaign.run_id, "rounds", impressions * rounds, state.policy))
    while state.round < rounds:
        state = campaign.play(state, policy)
    summary = summarise(campaign, state)
    if store is not None:
        store.finish_run(campaign.run_id, summary.to_json())
    return summary


def generator_check(ft, scorer, creatives) -> dict:
    """The keep-or-revert arguments of a generator refresh: the round's scorer as the judge
    of raw candidates (its predicted CTR in their segment), the campaign's creatives as what
    is not new copy; none without a scorer or with ``refresh.finetune.compare`` 0."""
    from optimizer.refresh.generator import text_key

    base = {"method": ft.method, "compare_n": ft.compare, "min_gain": ft.min_gain}
    if scorer is None or ft.compare == 0:
        return base

    def judge(segment: str, made) -> list[float]:
        texts = [(c.headline, c.body, c.cta) for c in made]
        return [float(x) for x in scorer.prior(texts, "", segment=segment).mean]

    known = {text_key(c.headline, c.body) for c in creatives}
    return {**base, "judge": judge, "known": known}
