"""SQLite specifics of the ledger store (the embedded default)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

_CHUNK = 500  # stay well under SQLite's limit on bound parameters


def existing_originators(recorder: Any, ids: Iterable[UUID]) -> set[UUID]:
    """Which of ``ids`` already have stored events, in one query per chunk."""
    query = "SELECT DISTINCT originator_id FROM {table} WHERE originator_id IN ({marks})"
    return {UUID(str(row[0])) for row in _in_chunks(recorder, ids, query)}


def notification_ids(recorder: Any, ids: Iterable[UUID]) -> dict[UUID, int]:
    """The notification id (rowid) of the last stored event of each of ``ids`` that has one."""
    query = (
        "SELECT originator_id, MAX(rowid) FROM {table} "
        "WHERE originator_id IN ({marks}) GROUP BY originator_id"
    )
    return {UUID(str(row[0])): int(row[1]) for row in _in_chunks(recorder, ids, query)}


def _in_chunks(recorder: Any, ids: Iterable[UUID], query: str) -> list[Any]:
    """The rows of ``query`` (``{table}``: the events table, ``{marks}``: the ids' place
    holders) over ``ids``, asked a chunk at a time (SQLite bounds the parameters)."""
    wanted = [i.hex for i in ids]  # eventsourcing keeps SQLite UUIDs as 32 hex digits
    rows: list[Any] = []
    table = recorder.events_table_name
    with recorder.datastore.transaction(commit=False) as cursor:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            cursor.execute(query.format(table=table, marks=",".join("?" * len(chunk))), chunk)
            rows.extend(cursor.fetchall())
    return rows
