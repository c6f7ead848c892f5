"""The whole log, or its prefix up to a record time, as one EPCIS document, streamed.

Events keep their eventID and the ledger's recordTime, and nothing else is added, so each
exported event has the Event Hash ID it was captured with. Events from documents that used
one prefix for two namespaces get their extension keys renamed to a prefix unique in the
export (names are resolved by namespace, so the hash does not change).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from lxml import etree

from epcis.context import STANDARD_NAMESPACES, make_context
from epcis.document import convert
from epcis.query.document import renamed_keys
from epcis.timestamps import utc_now
from ledger.application import Ledger, StoredEvent

Format = Literal["json", "xml"]


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def selected(ledger: Ledger, until: str | None, scope: str | None = None) -> Iterator[StoredEvent]:
    limit = _moment(until) if until else None
    shared = ledger.shared_with(scope) if scope is not None else set()
    for stored in ledger.stored_events():
        if scope is not None and stored.institution != scope and stored.key not in shared:
            continue
        if limit is None or _moment(stored.record_time) <= limit:
            yield stored


def export(
    ledger: Ledger, *, until: str | None = None, fmt: Format = "json", scope: str | None = None
) -> Iterator[bytes]:
    """Chunks of one EPCISDocument holding every (selected) event, in log order: those
    recorded up to ``until`` that the institution ``scope`` sees (all when None)."""
    prefixes = _unified_prefixes(selected(ledger, until, scope))
    header = {
        "@context": make_context(prefixes.by_prefix),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": utc_now(),
    }
    if fmt == "json":
        yield from _json(selected(ledger, until, scope), prefixes, header)
    else:
        yield from _xml(selected(ledger, until, scope), prefixes, header)


def _json(
    events: Iterator[StoredEvent], prefixes: _Prefixes, header: dict[str, Any]
) -> Iterator[bytes]:
    head = json.dumps(header, ensure_ascii=False)[:-1]
    yield (head + ', "epcisBody": {"eventList": [\n').encode()
    first = True
    for stored in events:
        event = prefixes.rename(stored)
        yield (("" if first else ",\n") + json.dumps(event, ensure_ascii=False)).encode()
        first = False
    yield b"\n]}}\n"


def _xml(
    events: Iterator[StoredEvent], prefixes: _Prefixes, header: dict[str, Any]
) -> Iterator[bytes]:
    empty = convert({**header, "epcisBody": {"eventList": []}}, "xml")
    opening, _, closing = empty.partition(b"<EventList/>")
    if not closing:
        raise RuntimeError("unexpected XML skeleton from the writer")
    yield opening + b"<EventList>\n"
    for stored in events:
        one = {**header, "epcisBody": {"eventList": [prefixes.rename(stored)]}}
        root = etree.fromstring(convert(one, "xml"))
        event_list = root.find(".//EventList")
        if event_list is None:
            raise RuntimeError("unexpected XML from the writer: no EventList")
        for element in event_list:
            yield etree.tostring(element, encoding="utf-8") + b"\n"
    yield b"</EventList>" + closing


class _Prefixes:
    """One prefix per namespace across the export; renames keys where documents disagreed."""

    def __init__(self) -> None:
        # What the standard prefixes name undeclared: an event that uses ``cbvmda:``
        # without declaring it means this, so no event may take the name for another.
        self.by_prefix: dict[str, str] = dict(STANDARD_NAMESPACES)
        self.by_uri: dict[str, str] = {uri: p for p, uri in STANDARD_NAMESPACES.items()}

    def add(self, prefix: str, uri: str) -> None:
        if uri in self.by_uri:
            return
        name, n = prefix, 2
        while name in self.by_prefix:
            name, n = f"{prefix}{n}", n + 1
        self.by_prefix[name] = uri
        self.by_uri[uri] = name

    def rename(self, stored: StoredEvent) -> dict[str, Any]:
        event = stored.as_epcis()
        mapping = {
            p: self.by_uri[u]
            for p, u in stored.namespaces.items()
            if u in self.by_uri and self.by_uri[u] != p
        }
        return renamed_keys(event, mapping) if mapping else event


def _unified_prefixes(events: Iterator[StoredEvent]) -> _Prefixes:
    prefixes = _Prefixes()
    for stored in events:
        for prefix, uri in stored.namespaces.items():
            prefixes.add(prefix, uri)
    return prefixes
