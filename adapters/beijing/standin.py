"""A stand-in of the Beijing platform: a real HTTP server that takes messages of seed-004
table rows (:mod:`adapters.beijing.render`) as JSON or XML, checks every row
(:mod:`adapters.beijing.check`) and answers as a platform would, so that the delivery is
tested over the network, not against a mock. It can be told to misbehave (``POST /faults``,
the same vocabulary as the 医保 stand-in's).

* ``POST /`` a message (``Content-Type`` JSON or XML): 200 ``{"result": "accepted"}``;
  200 ``{"result": "already-received"}`` for an id taken before (nothing taken twice);
  400 ``{"result": "refused", "problems": [{"pointer"|"path", "message"}]}``;
  415 for another content type; 503 while down, 500 for an injected error.
* ``GET /messages``: every message answered (not while down), oldest first:
  ``{table, id, received, format, body, status, answer, fault}``; ``DELETE /messages``.
* ``POST /faults`` / ``GET /faults``; ``GET /tables`` the tables as data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from adapters.beijing import check, render
from adapters.beijing.tables import TABLES, describe
from epcis.problems import DocumentError, Problem, capped

ACCEPTED = "accepted"
ALREADY_RECEIVED = "already-received"
REFUSED = "refused"
DEFAULT_HANG = 30.0
"""How long a ``timeout_after_commit`` answer is held back unless ``hang`` says (or until the
client gives up)."""
XML_TYPES = ("application/xml", "text/xml")


# ---- faults ----


def _seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


FAULTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "down_for": (_seconds, "seconds (≥ 0) the platform answers 503 to every message"),
    "error_rate": (lambda v: _seconds(v) and v <= 1, "a share (0 to 1) of messages failed, 500"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "timeout_after_commit": (_count, "how many next messages are taken, then answered late"),
    "hang": (lambda v: _seconds(v) and v > 0, "seconds (> 0) a late answer is held back"),
    "slow": (_seconds, "seconds (≥ 0) every message waits before it is handled"),
    "drop_responses": (_count, "how many next messages are taken, then the connection cut"),
}
"""What ``POST /faults`` takes. A posted set replaces the one before (``{}``: behave);
counted faults apply to the next messages and wear off, the others last."""


@dataclass
class Faults:
    posted: dict[str, Any] = field(default_factory=dict)
    down_until: float = 0.0
    error_rate: float = 0.0
    draw: random.Random = field(default_factory=random.Random)
    timeout_after_commit: int = 0
    hang: float = DEFAULT_HANG
    slow: float = 0.0
    drop_responses: int = 0

    @classmethod
    def posting(cls, body: Any) -> Faults | list[dict[str, str]]:
        """The faults a body asks for, or what is wrong with it (pointer, message)."""
        if not isinstance(body, dict):
            return [{"pointer": "", "message": "must be a JSON object of faults"}]
        errors = [
            {"pointer": f"/{key}", "message": f"not a fault: one of {', '.join(FAULTS)}"}
            if key not in FAULTS
            else {"pointer": f"/{key}", "message": f"{value!r}: {FAULTS[key][1]}"}
            for key, value in body.items()
            if key not in FAULTS or not FAULTS[key][0](value)
        ]
        return errors or cls(
            posted=dict(body),
            down_until=time.monotonic() + body.get("down_for", 0),
            error_rate=float(body.get("error_rate", 0)),
            draw=random.Random(body.get("seed")),
            timeout_after_commit=body.get("timeout_after_commit", 0),
            hang=float(body.get("hang", DEFAULT_HANG)),
            slow=float(body.get("slow", 0)),
            drop_responses=body.get("drop_responses", 0),
        )

    def down(self) -> float:
        return max(self.down_until - time.monotonic(), 0.0)

    def fails_now(self) -> bool:
        return self.error_rate > 0 and self.draw.random() < self.error_rate

    def after_commit(self) -> str | None:
        """The counted fault this taken message gets, if any (and one fewer left)."""
        if self.drop_responses > 0:
            self.drop_responses -= 1
            return "drop_responses"
        if self.timeout_after_commit > 0:
            self.timeout_after_commit -= 1
            return "timeout_after_commit"
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "posted": self.posted,
            "down_for": round(self.down(), 3),
            "timeout_after_commit": self.timeout_after_commit,
            "drop_responses": self.drop_responses,
        }


# ---- the platform ----


@dataclass
class Taken:
    received: str
    table: str
    rows: list[Any]


@dataclass
class Decision:
    status: int
    answer: dict[str, Any]
    table: str | None = None
    id: str | None = None
    fault: str | None = None


def _shown(found: list[Problem]) -> list[dict[str, str]]:
    shown, more = capped(found)
    out = [
        {"path": p.path, "message": p.message}
        if p.path is not None
        else {"pointer": p.pointer or "", "message": p.message}
        for p in shown
    ]
    return out + ([{"pointer": "", "message": f"and {more} more"}] if more else [])


class Platform:
    """What the stand-in remembers: every message answered, and the ids it took."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.taken: dict[str, Taken] = {}
        self.faults = Faults()

    def decide(self, body: bytes, xml: bool, received: str) -> Decision:
        try:
            message, found = render.from_xml(body) if xml else (render.from_json(body), [])
        except DocumentError as exc:
            return Decision(400, {"result": REFUSED, "problems": _shown(list(exc.problems))})
        table, rows = message.table, message.rows
        answer: dict[str, Any]
        if self.faults.fails_now():
            answer = {"result": "error", "message": "stand-in fault: the platform failed"}
            return Decision(500, answer, table.key, message.id)
        first = self.taken.get(message.id)
        if first is not None:
            return Decision(200, self._again(message, first), table.key, message.id)
        for index, row in enumerate(rows):
            for problem in check.problems(table, row, f"/rows/{index}"):
                at = problem.pointer or ""
                found.append(
                    Problem(problem.message, path=render.element_path(table, at))
                    if xml
                    else problem
                )
        if found:
            answer = {"result": REFUSED, "id": message.id, "problems": _shown(found)}
            return Decision(400, answer, table.key, message.id)
        self.taken[message.id] = Taken(received, table.key, rows)
        answer = {"result": ACCEPTED, "id": message.id, "table": table.key, "rows": len(rows)}
        return Decision(200, answer, table.key, message.id, self.faults.after_commit())

    def _again(self, message: render.Message, first: Taken) -> dict[str, Any]:
        same = first.table == message.table.key and first.rows == message.rows
        said = f"message {message.id} was received at {first.received}"
        return {
            "result": ALREADY_RECEIVED,
            "id": message.id,
            "received": first.received,
            "message": said if same else said + "; this body differs from the one taken",
        }

    def record(self, decision: Decision, xml: bool, body: bytes, received: str) -> None:
        text = body.decode("utf-8", errors="replace")
        try:
            shown: Any = text if xml else json.loads(text)
        except ValueError:
            shown = text
        self.messages.append(
            {
                "table": decision.table,
                "id": decision.id,
                "received": received,
                "format": "xml" if xml else "json",
                "body": shown,
                "status": decision.status,
                "answer": decision.answer,
                "fault": decision.fault,
            }
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Cut(Response):
    """A response whose connection is cut after the status line: the platform took the
    message, the client never learns it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1000")],
            }
        )
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        raise ConnectionAbortedError("stand-in fault: drop_responses")


async def _hold(request: Request, seconds: float, closing: threading.Event) -> None:
    """Hold an answer back until the client gives up, ``seconds`` pass or the server stops."""
    until = time.monotonic() + seconds
    while time.monotonic() < until and not closing.is_set():
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.05)


def create_app(closing: threading.Event | None = None) -> Starlette:
    """The stand-in's ASGI app; ``closing`` set: held answers are let go (shutdown)."""
    platform = Platform()
    stop = closing or threading.Event()

    async def receive_message(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("application/json", *XML_TYPES):
            problem = {"pointer": "", "message": "Content-Type must be application/json or XML"}
            return JSONResponse({"result": REFUSED, "problems": [problem]}, status_code=415)
        body = await request.body()
        if platform.faults.down():
            return JSONResponse({"result": "down", "retryAfter": platform.faults.down()}, 503)
        if platform.faults.slow:
            await asyncio.sleep(platform.faults.slow)
        received = _now()
        xml = content_type in XML_TYPES
        decision = platform.decide(body, xml, received)
        platform.record(decision, xml, body, received)
        if decision.fault == "drop_responses":
            return _Cut()
        if decision.fault == "timeout_after_commit":
            await _hold(request, platform.faults.hang, stop)
        return JSONResponse(decision.answer, decision.status)

    async def messages(request: Request) -> Response:
        if request.method == "DELETE":
            count = len(platform.messages)
            platform.messages.clear()
            platform.taken.clear()
            return JSONResponse({"deleted": count})
        return JSONResponse(platform.messages)

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                posted = Faults.posting(await request.json())
            except ValueError:
                posted = [{"pointer": "", "message": "the body is not JSON"}]
            if isinstance(posted, list):
                return JSONResponse({"result": REFUSED, "problems": posted}, 400)
            platform.faults = posted
        return JSONResponse(platform.faults.describe())

    async def tables(request: Request) -> Response:
        return JSONResponse([describe(table) for table in TABLES])

    return Starlette(
        routes=[
            Route("/", receive_message, methods=["POST"]),
            Route("/messages", messages, methods=["GET", "DELETE"]),
            Route("/faults", faults, methods=["GET", "POST"]),
            Route("/tables", tables, methods=["GET"]),
        ]
    )


@contextlib.contextmanager
def running(host: str = "127.0.0.1") -> Iterator[str]:
    """The stand-in serving in a thread of this process on a free port: its base URL."""
    import uvicorn

    closing = threading.Event()
    config = uvicorn.Config(
        create_app(closing), log_level="critical", access_log=False, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the stand-in Beijing platform did not start")
            time.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        closing.set()
        server.should_exit = True
        thread.join()
        sock.close()
