"""The table ``patient_mappings``: pseudonym → patient identifier, per institution that
recorded it, in the ledger's own database (SQLite or PostgreSQL) but outside its log, so a
row can be erased (PIPL) without touching the immutable events, which hold only the
pseudonym. The only module that writes SQL for it, through the ledger's own connections.

Erasing deletes the row; on SQLite with ``secure_delete`` on (the freed bytes are zeroed)
and the write-ahead log checkpointed afterwards when no reader holds it. PostgreSQL keeps a
deleted row's bytes in the table's file until (auto)vacuum reuses the space.
"""

from __future__ import annotations

from typing import Any

from ledger.application import Ledger
from ledger.side_tables import SideTable

TABLE = "patient_mappings"
_CREATE = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    " pseudonym TEXT NOT NULL,"
    " institution TEXT NOT NULL,"
    " patient_id TEXT NOT NULL,"
    " recorded_at TEXT NOT NULL,"
    " PRIMARY KEY (pseudonym, institution))"
)


def _create(cursor: Any, table: str, sqlite: bool) -> None:
    cursor.execute(_CREATE.format(table=table))


class PatientMappings(SideTable):
    """The mapping rows of one ledger's database."""

    name = TABLE

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(
            ledger, lambda cursor, table, _: cursor.execute(_CREATE.format(table=table))
        )

    def remember(self, pseudonym: str, institution: str, patient_id: str, at: str) -> None:
        """Keep the mapping (once per institution: again is nothing new)."""
        with self._cursor() as cursor:
            cursor.execute(
                self._sql(
                    "INSERT INTO {table} (pseudonym, institution, patient_id, recorded_at)"
                    " VALUES ({m}, {m}, {m}, {m}) ON CONFLICT (pseudonym, institution) DO NOTHING"
                ),
                (pseudonym, institution, patient_id, at),
            )

    def remember_many(self, rows: list[tuple[str, str, str, str]]) -> None:
        """Keep many mappings ``(pseudonym, institution, patient id, time)`` in one
        transaction (each once per institution)."""
        if not rows:
            return
        with self._cursor() as cursor:
            cursor.executemany(
                self._sql(
                    "INSERT INTO {table} (pseudonym, institution, patient_id, recorded_at)"
                    " VALUES ({m}, {m}, {m}, {m}) ON CONFLICT (pseudonym, institution) DO NOTHING"
                ),
                rows,
            )

    def find(self, pseudonym: str, scope: str | None) -> str | None:
        """The identifier behind ``pseudonym`` recorded by ``scope`` (None: by anyone)."""
        where, values = self._by_pseudonym(pseudonym, scope)
        with self._cursor(commit=False) as cursor:
            cursor.execute(self._sql("SELECT patient_id FROM {table} WHERE " + where), values)
            row = cursor.fetchone()
        return None if row is None else str(row["patient_id"])

    def erase(self, pseudonym: str, scope: str | None) -> int:
        """Delete the mappings of ``pseudonym`` recorded by ``scope`` (None: by anyone);
        how many there were."""
        return self._erase(*self._by_pseudonym(pseudonym, scope))
