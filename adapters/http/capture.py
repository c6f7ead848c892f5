"""``/capture``: capture EPCIS documents; ``/capture/{captureID}``: what became of a capture.

The bindings describe an asynchronous job; here the job is done before the answer: the
events are validated, committed with whatever else is waiting (group commit), and only then
is ``202 Accepted`` sent, with ``Location: /capture/{captureID}``. A 202 therefore means the
events are durable.

What is answered (the bindings' choices, and ours where they leave one):

* ``202`` — the document was captured (``rollback``: every event is stored or was already
  there; ``proceed``: the valid ones are, and the job lists the rest).
* ``400`` — the document was not accepted: unreadable, invalid as a document, or (under
  ``rollback``) one of its events is invalid. The bindings: "An error occurred while receiving
  EPCIS events. All events are rejected." Nothing is stored and no job is created; the
  problem lists every error with its JSON pointer or XML line and path.
* ``409`` — under ``rollback``, an event reuses an eventID that belongs to a different event:
  nothing is stored; the problem names the eventID and both Event Hash IDs, and ``instance``
  is the (failed) capture job.
* ``413`` — more bytes than ``GS1-EPCIS-Capture-File-Size-Limit`` or more events than
  ``GS1-EPCIS-Capture-Limit``; ``415`` — not JSON-LD or XML.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from itertools import islice
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from adapters.http.authentication import allow
from adapters.http.capture_answers import job_json, job_location, job_xml, summary
from adapters.http.capturing import CAPTURE_PROBLEMS, advertising, capture_posted, posted_document
from adapters.http.discovery import add_options
from adapters.http.freshness import POSITION_HEADER, position_header_doc, position_headers
from adapters.http.negotiation import DOCUMENT_CONTENT, JSON, XML, negotiate
from adapters.http.problems import ProblemError, problem_docs, visible_or_404
from adapters.http.state import ledger_of, state_of
from epcis.problems import excerpt
from ledger.access import Permission, Principal, sees_job
from ledger.capture import ErrorBehaviour
from ledger.capture_flow import CaptureRules
from ledger.outcomes import CaptureResult

router = APIRouter()

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 1000
_JOB_REF = {"$ref": "#/components/schemas/CaptureJob"}

BEHAVIOUR_DOC = (
    "`rollback` (default): all or nothing. `proceed`: store the valid events and report the "
    "rest in the capture job."
)


def error_behaviour(value: str | None) -> ErrorBehaviour:
    if value is None or not value.strip():
        return "rollback"
    behaviour = value.strip().lower()
    if behaviour not in ("rollback", "proceed"):
        raise ProblemError(
            400,
            f"GS1-Capture-Error-Behaviour: {excerpt(value)} is not supported; "
            "use rollback or proceed",
            errors=[{"header": "GS1-Capture-Error-Behaviour", "message": "rollback or proceed"}],
        )
    return cast(ErrorBehaviour, behaviour)


def _decode_token(token: str | None) -> int:
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, number = text.partition(":")
        offset = int(number)
        if kind != "jobs" or offset < 0:
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ProblemError(
            400,
            f"nextPageToken {excerpt(token)} is not one this server gave out",
            errors=[{"query": "nextPageToken", "message": "unknown token"}],
        ) from None
    return offset


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"jobs:{offset}".encode()).decode().rstrip("=")


# -- routes ------------------------------------------------------------------------------

_CAPTURE_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "An EPCISDocument (or EPCISQueryDocument) in JSON-LD or in XML (EPCIS 2.0 or 1.2). "
            "The syntax is read from the content and must agree with the Content-Type."
        ),
        "content": DOCUMENT_CONTENT,
    }
}
_POSITION_HEADER_DOC = position_header_doc("this capture")
_LIMIT_HEADERS_DOC = {
    "GS1-EPCIS-Capture-Limit": {
        "description": "The most events one capture may hold.",
        "schema": {"type": "integer"},
    },
    "GS1-EPCIS-Capture-File-Size-Limit": {
        "description": "The largest document (bytes) one capture may be.",
        "schema": {"type": "integer"},
    },
}


add_options(
    router,
    "/capture",
    "OPTIONS, POST, GET",
    allow(Permission.CAPTURE),
    name="capture_options",
    summary="Discover the settings of the capture interface.",
    answered="Allow, versions, limits, and the error behaviours supported (all).",
    documented={
        "Allow": {"schema": {"type": "string", "example": "OPTIONS, POST, GET"}},
        **_LIMIT_HEADERS_DOC,
        "GS1-Capture-Error-Behaviour": {"schema": {"type": "string", "example": "all"}},
    },
    extra={"GS1-Capture-Error-Behaviour": "all"},
)


@router.post(
    "/capture",
    status_code=202,
    tags=["Capture"],
    summary="Capture one or more EPCIS events (answered once they are durable).",
    description=(
        "Validates the document, stores its events in one transaction, and answers "
        "`202 Accepted` only after that transaction committed, with `Location: "
        "/capture/{captureID}`. Already stored events (same Event Hash ID) are not stored "
        "again, so a retry is safe. A document that is not valid is answered `400` with every "
        "problem (JSON pointer, or XML line and path) and stores nothing; under `proceed` a "
        "document whose events are partly invalid is captured (`202`) and the job lists the "
        "rejected events. An event reusing an eventID of a different event: under `rollback` "
        "`409` (nothing stored; eventID and both Event Hash IDs named), under `proceed` the "
        "job lists the conflict."
    ),
    response_class=JSONResponse,
    openapi_extra=_CAPTURE_BODY,
    responses={
        202: {
            "description": "Captured and durable. `Location` is the capture job.",
            "headers": {
                "Location": {"schema": {"type": "string", "example": "/capture/3f1c…"}},
                POSITION_HEADER: _POSITION_HEADER_DOC,
                **_LIMIT_HEADERS_DOC,
            },
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CaptureAccepted"}}
            },
        },
        **problem_docs(
            *CAPTURE_PROBLEMS,
            s400="The document was not accepted (nothing stored, no job): every problem listed.",
            s409="rollback: an event reuses the eventID of a different event; nothing stored.",
            s413="Over GS1-EPCIS-Capture-File-Size-Limit bytes or GS1-EPCIS-Capture-Limit events.",
            s415="Not application/ld+json, application/json, application/xml or text/xml.",
            s406="An unsupported GS1-EPCIS-Version / GS1-CBV-Version was asked for.",
        ),
    },
)
async def capture(
    request: Request,
    who: Annotated[Principal, allow(Permission.CAPTURE)],
    capture_error_behaviour: Annotated[
        str | None, Header(alias="GS1-Capture-Error-Behaviour", description=BEHAVIOUR_DOC)
    ] = None,
) -> Response:
    state = state_of(request)
    limits = state.limit_headers
    with advertising(limits):
        rules = CaptureRules(
            "POST /capture",
            replace(state.limits, max_events=state.max_events),
            error_behaviour(capture_error_behaviour),
        )
        _, data = await posted_document(request, limits)
        result = await capture_posted(request, data, rules, who)
    body = {
        "captureID": result.capture_id,
        "running": False,
        "success": result.success,
        "captureErrorBehaviour": result.error_behaviour,
        "summary": summary(result),
        "logPosition": result.log_position,
    }
    return JSONResponse(
        body,
        status_code=202,
        headers={
            "Location": job_location(result.capture_id),
            **position_headers(result.log_position),
            **limits,
        },
    )


@router.get(
    "/capture",
    tags=["Capture"],
    summary="Returns a list of capture jobs (oldest first, paged).",
    description=(
        f"`perPage` jobs per page (default {DEFAULT_PER_PAGE}, at most {MAX_PER_PAGE}); when "
        'there are more, the `Link` header has the next page\'s URL with `rel="next"` and '
        "its `nextPageToken`."
    ),
    response_class=JSONResponse,
    responses={
        200: {
            "description": "The capture jobs of this page.",
            "headers": {"Link": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"type": "array", "items": _JOB_REF}}},
        },
        **problem_docs(400, 406),
    },
)
def capture_jobs(
    request: Request,
    who: Annotated[Principal, allow(Permission.READ_OWN_JOBS)],
    per_page: Annotated[
        int, Query(alias="perPage", ge=1, le=MAX_PER_PAGE, description="Jobs per page.")
    ] = DEFAULT_PER_PAGE,
    next_page_token: Annotated[
        str | None, Query(alias="nextPageToken", description="From the previous page's Link.")
    ] = None,
) -> Response:
    negotiate(request.headers.get("accept"), [JSON])
    offset = _decode_token(next_page_token)
    shown = (j for j in ledger_of(request).jobs() if sees_job(who, j.institution, j.captured_by))
    jobs = list(islice(shown, offset, offset + per_page + 1))
    headers = {}
    if len(jobs) > per_page:
        token = _encode_token(offset + per_page)
        headers["Link"] = f'</capture?perPage={per_page}&nextPageToken={token}>; rel="next"'
    return JSONResponse([job_json(job) for job in jobs[:per_page]], headers=headers)


def _job(
    request: Request, capture_id: str, who: Annotated[Principal, allow(Permission.READ_OWN_JOBS)]
) -> CaptureResult:
    return visible_or_404(
        ledger_of(request).job(capture_id),
        lambda job: sees_job(who, job.institution, job.captured_by),
        f"there is no capture job {excerpt(capture_id)}",
    )


@router.get(
    "/capture/{capture_id}",
    tags=["Capture"],
    summary="Returns information about the capture job.",
    description=(
        "The job in the bindings' CaptureJob shape (`running` is always false: a job is "
        "finished before `POST /capture` answers), plus `summary` and `outcomes`: for each "
        "event of the document its index, status (`stored`, `already-stored`, `conflict`, "
        "`invalid`, `not-stored`), eventID, Event Hash ID and, when stored, its position in "
        "the ledger. `application/xml` gives the EPCIS 2.0 `EPCISCaptureJob` element (without "
        "outcomes)."
    ),
    response_class=JSONResponse,
    responses={
        200: {
            "description": "The capture job.",
            "headers": {POSITION_HEADER: _POSITION_HEADER_DOC},
            "content": {
                "application/json": {"schema": _JOB_REF},
                "application/xml": {"schema": {"type": "string"}},
            },
        },
        **problem_docs(404, 406),
    },
)
def capture_job(
    request: Request, capture_id: str, who: Annotated[Principal, allow(Permission.READ_OWN_JOBS)]
) -> Response:
    media = negotiate(request.headers.get("accept"), [JSON, XML])
    job = _job(request, capture_id, who)
    headers = position_headers(job.log_position) if job.log_position else {}
    if media == XML:
        return Response(job_xml(job), media_type=XML, headers=headers)
    return JSONResponse(job_json(job), headers=headers)


add_options(
    router,
    "/capture/{capture_id}",
    "OPTIONS, GET",
    Depends(_job),
    name="capture_job_options",
    summary="Query the metadata of the capture job endpoint.",
    responses=problem_docs(404),
)
