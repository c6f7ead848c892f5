"""``python -m bench [epcis|ledger|http|scans|pool|hostile|projections|reconcile|cli|outbox|all]``
(default ``all``); ``make bench`` runs it.

* ``epcis``: throughput of the EPCIS core on a 10,000-event document — documents/s and
  events/s for parse + validate + hash, in JSON-LD and in XML, plus each stage alone.
* ``ledger``: bulk capture through ``prepare`` + ``Ledger.append`` on PostgreSQL and
  SQLite, against a bare ``COPY`` (see :mod:`bench.ledger`).
* ``http``: 100 concurrent clients posting single events to a ``tracecode serve`` process,
  on each store (see :mod:`bench.http_load`).
* ``scans``: 200 hospital terminals sending single-code scans (accept, bind, unbind,
  transfer) to ``POST /scans`` of a ``tracecode serve`` process on each store: the most
  scans/s back to back, and p50/p99 at an offered 2,000 scans/s; the same loads through
  ``POST /events`` for comparison (see :mod:`bench.scans`).
* ``pool``: 100 clients splitting the same product's pre-scanned boxes through split binds
  until the pool is empty: binds/s, units/s, and that no unit went to two binds (see
  :mod:`bench.pool`).
* ``hostile``: what a capture of 10,000 invalid events (and other documents no client
  should send) costs a real server: time to the answer, CPU, memory (see
  :mod:`bench.hostile`).
* ``projections``: projection catch-up from zero, ``GET /codes/{code}`` latency, the recall
  trail of a 100,000-code lot and ``GET /stock`` over generated ledgers of 100,000 and
  1,000,000 events on PostgreSQL (``BENCH_PROJ_EVENTS``), the same catch-up as set
  operations in PostgreSQL beside it (:mod:`bench.set_based`), and the table of issue 14
  against its goals (with the ``http`` part's PostgreSQL rate when it ran too; see
  :mod:`bench.projections`). About 25 minutes on 2 cores, most of it capturing and
  catching up the 1,000,000 events.
* ``reconcile``: stock reconciliation of one location holding 100,000 codes
  (``BENCH_RECON_CODES``) after a month of movements and a stocktake, on PostgreSQL and
  SQLite: ``reconcile()`` in process and ``GET /reconciliation`` (JSON, CSV) against a real
  ``tracecode serve``, and the answer checked against the bench's own model (see
  :mod:`bench.reconcile`).
* ``outbox``: the 医保 outbox — messages derived per second from the log of a scan load and
  delivered per second to the stand-in 医保 platform on localhost, and how far the outbox
  lags the log (events, seconds; p50/p99) while terminals scan at a steady rate, on each
  store (see :mod:`bench.outbox`).
* ``cli``: start-up of the command line — wall time of ``tracecode --help`` and
  ``tracecode id CODE`` as fresh processes, median and best of 10 (see :mod:`bench.cli`).

Every part notes the machine; ``all`` ends with a summary block of the key figures.
Figures are reported, never asserted.
"""

from __future__ import annotations

import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from functools import partial
from types import FrameType

from bench.generate import document
from epcis.document import convert, load
from epcis.jsonld import write_json

EVENTS = int(os.environ.get("BENCH_EVENTS", "10000"))
PARTS = (
    "epcis",
    "ledger",
    "http",
    "scans",
    "pool",
    "hostile",
    "projections",
    "reconcile",
    "cli",
    "outbox",
)


def _timed(label: str, fn: Callable[[], object], events: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    print(
        f"  {label:<34} {best * 1000:9.1f} ms  {1 / best:8.2f} docs/s"
        f"  {events / best:10.0f} events/s"
    )
    return best


def _hash(data: bytes, *, validate: bool) -> list[str]:
    return load(data, validate=validate).hash_ids()


def epcis_main() -> list[str]:
    """The EPCIS core benchmark; returns its summary lines."""
    print("== epcis core ==")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    doc = document(EVENTS)
    payloads = {"JSON-LD": write_json(doc, indent=None), "XML 2.0": convert(doc, "xml")}
    lines = []
    for name, data in payloads.items():
        print(f"{name}: {EVENTS} events, {len(data) / 1e6:.1f} MB")
        _timed("parse only", partial(load, data, validate=False), EVENTS)
        _timed("parse + validate", partial(load, data, validate=True), EVENTS)
        _timed("parse + hash", partial(_hash, data, validate=False), EVENTS)
        best = _timed("parse + validate + hash", partial(_hash, data, validate=True), EVENTS)
        lines.append(f"epcis {name} parse + validate + hash: {EVENTS / best:,.0f} events/s")
    return lines


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM becomes SystemExit so that the finally blocks drop databases and stop servers.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    wanted = argv[1:] or ["all"]
    unknown = [a for a in wanted if a not in (*PARTS, "all")]
    if unknown:
        print(f"usage: python -m bench [{'|'.join(PARTS)}|all]  (unknown: {' '.join(unknown)})")
        return 2
    parts = PARTS if "all" in wanted else tuple(p for p in PARTS if p in wanted)
    signal.signal(signal.SIGTERM, _terminate)
    summary: list[str] = []
    for n, part in enumerate(parts):
        if n:
            print()
        if part == "epcis":
            summary += epcis_main()
        elif part == "ledger":
            from bench import ledger

            summary += ledger.main()
        elif part == "http":
            from bench import http_load

            summary += http_load.main()
        elif part == "pool":
            from bench import pool

            summary += pool.main()
        elif part == "scans":
            from bench import scans

            summary += scans.main()
        elif part == "hostile":
            from bench import hostile

            summary += hostile.main()
        elif part == "cli":
            from bench import cli

            summary += cli.main()
        elif part == "outbox":
            from bench import outbox

            summary += outbox.main()
        elif part == "reconcile":
            from bench import reconcile

            summary += reconcile.main()
        else:
            from bench import projections

            summary += projections.main()
    if summary:
        from bench.ledger import machine_line

        print()
        print("== summary ==")
        print(machine_line())
        for line in summary:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
