"""Synthetic EPCIS documents shaped like a hospital's traffic (receiving, packing, dispensing),
and the steps of a code's journey (:func:`commissioning` … :func:`dispensing`), one event
each, that the projections bench tells its stream in."""

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
    return envelope([event(i, rng) for i in range(events)], "2026-03-01T00:00:00.000+08:00")


def envelope(events: list[dict[str, Any]], created: str) -> dict[str, Any]:
    """An EPCIS 2.0 JSON-LD document of ``events`` (the ``example:`` prefix declared)."""
    return {
        "@context": make_context({"example": "https://ns.example.com/epcis/"}),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {"eventList": events},
    }


# -- a code's journey, one event per step (without eventTime) -------------------------------


def place(gln: str) -> dict[str, str]:
    """A readPoint / bizLocation."""
    return {"id": gln}


def object_event(epcs: list[str], action: str, step: str, **more: Any) -> dict[str, Any]:
    return {"type": "ObjectEvent", "epcList": epcs, "action": action, "bizStep": step, **more}


def aggregation(
    parent: str, children: list[str], action: str, step: str, **more: Any
) -> dict[str, Any]:
    return {
        "type": "AggregationEvent",
        "parentID": parent,
        "childEPCs": children,
        "action": action,
        "bizStep": step,
        **more,
    }


def commissioning(boxes: list[str], at: str, lot: str, expiry: str) -> dict[str, Any]:
    """The boxes are made at ``at``, of ``lot``."""
    ilmd = {"cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": expiry}
    return object_event(
        boxes,
        "ADD",
        "commissioning",
        disposition="active",
        readPoint=place(at),
        bizLocation=place(at),
        ilmd=ilmd,
    )


def packing(case: str, boxes: list[str], at: str) -> dict[str, Any]:
    return aggregation(
        case, boxes, "ADD", "packing", disposition="in_progress", bizLocation=place(at)
    )


def shipping(case: str, origin: str, destination: str) -> dict[str, Any]:
    """The case leaves ``origin`` for ``destination`` (in transit)."""
    to = [{"type": "location", "destination": destination}]
    return object_event(
        [case],
        "OBSERVE",
        "shipping",
        disposition="in_transit",
        readPoint=place(origin),
        destinationList=to,
    )


def receiving(case: str, at: str) -> dict[str, Any]:
    return object_event(
        [case], "OBSERVE", "receiving", disposition="sellable_accessible", bizLocation=place(at)
    )


def unpacking(case: str, boxes: list[str], at: str) -> dict[str, Any]:
    return aggregation(case, boxes, "DELETE", "unpacking", bizLocation=place(at))


def dispensing(box: str, at: str, patient: str) -> dict[str, Any]:
    """The box is handed to ``patient`` (an ``example:patient`` pseudonym) at ``at``."""
    return object_event(
        [box],
        "OBSERVE",
        "dispensing",
        disposition="dispensed",
        bizLocation=place(at),
        **{"example:patient": patient},
    )
