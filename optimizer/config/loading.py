"""Reading a campaign file and applying overrides: every problem becomes one ConfigError.

Precedence is defaults < file < environment < command-line flags; the CLI applies the last
two through :func:`apply_overrides`. A :class:`ConfigError` names the file, the field path
and how to fix it, and counts the problems it does not show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from optimizer.config.checks import cross_checks
from optimizer.config.models import CampaignConfig
from optimizer.errors import ConfigError

_FEATURE_TAGS = {"normal", "uniform", "categorical"}


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


def _more(count: int) -> str:
    return f" (+{count - 1} more problems)" if count > 1 else ""


def parse_config(data: Any, source: str = "<config>") -> CampaignConfig:
    """Validate already-loaded YAML data into a :class:`CampaignConfig`."""
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", "expected a mapping of campaign fields")
    try:
        cfg = CampaignConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        raise ConfigError(
            source, _path(first["loc"]), _message(first) + _more(len(errors))
        ) from None
    problems = cross_checks(cfg)
    if problems:
        field, message = problems[0]
        raise ConfigError(source, field, message + _more(len(problems)))
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
