"""Replay of past A/B tests from a table of arms.

CSV columns: ``segment,creative_id,headline,ctr`` and optionally ``segment_share`` (default:
equal shares). Each segment is an independent test whose arms click with the given
probabilities; there are no user features, drift or fatigue.

A performance report of past tests reads as well: ``ad_group`` or ``test_id`` in place of
``segment``, ``clicks`` and ``impressions`` in place of ``ctr`` (the observed CTR becomes the
arm's truth), and without ``creative_id`` an arm's id is a hash of its exact headline.
The Upworthy Research Archive's tests (Matias et al., Scientific Data 8, 195, 2021) load as
they are.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.errors import InputError
from optimizer.records import Context, Creative
from simulators.base import draw_segments

SEGMENT_COLUMNS = ("segment", "ad_group", "test_id")  # the first one present names the test


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
    arms: list[tuple[str, str, str, float]] = []
    shares: dict[str, float] = {}
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        seg_col = next((c for c in SEGMENT_COLUMNS if c in header), None)
        missing = [] if seg_col else ["segment"]
        missing += [] if "headline" in header else ["headline"]
        if "ctr" not in header:
            counts = [c for c in ("clicks", "impressions") if c not in header]
            missing += ["ctr"] if len(counts) == 2 else counts
        if missing:
            raise InputError(
                f"{path}: line 1: missing column(s) {', '.join(missing)}; the header must "
                "include segment (or ad_group, test_id), creative_id (optional), headline and "
                "ctr (or clicks and impressions)"
            )
        seen: set[tuple[str, str]] = set()
        for row in reader:
            line = reader.line_num
            segment = (row[seg_col] or "").strip()
            headline = (row["headline"] or "").strip()
            if "creative_id" in header:
                arm = (row["creative_id"] or "").strip()
            else:
                arm = headline_id(headline) if headline else ""
            if not segment or not arm:
                id_col = "creative_id" if "creative_id" in header else "headline"
                raise InputError(f"{path}: line {line}: {seg_col} and {id_col} must not be empty")
            p = _ctr(row, path, line)
            if (segment, arm) in seen:
                raise InputError(
                    f"{path}: line {line}: creative {arm!r} appears twice in segment {segment!r}"
                )
            seen.add((segment, arm))
            arms.append((segment, arm, headline or arm, p))
            share = _share(row, path, line)
            if share is not None and shares.setdefault(segment, share) != share:
                raise InputError(
                    f"{path}: line {line}: segment_share of {segment!r} differs from an "
                    "earlier row; give one value per segment"
                )
    if not arms:
        raise InputError(f"{path}: no arms; add rows under the header")
    if shares and set(shares) != {a[0] for a in arms}:
        raise InputError(
            f"{path}: segment_share is given for some segments only; give it for all or none"
        )
    return arms_table(campaign, arms, shares or None)


def headline_id(headline: str) -> str:
    """An arm id from its exact headline (case kept: tests compare capitalisations)."""
    return hashlib.sha256(headline.encode("utf-8")).hexdigest()[:16]


def arms_table(
    campaign: str,
    arms: Sequence[tuple[str, str, str, float]],
    shares: dict[str, float] | None = None,
) -> ArmsTable:
    """An :class:`ArmsTable` from ``(segment, creative id, headline, ctr)`` rows.

    Segments keep their first-seen order; ``shares`` (default: equal) are normalised.
    """
    creatives: dict[str, list[Creative]] = {}
    ctr: dict[tuple[str, str], float] = {}
    for segment, arm, headline, p in arms:
        ctr[(segment, arm)] = p
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
    names = tuple(creatives)
    raw = np.array([(shares or {}).get(n, 1.0) for n in names])
    return ArmsTable(
        campaign=campaign,
        segments=names,
        shares=tuple(raw / raw.sum()),
        creatives={k: tuple(v) for k, v in creatives.items()},
        ctr=ctr,
    )


def _number(row: dict, column: str, path: Path, line: int, example: str) -> float:
    text = (row.get(column) or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"{path}: line {line}: {column} {text!r} is not a number; write {example}"
        ) from None
    if not np.isfinite(value):
        raise InputError(f"{path}: line {line}: {column} {text!r} is not a finite number")
    return value


def _ctr(row: dict, path: Path, line: int) -> float:
    """The arm's click probability: ``ctr``, or ``clicks / impressions``."""
    if "ctr" in row:
        p = _number(row, "ctr", path, line, "a probability such as 0.021")
        if not 0.0 <= p <= 1.0:
            raise InputError(f"{path}: line {line}: ctr {p} must be between 0 and 1")
        return p
    impressions = _number(row, "impressions", path, line, "a count such as 1950")
    clicks = _number(row, "clicks", path, line, "a count such as 21")
    if impressions <= 0:
        raise InputError(f"{path}: line {line}: impressions must be positive")
    if not 0 <= clicks <= impressions:
        raise InputError(
            f"{path}: line {line}: clicks {clicks:g} must lie between 0 and impressions "
            f"({impressions:g})"
        )
    return clicks / impressions


def _share(row: dict, path: Path, line: int) -> float | None:
    if not (row.get("segment_share") or "").strip():
        return None
    share = _number(row, "segment_share", path, line, "a positive weight such as 0.25")
    if share <= 0:
        raise InputError(f"{path}: line {line}: segment_share must be positive")
    return share


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
