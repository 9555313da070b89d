"""Campaign configuration: one YAML file, validated once into typed models.

Precedence is defaults < file < environment < command-line flags; the CLI applies the last
two through :func:`apply_overrides`. Every problem becomes a :class:`ConfigError` naming the
file, the field path and how to fix it. Cross-field checks live in :func:`_cross_checks`.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from optimizer.allocate.registry import EXPLORATIONS, POLICIES, unknown
from optimizer.errors import ConfigError


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
    policy: str = "vw"
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


class Refresh(_Model):
    """The refresh stage between rounds: retire, rewrite prompts, regenerate, fine-tune."""

    pool_size: int = Field(default=6, ge=2)  # active creatives kept per segment
    min_events: int = Field(default=300, ge=1)  # before a creative can be judged
    fatigue_drop: float = Field(default=0.5, gt=0, lt=1)
    candidates_per_slot: int = Field(default=3, ge=1)  # generated per opening, then ranked
    max_prompts: int = Field(default=4, ge=1)
    finetune: FineTune = Field(default_factory=FineTune)


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


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and loc[i - 2] == "features" and part in _FEATURE_TAGS:
            continue  # pydantic adds the union tag to the location; the user never wrote it
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_FEATURE_TAGS = {"normal", "uniform", "categorical"}


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling"
    if kind == "missing":
        return "required field is missing; add it"
    if kind == "union_tag_invalid":
        return "feature type must be one of normal, uniform, categorical"
    if kind == "union_tag_not_found":
        return "feature needs a 'type': normal, uniform or categorical"
    return f"{error['msg']} (got {error.get('input')!r})"


def _cross_checks(cfg: CampaignConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    names = [s.name for s in cfg.segments]
    for i, name in enumerate(names):
        if names.index(name) != i:
            problems.append((f"segments[{i}].name", f"duplicate segment {name!r}; rename one"))
    total = sum(s.share for s in cfg.segments)
    if abs(total - 1.0) > 1e-6:
        problems.append(
            ("segments", f"traffic shares sum to {total:.4g}, not 1; adjust the 'share' values")
        )
    for i, segment in enumerate(cfg.segments):
        for fname, spec in segment.features.items():
            where = f"segments[{i}].features.{fname}"
            if isinstance(spec, CategoricalFeature):
                if not spec.values or any(p < 0 for p in spec.values.values()):
                    problems.append((where, "categorical values need non-negative weights"))
                elif abs(sum(spec.values.values()) - 1.0) > 1e-6:
                    problems.append((where, "categorical probabilities must sum to 1"))
            if isinstance(spec, NormalFeature) and spec.min >= spec.max:
                problems.append((where, "min must be below max"))
            if isinstance(spec, UniformFeature) and spec.low >= spec.high:
                problems.append((where, "low must be below high"))
    if len(set(cfg.calls_to_action)) != len(cfg.calls_to_action):
        problems.append(("calls_to_action", "duplicate call to action; list each once"))
    hl_place = min(cfg.placements, key=lambda p: p.headline_max_chars)
    body_place = min(cfg.placements, key=lambda p: p.body_max_chars)
    for i, c in enumerate(cfg.seed_creatives):
        where = f"seed_creatives[{i}]"
        if len(c.headline) > hl_place.headline_max_chars:
            problems.append(
                (
                    f"{where}.headline",
                    f"{len(c.headline)} characters, over the {hl_place.headline_max_chars}"
                    f"-character limit of placement {hl_place.name!r}; shorten it",
                )
            )
        if len(c.body) > body_place.body_max_chars:
            problems.append(
                (
                    f"{where}.body",
                    f"{len(c.body)} characters, over the {body_place.body_max_chars}"
                    f"-character limit of placement {body_place.name!r}; shorten it",
                )
            )
        if c.cta not in cfg.calls_to_action:
            problems.append(
                (
                    f"{where}.cta",
                    f"{c.cta!r} is not an allowed call to action; use one of "
                    + ", ".join(cfg.calls_to_action),
                )
            )
        if c.segment is not None and c.segment not in names:
            problems.append((f"{where}.segment", unknown("segment", c.segment, names_map(names))))
    import re
    import string

    ids = [p.id for p in cfg.prompts]
    for i, prompt in enumerate(cfg.prompts):
        if ids.index(prompt.id) != i:
            problems.append((f"prompts[{i}].id", f"duplicate prompt id {prompt.id!r}; rename one"))
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(prompt.template) if f]
        except ValueError as exc:
            problems.append((f"prompts[{i}].template", f"{exc}; write literal braces as {{{{ }}}}"))
            continue
        for name in fields:
            if name not in PROMPT_VARIABLES:
                problems.append(
                    (
                        f"prompts[{i}].template",
                        f"unknown variable {{{name}}}; use "
                        + ", ".join("{" + v + "}" for v in PROMPT_VARIABLES),
                    )
                )
    gen = cfg.generation
    if gen.backend == "openai" and not gen.base_url:
        problems.append(
            ("generation.base_url", "backend openai needs base_url, e.g. http://localhost:8000/v1")
        )
    for i, rule in enumerate(cfg.filters.prohibited):
        for j, pattern in enumerate(rule.patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(
                    (f"filters.prohibited[{i}].patterns[{j}]", f"invalid regular expression: {exc}")
                )
    alloc = cfg.allocation
    if alloc.policy not in POLICIES:
        problems.append(("allocation.policy", unknown("policy", alloc.policy, POLICIES)))
    if alloc.exploration not in EXPLORATIONS:
        problems.append(
            ("allocation.exploration", unknown("exploration", alloc.exploration, EXPLORATIONS))
        )
    else:
        allowed = EXPLORATIONS[alloc.exploration][1]
        for key in alloc.params:
            if key not in allowed:
                problems.append(
                    (
                        f"allocation.params.{key}",
                        f"exploration {alloc.exploration!r} takes "
                        f"{', '.join(sorted(allowed))}; remove {key!r}",
                    )
                )
    sim = cfg.simulator
    for seg_name, truth in sim.segments.items():
        if seg_name not in names:
            problems.append(
                (f"simulator.segments.{seg_name}", unknown("segment", seg_name, names_map(names)))
            )
        for angle in truth.tastes:
            if angle not in sim.angles:
                problems.append(
                    (
                        f"simulator.segments.{seg_name}.tastes.{angle}",
                        unknown("angle", angle, sim.angles) + " (define it under simulator.angles)",
                    )
                )
        for cta in truth.cta:
            if cta not in cfg.calls_to_action:
                problems.append(
                    (f"simulator.segments.{seg_name}.cta.{cta}", "not in calls_to_action")
                )
    all_features = {f for s in cfg.segments for f in s.features}
    for i, ft in enumerate(sim.feature_tastes):
        where = f"simulator.feature_tastes[{i}]"
        if ft.feature not in all_features:
            problems.append(
                (f"{where}.feature", unknown("user feature", ft.feature, names_map(all_features)))
            )
        for angle in ft.tastes:
            if angle not in sim.angles:
                problems.append((f"{where}.tastes.{angle}", unknown("angle", angle, sim.angles)))
    return problems


def names_map(names: Any) -> dict[str, None]:
    return dict.fromkeys(names)


def parse_config(data: Any, source: str = "<config>") -> CampaignConfig:
    """Validate already-loaded YAML data into a :class:`CampaignConfig`."""
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", "expected a mapping of campaign fields")
    try:
        cfg = CampaignConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        more = f" (+{len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ConfigError(source, _path(first["loc"]), _message(first) + more) from None
    problems = _cross_checks(cfg)
    if problems:
        field, message = problems[0]
        more = f" (+{len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ConfigError(source, field, message + more)
    return cfg


def load_config(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "no such file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "(file)", f"cannot read it: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(yaml)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(str(path), where, f"invalid YAML: {problem}") from None
    return parse_config(data, str(path))


def apply_overrides(cfg: CampaignConfig, **overrides: Any) -> CampaignConfig:
    """Return a copy with the non-None overrides applied (environment and flags).

    Keys: ``seed``, ``database_url``, ``policy``, ``batch_size``.
    """
    data = cfg.model_dump()
    if overrides.get("seed") is not None:
        data["seed"] = overrides["seed"]
    if overrides.get("database_url") is not None:
        data["database_url"] = overrides["database_url"]
    if overrides.get("policy") is not None:
        data["allocation"]["policy"] = overrides["policy"]
    if overrides.get("batch_size") is not None:
        data["allocation"]["batch_size"] = overrides["batch_size"]
    return parse_config(data, "<command line>")
