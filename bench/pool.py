"""``python -m bench pool``: split-unit allocation under 100 concurrent dispensings.

A real ``tracecode serve`` on a fresh store of each kind (``BENCH_STORES``):
``BENCH_POOL_BOXES`` boxes (400) of 10 units each are received, moved to the outpatient
pharmacy and pre-scanned; then ``BENCH_POOL_CLIENTS`` clients (100) send split binds of the
same product (1–5 units each, each bind its own order) back to back until the pool runs
out. Reported: binds/s and units allocated/s, p50/p99, and the check that matters — no unit
was given to two binds, every unit of the pool was allocated exactly once, and the binds
refused were refused ``pool_short`` once the pool was (nearly) empty.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field

import httpx

from bench.http_load import HOST, RawConnection, capture_key, create_tables, running_server
from bench.ledger import env_int, env_stores, fresh_store, machine_line
from bench.scans import (
    AREAS,
    INSTITUTION,
    PREFIX,
    SCAN_TYPE,
    SETUP_TIMEOUT,
    hospital_csv,
    load_master_data,
    patient_key_env,
    scan_or_fail,
    stock,
)

UNITS = 10
"""The bench product's boxes hold 10 (``bench.scans.hospital_csv``)."""
PHARMACY = AREAS[0]


@dataclass
class PoolResult:
    store: str
    boxes: int
    clients: int
    seconds: float = 0.0
    binds: int = 0
    units: int = 0
    short: int = 0
    other: int = 0
    taken: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0


def set_up(port: int, admin: str, terminal: str, boxes: int) -> None:
    codes = [f"{PREFIX}{n + 1:013d}" for n in range(boxes)]
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=SETUP_TIMEOUT) as http:
        load_master_data(http, admin, *hospital_csv())
        stock(http, terminal, {PHARMACY: codes})
        for n in range(0, len(codes), 50):
            body = {"operation": "prescan", "location": PHARMACY, "codes": codes[n : n + 50]}
            scan_or_fail(http, terminal, body)


async def dispense(conn: RawConnection, client: int, result: PoolResult) -> None:
    rng = random.Random(client)
    n = 0
    while True:
        n += 1
        body = {
            "operation": "bind",
            "location": PHARMACY,
            "product": "BX01",
            "quantity": rng.randint(1, 5),
            "patient": f"P-{client}",
            "order": f"C{client}-{n}",
        }
        start = time.perf_counter()
        status, answer = await conn.exchange(json.dumps(body).encode())
        result.latencies.append(time.perf_counter() - start)
        shown = json.loads(answer)
        if status == 201:
            result.binds += 1
            units = [c["code"] for c in shown["codes"]]
            result.units += len(units)
            result.taken.extend(units)
        elif status == 409 and [r["reason"] for r in shown.get("reasons", [])] == ["pool_short"]:
            result.short += 1
            return  # the pool cannot give this client what it asks any more
        else:
            result.other += 1
            return


def run_store(kind: str, boxes: int, clients: int) -> PoolResult:
    result = PoolResult(kind, boxes, clients)
    with fresh_store(kind) as url:
        create_tables(url)
        admin = capture_key(url, "admin", INSTITUTION)
        terminal = capture_key(url, "terminal", INSTITUTION)
        with running_server(url, "tracecode", 1, patient_key_env()) as server:
            set_up(server.port, admin, terminal, boxes)
            conns = [
                RawConnection(server.port, terminal, "/scans", SCAN_TYPE) for _ in range(clients)
            ]

            async def race() -> None:
                try:
                    await asyncio.gather(*(dispense(c, i, result) for i, c in enumerate(conns)))
                finally:
                    for conn in conns:
                        await conn.close()

            start = time.perf_counter()
            asyncio.run(race())
            result.seconds = time.perf_counter() - start
    return result


def main() -> list[str]:
    boxes, clients = env_int("BENCH_POOL_BOXES", 400), env_int("BENCH_POOL_CLIENTS", 100)
    print(f"== pool: {clients} clients splitting {boxes} boxes x {UNITS} units")
    print(machine_line())
    summary = []
    for kind in env_stores():
        r = run_store(kind, boxes, clients)
        twice = len(r.taken) - len(set(r.taken))
        line = (
            f"pool {kind}: {r.binds / r.seconds:,.0f} split binds/s, {r.units / r.seconds:,.0f} "
            f"units allocated/s, p50 {r.percentile(0.5):.1f} ms, p99 {r.percentile(0.99):.1f} ms; "
            f"{r.units} of {boxes * UNITS} units allocated, {twice} allocated twice, "
            f"{r.short} refused pool_short, {r.other} other answers"
        )
        print("  " + line)
        summary.append(line)
    return summary


if __name__ == "__main__":
    main()
