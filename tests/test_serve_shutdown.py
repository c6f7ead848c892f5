"""``tracecode serve`` stops on SIGTERM (what a service manager or a container runtime
sends) with a WebSocket stream open, or after a stream's client went away without a word.

A stream reads nothing from its client, so it used to notice neither: it polled on for
ever, and the server waited for it at shutdown until it was killed. Each test waits at most
``PATIENCE`` seconds for the server to exit; nothing asserts how fast.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.test_server_hardening import HOST, PATIENCE, Server, _serve


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with contextlib.ExitStack() as stack:
        yield stack.enter_context(contextlib.contextmanager(_serve)(tmp_path, {}))


def _define_query(server: Server) -> None:
    response = httpx.post(
        server.url("/queries"),
        json={"name": "all", "query": {"eventType": ["ObjectEvent"]}},
        headers=server.auth("admin"),
        timeout=PATIENCE,
    )
    assert response.status_code == 201, response.text


def _stops_on_sigterm(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve did not stop on SIGTERM: {server.log.read_text()[-2000:]}")


@pytest.mark.parametrize("client", ["connected", "gone"])
def test_serve_stops_on_sigterm_with_a_stream(server: Server, client: str) -> None:
    _define_query(server)
    url = f"ws://{HOST}:{server.port}/queries/all/events"
    with connect(url, open_timeout=PATIENCE, additional_headers=server.auth()) as ws:
        ws.ping().wait(PATIENCE)  # the stream is up
        if client == "connected":
            _stops_on_sigterm(server)
            return
    # the client closed its end; the stream must end too, and not hold the shutdown
    _stops_on_sigterm(server)
