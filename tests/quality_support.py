"""Counting the data-quality figures independently: a :class:`Tally` of what a test posted,
per department, counted as ``GET /metrics/quality`` should count it (``ledger/quality.py``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from fastapi.testclient import TestClient

from ledger.access import Role
from tests.http_support import RoleKeys
from tests.ledger_contract import document
from tests.scan_support import post_scan

JSONLD = {"Content-Type": "application/ld+json"}
ANOMALIES = {"recalled", "frozen", "already_bound"}


class Tally:
    """What the test posted, counted per department (the location scanned at) as the
    figures should count it, while ``on``."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.on = True
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.scan_ids: dict[str, str] = {}
        self.sizes: dict[str, tuple[str, int, bool]] = {}

    def scan(self, colour: str | None, **body: Any) -> dict[str, Any]:
        """Post a scan expected to answer ``colour`` (None: stored, green or yellow)."""
        got = post_scan(self.client, **body)
        assert got.status_code == (409 if colour == "red" else 201), got.text
        answer: dict[str, Any] = got.json()
        assert answer["colour"] == colour if colour else answer["colour"] != "red", answer
        red = answer["colour"] == "red"
        codes = len(body.get("codes", []))
        if body["operation"] == "bind" and not red and "allocations" in answer:
            codes = sum(a["units"] for a in answer["allocations"])  # a split bind's units
        self.scan_ids[answer["scanId"]] = body["location"]
        self.sizes[answer["scanId"]] = (body["operation"], codes, self.on)
        if not self.on:
            return answer
        where = self.counts[body["location"]]
        where["scans"] += 1
        words = {r["reason"] for c in answer["codes"] for r in c["reasons"]}
        words |= {r["reason"] for r in answer.get("reasons", [])}
        if red:
            where["red"] += 1
            where["anomalies"] += bool(words & ANOMALIES)
        else:
            where["backFilled"] += bool(answer["backFilled"])
        if body["operation"] == "bind":
            where["attempts"] += codes
            where["bound"] += 0 if red else codes
        if body["operation"] == "receive" and not red:
            where["received"] += codes
        return answer

    def cancel(self, scan_id: str) -> None:
        got = post_scan(self.client, operation="cancel", scanId=scan_id)
        assert got.status_code == 201, got.text
        operation, codes, counted = self.sizes[scan_id]
        if not counted:
            return
        where = self.counts[self.scan_ids[scan_id]]
        where["cancelled"] += 1
        if operation == "bind":
            where["bound"] -= codes  # the bind was undone
        if operation == "receive":
            where["received"] -= codes


def shipment(client: TestClient, *codes: str, when: str = "2026-03-01T08:00:00.000+08:00") -> None:
    """A supplier's shipping event to the warehouse (through the capture interface)."""
    event = {
        "type": "ObjectEvent",
        "eventTime": when,
        "eventTimeZoneOffset": "+08:00",
        "epcList": [f"urn:tracecode:cn-drug:{c}" for c in codes],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "destinationList": [{"type": "location", "destination": "urn:tracecode:loc:H1:WH"}],
    }
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    sent = client.post(
        "/capture", content=document(event), headers={**JSONLD, **auth.header(Role.CAPTURE)}
    )
    assert sent.status_code == 202, sent.text


def summed(rows: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """The figures' counts per department, over every period."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        where = out[row["department"]]
        where["scans"] += row["scans"]
        where["red"] += row["red"]
        where["cancelled"] += row["cancelled"]
        where["backFilled"] += row["backFilled"]
        where["anomalies"] += row["anomalies"]["total"]
        where["bound"] += row["binds"]["bound"]
        where["attempts"] += row["binds"]["attempts"]
        where["received"] += row["receiving"]["scanned"]
        where["expected"] += row["receiving"]["expected"]
    return {k: +v for k, v in out.items()}
