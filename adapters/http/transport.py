"""The server's transport limits: how long a client may take, how many may connect, how large
a request head may be; and the answers (problem+json) when a client passes them.

``tracecode serve`` runs uvicorn with the protocol classes defined here (subclasses of
uvicorn's httptools and h11 protocols) and :func:`adapters.http.app.create_app` installs
:class:`BodyTimeouts`. The settings (environment, read once per process, so every worker of
``--workers`` has the same):

* ``TRACECODE_HEADER_TIMEOUT_SECONDS`` (10): a connection must send complete request headers
  within this time of connecting, or of the previous response on a keep-alive connection;
  otherwise it is answered 408 (nothing was sent: just closed) and closed. uvicorn has no
  such timeout: a client sending a byte now and then kept its connection forever.
* ``TRACECODE_KEEP_ALIVE_SECONDS`` (5, whole seconds): an idle keep-alive connection is
  closed after this (uvicorn's ``timeout_keep_alive``).
* ``TRACECODE_BODY_IDLE_TIMEOUT_SECONDS`` (10) and ``TRACECODE_BODY_TIMEOUT_SECONDS`` (120):
  a request body that stalls for the first, or is not complete after the second, is answered
  408 and the connection closed; the request is not processed (nothing is stored).
* ``TRACECODE_MAX_CONNECTIONS`` (1000, per worker process): a connection beyond it is answered
  503 (``Retry-After``) at once and closed; the connections already open are unaffected.
* ``TRACECODE_MAX_URL_BYTES`` (16384): a longer request target is answered 414.
* ``TRACECODE_MAX_HEADER_BYTES`` (32768): a request line and header fields longer than this
  together are answered 431 (httptools, uvicorn's default parser, has no limit at all).
* ``TRACECODE_BACKLOG`` (2048): the listen backlog (connections the kernel queues before they
  are accepted).
* ``TRACECODE_HTTP_PARSER`` (``auto``): ``httptools`` or ``h11``; ``auto`` is httptools when it
  is installed (it is with ``uvicorn[standard]``), as in uvicorn.

A request that is not valid HTTP/1.1 is answered 400. Every one of these answers is
``application/problem+json`` with the GS1 version headers and ``Connection: close``, written
by the protocol itself (the app never sees the request).
"""

from __future__ import annotations

import asyncio
import http
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from adapters.http.headers import VERSION_HEADERS
from adapters.http.problems import ProblemError
from epcis.limits import env_int, env_seconds

HEADER_TIMEOUT_ENV = "TRACECODE_HEADER_TIMEOUT_SECONDS"
KEEP_ALIVE_ENV = "TRACECODE_KEEP_ALIVE_SECONDS"
BODY_IDLE_TIMEOUT_ENV = "TRACECODE_BODY_IDLE_TIMEOUT_SECONDS"
BODY_TIMEOUT_ENV = "TRACECODE_BODY_TIMEOUT_SECONDS"
MAX_CONNECTIONS_ENV = "TRACECODE_MAX_CONNECTIONS"
MAX_URL_ENV = "TRACECODE_MAX_URL_BYTES"
MAX_HEADER_ENV = "TRACECODE_MAX_HEADER_BYTES"
BACKLOG_ENV = "TRACECODE_BACKLOG"
HTTP_PARSER_ENV = "TRACECODE_HTTP_PARSER"
RETRY_AFTER_SECONDS = 1
LINGER_SECONDS = 2.0
"""How long a connection turned away for the connection limit is kept to read what the
client still sends (so that its close is not a reset that could lose the 503)."""


@dataclass(frozen=True)
class ServerSettings:
    header_timeout: float = 10.0
    keep_alive: int = 5
    body_idle_timeout: float = 10.0
    body_timeout: float = 120.0
    max_connections: int = 1000
    max_url_bytes: int = 16 * 1024
    max_header_bytes: int = 32 * 1024
    backlog: int = 2048
    http_parser: str = "auto"

    @classmethod
    def from_env(cls) -> ServerSettings:
        """The settings the environment gives; ValueError names a bad one."""
        parser = (os.environ.get(HTTP_PARSER_ENV) or cls.http_parser).strip().lower()
        if parser not in ("auto", "httptools", "h11"):
            raise ValueError(f"{HTTP_PARSER_ENV} must be auto, httptools or h11, not {parser!r}")
        settings = cls(
            header_timeout=env_seconds(HEADER_TIMEOUT_ENV, cls.header_timeout),
            keep_alive=env_int(KEEP_ALIVE_ENV, cls.keep_alive),
            body_idle_timeout=env_seconds(BODY_IDLE_TIMEOUT_ENV, cls.body_idle_timeout),
            body_timeout=env_seconds(BODY_TIMEOUT_ENV, cls.body_timeout),
            max_connections=env_int(MAX_CONNECTIONS_ENV, cls.max_connections),
            max_url_bytes=env_int(MAX_URL_ENV, cls.max_url_bytes, minimum=64),
            max_header_bytes=env_int(MAX_HEADER_ENV, cls.max_header_bytes, minimum=256),
            backlog=env_int(BACKLOG_ENV, cls.backlog),
            http_parser=parser,
        )
        if settings.max_url_bytes > settings.max_header_bytes:
            raise ValueError(
                f"{MAX_URL_ENV} ({settings.max_url_bytes}) must not be above "
                f"{MAX_HEADER_ENV} ({settings.max_header_bytes}): the request line is part "
                "of the request head"
            )
        return settings

    def protocol_class(self) -> type[asyncio.Protocol]:
        """The uvicorn ``http`` protocol class that enforces these settings."""
        if self.http_parser == "h11":
            return GuardedH11Protocol
        return GuardedHttpToolsProtocol


@cache
def server_settings() -> ServerSettings:
    """The settings of this process (read once: the protocols need them per connection)."""
    return ServerSettings.from_env()


# -- answers written by the protocol -----------------------------------------------------


def problem_bytes(
    status: int,
    detail: str,
    default_headers: list[tuple[bytes, bytes]],
    *,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """A complete HTTP/1.1 problem+json response that closes the connection."""
    # The request was not (completely) read: no path to name as the instance.
    body = json.dumps(ProblemError(status, detail).body(None), ensure_ascii=False).encode("utf-8")
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    lines = [f"HTTP/1.1 {status} {phrase}".encode("ascii")]
    lines += [name + b": " + value for name, value in default_headers]
    headers = {
        "content-type": "application/problem+json",
        "content-length": str(len(body)),
        "connection": "close",
        **VERSION_HEADERS,
        **(extra_headers or {}),
    }
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _parser_detail(exc: BaseException | None) -> str:
    why = str(exc).strip() if exc is not None else ""
    return "the request is not valid HTTP/1.1" + (f": {why}" if why else "")


_turned_away = 0
"""Connections of this process turned away for the limit and not yet closed."""


class _Guard:
    """The per-connection state of the header timeout and the request-head limits, shared by
    both protocol classes. ``expect_head`` when a request head is due (connection made, or a
    response finished with nothing else in flight), ``head_complete`` when it has arrived."""

    __slots__ = (
        "awaiting",
        "head_bytes",
        "line_done",
        "lingering",
        "loop",
        "refusal",
        "server_state",
        "settings",
        "timer",
        "transport",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, settings: ServerSettings, state: ServerState
    ) -> None:
        self.loop = loop
        self.settings = settings
        self.server_state = state
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.awaiting = False
        self.head_bytes = 0
        self.line_done = False
        self.lingering = False
        self.refusal: tuple[int, str] | None = None

    # -- connection limit

    def turn_away(self, transport: asyncio.Transport) -> bool:
        """Answer 503 and close when this process already has its limit of connections."""
        global _turned_away
        if len(self.server_state.connections) < self.settings.max_connections:
            return False
        self.transport = transport
        limit = self.settings.max_connections
        transport.write(
            problem_bytes(
                503,
                f"this server process has its limit of {limit} open connections "
                f"({MAX_CONNECTIONS_ENV}); retry shortly",
                self.server_state.default_headers,
                extra_headers={"retry-after": str(RETRY_AFTER_SECONDS)},
            )
        )
        if _turned_away >= limit or not transport.can_write_eof():
            transport.close()
            return True
        # Read (and drop) what the client still sends for a moment, so that closing does not
        # reset the connection under a client that has not read the 503 yet.
        transport.write_eof()
        _turned_away += 1
        self.lingering = True
        self.timer = self.loop.call_later(
            min(LINGER_SECONDS, self.settings.header_timeout), transport.close
        )
        return True

    def turned_away_lost(self) -> None:
        global _turned_away
        if self.lingering:
            _turned_away -= 1
            self.lingering = False
        self.cancel()

    # -- header timeout

    def expect_head(self) -> None:
        """A request head is due: it must be complete within the header timeout."""
        self.cancel()
        self.timer = self.loop.call_later(self.settings.header_timeout, self._timed_out)

    def head_complete(self) -> None:
        """The head has arrived: what comes next is its body, until ``message_complete``."""
        self.awaiting = False
        self.head_bytes = 0
        self.line_done = False
        self.cancel()

    def message_complete(self) -> None:
        """The request (its body too) has arrived: what comes next is the next head."""
        self.awaiting = True

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _timed_out(self) -> None:
        self.timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not self.awaiting or self.head_bytes == 0:
            # Nothing of a request yet, or the rest of the body of a request already
            # answered: just close.
            transport.close()
            return
        self.answer(
            408,
            f"the request headers were not complete within {self.settings.header_timeout:g} s "
            f"({HEADER_TIMEOUT_ENV})",
            busy=False,
        )

    # -- request head limits

    def received(self, data: bytes) -> None:
        """Count what arrives while a request head is due (call before parsing it)."""
        if self.awaiting:
            self.head_bytes += len(data)
            if not self.line_done and b"\n" in data:
                self.line_done = True

    def check_received(self, *, busy: bool) -> None:
        """After parsing: refuse a request head that is still incomplete and already too long."""
        if not self.awaiting or self.head_bytes <= self.settings.max_header_bytes:
            return
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        status, detail = (
            self.url_too_long(self.head_bytes) if not self.line_done else self.head_too_long()
        )
        self.answer(status, detail, busy=busy)

    def check_head(self, url_bytes: int, head_bytes: int) -> tuple[int, str] | None:
        """Why a complete request head is refused (status and detail), or None."""
        if url_bytes > self.settings.max_url_bytes:
            return self.url_too_long(url_bytes)
        if head_bytes > self.settings.max_header_bytes:
            return self.head_too_long()
        return None

    def url_too_long(self, size: int) -> tuple[int, str]:
        self.refusal = (
            414,
            f"the request target (URL) is {size} bytes or more; this server accepts at most "
            f"{self.settings.max_url_bytes} ({MAX_URL_ENV}): send a long query as "
            "several shorter ones, or define it as a named query (POST /queries)",
        )
        return self.refusal

    def head_too_long(self) -> tuple[int, str]:
        self.refusal = (
            431,
            "the request line and header fields are longer than "
            f"{self.settings.max_header_bytes} bytes ({MAX_HEADER_ENV})",
        )
        return self.refusal

    def answer_parse_error(self, exc: BaseException | None, *, busy: bool) -> None:
        """What the protocol's ``send_400_response`` does: the refusal decided before the
        parser stopped, or a 400 that names the parser's complaint."""
        if self.refusal is not None:
            status, detail = self.refusal
        elif isinstance(exc, h11.RemoteProtocolError) and exc.error_status_hint == 431:
            status, detail = (
                self.url_too_long(self.head_bytes) if not self.line_done else self.head_too_long()
            )
        else:
            status, detail = 400, _parser_detail(exc)
        self.answer(status, detail, busy=busy)

    def answer(self, status: int, detail: str, *, busy: bool) -> None:
        """Answer with a problem and close; while a response is under way (a pipelined head
        went wrong) just close, rather than write into the middle of it."""
        self.cancel()
        self.awaiting = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not busy:
            transport.write(problem_bytes(status, detail, self.server_state.default_headers))
        transport.close()


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that is refused."""


class _Guarded:
    """What both protocol classes do around uvicorn's: turn a connection away over the
    limit, start and stop the header timer, count what arrives."""

    guard: _Guard
    turned_away: bool
    cycle: Any

    loop: asyncio.AbstractEventLoop

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)  # type: ignore[call-arg]
        self.guard = _Guard(self.loop, server_settings(), server_state)
        self.turned_away = False
        self._guard_started()

    def _guard_started(self) -> None:
        """Where a protocol whose parser reports to the guard connects the two."""

    def _busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)
        if self.guard.turn_away(stream):
            self.turned_away = True
            return
        super().connection_made(stream)  # type: ignore[misc]
        self.guard.transport = stream
        self.guard.message_complete()
        self.guard.expect_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.turned_away:
            self.guard.turned_away_lost()
            return
        self.guard.cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self.turned_away:
            return
        guard = self.guard
        guard.received(data)
        super().data_received(data)  # type: ignore[misc]
        if guard.awaiting:
            guard.check_received(busy=self._busy())


class GuardedHttpToolsProtocol(_Guarded, HttpToolsProtocol):
    """uvicorn's httptools protocol with the header timeout, the connection limit, the
    request-head limits and problem+json answers (see the module)."""

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.guard.settings.max_url_bytes:
            self.guard.url_too_long(len(self.url))
            raise _Refused

    def on_headers_complete(self) -> None:
        guard = self.guard
        guard.head_complete()
        head = len(self.url) + 14 + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if guard.check_head(len(self.url), head) is not None:
            raise _Refused
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.guard.message_complete()

    def on_response_complete(self) -> None:
        self.guard.expect_head()
        super().on_response_complete()
        if self._busy() or self.transport.is_closing():  # a pipelined request is under way
            self.guard.cancel()

    def send_400_response(self, msg: str) -> None:
        self.guard.answer_parse_error(sys.exc_info()[1], busy=self._busy())


class _H11Connection(h11.Connection):
    """h11's server connection, telling the protocol when a request head, and when a whole
    request, has arrived."""

    def __init__(
        self,
        on_request: Callable[[h11.Request], None],
        on_end: Callable[[], None],
        max_size: int,
    ) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_size)
        self._on_request = on_request
        self._on_end = on_end

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        event = super().next_event()
        kind = type(event)
        if kind is h11.Request:
            self._on_request(event)  # type: ignore[arg-type]
        elif kind is h11.EndOfMessage:
            self._on_end()
        return event


class GuardedH11Protocol(_Guarded, H11Protocol):
    """uvicorn's h11 protocol with the same guards as :class:`GuardedHttpToolsProtocol`."""

    def _guard_started(self) -> None:
        # Our own count refuses an overlong head first; h11's bound is the safety net.
        self.conn = _H11Connection(
            self._request_head,
            self.guard.message_complete,
            self.guard.settings.max_header_bytes + 1024,
        )

    def _request_head(self, event: h11.Request) -> None:
        guard = self.guard
        guard.head_complete()
        head = len(event.method) + len(event.target) + 12
        head += sum(len(n) + len(v) + 4 for n, v in event.headers)
        refusal = guard.check_head(len(event.target), head)
        if refusal is not None:
            raise h11.RemoteProtocolError(refusal[1], error_status_hint=refusal[0])

    def on_response_complete(self) -> None:
        self.guard.expect_head()
        super().on_response_complete()  # may start a pipelined request (its head is complete)
        if self._busy() or self.transport.is_closing():
            self.guard.cancel()

    def send_400_response(self, msg: str) -> None:
        self.guard.answer_parse_error(sys.exc_info()[1], busy=self._busy())


# -- request bodies ----------------------------------------------------------------------
