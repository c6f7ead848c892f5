"""The EPCIS query interface of the REST bindings.

* ``GET /events`` — the SimpleEventQuery with its parameters in the query string (lists
  separated by ``|``), paged: ``perPage`` (default 30) and ``nextPageToken``; the next
  page's URL is in the ``Link`` header (``rel="next"``). Extension field prefixes come
  from the ``GS1-Extensions`` header (``prefix=namespace`` pairs, comma-separated), or
  are those the stored events declare.
* Top-level resources: ``/eventTypes``, ``/epcs``, ``/bizSteps``, ``/bizLocations``,
  ``/readPoints``, ``/dispositions`` list what the ledger holds; ``/{resource}/{value}``
  lists its sub-resources (``events``) and ``/{resource}/{value}/events`` is the query
  with that one parameter (``MATCH_anyEPC``, ``EQ_bizStep`` … ), plus any others given.
* Named queries: ``POST /queries`` (``{"name", "query"}``), ``GET /queries``,
  ``GET /queries/{name}``, ``DELETE /queries/{name}`` and ``GET /queries/{name}/events``.

Results are EPCISQueryDocuments, JSON-LD or XML by ``Accept``. A bad parameter is a 400
``QueryParameterException`` naming it; more events than ``maxEventCount`` a 413
``QueryTooLargeException``. Every query first catches the projections up with the log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from adapters.http.authentication import ADMIN, READ, allow, principal_of
from adapters.http.discovery import add_discovery
from adapters.http.documents import render
from adapters.http.freshness import WAIT_FOR, WAIT_FOR_QUERY, ReadView, read_view
from adapters.http.negotiation import JSON, JSON_LD, TEXT_XML, XML, acceptable, not_acceptable
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.state import in_thread, ledger_of, read_json_object
from epcis.context import EPCIS_CONTEXT_URL
from epcis.problems import excerpt
from epcis.query import (
    Query,
    QueryParameterError,
    QueryTooLargeError,
    from_json,
    from_query_string,
)
from epcis.query.document import query_document
from epcis.query.patterns import identity
from ledger import standing_queries
from ledger.access import Permission, Principal
from ledger.application import Ledger
from ledger.master_data_vocabulary import with_master_data
from ledger.named_queries import QueryDefinition, QueryExistsError
from projections.event_query import MAX_PER_PAGE, Page, search
from projections.named_values import distinct_values, names
from projections.runner import ReadModelRunner

router = APIRouter()
_NOT_QUERY = ("perPage", "nextPageToken", WAIT_FOR_QUERY)

QUERY_PARAMETER = "epcisException:QueryParameterException"
QUERY_TOO_LARGE = "epcisException:QueryTooLargeException"
DEFAULT_PER_PAGE = 30
RESULT_TYPES = [JSON_LD, JSON, XML, TEXT_XML]
_NAME = re.compile(r"^[A-Za-z0-9._~-]{1,100}$")
_RESULTS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": 'An EPCISQueryDocument; `Link: <…>; rel="next"` when there is more.',
        "content": {
            "application/ld+json": {"schema": {"type": "object"}},
            "application/xml": {"schema": {"type": "string"}},
        },
    }
}

# resource -> (column of view_events, or "epcs"; the query parameter it stands for)
_RESOURCES: dict[str, tuple[str, str]] = {
    "eventTypes": ("event_type", "eventType"),
    "epcs": ("epcs", "MATCH_anyEPC"),
    "bizSteps": ("biz_step", "EQ_bizStep"),
    "bizLocations": ("biz_location", "EQ_bizLocation"),
    "readPoints": ("read_point", "EQ_readPoint"),
    "dispositions": ("disposition", "EQ_disposition"),
}


# -- reading a query ---------------------------------------------------------------------


def extension_prefixes(header: str | None) -> dict[str, str]:
    """``GS1-Extensions: ex=http://ns.example.com/epcis/, ex2=…`` as a prefix map."""
    found: dict[str, str] = {}
    for part in (header or "").replace("\n", ",").split(","):
        prefix, eq, iri = part.strip().partition("=")
        if eq and prefix.strip() and iri.strip():
            found[prefix.strip()] = iri.strip()
    return found


def _parameter_problem(exc: QueryParameterError) -> ProblemError:
    item: dict[str, Any] = {"message": exc.message}
    if exc.parameter:
        item["query"] = exc.parameter
    return ProblemError(
        400, str(exc), type=QUERY_PARAMETER, title="Invalid query parameter", errors=[item]
    )


def _paging(request: Request) -> tuple[int, str | None]:
    raw = request.query_params.get("perPage")
    per_page = DEFAULT_PER_PAGE
    if raw is not None:
        try:
            per_page = int(raw)
        except ValueError:
            raise _parameter_problem(
                QueryParameterError("perPage", f"{excerpt(raw)} is not an integer")
            ) from None
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise _parameter_problem(
                QueryParameterError("perPage", f"must be between 1 and {MAX_PER_PAGE}")
            )
    return per_page, request.query_params.get("nextPageToken")


def _query(items: list[tuple[str, str]], request: Request) -> Query:
    items = [(k, v) for k, v in items if k != WAIT_FOR_QUERY]
    try:
        return from_query_string(items, extension_prefixes(request.headers.get("GS1-Extensions")))
    except QueryParameterError as exc:
        raise _parameter_problem(exc) from None


def _run(
    ledger: Ledger,
    runner: ReadModelRunner,
    query: Query,
    per_page: int,
    token: str | None,
    scope: str | None,
) -> Page:
    query = with_master_data(ledger, query, scope)
    with runner.connect() as conn:
        return search(conn, query, per_page=per_page, token=token, scope=scope)


async def _answer(request: Request, query: Query, query_name: str) -> Response:
    allowed = acceptable(request.headers.get("accept"), RESULT_TYPES)
    if not allowed:
        raise not_acceptable(request.headers.get("accept"), RESULT_TYPES)
    per_page, token = _paging(request)
    view: ReadView = await read_view(request)
    try:
        scope = principal_of(request).scope
        page: Page = await in_thread(
            _run, ledger_of(request), view.runner, query, per_page, token, scope
        )
    except QueryParameterError as exc:
        raise _parameter_problem(exc) from None
    except QueryTooLargeError as exc:
        raise ProblemError(
            413, str(exc), type=QUERY_TOO_LARGE, title="Query result is too large"
        ) from None
    headers = dict(view.headers)
    if page.next_token is not None:
        headers["Link"] = f'<{_next_url(request, page.next_token)}>; rel="next"'
    document = query_document(page.events, query_name)
    why = ""
    for media in allowed:
        xml = media in (XML, TEXT_XML)
        try:
            content = render(document, "xml" if xml else "json")
        except Exception as exc:  # an extension event type has no XML element
            why = f"a result has no XML form: {exc}"
            continue
        return Response(content, media_type=media, headers=headers)
    raise not_acceptable(request.headers.get("accept"), RESULT_TYPES, why)


def _next_url(request: Request, token: str) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "nextPageToken"]
    items.append(("nextPageToken", token))
    return f"{request.url.path}?{urlencode(items, quote_via=quote)}"


# -- GET /events -------------------------------------------------------------------------


@router.get(
    "/events",
    tags=["Events", "Queries"],
    dependencies=[READ, WAIT_FOR],
    summary="Query events with the EPCIS query parameters.",
    description=(
        "Every SimpleEventQuery parameter of EPCIS 2.0 (lists separated by `|`), "
        "`perPage` (default 30, at most 10,000) and `nextPageToken`. Unknown or malformed "
        "parameters are a 400 QueryParameterException naming them."
    ),
    response_class=Response,
    responses={**_RESULTS, **problem_docs(400, 406, 413)},
)
async def query_events(request: Request) -> Response:
    query = _query(list(request.query_params.multi_items()), request)
    return await _answer(request, query, "SimpleEventQuery")


# -- top-level resources -----------------------------------------------------------------


def _collection(members: list[str]) -> dict[str, Any]:
    return {"@context": EPCIS_CONTEXT_URL, "type": "Collection", "member": members}


def _distinct(
    runner: ReadModelRunner, column: str, after: str | None, limit: int, scope: str | None
) -> list[str]:
    with runner.connect() as conn:
        return distinct_values(conn, column, after, limit, scope)


def _exists(runner: ReadModelRunner, column: str, value: str, scope: str | None) -> bool:
    with runner.connect() as conn:
        return names(conn, column, value, scope)


def _resource_routes(resource: str) -> None:
    column, parameter = _RESOURCES[resource]

    @router.get(
        f"/{resource}",
        tags=["Top-level"],
        dependencies=[READ, WAIT_FOR],
        summary=f"The {resource} the ledger's events name.",
        description="A Collection, paged with `perPage` and `nextPageToken` (the `Link` header).",
    )
    async def listing(request: Request) -> Response:
        per_page, token = _paging(request)
        view = await read_view(request)
        scope = principal_of(request).scope
        members = await in_thread(_distinct, view.runner, column, token, per_page + 1, scope)
        headers = dict(view.headers)
        if len(members) > per_page:
            members = members[:per_page]
            headers["Link"] = f'<{_next_url(request, members[-1])}>; rel="next"'
        return JSONResponse(_collection(members), headers=headers)

    @router.get(
        f"/{resource}/{{value:path}}/events",
        tags=["Top-level"],
        dependencies=[READ, WAIT_FOR],
        summary=f"Events of one of the {resource} (the query `{parameter}=…`).",
        response_class=Response,
        responses={**_RESULTS, **problem_docs(400, 406, 413)},
    )
    async def resource_events(request: Request, value: str) -> Response:
        items = [(k, v) for k, v in request.query_params.multi_items() if k != parameter]
        query = _query([*items, (parameter, value)], request)
        return await _answer(request, query, "SimpleEventQuery")

    @router.get(
        f"/{resource}/{{value:path}}",
        tags=["Top-level"],
        dependencies=[READ, WAIT_FOR],
        summary=f"The sub-resources of one of the {resource}.",
        responses=problem_docs(404),
    )
    async def sub_resources(request: Request, value: str) -> Response:
        view = await read_view(request)
        key = value
        if column in ("epcs", "biz_location", "read_point"):
            key = identity(value)
        if not await in_thread(_exists, view.runner, column, key, principal_of(request).scope):
            raise ProblemError(
                404,
                f"no event in the ledger has {parameter} {excerpt(value)}",
                headers=view.headers,
            )
        return JSONResponse(_collection(["events"]), headers=dict(view.headers))


for _resource in _RESOURCES:
    _resource_routes(_resource)


# -- discovery -----------------------------------------------------------------------------


add_discovery(
    router,
    (
        *((f"/{r}", "OPTIONS, GET") for r in _RESOURCES),
        *((f"/{r}/{{value:path}}/events", "OPTIONS, GET") for r in _RESOURCES),
        ("/queries", "OPTIONS, GET, POST"),
        ("/queries/{name}", "OPTIONS, GET, DELETE"),
        ("/queries/{name}/events", "OPTIONS, GET"),
    ),
    READ,  # every reader may ask what it may do
)


@router.delete(
    "/nextPageToken/{token}",
    status_code=204,
    tags=["Queries"],
    summary="Release a nextPageToken.",
    description=(
        "Tokens hold no server resources (each carries its own position in a snapshot of "
        "the log), so there is nothing to release: always 204."
    ),
)
def release_token(token: str, who: Annotated[Principal, allow(Permission.READ)]) -> Response:
    return Response(status_code=204)


# -- named queries -----------------------------------------------------------------------


def no_such_query(name: str) -> ProblemError:
    return ProblemError(404, f"there is no query named {excerpt(name)}")


def _query_problem(exc: QueryParameterError) -> ProblemError:
    """A named query's parameter refused, pointing into the body's ``query``."""
    pointer = "/query/" + (exc.parameter or "").replace("~", "~0").replace("/", "~1")
    return ProblemError(
        400,
        str(exc),
        type=QUERY_PARAMETER,
        title="Invalid query parameter",
        errors=[{"pointer": pointer, "message": exc.message}],
    )


async def _definition_body(request: Request) -> tuple[str, dict[str, Any]]:
    body = await read_json_object(request)
    name, query = body.get("name"), body.get("query")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProblemError(
            400,
            "name: a query name of 1 to 100 letters, digits, '.', '_', '~' or '-'",
            errors=[{"pointer": "/name", "message": "missing or not a valid query name"}],
        )
    if not isinstance(query, dict):
        raise ProblemError(
            400,
            "query: an object of EPCIS query parameters",
            errors=[{"pointer": "/query", "message": "missing or not an object"}],
        )
    return name, query


@router.post(
    "/queries",
    status_code=201,
    tags=["Queries"],
    summary="Create a named query.",
    description='Body: `{"name": "…", "query": {EPCIS query parameters}}`.',
    responses=problem_docs(400, 409),
    dependencies=[ADMIN],
)
async def create_query(request: Request) -> Response:
    name, query = await _definition_body(request)
    try:
        await in_thread(
            standing_queries.define_query, ledger_of(request), principal_of(request), name, query
        )
    except QueryParameterError as exc:
        raise _query_problem(exc) from None
    except QueryExistsError:
        raise ProblemError(409, f"a query named {excerpt(name)} already exists") from None
    location = f"/queries/{name}"
    return Response(status_code=201, headers={"Location": location})


@router.get("/queries", tags=["Queries"], summary="The named queries.", dependencies=[READ])
async def list_queries(request: Request) -> Response:
    found = await in_thread(
        standing_queries.list_queries, ledger_of(request), principal_of(request)
    )
    return JSONResponse([q.as_json() for q in found])


async def definition(request: Request, name: str) -> QueryDefinition:
    """The asking institution's named query ``name``, or the 404."""
    try:
        found: QueryDefinition = await in_thread(
            standing_queries.get_query, ledger_of(request), principal_of(request), name
        )
    except standing_queries.NoSuchQuery:
        raise no_such_query(name) from None
    return found


@router.get(
    "/queries/{name}",
    tags=["Queries"],
    summary="A named query's definition.",
    responses=problem_docs(404),
    dependencies=[READ],
)
async def get_query(request: Request, name: str) -> Response:
    found = await definition(request, name)
    return JSONResponse(found.as_json())


@router.delete(
    "/queries/{name}",
    status_code=204,
    tags=["Queries"],
    summary="Delete a named query (and cancel its subscriptions).",
    responses=problem_docs(404),
    dependencies=[ADMIN],
)
async def delete_query(request: Request, name: str) -> Response:
    try:
        await in_thread(
            standing_queries.delete_query, ledger_of(request), principal_of(request), name
        )
    except standing_queries.NoSuchQuery:
        raise no_such_query(name) from None
    return Response(status_code=204)


@router.get(
    "/queries/{name}/events",
    tags=["Queries"],
    dependencies=[READ, WAIT_FOR],
    summary="Run a named query.",
    description="Its results, paged as `GET /events` is (`perPage`, `nextPageToken`).",
    response_class=Response,
    responses={**_RESULTS, **problem_docs(400, 404, 406, 413)},
)
async def named_query_events(request: Request, name: str) -> Response:
    found = await definition(request, name)
    extra = [(k, v) for k, v in request.query_params.multi_items() if k not in _NOT_QUERY]
    if extra:
        raise _parameter_problem(
            QueryParameterError(
                extra[0][0], "a named query takes only perPage, nextPageToken and wait_for"
            )
        )
    prefixes: Mapping[str, str] = extension_prefixes(request.headers.get("GS1-Extensions"))
    try:
        query = from_json(found.query, prefixes)
    except QueryParameterError as exc:  # pragma: no cover - checked when it was defined
        raise _parameter_problem(exc) from None
    return await _answer(request, query, name)
