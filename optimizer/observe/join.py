"""Join logged rewards to decisions within the attribution window.

A reward counts for a decision when it has the same event id, one of the configured kinds,
and a timestamp within ``[decision time, decision time + window]``; a decision's reward is
the sum of those. A decision whose window has closed without one gets ``default_reward``
(like a reward wait time in a serving system); one whose window is still open is
``pending`` and left out of learning and evaluation. Late rewards (after the window) and
orphan rewards (no decision) are kept in the store and counted here, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from optimizer.config import Attribution
from optimizer.store.logged import DECISION_COLUMNS


@dataclass
class Joined:
    events: pd.DataFrame  # one row per closed decision, ordered by time; column ``reward``
    rewarded: int
    defaulted: int
    pending: int
    late: int
    orphans: int

    def summary(self) -> dict[str, int]:
        return {
            "decisions": len(self.events) + self.pending,
            "rewarded": self.rewarded,
            "default_reward": self.defaulted,
            "pending": self.pending,
            "late_rewards": self.late,
            "orphan_rewards": self.orphans,
        }


COLUMNS = [*DECISION_COLUMNS, "reward"]  # of ``Joined.events``


def join_rewards(
    store, campaign: str, attribution: Attribution, now: datetime | None = None
) -> Joined:
    """The campaign's decisions with their rewards in the window (see the module's
    docstring); ``now`` is the clock that closes windows (default: the latest decision or
    reward time stored for the campaign). ``Joined.events`` has the columns of
    ``COLUMNS``, one row per closed decision, ordered by (timestamp, event_id)."""
    logged = store.logged_decisions(campaign)
    orphans = store.orphan_rewards()
    decisions = logged.decisions
    if decisions.empty:
        return Joined(pd.DataFrame(columns=COLUMNS), 0, 0, 0, 0, orphans)
    window = np.timedelta64(pd.Timedelta(hours=attribution.window_hours).value, "ns")
    times = logged.times
    delay = logged.reward_time - times[logged.reward_of]
    kind_ok = pd.Index(logged.reward_kind).isin(attribution.kinds)
    in_window = kind_ok & (delay >= np.timedelta64(0, "us")) & (delay <= window)
    late = int((kind_ok & (delay > window)).sum())
    counted = logged.reward_of[in_window]
    n = len(decisions)
    reward = np.bincount(counted, weights=logged.reward_value[in_window], minlength=n)
    hit = np.bincount(counted, minlength=n) > 0
    closed = times + window <= _clock(now, times, logged.reward_time)
    keep = hit | closed
    reward[~hit] = attribution.default_reward
    events = (decisions if keep.all() else decisions[keep]).reset_index(drop=True)
    events["reward"] = reward[keep]
    defaulted = int((closed & ~hit).sum())
    return Joined(events, int(hit.sum()), defaulted, int((~keep).sum()), late, orphans)


def _clock(now: datetime | None, times: np.ndarray, reward_times: np.ndarray) -> np.datetime64:
    """``now`` (a naive one is UTC), or the latest decision or reward time, as UTC."""
    if now is None:
        return max(times.max(), reward_times.max()) if len(reward_times) else times.max()
    stamp = pd.Timestamp(now)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return np.datetime64(stamp.value, "ns")


def join_rewards_by_pairs(
    store, campaign: str, attribution: Attribution, now: datetime | None = None
) -> Joined:
    """:func:`join_rewards` as it was before it read one row per decision: every
    (decision, reward) pair as a row object (``Store.logged_events``), joined in pandas.
    Slower; kept as the reference the equivalence tests and the benchmarks compare with."""
    raw = store.logged_events(campaign)
    orphans = store.orphan_rewards()
    if raw.empty:
        return Joined(pd.DataFrame(columns=COLUMNS), 0, 0, 0, 0, orphans)
    raw["timestamp"] = _utc(raw["timestamp"])
    has = raw["reward_value"].notna()
    raw["reward_time"] = _utc(raw["reward_time"].where(has, raw["timestamp"]))
    window = pd.Timedelta(hours=attribution.window_hours)
    kind_ok = raw["reward_kind"].isin(attribution.kinds)
    delay = raw["reward_time"] - raw["timestamp"]
    in_window = has & kind_ok & (delay >= pd.Timedelta(0)) & (delay <= window)
    late = int((has & kind_ok & (delay > window)).sum())
    raw["counted"] = np.where(in_window, raw["reward_value"].fillna(0.0), 0.0)
    raw["hit"] = in_window
    grouped = (
        raw.groupby("event_id", sort=False)
        .agg(
            timestamp=("timestamp", "first"),
            segment=("segment", "first"),
            context=("context", "first"),
            candidates=("candidates", "first"),
            chosen=("chosen", "first"),
            probability=("probability", "first"),
            reward=("counted", "sum"),
            hit=("hit", "any"),
        )
        .reset_index()
    )
    clock = (
        pd.Timestamp(now)
        if now is not None
        else max(raw["timestamp"].max(), raw["reward_time"].max())
    )
    if clock.tzinfo is None:
        clock = clock.tz_localize("UTC")
    closed = grouped["timestamp"] + window <= clock
    pending = int((~grouped["hit"] & ~closed).sum())
    keep = grouped["hit"] | closed
    defaulted = int((~grouped["hit"] & closed).sum())
    grouped.loc[~grouped["hit"], "reward"] = attribution.default_reward
    events = grouped[keep].sort_values(["timestamp", "event_id"]).reset_index(drop=True)
    return Joined(events[COLUMNS], int(grouped["hit"].sum()), defaulted, pending, late, orphans)


def _utc(series: pd.Series) -> pd.Series:
    out = pd.to_datetime(series)
    return out.dt.tz_localize("UTC") if out.dt.tz is None else out.dt.tz_convert("UTC")


def split_by_time(events: pd.DataFrame, test_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The earlier ``1 - test_share`` of events for training, the rest for testing."""
    if not 0.0 <= test_share < 1.0:
        raise ValueError("test share must be in [0, 1)")
    cut = int(round(len(events) * (1.0 - test_share)))
    return events.iloc[:cut].reset_index(drop=True), events.iloc[cut:].reset_index(drop=True)
