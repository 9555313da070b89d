"""Rewards from a simulated audience."""

from __future__ import annotations

from collections.abc import Sequence

from optimizer.records import Creative, Decision, Feedback
from simulators.base import Simulator


def respond(
    simulator: Simulator, decision: Decision, candidates: Sequence[Creative], draw: float
) -> Feedback:
    """The simulated user's response to ``decision``.

    ``draw`` is a uniform number from the run's click stream: the user clicks when it falls
    below the true click probability, so two policies on one seed share their luck.
    """
    expected = simulator.expected_rewards(decision.context, candidates)
    index = decision.candidates.index(decision.chosen)
    simulator.served(candidates[index])
    reward = 1.0 if draw < expected[index] else 0.0
    return Feedback(
        decision=decision,
        reward=reward,
        kind="click",
        timestamp=decision.timestamp,
        expected=tuple(float(x) for x in expected),
    )
