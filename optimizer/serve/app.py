"""The ASGI app: ``/rank``, ``/events/{eventId}/reward``, ``/events/{eventId}/activate``,
``/healthz``, ``/metrics``, ``/openapi.json``; Personalizer's paths
(``/personalizer/v1.0/...``) route to the same handlers.

A handler validates (size-bounded pydantic models), calls the decision code, awaits the
group commit and serialises. Every refusal is ``{"error": {"code", "message"}}`` with a
one-line message naming the field; no response ever carries a stack trace.
"""

from __future__ import annotations

import gc
import logging
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import orjson
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from optimizer.serve import metrics
from optimizer.serve.decide import RequestError, decision_row, rank
from optimizer.serve.journal import ActivateOp, RankOp, RewardOp, StoreUnavailable
from optimizer.serve.openapi import document
from optimizer.serve.schemas import (
    EventResponse,
    RankRequest,
    RewardRequest,
    describe,
)
from optimizer.serve.service import Service
from optimizer.serve.settings import ServeSettings

log = logging.getLogger("optimizer.serve")
EVENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
KEY_HEADERS = (b"ocp-apim-subscription-key", b"x-api-key")
Handler = Callable[[Request, Service], Awaitable[Response]]


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status)


def _headers(request: Request) -> dict[bytes, bytes]:
    """The request's headers by name (lower case, as ASGI servers pass them), the first of
    a repeated one; one dict per request instead of a scan of the list per lookup."""
    return dict(reversed(request.scope["headers"]))


def _authorize(headers: dict[bytes, bytes], service: Service) -> None:
    raw = next((headers[h] for h in KEY_HEADERS if h in headers), None)
    if raw is None:
        auth = headers.get(b"authorization", b"").decode("latin-1")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    else:
        key = raw.decode("latin-1")
    if not key:
        raise RequestError(
            401, "Unauthorized", "missing API key; send it as Authorization: Bearer KEY"
        )
    campaign = service.keys.campaign_of(key)
    if campaign is None:
        raise RequestError(401, "Unauthorized", "unknown or revoked API key")
    if campaign != service.campaign:
        raise RequestError(
            403, "Forbidden", f"this key is for campaign {campaign!r}, not {service.campaign!r}"
        )


async def _body(request: Request, headers: dict[bytes, bytes], limit: int) -> bytes:
    raw = headers.get(b"content-length")
    if raw is not None:
        declared = raw.decode("latin-1")
        if not declared.isdigit():
            raise RequestError(400, "BadRequest", "Content-Length header is not a number")
        if int(declared) > limit:
            raise RequestError(
                413,
                "PayloadTooLarge",
                f"request body: {declared} bytes, over the {limit}-byte limit",
            )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "PayloadTooLarge", f"request body: over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(model: type[BaseModel], body: bytes, empty_ok: bool = False):
    if not body.strip() and empty_ok:
        body = b"{}"
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        status, message = describe(exc)
        code = "BadArgument" if status == 422 else "BadRequest"
        raise RequestError(status, code, message) from None


def _event_id(request: Request) -> str:
    event_id = request.path_params["eventId"]
    if not EVENT_ID.match(event_id):
        raise RequestError(
            422, "BadArgument", "eventId: use 1 to 64 letters, digits or _ . : - characters"
        )
    return event_id


async def rank_handler(request: Request, service: Service) -> Response:
    headers = _headers(request)
    _authorize(headers, service)
    req = _parse(RankRequest, await _body(request, headers, service.settings.max_body))
    s = service.settings
    ranked = rank(req, service.served, service.campaign, s.mode, s.explore, service.rng)
    d = ranked.decision
    op = RankOp(decision_row(d), req.deferActivation, caller_id=req.eventId is not None)
    outcome = await service.journal.submit(op)
    if outcome.status == "duplicate":
        was = f" (action {outcome.detail})" if outcome.detail else ""
        raise RequestError(
            409,
            "Conflict",
            f"eventId {d.event_id!r} was already ranked{was}; reward that event or send a "
            "new eventId",
        )
    metrics.count(metrics.DECISIONS, s.mode)
    c = ranked.creative
    # RankResponse's fields (its model documents them and a test validates this body
    # against it), serialised directly: building the model cost 20 us a request, this 2.
    body = {
        "eventId": d.event_id,
        "rewardActionId": d.chosen,
        "probability": d.probability,
        "ranking": [{"id": i, "probability": p} for i, p in ranked.ranking],
        "creative": {"id": c.id, "headline": c.headline, "body": c.body, "cta": c.cta}
        if c
        else None,
        "segment": req.segment,
        "mode": s.mode,
        "policyVersion": d.policy_version,
        "deferred": req.deferActivation,
    }
    return Response(orjson.dumps(body, option=JSON_OPTIONS), media_type="application/json")


def _unknown(event_id: str, service: Service) -> RequestError:
    return RequestError(
        404,
        "NotFound",
        f"no event {event_id!r} in campaign {service.campaign!r}; use the eventId /rank returned",
    )


async def reward_handler(request: Request, service: Service) -> Response:
    headers = _headers(request)
    _authorize(headers, service)
    event_id = _event_id(request)
    body = _parse(RewardRequest, await _body(request, headers, service.settings.max_body))
    kind = body.kind or service.kinds[0]
    if kind not in service.kinds:
        raise RequestError(
            422,
            "BadArgument",
            f"kind: {kind!r} is not a reward kind of this campaign; use "
            + ", ".join(service.kinds),
        )
    op = RewardOp(event_id, service.campaign, kind, body.value, _now(), service.window)
    outcome = await service.journal.submit(op)
    joined = "joined" if outcome.status == "recorded" else outcome.status
    metrics.count(metrics.REWARDS, joined)
    if outcome.status == "recorded":
        message = f"{kind} reward {body.value:g} recorded"
        return _json(EventResponse(eventId=event_id, status="recorded", message=message))
    if outcome.status == "late":
        hours = service.cfg.attribution.window_hours
        raise RequestError(
            410,
            "RewardLate",
            f"event {event_id!r}: the reward came after the {hours:g}-hour reward window; "
            f"stored as late and not learned from (the decision keeps the default reward "
            f"{service.cfg.attribution.default_reward:g})",
        )
    if outcome.status == "duplicate":
        raise RequestError(
            409,
            "Conflict",
            f"event {event_id!r} already has a {kind} reward; a reward counts once",
        )
    if outcome.status == "inactive":
        raise RequestError(
            409,
            "NotActivated",
            f"event {event_id!r} was ranked with deferActivation; POST "
            f"/events/{event_id}/activate first",
        )
    raise _unknown(event_id, service)


async def activate_handler(request: Request, service: Service) -> Response:
    _authorize(_headers(request), service)
    event_id = _event_id(request)
    outcome = await service.journal.submit(ActivateOp(event_id, service.campaign, _now()))
    if outcome.status == "unknown":
        raise _unknown(event_id, service)
    message = "activated" if outcome.status == "activated" else "already active"
    return _json(EventResponse(eventId=event_id, status=outcome.status, message=message))


async def health_handler(request: Request, service: Service) -> Response:
    return JSONResponse(
        {
            "status": "ok",
            "campaign": service.campaign,
            "policyVersion": service.served.version,
            "mode": service.settings.mode,
        }
    )


async def metrics_handler(request: Request, service: Service) -> Response:
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


async def openapi_handler(request: Request, service: Service) -> Response:
    return JSONResponse(document())


def _now() -> datetime:
    return datetime.now(UTC)


class _Endpoint:
    """One route's ASGI app: run the handler, time it, count it, and turn every failure
    into a one-line error. An ASGI class rather than a ``request -> response`` function,
    which Starlette would wrap in two more layers per request (a second exception
    handler: the handler's failures are all answered here)."""

    def __init__(self, name: str, handler: Handler) -> None:
        self.name, self.handler = name, handler
        self.latency = metrics.LATENCY.labels(endpoint=name)

    async def __call__(self, scope, receive, send) -> None:
        start = time.perf_counter()
        request = Request(scope, receive, send)
        service: Service = scope["app"].state.service
        try:
            response = await self.handler(request, service)
        except RequestError as exc:
            response = _error(exc.status, exc.code, exc.message)
        except StoreUnavailable as exc:
            response = _error(503, "StoreUnavailable", f"{exc}; retry the request")
        except Exception:  # logged with its traceback on the server, never sent
            log.exception("%s failed", self.name)
            response = _error(500, "InternalError", "internal error; see the server log")
        metrics.count(metrics.REQUESTS, self.name, str(response.status_code))
        self.latency.observe(time.perf_counter() - start)
        await response(scope, receive, send)


ROUTES: list[tuple[str, str, Handler, str]] = [
    ("/rank", "POST", rank_handler, "rank"),
    ("/events/{eventId}/reward", "POST", reward_handler, "reward"),
    ("/events/{eventId}/activate", "POST", activate_handler, "activate"),
    ("/healthz", "GET", health_handler, "healthz"),
    ("/metrics", "GET", metrics_handler, "metrics"),
    ("/openapi.json", "GET", openapi_handler, "openapi"),
]
PERSONALIZER = "/personalizer/v1.0"


def create_app(settings: ServeSettings) -> Starlette:
    routes = []
    for path, method, handler, name in ROUTES:
        endpoint = _Endpoint(name, handler)
        routes.append(Route(path, endpoint, methods=[method], name=name))
        if name in ("rank", "reward", "activate"):
            routes.append(Route(PERSONALIZER + path, endpoint, methods=[method], name=name))

    @asynccontextmanager
    async def lifespan(app: Starlette):
        service = Service(settings)
        app.state.service = service
        await service.start()
        # What start-up loaded (models, tables, libraries) lives as long as the worker: out of
        # the collector's sight, so a full collection does not walk it during a request.
        gc.freeze()
        try:
            yield
        finally:
            await service.stop()

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        message = "no such endpoint" if status == 404 else "method not allowed here"
        return _error(status, "NotFound" if status == 404 else "MethodNotAllowed", message)

    async def crashed(request: Request, exc: Exception) -> Response:
        return _error(500, "InternalError", "internal error; see the server log")

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_found, Exception: crashed},
    )


def app_from_env() -> Starlette:
    """The factory uvicorn's workers call (settings come in ``CREATIVE_OPTIMIZER_SERVE``)."""
    return create_app(ServeSettings.from_env())
