"""Measure the refresh against the simulator's truth (metrics and benchmarks only).

A creative's *true CTR* in a segment is its expected reward (the simulator's click
probability) averaged over a fixed sample of that segment's users: the ``evaluation``
stream's users, the same every round, so figures compare across rounds and runs. Nothing
the optimizer decides reads these numbers: the rounds call this after each refresh, to
record what the candidates, the admitted creatives and the pool are really worth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.records import Creative

EVAL_USERS = 1_000


class Truth:
    """True CTRs on ``EVAL_USERS`` users drawn once from ``rng`` (a fresh ``evaluation``
    stream)."""

    def __init__(self, sim, rng: np.random.Generator) -> None:
        self.sim = sim
        self.users = sim.draw_contexts(EVAL_USERS, rng)
        self.by_segment: dict[str, list] = {}
        for u in self.users:
            self.by_segment.setdefault(u.segment, []).append(u)

    def ctrs(self, segment: str, creatives: Sequence[Creative]) -> np.ndarray:
        """True CTR of each creative in ``segment``, shape ``(n,)``."""
        users = self.by_segment.get(segment, [])
        if not creatives or not users:
            return np.zeros(len(creatives))
        return np.mean([self.sim.expected_rewards(u, creatives) for u in users], axis=0)

    def pool(self, pool: Mapping[str, Sequence[Creative]]) -> float:
        """True mean CTR of a pool: each user sees its segment's creatives equally often
        (what uniform serving of the pool would earn)."""
        n = len(self.users)
        return float(
            sum(len(self.by_segment.get(s, [])) * self.ctrs(s, cs).mean() for s, cs in pool.items())
            / n
        )


def mean_or_none(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 6) if len(values) else None


@dataclass(frozen=True)
class SourceLine:
    """One segment's candidates from one source in one round: ``count`` raw candidates
    (parsed, before the filters and the gate), ``kept`` by the filters, ``admitted`` by the
    gate, each with its mean true CTR."""

    segment: str
    source: str  # operator:arm@generator
    count: int
    mean_true_ctr: float | None
    best_true_ctr: float | None
    kept: int
    kept_true_ctr: float | None
    admitted: int
    admitted_true_ctr: float | None


@dataclass(frozen=True)
class Join:
    """The creatives a segment admitted in a round, beside the pool they joined."""

    segment: str
    pool_true_ctr: float  # the segment's active creatives after retirement, before joining
    admitted: Mapping[str, float]  # creative id -> true CTR


@dataclass(frozen=True)
class Composition:
    """The active pool split into seed and created creatives (counted per segment they
    serve), with their mean true CTR."""

    seed: int
    created: int
    seed_true_ctr: float | None
    created_true_ctr: float | None

    @property
    def created_share(self) -> float:
        return round(self.created / max(self.seed + self.created, 1), 4)


def source_of(c: Creative) -> str:
    """``operator:arm@generator`` of a created creative (``seed`` for the config's)."""
    if c.source == "seed":
        return "seed"
    op = str(c.lineage.get("operator", "generate"))
    arm = c.lineage.get("arm") or c.prompt_id or "-"
    return f"{op}:{arm}@{c.generator_version or '-'}"


def candidate_lines(
    truth: Truth,
    raw: Mapping[str, Sequence[Creative]],
    kept: Mapping[str, Sequence[Creative]],
    admitted: Mapping[str, Sequence[Creative]],
) -> tuple[SourceLine, ...]:
    """Per segment and source: raw, kept and admitted candidates with their true CTR."""
    out = []
    for segment, made in sorted(raw.items()):
        true = dict(zip((c.id for c in made), truth.ctrs(segment, made).tolist(), strict=True))
        kept_ids = {c.id for c in kept.get(segment, ())}
        admitted_ids = {c.id for c in admitted.get(segment, ())}
        for source in sorted({source_of(c) for c in made}):
            ids = [c.id for c in made if source_of(c) == source]
            values = [true[i] for i in ids]
            k = [true[i] for i in ids if i in kept_ids]
            a = [true[i] for i in ids if i in admitted_ids]
            out.append(
                SourceLine(
                    segment,
                    source,
                    len(ids),
                    mean_or_none(values),
                    round(max(values), 6),
                    len(k),
                    mean_or_none(k),
                    len(a),
                    mean_or_none(a),
                )
            )
    return tuple(out)


def joins(
    truth: Truth,
    pool: Mapping[str, Sequence[Creative]],
    admitted: Mapping[str, Sequence[Creative]],
) -> tuple[Join, ...]:
    """Each segment's admitted creatives beside the pool they joined (``pool``: after the
    round, so the admitted are taken out of it)."""
    out = []
    for segment, new in sorted(admitted.items()):
        if not new:
            continue
        ids = {c.id for c in new}
        before = [c for c in pool[segment] if c.id not in ids]
        ctrs = truth.ctrs(segment, new).tolist()
        out.append(
            Join(
                segment,
                round(float(truth.ctrs(segment, before).mean()), 6) if before else 0.0,
                {c.id: round(v, 6) for c, v in zip(new, ctrs, strict=True)},
            )
        )
    return tuple(out)


def composition(truth: Truth, pool: Mapping[str, Sequence[Creative]]) -> Composition:
    seed: list[float] = []
    created: list[float] = []
    for segment, cs in pool.items():
        for c, v in zip(cs, truth.ctrs(segment, cs).tolist(), strict=True):
            (seed if c.source == "seed" else created).append(v)
    return Composition(len(seed), len(created), mean_or_none(seed), mean_or_none(created))


def raw_by_source(lines: Sequence[SourceLine]) -> dict[str, dict]:
    """Raw candidates over segments, per source: ``count``, ``mean_true_ctr``,
    ``best_true_ctr``."""
    out: dict[str, dict] = {}
    for line in lines:
        row = out.setdefault(line.source, {"count": 0, "sum": 0.0, "best_true_ctr": 0.0})
        row["count"] += line.count
        row["sum"] += (line.mean_true_ctr or 0.0) * line.count
        row["best_true_ctr"] = max(row["best_true_ctr"], line.best_true_ctr or 0.0)
    return {
        s: {
            "count": r["count"],
            "mean_true_ctr": round(r["sum"] / r["count"], 6) if r["count"] else None,
            "best_true_ctr": r["best_true_ctr"],
        }
        for s, r in sorted(out.items())
    }
