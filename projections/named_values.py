"""What the stored events name, for the query interface's top-level resources (``/epcs``,
``/bizSteps``, ``/readPoints``…): the distinct values a page at a time, whether one value
is named at all, and how far the event index reaches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, select, true

from projections.event_index import event_epcs, events
from projections.schema import index_key, keyed, keyed_eq, visible_to

IDENTIFIER_ROLES = ("epc", "child", "parent", "input", "output")
"""The roles in which an event names an EPC: ``/epcs`` lists them all."""


def _of(scope: str | None, position: Any) -> Any:
    """Only what the institution ``scope`` sees (everything when None)."""
    if scope is None:
        return true()
    if position is events.c.position:
        return visible_to(events, scope)
    return position.in_(select(events.c.position).where(visible_to(events, scope)))


def distinct_values(
    conn: Connection, column: str, after: str | None, limit: int, scope: str | None = None
) -> list[str]:
    """A page of the values of ``column`` (an ``events`` column, or ``"epcs"``), after
    ``after``, in index-key order (value order for every short value); of the events of the
    institution ``scope`` (or of all when None)."""
    if column == "epcs":
        target = event_epcs.c.value
        where = and_(event_epcs.c.role.in_(IDENTIFIER_ROLES), _of(scope, event_epcs.c.position))
    else:
        target = events.c[column]
        where = and_(target.is_not(None), _of(scope, events.c.position))
    order: Any = keyed(target) if f"{target.name}_key" in target.table.c else target
    statement = select(order.label("k"), target).distinct().where(where)
    if after is not None:
        bound = index_key(after) if order is not target else after
        statement = statement.where(order > bound)
    rows = conn.execute(statement.order_by(order).limit(limit)).all()
    return [str(row[1]) for row in rows]


def names(conn: Connection, column: str, value: str, scope: str | None = None) -> bool:
    """Whether any stored event (of the institution ``scope``, or any when None) names
    ``value`` in ``column`` (or as an EPC)."""
    if column == "epcs":
        found = conn.execute(
            select(func.count())
            .select_from(event_epcs)
            .where(keyed_eq(event_epcs.c.value, value), _of(scope, event_epcs.c.position))
        ).scalar()
    else:
        target = events.c[column]
        keyed_column = f"{target.name}_key" in events.c
        found = conn.execute(
            select(func.count())
            .select_from(events)
            .where(
                keyed_eq(target, value) if keyed_column else target == value,
                _of(scope, events.c.position),
            )
        ).scalar()
    return bool(found)


def last_indexed(conn: Connection) -> int:
    """The log position of the last event the event index holds (0: none)."""
    return int(conn.execute(select(func.max(events.c.position))).scalar() or 0)
