"""The automatic policy: Thompson sampling without user features, VW with them.

VW's contextual bandit pays for itself only when there are user features to personalise on;
on tests without them it earns fewer clicks than batched Thompson sampling (``benchmarks/
replay.py``). Without features, ``auto`` is Thompson sampling with a narrowed posterior
(``sharpness``, chosen by cross-validation over real A/B tests in that benchmark), using the
empirical-Bayes or text prior when the caller has one.
"""

from __future__ import annotations

from collections.abc import Mapping

from optimizer.allocate.registry import AUTO

__all__ = ["AUTO", "AUTO_THOMPSON", "resolve_policy"]

# Parameters of the Thompson sampler ``auto`` picks (benchmarks/replay.py --sweep). A sharpness
# that grows with the test's impressions (``sharpen_every``) earned a little more at 2,000
# impressions per arm but lost 0.005 at 10,000, so the constant s = 8 stays.
AUTO_THOMPSON: dict[str, float] = {"sharpness": 8.0}


def resolve_policy(
    name: str, params: Mapping[str, float] | None = None, *, has_context_features: bool
) -> tuple[str, dict[str, float]]:
    """The registry name and parameters to build for ``name`` (``auto`` or a real name).

    ``has_context_features``: the users carry features (the campaign's segments declare
    ``features``, or requests send them). ``params`` given with ``auto`` override the chosen
    policy's defaults.
    """
    params = dict(params or {})
    if name != AUTO:
        return name, params
    if has_context_features:
        return "vw", params
    return "thompson", {**AUTO_THOMPSON, **params}
