"""Join logged rewards to decisions within the attribution window.

A reward counts for a decision when it has the same event id, one of the configured kinds,
and a timestamp within ``[decision time, decision time + window]``; a decision's reward is
the sum of those. A decision whose window has closed without one gets ``default_reward``
(like a reward wait time in a serving system); one whose window is still open is
``pending`` and left out of learning and evaluation. Late rewards (after the window) and
orphan rewards (no decision) are kept in the store and counted here, never dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from optimizer.config import Attribution
from optimizer.store.logged import DECISION_COLUMNS, LoggedEvents, iter_logged


@dataclass
class Joined:
    events: pd.DataFrame  # one row per closed decision, ordered by time; column ``reward``
    rewarded: int
    defaulted: int
    pending: int
    late: int
    orphans: int

    def summary(self) -> dict[str, int]:
        return _summary(len(self.events), self)


def _summary(closed: int, counts: Joined | StreamedJoin) -> dict[str, int]:
    return {
        "decisions": closed + counts.pending,
        "rewarded": counts.rewarded,
        "default_reward": counts.defaulted,
        "pending": counts.pending,
        "late_rewards": counts.late,
        "orphan_rewards": counts.orphans,
    }


COLUMNS = [*DECISION_COLUMNS, "reward"]  # of ``Joined.events``
STREAM_CHUNK = 10_000  # joined rows per read of a streamed join


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
    times = logged.times
    reward, hit, late = _attribute(logged, attribution)
    closed = times + _window(attribution) <= _clock(now, times, logged.reward_time)
    keep = hit | closed
    events = (decisions if keep.all() else decisions[keep]).reset_index(drop=True)
    events["reward"] = reward[keep]
    defaulted = int((closed & ~hit).sum())
    return Joined(events, int(hit.sum()), defaulted, int((~keep).sum()), late, orphans)


def _window(attribution: Attribution) -> np.timedelta64:
    return np.timedelta64(pd.Timedelta(hours=attribution.window_hours).value, "ns")


def _attribute(
    logged: LoggedEvents, attribution: Attribution
) -> tuple[np.ndarray, np.ndarray, int]:
    """Each decision's reward, shape (N,): the sum of its rewards of the attribution's
    kinds in its window, else ``default_reward``; whether it had any such reward (bool,
    (N,)); and the number of rewards of those kinds after their window (late)."""
    window = _window(attribution)
    delay = logged.reward_time - logged.times[logged.reward_of]
    kind_ok = pd.Index(logged.reward_kind).isin(attribution.kinds)
    in_window = kind_ok & (delay >= np.timedelta64(0, "us")) & (delay <= window)
    late = int((kind_ok & (delay > window)).sum())
    counted = logged.reward_of[in_window]
    n = len(logged.decisions)
    reward = np.bincount(counted, weights=logged.reward_value[in_window], minlength=n)
    reward = reward.astype(np.float64, copy=False)  # integers when no reward counts at all
    hit = np.bincount(counted, minlength=n) > 0
    reward[~hit] = attribution.default_reward
    return reward, hit, late


class StreamedJoin:
    """:func:`join_rewards` on the campaign's decisions read in chunks of ``chunk`` joined
    rows (default ``STREAM_CHUNK``), in time order (see
    :func:`optimizer.store.logged.iter_logged`). Iterating it (once) yields the rows of
    ``join_rewards(...).events`` in order, in frames with the columns of ``COLUMNS``, each
    row as soon as it is settled; then the counts (``closed``, ``rewarded``, ``defaulted``,
    ``pending``, ``late``, ``orphans``) are those of ``join_rewards``, and :meth:`summary`
    its summary.

    A decision is settled once it has a reward in its window, or its window has closed by
    the clock (``now``; without it, the latest decision or reward time read so far: the
    final clock is never earlier). Rows wait in memory behind the first decision that is
    not settled: at most those without a reward in the last window of the clock, and the
    rest of their chunk. Raises :class:`optimizer.store.logged.OutOfOrder` where
    ``join_rewards`` would have sorted the decisions."""

    def __init__(
        self,
        store,
        campaign: str,
        attribution: Attribution,
        now: datetime | None = None,
        chunk: int | None = None,
    ) -> None:
        self.store, self.campaign, self.attribution = store, campaign, attribution
        self.chunk = chunk or STREAM_CHUNK
        none = np.empty(0, "datetime64[us]")
        self.clock = None if now is None else _clock(now, none, none)
        self.fixed = now is not None
        self.closed = self.rewarded = self.defaulted = self.pending = self.late = 0
        self.orphans = 0
        # read, not yet yielded: (events, their times, whether each has a reward in window)
        self._held: list[tuple[pd.DataFrame, np.ndarray, np.ndarray]] = []

    @property
    def kept_at_least(self) -> int:
        """How many closed events there are at least, from what has been read: those
        yielded and those waiting with a reward (closed whatever the final clock)."""
        return self.closed + sum(int(hit.sum()) for _, _, hit in self._held)

    def summary(self) -> dict[str, int]:
        return _summary(self.closed, self)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        window = _window(self.attribution)
        for logged in iter_logged(self.store.engine, self.campaign, self.chunk):
            reward, hit, late = _attribute(logged, self.attribution)
            times = logged.times
            self.late += late
            self.rewarded += int(hit.sum())
            if not self.fixed:
                latest = _clock(None, times, logged.reward_time)
                self.clock = latest if self.clock is None else max(self.clock, latest)
            events = logged.decisions
            events["reward"] = reward
            self._held.append((events, times, hit))
            yield from self._settled(window)
        self.orphans = self.store.orphan_rewards()
        while self._held:  # the clock is final: the rest are closed or pending
            events, times, hit = self._held.pop(0)
            closed = times + window <= self.clock
            keep = hit | closed
            self.defaulted += int((closed & ~hit).sum())
            self.pending += int((~keep).sum())
            if keep.any():
                self.closed += int(keep.sum())
                yield events if keep.all() else events[keep]

    def _settled(self, window: np.timedelta64) -> Iterator[pd.DataFrame]:
        """The held rows up to the first that is not settled (every one of them is kept)."""
        while self._held:
            events, times, hit = self._held[0]
            waiting = ~hit & (times + window > self.clock)
            first = int(waiting.argmax()) if waiting.any() else len(times)
            if first < len(times):
                self._held[0] = (events.iloc[first:], times[first:], hit[first:])
            else:
                self._held.pop(0)
            if first:  # counted before the yield: ``kept_at_least`` counts each row once
                self.closed += first
                self.defaulted += int((~hit[:first]).sum())
                yield events.iloc[:first]
            if first < len(times):
                return


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
    cut = _cut(len(events), test_share)
    return events.iloc[:cut].reset_index(drop=True), events.iloc[cut:].reset_index(drop=True)


def _cut(n: int, test_share: float) -> int:
    """The number of training events of ``n`` (non-decreasing in ``n``)."""
    if not 0.0 <= test_share < 1.0:
        raise ValueError("test share must be in [0, 1)")
    return int(round(n * (1.0 - test_share)))


def training_part(joined: StreamedJoin, test_share: float) -> Iterator[pd.DataFrame]:
    """The training events of ``split_by_time(join_rewards(...).events, test_share)``
    from a streamed join, in order, each as soon as it is surely among them: when its
    position is below the cut of the events surely closed so far (the cut only grows with
    them). The events past that cut wait in memory (about ``test_share`` of those read)
    until the end; then the cut is final and the rest are test events."""
    _cut(0, test_share)  # a bad share fails before any read
    held: deque[pd.DataFrame] = deque()
    given = read = 0
    for events in joined:
        held.append(events)
        read += len(events)
        wanted = max(min(_cut(joined.kept_at_least, test_share), read) - given, 0)
        given += wanted
        yield from _first(held, wanted)
    yield from _first(held, _cut(joined.closed, test_share) - given)


def _first(held: deque[pd.DataFrame], n: int) -> Iterator[pd.DataFrame]:
    """The first ``n`` rows of the frames ``held``, taken off them."""
    while n > 0 and held:
        events = held.popleft()
        if len(events) > n:
            held.appendleft(events.iloc[n:])
            events = events.iloc[:n]
        n -= len(events)
        yield events
