"""64 terminals race to bind 1,000 codes through a real ``tracecode serve`` on PostgreSQL.

The codes are received at the warehouse, transferred to the outpatient pharmacy and
accepted there (100 codes a scan). Then 64 clients, each in its own thread with its own
connection, bind single codes at ``OP`` for their own patient; every code is tried by
``TRIES`` clients at about the same moment (each client goes through its codes in about
code order, a little shuffled). Exactly one bind of each code is stored; every other
attempt is red ``already_bound`` and stores nothing; every code reads ``bound``; and
``tracecode verify`` finds the chain intact.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.http_load import Server, create_tables, running_server
from bench.scans import bearer, load_master_data, patient_key_env, stock
from ledger.access import Role
from tests.conftest import open_ledger, postgres_database
from tests.http_support import make_key
from tests.master_data_support import PRODUCTS
from tests.scan_support import LOCATIONS, box

CLIENTS = 64
CODES = 1000
TRIES = 4
"""Clients that try each code."""
TIMEOUT = 60.0
TRACECODE = Path(sys.executable).parent / "tracecode"


@dataclass
class Hospital:
    server: Server
    url: str
    keys: dict[Role, str]

    def client(self) -> httpx.Client:
        base = f"http://127.0.0.1:{self.server.port}"
        return httpx.Client(base_url=base, timeout=TIMEOUT, trust_env=False)


@pytest.fixture
def hospital() -> Iterator[Hospital]:
    """A server on a fresh PostgreSQL database with the scan tests' hospital, and
    ``CODES`` boxes in stock at ``OP``."""
    with postgres_database() as url:
        create_tables(url)
        keys = {role: make_key(url, role) for role in (Role.ADMIN, Role.TERMINAL, Role.READER)}
        with running_server(url, "tracecode", env=patient_key_env()) as server:
            opened = Hospital(server, url, keys)
            with opened.client() as http:
                load_master_data(http, keys[Role.ADMIN], PRODUCTS, LOCATIONS)
                codes = [box(n) for n in range(1, CODES + 1)]
                stock(http, keys[Role.TERMINAL], {"OP": codes})
            yield opened


@dataclass(frozen=True)
class Attempt:
    code: str
    client: int
    status: int
    answer: dict[str, Any]


def _plan(seed: int = 11) -> list[list[str]]:
    """Each client's codes: every code given to ``TRIES`` clients, each client's list in
    code order shuffled a little, so the tries of one code come close together."""
    rng = random.Random(seed)
    keyed: list[list[tuple[float, str]]] = [[] for _ in range(CLIENTS)]
    for n in range(1, CODES + 1):
        for client in rng.sample(range(CLIENTS), TRIES):
            keyed[client].append((n + rng.uniform(0, 8), box(n)))
    return [[code for _, code in sorted(codes)] for codes in keyed]


def _race(hospital: Hospital) -> list[Attempt]:
    plan = _plan()
    attempts: list[Attempt] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)
    headers = bearer(hospital.keys[Role.TERMINAL])

    def client(number: int) -> None:
        mine: list[Attempt] = []
        try:
            with hospital.client() as http:
                start.wait(TIMEOUT)
                for code in plan[number]:
                    body = {
                        "operation": "bind",
                        "location": "OP",
                        "codes": [code],
                        "patient": f"P-{number}",
                    }
                    got = http.post("/scans", json=body, headers=headers)
                    mine.append(Attempt(code, number, got.status_code, got.json()))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
        with lock:
            attempts.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    return attempts


def _reasons(attempt: Attempt) -> list[str]:
    return [r["reason"] for code in attempt.answer["codes"] for r in code["reasons"]]


def test_each_code_is_bound_once_when_64_terminals_race(hospital: Hospital) -> None:
    attempts = _race(hospital)
    assert len(attempts) == CODES * TRIES
    bound = [a for a in attempts if a.status == 201]
    refused = [a for a in attempts if a.status != 201]
    assert len(bound) == CODES
    assert sorted(a.code for a in bound) == sorted(box(n) for n in range(1, CODES + 1))
    assert all(a.answer["colour"] == "green" for a in bound)
    odd = [a for a in refused if a.status != 409 or a.answer.get("colour") != "red"]
    assert not odd, odd[:3]
    assert all(_reasons(a) == ["already_bound"] for a in refused), refused[:3]
    stored_ids = {event_id for a in bound for event_id in a.answer["eventIDs"]}
    assert len(stored_ids) == CODES

    reader = bearer(hospital.keys[Role.READER])
    with hospital.client() as http:
        for n in range(1, CODES + 1):
            shown = http.get(f"/codes/{box(n)}", headers=reader)
            assert shown.status_code == 200, shown.text
            assert shown.json()["hospitalState"] == "bound", box(n)

    with open_ledger(hospital.url) as ledger:
        setup_scans = 3 * CODES // 100  # receive, transfer, accept: 100 codes a scan
        assert sum(1 for _ in ledger.stored_events()) == setup_scans + CODES
    env = {**os.environ, "TRACECODE_DATABASE_URL": hospital.url}
    verified = subprocess.run(
        [str(TRACECODE), "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith(f"intact: {setup_scans + CODES} events"), verified.stdout
