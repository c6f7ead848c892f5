"""The transport limits of ``tracecode serve``: header and body timeouts, the connection
limit, URL and header sizes, problem+json for every refusal (adapters/http/transport.py).

Each test talks raw HTTP/1.1 over a socket to a real ``tracecode serve`` process on
127.0.0.1 (a SQLite store in a temporary directory), once with each of uvicorn's parsers
(httptools, h11), with timeouts of about a second set through the environment. Every wait
is bounded: a client gives the server at most ``PATIENCE`` seconds to close a connection
(the settings are ten times shorter); nothing asserts how fast anything is.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.http.transport import ServerSettings
from ledger.access import Role
from tests.http_support import bearer, make_key
from tests.ledger_contract import document, event

TRACECODE = Path(sys.executable).parent / "tracecode"
HOST = "127.0.0.1"
PATIENCE = 10.0
PARSERS = ("httptools", "h11")
PROBLEM = "application/problem+json"
FAST = {
    "TRACECODE_HEADER_TIMEOUT_SECONDS": "1",
    "TRACECODE_BODY_IDLE_TIMEOUT_SECONDS": "1",
    "TRACECODE_BODY_TIMEOUT_SECONDS": "3",
}


# -- a server ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    keys: dict[str, str]
    """Role -> API key: ``capture`` posts, ``reader`` reads."""

    def authorization(self, role: str = "reader") -> str:
        """An ``Authorization`` header line (raw requests)."""
        return f"Authorization: Bearer {self.keys[role]}"

    def auth(self, role: str = "reader") -> dict[str, str]:
        return bearer(self.keys[role])

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url(path), timeout=PATIENCE, headers=self.auth())

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def jobs(self) -> int:
        response = httpx.get(self.url("/capture"), timeout=PATIENCE, headers=self.auth())
        assert response.status_code == 200, response.text
        return len(response.json())


def _serve(directory: Path, env: dict[str, str]) -> Iterator[Server]:
    port = _free_port()
    log = directory / f"server-{port}.log"
    store = f"sqlite:///{directory / 'ledger.db'}"
    keys = {role.value: make_key(store, role) for role in (Role.CAPTURE, Role.READER, Role.ADMIN)}
    environment = {**os.environ, "TRACECODE_DATABASE_URL": store, **env}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(TRACECODE), "serve", "--port", str(port)], env=environment, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"http://{HOST}:{port}/health", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start: {log.read_text()}")
            time.sleep(0.2)
        yield Server(port, process, log, keys)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module", params=PARSERS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server with timeouts of 1 s (headers, body idle) and 3 s (whole body)."""
    directory = tmp_path_factory.mktemp(f"fast-{request.param}")
    yield from _serve(directory, {**FAST, "TRACECODE_HTTP_PARSER": request.param})


@pytest.fixture(scope="module", params=PARSERS)
def small_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server that takes 3 connections, and keeps idle ones for a long time."""
    directory = tmp_path_factory.mktemp(f"small-{request.param}")
    env = {
        "TRACECODE_MAX_CONNECTIONS": "3",
        "TRACECODE_HEADER_TIMEOUT_SECONDS": "60",
        "TRACECODE_KEEP_ALIVE_SECONDS": "60",
        "TRACECODE_HTTP_PARSER": request.param,
    }
    yield from _serve(directory, env)


# -- a raw client ------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> dict[str, Any]:
        assert self.headers.get("content-type") == PROBLEM, self
        assert self.headers.get("gs1-epcis-version") == "2.0.0"
        assert self.headers.get("gs1-cbv-version") == "2.0.0"
        body: dict[str, Any] = json.loads(self.body)
        assert body["status"] == self.status
        assert {"type", "title", "detail"} <= body.keys()
        return body


def _parse(data: bytes) -> Answer:
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return Answer(status, headers, rest[:length])


def _connect(server: Server) -> socket.socket:
    return socket.create_connection((HOST, server.port), timeout=PATIENCE)


def _until_closed(sock: socket.socket, patience: float = PATIENCE) -> tuple[bytes, bool]:
    """What the server sends until it closes the connection (True), or until ``patience``
    seconds have passed (False)."""
    data = b""
    deadline = time.monotonic() + patience
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def _exchange(sock: socket.socket, request: bytes) -> Answer:
    """Send a request on a keep-alive connection and read one response."""
    sock.sendall(request)
    data = b""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if b"\r\n\r\n" in data:
            answer = _parse(data)
            if len(answer.body) >= int(answer.headers.get("content-length", 0)):
                return answer
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection; it had sent {data!r}"
        data += chunk
    raise AssertionError(f"no complete response in {PATIENCE} s: {data!r}")


def _get(server: Server, path: str = "/capture") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{server.authorization()}\r\n\r\n".encode()


def _trickled(sock: socket.socket, pieces: Iterable[bytes]) -> tuple[bytes, bool]:
    """Send ``pieces`` one every 0.25 s until the server answers or closes the connection:
    what it sent back, and whether it closed (False: every piece went and it is still open)."""
    for piece in pieces:
        try:
            sock.sendall(piece)
        except OSError:  # the server has closed the connection
            return b"", True
        readable, _, _ = select.select([sock], [], [], 0.25)
        if readable:
            return _until_closed(sock)
    return b"", False


def _closed_with(sock: socket.socket) -> Answer | None:
    data, closed = _until_closed(sock)
    assert closed, f"the server kept the connection open for {PATIENCE} s (sent {data!r})"
    return _parse(data) if data else None


# -- header timeout ----------------------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with _connect(server) as sock:
        assert _closed_with(sock) is None


def test_half_a_request_line_is_answered_408_and_closed(server: Server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /capt")
        answer = _closed_with(sock)
    assert answer is not None and answer.status == 408
    assert "TRACECODE_HEADER_TIMEOUT_SECONDS" in answer.problem()["detail"]


def test_headers_trickled_a_byte_at_a_time_are_cut_off(server: Server) -> None:
    """Each byte comes well within any idle timeout; the headers as a whole do not."""
    with _connect(server) as sock:
        sock.sendall(b"GET /capture HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        data, closed = _trickled(sock, [b"a"] * int(PATIENCE / 0.25))
    assert closed, f"the server kept reading trickled headers for {PATIENCE} s"
    if data:  # a client that is still sending may see a reset instead of the 408
        assert _parse(data).status == 408


def test_the_header_timeout_starts_again_after_each_response(server: Server) -> None:
    """A keep-alive connection is served for longer than the header timeout as long as each
    request comes in time; a request left half-sent after a response is answered 408."""
    with _connect(server) as sock:
        for _ in range(4):  # 4 x 0.5 s: twice the header timeout, one connection
            assert _exchange(sock, _get(server)).status == 200
            time.sleep(0.5)
        sock.sendall(b"GET /capture HTTP/1.1\r\nHo")
        answer = _closed_with(sock)
    assert answer is not None and answer.status == 408


# -- body timeouts -----------------------------------------------------------------------


def _post_head(server: Server, path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/ld+json\r\n"
        f"{server.authorization('admin' if path.startswith('/queries') else 'capture')}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    "path",
    ["/capture", "/events", "/queries", "/queries/anything/subscriptions"],
)
def test_a_stalled_body_is_answered_408_and_nothing_is_stored(server: Server, path: str) -> None:
    body = document(event(700_001)) if path == "/capture" else json.dumps(event(700_002)).encode()
    jobs = server.jobs()
    with _connect(server) as sock:
        sock.sendall(_post_head(server, path, len(body)) + body[: len(body) // 2])
        answer = _closed_with(sock)
    assert answer is not None and answer.status == 408
    assert "TRACECODE_BODY_IDLE_TIMEOUT_SECONDS" in answer.problem()["detail"]
    assert answer.headers.get("connection") == "close"
    assert server.jobs() == jobs
    queries = server.get("/queries")
    assert queries.status_code == 200 and queries.json() == []


def test_a_body_trickled_past_the_total_bound_is_answered_408(server: Server) -> None:
    """A byte every 0.25 s never trips the 1 s idle timeout; the 3 s bound on the whole
    body ends it."""
    body = document(event(700_003))
    jobs = server.jobs()
    with _connect(server) as sock:
        sock.sendall(_post_head(server, "/capture", len(body)))
        data, closed = _trickled(sock, (bytes([b]) for b in body[: int(PATIENCE / 0.25)]))
    assert closed, f"the server kept reading a trickled body for {PATIENCE} s"
    answer = _parse(data)
    assert answer.status == 408
    assert "TRACECODE_BODY_TIMEOUT_SECONDS" in answer.problem()["detail"]
    assert server.jobs() == jobs


# -- sizes and malformed requests --------------------------------------------------------


def test_a_20_kb_url_is_answered_414_problem_json(server: Server) -> None:
    with _connect(server) as sock:
        sock.sendall(_get(server, "/events?MATCH_epc=" + "a" * 20_000))
        answer = _closed_with(sock)
    assert answer is not None and answer.status == 414
    detail = answer.problem()["detail"]
    assert "16384" in detail and "TRACECODE_MAX_URL_BYTES" in detail
    assert server.get("/capture").status_code == 200


def test_a_100_kb_header_is_answered_431_problem_json(server: Server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /capture HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        answer = _closed_with(sock)
    assert answer is not None and answer.status == 431
    assert "TRACECODE_MAX_HEADER_BYTES" in answer.problem()["detail"]
    assert server.get("/capture").status_code == 200


def test_many_headers_sent_slowly_are_answered_431(server: Server) -> None:
    """Headers that come in many packets are counted as they come, not only once complete."""
    with _connect(server) as sock:
        sock.sendall(b"GET /capture HTTP/1.1\r\nHost: x\r\n")
        try:
            for n in range(40):  # 40 KiB over 40 packets, within the header timeout
                sock.sendall(f"X-H{n}: {'b' * 1010}\r\n".encode())
                time.sleep(0.005)
        except OSError:
            pass  # refused before the end
        answer = _closed_with(sock)
    assert answer is not None and answer.status == 431
    answer.problem()


def test_a_malformed_request_is_answered_400_problem_json(server: Server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = _closed_with(sock)
    assert answer is not None and answer.status == 400
    assert answer.problem()["detail"].startswith("the request is not valid HTTP/1.1")


# -- connection limit --------------------------------------------------------------------


def test_connections_beyond_the_limit_are_turned_away_with_503(small_server: Server) -> None:
    held = [_connect(small_server) for _ in range(3)]
    try:
        for sock in held:  # each is served, and kept open
            assert _exchange(sock, _get(small_server)).status == 200
        with _connect(small_server) as extra:
            answer = _closed_with(extra)
        assert answer is not None and answer.status == 503
        assert answer.headers.get("retry-after") == "1"
        assert "TRACECODE_MAX_CONNECTIONS" in answer.problem()["detail"]
        for sock in held:  # the earlier connections are still served
            assert _exchange(sock, _get(small_server)).status == 200
        held.pop().close()
        deadline = time.monotonic() + PATIENCE
        while True:  # once one is closed, a new connection is served
            try:
                status = httpx.get(
                    small_server.url("/capture"), timeout=PATIENCE, headers=small_server.auth()
                ).status_code
            except httpx.HTTPError:
                status = 0
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 200
    finally:
        for sock in held:
            sock.close()


# -- settings ----------------------------------------------------------------------------


def test_a_bad_setting_stops_serve_with_its_name(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TRACECODE_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "TRACECODE_MAX_CONNECTIONS": "0",
    }
    done = subprocess.run(
        [str(TRACECODE), "serve", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert b"TRACECODE_MAX_CONNECTIONS" in done.stderr


def test_settings_defaults_and_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HEADER_TIMEOUT_SECONDS",
        "KEEP_ALIVE_SECONDS",
        "BODY_IDLE_TIMEOUT_SECONDS",
        "BODY_TIMEOUT_SECONDS",
        "MAX_CONNECTIONS",
        "MAX_URL_BYTES",
        "MAX_HEADER_BYTES",
        "BACKLOG",
        "HTTP_PARSER",
    ):
        monkeypatch.delenv(f"TRACECODE_{name}", raising=False)
    assert ServerSettings.from_env() == ServerSettings()
    monkeypatch.setenv("TRACECODE_MAX_URL_BYTES", "65536")
    with pytest.raises(ValueError, match="TRACECODE_MAX_HEADER_BYTES"):
        ServerSettings.from_env()
    monkeypatch.delenv("TRACECODE_MAX_URL_BYTES")
    monkeypatch.setenv("TRACECODE_HEADER_TIMEOUT_SECONDS", "nan")
    with pytest.raises(ValueError, match="TRACECODE_HEADER_TIMEOUT_SECONDS"):
        ServerSettings.from_env()


def test_a_websocket_on_an_unknown_query_sees_close_code_4404(server: Server) -> None:
    """A real client (the websockets library) gets the documented close code, not a 403."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = f"ws://{HOST}:{server.port}/queries/nothing/events"
    with (
        connect(url, open_timeout=PATIENCE, additional_headers=server.auth()) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=PATIENCE)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4404
    assert "nothing" in closed.value.rcvd.reason
