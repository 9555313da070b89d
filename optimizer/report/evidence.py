"""Observed figures from logged events: each creative's propensity-corrected CTR per segment,
traffic shares per period, and the CTR of each period.

``events`` is the joined frame of :func:`optimizer.offline.closed_events` (columns
``event_id``, ``timestamp``, ``segment``, ``candidates``, ``chosen``, ``probability``,
``reward``), in time order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from optimizer.evaluate.targets import candidate_lists
from optimizer.refresh.assess import Z95, Assessment, CreativeStats
from optimizer.report.model import Allocation, Curve, Rate
from optimizer.report.words import rate_of

ROUND_OF_EVENT = re.compile(r"-r(\d{3})-\d+$")
MAX_DAYS = 60  # more days than this are binned into PERIODS equal-count periods
PERIODS = 10


def run_events(events: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The events a run served (their ids are ``{run_id}-r{round:03d}-{i:09d}``)."""
    keep = events["event_id"].str.startswith(f"{run_id}-r")
    return events[keep].reset_index(drop=True)


def periods(events: pd.DataFrame, rounds: bool) -> tuple[str, np.ndarray]:
    """What a period is and each event's period (1, 2, ...): its round for a campaign played
    in rounds, else its day, or one of ``PERIODS`` equal-count stretches of time when the log
    spans one day or more than ``MAX_DAYS``."""
    n = len(events)
    if rounds:
        found = events["event_id"].str.extract(ROUND_OF_EVENT)[0]
        return "round", found.fillna(0).astype(int).to_numpy()
    days = pd.to_datetime(events["timestamp"]).dt.strftime("%Y-%m-%d")
    distinct = sorted(set(days))
    if 2 <= len(distinct) <= MAX_DAYS:
        index = {d: i + 1 for i, d in enumerate(distinct)}
        return "day", days.map(index).to_numpy()
    k = max(1, min(PERIODS, n // 200))
    return "period", (np.arange(n) * k // max(n, 1)) + 1


def creative_stats(events: pd.DataFrame) -> CreativeStats:
    """Running sums per (segment, creative) as the refresh's assessment keeps them (events
    as a candidate, times shown, sum and sum of squares of ``reward / p``, clicks); events
    without a candidate list count every action of the log as a candidate."""
    stats = CreativeStats()
    cands = candidate_lists(events)
    candidate_of = Counter(zip(events["segment"].fillna(""), cands, strict=True))
    for (segment, ids), n in candidate_of.items():
        for cid in ids:
            row = stats.data.setdefault(stats.key(segment, cid), [0.0] * 5)
            row[0] += n
    x = events["reward"].to_numpy(float) / events["probability"].to_numpy(float)
    frame = pd.DataFrame(
        {
            "segment": events["segment"].fillna(""),
            "chosen": events["chosen"],
            "x": x,
            "x2": x * x,
            "reward": events["reward"].to_numpy(float),
        }
    )
    sums = frame.groupby(["segment", "chosen"]).agg(
        shown=("x", "size"), s1=("x", "sum"), s2=("x2", "sum"), clicks=("reward", "sum")
    )
    for (segment, cid), r in sums.iterrows():
        row = stats.data.setdefault(stats.key(segment, cid), [0.0] * 5)
        row[1:] = [float(r["shown"]), float(r["s1"]), float(r["s2"]), float(r["clicks"])]
    return stats


def assessments(stats: CreativeStats) -> dict[str, dict[str, Assessment]]:
    """segment -> creative id -> its assessment."""
    out: dict[str, dict[str, Assessment]] = {}
    for key in stats.data:
        segment, _, cid = key.partition("\x1f")
        out.setdefault(segment, {})[cid] = stats.assess(segment, cid)
    return out


def clicks(stats: CreativeStats) -> dict[str, dict[str, float]]:
    """segment -> creative id -> clicks when shown."""
    out: dict[str, dict[str, float]] = {}
    for key, row in stats.data.items():
        segment, _, cid = key.partition("\x1f")
        out.setdefault(segment, {})[cid] = row[4]
    return out


rate = rate_of


def mean_rate(values: np.ndarray) -> Rate:
    """The mean of ``values`` with a normal 95% interval (clipped at 0)."""
    n = len(values)
    if n == 0:
        return Rate(0.0, 0.0, 0.0)
    mean = float(values.mean())
    half = Z95 * float(values.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    return Rate(mean, max(mean - half, 0.0), mean + half)


def allocations(events: pd.DataFrame, period: str, index: np.ndarray) -> dict[str, Allocation]:
    """Per segment: each creative's share of the segment's impressions in every period."""
    frame = pd.DataFrame(
        {"segment": events["segment"].fillna(""), "chosen": events["chosen"], "period": index}
    )
    out = {}
    for segment, part in frame.groupby("segment"):
        counts = part.groupby(["period", "chosen"]).size().unstack(fill_value=0)
        shares = counts.div(counts.sum(axis=1), axis=0)
        out[str(segment)] = Allocation(
            period,
            tuple(int(p) for p in shares.index),
            {str(c): tuple(round(float(v), 4) for v in shares[c]) for c in shares.columns},
        )
    return out


def last_shares(allocation: Allocation) -> dict[str, float]:
    return {cid: values[-1] for cid, values in allocation.shares.items()}


def ctr_per_period(events: pd.DataFrame, index: np.ndarray, label: str) -> Curve:
    """Observed CTR of each period with its 95% interval."""
    rewards = events["reward"].to_numpy(float)
    xs = sorted(set(index.tolist()))
    rates = [mean_rate(rewards[index == p]) for p in xs]
    return Curve(
        label,
        tuple(xs),
        tuple(r.value for r in rates),
        tuple(r.low for r in rates),
        tuple(r.high for r in rates),
    )


def segment_impressions(events: pd.DataFrame) -> Mapping[str, int]:
    return {str(k): int(v) for k, v in events["segment"].fillna("").value_counts().items()}
