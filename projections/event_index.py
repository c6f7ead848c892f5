"""The event index: every stored event, searchable by the EPCIS query parameters.

* ``view_events`` — one row per stored event (an error declaration is a stored event of
  its own, as ``GET /events/{id}`` shows it): the fields the query parameters select on
  most (type, times, action, bizStep, disposition, locations by identity, eventID, error
  declared) and the event itself (``body``: the event as EPCIS shows it, with its
  prefixes), so that a query never goes back to the ledger.
* ``view_event_epcs`` — one row per (identifier, event, role): every EPC, parentID and
  EPC class the event names, by identity (:func:`epcis.query.patterns.identity`: a Digital
  Link and its EPC URN are one row), for ``MATCH_*``.

The rows only narrow a query down; :func:`epcis.query.matches` decides
(:mod:`projections.event_query`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    String,
    Table,
    Text,
    bindparam,
    cast,
    func,
    select,
)

from epcis.identifiers.facts import facts_of
from epcis.query.predicate import epcs_in
from ledger.application import StoredEvent
from projections.bulk import insert_rows
from projections.schema import TIME_COLUMN, keyed, metadata, utc_text

events = Table(
    "view_events",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("notification_id", BigInteger, nullable=False),
    Column("hash_id", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("event_time", TIME_COLUMN, nullable=False),
    Column("record_time", TIME_COLUMN, nullable=False),
    Column("action", String(10)),
    Column("biz_step", Text),
    Column("disposition", Text),
    Column("read_point", Text),
    Column("biz_location", Text),
    Column("error_declared", Boolean, nullable=False),
    Column("body", Text, nullable=False),
    Column("institution", Text, nullable=False),
    Column("event_id_key", Text),
    Column("biz_step_key", Text),
    Column("read_point_key", Text),
    Column("biz_location_key", Text),
)
Index("view_events_event_time", events.c.event_time, events.c.position)
Index("view_events_record_time", events.c.record_time, events.c.position)
Index("view_events_biz_step", keyed(events.c.biz_step))
Index("view_events_biz_location", keyed(events.c.biz_location))
Index("view_events_read_point", keyed(events.c.read_point))
Index("view_events_event_id", keyed(events.c.event_id))
Index("view_events_institution", events.c.institution, events.c.position)

event_epcs = Table(
    "view_event_epcs",
    metadata,
    Column("value", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("role", String(20), nullable=False),
    Column("value_key", Text),
)
Index(
    "view_event_epcs_value",
    keyed(event_epcs.c.value),
    event_epcs.c.position,
    event_epcs.c.role,
    unique=True,
)

ROLES: dict[str, str] = {
    "epcList": "epc",
    "childEPCs": "child",
    "parentID": "parent",
    "inputEPCList": "input",
    "outputEPCList": "output",
    "quantityList": "class",
    "childQuantityList": "childClass",
    "inputQuantityList": "inputClass",
    "outputQuantityList": "outputClass",
}


def identity(value: str) -> str:
    """:func:`epcis.query.patterns.identity`, by the projections' fast path (the two agree:
    ``tests/test_projections_batch.py`` compares the fast path with the parser)."""
    return facts_of(value).canonical


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return identity(value["id"])
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def index_row(stored: StoredEvent) -> tuple[Any, ...]:
    """The ``view_events`` row of an event, in column order."""
    event = stored.event
    return (
        stored.position,
        stored.notification_id,
        stored.hash_id,
        stored.event_id,
        str(event.get("type", "")),
        utc_text(str(event["eventTime"])),
        utc_text(stored.record_time),
        _text(event.get("action")),
        _text(event.get("bizStep")),
        _text(event.get("disposition")),
        _id_of(event.get("readPoint")),
        _id_of(event.get("bizLocation")),
        "errorDeclaration" in event,
        json.dumps(
            {"event": stored.as_epcis(), "namespaces": stored.namespaces},
            ensure_ascii=False,
            separators=(",", ":"),
        ),
        stored.institution,
    )


def epc_rows(stored: StoredEvent) -> list[tuple[str, int, str]]:
    """The ``view_event_epcs`` rows of an event (value, position, role), each once."""
    rows: dict[tuple[str, str], None] = {}
    for field, role in ROLES.items():
        for value in epcs_in(stored.event, (field,)):
            rows[(identity(value), role)] = None
    return [(value, stored.position, role) for value, role in rows]


class EventIndex:
    """Writes ``view_events`` and ``view_event_epcs``."""

    name = "event_index"
    tables: tuple[Table, ...] = (events, event_epcs)

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        insert_rows(conn, events, [index_row(s) for s in batch])
        insert_rows(conn, event_epcs, [row for s in batch for row in epc_rows(s)])


def hash_ids(conn: Connection, positions: Collection[int]) -> dict[int, str]:
    """position → the Event Hash ID of the event stored there, for ``positions``: one
    query, the positions sent as one JSON text read as a table."""
    if not positions:
        return {}
    listed = bindparam(None, json.dumps(sorted(positions)), type_=Text)
    if conn.dialect.name == "postgresql":
        table = func.json_array_elements_text(cast(listed, JSON)).table_valued("value")
        wanted: Any = cast(table.c.value, BigInteger)
    else:
        table = func.json_each(listed).table_valued("value")
        wanted = table.c.value
    query = (
        select(events.c.position, events.c.hash_id)
        .select_from(table.join(events, events.c.position == wanted))
        .where(events.c.position >= min(positions))  # older partitions are not read
    )
    return dict(conn.execute(query).tuples().all())
