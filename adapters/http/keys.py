"""``/keys``: an admin manages its institution's API keys (the command line manages all).

* ``POST /keys`` — ``{"role": "capture", "label": "PDA 3"}`` (``institution`` defaults to the
  admin's own; another institution's, or a regulator key, is 403: those are made with
  ``tracecode keys create``). 201 with the key, shown this once, and ``Location``.
* ``GET /keys`` — the institution's keys (never a key or its digest).
* ``DELETE /keys/{keyId}`` — revoke one (204; 404 for a key of another institution).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from adapters.http.authentication import allow
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.state import in_thread, ledger_of, read_json_object
from epcis.problems import excerpt
from ledger.access import Permission, Principal, Role
from ledger.api_keys import (
    KeyRefused,
    UnknownKey,
    create_key,
    institution_keys,
    revoke_key,
)

router = APIRouter()
ADMIN = Annotated[Principal, allow(Permission.ADMIN)]
_FIELDS = {"role", "institution", "label"}


def _body(raw: dict[str, Any]) -> tuple[Role, str | None, str]:
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise ProblemError(
            400,
            f"{unknown[0]} is not a field of a key (role, institution, label)",
            errors=[{"pointer": f"/{unknown[0]}", "message": "unknown field"}],
        )
    role = raw.get("role")
    if role not in {r.value for r in Role}:
        raise ProblemError(
            400,
            f"role: {excerpt(str(role))} is not one of {', '.join(r.value for r in Role)}",
            errors=[{"pointer": "/role", "message": "missing or not a role"}],
        )
    institution, label = raw.get("institution"), raw.get("label", "")
    for name, value in (("institution", institution), ("label", label)):
        if value is not None and not isinstance(value, str):
            raise ProblemError(
                400, f"{name}: a string", errors=[{"pointer": f"/{name}", "message": "a string"}]
            )
    return Role(role), institution, label


@router.post(
    "/keys",
    status_code=201,
    tags=["Keys"],
    summary="Make an API key of the admin's institution (shown once).",
    responses=problem_docs(400, 401, 403),
)
async def make_key(request: Request, who: ADMIN) -> Response:
    role, institution, label = _body(await read_json_object(request))
    try:
        info, key = await in_thread(create_key, ledger_of(request), who, role, institution, label)
    except KeyRefused as exc:
        raise ProblemError(403, str(exc)) from None
    except ValueError as exc:
        raise ProblemError(400, str(exc)) from None
    return JSONResponse(
        {**info.as_json(), "key": key},
        status_code=201,
        headers={"Location": f"/keys/{info.key_id}"},
    )


@router.get(
    "/keys",
    tags=["Keys"],
    summary="The keys of the admin's institution.",
    responses=problem_docs(401, 403),
)
async def list_keys(request: Request, who: ADMIN) -> JSONResponse:
    found = await in_thread(institution_keys, ledger_of(request), who)
    return JSONResponse([k.as_json() for k in found])


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    tags=["Keys"],
    summary="Revoke a key (at once in every worker, within the key cache's second).",
    responses=problem_docs(401, 403, 404),
)
async def revoke(request: Request, key_id: str, who: ADMIN) -> Response:
    try:
        await in_thread(revoke_key, ledger_of(request), who, key_id)
    except UnknownKey:
        raise ProblemError(404, f"there is no key {excerpt(key_id)} of this institution") from None
    return Response(status_code=204)
