"""Turning a posted document into a capture request: validate, split into events, hash.

Nothing here touches the store. Problems are sorted into those of one event (a pointer
under ``/epcisBody/eventList/N``) and those of the whole document, so that
``GS1-Capture-Error-Behaviour: proceed`` can store the valid events and report the rest.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from epcis.context import namespaces
from epcis.document import RECORD_TIME_RULE, LoadedDocument, load
from epcis.event_hash import EventHasher
from epcis.limits import Limits, OverLimit, capture_limits
from epcis.problems import MAX_REPORTED, DocumentError, Problem, capped
from ledger.domain import record_key
from ledger.gate import Gate

ErrorBehaviour = Literal["rollback", "proceed"]
Cancelled = Callable[[], bool]
"""Asked between steps of preparing a capture: True when whoever wants the capture is gone
(the HTTP client disconnected), so that the rest of the work is not done for nobody."""


class CaptureCancelled(Exception):
    """Preparing a capture stopped because it was cancelled; nothing was stored."""


def never_cancelled() -> bool:
    """The :data:`Cancelled` of whoever waits for the capture whatever happens."""
    return False


_EVENT_POINTER = re.compile(r"^/epcisBody/eventList/(\d+)(?:/|$)")


@dataclass(frozen=True)
class PreparedEvent:
    """One event ready to store: the event as received and who it is."""

    index: int
    event: dict[str, Any]
    hash_id: str
    client_event_id: str | None
    namespaces: dict[str, str]
    notes: tuple[str, ...] = ()
    """What the capture did to the event as sent (a client's recordTime ignored), for its
    outcome."""

    @property
    def event_id(self) -> str:
        return self.client_event_id or self.hash_id

    @property
    def key(self) -> str:
        """The record's identity: the hash, plus the error declaration if there is one."""
        return record_key(self.hash_id, self.event)


@dataclass
class CaptureRequest:
    """A document's valid events and the problems of the rest."""

    capture_id: str
    source: str
    error_behaviour: ErrorBehaviour
    events: list[PreparedEvent] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rejected_indexes: set[int] = field(default_factory=set)
    event_count: int = 0
    institution: str = ""
    """The institution of whoever captures: recorded with every event and the job."""
    captured_by: str = ""
    """Who captures (a key id, a token's subject, the command line): recorded with the job."""
    syntax: str = ""
    """``json`` or ``xml``: how the document came (empty when it could not be read)."""
    source_map: dict[str, tuple[int, str]] = field(default_factory=dict)
    """XML: each event's pointer -> (line, element path), to report problems where they are."""
    gate: Gate | None = None
    """A request decided at commit time (a hospital scan): its gate says what to store."""

    def event_location(self, index: int) -> dict[str, Any]:
        """Where event ``index`` is in the document: pointer, and XML line and path."""
        pointer = f"/epcisBody/eventList/{index}"
        where: dict[str, Any] = {"pointer": pointer}
        if pointer in self.source_map:
            where["line"], where["path"] = self.source_map[pointer]
        return where

    def kept_problems(self) -> list[dict[str, Any]]:
        """The problems a job keeps: the first :data:`~epcis.problems.MAX_REPORTED`, and a
        note of how many more there were (every rejected event still has its own outcome)."""
        kept, omitted = capped(self.problems)
        problems = [p.to_dict() for p in kept]
        if omitted:
            problems.append(
                {
                    "message": f"{omitted} more problem(s) not listed: a capture job lists the "
                    f"first {MAX_REPORTED}; each rejected event's outcome names its own",
                    "severity": "note",
                    "rule": "report-limit",
                }
            )
        return problems

    @property
    def document_errors(self) -> list[Problem]:
        """Errors that are not about one event: the document as a whole is bad."""
        return [p for p in self.problems if p.is_error and event_index(p) is None]

    @property
    def can_store_anything(self) -> bool:
        if self.document_errors:
            return False
        return self.error_behaviour == "proceed" or not self.rejected_indexes


def new_capture_id() -> str:
    return str(uuid.uuid4())


def prepare(
    source: bytes | IO[bytes],
    *,
    origin: str = "",
    error_behaviour: ErrorBehaviour = "rollback",
    limits: Limits | None = None,
    capture_id: str | None = None,
    cancelled: Cancelled = never_cancelled,
    institution: str = "",
    captured_by: str = "",
) -> CaptureRequest:
    """Read and validate a document (JSON-LD or XML) and prepare its events for capture.

    ``limits`` default to :func:`~epcis.limits.capture_limits`, the limits of every way in;
    a document over one is refused whole (:class:`~epcis.limits.OverLimit`, raised before
    any validation), any other problem is kept in the request. ``cancelled`` is asked
    between steps: once it says yes, :class:`CaptureCancelled` stops the work.
    """
    request = CaptureRequest(
        capture_id or new_capture_id(),
        origin,
        error_behaviour,
        institution=institution,
        captured_by=captured_by,
    )
    try:
        loaded = load(source, validate=True, limits=limits or capture_limits(), captured=True)
    except OverLimit:
        raise
    except DocumentError as exc:
        request.problems.extend(exc.problems)
        return request
    if cancelled():
        raise CaptureCancelled("cancelled after validation")
    request.syntax, request.source_map = loaded.syntax, loaded.source_map
    return prepare_loaded(loaded, request, cancelled)


def prepare_loaded(
    loaded: LoadedDocument, request: CaptureRequest, cancelled: Cancelled = never_cancelled
) -> CaptureRequest:
    """Prepare the events of a read document (EPCISDocument, EPCISQueryDocument or one event).

    The capture interface takes query documents too (the REST bindings say it should): a
    valid one is captured as the EPCISDocument of its events; an invalid one is refused
    whole, its problems pointing into ``queryResults``.
    """
    if loaded.kind == "EPCISQueryDocument":
        if loaded.errors:
            request.problems.extend(loaded.problems)
            request.event_count = len(loaded.events)
            return request
        loaded = as_epcis_document(loaded)
    request.problems.extend(loaded.problems)
    single = loaded.kind not in ("EPCISDocument",)
    events = loaded.events
    request.event_count = len(events)
    for problem in loaded.errors:
        index = 0 if single else event_index(problem)
        if index is not None:
            request.rejected_indexes.add(index)
    hasher = EventHasher.for_document(loaded.document)
    declared = namespaces(loaded.document)
    notes: dict[int, list[str]] = {}
    for problem in loaded.problems:
        at = 0 if single else event_index(problem)
        if problem.rule == RECORD_TIME_RULE and at is not None:
            notes.setdefault(at, []).append("recordTime ignored: set by the repository")
    for reading in loaded.readings:
        notes.setdefault(reading.event, []).append(reading.note)
    for index, event in enumerate(events):
        if cancelled():
            raise CaptureCancelled(f"cancelled after {index} of {len(events)} events")
        if index in request.rejected_indexes:
            continue
        if single:
            event = {k: v for k, v in event.items() if k != "@context"}
        client_id = event.get("eventID")
        request.events.append(
            PreparedEvent(
                index=index,
                event=event,
                hash_id=hasher.hash_id(event),
                client_event_id=client_id if isinstance(client_id, str) and client_id else None,
                namespaces=declared,
                notes=tuple(notes.get(index, ())),
            )
        )
    return request


def as_epcis_document(loaded: LoadedDocument) -> LoadedDocument:
    """The EPCISDocument of a query document's events, with the same context and header."""
    source = loaded.document
    skip = ("@context", "type", "schemaVersion", "epcisBody")
    document: dict[str, Any] = {
        "@context": source.get("@context"),
        "type": "EPCISDocument",
        "schemaVersion": source.get("schemaVersion", "2.0"),
        **{key: value for key, value in source.items() if key not in skip},
        "epcisBody": {"eventList": loaded.events},
    }
    return LoadedDocument(
        document,
        loaded.syntax,
        loaded.xml_version,
        source_map=loaded.source_map,
        problems=list(loaded.problems),
        readings=loaded.readings,
    )


def event_index(problem: Problem) -> int | None:
    """The index of the event a problem is about, or None for the document as a whole."""
    match = _EVENT_POINTER.match(problem.pointer or "")
    return int(match.group(1)) if match else None
