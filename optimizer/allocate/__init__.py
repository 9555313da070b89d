"""Allocate: choose which creative each user sees, and log the probability of that choice."""

from __future__ import annotations

from typing import Any

from optimizer.allocate.base import Choice, Policy, sample
from optimizer.allocate.registry import EXPLORATIONS, POLICIES, load_policy_class

__all__ = ["Choice", "Policy", "sample", "EXPLORATIONS", "POLICIES", "make_policy"]


def make_policy(
    name: str, *, seed: int, exploration: str = "squarecb", params: dict[str, float] | None = None
) -> Policy:
    """Build a policy by registry name; an unknown name lists the valid ones."""
    cls: Any = load_policy_class(name)
    if name == "vw":
        return cls(exploration=exploration, params=params or {}, seed=seed)
    return cls()
