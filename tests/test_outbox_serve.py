"""``tracecode serve`` derives and delivers the 医保 messages in the background (the
default, ``TRACECODE_OUTBOX_DELIVERY=serve``): a real server process, a real stand-in, and
a scan answered at once while its message goes out behind it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.nhsa.standin import running
from ledger.access import Role
from tests.http_support import bearer, make_key
from tests.master_data_support import csv_bytes
from tests.nhsa_outbox_support import HOSPITAL, LOCATIONS, OPERATORS, PRODUCTS, box
from tests.test_server_hardening import HOST, PATIENCE, TRACECODE, _free_port


def _until(check: Any, what: str, log: Path) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{what}: not in time; the server said {log.read_text()[-3000:]}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, dict[Role, str], Path]]:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    keys = {role: make_key(store, role, HOSPITAL) for role in (Role.ADMIN, Role.TERMINAL)}
    port = _free_port()
    log = tmp_path / "server.log"
    with running() as platform:
        env = {
            **os.environ,
            "TRACECODE_DATABASE_URL": store,
            "TRACECODE_OUTBOX_DELIVERY": "serve",
            "TRACECODE_OUTBOX_PLATFORMS": "nhsa",
            "TRACECODE_OUTBOX_POLL_SECONDS": "0.1",
            "TRACECODE_NHSA_URL": platform + "/",
        }
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(TRACECODE), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
            )
        try:
            url = f"http://{HOST}:{port}"

            def up() -> bool:
                try:
                    return httpx.get(url + "/health", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return process.poll() is not None

            _until(up, "the server's start", log)
            assert process.poll() is None, log.read_text()
            yield url, platform, keys, log
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def test_the_server_delivers_behind_the_scans(
    served: tuple[str, str, dict[Role, str], Path],
) -> None:
    url, platform, keys, log = served
    admin, terminal = bearer(keys[Role.ADMIN]), bearer(keys[Role.TERMINAL])
    with httpx.Client(base_url=url, timeout=PATIENCE) as http:
        for text in (PRODUCTS, LOCATIONS, OPERATORS):
            made = http.post(
                "/masterdata",
                content=csv_bytes(text),
                headers={**admin, "Content-Type": "text/csv"},
            )
            assert made.status_code == 201, made.text
        scan = {
            "operation": "receive",
            "location": "WH",
            "codes": [box(1), box(2)],
            "lot": "L1",
            "manufactured": "2025-03-01",
            "operatorId": "OP-07",
        }
        answered = http.post("/scans", json=scan, headers=terminal)
        assert answered.status_code == 201 and answered.json()["colour"] == "green"

        def taken() -> list[dict[str, Any]]:
            found = httpx.get(platform + "/messages").json()
            return [m for m in found if m["answer"]["infcode"] == 0]

        (message,) = _until(taken, "the 3502 at the platform", log)
        assert message["infno"] == "3502"
        codes = message["body"]["input"]["invinfo"]["drug_trac_info"]
        assert codes == [{"drug_trac_codg": box(1)}, {"drug_trac_codg": box(2)}]

        def acknowledged() -> list[dict[str, Any]]:
            listed = http.get("/outbox", params={"state": "acknowledged"}, headers=admin)
            return list(listed.json()["messages"])

        (stored,) = _until(acknowledged, "the acknowledgement in GET /outbox", log)
        assert stored["msgid"] == message["msgid"]
