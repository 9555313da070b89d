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


def _utc(series: pd.Series) -> pd.Series:
    out = pd.to_datetime(series)
    return out.dt.tz_localize("UTC") if out.dt.tz is None else out.dt.tz_convert("UTC")


def join_rewards(
    store, campaign: str, attribution: Attribution, now: datetime | None = None
) -> Joined:
    raw = store.logged_events(campaign)
    orphans = store.orphan_rewards()
    columns = [
        "event_id",
        "timestamp",
        "segment",
        "context",
        "candidates",
        "chosen",
        "probability",
        "reward",
    ]
    if raw.empty:
        return Joined(pd.DataFrame(columns=columns), 0, 0, 0, 0, orphans)
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
    return Joined(events[columns], int(grouped["hit"].sum()), defaulted, pending, late, orphans)


def split_by_time(events: pd.DataFrame, test_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The earlier ``1 - test_share`` of events for training, the rest for testing."""
    if not 0.0 <= test_share < 1.0:
        raise ValueError("test share must be in [0, 1)")
    cut = int(round(len(events) * (1.0 - test_share)))
    return events.iloc[:cut].reset_index(drop=True), events.iloc[cut:].reset_index(drop=True)
