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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from itertools import islice
from typing import Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from lxml import etree
from starlette.responses import Response

from adapters.http.documents import PreparedCapture
from adapters.http.freshness import POSITION_HEADER, position_headers
from adapters.http.headers import discovery_headers
from adapters.http.negotiation import JSON, XML, check_body_syntax, negotiate, request_syntax
from adapters.http.problems import (
    ALREADY_EXISTS,
    VALIDATION,
    ProblemError,
    problem_docs,
    problem_items,
)
from adapters.http.state import (
    commit_unless_gone,
    ledger_of,
    prepare_off_loop,
    read_body,
    state_of,
)
from epcis.limits import Limits, OverLimit, TooManyEvents
from epcis.problems import capped, excerpt
from ledger.application import CaptureResult
from ledger.capture import CaptureCancelled, CaptureRequest, ErrorBehaviour

router = APIRouter()

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 1000
_EPCIS_NS = "urn:epcglobal:epcis:xsd:2"
_JOB_REF = {"$ref": "#/components/schemas/CaptureJob"}

BEHAVIOUR_DOC = (
    "`rollback` (default): all or nothing. `proceed`: store the valid events and report the "
    "rest in the capture job."
)


@contextmanager
def advertising(headers: dict[str, str]) -> Iterator[None]:
    """Put the capture limits on every problem answered from inside the block too."""
    try:
        yield
    except ProblemError as exc:
        exc.headers = {**headers, **exc.headers}
        raise


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


async def prepare_or_refuse(
    request: Request,
    data: bytes,
    *,
    origin: str,
    error_behaviour: ErrorBehaviour,
    limits: Limits,
    too_many: Callable[[TooManyEvents], ProblemError],
) -> PreparedCapture:
    """Validate and prepare a posted document, or answer the problem that refused it before
    validation: more events than ``limits.max_events`` (``too_many``), a document over a
    limit of its shape (413), or a client that left meanwhile."""
    try:
        return await prepare_off_loop(
            request, data, origin=origin, error_behaviour=error_behaviour, limits=limits
        )
    except TooManyEvents as exc:
        raise too_many(exc) from None
    except OverLimit as exc:
        raise over_limit(exc) from None
    except CaptureCancelled:
        raise client_gone() from None


async def store_unless_gone(request: Request, capture: CaptureRequest) -> CaptureResult:
    """Commit a prepared capture, unless its client already left (then nothing is stored)."""
    try:
        return await commit_unless_gone(request, capture)
    except CaptureCancelled:
        raise client_gone() from None


def _over_capture_limit(exc: TooManyEvents) -> ProblemError:
    return ProblemError(
        413,
        f"the document holds {exc.count} events; this server captures at most "
        f"{exc.limit} per request (GS1-EPCIS-Capture-Limit): split the document",
        captureLimit=exc.limit,
        eventCount=exc.count,
    )


def over_limit(exc: OverLimit) -> ProblemError:
    """The 413 for a document refused before reading for its size or shape."""
    return ProblemError(413, f"{exc.problems[0].message}: split the document")


def client_gone() -> ProblemError:
    """What is sent (to nobody) when the client left before its capture was stored."""
    return ProblemError(
        400, "the client went away before its capture was stored; nothing was stored"
    )


def invalid_document(prepared: PreparedCapture) -> ProblemError:
    """The 400 for a document that stores nothing because of its problems."""
    request = prepared.request
    errors = [p for p in request.problems if p.is_error]
    warnings = [p for p in request.problems if not p.is_error]
    if request.document_errors:
        detail = (
            f"the document is not valid ({len(errors)} problem(s); the first: {errors[0]}); "
            "nothing was stored"
        )
    else:
        detail = (
            f"{len(request.rejected_indexes)} of {request.event_count} event(s) are not valid "
            f"(the first problem: {errors[0]}); with GS1-Capture-Error-Behaviour rollback "
            "nothing was stored (send proceed to store the valid events)"
        )
    invalid, omitted = capped(sorted(request.rejected_indexes))
    return ProblemError(
        400,
        detail,
        errors=problem_items(errors),
        warnings=problem_items(capped(warnings)[0]) or None,
        invalidEvents=invalid or None,
        invalidEventCount=len(request.rejected_indexes) if omitted else None,
    )


def conflict_items(result: CaptureResult, prepared: PreparedCapture | None) -> list[dict[str, Any]]:
    items = []
    for outcome in result.conflicts:
        where = (
            prepared.event_location(outcome["index"])
            if prepared
            else {"pointer": f"/epcisBody/eventList/{outcome['index']}"}
        )
        items.append(
            {
                **where,
                "message": outcome.get("message", "eventID conflict"),
                "eventID": outcome["eventID"],
                "existingHashID": outcome.get("existing_hash_id"),
                "hashID": outcome["hashID"],
            }
        )
    return items


def conflict_problem(result: CaptureResult, prepared: PreparedCapture) -> ProblemError:
    items = conflict_items(result, prepared)
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return ProblemError(
        409,
        f"nothing was stored: {items[0]['message']}{more}",
        title="eventID already used by a different event",
        errors=items,
        instance=job_location(result.capture_id),
        captureID=result.capture_id,
        summary=summary(result),
    )


def job_location(capture_id: str) -> str:
    return f"/capture/{quote(capture_id, safe='')}"


def summary(result: CaptureResult) -> dict[str, int]:
    return {
        "stored": result.count("stored"),
        "alreadyStored": result.count("already-stored"),
        "rejected": result.count("invalid") + result.count("conflict"),
        "notStored": result.count("not-stored"),
    }


# -- the capture job -------------------------------------------------------------------


def _job_errors(result: CaptureResult) -> list[dict[str, Any]]:
    """The job's ``errors``: RFC 7807 objects, as the bindings' CaptureJob schema wants."""
    errors: list[dict[str, Any]] = []
    for problem in result.errors:
        if problem.get("severity", "error") != "error":
            continue
        of_event = str(problem.get("pointer") or "").startswith("/epcisBody/eventList/")
        errors.append(
            {
                "type": VALIDATION,
                "title": "Invalid event" if of_event else "Invalid document",
                "status": 400,
                "detail": problem["message"],
                **{k: v for k, v in problem.items() if k not in ("severity",)},
            }
        )
    for item in capped(conflict_items(result, None))[0]:
        errors.append(
            {
                "type": ALREADY_EXISTS,
                "title": "eventID already used by a different event",
                "status": 409,
                "detail": item["message"],
                **item,
            }
        )
    return errors


def _outcome(outcome: dict[str, Any]) -> dict[str, Any]:
    names = {"existing_hash_id": "existingHashID"}
    return {names.get(k, k): v for k, v in outcome.items() if v is not None}


def job_json(result: CaptureResult) -> dict[str, Any]:
    """A capture job in the bindings' CaptureJob shape, plus ``summary`` and ``outcomes``."""
    warnings = [p for p in result.errors if p.get("severity", "error") != "error"]
    job: dict[str, Any] = {
        "captureID": result.capture_id,
        "createdAt": result.created,
        "finishedAt": result.finished,
        "running": False,
        "success": result.success,
        "captureErrorBehaviour": result.error_behaviour,
        "errors": _job_errors(result),
    }
    if warnings:
        job["warnings"] = warnings
    job["summary"] = summary(result)
    job["outcomes"] = [_outcome(o) for o in result.outcomes]
    if result.log_position:
        job["logPosition"] = result.log_position
    return job


def job_xml(result: CaptureResult) -> bytes:
    """The same job as an ``epcis:EPCISCaptureJob`` (EPCIS 2.0 XSD); outcomes are JSON only."""
    root = etree.Element(f"{{{_EPCIS_NS}}}EPCISCaptureJob", nsmap={"epcis": _EPCIS_NS})
    root.set("captureID", result.capture_id)
    root.set("running", "false")
    root.set("success", "true" if result.success else "false")
    etree.SubElement(root, "captureErrorBehaviour").text = result.error_behaviour
    if result.created:
        etree.SubElement(root, "createdAt").text = result.created
    if result.finished:
        etree.SubElement(root, "finishedAt").text = result.finished
    errors = _job_errors(result)
    if errors:
        holder = etree.SubElement(root, "errors")
        for error in errors:
            element = etree.SubElement(holder, "error")
            etree.SubElement(element, "type").text = error["type"]
            etree.SubElement(element, "title").text = error["title"]
            etree.SubElement(element, "status").text = str(error["status"])
            where = error.get("pointer") or ""
            if error.get("line") is not None:
                where = f"line {error['line']} {error.get('path', '')}".strip()
            etree.SubElement(element, "detail").text = (
                f"{where}: {error['detail']}" if where else error["detail"]
            )
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return out


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
        "content": {
            "application/ld+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
            "application/xml": {"schema": {"type": "string"}},
            "text/xml": {"schema": {"type": "string"}},
        },
    }
}
_POSITION_HEADER_DOC = {
    "description": (
        "Read your writes: the log position the read models must reach to include this "
        "capture; pass it to a read as `wait_for`."
    ),
    "schema": {"type": "integer"},
}
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


@router.options(
    "/capture",
    status_code=204,
    tags=["Discovery"],
    summary="Discover the settings of the capture interface.",
    response_class=Response,
    responses={
        204: {
            "description": "Allow, versions, limits, and the error behaviours supported (all).",
            "headers": {
                "Allow": {"schema": {"type": "string", "example": "OPTIONS, POST, GET"}},
                **_LIMIT_HEADERS_DOC,
                "GS1-Capture-Error-Behaviour": {"schema": {"type": "string", "example": "all"}},
            },
        }
    },
)
def capture_options(request: Request) -> Response:
    state = state_of(request)
    headers = discovery_headers("OPTIONS, POST, GET", state.max_events, state.max_bytes)
    headers["GS1-Capture-Error-Behaviour"] = "all"
    return Response(status_code=204, headers=headers)


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
            400,
            409,
            413,
            415,
            406,
            500,
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
    capture_error_behaviour: Annotated[
        str | None, Header(alias="GS1-Capture-Error-Behaviour", description=BEHAVIOUR_DOC)
    ] = None,
) -> Response:
    state = state_of(request)
    limits = state.limit_headers
    with advertising(limits):
        behaviour = error_behaviour(capture_error_behaviour)
        syntax = request_syntax(
            request.headers.get("content-type"), request.headers.get("content-encoding")
        )
        data = await read_body(request, state.max_bytes, limits)
        check_body_syntax(syntax, data)
        prepared = await prepare_or_refuse(
            request,
            data,
            origin="POST /capture",
            error_behaviour=behaviour,
            limits=replace(state.limits, max_events=state.max_events),
            too_many=_over_capture_limit,
        )
        capture_request = prepared.request
        if not capture_request.can_store_anything:
            raise invalid_document(prepared)
        result = await store_unless_gone(request, capture_request)
        if result.error_behaviour == "rollback" and result.conflicts:
            raise conflict_problem(result, prepared)
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
    per_page: Annotated[
        int, Query(alias="perPage", ge=1, le=MAX_PER_PAGE, description="Jobs per page.")
    ] = DEFAULT_PER_PAGE,
    next_page_token: Annotated[
        str | None, Query(alias="nextPageToken", description="From the previous page's Link.")
    ] = None,
) -> Response:
    negotiate(request.headers.get("accept"), [JSON])
    offset = _decode_token(next_page_token)
    jobs = list(islice(ledger_of(request).jobs(), offset, offset + per_page + 1))
    headers = {}
    if len(jobs) > per_page:
        token = _encode_token(offset + per_page)
        headers["Link"] = f'</capture?perPage={per_page}&nextPageToken={token}>; rel="next"'
    return JSONResponse([job_json(job) for job in jobs[:per_page]], headers=headers)


def _job(request: Request, capture_id: str) -> CaptureResult:
    job = ledger_of(request).job(capture_id)
    if job is None:
        raise ProblemError(404, f"there is no capture job {excerpt(capture_id)}")
    return job


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
def capture_job(request: Request, capture_id: str) -> Response:
    media = negotiate(request.headers.get("accept"), [JSON, XML])
    job = _job(request, capture_id)
    headers = position_headers(job.log_position) if job.log_position else {}
    if media == XML:
        return Response(job_xml(job), media_type=XML, headers=headers)
    return JSONResponse(job_json(job), headers=headers)


@router.options(
    "/capture/{capture_id}",
    status_code=204,
    tags=["Discovery"],
    summary="Query the metadata of the capture job endpoint.",
    response_class=Response,
    responses={204: {"description": "Allow and the GS1 headers."}, **problem_docs(404)},
)
def capture_job_options(request: Request, capture_id: str) -> Response:
    _job(request, capture_id)
    state = state_of(request)
    return Response(
        status_code=204,
        headers=discovery_headers("OPTIONS, GET", state.max_events, state.max_bytes),
    )
