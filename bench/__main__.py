"""``python -m bench``: throughput of the EPCIS core on a 10,000-event document.

Reports documents/s and events/s for parse + validate + hash, in JSON-LD and in XML, plus
each stage alone, with the machine noted. Run it with ``make bench``.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

from bench.generate import document
from epcis.document import convert, load
from epcis.jsonld import write_json

EVENTS = int(os.environ.get("BENCH_EVENTS", "10000"))


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


def main() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    doc = document(EVENTS)
    payloads = {"JSON-LD": write_json(doc, indent=None), "XML 2.0": convert(doc, "xml")}
    for name, data in payloads.items():
        print(f"{name}: {EVENTS} events, {len(data) / 1e6:.1f} MB")
        _timed("parse only", lambda d=data: load(d, validate=False), EVENTS)
        _timed("parse + validate", lambda d=data: load(d, validate=True), EVENTS)
        _timed("parse + hash", lambda d=data: load(d, validate=False).hash_ids(), EVENTS)
        _timed(
            "parse + validate + hash",
            lambda d=data: load(d, validate=True).hash_ids(),
            EVENTS,
        )


if __name__ == "__main__":
    main()
