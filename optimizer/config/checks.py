"""Checks that span several fields of a campaign, all in one place.

Each check returns ``(field path, message)`` pairs; a message says what is wrong and how to
fix it. :func:`cross_checks` runs them all after the models have validated each field.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

from optimizer.allocate.registry import (
    AUTO,
    EXPLORATIONS,
    POLICIES,
    POLICY_PARAMS,
    param_problem,
    policy_param_problem,
    unknown,
)
from optimizer.config.models import (
    MAX_SEED,
    PROMPT_VARIABLES,
    CampaignConfig,
    CategoricalFeature,
    NormalFeature,
    UniformFeature,
)

Problems = list[tuple[str, str]]


def names_map(names: Iterable[str]) -> dict[str, None]:
    return dict.fromkeys(names)


def cross_checks(cfg: CampaignConfig) -> Problems:
    """Every cross-field problem of ``cfg``, in the order of the file's sections."""
    return [
        *_segments(cfg),
        *_seed_creatives(cfg),
        *_prompts(cfg),
        *_generation_and_filters(cfg),
        *_allocation(cfg),
        *_simulator(cfg),
        *_seed(cfg),
    ]


def _segments(cfg: CampaignConfig) -> Problems:
    problems: Problems = []
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
    return problems


def _seed_creatives(cfg: CampaignConfig) -> Problems:
    problems: Problems = []
    names = [s.name for s in cfg.segments]
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
    served = {c.segment for c in cfg.seed_creatives}
    bare = [] if None in served else [n for n in names if n not in served]
    if bare:
        problems.append(
            (
                "seed_creatives",
                f"no seed creative serves segment(s) {', '.join(bare)}; add one without a "
                "'segment' (it serves every segment) or one with 'segment' set to each of them",
            )
        )
    return problems


def _prompts(cfg: CampaignConfig) -> Problems:
    problems: Problems = []
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
    return problems


def _generation_and_filters(cfg: CampaignConfig) -> Problems:
    problems: Problems = []
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
    return problems


def _allocation(cfg: CampaignConfig) -> Problems:
    problems: Problems = []
    alloc = cfg.allocation
    names = {AUTO: None, **POLICIES}
    if alloc.policy not in names:
        problems.append(("allocation.policy", unknown("policy", alloc.policy, names)))
        return problems
    if alloc.exploration not in EXPLORATIONS:
        problems.append(
            ("allocation.exploration", unknown("exploration", alloc.exploration, EXPLORATIONS))
        )
        return problems
    # vw (and auto, which may become vw) reads its exploration's parameters; the other
    # policies read their own and ignore the exploration's, so one file serves both
    explores = EXPLORATIONS[alloc.exploration][1]
    own_name = alloc.policy  # auto: what it becomes for this campaign's users
    if own_name == AUTO:
        own_name = "vw" if cfg.has_user_features else "thompson"
    own = POLICY_PARAMS.get(own_name, {})
    for key, value in alloc.params.items():
        where = f"allocation.params.{key}"
        if key in explores:
            problem = param_problem(alloc.exploration, key, value)
        elif key in own:
            problem = policy_param_problem(own_name, key, value)
        else:
            takes = f"exploration {alloc.exploration!r} takes {', '.join(sorted(explores))}"
            if own:
                takes = f"policy {own_name!r} takes {', '.join(sorted(own))} and {takes}"
            problem = f"{takes}; remove {key!r}"
        if problem is not None:
            problems.append((where, problem))
    return problems


def _simulator(cfg: CampaignConfig) -> Problems:
    problems: Problems = []
    names = [s.name for s in cfg.segments]
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


def _seed(cfg: CampaignConfig) -> Problems:
    if cfg.seed > MAX_SEED:
        return [("seed", f"{cfg.seed} is too large; use a whole number from 0 to {MAX_SEED}")]
    return []
