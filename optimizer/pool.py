"""The serving pool: which creatives are eligible for which segment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from optimizer.errors import OptimizerError
from optimizer.records import Creative

Pool = Mapping[str, Sequence[Creative]]  # segment -> eligible creatives


def build_pool(creatives: Sequence[Creative], segments: Sequence[str]) -> dict[str, list[Creative]]:
    """Eligible creatives per segment; a creative without a segment serves every segment.

    Raises ``OptimizerError`` naming the segments left without a creative."""
    pool = {s: [c for c in creatives if c.segment in (None, s)] for s in segments}
    empty = [s for s, cs in pool.items() if not cs]
    if empty:
        raise OptimizerError(
            f"segment(s) {', '.join(empty)} have no eligible creative; add a seed creative "
            "without a segment or one for each of them"
        )
    return pool
