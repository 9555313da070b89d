"""Request and response bodies, Personalizer-compatible, with size bounds on every field.

Personalizer's Rank request and response keep their names (``contextFeatures``,
``actions``, ``excludedActions``, ``eventId``, ``deferActivation``, ``rewardActionId``,
``ranking[].probability``); ``segment``, ``baselineAction`` and the response's ``creative``,
``probability`` and ``policyVersion`` are this service's additions.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

MAX_ACTIONS = 50  # Personalizer's limit per Rank call
MAX_FEATURES = 64  # per context object and per action
MAX_CONTEXT_OBJECTS = 16
MAX_STRING = 256
MAX_BODY_BYTES = 64 * 1024

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(max_length=MAX_STRING)]


def _check_features(obj: dict[str, Any]) -> dict[str, Any]:
    """Values are numbers, booleans, strings of at most MAX_STRING characters, or one level
    of nested object of those."""
    for key, value in obj.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        if isinstance(value, dict) and len(value) > MAX_FEATURES:
            raise ValueError(f"{key!r} has {len(value)} features, over the limit {MAX_FEATURES}")
        for sub, v in items:
            name = key if sub is None else f"{key}.{sub}"
            if isinstance(v, str):
                if len(v) > MAX_STRING:
                    raise ValueError(
                        f"{name!r} is {len(v)} characters, over the limit {MAX_STRING}"
                    )
            elif isinstance(v, dict):
                raise ValueError(f"{name!r} is nested deeper than one level; flatten it")
            elif (
                not isinstance(v, bool | int | float)
                or v != v
                or v in (float("inf"), -float("inf"))
            ):
                raise ValueError(f"{name!r} must be a number, a boolean or a string")
            if sub is not None and len(str(sub)) > 64:
                raise ValueError(f"feature name {name!r} is over 64 characters")
    return obj


FeatureObject = Annotated[
    dict[Name, Any], Field(max_length=MAX_FEATURES), AfterValidator(_check_features)
]
Features = Annotated[list[FeatureObject], Field(max_length=MAX_CONTEXT_OBJECTS)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Action(_Body):
    id: Id
    # Accepted for Personalizer clients, not used to choose: a creative's features come from
    # the store, because the logs keep candidate ids and learning must see what serving saw.
    features: Features | None = None


class RankRequest(_Body):
    contextFeatures: Features = Field(default_factory=list)
    actions: Annotated[list[Action], Field(max_length=MAX_ACTIONS)] = Field(default_factory=list)
    excludedActions: Annotated[list[Id], Field(max_length=MAX_ACTIONS)] = Field(
        default_factory=list
    )
    eventId: Id | None = None
    deferActivation: bool = False
    segment: Annotated[str, StringConstraints(max_length=64)] | None = None
    baselineAction: Id | None = None  # apprentice mode; default: the first action


class RewardRequest(_Body):
    value: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    kind: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None


class RankedAction(_Body):
    id: str
    probability: float


class CreativeText(_Body):
    id: str
    headline: str
    body: str
    cta: str


class RankResponse(_Body):
    eventId: str
    rewardActionId: str
    probability: float
    ranking: list[RankedAction]
    creative: CreativeText | None  # None for an action id that is not a stored creative
    segment: str | None
    mode: str
    policyVersion: str
    deferred: bool


class EventResponse(_Body):
    eventId: str
    status: str  # recorded | late | active | activated
    message: str


class ErrorDetail(_Body):
    code: str
    message: str


class ErrorResponse(_Body):
    error: ErrorDetail


def flatten_features(features: Any) -> dict[str, str | float]:
    """One flat mapping from Personalizer's list of feature objects; nested objects become
    dotted names (``{"device": {"os": "ios"}}`` -> ``device.os``); booleans become 0/1."""
    objects = features if isinstance(features, list) else [features]
    out: dict[str, str | float] = {}
    for obj in objects:
        for key, value in obj.items():
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for sub, v in items:
                name = f"{key}.{sub}" if sub is not None else key
                out[name] = v if isinstance(v, str) else float(v)
    return out


def _location(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("list[...]", "function-after[...]") or "[" in str(part):
            continue  # pydantic's union branch names; the caller never wrote them
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def describe(error: ValidationError) -> tuple[int, str]:
    """(status, one-line message naming the field) for a body that failed validation."""
    first = error.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return 400, f"malformed JSON: {first['ctx'].get('error', first['msg'])}"
    if first["type"] == "extra_forbidden":
        return 422, f"{_location(first['loc'])}: unknown field; remove it or check its spelling"
    if first["type"] == "missing":
        return 422, f"{_location(first['loc'])}: required field is missing"
    if first["type"] == "value_error":
        return 422, f"{_location(first['loc'])}: {first['ctx']['error']}"
    if first["type"] == "model_type":
        return 422, f"{_location(first['loc'])}: expected a JSON object"
    return 422, f"{_location(first['loc'])}: {first['msg']}"
