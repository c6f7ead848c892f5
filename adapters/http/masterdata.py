"""``/masterdata``: an institution's products, locations and operators.

* ``POST /masterdata`` — a products, locations or operators CSV (``Content-Type:
  text/csv``; the kind of file from its header row) for the admin's institution: 201
  with what was added, changed and unchanged; 400 problem+json with ``errors: [{line,
  column, message}]`` and nothing stored when any value is bad. Or an EPCIS document
  whose header carries vocabularies (JSON-LD ``application/ld+json`` /
  ``application/json``, XML ``application/xml`` / ``text/xml``;
  :mod:`ledger.master_data_epcis`): 201 with ``{"imports": [one such summary per kind,
  locations first]}``; 400 with ``errors: [{pointer, line (XML), column, message}]``.
* ``GET /masterdata/products``, ``GET /masterdata/locations``, ``GET
  /masterdata/operators`` — the institution's rows (every institution's for a
  regulator), ``as_of`` a time: as recorded up to then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.authentication import allow
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.reads import AS_OF, time_parameter
from adapters.http.state import in_thread, ledger_of, read_body
from ledger.access import Permission, Principal
from ledger.master_data import MasterData, visible_master_data
from ledger.master_data_epcis import import_epcis_master_data
from ledger.master_data_import import MasterDataRefused, import_master_data
from ledger.master_data_rows import MasterDataInvalid

router = APIRouter()
ADMIN = Annotated[Principal, allow(Permission.ADMIN)]
READ = Annotated[Principal, allow(Permission.READ)]
EPCIS_TYPES = ("application/ld+json", "application/json", "application/xml", "text/xml")
MAX_BYTES = 16 * 1024 * 1024
"""The largest master-data file: far more than a hospital's catalogue."""


@router.post(
    "/masterdata",
    status_code=201,
    tags=["Master data"],
    summary="Import a products, locations or operators CSV, or an EPCIS document's "
    "vocabularies, for the admin's institution.",
    responses=problem_docs(400, 401, 403, 413, 415),
)
async def import_master(request: Request, who: ADMIN) -> JSONResponse:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "text/csv" and media not in EPCIS_TYPES:
        raise ProblemError(
            415,
            "master data is posted as text/csv (a products, locations or operators file) or as "
            "an EPCIS "
            "document with vocabularies (" + ", ".join(EPCIS_TYPES) + ")",
        )
    data = await read_body(request, MAX_BYTES, {})
    ledger = ledger_of(request)
    try:
        if media == "text/csv":
            summary = await in_thread(import_master_data, ledger, who, data)
            return JSONResponse(summary.as_json(), status_code=201)
        summaries = await in_thread(import_epcis_master_data, ledger, who, data)
    except MasterDataInvalid as exc:
        raise ProblemError(
            400,
            f"the {'file' if media == 'text/csv' else 'document'} was not imported: {exc}",
            errors=[error.as_json() for error in exc.errors],
        ) from None
    except MasterDataRefused as exc:
        raise ProblemError(403, str(exc)) from None
    return JSONResponse({"imports": [s.as_json() for s in summaries]}, status_code=201)


def _reading(kind: str) -> Callable[..., Awaitable[JSONResponse]]:
    async def answer(request: Request, who: READ, as_of: str | None = AS_OF) -> JSONResponse:
        found: MasterData = await in_thread(
            visible_master_data, ledger_of(request), who, time_parameter(as_of)
        )
        rows = {
            "products": found.product_rows,
            "locations": found.location_rows,
            "operators": found.operator_rows,
        }[kind]()
        return JSONResponse({kind: rows})

    return answer


for _kind, _summary in (
    ("products", "The institution's products, one row per packaging level."),
    ("locations", "The institution's locations, each with its parent."),
    ("operators", "The institution's operators (the names 医保 messages give operator ids)."),
):
    router.add_api_route(
        f"/masterdata/{_kind}",
        _reading(_kind),
        methods=["GET"],
        tags=["Master data"],
        summary=_summary,
        responses=problem_docs(400, 401, 403),
    )
