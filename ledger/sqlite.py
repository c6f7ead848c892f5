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
