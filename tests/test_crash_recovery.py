"""SIGKILL the server in the middle of a stream of captures; nothing acknowledged is lost.

Four clients post three-event documents to a real ``tracecode serve`` process. The server
is killed with SIGKILL while requests are in flight, then restarted on the same store.
Every capture acknowledged (202) before the kill is stored completely, no document is
stored in part, and posting every document again creates no duplicate.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from epcis.document import load
from ledger.application import Ledger
from ledger.settings import store_settings
from ledger.verify import verify_chain
from tests.http_support import bearer, make_key
from tests.ledger_contract import document, event

CLIENTS = 4
ACKS_BEFORE_KILL = 40
TRACECODE = Path(sys.executable).parent / "tracecode"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(url: str, port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRACECODE_DATABASE_URL": url}
    log = (tmp_path / f"server-{port}.log").open("ab")
    server = subprocess.Popen(
        [str(TRACECODE), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.options(f"http://127.0.0.1:{port}/capture", timeout=1).status_code < 500:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError(f"server did not start: {(tmp_path / f'server-{port}.log').read_text()}")


def _documents(client: int, count: int) -> list[bytes]:
    return [
        document(*(event(client * 100_000 + n * 10 + k) for k in range(3))) for n in range(count)
    ]


def test_acknowledged_captures_survive_sigkill(store_url: str, tmp_path: Path) -> None:
    port = _free_port()
    headers = {"Content-Type": "application/ld+json", **bearer(make_key(store_url))}
    server = _start(store_url, port, tmp_path)
    docs = {c: _documents(c, 200) for c in range(CLIENTS)}
    acknowledged: list[bytes] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(c: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for body in docs[c]:
                if stop.is_set():
                    return
                try:
                    response = http.post("/capture", content=body, headers=headers)
                except httpx.HTTPError:
                    return  # the server is gone
                if response.status_code == 202:
                    with lock:
                        acknowledged.append(body)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        server.send_signal(signal.SIGKILL)  # in the middle of the stream
        server.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert len(acknowledged) >= ACKS_BEFORE_KILL

    ledger = Ledger(store_settings(store_url))
    try:
        stored = {s.hash_id for s in ledger.stored_events()}
        for body in acknowledged:
            assert set(load(body).hash_ids()) <= stored, "an acknowledged capture was lost"
        sent = [body for c in range(CLIENTS) for body in docs[c]]
        for body in sent:
            hashes = set(load(body).hash_ids())
            assert hashes <= stored or not (hashes & stored), "a document was stored in part"
    finally:
        ledger.close()

    restarted = _start(store_url, port, tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for body in sent[:: max(1, len(sent) // 120)] + acknowledged:  # retries
                response = http.post("/capture", content=body, headers=headers)
                assert response.status_code == 202, response.text
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)

    ledger = Ledger(store_settings(store_url))
    try:
        hashes = [s.hash_id for s in ledger.stored_events()]
        assert len(hashes) == len(set(hashes)), "a retry stored a duplicate"
        report = verify_chain(ledger)
        assert report.intact, report.findings
        assert report.last_position == len(hashes)
        assert report.last_position >= 3 * ACKS_BEFORE_KILL
    finally:
        ledger.close()
