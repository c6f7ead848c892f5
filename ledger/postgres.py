"""PostgreSQL specifics of the ledger store (the production store)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

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
