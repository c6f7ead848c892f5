"""Subscriptions to named queries: webhooks and the WebSocket stream.

* ``POST /queries/{name}/subscriptions`` — ``{"dest": "https://…", "secret": "…"}`` (or
  ``signatureToken``) with ``"stream": true`` or a ``"schedule"`` (plus ``reportIfEmpty``),
  and optionally ``initialRecordTime`` (default: now: only events captured from now on).
  201 with ``Location``; the answer never shows the secret. Delivery:
  :mod:`adapters.webhooks`. ``dest`` must pass the outbound webhooks' destination policy
  (given by the bootstrap: no credentials, no loopback, private, link-local or metadata
  addresses, after DNS resolution, unless ``TRACECODE_WEBHOOK_ALLOW_HOSTS`` allows
  the host); otherwise 400 with the reason, pointing at ``/dest``.
* ``GET /queries/{name}/subscriptions``, ``GET`` / ``DELETE …/subscriptions/{id}``.
* ``/queries/{name}/events`` as a WebSocket: each new matching event, as it is captured,
  arrives as an EPCISQueryDocument (one text message per batch). The socket closes with
  code 4404 if there is no such query and 4410 when the query is deleted.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from starlette.responses import Response

from adapters.http.authentication import ADMIN, principal_of, websocket_principal
from adapters.http.discovery import add_discovery
from adapters.http.documents import render
from adapters.http.problems import ProblemError, problem_docs
from adapters.http.queries import definition, no_such_query
from adapters.http.state import WebhookTargets, in_thread, ledger_of, read_json_object, state_of
from epcis.problems import excerpt
from epcis.query.document import query_document
from epcis.query.schedule import ScheduleError, parse_schedule
from epcis.timestamps import utc_now
from ledger import standing_queries
from ledger.access import Permission, Principal
from ledger.application import Ledger
from ledger.subscriptions import SubscriptionInfo, subscription_query
from projections.event_query import events_after
from projections.freshness import catch_up
from projections.named_values import last_indexed
from projections.runner import ReadModelRunner

router = APIRouter()
T = TypeVar("T")

SUBSCRIPTION_CONTROLS = "epcisException:SubscriptionControlsException"
WEBSOCKET_POLL = 0.2


def _controls(pointer: str, message: str) -> ProblemError:
    return ProblemError(
        400,
        f"{pointer[1:] or 'body'}: {message}",
        type=SUBSCRIPTION_CONTROLS,
        title="Subscription error",
        errors=[{"pointer": pointer, "message": message}],
    )


def _runner(request: Request) -> ReadModelRunner:
    runner = state_of(request).projection
    if runner is None:
        raise RuntimeError("the projection runner is not open: the lifespan has not started")
    return runner


def _index_end(runner: ReadModelRunner) -> int:
    catch_up(runner)
    with runner.connect() as conn:
        return last_indexed(conn)


def epcis_time(stored: str) -> str:
    """A stored ISO time as every other time the API answers with: UTC, milliseconds, ``Z``."""
    moment = datetime.fromisoformat(stored.replace("Z", "+00:00")).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _webhooks(request: Request) -> WebhookTargets:
    webhooks = state_of(request).webhooks
    if webhooks is None:
        raise RuntimeError("webhooks are not wired: the app's lifespan has not started")
    return webhooks


def _read_body(body: dict[str, Any], destinations: WebhookTargets) -> dict[str, Any]:
    known = {"dest", "secret", "signatureToken", "stream", "schedule", "reportIfEmpty"}
    known |= {"initialRecordTime"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise _controls(f"/{unknown[0]}", "is not a subscription field")
    dest = body.get("dest")
    if not isinstance(dest, str):
        raise _controls("/dest", "an http(s) URL to call back")
    try:
        destinations.parse(dest)  # no DNS yet: that is done once the rest is known good
    except ValueError as exc:  # ForbiddenDestination
        raise _controls("/dest", str(exc)) from None
    secret = body.get("secret", body.get("signatureToken"))
    if not isinstance(secret, str) or not secret:
        raise _controls("/secret", "a non-empty secret (or signatureToken) to sign callbacks")
    stream, schedule = body.get("stream"), body.get("schedule")
    if stream is not None and stream is not True:
        raise _controls("/stream", "must be true when given")
    if (stream is True) == (schedule is not None):
        raise _controls("", 'give either "stream": true or a "schedule", not both')
    if schedule is not None:
        try:
            parse_schedule(schedule)
        except ScheduleError as exc:
            raise _controls(
                "/schedule" + (f"/{exc.field}" if exc.field else ""), str(exc)
            ) from None
    report = body.get("reportIfEmpty", False)
    if not isinstance(report, bool):
        raise _controls("/reportIfEmpty", "true or false")
    initial = body.get("initialRecordTime")
    if initial is not None:
        try:
            moment = datetime.fromisoformat(str(initial))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise _controls("/initialRecordTime", "a date-time with a time zone")
    return body


def _location(name: str, subscription_id: str) -> str:
    return f"/queries/{name}/subscriptions/{subscription_id}"


@router.post(
    "/queries/{name}/subscriptions",
    status_code=201,
    tags=["Subscriptions"],
    summary="Subscribe to a named query (webhook).",
    responses=problem_docs(400, 404),
    dependencies=[ADMIN],
)
async def subscribe(request: Request, name: str) -> Response:
    who = principal_of(request)
    destinations = _webhooks(request)
    try:
        raw = await read_json_object(request)
    except ProblemError as exc:
        if exc.status != 400:
            raise
        raise _controls("", exc.detail) from None
    body = _read_body(raw, destinations)
    await definition(request, name)  # before the destination's name is resolved
    try:
        await in_thread(destinations.check, body["dest"])
    except ValueError as exc:  # ForbiddenDestination, after resolving
        raise _controls("/dest", str(exc)) from None
    initial = body.get("initialRecordTime")
    start_after = 0 if initial is not None else await in_thread(_index_end, _runner(request))
    terms = SubscriptionInfo(
        subscription_id=str(uuid.uuid4()),
        query_name=name,
        dest=body["dest"],
        secret=str(body.get("secret", body.get("signatureToken"))),
        stream=body.get("stream") is True,
        schedule=body.get("schedule"),
        report_if_empty=bool(body.get("reportIfEmpty", False)),
        initial_record_time=initial,
        start_after=start_after,
        created_at=utc_now(),
    )
    try:
        info = await in_thread(standing_queries.subscribe, ledger_of(request), who, terms)
    except standing_queries.NoSuchQuery:  # deleted meanwhile
        raise no_such_query(name) from None
    location = _location(name, info.subscription_id)
    return JSONResponse(info.as_json(), status_code=201, headers={"Location": location})


def _shown(request: Request, info: SubscriptionInfo) -> dict[str, Any]:
    out = info.as_json()
    notified = _webhooks(request).last_notified(info.subscription_id)
    if notified is not None:
        out["lastNotifiedAt"] = epcis_time(notified)
    return out


@router.get(
    "/queries/{name}/subscriptions",
    tags=["Subscriptions"],
    responses=problem_docs(404),
    dependencies=[ADMIN],
)
async def list_subscriptions(request: Request, name: str) -> Response:
    try:
        found = await in_thread(
            standing_queries.subscriptions_of, ledger_of(request), principal_of(request), name
        )
    except standing_queries.NoSuchQuery:
        raise no_such_query(name) from None
    return JSONResponse([_shown(request, s) for s in found])


async def _on_subscription(
    use_case: Callable[[Ledger, Principal, str, str], T | None],
    request: Request,
    name: str,
    subscription_id: str,
) -> T:
    """Run a use case on one subscription of the asking institution's query ``name``;
    what it does not find (None, False) is the 404."""
    done: T | None = await in_thread(
        use_case, ledger_of(request), principal_of(request), name, subscription_id
    )
    if not done:
        raise ProblemError(
            404, f"query {excerpt(name)} has no subscription {excerpt(subscription_id)}"
        )
    return done


@router.get(
    "/queries/{name}/subscriptions/{subscription_id}",
    tags=["Subscriptions"],
    responses=problem_docs(404),
    dependencies=[ADMIN],
)
async def get_subscription(request: Request, name: str, subscription_id: str) -> Response:
    found = await _on_subscription(
        standing_queries.get_subscription, request, name, subscription_id
    )
    return JSONResponse(_shown(request, found))


@router.delete(
    "/queries/{name}/subscriptions/{subscription_id}",
    status_code=204,
    tags=["Subscriptions"],
    responses=problem_docs(404),
    dependencies=[ADMIN],
)
async def unsubscribe(request: Request, name: str, subscription_id: str) -> Response:
    await _on_subscription(standing_queries.unsubscribe, request, name, subscription_id)
    return Response(status_code=204)


add_discovery(
    router,
    (
        ("/queries/{name}/subscriptions", "OPTIONS, GET, POST"),
        ("/queries/{name}/subscriptions/{subscription_id}", "OPTIONS, GET, DELETE"),
    ),
    ADMIN,
)


# -- WebSocket -----------------------------------------------------------------------------


@router.websocket("/queries/{name}/events")
async def stream(websocket: WebSocket, name: str) -> None:
    state = websocket.app.state.tracecode
    ledger, runner = state.ledger, state.projection
    try:
        who = await websocket_principal(websocket, Permission.READ)
    except ProblemError as exc:
        # Accepted first, so that the client sees why (4401 / 4403, like 401 / 403).
        await websocket.accept()
        await websocket.close(code=4000 + exc.status, reason=exc.detail[:120])
        return
    try:
        await in_thread(standing_queries.get_query, ledger, who, name)
    except standing_queries.NoSuchQuery:
        # Accepted first: a WebSocket closed before it is accepted is an HTTP 403 to the
        # client, which never sees the close code.
        await websocket.accept()
        await websocket.close(code=4404, reason=f"there is no query named {excerpt(name)}")
        return
    position = await in_thread(_index_end, runner)  # before accepting: the client may
    await websocket.accept()  # capture the moment it is connected, and must see that
    info = SubscriptionInfo(
        "websocket", name, "", "", True, None, False, None, position, "", who.institution, who.scope
    )
    async with anyio.create_task_group() as tasks:
        # Nothing else reads the socket: without this watcher a client that went away (or a
        # server shutting down, which closes every socket) would never be noticed while no
        # event matched, and the stream would poll on for ever.
        tasks.start_soon(_until_closed, websocket, tasks.cancel_scope)
        with contextlib.suppress(WebSocketDisconnect):
            await _push(websocket, ledger, runner, info, who.scope)
        tasks.cancel_scope.cancel()


async def _until_closed(websocket: WebSocket, streaming: anyio.CancelScope) -> None:
    """Wait for the client's close (or the connection's end), then stop the stream."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass  # a client sends nothing that the stream answers
    streaming.cancel()


async def _push(
    websocket: WebSocket,
    ledger: Ledger,
    runner: ReadModelRunner,
    info: SubscriptionInfo,
    scope: str | None,
) -> None:
    """Send each new batch of the named query's results (those after ``info.start_after``),
    as one query document a batch."""
    name, position = info.query_name, info.start_after
    while True:
        query = await in_thread(subscription_query, ledger, info)
        if query is None:
            await websocket.close(code=4410, reason=f"query {excerpt(name)} was deleted")
            return
        found, upto = await in_thread(_next_batch, runner, query, position, scope)
        if found:
            document = query_document(found, name)
            await websocket.send_text(render(document, "json").decode())
        if upto == position:
            await anyio.sleep(WEBSOCKET_POLL)
        position = upto


def _next_batch(
    runner: ReadModelRunner, query: Any, position: int, scope: str | None
) -> tuple[list[Any], int]:
    catch_up(runner)
    with runner.connect() as conn:
        found, upto = events_after(conn, query, position, scope=scope)
    return [item for _, item in found], upto
