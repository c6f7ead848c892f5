"""The stand-in 医保 platform: a small real HTTP server (ASGI, run by uvicorn) that takes
messages as the platform does and can be told to misbehave, so that the delivery is tested
over the network and not against a mock.

* ``POST /`` — a message (the JSON envelope); the answer as the platform gives it
  (:mod:`.platform` decides it);
* ``GET /messages`` — every message received, oldest first: ``{infno, msgid, received,
  body, answer}``; ``DELETE /messages`` forgets them and the msgids taken;
* ``GET /faults``, ``POST /faults`` — how it misbehaves (:mod:`.faults`).

It is a plain ASGI callable rather than a Starlette router because dropping a response
needs the connection itself, which only the server's own ``send`` reaches (a router wraps
``send`` in its error handling).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from adapters.nhsa.faults import Faults
from adapters.nhsa.fields import Tables, load
from adapters.nhsa.platform import Platform

Handler = Callable[["StandIn", Request, Send], Awaitable[Response | None]]


class StandIn:
    """The ASGI app; ``platform`` holds what it received and how it misbehaves."""

    def __init__(self, tables: Tables | None = None) -> None:
        self.platform = Platform(tables or load())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        methods = ROUTES.get(scope["path"])
        handler = methods.get(scope["method"]) if methods else None
        if handler is None:
            status = 404 if methods is None else 405
            response: Response | None = JSONResponse({"detail": "no such route"}, status)
        else:
            response = await handler(self, Request(scope, receive), send)
        if response is not None:
            await response(scope, receive, send)

    async def post_message(self, request: Request, send: Send) -> Response | None:
        platform = self.platform
        faults = platform.faults
        if down := faults.down():
            headers = {"Retry-After": str(max(int(down), 1))}
            return PlainTextResponse("Service Unavailable", 503, headers=headers)
        arrived = datetime.now(UTC)
        if faults.slow:
            await asyncio.sleep(faults.slow)
        status, reply = platform.receive(await request.body(), arrived)
        if faults.take_drop():
            await _drop(send)
            return None
        if faults.take_hang():
            await asyncio.sleep(faults.hang)
        return JSONResponse(reply, status)

    async def get_messages(self, request: Request, send: Send) -> Response:
        return JSONResponse(self.platform.messages)

    async def delete_messages(self, request: Request, send: Send) -> Response:
        return JSONResponse({"cleared": self.platform.clear()})

    async def get_faults(self, request: Request, send: Send) -> Response:
        return JSONResponse(self.platform.faults.describe())

    async def post_faults(self, request: Request, send: Send) -> Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        parsed = Faults.parse(body)
        if isinstance(parsed, list):
            problem = {"title": "not a set of faults", "status": 400, "errors": parsed}
            return JSONResponse(problem, 400, media_type="application/problem+json")
        self.platform.faults = parsed
        return JSONResponse(parsed.describe())


ROUTES: dict[str, dict[str, Handler]] = {
    "/": {"POST": StandIn.post_message},
    "/messages": {"GET": StandIn.get_messages, "DELETE": StandIn.delete_messages},
    "/faults": {"GET": StandIn.get_faults, "POST": StandIn.post_faults},
}


async def _drop(send: Send) -> None:
    """Close the connection without a word. uvicorn's ``send`` is a method of the
    request's cycle, which holds the connection's transport."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("dropping a response needs uvicorn's connection")
    transport.abort()
    await asyncio.sleep(0)  # let the server see the connection gone before the app returns


def config(app: StandIn, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, lifespan="off", access_log=False, log_level=log_level
    )


@contextmanager
def running(
    port: int = 0, *, host: str = "127.0.0.1", tables: Tables | None = None
) -> Iterator[str]:
    """A stand-in serving on ``host:port`` (0: a free port) in a thread of this process,
    for as long as the block runs; yields its base URL."""
    server = uvicorn.Server(config(StandIn(tables), host, port, "warning"))
    thread = threading.Thread(target=server.run, name="nhsa-standin", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the stand-in did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = server.force_exit = True  # a held-back answer must not hold us
        thread.join(timeout=30)
