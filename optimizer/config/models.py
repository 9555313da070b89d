"""The campaign's typed models: one class per section of the YAML file.

Each field carries its own type and range; checks that span fields live in
:mod:`optimizer.config.checks`, reading and overriding in :mod:`optimizer.config.loading`.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Placement(_Model):
    name: str
    headline_max_chars: int = Field(gt=0)
    body_max_chars: int = Field(gt=0)


class NormalFeature(_Model):
    type: Literal["normal"]
    mean: float
    sd: float = Field(gt=0)
    min: float = -math.inf
    max: float = math.inf


class UniformFeature(_Model):
    type: Literal["uniform"]
    low: float
    high: float


class CategoricalFeature(_Model):
    type: Literal["categorical"]
    values: dict[str, float]


FeatureSpec = Annotated[
    NormalFeature | UniformFeature | CategoricalFeature, Field(discriminator="type")
]


class Segment(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    share: float = Field(gt=0, le=1)
    description: str = ""
    features: dict[str, FeatureSpec] = Field(default_factory=dict)


class SeedCreative(_Model):
    headline: str = Field(min_length=1)
    body: str = ""
    cta: str
    segment: str | None = None


class Allocation(_Model):
    # auto: VW when the segments declare user features, Thompson sampling when they do not
    policy: str = "auto"
    exploration: str = "squarecb"
    params: dict[str, float] = Field(default_factory=dict)
    batch_size: int = Field(default=1, ge=1)


PROMPT_VARIABLES = (
    "product",
    "brief",
    "brand_voice",
    "segment",
    "segment_description",
    "examples",
    "headline_max",
    "body_max",
    "calls_to_action",
)


class PromptVariant(_Model):
    """A named prompt template; ``{variables}`` from PROMPT_VARIABLES are filled per segment."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    template: str = Field(min_length=1)
    system: str = "You write short, punchy ad copy and follow the requested format exactly."


class Generation(_Model):
    backend: Literal["transformers", "openai"] = "transformers"
    model: str = "smollm2"  # the embedded SmolLM2-135M-Instruct, a Hugging Face id or a path
    base_url: str | None = None  # for backend: openai
    api_key_env: str = "OPENAI_API_KEY"
    device: str = "auto"
    # auto: bfloat16 on CUDA, float32 on the CPU; bfloat16 on a CPU with native bf16 (AVX512-BF16,
    # AMX) generates ~1.5x faster from a bfloat16 copy (training stays float32)
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    threads: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=16, ge=1)
    n_per_prompt: int = Field(default=8, ge=1)
    temperature: float = Field(default=0.9, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_new_tokens: int = Field(default=40, ge=8)
    examples: int = Field(default=2, ge=0)


class PolicyRule(_Model):
    name: str
    patterns: list[str] = Field(min_length=1)  # regular expressions, case-insensitive


class Filters(_Model):
    relevance_min: float = Field(default=0.2, ge=-1, le=1)
    duplicate_max: float = Field(default=0.9, gt=0, le=1)
    keep_per_segment: int = Field(default=8, ge=1)
    mmr_lambda: float = Field(default=0.7, ge=0, le=1)
    profanity_max: float = Field(default=0.9, gt=0, le=1)
    policy_max: float = Field(default=0.5, gt=0, le=1)
    caps_ratio_max: float = Field(default=0.5, gt=0, le=1)
    exclamations_max: int = Field(default=1, ge=0)
    competitors: list[str] = Field(default_factory=list)
    required_disclaimer: str | None = None
    prohibited: list[PolicyRule] = Field(default_factory=list)
    # Offers and facts a creative may state besides those of the brief and seed creatives
    # (the claims filter rejects the rest), e.g. "Free returns within 30 days."
    facts: list[str] = Field(default_factory=list)


class FeatureTaste(_Model):
    """How one observable user feature shifts a segment's hidden taste."""

    feature: str
    value: str | None = None  # categorical: applies when the feature equals this value
    center: float = 0.0  # numeric: effect per (x - center) / scale
    scale: float = Field(default=1.0, gt=0)
    tastes: dict[str, float]


class SegmentTruth(_Model):
    base_ctr: float = Field(gt=0, lt=1)
    tastes: dict[str, float] = Field(default_factory=dict)
    cta: dict[str, float] = Field(default_factory=dict)
    numbers: float = 0.0  # log-odds when the text has a digit
    length: float = 0.0  # log-odds per 10 characters of headline + body beyond 60


class Fatigue(_Model):
    scale: float = Field(default=0.0, ge=0)  # impressions; 0 turns fatigue off
    floor: float = Field(default=0.6, gt=0, le=1)


class SimulatorSettings(_Model):
    """The hidden ground truth of the simulated audience (see simulators/README.md)."""

    angles: dict[str, list[str]] = Field(default_factory=dict)
    segments: dict[str, SegmentTruth] = Field(default_factory=dict)
    feature_tastes: list[FeatureTaste] = Field(default_factory=list)
    creative_noise: float = Field(default=0.15, ge=0)
    drift_sd: float = Field(default=0.0, ge=0)  # log-odds per 10,000 impressions
    fatigue: Fatigue = Field(default_factory=Fatigue)
    impressions_per_day: int = Field(default=20_000, gt=0)
    start: str = "2026-01-01T00:00:00+00:00"


class Attribution(_Model):
    """How logged rewards join decisions (the reward wait time of a deployment)."""

    window_hours: float = Field(default=24.0, gt=0)
    default_reward: float = 0.0  # for a decision whose window closed without a reward
    kinds: list[str] = Field(default_factory=lambda: ["click"], min_length=1)


class FineTune(_Model):
    enabled: bool = True
    every: int = Field(default=2, ge=1)  # rounds between generator refreshes
    steps: int = Field(default=3, ge=1)
    batch_size: int = Field(default=4, ge=1)
    learning_rate: float = Field(default=2e-4, gt=0)
    rank: int = Field(default=8, ge=1)
    min_examples: int = Field(default=4, ge=1)
    # sft: reward-weighted supervised tuning on the winners; dpo: on significant
    # winner/loser pairs (optimizer.refresh.lora)
    method: Literal["sft", "dpo"] = "sft"
    # Raw candidates per segment and prompt that the new version and its parent each write
    # on the same prompts and seeds; the new version is kept only when the scorer rates its
    # candidates higher by more than min_gain (relative). 0: kept without comparing.
    compare: int = Field(default=2, ge=0)
    min_gain: float = Field(default=0.0, ge=0)


class Refresh(_Model):
    """The refresh stage between rounds: retire, rewrite prompts, regenerate, fine-tune."""

    pool_size: int = Field(default=6, ge=2)  # active creatives kept per segment
    min_events: int = Field(default=300, ge=1)  # before a creative can be judged
    fatigue_drop: float = Field(default=0.5, gt=0, lt=1)
    candidates_per_slot: int = Field(default=3, ge=1)  # generated per opening, then ranked
    max_prompts: int = Field(default=4, ge=1)
    finetune: FineTune = Field(default_factory=FineTune)


# The largest seed: numpy's SeedSequence, VW and the store's integer columns all take it.
MAX_SEED = 2**32 - 1


class CampaignConfig(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    product: str = Field(min_length=1)
    brief: str = Field(min_length=1)
    brand_voice: str = ""
    placements: list[Placement] = Field(min_length=1)
    calls_to_action: list[str] = Field(min_length=1)
    segments: list[Segment] = Field(min_length=1)
    seed_creatives: list[SeedCreative] = Field(default_factory=list)
    prompts: list[PromptVariant] = Field(default_factory=list)
    generation: Generation = Field(default_factory=Generation)
    filters: Filters = Field(default_factory=Filters)
    allocation: Allocation = Field(default_factory=Allocation)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    attribution: Attribution = Field(default_factory=Attribution)
    refresh: Refresh = Field(default_factory=Refresh)
    seed: int = Field(default=0, ge=0)
    database_url: str = "sqlite:///runs/optimizer.db"

    @property
    def has_user_features(self) -> bool:
        """Users carry observable features the policy can personalise on."""
        return any(s.features for s in self.segments)

    @property
    def headline_limit(self) -> int:
        return min(p.headline_max_chars for p in self.placements)

    @property
    def body_limit(self) -> int:
        return min(p.body_max_chars for p in self.placements)

    def segment(self, name: str) -> Segment:
        for segment in self.segments:
            if segment.name == name:
                return segment
        raise KeyError(name)

    def config_hash(self) -> str:
        """Hash of the campaign itself: excludes seed and database, which are run settings."""
        data = self.model_dump(mode="json", exclude={"seed", "database_url"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
