"""SQLite specifics of the ledger store (the embedded default)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

_CHUNK = 500  # stay well under SQLite's limit on bound parameters


def existing_originators(recorder: Any, ids: Iterable[UUID]) -> set[UUID]:
    """Which of ``ids`` already have stored events, in one query per chunk."""
    wanted = [i.hex for i in ids]  # eventsourcing keeps SQLite UUIDs as 32 hex digits
    found: set[UUID] = set()
    table = recorder.events_table_name
    with recorder.datastore.transaction(commit=False) as cursor:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                f"SELECT DISTINCT originator_id FROM {table} WHERE originator_id IN ({marks})",
                chunk,
            )
            found.update(UUID(str(row[0])) for row in cursor.fetchall())
    return found


def notification_ids(recorder: Any, ids: Iterable[UUID]) -> dict[UUID, int]:
    """The notification id (rowid) of the last stored event of each of ``ids`` that has one."""
    wanted = [i.hex for i in ids]
    found: dict[UUID, int] = {}
    table = recorder.events_table_name
    with recorder.datastore.transaction(commit=False) as cursor:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                f"SELECT originator_id, MAX(rowid) FROM {table} "
                f"WHERE originator_id IN ({marks}) GROUP BY originator_id",
                chunk,
            )
            found.update((UUID(str(row[0])), int(row[1])) for row in cursor.fetchall())
    return found
