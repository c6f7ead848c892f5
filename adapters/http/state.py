"""What the routes share: the limits, the ledger, its group committer and projection runner,
reading bodies.

The ledger and the :class:`~ledger.writer.GroupCommitter` are blocking; the routes call
them on worker threads. Waiting for a group commit has its own, larger pool of threads, so
that a burst of captures can all be queued into one transaction while the default pool
serves reads and the validation of large documents (small ones are validated on the loop).
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
from fastapi import Request
from starlette.requests import ClientDisconnect

from adapters.http.documents import PreparedCapture, prepare_capture
from adapters.http.headers import limit_headers
from adapters.http.problems import ProblemError
from adapters.webhooks.destinations import DestinationPolicy
from epcis.jsonld import read_json
from epcis.limits import Limits, capture_limits, env_seconds
from epcis.problems import DocumentError, excerpt, raise_if_any
from ledger.application import CaptureResult, Ledger
from ledger.capture import CaptureCancelled, CaptureRequest
from ledger.writer import GroupCommitter
from projections.runner import ReadModelRunner

INLINE_PREPARE_BYTES = 16 * 1024
DISCONNECT_POLL_SECONDS = 0.05
READ_WAIT_ENV = "TRACECODE_READ_WAIT_SECONDS"
DEFAULT_READ_WAIT = 5.0


def read_wait_seconds() -> float:
    """The server's bound on how long a read waits for a log position
    (``TRACECODE_READ_WAIT_SECONDS``, default 5)."""
    return env_seconds(READ_WAIT_ENV, DEFAULT_READ_WAIT, zero=True)


@dataclass
class HttpState:
    """Set on ``app.state.tracecode`` by :func:`adapters.http.app.create_app`."""

    max_events: int
    max_bytes: int
    max_depth: int
    max_nodes: int = Limits.max_nodes
    read_wait: float = DEFAULT_READ_WAIT
    """How long a read asking for a log position may wait (``TRACECODE_READ_WAIT_SECONDS``)."""
    ledger: Ledger | None = None
    committer: GroupCommitter | None = None
    projection: ReadModelRunner | None = None
    """Keeps the read views (:mod:`adapters.http.reads`) caught up with the ledger."""
    projected: int = 0
    """The highest log position the views were seen to reflect (see
    :mod:`adapters.http.freshness`)."""
    destinations: DestinationPolicy = field(default_factory=DestinationPolicy)
    """Where webhooks may call (``TRACECODE_WEBHOOK_ALLOW_HOSTS``)."""

    @classmethod
    def configure(cls, max_events: int | None, max_bytes: int | None) -> HttpState:
        env = capture_limits(max_events)
        if (env.max_events or 0) < 1 or (max_bytes is not None and max_bytes < 1):
            raise ValueError("the capture limits must be at least 1")
        return cls(
            env.max_events or 0,
            max_bytes or env.max_bytes,
            env.max_depth,
            env.max_nodes,
            read_wait=read_wait_seconds(),
            destinations=DestinationPolicy.from_env(),
        )

    @property
    def limits(self) -> Limits:
        return Limits(max_bytes=self.max_bytes, max_depth=self.max_depth, max_nodes=self.max_nodes)

    @property
    def limit_headers(self) -> dict[str, str]:
        return limit_headers(self.max_events, self.max_bytes)


def state_of(request: Request) -> HttpState:
    state: HttpState = request.app.state.tracecode
    return state


def ledger_of(request: Request) -> Ledger:
    ledger = state_of(request).ledger
    if ledger is None:
        raise RuntimeError("the ledger is not open: the app's lifespan has not started")
    return ledger


async def in_thread(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking call on the default worker threads."""
    return await anyio.to_thread.run_sync(partial(func, *args, **kwargs))


async def prepare_off_loop(request: Request, data: bytes, **kwargs: Any) -> PreparedCapture:
    """Validate and prepare a posted document. A small one (a few events: a fraction of a
    millisecond) is done on the event loop, which spares the hop to a worker thread (measured:
    about 15 % of a single-event capture's CPU); a larger one on a worker thread, so that
    it does not hold up other requests.

    While the thread works, the client is watched: once it has gone, the thread is told to
    stop (between events) and :class:`~ledger.capture.CaptureCancelled` is raised, so a
    client that posts a large document and leaves costs no more than what was done by then.
    """
    if len(data) <= INLINE_PREPARE_BYTES:
        return prepare_capture(data, **kwargs)
    gone = threading.Event()
    if await request.is_disconnected():
        raise CaptureCancelled("the client went away before validation")
    work = asyncio.ensure_future(in_thread(prepare_capture, data, cancelled=gone.is_set, **kwargs))
    while not work.done():
        await asyncio.wait({work}, timeout=DISCONNECT_POLL_SECONDS)
        if not work.done() and await request.is_disconnected():
            gone.set()
    prepared: PreparedCapture = work.result()
    return prepared


async def commit_unless_gone(request: Request, capture: CaptureRequest) -> CaptureResult:
    """:func:`commit`, unless the client has already gone (then nothing is stored)."""
    if await request.is_disconnected():
        raise CaptureCancelled("the client went away before the commit")
    return await commit(request, capture)


async def commit(request: Request, capture: CaptureRequest) -> CaptureResult:
    """Store a capture request with whatever else is waiting; return once it is durable."""
    state = state_of(request)
    if state.committer is None:
        raise RuntimeError("the group committer is not running: the lifespan has not started")
    result: CaptureResult = await asyncio.wrap_future(state.committer.enqueue(capture))
    return result


async def read_body(request: Request, max_bytes: int, headers: dict[str, str]) -> bytes:
    """The request body, refused with 413 as soon as it passes ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body
    without one (chunked) is read chunk by chunk and refused after at most one chunk more
    than the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise ProblemError(400, f"Content-Length {excerpt(declared)} is not a number") from None
        if length > max_bytes:
            raise _too_large(max_bytes, headers, f"Content-Length is {length} bytes")
    buffer = bytearray()
    try:
        async with aclosing(request.stream()) as stream:
            async for chunk in stream:
                buffer += chunk
                if len(buffer) > max_bytes:
                    raise _too_large(max_bytes, headers, "the body is longer")
    except ClientDisconnect:
        raise ProblemError(400, "the client went away before the body was complete") from None
    return bytes(buffer)


CONTROL_BODY_BYTES = 1024 * 1024
"""The largest body of a control request (a named query, a subscription): far more than any
of them needs."""


async def read_json_object(request: Request) -> dict[str, Any]:
    """A control request's JSON object body, read with the same guards as a document (size,
    depth, number literals, repeated keys): a 400 (413 over the size) that says where,
    never a 500."""
    data = await read_body(request, CONTROL_BODY_BYTES, {})
    try:
        result = read_json(data, Limits(max_bytes=CONTROL_BODY_BYTES))
        raise_if_any(result.problems)
    except DocumentError as exc:
        first = exc.problems[0]
        raise ProblemError(
            400,
            f"the body is not a clear JSON object: {first}",
            errors=[problem.to_dict() for problem in exc.problems],
        ) from None
    return result.document


def _too_large(max_bytes: int, headers: dict[str, str], what: str) -> ProblemError:
    return ProblemError(
        413,
        f"{what}; this server captures documents of at most {max_bytes} bytes "
        "(GS1-EPCIS-Capture-File-Size-Limit): split the document",
        headers=headers,
        fileSizeLimit=max_bytes,
    )
