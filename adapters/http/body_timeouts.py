"""Bounds on how long a request body may take: :class:`BodyTimeouts`, the ASGI middleware
that answers 408 when a body stalls (``TRACECODE_BODY_IDLE_TIMEOUT_SECONDS``) or takes too
long as a whole (``TRACECODE_BODY_TIMEOUT_SECONDS``); the server's other transport guards
are in :mod:`adapters.http.transport`."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http.problems import ProblemError
from adapters.http.transport import BODY_IDLE_TIMEOUT_ENV, BODY_TIMEOUT_ENV


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a GET has none: it skips the timers)."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class BodyTimeouts:
    """ASGI middleware: a request body that stalls for ``idle`` seconds, or is not complete
    after ``total`` seconds, ends the request with 408 problem+json and ``Connection: close``.

    It wraps ``receive`` until the body is complete (then steps aside), so every route that
    reads a body is covered (a request without ``Content-Length`` or ``Transfer-Encoding``
    has no body: it is passed on as it is); the 408 is raised from ``receive`` as a
    :class:`~adapters.http.problems.ProblemError`, so the route stops before doing anything.
    """

    def __init__(self, app: ASGIApp, idle: float, total: float) -> None:
        self.app = app
        self.idle = idle
        self.total = total

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total
        idle = self.idle
        complete = False

        async def receive_in_time() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            remaining = deadline - loop.time()
            wait = min(idle, remaining)
            try:
                if wait <= 0:
                    raise TimeoutError
                async with asyncio.timeout(wait):
                    message = await receive()
            except TimeoutError:
                raise self._timed_out(whole=wait < idle) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        await self.app(scope, receive_in_time, send)

    def _timed_out(self, *, whole: bool) -> ProblemError:
        if whole:
            why = f"the request body was not complete after {self.total:g} s"
            setting = BODY_TIMEOUT_ENV
        else:
            why = f"no byte of the request body arrived for {self.idle:g} s"
            setting = BODY_IDLE_TIMEOUT_ENV
        return ProblemError(
            408,
            f"{why} ({setting}); the request was not processed",
            headers={"Connection": "close"},
        )
