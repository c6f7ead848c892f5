"""``POST /scans``: a hospital terminal's scan, answered green / yellow / red at once.

The body is :mod:`ledger.scan_request`'s; the answer :class:`ledger.scanning.ScanAnswer`'s
JSON: 201 when the scan was stored (green or yellow; a resent ``scanId`` gets its first
answer again, also 201), 409 problem+json carrying the same fields with ``colour: "red"``
when anything was refused (nothing stored), 400 naming every bad field by its JSON pointer,
403 for another institution's location.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.authentication import allow
from adapters.http.metrics import metrics_of
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.state import counted, ledger_of, read_json_object, state_of
from ledger.access import Permission, Principal
from ledger.capture import CaptureRequest
from ledger.outcomes import CaptureResult
from ledger.scan_request import ScanInvalid, body_schema
from ledger.scan_rules import YELLOW_WORDS, Colour
from ledger.scanning import ScanForbidden, ScanSettings, scan

router = APIRouter()
SCAN = Annotated[Principal, allow(Permission.SCAN)]
RED_TYPE = "https://tracecode.example/problems/scan-refused"


@router.post(
    "/scans",
    status_code=201,
    tags=["Hospital scans"],
    summary="One terminal action on one or more codes, answered green, yellow or red.",
    responses=problem_docs(400, 401, 403, 409, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": body_schema()}},
        }
    },
)
async def post_scan(request: Request, who: SCAN) -> JSONResponse:
    body = await read_json_object(request)
    state = state_of(request)

    async def commit(capture: CaptureRequest) -> CaptureResult:
        if state.committer is None:
            raise RuntimeError("the group committer is not running: the lifespan has not started")
        result: CaptureResult = await asyncio.wrap_future(state.committer.enqueue(capture))
        counted(request, result)
        return result

    try:
        answer = await scan(body, who, ledger_of(request), commit, _settings(request))
    except ScanInvalid as exc:
        raise ProblemError(
            400,
            f"the scan was not read: {exc}",
            errors=[error.as_json() for error in exc.errors],
        ) from None
    except ScanForbidden as exc:
        raise ProblemError(403, str(exc)) from None
    shown = answer.as_json()
    metrics = metrics_of(request.app)
    if metrics is not None:
        metrics.scanned(str(shown["operation"]), str(shown["colour"]))
    if answer.colour is Colour.RED:
        raise ProblemError(
            409,
            _refusal(shown),
            type=RED_TYPE,
            title="Scan refused",
            **shown,
        )
    return JSONResponse(shown, status_code=201)


def _settings(request: Request) -> ScanSettings:
    settings = getattr(request.app.state, "scan_settings", None)
    if settings is None:
        settings = request.app.state.scan_settings = ScanSettings.from_env()
    return settings


def _refusal(shown: dict[str, Any]) -> str:
    """One sentence: the first refused code and why (or the scan's own reason)."""
    for code in shown["codes"]:
        red = [r for r in code["reasons"] if r["reason"] not in YELLOW_WORDS]
        if red:
            return f"refused, nothing stored: {code['code']} is {red[0]['message']}"
    red = [r for r in shown["reasons"] if r["reason"] not in YELLOW_WORDS]
    return "refused, nothing stored" + (f": {red[0]['message']}" if red else "")
