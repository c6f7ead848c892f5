"""Reads over the projections: a code's status and hierarchy, stock, recall trails.

* ``GET /codes/{code}`` — the code's status (:func:`projections.code_status.status`) and
  ``history``: the Event Hash IDs of every event that touched it (its recall trail line).
* ``GET /codes/{code}/hierarchy`` — its parent and every code inside it, transitively.
* ``GET /stock`` — stock lines per location × product × lot.
* ``GET /trails`` — the recall trail of a lot (``product`` + ``lot``) or of a ``code``, as
  JSON or CSV (``Accept: text/csv`` or ``?format=csv``).
* ``GET /reconciliation`` — stock reconciliation by code of a location over a period
  (:mod:`projections.reconciliation`), JSON or CSV; it takes ``from`` / ``to``, not
  ``as_of``.

Every other route takes ``as_of`` (an ISO 8601 time: only what was recorded up to then). Read your
writes (:mod:`adapters.http.freshness`): every answer says the log position it reflects
(``TraceCode-Log-Position``); ``wait_for=N`` (or ``TraceCode-Wait-For: N``) waits, within a
bound, until the projections have reached a position a capture was answered with; without
it a route first catches the projections up with the log's end, so a read right after a
capture was answered sees it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from itertools import islice
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response, StreamingResponse

from adapters.http.authentication import READ, READ_CODES, principal_of
from adapters.http.freshness import WAIT_FOR, ReadView, read_view
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.state import in_thread
from epcis.identifiers import IdentifierError
from epcis.identifiers.facts import code_problem, product_key
from epcis.problems import excerpt
from ledger.access import Principal
from projections import reads
from projections.recall_trail import TrailLine, csv_rows
from projections.runner import ReadModelRunner
from projections.schema import utc_text

router = APIRouter()

CSV = "text/csv"
READ_YOUR_WRITES = (
    " Read your writes: `TraceCode-Log-Position` says which log position the answer "
    "reflects. With `wait_for` (a capture's `TraceCode-Log-Position`) the answer waits, "
    "within a bound, until the projections have reached it (503 with `Retry-After` when they "
    "have not); without it the projections are first caught up with the log, so this sees "
    "every capture already answered."
)
AS_OF = Query(
    None,
    description="An ISO 8601 time: only what was recorded up to then (default: now).",
    examples=["2026-03-01T12:00:00Z"],
)


def time_parameter(value: str | None, name: str = "as_of") -> str | None:
    """A query parameter that is a time, as the read models store times, or a 400 naming
    it."""
    if value is None:
        return None
    try:
        return utc_text(value.strip())
    except ValueError:
        raise ProblemError(
            400,
            f"query parameter {name}: {excerpt(value)} is not an ISO 8601 time",
            errors=[{"query": name, "message": "not an ISO 8601 time"}],
        ) from None


def _unknown_code(value: str, where: dict[str, str], view: ReadView) -> ProblemError:
    """The answer for a code nothing is recorded about: 400 naming what is wrong when it
    cannot be a code (:func:`epcis.identifiers.facts.code_problem`), else 404. (Asked only after
    the lookup: a value captured before a check existed is still found.) ``where`` names
    the parameter: ``{"path": "code"}`` or ``{"query": "code"}``."""
    problem = code_problem(value)
    if problem is None:
        return ProblemError(
            404, f"nothing is recorded about code {excerpt(value)}", headers=view.headers
        )
    name = where.get("path") or where.get("query")
    return ProblemError(
        400,
        f"{name} {excerpt(value)} cannot be a code: {problem}",
        errors=[{**where, "message": problem}],
        headers=view.headers,
    )


def _json(value: Any, view: ReadView) -> JSONResponse:
    return JSONResponse(value, headers=view.headers)


CodeRead = Callable[[ReadModelRunner, Principal, str, str | None], dict[str, Any] | None]
_CODE_ANSWERS = (
    " 400 when the value cannot be a code (not an identifier form, a wrong GS1 check "
    "digit …), 404 when it can but nothing is recorded about it."
)


def _code_read(path: str, read: CodeRead, summary: str, description: str, answered: str) -> None:
    """``GET path``: what ``read`` finds about one code (any identifier form, percent-encoded)
    as recorded up to ``as_of``; when it finds nothing, 400 or 404 (see
    :func:`_unknown_code`)."""

    async def answer(request: Request, code: str, as_of: str | None = AS_OF) -> JSONResponse:
        when = time_parameter(as_of)
        view = await read_view(request)
        found = await in_thread(read, view.runner, principal_of(request), code, when)
        if found is None:
            raise _unknown_code(code, {"path": "code"}, view)
        return _json(found, view)

    router.add_api_route(
        path,
        answer,
        methods=["GET"],
        name=read.__name__,
        tags=["Reads"],
        summary=summary,
        description=description + _CODE_ANSWERS + READ_YOUR_WRITES,
        responses={200: {"description": answered}, **problem_docs(400, 404, 503)},
        dependencies=[READ_CODES, WAIT_FOR],
    )


# -- /codes ---------------------------------------------------------------------------

# The hierarchy first: /codes/{code:path} would take ".../hierarchy" as part of the code.
_code_read(
    "/codes/{code:path}/hierarchy",
    reads.code_hierarchy,
    "The parent of a code and every code inside it.",
    "The code it is packed in (or was made from), and every code inside it (or made from "
    "it), transitively, as recorded up to `as_of`. Any identifier form; percent-encode it.",
    "`code`, `asOf`, `parent` (or null), `children` (sorted).",
)
_code_read(
    "/codes/{code:path}",
    reads.code_status,
    "The current status of a code.",
    "State, `hospitalState` (not_received, in_stock, in_transit, bound, consumed, exited, "
    "lent, frozen, recalled, destroyed), location, destination, holder, product, lot, "
    "expiry, parent and last event "
    "of a code (any identifier form: EPC URI, GS1 Digital Link, …; percent-encode it), "
    "from the events recorded up to `as_of`; `history` lists the Event Hash IDs of every "
    "event that touched it, in event-time order.",
    "The code's status.",
)


# -- /stock ---------------------------------------------------------------------------


@router.get(
    "/stock",
    tags=["Reads"],
    summary="Stock per location × product × lot.",
    description=(
        "Instance-level codes with a product, as recorded up to `as_of`; only at "
        "`location` when given. Per location × product × lot: `in_stock` (sellable on "
        "the shelf, expired or not), `in_transit` (counted at the destination), `bound` "
        "(dispensed here; recalled or frozen since: still with the patient), `on_hand` "
        "(every code physically on the shelf here: what a stocktake should find) split "
        "by `by_state` (`sellable`, `expired`: in stock with an expiry date before the "
        "UTC day of `as_of` or of today; `recalled`, `frozen`: damaged or suspect; "
        "`returned`: a patient's return awaiting its check), and `lent_out` (lent from "
        "here, not back)." + READ_YOUR_WRITES
    ),
    responses={200: {"description": "The stock lines, sorted."}, **problem_docs(400, 503)},
    dependencies=[READ, WAIT_FOR],
)
async def get_stock(
    request: Request,
    location: str | None = Query(None, description="Only this location (any form)."),
    as_of: str | None = AS_OF,
) -> JSONResponse:
    when = time_parameter(as_of)
    view = await read_view(request)
    lines = await in_thread(reads.stock_lines, view.runner, principal_of(request), location, when)
    return _json([dataclasses.asdict(line) for line in lines], view)


# -- /pools ---------------------------------------------------------------------------


@router.get(
    "/pools",
    tags=["Reads"],
    summary="The split-unit pool at a location: per pre-scanned box, units left and bound.",
    description=(
        "Boxes pre-scanned at `location` (a master-data location id of your institution, or "
        "a location URI), first expiry first: `units`, `left` (in the pool there), `bound` "
        "(and `boundTo`: per patient pseudonym; `boundToOrder`: per order, its bizTransaction "
        "`urn:tracecode:order:<institution>:<order>`), `expiry`; only of `product` (医保 code, "
        "trace prefix or GTIN) when given; as recorded up to `as_of`." + READ_YOUR_WRITES
    ),
    responses={200: {"description": "The pool's boxes."}, **problem_docs(400, 503)},
    dependencies=[READ, WAIT_FOR],
)
async def get_pools(
    request: Request,
    location: str = Query(..., description="The location: a master-data id or its URI."),
    product: str | None = Query(None, description="Only this product."),
    as_of: str | None = AS_OF,
) -> JSONResponse:
    when = time_parameter(as_of)
    view = await read_view(request)
    who = principal_of(request)
    boxes = await in_thread(reads.pool_boxes, view.runner, who, location, product, when)
    return _json(boxes, view)


# -- /trails --------------------------------------------------------------------------


def wants_csv(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "csv"
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == CSV for part in accept.split(","))


@router.get(
    "/trails",
    tags=["Reads"],
    summary="The recall trail of a lot or of a code.",
    description=(
        "From a lot (`product` and `lot`) or one `code`: every code it covers (and those "
        "packed in or made from them, transitively), with every event that touched each "
        "and where each is now, as recorded up to `as_of`. JSON by default; CSV with "
        "`Accept: text/csv` or `format=csv`. `product` is a GTIN-8, -12, -13 or -14 (check "
        "digit verified) or a product's identifier (`https://id.gs1.org/01/…`, "
        "`urn:epc:idpat:sgtin:…`); 400 when it, or `code`, cannot be one; 404 when no event "
        "touched a code of the lot (or the code)." + READ_YOUR_WRITES
    ),
    response_class=Response,
    responses={
        200: {
            "description": "The trail lines, sorted by code.",
            "content": {"application/json": {}, CSV: {}},
        },
        **problem_docs(400, 404, 503),
    },
    dependencies=[READ, WAIT_FOR],
)
async def get_trail(
    request: Request,
    product: str | None = Query(
        None, description="The product (GTIN-8/12/13/14 or a product identifier); with `lot`."
    ),
    lot: str | None = Query(None, description="The lot number; with `product`."),
    code: str | None = Query(None, description="One code (any form)."),
    as_of: str | None = AS_OF,
    format: Literal["json", "csv"] | None = Query(None, description="Overrides `Accept`."),
) -> Response:
    if code is not None and (product is not None or lot is not None):
        raise ProblemError(400, "give either a code or a product and lot, not both")
    if code is None and (product is None or lot is None):
        raise ProblemError(
            400,
            "give a product and a lot, or a code",
            errors=[
                {"query": name, "message": "missing"}
                for name, value in (("product", product), ("lot", lot), ("code", code))
                if value is None
            ],
        )
    key = None
    if product is not None:
        try:
            key = product_key(product)
        except IdentifierError as exc:
            raise ProblemError(
                400,
                f"query parameter product: {excerpt(product)} is not a product: {exc}",
                errors=[{"query": "product", "message": str(exc)}],
            ) from None
    when = time_parameter(as_of)
    view = await read_view(request)
    lines = reads.recall_trail_lines(
        view.runner, principal_of(request), product=key, lot=lot, code=code, as_of=when
    )
    head = await in_thread(_up_to_an_event, lines)
    if not any(line.events for line in head):  # a code asked for is a line even when unknown
        lines.close()
        if code is not None:
            raise _unknown_code(code, {"query": "code"}, view)
        raise ProblemError(
            404,
            f"no event touched a code of product {key} lot {excerpt(lot)}",
            headers=view.headers,
        )
    as_csv = wants_csv(request, format)
    return StreamingResponse(
        _trail_body(head, lines, as_csv),
        media_type=CSV if as_csv else "application/json",
        headers=view.headers,
    )


TRAIL_BATCH = 1000
"""Trail lines per piece of a streamed answer (one worker-thread hop each)."""


def _up_to_an_event(lines: Iterator[TrailLine]) -> list[TrailLine]:
    """The first lines, up to the first that has events (every line, when none has)."""
    head = []
    for line in lines:
        head.append(line)
        if line.events:
            break
    return head


async def _trail_body(
    head: list[TrailLine], rest: Generator[TrailLine, None, None], as_csv: bool
) -> AsyncIterator[bytes]:
    """The trail answer, :data:`TRAIL_BATCH` lines a piece as the worker thread reads them:
    the bytes the whole answer at once would be (CSV: :func:`trail_csv`; JSON: the array
    of :meth:`TrailLine.row` a ``JSONResponse`` renders)."""
    try:
        batch, first = head, True
        while batch:
            if as_csv:
                yield csv_rows(batch, header=first).encode("utf-8")
            else:
                # one encoder call for the piece: its array without the brackets
                rows = _compact_json([line.row() for line in batch])[1:-1]
                yield (("[" if first else ",") + rows).encode("utf-8")
            batch, first = await in_thread(lambda: list(islice(rest, TRAIL_BATCH))), False
        if not as_csv:
            yield b"]"
    finally:
        rest.close()  # the connection back to the pool, also when the client has gone


def _compact_json(value: Any) -> str:
    """As ``JSONResponse`` renders a value."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


# -- /reconciliation ------------------------------------------------------------------


@router.get(
    "/reconciliation",
    tags=["Reads"],
    summary="Stock reconciliation by code (账-物-码) of a location over a period.",
    description=(
        "Per product × lot at `location` (a master-data location id; it and every location "
        "within it) over `from` ≤ eventTime < `to`: opening, what came in (`received`, "
        "`transferredIn`, `returnedIn`, `otherIn`) and went out (`dispensed`, "
        "`transferredOut`, `returnedToSupplier`, `destroyed`, `lent`, `otherOut`), the "
        "theoretical closing, in codes and smallest units; against the stocktake scans "
        "there in the period: the codes `missing` (on the books, not found), `extra` "
        "(found, not on the books) and `elsewhere` (extra, and the ledger has them at "
        "another location: which). JSON by default; CSV (one row per product × lot) with "
        "`Accept: text/csv` or `format=csv`. 400 naming a bad parameter." + READ_YOUR_WRITES
    ),
    response_class=Response,
    responses={
        200: {"description": "The reconciliation.", "content": {"application/json": {}, CSV: {}}},
        **problem_docs(400, 503),
    },
    dependencies=[READ, WAIT_FOR],
)
async def get_reconciliation(
    request: Request,
    location: str | None = Query(None, description="A master-data location id."),
    from_: str | None = Query(None, alias="from", description="Start (ISO 8601, inclusive)."),
    to: str | None = Query(None, description="End (ISO 8601, exclusive)."),
    institution: str | None = Query(
        None, description="Whose location, for a principal that sees every institution."
    ),
    format: Literal["json", "csv"] | None = Query(None, description="Overrides `Accept`."),
) -> Response:
    missing = [n for n, v in (("location", location), ("from", from_), ("to", to)) if v is None]
    if missing:
        raise ProblemError(
            400,
            f"query parameter {', '.join(missing)} missing",
            errors=[{"query": name, "message": "missing"} for name in missing],
        )
    assert location is not None
    start = time_parameter(from_, "from")
    end = time_parameter(to, "to")
    assert start is not None and end is not None
    view = await read_view(request)
    try:
        found = await in_thread(
            reads.reconciliation,
            view.runner,
            principal_of(request),
            location=location,
            start=start,
            end=end,
            institution=institution,
        )
    except reads.ReconciliationError as exc:
        raise ProblemError(
            400,
            f"query parameter {exc.parameter}: {exc}",
            errors=[{"query": exc.parameter, "message": str(exc)}],
            headers=view.headers,
        ) from None
    if wants_csv(request, format):
        return Response(found.csv(), media_type=CSV, headers=view.headers)
    return _json(found.as_json(), view)
