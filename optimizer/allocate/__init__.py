"""Allocate: choose which creative each user sees, and log the probability of that choice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from optimizer.allocate.base import Choice, Policy, sample
from optimizer.allocate.priors import BetaPrior, GroupPrior
from optimizer.allocate.registry import (
    AUTO,
    EXPLORATIONS,
    POLICIES,
    load_policy_class,
    policy_params,
)
from optimizer.allocate.resolve import resolve_policy

if TYPE_CHECKING:
    from optimizer.config import CampaignConfig
    from optimizer.rng import Streams

__all__ = [
    "AUTO",
    "Choice",
    "Policy",
    "sample",
    "EXPLORATIONS",
    "POLICIES",
    "config_policy",
    "make_policy",
    "resolve_policy",
]


def make_policy(
    name: str,
    *,
    seed: int,
    exploration: str = "squarecb",
    params: Mapping[str, float] | None = None,
    has_context_features: bool | None = None,
    group_prior: GroupPrior | None = None,
    creative_priors: Mapping[str | tuple[str, str], BetaPrior] | None = None,
) -> Policy:
    """Build a policy by registry name; an unknown name lists the valid ones.

    ``auto`` is resolved with ``has_context_features`` (required then). ``params`` are vw's
    exploration parameters for vw, the policy's own (``registry.POLICY_PARAMS``) otherwise;
    other policies ignore the exploration's parameters, so one campaign file serves both.
    ``group_prior`` and ``creative_priors`` (keys: creative ids or (segment, creative id)) set
    the priors of the Thompson samplers; other policies take none.
    """
    if name == AUTO:
        if has_context_features is None:
            raise ValueError(
                "policy 'auto' picks vw or thompson by whether users carry features; "
                "pass has_context_features"
            )
        name, params = resolve_policy(name, params, has_context_features=has_context_features)
    cls: Any = load_policy_class(name)
    params = dict(params or {})
    takes_priors = cls.__name__ == "ThompsonPolicy"
    if not takes_priors and (group_prior is not None or creative_priors):
        raise ValueError(f"policy {name!r} takes no prior; use thompson, top-two or auto")
    if name == "vw":
        return cls(exploration=exploration, params=params, seed=seed)
    vw_only = EXPLORATIONS.get(exploration, ("", {}))[1]
    options = policy_params(name, {k: v for k, v in params.items() if k not in vw_only})
    if not takes_priors:
        return cls(**options)
    policy = cls(name=name, group_prior=group_prior, **options)
    if creative_priors:
        policy.set_priors(creative_priors)
    return policy


def config_policy(cfg: CampaignConfig, streams: Streams) -> Policy:
    """The config's allocation policy, seeded from the ``policy`` stream; ``auto`` becomes
    VW when the campaign's users carry features, Thompson sampling otherwise."""
    alloc = cfg.allocation
    return make_policy(
        alloc.policy,
        seed=streams.int_seed("policy"),
        exploration=alloc.exploration,
        params=dict(alloc.params),
        has_context_features=cfg.has_user_features,
    )
