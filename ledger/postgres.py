"""PostgreSQL specifics of the ledger store (the production store)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier


def existing_originators(recorder: Any, ids: Iterable[UUID]) -> set[UUID]:
    """Which of ``ids`` already have stored events, in one query."""
    wanted = list(ids)
    if not wanted:
        return set()
    statement = SQL(
        "SELECT DISTINCT originator_id FROM {}.{} WHERE originator_id = ANY(%s)"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, (wanted,))
        return {UUID(str(row["originator_id"])) for row in cursor.fetchall()}


def notification_ids(recorder: Any, ids: Iterable[UUID]) -> dict[UUID, int]:
    """The notification id of the last stored event of each of ``ids`` that has one."""
    wanted = list(ids)
    if not wanted:
        return {}
    statement = SQL(
        "SELECT originator_id, MAX(notification_id) AS notification_id FROM {}.{} "
        "WHERE originator_id = ANY(%s) GROUP BY originator_id"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, (wanted,))
        return {
            UUID(str(row["originator_id"])): int(row["notification_id"])
            for row in cursor.fetchall()
        }


# Above this many bytes of event state, insert without psycopg's pipeline mode: with a large
# array parameter the pipeline stalls for ever (both ends wait to read; measured: 8 MB went
# through, 10 MB hung; see psycopg issue 685). Below it, the pipeline saves round trips.
PIPELINE_LIMIT_BYTES = 1 << 20


class LedgerRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL recorder, safe for large transactions."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if sum(len(e.state) for e in stored_events) <= PIPELINE_LIMIT_BYTES:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as cursor,
        ):
            self._insert_events(cursor, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(cursor, stored_events, **kwargs)
            fetched: Sequence[int] | None = self._fetch_ids_after_insert_events(
                cursor, stored_events, **kwargs
            )
            return fetched
