"""The VW text the policy sees: who the user is, and what each creative says.

One decision is a multiline example::

    shared |S segment=marathoners |U age:0.41 device=mobile weekly_km:1.52
    |C creative=1a1f2dbc79f58555 |T e0:-0.32 ... len:0.92 num:0 cta_shop_now:1
    ...

- ``S``: the segment. ``U``: the user's features; numbers as z-scores (see
  :class:`FeatureScale`), anything else one-hot (``device=mobile``).
- ``C``: the creative's id. ``T``: its text features from the filter stage
  (:func:`optimizer.filter.features.with_text_features`: a projection of the sentence
  embedding, length, has-a-number, the call to action); empty for creatives known by id only.

The policy crosses them (``SC``, ``ST``, ``UT``, ``SU``, ``UC``; see
:mod:`optimizer.allocate.vw`), so what is learned about a creative's words carries over to
similar creatives and to new ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from optimizer.records import Context, Creative

_UNSAFE = re.compile(r"[\s|:]+")
Z_CLIP = 3.0


def token(value: object) -> str:
    """``value`` as one VW feature token: no spaces, bars or colons."""
    return _UNSAFE.sub("_", str(value))


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class FeatureScale:
    """Mean and standard deviation of each numeric user feature, from the first
    ``warmup`` contexts the policy learns from, then frozen.

    Raw values (an age of 38, 55 km a week) sit far from zero, so crossed with the text
    features they mostly repeat the segment's own weights and the learner converges slowly;
    centred and scaled they carry only what differs between users. Freezing keeps a served
    model's features fixed once it is past its first few hundred users. Welford's running
    moments; the state is saved with the model."""

    def __init__(self, warmup: int = 1_000, stats: Mapping[str, list[float]] | None = None):
        self.warmup = warmup
        # name -> [count, mean, sum of squared deviations]
        self.stats: dict[str, list[float]] = {
            k: [float(x) for x in v] for k, v in (stats or {}).items()
        }

    def observe(self, features: Mapping[str, object]) -> None:
        for name, value in features.items():
            if not _number(value) or not math.isfinite(float(value)):
                continue
            n, mean, m2 = self.stats.get(name, (0.0, 0.0, 0.0))
            if n >= self.warmup:
                continue
            n += 1
            delta = float(value) - mean
            mean += delta / n
            self.stats[name] = [n, mean, m2 + delta * (float(value) - mean)]

    def z(self, name: str, value: float) -> float:
        n, mean, m2 = self.stats.get(name, (0.0, 0.0, 0.0))
        sd = math.sqrt(m2 / (n - 1)) if n > 1 else 0.0
        if sd <= 0.0 or not math.isfinite(value):
            return 0.0
        return min(max((value - mean) / sd, -Z_CLIP), Z_CLIP)

    def to_json(self) -> dict:
        return {"warmup": self.warmup, "stats": self.stats}

    @classmethod
    def from_json(cls, data: Mapping) -> FeatureScale:
        return cls(warmup=int(data["warmup"]), stats=data["stats"])


def shared_line(context: Context, scale: FeatureScale | None = None) -> str:
    """The user: segment in ``S``, features in ``U`` (numbers as z-scores under ``scale``,
    as they are without one)."""
    parts = []
    for key, value in sorted(context.features.items()):
        if _number(value):
            x = float(value) if scale is None else scale.z(key, float(value))
            parts.append(f"{token(key)}:{x:.4g}")
        else:
            parts.append(f"{token(key)}={token(value)}")
    return f"shared |S segment={token(context.segment)} |U " + " ".join(parts)


def action_line(creative: Creative) -> str:
    """The creative: its id in ``C``, its numeric text features in ``T``."""
    feats = " ".join(f"{token(k)}:{float(v):.6g}" for k, v in sorted(creative.features.items()))
    return f"|C creative={creative.id} |T {feats}" if feats else f"|C creative={creative.id}"
