"""The code-status projection: one fact row per (code, event) and the parent/child links.

Containers pass events on to their contents: when an event names a code that holds
others (live aggregation links, :mod:`projections.hierarchy`), every code inside it,
transitively, gets the fact too, with ``via`` = the code the event named. The contents
are those the ledger had recorded *before* this event (lower log position) with an
eventTime not after this event's: what was in the case when it was shipped, as far as
the log says at that point. The choice keeps facts insert-only and deterministic in log
order, so a rebuild gives exactly the rows the incremental run wrote; a pack event
captured late does not re-derive facts of events recorded before it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table, insert

from ledger.application import StoredEvent
from projections.code_status import Fact, Link, derive
from projections.hierarchy import contents, current_edges
from projections.schema import code_facts, links

CONTAINMENT = ("aggregation",)

_LINK_FIELDS = (
    "position",
    "notification_id",
    "record_time",
    "event_time",
    "hash_id",
    "error_declared",
)


class CodeFacts:
    """Writes ``view_code_facts`` and ``view_links``."""

    name = "code_facts"
    tables: tuple[Table, ...] = (code_facts, links)

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        # one event at a time: an event's containment is read from the rows of the events
        # before it, this batch's included
        for stored in batch:
            self._apply_one(conn, stored)

    def _apply_one(self, conn: Connection, stored: StoredEvent) -> None:
        derived = derive(
            stored.event,
            position=stored.position,
            notification_id=stored.notification_id,
            record_time=stored.record_time,
            hash_id=stored.hash_id,
        )
        before = (derived.position, derived.event_time)
        facts: list[Fact] = list(derived.facts)
        named = {f.code for f in facts}
        inside = contents(conn, [f.code for f in facts], before=before, kinds=CONTAINMENT)
        for fact in derived.facts:
            for code in inside[fact.code]:
                if code not in named:
                    named.add(code)
                    facts.append(fact.through(fact.code, code))
        new_links: list[Link] = list(derived.links)
        if derived.clears_parent is not None:  # AggregationEvent DELETE without children
            template = {k: v for k, v in facts[0].row().items() if k in _LINK_FIELDS}
            for parent, child in current_edges(
                conn, parents=[derived.clears_parent], before=before, kinds=CONTAINMENT
            ):
                new_links.append(
                    Link(
                        parent=parent, child=child, action="DELETE", kind="aggregation", **template
                    )
                )
        if facts:
            conn.execute(insert(code_facts), [f.row() for f in facts])
        if new_links:
            conn.execute(insert(links), [link.row() for link in new_links])
