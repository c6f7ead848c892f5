"""``/stocktakes``: a count of a location, opened, scanned into, closed with its report.

* ``POST /stocktakes`` ``{location, institution?, note?}`` — 201 with the session; its
  ``id`` then travels on each ``stocktake`` scan (``POST /scans`` field ``stocktake``).
* ``POST /stocktakes/{id}/close`` — 200 with the session and its ``report`` (the
  reconciliation of ``GET /reconciliation``; CSV with ``Accept: text/csv``); again: the same.
* ``GET /stocktakes/{id}``, ``GET /stocktakes?location=&state=&institution=``.

The use cases are :mod:`ledger.stocktake` and :mod:`projections.stocktakes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from adapters.http.authentication import allow
from adapters.http.freshness import WAIT_FOR, read_view
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.reads import CSV, READ_YOUR_WRITES, wants_csv
from adapters.http.state import in_thread, ledger_of, read_json_object, state_of
from ledger.access import Permission, Principal
from ledger.stocktake import (
    Session,
    StocktakeConflict,
    StocktakeInvalid,
    StocktakeNotFound,
    close_stocktake,
    open_stocktake,
    read_open,
)
from projections.stocktakes import reckoner, show_stocktake, stocktake_list

router = APIRouter()
COUNT = Annotated[Principal, allow(Permission.SCAN, Permission.ADMIN)]
SEE = Annotated[Principal, allow(Permission.READ, Permission.SCAN)]
TAGS: list[str | Any] = ["Stocktakes"]
FORMAT = Query(None, description="Overrides `Accept`: `csv` for the report as CSV.")


@contextmanager
def _refusals() -> Iterator[None]:
    """A use case's refusals, as problems."""
    try:
        yield
    except StocktakeInvalid as exc:
        raise ProblemError(400, str(exc), errors=[{**exc.where, "message": str(exc)}]) from None
    except StocktakeConflict as exc:
        errors = [{**exc.where, "message": str(exc)}] if exc.where else None
        raise ProblemError(409, str(exc), errors=errors) from None
    except StocktakeNotFound as exc:
        raise ProblemError(404, str(exc)) from None


async def _call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A use case on a worker thread."""
    with _refusals():
        return await in_thread(func, *args, **kwargs)


def _answer(
    session: Session, request: Request, format: str | None, headers: dict[str, str] | None = None
) -> Response:
    """The session as JSON, or its report as CSV (409 while it has none)."""
    if wants_csv(request, format):
        if session.csv is None:
            raise ProblemError(409, f"stocktake {session.id} is {session.state}: no report yet")
        return Response(session.csv, media_type=CSV, headers=headers)
    return JSONResponse(session.as_json(), headers=headers)


@router.post(
    "/stocktakes",
    status_code=201,
    tags=TAGS,
    summary="Open a stocktake (盘点) of a location.",
    description=(
        "Body `{location, institution?, note?}`: `location` a master-data location id of "
        "the caller's institution (`institution` only for a caller of every institution). "
        "201 with the session (`id`, `state: open`, `openedAt`, …) and `Location`; send its "
        "`id` as `stocktake` on each stocktake scan (`POST /scans`) of the count, at the "
        "location or one within it. 400 naming a bad field; 409 when an open count covers "
        "the location, one within it or one holding it (the answer names it)."
    ),
    responses=problem_docs(400, 401, 403, 409),
)
async def post_stocktake(request: Request, who: COUNT) -> Response:
    body = await read_json_object(request)
    with _refusals():
        asked = read_open(body)
    opened: Session = await _call(open_stocktake, ledger_of(request), who, asked)
    return JSONResponse(
        opened.as_json(), status_code=201, headers={"Location": f"/stocktakes/{opened.id}"}
    )


@router.post(
    "/stocktakes/{stocktake_id}/close",
    tags=TAGS,
    summary="Close a stocktake: its report (the reconciliation over the count).",
    description=(
        "Closes the count (from then on its scans are red `stocktake_closed`) and answers "
        "the session with `closedAt`, `scans`, `codes` and `report`: the reconciliation of "
        "its location from `openedAt` to `closedAt` (both included) as `GET "
        "/reconciliation` answers it, with only the count's own scans found (none: "
        "everything on the books is missing). CSV (the report) with `Accept: text/csv` or "
        "`format=csv`. Closing again answers the same: the report is stored as it was made."
    ),
    response_class=Response,
    responses={
        200: {"description": "The closed session.", "content": {"application/json": {}, CSV: {}}},
        **problem_docs(401, 403, 404, 409),
    },
)
async def close(
    request: Request,
    who: COUNT,
    stocktake_id: str,
    format: Literal["json", "csv"] | None = FORMAT,
) -> Response:
    runner = state_of(request).projection
    if runner is None:
        raise RuntimeError("the projection runner is not open: the lifespan has not started")
    closed: Session = await _call(
        close_stocktake, ledger_of(request), who, stocktake_id, reckoner(runner)
    )
    return _answer(closed, request, format)


@router.get(
    "/stocktakes/{stocktake_id}",
    tags=TAGS,
    summary="A stocktake: its state, its progress while open, its report once closed.",
    description=(
        "JSON: the session (`scans` and `codes` so far while open); once closed with its "
        "`report`. CSV (the report) with `Accept: text/csv` or `format=csv`: 409 while "
        "open. 404 for a stocktake the caller's institution does not have." + READ_YOUR_WRITES
    ),
    response_class=Response,
    responses={
        200: {"description": "The session.", "content": {"application/json": {}, CSV: {}}},
        **problem_docs(401, 403, 404, 409, 503),
    },
    dependencies=[WAIT_FOR],
)
async def get_stocktake(
    request: Request,
    who: SEE,
    stocktake_id: str,
    format: Literal["json", "csv"] | None = FORMAT,
) -> Response:
    view = await read_view(request)
    found: Session = await _call(show_stocktake, view.runner, who, stocktake_id)
    return _answer(found, request, format, view.headers)


@router.get(
    "/stocktakes",
    tags=TAGS,
    summary="The stocktakes, latest opened first (without their reports).",
    description=(
        "Of the caller's institution (`institution` for a caller of every one), of a "
        "`location` id, in a `state` (`open`, `closed`): a PDA finds the open count to "
        "rejoin, a manager the counts to read. 400 for another state." + READ_YOUR_WRITES
    ),
    responses=problem_docs(400, 401, 403, 503),
    dependencies=[WAIT_FOR],
)
async def list_stocktakes(
    request: Request,
    who: SEE,
    location: str | None = Query(None, description="A master-data location id."),
    state: str | None = Query(None, description="`open` or `closed`."),
    institution: str | None = Query(None, description="Whose, for a caller of every one."),
) -> JSONResponse:
    view = await read_view(request)
    found: list[Session] = await _call(
        stocktake_list, view.runner, who, location=location, state=state, institution=institution
    )
    shown = [s.as_json(with_report=False) for s in found]
    return JSONResponse({"stocktakes": shown}, headers=view.headers)
