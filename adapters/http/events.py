"""``/events``: capture one event synchronously; ``/events/{eventID}``: read one back.

* ``POST /events`` — one event: a JSON-LD event object (without ``@context``, the EPCIS
  context is assumed; user extension prefixes must still be declared) or a
  document (JSON-LD or XML) holding exactly one event. ``201 Created`` with ``Location:
  /events/{eventID}`` (percent-encoded) and the stored event; the same event again (same
  Event Hash ID) is ``200 OK`` with the ``Location`` of the stored one, so a retry is never
  an error (the bindings list only 201 for success); invalid → ``400``; its eventID already
  used by a different event → ``409`` naming both Event Hash IDs.
* ``GET /events/{eventID}`` — the bindings: "The response body is an EPCISQueryDocument
  enclosing the unique event", in JSON-LD (default) or XML by ``Accept``. eventIDs hold
  ``:/;?``: send them percent-encoded (``?`` at least must be).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from adapters.http.authentication import allow
from adapters.http.capturing import CAPTURE_PROBLEMS, advertising, capture_posted, posted_document
from adapters.http.discovery import add_options
from adapters.http.documents import (
    event_document,
    event_resource,
    render,
)
from adapters.http.freshness import POSITION_HEADER, position_header_doc, position_headers
from adapters.http.negotiation import (
    DOCUMENT_CONTENT,
    JSON,
    JSON_LD,
    TEXT_XML,
    XML,
    acceptable,
    negotiate,
    not_acceptable,
)
from adapters.http.problems import problem_docs, visible_or_404
from adapters.http.state import in_thread, ledger_of, state_of
from epcis.context import EPCIS_CONTEXT_URL, make_context
from epcis.problems import DocumentError, excerpt
from epcis.timestamps import utc_now
from ledger.access import Permission, Principal
from ledger.application import StoredEvent
from ledger.capture_flow import CaptureRules
from ledger.outcomes import Status

router = APIRouter()

EVENT_TYPES = [JSON_LD, JSON, XML, TEXT_XML]
_POSITION_DOC = {POSITION_HEADER: position_header_doc("the event")}


def event_location(event_id: str) -> str:
    return f"/events/{quote(event_id, safe='')}"


def with_default_context(data: bytes) -> bytes:
    """A bare JSON-LD event without ``@context`` gets the EPCIS context (the bindings let
    ``POST /events`` omit it; the JSON Schema wants it). The context is inserted in front of
    the first key, so every other byte, and every line number, stays where it was."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return data  # let the reader explain what is wrong, with its line and column
    if not isinstance(value, dict) or "@context" in value:
        return data
    if value.get("type") in ("EPCISDocument", "EPCISQueryDocument"):
        return data
    start = data.index(b"{") + 1
    separator = b"" if not value else b","
    return (
        data[:start]
        + json.dumps({"@context": EPCIS_CONTEXT_URL})[1:-1].encode()
        + (separator + data[start:])
    )


def _as_document(stored: StoredEvent) -> dict[str, Any]:
    return {
        "@context": make_context(stored.namespaces),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": utc_now(),
        "epcisBody": {"eventList": [stored.as_epcis()]},
    }


add_options(
    router,
    "/events",
    "OPTIONS, GET, POST",
    allow(Permission.CAPTURE, Permission.READ),
    name="events_options",
    summary="Query metadata for the EPCIS events endpoint.",
    description="`GET` (the query interface) and `POST` (capture one event).",
    answered="Allow and the GS1 headers, limits included.",
)


@router.post(
    "/events",
    status_code=201,
    tags=["Capture"],
    summary="Synchronous capture of a single EPCIS event.",
    description=(
        "The body is one event: a JSON-LD event object (with or without `@context`), or an "
        "EPCIS document (JSON-LD or XML) holding exactly one event. `201` with `Location: "
        "/events/{eventID}` (percent-encoded) and the stored event (with its eventID and the "
        "ledger's recordTime); `200` when that event (same Event Hash ID) was already stored, "
        "with the stored one's `Location`. The answer is JSON-LD, or an XML EPCISDocument with "
        "the event when `Accept` asks for XML."
    ),
    response_class=JSONResponse,
    openapi_extra={"requestBody": {"required": True, "content": DOCUMENT_CONTENT}},
    responses={
        201: {
            "description": "Stored (durable).",
            "headers": {"Location": {"schema": {"type": "string"}}, **_POSITION_DOC},
            "content": DOCUMENT_CONTENT,
        },
        200: {
            "description": "Already stored: nothing new; `Location` is the stored event.",
            "headers": {"Location": {"schema": {"type": "string"}}, **_POSITION_DOC},
            "content": DOCUMENT_CONTENT,
        },
        **problem_docs(
            *CAPTURE_PROBLEMS,
            s400="Not one valid event: every problem listed with its pointer or XML line.",
            s409="The eventID belongs to a different event; both Event Hash IDs are named.",
        ),
    },
)
async def post_event(
    request: Request, who: Annotated[Principal, allow(Permission.CAPTURE)]
) -> Response:
    state = state_of(request)
    limits = state.limit_headers
    with advertising(limits):
        media = negotiate(request.headers.get("accept"), EVENT_TYPES)
        syntax, data = await posted_document(request, limits)
        if syntax == "json":
            data = with_default_context(data)
        rules = CaptureRules("POST /events", replace(state.limits, max_events=1), one_event=True)
        result = await capture_posted(request, data, rules, who)
        outcome = result.outcomes[0]
        ledger = ledger_of(request)
        new = outcome.status == Status.STORED
        stored: StoredEvent | None = await in_thread(
            ledger.get_event, outcome.event_id if new else outcome.hash_id
        )
    if stored is None:  # committed a moment ago: the store must have it
        raise RuntimeError(f"event {outcome.hash_id} was committed but cannot be read back")
    location = event_location(stored.event_id)
    resource, as_document = event_resource(stored), _as_document(stored)
    try:
        content = render(as_document, "xml") if media in (XML, TEXT_XML) else b""
    except DocumentError:  # stored, so answer anyway: in JSON-LD, which has every event
        media = JSON_LD
    if media not in (XML, TEXT_XML):
        content = render(resource, "json")
    return Response(
        content,
        status_code=201 if new else 200,
        media_type=media,
        headers={
            "Location": location,
            "Content-Location": location,
            **position_headers(result.log_position),
            **limits,
        },
    )


def _stored(
    request: Request, event_id: str, who: Annotated[Principal, allow(Permission.READ)]
) -> StoredEvent:
    ledger = ledger_of(request)
    return visible_or_404(
        ledger.get_event(event_id),
        lambda stored: ledger.sees(who.scope, stored),
        f"there is no event with eventID {excerpt(event_id)}",
    )


@router.get(
    "/events/{event_id:path}",
    tags=["Events"],
    summary="Returns an individual EPCIS event.",
    description=(
        "As the bindings say, an EPCISQueryDocument enclosing the event (with its eventID and "
        "the ledger's recordTime): JSON-LD by default (`application/ld+json` or "
        "`application/json`), EPCIS 2.0 XML for `application/xml` or `text/xml`; anything "
        "else is 406. The eventID is the client's, or the Event Hash ID when the event came "
        "without one; any stored event can also be read by its Event Hash ID. Percent-encode "
        "it (`ni:///sha-256;…?ver=CBV2.0` holds a `?`)."
    ),
    response_class=Response,
    responses={
        200: {"description": "EPCISQueryDocument with the one event.", "content": DOCUMENT_CONTENT},
        **problem_docs(404, 406),
    },
)
def get_event(
    request: Request, event_id: str, who: Annotated[Principal, allow(Permission.READ)]
) -> Response:
    accept = request.headers.get("accept")
    allowed = acceptable(accept, EVENT_TYPES)
    if not allowed:
        raise not_acceptable(accept, EVENT_TYPES)
    stored = _stored(request, event_id, who)
    declarations = ledger_of(request).declarations(stored.hash_id)
    shown = [d for d in declarations if ledger_of(request).sees(who.scope, d)]
    document = event_document(stored, shown)
    why = ""
    for media in allowed:
        try:
            content = render(document, "xml" if media in (XML, TEXT_XML) else "json")
        except DocumentError as exc:  # e.g. an extension event type has no XML element
            why = f"the event has no XML form: {exc.problems[0].message}"
            continue
        return Response(content, media_type=media)
    raise not_acceptable(accept, EVENT_TYPES, why)


add_options(
    router,
    "/events/{event_id:path}",
    "OPTIONS, GET",
    Depends(_stored),
    name="event_options",
    summary="Query metadata for the endpoint of an individual EPCIS event.",
    responses=problem_docs(404),
)
