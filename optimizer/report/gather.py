"""Read a campaign from the store into a :class:`~optimizer.report.model.Report`.

A campaign played in rounds (``run --rounds``) is reported from its latest run with refresh
(the runs without refresh and the retire-only control are drawn beside it): observed figures
from its logged events, and the simulator's truth rebuilt from the stored config and the
run's seed. A campaign whose events came from ``ingest`` is reported from those events
alone, with what needs the simulator's truth hidden and the reason given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

from optimizer.config import Attribution, CampaignConfig, apply_overrides
from optimizer.errors import OptimizerError
from optimizer.records import Creative
from optimizer.report import evidence as ev
from optimizer.report import history
from optimizer.report.model import Curve, GeneratorLine, Lift, Report, Text
from optimizer.report.segments import lift_on_logs, ranking, segment_views, sources
from optimizer.report.truth import RunTruth, why_not
from optimizer.report.words import interval, lift_words, pct

DEFAULT_MIN_EVENTS = 300
NO_TRUTH = (
    "these events came from an ad server's logs (ingest), not from the simulator: nobody "
    "knows a creative's true CTR, so the page shows observed CTRs with 95% intervals and "
    "leaves out true CTRs, the oracle and the pool's true value"
)


@dataclass(frozen=True)
class Run:
    """One run played in rounds: its id, seed, config hash, summary and round metrics."""

    id: str
    refresh: bool
    seed: int | None
    config_hash: str | None
    summary: Mapping
    rounds: tuple[Mapping, ...]

    @property
    def retire_only(self) -> bool:
        return self.summary.get("create") is False


def gather(store, campaign: str) -> Report:
    """The report of ``campaign``: from its rounds when it has some, else its logged events."""
    from optimizer.offline import closed_events

    cfg = _config(store, campaign)
    runs = _runs(store, campaign)
    attribution = cfg.attribution if cfg is not None else Attribution()
    events = closed_events(store, campaign, attribution).events
    if runs:
        return _simulated(store, campaign, cfg, runs, events)
    if len(events) == 0:
        raise OptimizerError(
            f"campaign {campaign!r} has no rounds and no logged events in {store.url}; play "
            "some with `run --rounds R`, or `ingest` an ad server's logs"
        )
    return _logged(store, campaign, cfg, events)


def _config(store, campaign: str) -> CampaignConfig | None:
    from optimizer.offline import stored_config

    try:
        return stored_config(store, campaign)
    except OptimizerError:
        return None


def _runs(store, campaign: str) -> list[Run]:
    """Runs played in rounds, oldest first."""
    by_run: dict[str, list] = {}
    for row in store.rounds(campaign):
        by_run.setdefault(row.run_id, []).append(row)
    info = {r.id: r for r in store.runs(campaign)}
    out = []
    for run_id, rows in by_run.items():
        rows.sort(key=lambda r: r.round)
        r = info.get(run_id)
        out.append(
            Run(
                run_id,
                rows[0].refresh,
                r.seed if r else None,
                r.config_hash if r else None,
                (r.summary or {}) if r else {},
                tuple(row.metrics for row in rows),
            )
        )
    started = {r.id: r.started_at.replace(tzinfo=None) for r in info.values()}
    return sorted(out, key=lambda r: started.get(r.id, datetime.max))


def _texts(store, campaign: str, cfg: CampaignConfig | None) -> tuple[dict, dict]:
    """Text and record of every creative the store, the config or a report knows."""
    from optimizer.generate import seed_creatives
    from optimizer.store.rows import creative_record

    records: dict[str, Creative] = {}
    if cfg is not None:
        records.update({c.id: c for c in seed_creatives(cfg)})
    records.update({r.id: creative_record(r) for r in store.creatives(campaign)})
    texts = {i: Text(i, c.headline, c.body, c.cta) for i, c in records.items()}
    for r in store.reports(campaign):
        if r.creative_id not in texts and r.headline:
            texts[r.creative_id] = Text(r.creative_id, r.headline, r.body)
    return texts, records


def _order(cfg: CampaignConfig | None, pool: Mapping[str, Sequence[str]]) -> list[str]:
    """The config's segments in its order, then any other segment the data names."""
    known = [s.name for s in cfg.segments] if cfg else []
    return known + sorted(s for s in pool if s not in known)


def _final_pool(last: Mapping) -> dict[str, list[str]]:
    """Each segment's active creatives after the last round's refresh."""
    gone = {(r["segment"], r["creative_id"]) for r in last.get("retirements", [])}
    pool = {
        s: [a["creative_id"] for a in rows if (s, a["creative_id"]) not in gone]
        for s, rows in last.get("assessments", {}).items()
    }
    for c in last.get("new_creatives", []):
        pool.setdefault(c["segment"], []).append(c["id"])
    return pool


def _pick(runs: Sequence[Run]) -> tuple[Run, Run | None, Run | None]:
    """The latest run with refresh (else the latest run), and the latest run without
    refresh and the latest retire-only control beside it."""
    full = [r for r in runs if r.refresh and not r.retire_only]
    main = full[-1] if full else runs[-1]
    plain = [r for r in runs if not r.refresh and r is not main]
    control = [r for r in runs if r.retire_only and r is not main]
    return main, plain[-1] if plain else None, control[-1] if control else None


def _true_ctrs(
    truth: RunTruth,
    assess: Mapping[str, Mapping],
    pool: Mapping[str, Sequence[str]],
    created: Sequence[tuple[Creative, str, int]],
    records: Mapping[str, Creative],
) -> dict[str, dict[str, float]]:
    """True CTR of every creative the run served, listed or bred from, per segment."""
    ids: dict[str, set[str]] = {s: set(v) for s, v in assess.items()}
    for s, v in pool.items():
        ids.setdefault(s, set()).update(v)
    for c, s, _ in created:
        ids.setdefault(s, set()).update([c.id, *c.lineage.get("parents", ())])
    return {
        s: truth.ctrs(s, [records[i] for i in sorted(v) if i in records]) for s, v in ids.items()
    }


def _simulated(store, campaign: str, cfg, runs: Sequence[Run], events: pd.DataFrame) -> Report:
    main, plain, control = _pick(runs)
    run_cfg = apply_overrides(cfg, seed=main.seed) if cfg and main.seed is not None else cfg
    events = ev.run_events(events, main.id)
    stats = ev.creative_stats(events)
    texts, records = _texts(store, campaign, cfg)
    pool = _final_pool(main.rounds[-1])
    created = [
        (records[c["id"]], c["segment"], m["round"])
        for m in main.rounds
        for c in m.get("new_creatives", [])
        if c["id"] in records
    ]
    assess = ev.assessments(stats)
    hidden: dict[str, str] = {}
    true: dict[str, dict[str, float]] = {}
    reason = why_not(run_cfg, main.config_hash)
    truth = RunTruth(run_cfg) if reason is None else None
    if truth is not None:
        true = _true_ctrs(truth, assess, pool, created, records)
    else:
        hidden["true CTRs of creatives"] = reason or ""
    status = {
        (r["segment"], r["creative_id"]): f"retired in round {m['round']}"
        for m in main.rounds
        for r in m.get("retirements", [])
    }
    look = history.Lookup(texts, records, assess, ev.clicks(stats), true, status)
    min_events = cfg.refresh.min_events if cfg else DEFAULT_MIN_EVENTS
    segments, period = segment_views(events, look, pool, _order(cfg, pool), min_events, True)
    first = main.rounds[0].get("assessments", {})
    initial = [(records.get(a["creative_id"]), s) for s, rows in first.items() for a in rows]
    children = [(c, s) for c, s, _ in created]
    children += [(c, s) for c, s in initial if c is not None and c.source != "seed"]
    lift = _lift(events, main.seed or 0, truth, true, records)
    if lift is None:
        hidden["lift of the loop"] = "the store holds none of this run's impressions"
    other = tuple(r.id for r in runs if r is not main)
    screenings = [s for s in store.screenings(campaign) if not s.batch.startswith(other)]
    priors = {
        (c["segment"], c["id"]): c["prior"]
        for m in main.rounds
        for c in m.get("new_creatives", [])
        if c.get("prior")
    }
    lineage = history.lineage(created, look, priors)
    return Report(
        campaign=campaign,
        simulated=True,
        summary=tuple(x for x in (*_summary(main, lineage, events), lift_words(lift)) if x),
        segments=segments,
        ctr_curves=_ctr_curves(main, plain, control, events),
        pool_curves=_pool_curves(main, plain, control),
        lineage=tuple(lineage),
        arms=tuple(history.arms(main.rounds[-1].get("operators", {}), children, look)),
        rewrites=tuple(history.rewrites(main.rounds)),
        prompts=tuple(history.prompts(main.rounds[-1])),
        removals=tuple(
            history.retirements(main.rounds, look) + history.rejections(screenings, look)
        ),
        sources=sources(events, records),
        generators=_generators(store, campaign),
        lift=lift,
        hidden=hidden,
        period=period,
    )


def _lift(
    events: pd.DataFrame,
    seed: int,
    truth: RunTruth | None,
    true: Mapping[str, Mapping[str, float]],
    records: Mapping[str, Creative],
) -> Lift | None:
    """The lift on the run's impressions: off-policy, and by the truth where it is known
    for every creative the run served."""
    if len(events) == 0:
        return None
    lift = lift_on_logs(events, seed)
    served = {c for cands in events["candidates"] for c in cands} | set(events["chosen"])
    if truth is not None and served <= set(records):
        lift = replace(lift, true=truth.lift(events, records, ranking(true)))
    return lift


def _generators(store, campaign: str) -> tuple[GeneratorLine, ...]:
    return tuple(
        GeneratorLine(
            g.version,
            g.adapter,
            g.data_hash,
            g.metrics.get("loss_first"),
            g.metrics.get("loss_last"),
            g.metrics.get("steps"),
        )
        for g in store.generators(campaign)
    )


def _curve(label: str, rounds: Sequence[Mapping], key: str, start: float | None = None) -> Curve:
    xs = [m["round"] for m in rounds if m.get(key) is not None]
    ys = [float(m[key]) for m in rounds if m.get(key) is not None]
    if start is not None:
        xs, ys = [0, *xs], [start, *ys]
    return Curve(label, tuple(xs), tuple(ys))


def _ctr_curves(main: Run, plain: Run | None, control: Run | None, events) -> tuple[Curve, ...]:
    _, index = ev.periods(events, True)
    curves = [
        ev.ctr_per_period(events, index, "served: observed CTR (95% interval)"),
        _curve("served: true CTR", main.rounds, "expected_ctr"),
        _curve("oracle (each user's best creative)", main.rounds, "oracle_ctr"),
        _curve("uniform over the live creatives", main.rounds, "uniform_ctr"),
    ]
    for run, name in ((plain, "no refresh"), (control, "retire only")):
        if run is not None:
            curves.append(_curve(f"served: true CTR, {name}", run.rounds, "expected_ctr"))
    return tuple(curves)


def _pool_curves(main: Run, plain: Run | None, control: Run | None) -> tuple[Curve, ...]:
    curves = []
    for run, name in ((main, "with refresh"), (plain, "no refresh"), (control, "retire only")):
        if run is not None:
            start = run.summary.get("initial_pool_true_ctr")
            curves.append(_curve(f"pool, {name}", run.rounds, "pool_true_ctr", start))
    made = [{"round": m["round"], **m.get("composition", {})} for m in main.rounds]
    curves.append(_curve("created creatives in the pool", made, "created_true_ctr"))
    curves.append(_curve("seed creatives in the pool", made, "seed_true_ctr"))
    return tuple(c for c in curves if c.x)


def _summary(main: Run, lineage: Sequence, events: pd.DataFrame) -> tuple[str, ...]:
    first, last = main.rounds[0], main.rounds[-1]
    served = ev.mean_rate(events["reward"].to_numpy(float))
    lines = [
        f"{len(main.rounds)} rounds, {len(events):,} impressions, "
        f"{events['reward'].sum():,.0f} clicks: observed CTR {interval(served)}.",
        f"Served true CTR {pct(first.get('expected_ctr'))} in round 1, "
        f"{pct(last.get('expected_ctr'))} in round {last['round']} (oracle "
        f"{pct(last.get('oracle_ctr'))}, uniform {pct(last.get('uniform_ctr'))}).",
    ]
    start = main.summary.get("initial_pool_true_ctr")
    lines.append(
        f"The active pool's true CTR went {pct(start)} -> {pct(last.get('pool_true_ctr'))}."
        if start is not None
        else f"The active pool's true CTR is {pct(last.get('pool_true_ctr'))}."
    )
    retired = sum(len(m.get("retirements", [])) for m in main.rounds)
    wins = sum(1 for x in lineage if x.beats_parents == "yes")
    lines.append(
        f"{retired} retirements; {len(lineage)} creatives created by the loop, "
        f"{wins} of them better than their best parent."
    )
    return tuple(lines)


def _logged(store, campaign: str, cfg, events: pd.DataFrame) -> Report:
    stats = ev.creative_stats(events)
    texts, records = _texts(store, campaign, cfg)
    assess = ev.assessments(stats)
    pool = {s: sorted(c for c, a in rows.items() if a.shown > 0) for s, rows in assess.items()}
    look = history.Lookup(texts, records, assess, ev.clicks(stats), {}, {})
    min_events = cfg.refresh.min_events if cfg else DEFAULT_MIN_EVENTS
    segments, period = segment_views(events, look, pool, _order(cfg, pool), min_events, False)
    created = [
        (c, s, int(c.lineage.get("round", 0) or 0))
        for s, ids in pool.items()
        for cid in ids
        if (c := records.get(cid)) is not None and c.source != "seed"
    ]
    _, index = ev.periods(events, False)
    lift = lift_on_logs(events, cfg.seed if cfg else 0)
    served = ev.mean_rate(events["reward"].to_numpy(float))
    times = pd.to_datetime(events["timestamp"])
    summary = (
        f"{len(events):,} logged impressions from {times.min():%Y-%m-%d %H:%M} to "
        f"{times.max():%Y-%m-%d %H:%M} UTC in {len(pool)} segments, "
        f"{len({c for ids in pool.values() for c in ids})} creatives; "
        f"{events['reward'].sum():,.0f} clicks, CTR {interval(served)}.",
    )
    return Report(
        campaign=campaign,
        simulated=False,
        summary=(*summary, lift_words(lift)),
        segments=segments,
        ctr_curves=(ev.ctr_per_period(events, index, "observed CTR (95% interval)"),),
        lineage=tuple(history.lineage(created, look)),
        removals=tuple(history.rejections(store.screenings(campaign), look)),
        sources=sources(events, records),
        lift=lift,
        hidden={
            "true CTRs, the oracle and the pool's true value": NO_TRUTH,
            "operator and prompt arms": (
                "the operator bandit credits its arms while the loop plays rounds; "
                "a log from ingest has no rounds"
            ),
        },
        period=period,
    )
