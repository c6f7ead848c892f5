"""``/outbox``: the messages the ledger owes the platforms (医保, Beijing) and where each is
(:mod:`projections.outbox`), for operators.

* ``GET /outbox?platform=&state=&after=&limit=`` — messages in log order (without their
  bodies), and the counts per platform and state; ``next`` is the ``after`` of the next
  page (null: none);
* ``GET /outbox/{msgid}`` — one message with its body as owed and the platform's answer;
* ``POST /outbox/retry`` ``{"msgids": [...]}`` or ``{"platform": …}`` (admin) — make
  those messages (else every failed one) due now.

A reader, auditor or admin sees its institution's messages; a regulator every one.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adapters.http.authentication import ADMIN, READ, principal_of
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.state import in_thread, state_of
from projections.outbox import STATES, counts, find, listed, retry
from projections.runner import ReadModelRunner

router = APIRouter()
PLATFORMS = ("nhsa", "beijing")


class RetryAsked(BaseModel):
    model_config = ConfigDict(extra="forbid")

    msgids: list[str] = Field(default_factory=list, max_length=10_000)
    platform: Literal["nhsa", "beijing"] | None = None


def _runner(request: Request) -> ReadModelRunner:
    runner = state_of(request).projection
    if runner is None:
        raise RuntimeError("the read models are not running: the app's lifespan has not started")
    return runner


def _check(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        said = f"{name}={value!r}: not one of {', '.join(allowed)}"
        raise ProblemError(
            400, f"query parameter {said}", errors=[{"query": name, "message": said}]
        )


@router.get(
    "/outbox",
    tags=["Outbox"],
    summary="The messages owed to the 医保 and Beijing platforms, and their states.",
    description=(
        "Messages in log order (`after`: the `seq` to continue after), optionally of one "
        f"platform ({', '.join(PLATFORMS)}) and one state ({', '.join(STATES)}), with the "
        "counts per platform and state. Bodies are left out: `GET /outbox/{msgid}`."
    ),
    responses=problem_docs(400),
    dependencies=[READ],
)
async def get_outbox(
    request: Request,
    platform: str | None = Query(None, description="nhsa or beijing."),
    state: str | None = Query(None, description="A message state."),
    after: int = Query(0, ge=0, description="The seq to continue after."),
    limit: int = Query(100, ge=1, le=1000),
) -> JSONResponse:
    _check("platform", platform, PLATFORMS)
    _check("state", state, STATES)
    scope = principal_of(request).scope
    institutions = None if scope is None else [scope]
    runner = _runner(request)
    found = await in_thread(
        listed,
        runner,
        platform=platform,
        state=state,
        institutions=institutions,
        after=after,
        limit=limit,
    )
    tally = await in_thread(counts, runner, institutions)
    return JSONResponse(
        {
            "messages": [m.as_json(body=False) for m in found],
            "counts": tally,
            "next": found[-1].seq if len(found) == limit else None,
        }
    )


@router.get(
    "/outbox/{msgid}",
    tags=["Outbox"],
    summary="One outbox message: its body as owed, its state and the platform's answer.",
    responses=problem_docs(404),
    dependencies=[READ],
)
async def get_message(request: Request, msgid: str = Path(...)) -> JSONResponse:
    message = await in_thread(find, _runner(request), msgid)
    if message is None or not principal_of(request).sees(message.institution):
        raise ProblemError(404, f"no outbox message {msgid!r}")
    return JSONResponse(message.as_json())


@router.post(
    "/outbox/retry",
    tags=["Outbox"],
    summary="Send failed or waiting messages again now.",
    description=(
        "`msgids`: those messages (failed, pending or sent); without them every failed "
        "message (of `platform` when given). Answers how many were made due."
    ),
    responses=problem_docs(400),
    dependencies=[ADMIN],
)
async def post_retry(request: Request, asked: RetryAsked | None = None) -> JSONResponse:
    chosen = asked or RetryAsked()
    scope = principal_of(request).scope
    made = await in_thread(retry, _runner(request), chosen.msgids, chosen.platform, scope)
    return JSONResponse({"retried": made})
