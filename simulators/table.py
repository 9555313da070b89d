"""Replay of past A/B tests from a table of arms.

CSV columns: ``segment,creative_id,headline,ctr`` and optionally ``segment_share`` (default:
equal shares). Each segment is an independent test whose arms click with the given
probabilities; there are no user features, drift or fatigue.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.errors import InputError
from optimizer.records import Context, Creative
from simulators.base import draw_segments

REQUIRED = ("segment", "creative_id", "headline", "ctr")


@dataclass(frozen=True)
class ArmsTable:
    campaign: str
    segments: tuple[str, ...]
    shares: tuple[float, ...]
    creatives: dict[str, tuple[Creative, ...]]  # segment -> arms
    ctr: dict[tuple[str, str], float]  # (segment, creative id) -> click probability


def load_arms_csv(path: str | Path) -> ArmsTable:
    """Read and check an arms CSV; every problem names the file, line and column."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    campaign = path.stem
    creatives: dict[str, list[Creative]] = {}
    ctr: dict[tuple[str, str], float] = {}
    shares: dict[str, float] = {}
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(
                f"{path}: line 1: missing column(s) {', '.join(missing)}; "
                f"the header must include {','.join(REQUIRED)}"
            )
        for row in reader:
            line = reader.line_num
            segment = (row["segment"] or "").strip()
            arm = (row["creative_id"] or "").strip()
            if not segment or not arm:
                raise InputError(f"{path}: line {line}: segment and creative_id must not be empty")
            try:
                p = float(row["ctr"])
            except (TypeError, ValueError):
                raise InputError(
                    f"{path}: line {line}: ctr {row['ctr']!r} is not a number; "
                    "write a probability such as 0.021"
                ) from None
            if not 0.0 <= p <= 1.0:
                raise InputError(f"{path}: line {line}: ctr {p} must be between 0 and 1")
            if (segment, arm) in ctr:
                raise InputError(
                    f"{path}: line {line}: creative {arm!r} appears twice in segment {segment!r}"
                )
            share_text = (row.get("segment_share") or "").strip()
            if share_text:
                try:
                    share = float(share_text)
                except ValueError:
                    raise InputError(
                        f"{path}: line {line}: segment_share {share_text!r} is not a number"
                    ) from None
                if share <= 0:
                    raise InputError(f"{path}: line {line}: segment_share must be positive")
                if shares.setdefault(segment, share) != share:
                    raise InputError(
                        f"{path}: line {line}: segment_share of {segment!r} differs from an "
                        "earlier row; give one value per segment"
                    )
            ctr[(segment, arm)] = p
            headline = (row["headline"] or arm).strip()
            creatives.setdefault(segment, []).append(
                Creative(
                    id=arm,
                    campaign=campaign,
                    headline=headline,
                    body="",
                    cta="",
                    segment=segment,
                    source="table",
                )
            )
    if not creatives:
        raise InputError(f"{path}: no arms; add rows under the header")
    names = tuple(creatives)
    if shares and set(shares) != set(names):
        raise InputError(
            f"{path}: segment_share is given for some segments only; give it for all or none"
        )
    raw = np.array([shares.get(n, 1.0) for n in names])
    return ArmsTable(
        campaign=campaign,
        segments=names,
        shares=tuple(raw / raw.sum()),
        creatives={k: tuple(v) for k, v in creatives.items()},
        ctr=ctr,
    )


class TableSimulator:
    """Independent A/B tests per segment: arm ``a`` in segment ``s`` clicks with ``ctr[s, a]``."""

    def __init__(self, table: ArmsTable) -> None:
        self.table = table
        self._shares = np.array(table.shares)

    def draw_contexts(self, n: int, rng: np.random.Generator) -> list[Context]:
        return [
            Context(segment=s) for s in draw_segments(self.table.segments, self._shares, n, rng)
        ]

    def expected_rewards(self, context: Context, creatives: Sequence[Creative]) -> np.ndarray:
        return np.array([self.table.ctr[(context.segment, c.id)] for c in creatives])

    def served(self, creative: Creative) -> None:
        return None

    def advance(self, impressions: int) -> None:
        return None
