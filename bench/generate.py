"""Synthetic EPCIS documents shaped like a hospital's traffic (receiving, packing, dispensing)."""

from __future__ import annotations

import random
from typing import Any

from epcis.context import make_context

COMPANY = "0614141"


def sgtin(item: int, serial: int) -> str:
    return f"urn:epc:id:sgtin:{COMPANY}.{item:06d}.{serial}"


def sscc(serial: int) -> str:
    return f"urn:epc:id:sscc:{COMPANY}.{serial:010d}"


def event(i: int, rng: random.Random) -> dict[str, Any]:
    """Every third event aggregates 20 boxes into a case; the others observe 10 boxes."""
    clock = f"{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}"
    time = f"2026-03-{1 + i % 28:02d}T{clock}+08:00"
    base: dict[str, Any] = {
        "eventTime": time,
        "eventTimeZoneOffset": "+08:00",
        "readPoint": {"id": f"urn:epc:id:sgln:{COMPANY}.00001.{i % 50}"},
        "bizLocation": {"id": f"urn:epc:id:sgln:{COMPANY}.00001.0"},
    }
    if i % 3 == 0:
        return {
            "type": "AggregationEvent",
            **base,
            "parentID": sscc(i),
            "childEPCs": [sgtin(100 + i % 7, i * 100 + k) for k in range(20)],
            "action": "ADD",
            "bizStep": "packing",
            "disposition": "in_progress",
        }
    return {
        "type": "ObjectEvent",
        **base,
        "epcList": [sgtin(100 + i % 7, i * 100 + k) for k in range(10)],
        "action": "OBSERVE",
        "bizStep": rng.choice(["receiving", "shipping", "dispensing"]),
        "disposition": rng.choice(["in_progress", "in_transit", "dispensed"]),
        "bizTransactionList": [
            {"type": "po", "bizTransaction": f"urn:epcglobal:cbv:bt:{COMPANY}:{i}"}
        ],
        "example:ward": f"W{i % 30}",
    }


def document(events: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    return {
        "@context": make_context({"example": "https://ns.example.com/epcis/"}),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T00:00:00.000+08:00",
        "epcisBody": {"eventList": [event(i, rng) for i in range(events)]},
    }
