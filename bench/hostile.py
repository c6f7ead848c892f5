"""``python -m bench hostile``: what a hostile capture costs a real ``tracecode serve``.

A server on a fresh SQLite store (127.0.0.1 only) is sent, one at a time, documents no
client should send, and for each the bench reports the answer (status, bytes), how long it
took, the CPU seconds the server spent on it and its memory (resident set now, and the
peak so far):

* 10,000 events that are empty objects (``{}``: no ``type``, so every definition of the
  JSON Schema applies to each), in JSON-LD;
* 10,000 ObjectEvents with a bad ``action`` each, in JSON-LD and in XML;
* 1,000,000 empty events (4 MB): over the capture limit, refused before validation;
* a valid 10,000-event document, for comparison.

The goal the figures are read against (issue 8): a capture of 10,000 invalid events is
answered within a second or two, with the server's memory and CPU bounded. Nothing is
asserted; ``BENCH_HOSTILE_EVENTS`` sets the 10,000.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.error import HTTPError

from bench.generate import document
from bench.http_load import running_server, tree_cpu_seconds
from epcis.document import convert
from epcis.jsonld import write_json

EVENTS = int(os.environ.get("BENCH_HOSTILE_EVENTS", "10000"))
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def _memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (peak) of a process, in KiB (Linux /proc), or 0."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _empty_events(count: int) -> bytes:
    body = {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [{}] * count},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _bad_actions(count: int) -> dict[str, object]:
    doc = document(count)
    for event in doc["epcisBody"]["eventList"]:
        event["action"] = "MOVE"
    return doc


def _post(port: int, body: bytes, content_type: str) -> tuple[int, int]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/capture",
        data=body,
        headers={"Content-Type": content_type},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            return answer.status, len(answer.read())
    except HTTPError as refused:
        return refused.code, len(refused.read())


def main() -> list[str]:
    print("== hostile captures (one tracecode serve, SQLite) ==")
    cases: list[tuple[str, Callable[[], bytes], str]] = [
        (f"{EVENTS:,} empty events, JSON-LD", lambda: _empty_events(EVENTS), "application/json"),
        (
            f"{EVENTS:,} bad actions, JSON-LD",
            lambda: write_json(_bad_actions(EVENTS), indent=None),
            "application/ld+json",
        ),
        (
            f"{EVENTS:,} bad actions, XML",
            lambda: convert(_bad_actions(EVENTS), "xml"),
            "application/xml",
        ),
        (
            "1,000,000 empty events (over the limit)",
            lambda: _empty_events(1_000_000),
            "application/json",
        ),
        (
            f"{EVENTS:,} valid events, JSON-LD (for comparison)",
            lambda: write_json(document(EVENTS), indent=None),
            "application/ld+json",
        ),
    ]
    lines = []
    with tempfile.TemporaryDirectory(prefix="tracecode-bench-hostile-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        with running_server(url, "tracecode") as server:
            pid = server.process.pid
            print(f"server at start: {_memory_kib(pid, 'VmRSS') / 1024:.0f} MiB resident")
            print(
                f"  {'document':<46} {'bytes':>9} {'status':>6} {'answer':>8} "
                f"{'seconds':>8} {'CPU s':>6} {'RSS MiB':>8} {'peak MiB':>8}"
            )
            for label, make, content_type in cases:
                body = make()
                cpu_before = tree_cpu_seconds(pid) or 0.0
                start = time.perf_counter()
                status, answer_bytes = _post(server.port, body, content_type)
                elapsed = time.perf_counter() - start
                cpu = (tree_cpu_seconds(pid) or 0.0) - cpu_before
                rss = _memory_kib(pid, "VmRSS") / 1024
                peak = _memory_kib(pid, "VmHWM") / 1024
                print(
                    f"  {label:<46} {len(body):>9,} {status:>6} {answer_bytes:>8,} "
                    f"{elapsed:>8.2f} {cpu:>6.2f} {rss:>8.0f} {peak:>8.0f}"
                )
                lines.append(
                    f"hostile {label}: {status} in {elapsed:.2f} s, server CPU {cpu:.2f} s, "
                    f"answer {answer_bytes:,} bytes, server peak {peak:.0f} MiB"
                )
    return lines
