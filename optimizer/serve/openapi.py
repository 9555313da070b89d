"""The OpenAPI 3.1 document, built from the same pydantic models that validate requests."""

from __future__ import annotations

from functools import cache

from pydantic.json_schema import models_json_schema

from optimizer.serve.schemas import (
    ErrorResponse,
    EventResponse,
    RankRequest,
    RankResponse,
    RewardRequest,
)

_ERRORS = {
    "400": "malformed JSON",
    "401": "missing, unknown or revoked API key",
    "403": "the key belongs to another campaign",
    "413": "request body over the size limit",
    "422": "a field is invalid; the message names it",
    "503": "the store could not be written; nothing was recorded, retry",
}


def _responses(ok: str, extra: dict[str, str]) -> dict:
    out = {"200": {"description": "OK", "content": _ref(ok)}}
    for code, text in {**_ERRORS, **extra}.items():
        out[code] = {"description": text, "content": _ref("ErrorResponse")}
    return out


def _ref(name: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _post(summary: str, body: str | None, ok: str, extra: dict[str, str]) -> dict:
    op: dict = {
        "summary": summary,
        "security": [{"bearer": []}, {"subscriptionKey": []}],
        "responses": _responses(ok, extra),
    }
    if body:
        op["requestBody"] = {"required": True, "content": _ref(body)}
    return {"post": op}


EVENT = [{"name": "eventId", "in": "path", "required": True, "schema": {"type": "string"}}]


@cache
def document() -> dict:
    models = [RankRequest, RankResponse, RewardRequest, EventResponse, ErrorResponse]
    _, schemas = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    reward = _post(
        "Reward a ranked event (value in [0, 1]; kind: one of the campaign's reward kinds)",
        "RewardRequest",
        "EventResponse",
        {
            "404": "unknown event",
            "409": "reward already recorded, or event not activated",
            "410": "reward after the window: stored as late, not learned from",
        },
    )
    activate = _post(
        "Activate an event ranked with deferActivation",
        None,
        "EventResponse",
        {"404": "unknown event"},
    )
    reward["post"]["parameters"] = activate["post"]["parameters"] = EVENT
    return {
        "openapi": "3.1.0",
        "info": {"title": "creative-optimizer decision service", "version": "1"},
        "paths": {
            "/rank": _post(
                "Choose a creative for one impression and log the decision",
                "RankRequest",
                "RankResponse",
                {"409": "eventId already ranked"},
            ),
            "/events/{eventId}/reward": reward,
            "/events/{eventId}/activate": activate,
            "/healthz": {
                "get": {"summary": "Liveness", "responses": {"200": {"description": "OK"}}}
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text format"}},
                }
            },
        },
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "subscriptionKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Ocp-Apim-Subscription-Key",
                },
            },
        },
    }
