"""Rules on event IDs: their form, uniqueness in a document, and corrective event IDs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from epcis.problems import pointer_join
from epcis.validation.rules.walk import Found, is_uri, iter_events, list_items


def event_id(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if "eventID" not in event:
        return
    value = event["eventID"]
    where = pointer_join(at, "eventID")
    if not is_uri(value):
        yield (
            where,
            f"eventID {value!r} is not a URI (use 'urn:uuid:…', an Event Hash ID 'ni:///…' "
            "or another absolute URI)",
        )
    elif value.lower().startswith("urn:uuid:"):
        try:
            uuid.UUID(value[len("urn:uuid:") :])
        except ValueError:
            yield where, f"eventID {value!r} is not a valid UUID URI"


def corrective_event_ids(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    declaration = event.get("errorDeclaration")
    if not isinstance(declaration, Mapping):
        return
    declaration_at = pointer_join(at, "errorDeclaration")
    for item_at, item in list_items(declaration, declaration_at, "correctiveEventIDs"):
        if not is_uri(item):
            yield item_at, f"correctiveEventIDs entry {item!r} is not an event ID URI"


def duplicate_event_ids(document: Mapping[str, Any]) -> Iterator[Found]:
    first: dict[tuple[str, bool], str] = {}
    for at, event in iter_events(document):
        value = event.get("eventID")
        if not isinstance(value, str):
            continue
        key = (value, "errorDeclaration" in event)
        if key in first:
            yield (
                pointer_join(at, "eventID"),
                f"eventID {value!r} is already used by the event at {first[key]}",
            )
        else:
            first[key] = at
