"""Synthetic users for a campaign, with a hidden reader of ad text.

Model (documented in simulators/README.md). For a user ``u`` in segment ``s`` and creative
``c``, the true click probability is

    p(u, c) = sigmoid(logit(base_ctr_s) + (taste_s + sum_f effect_f(u)) . angles(c)
                      + cta_s[c.cta] + numbers_s * digit(c) + length_s * excess(c)
                      + noise_c) * fatigue(c)

- ``angles(c)`` is the hidden reader: for each angle named in ``simulator.angles`` (price,
  speed, comfort, ...), 1 if the creative's text contains one of its keywords, else 0. The
  optimizer never sees it; it sees the creative id (and, later, its own text features).
- ``taste_s`` is the segment's preference per angle (log-odds); ``effect_f(u)`` moves it by the
  user's observable features, so the best creative differs within a segment too (a numeric
  feature counts ``clip((x - center) / scale, -2, 2)`` times its weights).
- ``digit(c)`` is 1 when the text has a number; ``excess(c)`` is the number of characters of
  headline and body beyond 60, in tens.
- ``noise_c`` is a fixed per-creative offset drawn from N(0, creative_noise) seeded by the
  creative id and the run's simulator stream.
- Drift: every 1,000 impressions each taste takes a N(0, drift_sd * sqrt(0.1)) step
  (``drift_sd`` is the standard deviation per 10,000 impressions).
- Fatigue: a creative shown ``n`` times keeps ``floor + (1 - floor) * exp(-n / scale)`` of
  its appeal (off when ``scale`` is 0).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

import numpy as np

from optimizer.config import (
    CampaignConfig,
    CategoricalFeature,
    NormalFeature,
    UniformFeature,
)
from optimizer.records import Context, Creative
from simulators.base import draw_segments

DRIFT_TICK = 1_000
DEFAULT_BASE_CTR = 0.015
FEATURE_CLIP = 2.0  # a numeric feature moves tastes by at most 2 scales either way


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class AudienceSimulator:
    """Users drawn from a campaign's segments, reacting to what creatives say."""

    def __init__(self, cfg: CampaignConfig, rng: np.random.Generator) -> None:
        sim = cfg.simulator
        self.cfg = cfg
        self.angles = list(sim.angles)
        self._patterns = [
            re.compile(r"|".join(rf"(?<!\w){re.escape(k.lower())}(?!\w)" for k in words))
            if words
            else None
            for words in sim.angles.values()
        ]
        self.segment_names = [s.name for s in cfg.segments]
        self.shares = np.array([s.share for s in cfg.segments])
        self.ctas = list(cfg.calls_to_action)
        k = len(self.angles)
        self.base: dict[str, float] = {}
        self.numbers = {
            n: (sim.segments[n].numbers if n in sim.segments else 0.0) for n in self.segment_names
        }
        self.length = {
            n: (sim.segments[n].length if n in sim.segments else 0.0) for n in self.segment_names
        }
        self.tastes: dict[str, np.ndarray] = {}
        self.cta_tastes: dict[str, np.ndarray] = {}
        for name in self.segment_names:
            truth = sim.segments.get(name)
            self.base[name] = _logit(truth.base_ctr if truth else DEFAULT_BASE_CTR)
            taste = np.zeros(k)
            cta = np.zeros(len(self.ctas))
            if truth:
                for angle, w in truth.tastes.items():
                    taste[self.angles.index(angle)] = w
                for c, w in truth.cta.items():
                    cta[self.ctas.index(c)] = w
            self.tastes[name] = taste
            self.cta_tastes[name] = np.append(cta, 0.0)  # last entry: a CTA it doesn't know
        self._feature_tastes = []
        for ft in sim.feature_tastes:
            vec = np.zeros(k)
            for angle, w in ft.tastes.items():
                vec[self.angles.index(angle)] = w
            self._feature_tastes.append((ft, vec))
        self._noise_sd = sim.creative_noise
        self._noise_key = int(rng.integers(0, 2**32 - 1))
        self._drift_rng = rng
        self._drift_sd = sim.drift_sd
        self._fatigue = sim.fatigue
        self._clock = 0
        self._shown: dict[str, int] = {}
        self._creative_cache: dict[tuple[str, ...], tuple[np.ndarray, ...]] = {}

    # -- users ------------------------------------------------------------------------------
    def draw_contexts(self, n: int, rng: np.random.Generator) -> list[Context]:
        segments = draw_segments(self.segment_names, self.shares, n, rng)
        columns: dict[str, dict[str, list]] = {}
        for name in self.segment_names:
            k = segments.count(name)
            if k == 0:
                continue
            cols: dict[str, list] = {}
            for fname, f in self.cfg.segment(name).features.items():
                if isinstance(f, CategoricalFeature):
                    values = list(f.values)
                    cdf = np.cumsum(list(f.values.values()))
                    idx = np.minimum(
                        np.searchsorted(cdf, rng.random(k) * cdf[-1], "right"), len(values) - 1
                    )
                    cols[fname] = [values[i] for i in idx]
                elif isinstance(f, NormalFeature):
                    x = np.clip(rng.normal(f.mean, f.sd, size=k), f.min, f.max)
                    cols[fname] = np.round(x, 2).tolist()
                elif isinstance(f, UniformFeature):
                    cols[fname] = np.round(rng.uniform(f.low, f.high, size=k), 2).tolist()
            columns[name] = cols
        taken = dict.fromkeys(columns, 0)
        out = []
        for name in segments:
            j = taken[name]
            taken[name] = j + 1
            out.append(Context(segment=name, features={f: v[j] for f, v in columns[name].items()}))
        return out

    # -- the hidden reader ------------------------------------------------------------------
    def read(self, creative: Creative) -> np.ndarray:
        """Hidden angle indicators of a creative, shape ``(n_angles,)``."""
        text = f"{creative.headline} {creative.body}".lower()
        return np.array([1.0 if p is not None and p.search(text) else 0.0 for p in self._patterns])

    def _matrix(self, creatives: Sequence[Creative]) -> tuple[np.ndarray, ...]:
        """Angles (n, k), hidden noise (n,), call-to-action index (n,), has a digit (n,) and
        characters beyond 60 in tens (n,) of a candidate set."""
        key = tuple(c.id for c in creatives)
        cached = self._creative_cache.get(key)
        if cached is None:
            angles = np.array([self.read(c) for c in creatives]).reshape(len(creatives), -1)
            noise = np.array([self._noise(c) for c in creatives])
            cta = np.array(
                [self.ctas.index(c.cta) if c.cta in self.ctas else -1 for c in creatives]
            )
            text = [f"{c.headline} {c.body}" for c in creatives]
            digit = np.array([1.0 if re.search(r"\d", t) else 0.0 for t in text])
            excess = np.array([max(0.0, (len(t) - 60) / 10) for t in text])
            cached = self._creative_cache[key] = (angles, noise, cta, digit, excess)
        return cached

    def _noise(self, creative: Creative) -> float:
        if not self._noise_sd:
            return 0.0
        digest = int(hashlib.sha256(creative.id.encode()).hexdigest()[:15], 16)
        return float(np.random.default_rng([self._noise_key, digest]).normal(0.0, self._noise_sd))

    def taste(self, context: Context) -> np.ndarray:
        """The user's effective taste vector over angles (log-odds per angle)."""
        taste = self.tastes[context.segment].copy()
        for ft, vec in self._feature_tastes:
            x = context.features.get(ft.feature)
            if x is None:
                continue
            if ft.value is not None:
                if x == ft.value:
                    taste += vec
            elif isinstance(x, int | float):
                z = (float(x) - ft.center) / ft.scale
                taste += vec * min(max(z, -FEATURE_CLIP), FEATURE_CLIP)
        return taste

    def expected_rewards(self, context: Context, creatives: Sequence[Creative]) -> np.ndarray:
        angles, noise, cta, digit, excess = self._matrix(creatives)
        seg = context.segment
        z = self.base[seg] + angles @ self.taste(context) + noise + self.cta_tastes[seg][cta]
        z += self.numbers[seg] * digit + self.length[seg] * excess
        p = 1.0 / (1.0 + np.exp(-z))
        if self._fatigue.scale > 0:
            shown = np.array([self._shown.get(c.id, 0) for c in creatives], dtype=float)
            f = self._fatigue.floor
            p *= f + (1 - f) * np.exp(-shown / self._fatigue.scale)
        return p

    # -- state, for campaigns played in resumable rounds ---------------------------------------
    def state(self) -> dict:
        """What changes as impressions are served: fatigue counts, drifted tastes, clock."""
        return {
            "shown": dict(self._shown),
            "clock": self._clock,
            "tastes": {k: v.tolist() for k, v in self.tastes.items()},
        }

    def restore(self, state: dict, drift_rng: np.random.Generator) -> None:
        """Continue from ``state``; drift draws come from ``drift_rng`` from now on."""
        self._shown = {k: int(v) for k, v in state["shown"].items()}
        self._clock = int(state["clock"])
        self.tastes = {k: np.asarray(v, dtype=float) for k, v in state["tastes"].items()}
        self._drift_rng = drift_rng

    # -- time -------------------------------------------------------------------------------
    def served(self, creative: Creative) -> None:
        if self._fatigue.scale > 0:
            self._shown[creative.id] = self._shown.get(creative.id, 0) + 1

    def advance(self, impressions: int) -> None:
        if self._drift_sd <= 0:
            self._clock += impressions
            return
        before = self._clock // DRIFT_TICK
        self._clock += impressions
        step_sd = self._drift_sd * math.sqrt(DRIFT_TICK / 10_000)
        for _ in range(self._clock // DRIFT_TICK - before):
            for name in self.segment_names:
                self.tastes[name] = self.tastes[name] + self._drift_rng.normal(
                    0.0, step_sd, size=len(self.angles)
                )
