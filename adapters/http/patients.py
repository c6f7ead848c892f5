"""``/patients/{pseudonym}``: turn a pseudonym back into the patient, or erase the mapping.

* ``GET`` — ``admin`` and ``auditor`` of the institution that recorded the patient: 200
  ``{"pseudonym", "patient"}`` (``Cache-Control: no-store``); 404 when the pseudonym is
  unknown to the institution, or erased; never a regulator (403).
* ``DELETE`` — ``admin``: 204 once the institution's mapping is erased; 404 when there was
  none. The log keeps the pseudonym, which then reveals nothing.

Only pseudonyms go in the URL (400 otherwise, the value not quoted back): a patient's
identifier would land in access logs and proxies. ``tracecode patients erase`` takes
either.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from adapters.http.authentication import allow
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.state import in_thread, ledger_of
from ledger.access import Permission, Principal
from ledger.patient_register import UnknownPatient, erase, reveal
from ledger.patients import BadPatientId, parse_pseudonym

router = APIRouter()
REVEALS = Annotated[Principal, allow(Permission.REVEAL_PATIENTS)]
ADMIN = Annotated[Principal, allow(Permission.ADMIN)]


def _pseudonym(value: str) -> str:
    try:
        return parse_pseudonym(value)
    except BadPatientId as exc:
        raise ProblemError(400, str(exc), instance="/patients/{pseudonym}") from None


def _unknown(pseudonym: str) -> ProblemError:
    return ProblemError(404, f"no patient of this institution is known by {pseudonym}")


@router.get(
    "/patients/{pseudonym}",
    tags=["Patients"],
    summary="The patient behind a pseudonym its institution recorded (admin, auditor).",
    responses=problem_docs(400, 401, 403, 404),
)
async def reveal_patient(request: Request, pseudonym: str, who: REVEALS) -> JSONResponse:
    named = _pseudonym(pseudonym)
    try:
        patient = await in_thread(reveal, ledger_of(request), who, named)
    except UnknownPatient:
        raise _unknown(named) from None
    return JSONResponse(
        {"pseudonym": named, "patient": patient}, headers={"Cache-Control": "no-store"}
    )


@router.delete(
    "/patients/{pseudonym}",
    status_code=204,
    tags=["Patients"],
    summary="Erase the institution's mapping of a pseudonym (the log keeps the pseudonym).",
    responses=problem_docs(400, 401, 403, 404),
)
async def erase_patient(request: Request, pseudonym: str, who: ADMIN) -> Response:
    named = _pseudonym(pseudonym)
    _, erased = await in_thread(erase, ledger_of(request), who, named)
    if not erased:
        raise _unknown(named)
    return Response(status_code=204)
