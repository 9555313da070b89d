"""Campaign configuration: one YAML file, validated once into typed models.

- :mod:`~optimizer.config.models`: the pydantic models, one per section, with field ranges;
- :mod:`~optimizer.config.checks`: the checks across fields, in one place;
- :mod:`~optimizer.config.loading`: :func:`load_config`, :func:`parse_config` and
  :func:`apply_overrides` (defaults < file < environment < command-line flags).
"""

from optimizer.config.checks import cross_checks
from optimizer.config.loading import apply_overrides, load_config, parse_config
from optimizer.config.models import (
    MAX_SEED,
    PROMPT_VARIABLES,
    Allocation,
    Attribution,
    CampaignConfig,
    CategoricalFeature,
    Fatigue,
    FeatureSpec,
    FeatureTaste,
    Filters,
    FineTune,
    Generation,
    NormalFeature,
    Placement,
    PolicyRule,
    PromptVariant,
    Refresh,
    SeedCreative,
    Segment,
    SegmentTruth,
    SimulatorSettings,
    UniformFeature,
)

__all__ = [
    "MAX_SEED",
    "PROMPT_VARIABLES",
    "Allocation",
    "Attribution",
    "CampaignConfig",
    "CategoricalFeature",
    "Fatigue",
    "FeatureSpec",
    "FeatureTaste",
    "Filters",
    "FineTune",
    "Generation",
    "NormalFeature",
    "Placement",
    "PolicyRule",
    "PromptVariant",
    "Refresh",
    "SeedCreative",
    "Segment",
    "SegmentTruth",
    "SimulatorSettings",
    "UniformFeature",
    "apply_overrides",
    "cross_checks",
    "load_config",
    "parse_config",
]
