"""What the capture routes answer: refusals as problems, capture jobs as JSON or XML.

Every refusal of :mod:`ledger.capture_flow` becomes its one problem here (:func:`refusal`),
whichever route it came from; a capture job is rendered in the bindings' CaptureJob shape.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from lxml import etree

from adapters.http.problems import ALREADY_EXISTS, VALIDATION, ProblemError, problem_items
from epcis.problems import capped
from ledger.capture import CaptureRequest
from ledger.capture_flow import (
    ClientGone,
    EventIdConflict,
    InvalidDocument,
    NotOneEvent,
    Refused,
    TooLarge,
)
from ledger.outcomes import CaptureResult, Status

_EPCIS_NS = "urn:epcglobal:epcis:xsd:2"


def refusal(exc: Refused) -> ProblemError:
    """The problem that answers a refused capture (nothing was stored)."""
    if isinstance(exc, TooLarge):
        if exc.count is not None:
            return ProblemError(413, str(exc), captureLimit=exc.limit, eventCount=exc.count)
        return ProblemError(413, str(exc))
    if isinstance(exc, NotOneEvent):
        return ProblemError(400, str(exc), eventCount=exc.count)
    if isinstance(exc, InvalidDocument):
        return invalid_document(exc.request)
    if isinstance(exc, EventIdConflict):
        return conflict_problem(exc.result, exc.request)
    if isinstance(exc, ClientGone):
        return ProblemError(
            400, "the client went away before its capture was stored; nothing was stored"
        )
    raise TypeError(f"no answer for {type(exc).__name__}")  # pragma: no cover


def invalid_document(request: CaptureRequest) -> ProblemError:
    """The 400 for a document that stores nothing because of its problems."""
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


def conflict_items(result: CaptureResult, request: CaptureRequest | None) -> list[dict[str, Any]]:
    items = []
    for outcome in result.conflicts:
        index = outcome.index
        where = (
            request.event_location(index)
            if request
            else {"pointer": f"/epcisBody/eventList/{index}"}
        )
        items.append(
            {
                **where,
                "message": outcome.message or "eventID conflict",
                "eventID": outcome.event_id,
                "existingHashID": outcome.existing_hash_id,
                "hashID": outcome.hash_id,
            }
        )
    return items


def conflict_problem(result: CaptureResult, request: CaptureRequest) -> ProblemError:
    items = conflict_items(result, request)
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
        "stored": result.count(Status.STORED),
        "alreadyStored": result.count(Status.ALREADY_STORED),
        "rejected": result.rejected,
        "notStored": result.count(Status.NOT_STORED),
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
    job["outcomes"] = [o.as_json() for o in result.outcomes]
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
