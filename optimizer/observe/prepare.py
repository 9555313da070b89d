"""A chunk of event rows checked and built into packed table rows, a column at a time.

``prepare(chunk, ...)`` accepts the usual rows with the column checks (``columns.py``) and
builds their decision and reward rows as the store packs them (``store.rows.packer``); the
other rows go through the row validation (``Validator.event``), which stores them the same
way or says exactly why not. Rows keep their file order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import numpy as np
import pyarrow as pa

from optimizer.observe.blocks import CHUNKS, Span
from optimizer.observe.chunks import Chunk
from optimizer.observe.columns import (
    REQUIRED,
    Coded,
    combinations,
    event_ids,
    json_floats,
    names,
    numbers,
    per_row,
    set_ids,
    timestamps,
)
from optimizer.observe.digests import coded, quoted, time_texts
from optimizer.observe.digests import digests as content_digests
from optimizer.observe.fastpath import FastEvents, _name
from optimizer.observe.readers import raw_text
from optimizer.observe.validate import LIMITS, BadRow, CampaignFacts, Validator
from optimizer.store.rows import DECISION_COLUMNS, REWARD_COLUMNS, packer

# The packed rows built here list these columns in this order.
assert DECISION_COLUMNS == (
    "event_id",
    "run_id",
    "timestamp",
    "campaign",
    "segment",
    "context",
    "candidate_set_id",
    "chosen",
    "probability",
    "policy",
    "policy_version",
    "digest",
)
assert REWARD_COLUMNS == ("event_id", "kind", "value", "timestamp", "digest")
PACK_DECISION, PACK_REWARD = packer(DECISION_COLUMNS), packer(REWARD_COLUMNS)


@dataclass
class Prepared:
    """A chunk ready to be written: packed rows with their lines, candidate sets, bad rows."""

    read: int = 0
    decisions: list[tuple] = field(default_factory=list)
    decision_lines: list[int] = field(default_factory=list)
    rewards: list[tuple] = field(default_factory=list)
    reward_lines: list[int] = field(default_factory=list)
    sets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bad: list[tuple[int, str, str, str]] = field(default_factory=list)  # line, why, summary, raw


class Preparer:
    """Checks and builds the chunks of one file against the campaigns of the store."""

    def __init__(self, facts: Callable[[str], CampaignFacts | None], validator: Validator) -> None:
        self.facts = facts
        self.validator = validator
        default = validator.default_campaign
        self.default = default if default and _name(default) else REQUIRED

    def __call__(self, chunk: Chunk) -> Prepared:
        out = Prepared(read=chunk.read)
        slow: list = []
        if len(chunk):
            ok, decided, rewarded, built = self._columns(chunk)
            if built is not None:
                self._build(chunk, decided, rewarded, built, out)
            slow = [(int(chunk.lines[i]), chunk.row, chunk.raw, i) for i in np.flatnonzero(~ok)]
        for line, problem, raw in chunk.problems:
            summary = "malformed JSON" if problem.startswith("malformed JSON") else problem
            out.bad.append((line, problem, summary, raw_text(raw)))
        for line, row, raw in chunk.extra:
            slow.append((line, lambda _, row=row: row, lambda _, raw=raw: raw, 0))
        if slow:
            self._rows(sorted(slow, key=lambda item: item[0]), out)
        out.bad.sort()
        return out

    # -- the column checks -------------------------------------------------------------------
    def _columns(self, chunk: Chunk):
        f = chunk.fields
        ok = ~chunk.forced & event_ids(f["event_id"]) & (chunk.has_action | chunk.has_reward)
        ts = timestamps(f["timestamp"])
        ok &= ~np.asarray(ts.is_null())
        dec, rew = chunk.has_action, chunk.has_reward
        action = names(f["action"], LIMITS["action"])
        campaign = names(f["campaign"], LIMITS["campaign"], self.default)
        segment = names(f["segment"], LIMITS["segment"], None)
        policy = names(f["policy"], LIMITS["policy"], "logged")
        version = names(f["policy_version"], LIMITS["policy_version"], "logged")
        kind = names(f["kind"], LIMITS["kind"], "click")
        p, p_ok = numbers(f["probability"])
        value, value_ok = numbers(f["reward"])
        lists, list_codes = chunk.candidates
        good_decision = (
            action.ok()
            & p_ok
            & (p > 0)
            & (p <= 1)
            & policy.ok()
            & version.ok()
            & ~np.asarray(chunk.context.is_null())
            & self._segments(campaign, segment)
            & self._actions(campaign, action, lists, list_codes)
        )
        ok &= ~dec | good_decision
        ok &= ~rew | (value_ok & kind.ok())
        if not ok.any():
            return ok, None, None, None
        built = (ts, campaign, segment, action, policy, version, kind, p, value, lists, list_codes)
        return ok, np.flatnonzero(ok & dec), np.flatnonzero(ok & rew), built

    def _segments(self, campaign: Coded, segment: Coded) -> np.ndarray:
        """A known campaign, and a segment of it (or none)."""
        combos, inverse = combinations(campaign.codes, segment.codes)
        good = []
        for c, s in combos:
            name, seg = campaign.values[c], segment.values[s]
            facts = self.facts(name) if campaign.good[c] and segment.good[s] else None
            good.append(facts is not None and (seg is None or seg in facts.segments))
        return np.array(good, bool)[inverse]

    def _actions(
        self, campaign: Coded, action: Coded, lists: list, list_codes: np.ndarray
    ) -> np.ndarray:
        """The action among the logged candidates, or a creative of the campaign."""
        combos, inverse = combinations(campaign.codes, list_codes, action.codes)
        good = []
        for c, k, a in combos:
            chosen = action.values[a]
            if k >= 0:
                ids = lists[k]
                good.append(ids is not None and chosen in ids)
            else:
                facts = self.facts(campaign.values[c]) if campaign.good[c] else None
                good.append(facts is not None and chosen in facts.creatives)
        return np.array(good, bool)[inverse]

    # -- building the rows -------------------------------------------------------------------
    def _build(self, chunk: Chunk, decided, rewarded, built, out: Prepared) -> None:
        ts, campaign, segment, action, policy, version, kind, p, value, lists, codes = built
        # One object per id and time, shared by a row's decision and reward (and by their
        # marshal data, which refers to it twice).
        ids, times_of = _objects(chunk.fields["event_id"]), _objects(ts)
        if len(decided):
            take = pa.array(decided)
            sets = [*set_ids(lists), None]  # the last: no list logged
            times, contexts = ts.take(take), chunk.context.take(take)
            names = (campaign, segment)
            chosen = (action, policy, version)
            digests = content_digests(
                time_texts(times),
                *(coded(c.values, c.codes[decided]) for c in names),
                quoted(contexts),
                coded(sets, codes[decided]),
                *(coded(c.values, c.codes[decided]) for c in chosen[:1]),
                json_floats(p[decided]),
                *(coded(c.values, c.codes[decided]) for c in chosen[1:]),
            )
            out.decisions = list(
                zip(
                    ids[decided].tolist(),
                    repeat(None, len(decided)),
                    times_of[decided].tolist(),
                    *(c.at(decided) for c in names),
                    contexts.to_pylist(),
                    per_row(sets[:-1], codes[decided], None).tolist(),
                    action.at(decided),
                    p[decided].tolist(),
                    *(c.at(decided) for c in chosen[1:]),
                    digests,
                    strict=True,
                )
            )
            out.decision_lines = chunk.lines[decided].tolist()
            for k in np.unique(codes[decided]).tolist():
                if k >= 0:
                    out.sets[sets[k]] = lists[k]
        if len(rewarded):
            take = pa.array(rewarded)
            times = ts.take(take)
            out.rewards = list(
                zip(
                    ids[rewarded].tolist(),
                    kind.at(rewarded),
                    value[rewarded].tolist(),
                    times_of[rewarded].tolist(),
                    content_digests(time_texts(times), json_floats(value[rewarded])),
                    strict=True,
                )
            )
            out.reward_lines = chunk.lines[rewarded].tolist()

    def _rows(self, slow: list, out: Prepared) -> None:
        """Rows for the row validation, ``(line, row_of, raw_of, i)``: merged into ``out``
        in file order."""
        decisions, rewards = [], []
        for line, row_of, raw_of, i in slow:
            try:
                decision, reward = self.validator.event(row_of(i))
            except BadRow as exc:
                out.bad.append((line, str(exc), exc.summary, raw_text(raw_of(i))))
                continue
            if decision is not None:
                decisions.append((line, PACK_DECISION(decision)))
                if decision["candidate_set_id"]:
                    out.sets[decision["candidate_set_id"]] = tuple(decision["candidates"])
            if reward is not None:
                rewards.append((line, PACK_REWARD(reward)))
        out.decisions, out.decision_lines = _merge(out.decisions, out.decision_lines, decisions)
        out.rewards, out.reward_lines = _merge(out.rewards, out.reward_lines, rewards)


def _objects(column: pa.Array) -> np.ndarray:
    """A column's values as Python objects, in a numpy array (to take rows from)."""
    out = np.empty(len(column), dtype=object)
    out[:] = column.to_pylist()
    return out


def _merge(rows: list, lines: list[int], more: list[tuple[int, tuple]]) -> tuple[list, list]:
    """``rows`` (at ``lines``) and ``more`` (line, row) in line order."""
    if not more:
        return rows, lines
    merged = sorted([*zip(lines, rows, strict=True), *more], key=lambda pair: pair[0])
    return [r for _, r in merged], [line for line, _ in merged]


def prepare_file(
    path: Path,
    fmt: str,
    facts: Mapping[str, CampaignFacts],
    campaign: str | None,
    rows: int,
    part: tuple[int, int] = (0, 1),
) -> Iterator[tuple[Prepared, Span]]:
    """The chunks of an event file (JSONL, CSV or Parquet), prepared for writing, with
    where each lies in the file. ``facts``: the stored campaigns. ``part`` ``(k, n)``: only
    the chunks whose index is ``k`` modulo ``n`` (for ``n`` workers)."""
    lookup = facts.get
    validator = Validator(lookup, campaign, fast=FastEvents(lookup, campaign).event)
    prepare = Preparer(lookup, validator)
    k, n = part
    for chunk, span in CHUNKS[fmt](path, rows, lambda index: index % n == k):
        yield prepare(chunk), span
