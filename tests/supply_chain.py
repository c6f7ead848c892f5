"""Events for the supply-chain steps the projection tests walk codes through.

Commission at a warehouse, pack into a case, ship, receive, unpack, dispense: each
builder takes the codes and places of its step, so that every scenario (the code status,
the read projections, long identifiers, quarantine) writes the same events the same way.
"""

from __future__ import annotations

from typing import Any


def ev(kind: str, hour: int, **fields: Any) -> dict[str, Any]:
    """An event of ``kind`` at ``hour`` o'clock on 1 March 2026 (+08:00)."""
    return {
        "type": kind,
        "eventTime": f"2026-03-01T{hour:02d}:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        **fields,
    }


def commissioning(hour: int, epcs: list[str], location: str, **fields: Any) -> dict[str, Any]:
    """``epcs`` made active at ``location`` (``fields``: the ILMD, an eventID, …)."""
    return ev(
        "ObjectEvent",
        hour,
        epcList=epcs,
        action="ADD",
        bizStep="commissioning",
        disposition="active",
        bizLocation={"id": location},
        **fields,
    )


def _aggregation(
    hour: int, action: str, step: str, parent: str, children: list[str], location: str
) -> dict[str, Any]:
    return ev(
        "AggregationEvent",
        hour,
        parentID=parent,
        childEPCs=children,
        action=action,
        bizStep=step,
        bizLocation={"id": location},
    )


def packing(hour: int, parent: str, children: list[str], location: str) -> dict[str, Any]:
    """``children`` packed into ``parent`` at ``location``."""
    return _aggregation(hour, "ADD", "packing", parent, children, location)


def unpacking(hour: int, parent: str, children: list[str], location: str) -> dict[str, Any]:
    """``children`` taken out of ``parent`` at ``location``."""
    return _aggregation(hour, "DELETE", "unpacking", parent, children, location)


def observation(
    hour: int, epcs: list[str], step: str, disposition: str, location: str | None, **fields: Any
) -> dict[str, Any]:
    """An OBSERVE ObjectEvent of ``epcs``, at the business ``location`` if any (``fields``:
    where from, where to, to whom, …)."""
    where = {"bizLocation": {"id": location}} if location else {}
    return ev(
        "ObjectEvent",
        hour,
        epcList=epcs,
        action="OBSERVE",
        bizStep=step,
        disposition=disposition,
        **where,
        **fields,
    )


def shipping(hour: int, epcs: list[str], origin: str, destination: str) -> dict[str, Any]:
    """``epcs`` read leaving ``origin``, in transit to ``destination``."""
    return observation(
        hour,
        epcs,
        "shipping",
        "in_transit",
        None,
        readPoint={"id": origin},
        destinationList=[{"type": "location", "destination": destination}],
    )


def receiving(hour: int, epcs: list[str], location: str) -> dict[str, Any]:
    """``epcs`` received, sellable, at ``location``."""
    return observation(hour, epcs, "receiving", "sellable_accessible", location)


def dispensing(hour: int, epcs: list[str], location: str, patient: str) -> dict[str, Any]:
    """``epcs`` dispensed at ``location`` to ``patient`` (a pseudonym)."""
    return observation(
        hour, epcs, "dispensing", "dispensed", location, **{"example:patient": patient}
    )
