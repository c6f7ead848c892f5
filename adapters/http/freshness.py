"""Read your writes: log positions on captures, ``wait_for`` on reads.

A *log position* is a notification id of the ledger's log, the unit the projection runner
tracks (``view_tracking``). Every capture answer carries the position the read models must
reach to include it (``TraceCode-Log-Position``; ``logPosition`` in the capture job), and
every read answer the position it reflects (:func:`projections.freshness.reached`).

A read that names a position (query ``wait_for=N`` or header ``TraceCode-Wait-For: N``; the
larger wins when both are given) is answered at once when the views are there already; if
not, the read waits for them (another writer may still be committing N) up to
``TRACECODE_READ_WAIT_SECONDS`` (default 5 s; a client can ask for less with ``Prefer:
wait=S``), then gives up with 503, ``Retry-After`` and a problem naming the position reached
and the one asked for. A read without ``wait_for`` waits for the log's end as it is when the
read starts, so a read right after a capture sees it, and a read with nothing new skips the
write transaction of a catch-up.

While it waits, the views are caught up: by this process at once when it keeps them
(``TRACECODE_PROJECTOR=inline``); when a projector process keeps them, by the projector,
the read polling the tracking position, and after :data:`APPLY_AFTER_SECONDS` without it
(the projector restarting, or none running) by this process.

For read routes: :func:`read_view` (the runner to query and the position to report) and,
for the OpenAPI description and an early 400 for a malformed value, the dependency
:data:`WAIT_FOR` (``APIRouter(dependencies=[WAIT_FOR])`` or a route's ``dependencies``).

The highest position seen is remembered (per process) so that a read asking for a
position already reached costs no query at all. A ``tracecode projections rebuild`` run
while the server is up empties the views under it; reads then see them partly filled until
the rebuild is done (as they did before this cache).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, Header, Query, Request

from adapters.http.problems import ProblemError
from adapters.http.state import DEFAULT_READ_WAIT, READ_WAIT_ENV, HttpState, in_thread, state_of
from epcis.problems import excerpt
from ledger.application import Ledger
from projections.freshness import advance, reached
from projections.runner import ReadModelRunner

POSITION_HEADER = "TraceCode-Log-Position"
WAIT_FOR_HEADER = "TraceCode-Wait-For"
WAIT_FOR_QUERY = "wait_for"
RETRY_AFTER_SECONDS = 1
POLL_SECONDS = 0.05
APPLY_AFTER_SECONDS = 1.0
"""With the views kept by a projector process: how long a read waits for it before it
applies the missing batches itself."""
_PREFER_WAIT = re.compile(r"(?:^|[,;])\s*wait\s*=\s*\"?([0-9]+(?:\.[0-9]+)?)\"?", re.IGNORECASE)

WAIT_FOR_DOC = (
    "Read your writes: a log position from a capture answer (`TraceCode-Log-Position`). "
    "The answer waits until the read models have reached it, at most "
    f"`{READ_WAIT_ENV}` seconds (default {DEFAULT_READ_WAIT:g}; less with `Prefer: wait=S`), "
    f"else 503 with `Retry-After`. Also as the header `{WAIT_FOR_HEADER}`."
)


def position_header_doc(what: str) -> dict[str, object]:
    """The OpenAPI description of the position header on an answer to a write of ``what``."""
    return {
        "description": (
            f"Read your writes: the log position the read models must reach to include {what}; "
            "pass it to a read as `wait_for`."
        ),
        "schema": {"type": "integer"},
    }


def position_headers(position: int) -> dict[str, str]:
    """The header that tells a client which log position an answer reflects or needs."""
    return {POSITION_HEADER: str(position)}


@dataclass(frozen=True)
class ReadView:
    """What a read route queries (``runner.connect()``) and the log position it reflects."""

    runner: ReadModelRunner
    position: int

    @property
    def headers(self) -> dict[str, str]:
        return position_headers(self.position)


# -- parsing ------------------------------------------------------------------------------


def _position(value: str, where: dict[str, str]) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        name = where.get("query") or where.get("header")
        raise ProblemError(
            400,
            f"{name}: {excerpt(value)} is not a log position (a whole number >= 0, as "
            f"{POSITION_HEADER} gives them)",
            errors=[{**where, "message": "not a log position"}],
        )
    return int(text)


def parse_wait_for(query: str | None, header: str | None) -> int | None:
    """The position a read must wait for, from the query parameter and/or the header."""
    asked = []
    if query is not None:
        asked.append(_position(query, {"query": WAIT_FOR_QUERY}))
    if header is not None:
        asked.append(_position(header, {"header": WAIT_FOR_HEADER}))
    return max(asked) if asked else None


def wait_for_of(request: Request) -> int | None:
    """The position a request asks for (400 problem when malformed), or None."""
    return parse_wait_for(
        request.query_params.get(WAIT_FOR_QUERY), request.headers.get(WAIT_FOR_HEADER)
    )


def _wait_for_dependency(
    wait_for: Annotated[str | None, Query(description=WAIT_FOR_DOC, examples=["42"])] = None,
    header: Annotated[
        str | None,
        Header(alias=WAIT_FOR_HEADER, description=f"As the `{WAIT_FOR_QUERY}` query parameter."),
    ] = None,
    prefer: Annotated[
        str | None,
        Header(
            alias="Prefer",
            description="`wait=S`: wait at most S seconds for `wait_for` (RFC 7240).",
        ),
    ] = None,
) -> int | None:
    return parse_wait_for(wait_for, header)


WAIT_FOR = Depends(_wait_for_dependency)
"""Documents ``wait_for``, ``TraceCode-Wait-For`` and ``Prefer`` and refuses a malformed
position before the route runs; :func:`read_view` reads them from the request itself."""


def wait_seconds(request: Request, bound: float) -> float:
    """How long this read may wait: the server's bound, or less (``Prefer: wait=S``)."""
    for value in request.headers.getlist("prefer"):
        found = _PREFER_WAIT.search(value)
        if found:
            return min(bound, float(found.group(1)))
    return bound


# -- waiting ------------------------------------------------------------------------------


def _remember(state: HttpState, position: int) -> int:
    # A lost race only leaves a lower figure, which is still true.
    state.projected = max(state.projected, position)
    return state.projected


def observe(ledger: Ledger, runner: ReadModelRunner, known: int = 0) -> int:
    """The log position the views reflect, without applying anything (``known``: a
    position already reached)."""
    if known >= ledger.log_position():
        return known
    return reached(ledger, runner)


async def _look(state: HttpState, apply: bool) -> int:
    """The position the views reflect now, after applying what the log holds beyond them
    when ``apply`` (:func:`projections.freshness.advance`); remembered."""
    ledger, runner = state.ledger, state.projection
    if runner is None or ledger is None:
        raise RuntimeError("the projection runner is not open: the lifespan has not started")
    look = advance if apply else observe
    return _remember(state, await in_thread(look, ledger, runner, state.projected))


async def read_view(request: Request) -> ReadView:
    """Wait until the read models reflect what the request asks for; what to read.

    Without ``wait_for``: the log's end when the read starts (no time limit, as before).
    With ``wait_for=N``: at once when N is reached; otherwise poll until N is reached or
    the wait bound has passed (then a 503 problem with ``Retry-After``, naming both
    positions). A malformed position is a 400.

    Who applies: when this process keeps the views (``TRACECODE_PROJECTOR=inline``), the
    read catches them up itself at once. When a projector process keeps them, the read
    waits for it, polling the tracking position, for at most :data:`APPLY_AFTER_SECONDS`
    (or the read's wait bound, if shorter), and then applies the missing batches itself:
    a projector restarting, or none running, makes reads slower, never wrong.
    """
    wait_for = wait_for_of(request)
    state = state_of(request)
    runner = state.projection
    if runner is None or state.ledger is None:
        raise RuntimeError("the projection runner is not open: the lifespan has not started")
    if wait_for is None and not state.views_apart:
        return ReadView(runner, await _look(state, apply=True))
    if wait_for is not None and state.projected >= wait_for:
        return ReadView(runner, state.projected)
    started = time.monotonic()
    bound = math.inf if wait_for is None else wait_seconds(request, state.read_wait)
    target = await in_thread(state.ledger.log_position) if wait_for is None else wait_for
    patience = min(APPLY_AFTER_SECONDS, bound) if state.views_apart else 0.0
    deadline = started + bound
    while True:
        now = await _look(state, apply=time.monotonic() - started >= patience)
        if now >= target:
            return ReadView(runner, now)
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await anyio.sleep(min(POLL_SECONDS, left))
    waited = time.monotonic() - started
    raise ProblemError(
        503,
        f"the read models have reached log position {now}, not yet {wait_for} "
        f"(waited {waited:.2f} s); retry later",
        title="The read models have not reached the log position asked for",
        type="about:blank",
        headers={
            "Retry-After": str(RETRY_AFTER_SECONDS),
            **position_headers(now),
            **_preference_applied(request, bound),
        },
        position=now,
        waitFor=wait_for,
        waitBound=bound,
    )


def _preference_applied(request: Request, bound: float) -> dict[str, str]:
    """RFC 7240: say that ``Prefer: wait`` was honoured, and with what bound."""
    asked = any(_PREFER_WAIT.search(v) for v in request.headers.getlist("prefer"))
    return {"Preference-Applied": f"wait={bound:g}"} if asked else {}
