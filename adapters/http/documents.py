"""EPCIS documents out of the HTTP API (what comes in is read by :mod:`ledger.capture`).

:func:`event_document` wraps one stored event in the EPCISQueryDocument the bindings
return for ``GET /events/{eventID}``; :func:`render` writes it as JSON-LD or XML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from epcis.context import make_context
from epcis.document import convert
from epcis.timestamps import utc_now
from ledger.application import StoredEvent


def event_document(stored: StoredEvent, declarations: Sequence[StoredEvent] = ()) -> dict[str, Any]:
    """The bindings' answer to ``GET /events/{eventID}``: an EPCISQueryDocument "enclosing
    the unique event and error declarations"."""
    events = [stored.as_epcis()] + [d.as_epcis() for d in declarations if d.key != stored.key]
    return {
        "@context": make_context(stored.namespaces),
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": utc_now(),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {"eventList": events},
            }
        },
    }


def event_resource(stored: StoredEvent) -> dict[str, Any]:
    """One event as a JSON-LD resource: the event object with its own ``@context``."""
    return {"@context": make_context(stored.namespaces), **stored.as_epcis()}


def render(document: dict[str, Any], syntax: str) -> bytes:
    return convert(document, "xml" if syntax == "xml" else "json")
