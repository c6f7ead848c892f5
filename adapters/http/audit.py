"""``/audit``: what an auditor does over HTTP (the ``auditor`` role), as the command line's
``export``, ``verify`` and ``checkpoint`` do locally; each calls :mod:`ledger.audit`.

* ``GET /audit/export?until=…&format=json|xml`` — the log (the auditor's institution's
  events, recorded up to ``until``) as one EPCIS document, streamed.
* ``GET /audit/verify`` — walk the tamper-evidence chain: ``intact``, counts, the head's
  position and links, and every finding; ``POST /audit/verify`` with a signed checkpoint
  (as ``POST /audit/checkpoint`` answers it) also proves the log still extends it.
* ``POST /audit/checkpoint`` — a signed checkpoint of the chain head
  (``TRACECODE_SIGNING_KEY``); 409 when the chain is not intact.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.responses import Response

from adapters.http.authentication import allow
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.reads import time_parameter
from adapters.http.state import in_thread, ledger_of, read_json_object
from ledger import audit
from ledger.access import Permission, Principal
from ledger.checkpoint import CheckpointError, read_checkpoint

router = APIRouter()
AUDITOR = Annotated[Principal, allow(Permission.AUDIT)]
MEDIA = {"json": "application/ld+json", "xml": "application/xml"}


@router.get(
    "/audit/export",
    tags=["Audit"],
    summary="The log as one EPCIS document (the auditor's institution's events), streamed.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/ld+json": {}, "application/xml": {}}},
        **problem_docs(400, 401, 403),
    },
)
def export(
    request: Request,
    who: AUDITOR,
    until: str | None = Query(None, description="Only what was recorded up to then."),
    format: Literal["json", "xml"] = Query("json", description="JSON-LD or EPCIS 2.0 XML."),
) -> StreamingResponse:
    time_parameter(until, "until")
    chunks = audit.export_log(ledger_of(request), who, until=until, fmt=format)
    return StreamingResponse(chunks, media_type=MEDIA[format])


def _report(verified: audit.Verified) -> dict[str, Any]:
    report = verified.report
    body: dict[str, Any] = {
        "intact": verified.intact,
        "events": report.checked,
        "position": report.last_position,
        "link": report.last_link,
        "commits": report.commits,
        "commitLink": report.last_commit_link,
        "entries": report.entries,
        "eventIDClaims": report.claims,
        "findings": verified.findings,
    }
    if verified.checkpoint is not None:
        body["checkpoint"] = {
            "position": verified.checkpoint.position,
            "commit": verified.checkpoint.commit,
            "extended": verified.checkpoint_problem is None,
            "problem": verified.checkpoint_problem,
        }
    return body


_VERIFY_DOC = (
    "`intact`, the events and commits walked, the head's position and links, and every "
    "finding (the first is the first bad record). Always 200: a broken chain is an answer."
)


@router.get(
    "/audit/verify",
    tags=["Audit"],
    summary="Verify the tamper-evidence chain.",
    description=_VERIFY_DOC,
    responses=problem_docs(401, 403),
)
async def verify(request: Request, who: AUDITOR) -> JSONResponse:
    verified = await in_thread(audit.verify_log, ledger_of(request), who)
    return JSONResponse(_report(verified))


@router.post(
    "/audit/verify",
    tags=["Audit"],
    summary="Verify the chain and that it still extends a signed checkpoint.",
    description=_VERIFY_DOC + " The body is a checkpoint as `POST /audit/checkpoint` gave it.",
    responses=problem_docs(400, 401, 403),
)
async def verify_against(request: Request, who: AUDITOR) -> JSONResponse:
    body = await read_json_object(request)
    try:
        checkpoint = read_checkpoint(json.dumps(body))
    except CheckpointError as exc:
        raise ProblemError(400, f"the body is not a usable checkpoint: {exc}") from None
    verified = await in_thread(audit.verify_log, ledger_of(request), who, checkpoint)
    return JSONResponse(_report(verified))


@router.post(
    "/audit/checkpoint",
    status_code=201,
    tags=["Audit"],
    summary="A signed (Ed25519) checkpoint of the chain head.",
    responses=problem_docs(401, 403, 409),
)
async def checkpoint(request: Request, who: AUDITOR) -> Response:
    try:
        signed = await in_thread(audit.sign_checkpoint, ledger_of(request), who)
    except CheckpointError as exc:
        raise ProblemError(409, str(exc), title="The chain is not intact") from None
    return Response(signed.to_json(), status_code=201, media_type="application/json")
