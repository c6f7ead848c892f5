"""``/rules``: an institution's must-scan rules, and the decisions they make.

* ``POST /rules`` — a rules file (YAML: ``application/yaml``, ``application/x-yaml``,
  ``text/yaml``; or the same as JSON, ``application/json``) for the admin's institution:
  201 with ``{institution, rules, changed, version}``; 400 problem+json with ``errors:
  [{pointer, line, message}]`` and nothing stored when anything is wrong.
* ``GET /rules`` — the institution's rules (every institution's for a regulator),
  ``as_of`` a time: as recorded up to then.
* ``GET /rules/decide?product=…&location=…&quantity=…`` — must it be scanned, whole or
  split, how many codes to expect, which rule said so (:mod:`ledger.must_scan`); 400 naming
  the parameter master data does not know. Readers and terminals.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from adapters.http.authentication import allow
from adapters.http.file_imports import imported_file
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.reads import AS_OF, time_parameter
from adapters.http.state import in_thread, ledger_of
from ledger.access import Permission, Principal
from ledger.master_data_import import MasterDataRefused
from ledger.must_scan import DecideInvalid, Decision, asked_decision
from ledger.must_scan_book import RulesSummary, import_rules, visible_books
from ledger.must_scan_file import MAX_BYTES

router = APIRouter()
ADMIN = Annotated[Principal, allow(Permission.ADMIN)]
READ = Annotated[Principal, allow(Permission.READ)]
ASK = Annotated[Principal, allow(Permission.READ, Permission.SCAN)]
TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "application/json")


@router.post(
    "/rules",
    status_code=201,
    tags=["Must-scan rules"],
    summary="Import the must-scan rules (YAML or JSON) of the admin's institution.",
    responses=problem_docs(400, 401, 403, 413, 415),
)
async def import_rules_file(request: Request, who: ADMIN) -> JSONResponse:
    summary: RulesSummary = await imported_file(
        request, who, import_rules, types=TYPES, max_bytes=MAX_BYTES, what="must-scan rules"
    )
    return JSONResponse(summary.as_json(), status_code=201)


@router.get(
    "/rules",
    tags=["Must-scan rules"],
    summary="The institution's must-scan rules, in priority order.",
    responses=problem_docs(400, 401, 403),
)
async def read_rules(request: Request, who: READ, as_of: str | None = AS_OF) -> JSONResponse:
    books = await in_thread(visible_books, ledger_of(request), who, time_parameter(as_of))
    return JSONResponse({"ruleBooks": [book.as_json() for book in books]})


def _quantity(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or int(text) < 1 or len(text) > 9:
        raise ProblemError(
            400,
            f"query parameter quantity: {value[:40]!r} is not a whole number of units, >= 1",
            errors=[{"query": "quantity", "message": "a whole number of smallest units, >= 1"}],
        )
    return int(text)


@router.get(
    "/rules/decide",
    tags=["Must-scan rules"],
    summary="Must this product be scanned here, whole or split, and how many codes to expect.",
    responses=problem_docs(400, 401, 403),
)
async def decide(
    request: Request,
    who: ASK,
    product: Annotated[str, Query(description="医保 code, trace prefix or GTIN")],
    location: Annotated[str, Query(description="a location id of the institution")],
    quantity: Annotated[str | None, Query(description="the order's smallest units")] = None,
    institution: Annotated[str | None, Query(description="a regulator's choice")] = None,
    as_of: str | None = AS_OF,
) -> JSONResponse:
    try:
        found: Decision = await in_thread(
            asked_decision,
            ledger_of(request),
            who,
            product.strip(),
            location.strip(),
            _quantity(quantity),
            time_parameter(as_of),
            institution,
        )
    except DecideInvalid as exc:
        raise ProblemError(
            400,
            f"query parameter {exc}",
            errors=[{"query": exc.parameter, "message": str(exc)}],
        ) from None
    except MasterDataRefused as exc:
        raise ProblemError(403, str(exc)) from None
    return JSONResponse(found.as_json())
