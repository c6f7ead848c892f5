"""EPCIS documents in and out of the HTTP API.

In: :func:`prepare_capture` is :func:`ledger.capture.prepare` plus what the REST bindings
add: ``/capture`` "should support both EPCISDocument and EPCISQueryDocument as input", so a
valid query document is captured as the EPCISDocument of its events (an invalid one is
refused whole, its problems pointing into the query document as posted). It also keeps the
XML source map, so that a conflict can be reported at the XML line of its event.

Out: :func:`event_document` wraps one stored event in the EPCISQueryDocument the bindings
return for ``GET /events/{eventID}``; :func:`render` writes it as JSON-LD or XML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from epcis.context import make_context
from epcis.document import convert, load
from epcis.limits import Limits, OverLimit
from epcis.problems import DocumentError
from epcis.timestamps import utc_now
from ledger.application import StoredEvent
from ledger.capture import (
    Cancelled,
    CaptureCancelled,
    CaptureRequest,
    ErrorBehaviour,
    new_capture_id,
    prepare_loaded,
)


@dataclass
class PreparedCapture:
    request: CaptureRequest
    syntax: str = ""
    source_map: dict[str, tuple[int, str]] = field(default_factory=dict)

    def event_location(self, index: int) -> dict[str, Any]:
        """Where event ``index`` is in the posted document: pointer, and XML line and path."""
        pointer = f"/epcisBody/eventList/{index}"
        where: dict[str, Any] = {"pointer": pointer}
        if pointer in self.source_map:
            where["line"], where["path"] = self.source_map[pointer]
        return where


def prepare_capture(
    data: bytes,
    *,
    origin: str,
    error_behaviour: ErrorBehaviour,
    limits: Limits,
    cancelled: Cancelled | None = None,
) -> PreparedCapture:
    """Validate a posted document and prepare its events (nothing touches the store).

    More events than ``limits.max_events`` (or nodes than ``max_nodes``) raise
    :class:`~epcis.limits.OverLimit`
    before any validation; ``cancelled`` is asked between steps and stops the work
    (:class:`~ledger.capture.CaptureCancelled`) once the client is gone.
    """
    request = CaptureRequest(new_capture_id(), origin, error_behaviour)
    try:
        loaded = load(data, validate=True, limits=limits, captured=True)
    except OverLimit:
        raise
    except DocumentError as exc:
        request.problems.extend(exc.problems)
        return PreparedCapture(request)
    if cancelled is not None and cancelled():
        raise CaptureCancelled("cancelled after validation")
    prepared = PreparedCapture(request, loaded.syntax, loaded.source_map)
    if cancelled is None:
        prepare_loaded(loaded, request)
    else:
        prepare_loaded(loaded, request, cancelled)
    return prepared


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
