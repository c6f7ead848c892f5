"""The HTTP API: the capture part of the GS1 EPCIS 2.0 REST bindings, over the ledger.

:func:`create_app` is given how to start tracecode (the bootstrap's
:func:`~adapters.bootstrap.start_system`: the ledger, its group committer, the read models
kept caught up, webhook delivery, who may ask); its lifespan starts it and, at shutdown,
closes it. ``tracecode serve`` runs :func:`adapters.bootstrap.http_app` in each worker.

Every response carries ``GS1-EPCIS-Version`` and ``GS1-CBV-Version``; every error is
``application/problem+json``. OpenAPI docs are at ``/docs``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http import (
    audit,
    capture,
    events,
    health,
    his_books,
    keys,
    masterdata,
    metrics,
    outbox,
    patients,
    problems,
    quality,
    queries,
    reads,
    rules,
    scans,
    stocktakes,
    subscriptions,
)
from adapters.http.body_timeouts import BodyTimeouts
from adapters.http.headers import VERSION_HEADERS, unsupported_version, vendor_version
from adapters.http.state import HttpState, Running
from adapters.http.transport import server_settings

log = logging.getLogger("tracecode.http")

DESCRIPTION = """\
The capture and query parts of the
[GS1 EPCIS 2.0 REST bindings](https://ref.gs1.org/standards/epcis/), over tracecode's
append-only ledger.

* `POST /capture` — EPCIS documents in JSON-LD or XML (2.0 or 1.2). Answered **202 only once
  the events are durable**; `Location` is the capture job. `GS1-Capture-Error-Behaviour`:
  `rollback` (default, all or nothing) or `proceed`.
* `GET /capture`, `GET /capture/{captureID}` — capture jobs (EPCISCaptureJob shape, plus
  what became of each event).
* `POST /events` — one event, synchronously (201, or 200 when it was already stored).
* `GET /events/{eventID}` — one event (EPCISQueryDocument, JSON-LD or XML by `Accept`).
* `GET /codes/{code}`, `GET /codes/{code}/hierarchy`, `GET /stock`, `GET /trails` — reads
  over the projections (status, history and hierarchy of a code, stock, recall trails as JSON
  or CSV), each with `as_of`. **Read your writes**: every capture answer carries
  `TraceCode-Log-Position: N`; a read with `wait_for=N` (or `TraceCode-Wait-For: N`) is
  answered once the projections have reached N (at once if they have; 503 with
  `Retry-After` after a bounded wait), and says the position it reflects in the same header.
  Without `wait_for` a read first catches the projections up with the log.
* `GET /events?…` — the EPCIS query language (every SimpleEventQuery parameter; lists
  separated by `|`), paged by `perPage` / `nextPageToken` (`Link: rel="next"`); 400
  QueryParameterException names a bad parameter. Top-level resources (`/eventTypes`, `/epcs`,
  `/bizSteps`, `/bizLocations`, `/readPoints`, `/dispositions`, each with `/{value}/events`)
  and named queries (`/queries`, `/queries/{name}/events`), with webhook subscriptions
  (`/queries/{name}/subscriptions`, signed and retried) and a WebSocket stream on
  `/queries/{name}/events`.
* `GET /audit/export`, `GET` / `POST /audit/verify`, `POST /audit/checkpoint` — the
  auditor's export, verification and signed checkpoints.
* `POST /keys`, `GET /keys`, `DELETE /keys/{keyId}` — an admin's keys of its institution.
* `GET` / `DELETE /patients/{pseudonym}` — reveal a patient to its institution's admin or
  auditor; erase the mapping (admin).
* `GET /metrics/quality` — data-quality figures of the hospital scans per department and
  period (JSON or CSV).
* `GET /outbox`, `GET /outbox/{msgid}`, `POST /outbox/retry` — the messages owed to the
  医保 and Beijing platforms, their states and the platforms' answers; retry (admin).
* `GET /metrics` — the server's operational figures in the Prometheus text format (readers).
* `GET /health` — 200 `ok`; 200 `degraded` when a projection quarantined events it could not
  apply (every read still answers, without them; they are listed); 503 when the store fails.
* `OPTIONS` on each capture and event resource — discovery: versions, limits
  (`GS1-EPCIS-Capture-Limit`, `GS1-EPCIS-Capture-File-Size-Limit`), vendor version.

Only EPCIS 2.0.0 / CBV 2.0.0 are served: a request asking for another version through
`GS1-EPCIS-Version`, `GS1-CBV-Version` or the `-Min`/`-Max` headers is answered 406. Errors
are RFC 9457 problem details (`application/problem+json`) with the bindings'
`epcisException:…` types; problems in a posted document are listed in `errors` with a JSON
pointer (JSON-LD) or line and element path (XML).
"""


ROUTERS = (
    capture.router,
    events.router,
    reads.router,
    his_books.router,
    queries.router,
    subscriptions.router,
    audit.router,
    keys.router,
    patients.router,
    masterdata.router,
    rules.router,
    scans.router,
    stocktakes.router,
    quality.router,
    outbox.router,
    metrics.router,
    health.router,
)
"""Every route of the API, by module."""


class GS1Headers:
    """Refuse unsupported GS1 versions (406); put the version headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        why = unsupported_version(Headers(scope=scope))
        if why is not None:
            response = problems.problem_response(406, why, instance=scope.get("path", "/"))
            await response(scope, receive, send)
            return

        async def send_with_versions(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in VERSION_HEADERS.items():
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_versions)


def create_app(
    start: Callable[[], Running],
    *,
    max_events: int | None = None,
    max_bytes: int | None = None,
    authentication: bool = True,
) -> FastAPI:
    """The ASGI app over what ``start`` builds when the app starts (the bootstrap's
    :func:`~adapters.bootstrap.start_system`), closed at shutdown. Limits default to
    ``TRACECODE_CAPTURE_LIMIT`` (events per capture, 10 000) and
    ``TRACECODE_MAX_DOCUMENT_BYTES`` (64 MiB); a request body that stalls or takes too long
    is answered 408 (:class:`~adapters.http.body_timeouts.BodyTimeouts`)."""
    state = HttpState.configure(max_events, max_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not authentication:
            log.warning("authentication is OFF (TRACECODE_AUTH=off): every request has full rights")
        running = await anyio.to_thread.run_sync(start)
        state.ledger, state.committer = running.ledger, running.committer
        state.projection, state.projected = running.runner, 0
        state.views_apart = running.views_apart
        state.authenticator, state.webhooks = running.authenticator, running.webhooks
        try:
            yield
        finally:
            state.committer = None
            await anyio.to_thread.run_sync(running.close)
            state.projection = None
            state.ledger = None

    app = FastAPI(
        title="tracecode EPCIS 2.0 capture API",
        version=vendor_version().removeprefix("tracecode-"),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.tracecode = state
    problems.install(app, [route for router in ROUTERS for route in router.routes])
    app.add_middleware(GS1Headers)
    transport = server_settings()
    app.add_middleware(BodyTimeouts, idle=transport.body_idle_timeout, total=transport.body_timeout)
    app.state.metrics = figures = metrics.Metrics(state)
    app.add_middleware(metrics.RequestTimer, metrics=figures)
    for router in ROUTERS:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


# -- OpenAPI ---------------------------------------------------------------------------

_VERSION_PARAMETERS = [
    ("GS1-EPCIS-Version", "The EPCIS version the client speaks; only 2.0.0 is served."),
    ("GS1-CBV-Version", "The CBV version the client uses; only 2.0.0 is served."),
    ("GS1-EPCIS-Min", "The lowest EPCIS version the client accepts."),
    ("GS1-EPCIS-Max", "The highest EPCIS version the client accepts."),
    ("GS1-CBV-Min", "The lowest CBV version the client accepts."),
    ("GS1-CBV-Max", "The highest CBV version the client accepts."),
]
_VERSION_SCHEMA = {"type": "string", "pattern": r"^\d+(\.\d+)*$", "example": "2.0.0"}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_CAPTURE_HEAD: dict[str, Any] = {
    "captureID": {"type": "string"},
    "running": {"type": "boolean"},
    "success": {"type": "boolean"},
    "captureErrorBehaviour": {"type": "string", "enum": ["rollback", "proceed"]},
}
"""What a capture job and the answer to ``POST /capture`` both say of the capture."""
_JOB_SCHEMA: dict[str, Any] = {
    "title": "CaptureJob",
    "description": (
        "The bindings' CaptureJob (`running` is always false here: the job is finished before "
        "`POST /capture` answers), plus `summary` and `outcomes` (one per event)."
    ),
    "type": "object",
    "required": ["captureID", "running", "success", "captureErrorBehaviour", "errors"],
    "properties": {
        **_CAPTURE_HEAD,
        "createdAt": {"type": "string", "format": "date-time"},
        "finishedAt": {"type": "string", "format": "date-time"},
        "errors": {"type": "array", "items": _PROBLEM_REF},
        "warnings": {"type": "array", "items": {"type": "object"}},
        "summary": {"$ref": "#/components/schemas/CaptureSummary"},
        "outcomes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer", "description": "Position in the document."},
                    "status": {
                        "type": "string",
                        "enum": ["stored", "already-stored", "conflict", "invalid", "not-stored"],
                    },
                    "eventID": {"type": "string"},
                    "hashID": {"type": "string", "description": "The CBV 2.0 Event Hash ID."},
                    "position": {"type": "integer", "description": "Place in the ledger."},
                    "message": {"type": "string"},
                    "existingHashID": {"type": "string"},
                },
            },
        },
        "logPosition": {
            "type": "integer",
            "description": "Read your writes: pass it to a read as `wait_for`.",
        },
    },
}
_SUMMARY_SCHEMA = {
    "title": "CaptureSummary",
    "type": "object",
    "properties": {
        "stored": {"type": "integer"},
        "alreadyStored": {"type": "integer"},
        "rejected": {"type": "integer", "description": "Invalid events and eventID conflicts."},
        "notStored": {"type": "integer", "description": "Valid, but the capture rolled back."},
    },
}
_ACCEPTED_SCHEMA = {
    "title": "CaptureAccepted",
    "type": "object",
    "properties": {
        **_CAPTURE_HEAD,
        "summary": {"$ref": "#/components/schemas/CaptureSummary"},
        "logPosition": {
            "type": "integer",
            "description": (
                "The log position the read models must reach to include this capture "
                "(also the `TraceCode-Log-Position` header): pass it to a read as `wait_for`."
            ),
        },
    },
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the GS1 headers on every operation and without the 422s
    (bad parameters are answered 400 problem+json here)."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Problem"] = problems.PROBLEM_SCHEMA
    schemas["CaptureJob"] = _JOB_SCHEMA
    schemas["CaptureSummary"] = _SUMMARY_SCHEMA
    schemas["CaptureAccepted"] = _ACCEPTED_SCHEMA
    parameters = components.setdefault("parameters", {})
    for name, description in _VERSION_PARAMETERS:
        parameters[name] = {
            "in": "header",
            "name": name,
            "required": False,
            "description": description,
            "schema": _VERSION_SCHEMA,
        }
    version_headers = {
        name: {"description": f"{name} of this server.", "schema": {"type": "string"}}
        for name in VERSION_HEADERS
    }
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.setdefault("parameters", []).extend(
                {"$ref": f"#/components/parameters/{name}"} for name, _ in _VERSION_PARAMETERS
            )
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if "406" not in responses:
                responses["406"] = {
                    "description": "An unsupported GS1 version was asked for.",
                    "content": {problems.PROBLEM_JSON: {"schema": _PROBLEM_REF}},
                }
            for response in responses.values():
                response.setdefault("headers", {}).update(version_headers)
    return schema
