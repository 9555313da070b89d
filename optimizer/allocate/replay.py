"""Replay of independent A/B tests in bulk: numpy per batch instead of a call per impression.

Within a batch a policy's distribution over a test's arms is fixed (it learns only between
batches), and each impression is an independent draw from it. A batch's impressions per arm
are then one multinomial draw and its clicks one binomial draw per arm: the same in
distribution as calling ``choose`` per impression and ``learn`` after the batch, thousands of
times faster. The policy needs ``distribution(context, candidates, rng)`` and
``learn_totals(segment, {creative id: (clicks, impressions)})``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.records import Context, Creative


@dataclass(frozen=True)
class Arms:
    """One test: its segment name, its creatives and their true CTRs, shape ``(K,)``."""

    segment: str
    creatives: tuple[Creative, ...]
    ctr: np.ndarray


def arms_of(table: Any) -> list[Arms]:
    """The tests of an arms table (``simulators.table.ArmsTable``), one per segment."""
    return [
        Arms(s, cs, np.array([table.ctr[(s, c.id)] for c in cs]))
        for s, cs in table.creatives.items()
    ]


def replay_batches(
    policy: Any, tests: Sequence[Arms], per_arm: int, batch: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Serve each test ``per_arm * K`` impressions in batches of ``batch``.

    Returns the policy's expected clicks and the oracle's (always the best arm) per test,
    shape ``(len(tests),)`` each. Tests advance batch by batch together.
    """
    horizon = np.array([per_arm * len(t.creatives) for t in tests])
    served = np.zeros(len(tests), dtype=int)
    got = np.zeros(len(tests))
    while (active := np.flatnonzero(served < horizon)).size:
        for i in active:
            t = tests[i]
            m = int(min(batch, horizon[i] - served[i]))
            dist = np.asarray(policy.distribution(Context(t.segment), t.creatives, rng))
            shown = rng.multinomial(m, dist / dist.sum())
            clicks = rng.binomial(shown, t.ctr)
            totals = zip(t.creatives, clicks.tolist(), shown.tolist(), strict=True)
            policy.learn_totals(t.segment, {c.id: (k, n) for c, k, n in totals})
            got[i] += shown @ t.ctr
            served[i] += m
    return got, horizon * np.array([t.ctr.max() for t in tests])
