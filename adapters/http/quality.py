"""``GET /metrics/quality``: the data-quality figures of the hospital scans
(:mod:`ledger.quality`), per department and period, as JSON or CSV (``Accept: text/csv`` or
``?format=csv``). A reader, auditor or admin sees its institution's; a regulator every
institution's. A parameter that cannot be read is a 400 naming it."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from adapters.http.authentication import READ, principal_of
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.reads import CSV, wants_csv
from adapters.http.state import in_thread, ledger_of, state_of
from ledger.quality import PERIODS, QualityAsked, parse_time, quality
from projections.outbox import uploads

router = APIRouter()


@router.get(
    "/metrics/quality",
    tags=["Data quality"],
    summary="Data-quality figures of the hospital scans, per department and period.",
    description=(
        "Receiving scan rate, bind rate (also per location kind), scan accuracy, back-fill "
        "rate, anomaly rate (recalled / frozen / duplicate-bind refusals) per institution × "
        "department (the location scanned at) × period (`day`, `week`, `month`: UTC), for "
        "scans made in [`from`, `to`). From the log and the refused scans. JSON by default; "
        "CSV with `Accept: text/csv` or `format=csv`. Upload success and timeliness: of the "
        "messages the scans owed the 医保 platform, the share acknowledged, and acknowledged "
        "within 24 hours of the scan (null when none was owed)."
    ),
    response_class=Response,
    responses={
        200: {"description": "The figures.", "content": {"application/json": {}, CSV: {}}},
        **problem_docs(400),
    },
    dependencies=[READ],
)
async def get_quality(
    request: Request,
    from_: str | None = Query(
        None, alias="from", description="From (a date or an ISO 8601 time), inclusive."
    ),
    to: str | None = Query(None, description="To (a date or an ISO 8601 time), exclusive."),
    department: str | None = Query(None, description="One location id."),
    period: str = Query("month", description=f"One of {', '.join(PERIODS)}."),
    format: Literal["json", "csv"] | None = Query(None, description="Overrides `Accept`."),
) -> Response:
    principal = principal_of(request)
    try:
        start = parse_time("from", from_)
        end = parse_time("to", to)
        runner = state_of(request).projection
        owed = [] if runner is None else await in_thread(uploads, runner, principal.scope)
        figures = await in_thread(
            quality,
            ledger_of(request),
            principal.scope,
            start=start,
            end=end,
            period=period,
            department=department or None,
            uploads=owed,
        )
    except QualityAsked as exc:
        raise ProblemError(
            400,
            f"query parameter {exc}",
            errors=[{"query": exc.name, "message": str(exc)}],
        ) from None
    if wants_csv(request, format):
        return Response(figures.as_csv(), media_type=CSV)
    return JSONResponse(figures.as_json())
