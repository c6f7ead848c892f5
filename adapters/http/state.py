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
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import anyio
from fastapi import Request
from starlette.requests import ClientDisconnect

from adapters.http.authentication import Authenticator
from adapters.http.headers import limit_headers
from adapters.http.problems import ProblemError
from epcis.jsonld import read_json
from epcis.limits import Limits, capture_limits, env_seconds
from epcis.problems import DocumentError, excerpt, raise_if_any
from ledger.application import Ledger
from ledger.capture import Cancelled, CaptureCancelled, CaptureRequest, never_cancelled
from ledger.outcomes import CaptureResult
from ledger.writer import GroupCommitter
from projections.runner import ReadModelRunner


class WebhookTargets(Protocol):
    """What the subscription routes need of the outbound webhooks (given by the bootstrap):
    ``parse`` and ``check`` raise ``ValueError`` for a destination not to call."""

    def parse(self, dest: str) -> None: ...

    def check(self, dest: str) -> None: ...

    def last_notified(self, subscription_id: str) -> str | None: ...


class Running(Protocol):
    """Tracecode started for serving (:class:`adapters.bootstrap.System`)."""

    ledger: Ledger
    committer: GroupCommitter
    runner: ReadModelRunner
    authenticator: Authenticator
    webhooks: WebhookTargets
    views_apart: bool
    """The views are kept caught up by a projector process, not by this one."""

    def close(self) -> None: ...


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
    views_apart: bool = False
    """A projector process keeps the views caught up (reads wait for it first)."""
    authenticator: Authenticator = field(default_factory=lambda: Authenticator(None))
    """Who is asking (:mod:`adapters.http.authentication`)."""
    webhooks: WebhookTargets | None = None
    """What the subscription routes ask of the outbound webhooks."""

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


class HttpCaptureRunner:
    """How the HTTP API runs a capture (:class:`~ledger.capture_flow.CaptureRunner`).

    A small document (a few events: a fraction of a millisecond) is validated on the event
    loop, which spares the hop to a worker thread (measured: about 15 % of a single-event
    capture's CPU); a larger one on a worker thread, so that it does not hold up other
    requests. While the thread works, the client is watched: once it has gone, the thread is
    told to stop (between events), so a client that posts a large document and leaves costs
    no more than what was done by then. The commit goes through the group committer, unless
    the client has already gone (then nothing is stored)."""

    def __init__(self, request: Request) -> None:
        self.request = request

    async def prepare(
        self, work: Callable[[Cancelled], CaptureRequest], size: int
    ) -> CaptureRequest:
        if size <= INLINE_PREPARE_BYTES:
            return work(never_cancelled)
        gone = threading.Event()
        if await self.request.is_disconnected():
            raise CaptureCancelled("the client went away before validation")
        job = asyncio.ensure_future(in_thread(work, gone.is_set))
        while not job.done():
            await asyncio.wait({job}, timeout=DISCONNECT_POLL_SECONDS)
            if not job.done() and await self.request.is_disconnected():
                gone.set()
        prepared: CaptureRequest = job.result()
        return prepared

    async def commit(self, capture: CaptureRequest) -> CaptureResult:
        if await self.request.is_disconnected():
            raise CaptureCancelled("the client went away before the commit")
        state = state_of(self.request)
        if state.committer is None:
            raise RuntimeError("the group committer is not running: the lifespan has not started")
        result: CaptureResult = await asyncio.wrap_future(state.committer.enqueue(capture))
        counted(self.request, result)
        return result


def counted(request: Request, result: CaptureResult) -> None:
    """Count a commit's stored events in the app's figures (:mod:`adapters.http.metrics`)."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.captured(result)


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
