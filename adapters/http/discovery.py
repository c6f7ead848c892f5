"""The ``OPTIONS`` routes: a ``204`` with ``Allow``, the GS1 headers and the capture limits.

Every path of the API answers ``OPTIONS`` to the callers that may use it. A path naming one
resource (a capture job, an event) first looks that resource up, so that ``OPTIONS`` on one
that does not exist (or that the caller may not see) is a ``404``, as ``GET`` would be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from adapters.http.headers import discovery_headers
from adapters.http.state import state_of

ANSWERED = "Allow and the GS1 headers."


def discovered(request: Request, allow: str, **extra: str) -> Response:
    """The ``204`` answer to ``OPTIONS``: ``Allow``, the GS1 headers and the limits."""
    state = state_of(request)
    headers = discovery_headers(allow, state.max_events, state.max_bytes)
    return Response(status_code=204, headers={**headers, **extra})


def _answering(allowed: str, extra: Mapping[str, str]) -> Callable[[Request], Response]:
    def options(request: Request) -> Response:
        return discovered(request, allowed, **extra)

    return options


def add_options(
    router: APIRouter,
    path: str,
    allowed: str,
    who: Any,
    *,
    name: str = "options",
    summary: str | None = None,
    description: str | None = None,
    answered: str = ANSWERED,
    documented: Mapping[str, Any] | None = None,
    extra: Mapping[str, str] | None = None,
    responses: Mapping[int | str, dict[str, Any]] | None = None,
) -> None:
    """An ``OPTIONS`` route on ``path`` announcing ``allowed`` (and ``extra`` headers) to the
    callers the dependency ``who`` lets through (a dependency that also finds the resource
    the path names, for a path naming one: then ``responses`` documents its 404).
    ``name`` (its OpenAPI operation's), ``answered`` and ``documented`` describe the route
    and its 204's headers in the OpenAPI."""
    answer: dict[str, Any] = {"description": answered}
    if documented:
        answer["headers"] = dict(documented)
    router.add_api_route(
        path,
        _answering(allowed, extra or {}),
        methods=["OPTIONS"],
        name=name,
        status_code=204,
        tags=["Discovery"],
        summary=summary or f"Query metadata: {allowed}.",
        description=description,
        response_class=Response,
        responses={204: answer, **(responses or {})},
        dependencies=[who],
    )


def add_discovery(router: APIRouter, paths: Iterable[tuple[str, str]], who: Any) -> None:
    """An ``OPTIONS`` route on each path announcing what it allows (and the GS1 headers),
    for callers the dependency ``who`` lets through."""
    for path, allowed in paths:
        add_options(router, path, allowed, who)
