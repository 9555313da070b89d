"""Operators: the ways the refresh makes new candidate creatives for a segment. Each is an
arm of the operator bandit (:mod:`~optimizer.refresh.operators.bandit`), credited with the
reward of the creatives it made.

- ``recombine`` (:mod:`~optimizer.refresh.operators.recombine`): headlines, bodies and calls
  to action of the segment's best creatives assembled anew; no LLM.
- ``generate:<prompt id>`` (:mod:`~optimizer.refresh.operators.generate`): the LLM writes
  from one prompt arm.
- ``mutate`` and ``crossover`` (``optimizer.refresh.operators.edit``): the LLM rewrites one
  winner, or merges two.

Every candidate carries its lineage on the ``Creative``: ``parent_id`` (its first parent)
and ``lineage`` with ``operator``, ``arm``, ``parents``, ``prompt_arm``, ``generator`` and
``round`` (:func:`with_lineage`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from optimizer.records import Creative


@dataclass(frozen=True)
class Parents:
    """What an operator may breed from in one segment: its active creatives ``ranked`` by
    one draw from each posterior (best first, so uncertainty gets its chance), the
    ``losers`` (worst posterior means: what to avoid), every ``live`` creative (what a
    candidate must not repeat) and the ids of every creative ever ``seen`` active (a
    retired one does not come back)."""

    segment: str
    ranked: tuple[Creative, ...]
    losers: tuple[Creative, ...]
    live: tuple[Creative, ...]
    seen: frozenset[str] = frozenset()


def with_lineage(
    c: Creative,
    operator: str,
    arm: str,
    parents: Sequence[Creative],
    k: int,
    source: str,
    prompt_arm: str | None = None,
) -> Creative:
    """``c`` with its lineage: made by ``operator`` (bandit arm ``arm``) from ``parents`` in
    round ``k``; ``source`` is the creative's kind (``recombined``, ``generated``,
    ``edited``)."""
    lineage = {
        **c.lineage,
        "operator": operator,
        "arm": arm,
        "parents": [p.id for p in parents],
        "prompt_arm": prompt_arm,
        "generator": c.generator_version,
        "round": k,
    }
    return dataclasses.replace(
        c,
        source=source,
        parent_id=parents[0].id if parents else None,
        lineage=lineage,
    )
