"""``python -m bench.rebuild``: what an atomic rebuild of the views costs, on each store.

A fresh store (SQLite file, PostgreSQL database) gets the stream of
:mod:`bench.projections` (``BENCH_REBUILD_EVENTS``, default 20,000 events), the views are
caught up, then :meth:`projections.runner.ReadModelRunner.rebuild` runs. Reported: the
whole rebuild (seconds), the swap transaction alone — the time the live tracking row's
lock (SQLite: the write lock, which captures wait for) is held, catch-up included —, the
dropping of the swapped-out tables after it (SQLite: one write transaction a table; on
PostgreSQL they were dropped in the swap) and the rows the swapped tables hold. Figures are
reported, never asserted.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.ledger import drop_postgres_database, make_postgres_database
from bench.projections import load_stream, stream_config
from projections.shadow import Shadow


def measure(url: str, events: int) -> dict[str, Any]:
    from ledger.application import Ledger
    from ledger.settings import store_settings
    from projections.runner import ReadModelRunner

    load_stream(url, stream_config(events), 500)
    ledger = Ledger(store_settings(url))
    runner = ReadModelRunner(ledger)
    swaps: list[float] = []
    drops: list[float] = []
    original, drop = Shadow._swap, Shadow._drop_leftovers

    def timed(self: Shadow, catch_up: Callable[[Any], int]) -> int:
        started = time.perf_counter()
        try:
            return original(self, catch_up)
        finally:
            swaps.append(time.perf_counter() - started)

    def timed_drop(self: Shadow) -> None:
        started = time.perf_counter()
        try:
            drop(self)
        finally:
            drops.append(time.perf_counter() - started)

    try:
        runner.run_until_caught_up()
        Shadow._swap = timed  # type: ignore[method-assign]
        Shadow._drop_leftovers = timed_drop  # type: ignore[method-assign]
        started = time.perf_counter()
        applied = runner.rebuild()
        whole = time.perf_counter() - started
        with runner.connect() as conn:
            rows = sum(
                int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
                for t in dict.fromkeys(t for p in runner.projections for t in p.tables)
            )
    finally:
        Shadow._swap = original  # type: ignore[method-assign]
        Shadow._drop_leftovers = drop  # type: ignore[method-assign]
        runner.close()
        ledger.close()
    return {
        "events": applied,
        "rows": rows,
        "rebuild_s": whole,
        "swap_s": swaps[-1],
        "drop_s": drops[-1] if drops else 0.0,
    }


def main() -> None:
    events = int(os.environ.get("BENCH_REBUILD_EVENTS", "20000"))
    print(f"atomic rebuild, {events:,} events; machine: {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        sqlite = measure(f"sqlite:///{Path(folder) / 'ledger.db'}", events)
    url = make_postgres_database()
    try:
        postgres = measure(url, events)
    finally:
        drop_postgres_database(url)
    for name, got in (("SQLite", sqlite), ("PostgreSQL", postgres)):
        print(
            f"  {name:<10} {got['events']:>9,} events  {got['rows']:>10,} view rows  "
            f"rebuild {got['rebuild_s']:7.2f} s  swap (lock held) {got['swap_s'] * 1000:8.1f} ms  "
            f"old tables dropped after it {got['drop_s'] * 1000:8.1f} ms"
        )


if __name__ == "__main__":
    main()
