"""``GET /health``: is the service up, and are the read models whole?

* **200** ``{"status": "ok", …}`` — the store answers, and no projection has skipped an
  event.
* **200** ``{"status": "degraded", …}`` — the store answers and every read answers, but a
  projection met events it could not apply and quarantined them (``tracecode projections
  failures`` lists them; ``tracecode projections rebuild`` tries them again): reads answer
  without those events. Still 200, on purpose: the service is serving, and a load balancer
  that took it out for one unprojectable event would turn a partial fault back into a
  total one; monitors alert on ``status``.
* **503** ``{"status": "unavailable", …}`` — the store does not answer.

Both 200 forms say how far the projections are: the tracking position, the position the
read models reflect, the log's end, how many events are quarantined (and, up to
:data:`LISTED`, which), and how many this server process quarantined since it started.
The check reads a few rows; it never catches the projections up.

``/health`` needs no credentials (load balancers and monitors ask it); which events were
quarantined (their eventIDs, positions and errors) is shown only to a caller whose
credentials may read the ledger (``reader``, ``auditor``, ``regulator``, ``admin``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.problems import ProblemError
from adapters.http.state import in_thread, state_of
from ledger.access import Permission
from ledger.application import Ledger
from projections import failures
from projections.freshness import reached
from projections.runner import ReadModelRunner

log = logging.getLogger(__name__)

router = APIRouter()

LISTED = 100
"""At most this many quarantined events are listed in the answer (``count`` is all)."""

_FAILURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "projection": {"type": "string", "description": "The projection that skipped it."},
        "notificationID": {"type": "integer", "description": "Its log position."},
        "position": {"type": "integer", "description": "Its place in the ledger."},
        "eventID": {"type": "string"},
        "hashID": {"type": "string"},
        "errorType": {"type": "string"},
        "error": {"type": "string", "description": "The error, truncated."},
        "failedAt": {"type": "string", "format": "date-time"},
    },
}
HEALTH_SCHEMA: dict[str, Any] = {
    "title": "Health",
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
        "projections": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "position": {
                    "type": "integer",
                    "description": "The log row of the last event applied (or skipped).",
                },
                "reached": {
                    "type": "integer",
                    "description": "The log position the read models reflect.",
                },
                "logEnd": {"type": "integer", "description": "The last log row."},
                "quarantined": {
                    "type": "object",
                    "properties": {
                        "count": {"type": "integer"},
                        "sinceStart": {
                            "type": "integer",
                            "description": "Quarantined by this server process.",
                        },
                        "events": {"type": "array", "items": _FAILURE_SCHEMA},
                    },
                },
            },
        },
        "detail": {"type": "string"},
    },
}


def health(ledger: Ledger, runner: ReadModelRunner) -> dict[str, Any]:
    """The health report (``status`` ok or degraded); raises when the store fails."""
    end = ledger.log_position()
    now = reached(ledger, runner)
    with runner.connect() as conn:
        count = failures.count(conn, runner.name)
        listed = failures.listed(conn, runner.name, limit=LISTED) if count else []
    return {
        "status": "degraded" if count else "ok",
        "projections": {
            "name": runner.name,
            "position": runner.position(),
            "reached": now,
            "logEnd": end,
            "quarantined": {
                "count": count,
                "sinceStart": runner.quarantined,
                "events": [f.as_json() for f in listed],
            },
        },
    }


@router.get(
    "/health",
    tags=["Health"],
    summary="Whether the service is up and its read models whole.",
    description=(
        "200 `ok`; 200 `degraded` when a projection quarantined events it could not apply "
        "(reads answer without them; listed here, at most 100); 503 `unavailable` when the "
        "store does not answer."
    ),
    responses={
        200: {
            "description": "Up (`ok` or `degraded`).",
            "content": {"application/json": {"schema": HEALTH_SCHEMA}},
        },
        503: {
            "description": "The store does not answer.",
            "content": {"application/json": {"schema": HEALTH_SCHEMA}},
        },
    },
)
async def get_health(request: Request) -> JSONResponse:
    state = state_of(request)
    runner, ledger = state.projection, state.ledger
    if runner is None or ledger is None:
        return JSONResponse({"status": "unavailable", "detail": "starting"}, status_code=503)
    try:
        report = await in_thread(health, ledger, runner)
    except Exception as error:
        log.exception("health check failed")
        return JSONResponse(
            {"status": "unavailable", "detail": f"{type(error).__name__}: the store failed"},
            status_code=503,
        )
    if not _may_read(request):
        report["projections"]["quarantined"].pop("events")
    return JSONResponse(report)


def _may_read(request: Request) -> bool:
    try:
        principal = state_of(request).authenticator.principal(request.headers.get("authorization"))
    except ProblemError:
        return False
    return principal.may(Permission.READ)
