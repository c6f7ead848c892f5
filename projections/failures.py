"""Events a projection could not apply: telling a poison event from a passing fault.

When a batch fails, :class:`projections.runner.ReadModelRunner` looks for the event(s)
to blame (:func:`is_transient` decides whether it may): a *transient* error says nothing
about the events — the database connection was lost, a serialization failure or deadlock,
a lock or statement timeout, the disk is full, the server shuts down, SQLite's "database
is locked", a table that is not there (someone is rebuilding) — so the whole batch is
rolled back and tried again later, and nothing is quarantined. Any other error (a value
the database refuses — too long for an index, out of range, a constraint —, or a bug in a
projection raising on an event) is blamed on an event only when that event, applied
alone, fails again; it is then recorded in ``view_projection_failures`` and skipped.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, func, select
from sqlalchemy import exc as sa_exc

from projections.schema import failures


class ConcurrentRunError(RuntimeError):
    """Another runner moved the tracking position while this one applied a batch."""


_TRANSIENT_SQLSTATE_CLASSES = frozenset(
    {
        "08",  # connection exception
        "25",  # invalid transaction state (e.g. idle-in-transaction timeout)
        "28",  # authorisation
        "3D",  # no such database
        "3F",  # no such schema
        "40",  # transaction rollback: serialization failure, deadlock
        "42",  # undefined table / column, privileges: the schema, not the event
        "53",  # insufficient resources: disk full, out of memory, too many connections
        "55",  # object not in prerequisite state: lock not available
        "57",  # operator intervention: query cancelled (statement timeout), shutdown
        "58",  # system error: I/O
        "XX",  # internal error
    }
)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` may pass if the same batch is tried again later (so no event is
    to blame for it)."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if error.orig is not None:
            return is_transient(error.orig)
        return isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError))
    if isinstance(error, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True  # the pool: a connection that could not be had
    if isinstance(error, psycopg.Error):
        state = error.sqlstate
        if state is None:  # no answer from the server: the connection is gone
            return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))
        return state[:2] in _TRANSIENT_SQLSTATE_CLASSES
    if isinstance(error, sqlite3.OperationalError):
        return True  # locked, busy, I/O, no such table: not a property of an event
    return isinstance(error, (sqlite3.InterfaceError, MemoryError, OSError, ConcurrentRunError))


@dataclass(frozen=True)
class Failure:
    """One quarantined (projection, event): what ``GET /health`` and the CLI show."""

    projection: str
    notification_id: int
    position: int
    event_id: str
    hash_id: str
    error_type: str
    error: str
    failed_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "projection": self.projection,
            "notificationID": self.notification_id,
            "position": self.position,
            "eventID": self.event_id,
            "hashID": self.hash_id,
            "errorType": self.error_type,
            "error": self.error,
            "failedAt": self.failed_at,
        }


def listed(conn: Connection, runner: str, *, limit: int | None = None) -> list[Failure]:
    """The failures a runner recorded (since its last rebuild), in log order."""
    query = (
        select(failures)
        .where(failures.c.runner == runner)
        .order_by(failures.c.notification_id, failures.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        Failure(
            projection=row.projection,
            notification_id=int(row.notification_id),
            position=int(row.position),
            event_id=row.event_id,
            hash_id=row.hash_id,
            error_type=row.error_type,
            error=row.error,
            failed_at=row.failed_at,
        )
        for row in conn.execute(query)
    ]


def count(conn: Connection, runner: str) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(failures).where(failures.c.runner == runner)
        ).scalar()
        or 0
    )
