"""The table ``settlement_persons``: the personal fields of a patient's 医保 settlements
(``psn_no`` 人员编号, ``certno`` 证件号码, ``psn_name`` 姓名), by the patient's pseudonym and
the institution that recorded them, in the ledger's own database but outside its log, so
they can be erased (PIPL) as the patient mapping is (:mod:`ledger.patient_mappings`):
``DELETE /patients/{pseudonym}`` and ``tracecode patients erase`` erase both.

The insurer needs them in the sale messages (3505 / 3506); the log never holds them: its
events carry the pseudonym and the settlement's other facts. One row per patient and
institution: a later settlement's fields replace those it gives and keep the others. The
only module that writes SQL for it.
"""

from __future__ import annotations

from typing import Any

from ledger.application import Ledger
from ledger.side_tables import SideTable

TABLE = "settlement_persons"
FIELDS = ("psn_no", "certno", "psn_name")
_CREATE = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    " pseudonym TEXT NOT NULL,"
    " institution TEXT NOT NULL,"
    " psn_no TEXT,"
    " certno TEXT,"
    " psn_name TEXT,"
    " recorded_at TEXT NOT NULL,"
    " PRIMARY KEY (pseudonym, institution))"
)
_UPSERT = (
    "INSERT INTO {table} AS p (pseudonym, institution, psn_no, certno, psn_name, recorded_at)"
    " VALUES ({m}, {m}, {m}, {m}, {m}, {m}) ON CONFLICT (pseudonym, institution) DO UPDATE SET"
    " psn_no = COALESCE(excluded.psn_no, p.psn_no),"
    " certno = COALESCE(excluded.certno, p.certno),"
    " psn_name = COALESCE(excluded.psn_name, p.psn_name),"
    " recorded_at = excluded.recorded_at"
)

Row = tuple[str, str, str | None, str | None, str | None, str]
"""pseudonym, institution, psn_no, certno, psn_name, recorded at."""


def row_of(pseudonym: str, institution: str, fields: dict[str, str], at: str) -> Row:
    """A row from the personal fields a settlement gave."""
    return (pseudonym, institution, *(fields.get(name) for name in FIELDS), at)  # type: ignore[return-value]


class SettlementPersons(SideTable):
    """The personal settlement rows of one ledger's database."""

    name = TABLE

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(
            ledger, lambda cursor, table, _: cursor.execute(_CREATE.format(table=table))
        )

    def remember_many(self, rows: list[Row]) -> None:
        """Keep the rows in one transaction (a field a row leaves empty keeps its value)."""
        if rows:
            with self._cursor() as cursor:
                cursor.executemany(self._sql(_UPSERT), rows)

    def find(self, pseudonym: str, institution: str) -> dict[str, str | None] | None:
        """The personal fields kept for the patient by the institution (None: none kept)."""
        where, values = self._by_pseudonym(pseudonym, institution)
        with self._cursor(commit=False) as cursor:
            cursor.execute(
                self._sql(f"SELECT {', '.join(FIELDS)} FROM {{table}} WHERE " + where), values
            )
            row: Any = cursor.fetchone()
        return None if row is None else {name: row[name] for name in FIELDS}

    def erase(self, pseudonym: str, scope: str | None) -> int:
        """Delete the rows of ``pseudonym`` recorded by ``scope`` (None: by anyone); how
        many there were."""
        return self._erase(*self._by_pseudonym(pseudonym, scope))
