"""``/reconciliation/books``: the HIS's own book figures, the third leg of 账-物-码.

* ``POST /reconciliation/books`` — a HIS stock export (``Content-Type: text/csv``;
  :mod:`ledger.his_books_file`) for the admin's institution: 201 with ``{id, institution,
  importedAt, snapshots: [{location, asOf, lines}]}``; 400 problem+json with ``errors:
  [{line, column, message}]`` and nothing stored when any row is bad; 415 another type.
* ``GET /reconciliation/books?location=…`` — the imports (with their figures), oldest
  first: the institution's (every one's for a regulator), those with figures of
  ``location`` when it is given.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from adapters.http.authentication import allow
from adapters.http.file_imports import imported_file
from adapters.http.problems import problem_docs
from adapters.http.state import in_thread, ledger_of
from ledger.access import Permission, Principal
from ledger.his_books import BooksSummary, import_books, visible_imports

router = APIRouter()
ADMIN = Annotated[Principal, allow(Permission.ADMIN)]
READ = Annotated[Principal, allow(Permission.READ)]
LOCATION = Query(None, description="Only the figures of this location id.")
MAX_BYTES = 16 * 1024 * 1024
"""The largest HIS export: far more than a hospital's stock list."""


@router.post(
    "/reconciliation/books",
    status_code=201,
    tags=["Stock reconciliation"],
    summary="Import the HIS's book figures (CSV: location, product, lot, quantity[, unit, "
    "asOf, level]) for the admin's institution.",
    responses=problem_docs(400, 401, 403, 413, 415),
)
async def import_his_books(request: Request, who: ADMIN) -> JSONResponse:
    summary: BooksSummary = await imported_file(
        request,
        who,
        import_books,
        types=("text/csv",),
        max_bytes=MAX_BYTES,
        what="the HIS book figures",
    )
    return JSONResponse(summary.as_json(), status_code=201)


@router.get(
    "/reconciliation/books",
    tags=["Stock reconciliation"],
    summary="The imports of HIS book figures, oldest first (the history).",
    responses=problem_docs(400, 401, 403),
)
async def list_his_books(
    request: Request,
    who: READ,
    location: str | None = LOCATION,
) -> JSONResponse:
    found = await in_thread(visible_imports, ledger_of(request), who, location)
    return JSONResponse({"imports": [item.as_json(location) for item in found]})
