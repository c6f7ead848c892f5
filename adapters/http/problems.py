"""RFC 9457 problem details (``application/problem+json``), as the EPCIS REST bindings use them.

Every error the HTTP API sends is one problem object: ``type`` (the bindings'
``epcisException:…`` names), ``title``, ``status``, ``detail``, ``instance`` and, when there
is something to point at, ``errors``: one item per problem with a ``message`` and a JSON
``pointer`` (JSON-LD) or a ``line`` and element ``path`` (XML). Handlers registered by
:func:`install` turn unknown routes, wrong methods, bad parameters and crashes into the same
shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import HTTPExceptionHandler

from adapters.http.headers import VERSION_HEADERS
from epcis.problems import MAX_REPORTED, Problem, capped
from ledger.access import Forbidden, Permission, Principal, roles_with

PROBLEM_JSON = "application/problem+json"

# The exception names of the EPCIS 2.0 REST bindings (their ``type`` enums).
VALIDATION = "epcisException:ValidationException"
NO_SUCH_NAME = "epcisException:NoSuchNameException"
NOT_ACCEPTABLE = "epcisException:NotAcceptableException"
ALREADY_EXISTS = "epcisException:ResourceAlreadyExistsException"
CAPTURE_LIMIT = "epcisException:CaptureLimitExceededException"
UNSUPPORTED_MEDIA_TYPE = "epcisException:UnsupportedMediaTypeException"
IMPLEMENTATION = "epcisException:ImplementationException"
SECURITY = "epcisException:SecurityException"
METHOD_NOT_ALLOWED = "about:blank"  # the bindings name no exception for 405

TITLES = {
    400: "Invalid request",
    401: "Unauthorised request",
    403: "Access to resource forbidden",
    404: "Resource not found",
    405: "Method not allowed",
    406: "Not acceptable",
    408: "Request timeout",
    409: "A resource with the provided identifier already exists",
    413: "Capture payload too large",
    414: "URI too long",
    415: "Unsupported media type",
    431: "Request header fields too large",
    500: "A server-side error occurred",
    503: "Service unavailable",
}
_TYPES = {
    400: VALIDATION,
    401: SECURITY,
    403: SECURITY,
    404: NO_SUCH_NAME,
    405: METHOD_NOT_ALLOWED,
    406: NOT_ACCEPTABLE,
    409: ALREADY_EXISTS,
    413: CAPTURE_LIMIT,
    415: UNSUPPORTED_MEDIA_TYPE,
    500: IMPLEMENTATION,
}

log = logging.getLogger("tracecode.http")
T = TypeVar("T")


class ProblemError(Exception):
    """Raise to answer with a problem; the handler installed by :func:`install` sends it."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        instance: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type or _TYPES.get(status, "about:blank")
        self.title = title or TITLES.get(status, "Error")
        self.errors = errors
        self.headers = dict(headers or {})
        self.instance = instance
        self.extra = extra

    def body(self, path: str | None) -> dict[str, Any]:
        """The problem object; its ``instance`` is the one it names, else ``path`` (the
        path asked; None where the request was not read far enough to have one)."""
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        instance = self.instance or path
        if instance is not None:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"], omitted = capped(self.errors)
            if omitted:
                body["errorsOmitted"] = omitted
        body.update({k: v for k, v in self.extra.items() if v is not None})
        bounded: dict[str, Any] = _bounded(body)
        return bounded

    def response(self, path: str) -> Response:
        """The problem+json response; it carries the GS1 version headers itself (a 500 is
        sent from outside the middleware that adds them elsewhere)."""
        return Response(
            content=json.dumps(self.body(path), ensure_ascii=False).encode("utf-8"),
            status_code=self.status,
            media_type=PROBLEM_JSON,
            headers={**VERSION_HEADERS, **self.headers},
        )


MAX_STRING = 500
"""The longest string a problem answer holds (a message, a pointer, an echoed value): an
answer is never much larger than :data:`~epcis.problems.MAX_REPORTED` short items, however
large the values a request sent."""
_MAX_LIST = 2 * MAX_REPORTED


def _bounded(value: Any) -> Any:
    """``value`` with every string cut to :data:`MAX_STRING` characters and every list to
    a few hundred items: the last guard against an answer that amplifies its request."""
    if isinstance(value, str):
        if len(value) <= MAX_STRING:
            return value
        return f"{value[:MAX_STRING]}… ({len(value)} characters)"
    if isinstance(value, dict):
        return {_bounded(k): _bounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value[:_MAX_LIST]]
    return value


def visible_or_404(found: T | None, sees: Callable[[T], bool], missing: str) -> T:
    """``found`` when there is one and the caller ``sees`` it; else a 404 saying ``missing``:
    what the caller may not see is answered as if it did not exist."""
    if found is None or not sees(found):
        raise ProblemError(404, missing)
    return found


def problem_response(status: int, detail: str, *, instance: str, **members: Any) -> Response:
    """A problem+json response (``members``: those of :class:`ProblemError`)."""
    return ProblemError(status, detail, **members).response(instance)


def problem_item(problem: Problem) -> dict[str, Any]:
    """One entry of ``errors``: where (pointer, or line and path) and what; a severity
    only for warnings (everything else in ``errors`` is an error)."""
    item = problem.to_dict()
    if problem.is_error:
        del item["severity"]
    return item


def problem_items(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    return [problem_item(p) for p in problems]


# -- handlers --------------------------------------------------------------------------


async def _problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return exc.response(request.url.path)


def _http_exception_handler(routes: Sequence[BaseRoute]) -> HTTPExceptionHandler:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        headers = dict(exc.headers or {})
        if status == 404:
            detail = f"there is no resource at {request.url.path}"
        elif status == 405:
            # Starlette names the methods of the first route on the path only; name them all.
            headers["Allow"] = _allowed_methods(routes, request) or headers.get("Allow", "")
            detail = (
                f"{request.method} is not allowed on {request.url.path}; "
                f"allowed: {headers['Allow']}"
            )
        else:
            detail = str(exc.detail)
        return problem_response(status, detail, instance=request.url.path, headers=headers)

    return handle


def _allowed_methods(routes: Sequence[BaseRoute], request: Request) -> str:
    methods: set[str] = set()
    for route in routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    order = ["OPTIONS", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return ", ".join(sorted(methods, key=lambda m: order.index(m) if m in order else len(order)))


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    parts = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "invalid"))
        item: dict[str, Any] = {"message": message}
        if len(location) > 1 and location[0] in ("query", "header", "path"):
            item[location[0]] = ".".join(location[1:])
        else:
            item["location"] = ".".join(location)
        errors.append(item)
        parts.append(f"{' '.join(location[:2])}: {message}")
    return problem_response(
        400, "; ".join(parts) or "invalid request", instance=request.url.path, errors=errors
    )


async def _crash_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500,
        "the server could not complete the request; nothing it did not acknowledge was stored",
        instance=request.url.path,
    )


def forbidden(principal: Principal, permission: Permission) -> ProblemError:
    """403, naming the roles that hold ``permission`` and the one the principal has."""
    roles = [role.value for role in roles_with(permission)]
    return ProblemError(
        403,
        f"this needs the role {' or '.join(roles)} ({permission.value}); "
        f"{principal.subject} has the role {principal.role.value}",
        requiredRoles=roles,
        role=principal.role.value,
    )


async def _forbidden_handler(request: Request, exc: Exception) -> Response:
    # a use case refused the principal (the routes' own checks come first: see
    # adapters.http.authentication.allow)
    assert isinstance(exc, Forbidden)
    return forbidden(exc.principal, exc.permission).response(request.url.path)


def install(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    """Send every error of ``app`` as problem+json; ``routes`` (those of the routers the app
    includes) give a 405 its ``Allow``."""
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(Forbidden, _forbidden_handler)
    app.add_exception_handler(HTTPException, _http_exception_handler(routes))
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(Exception, _crash_handler)


# -- OpenAPI -----------------------------------------------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": (
        "RFC 9457 (formerly RFC 7807) problem details, as the EPCIS 2.0 REST bindings use "
        "them (`type` is one of the bindings' `epcisException:…` names). `errors` lists every "
        "problem found in a posted document: a `message` and a JSON `pointer` (JSON-LD "
        "input) or a `line` and element `path` (XML input)."
    ),
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "example": VALIDATION},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "message": {"type": "string"},
                    "pointer": {"type": "string", "example": "/epcisBody/eventList/0/action"},
                    "line": {"type": "integer"},
                    "path": {"type": "string"},
                    "rule": {"type": "string"},
                    "severity": {"type": "string"},
                },
            },
        },
    },
}


def problem_docs(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem statuses (descriptions by ``s400=…``)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "description": descriptions.get(f"s{status}", TITLES.get(status, "Error")),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
