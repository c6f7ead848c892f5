"""The table ``refused_scans``: every red scan, kept for the data-quality figures.

A red scan stores nothing in the log (it is not an EPCIS event), but the figures need it
(:mod:`ledger.quality`): who scanned (the terminal, the operator it vouches for), where
(the institution and the location id), what (the operation, the codes in canonical form,
the terminal's ``scanId``), why (each code's reason words and the scan's own) and when
(the scan's time and when it was refused). A patient is kept only as its pseudonym, never
the identifier the terminal sent.

Kept in the ledger's own database (SQLite or PostgreSQL), outside its log, like
:mod:`ledger.patient_mappings`; this module is the only one that writes it, and it only
inserts (append-only: no row is changed or deleted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.application import Ledger
from ledger.locations import parse_location_uri
from ledger.scan_answer import ScanAnswer
from ledger.scan_request import Scan
from ledger.side_tables import SideTable

TABLE = "refused_scans"
_COLUMNS = (
    "refused_at",
    "scan_time",
    "institution",
    "terminal",
    "operator_id",
    "operation",
    "location",
    "scan_id",
    "patient",
    "order_id",
    "codes",
    "reasons",
)
_CREATE = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    " id {id},"
    " refused_at TEXT NOT NULL,"
    " scan_time TEXT NOT NULL,"
    " institution TEXT NOT NULL,"
    " terminal TEXT NOT NULL,"
    " operator_id TEXT,"
    " operation TEXT NOT NULL,"
    " location TEXT,"
    " scan_id TEXT NOT NULL,"
    " patient TEXT,"
    " order_id TEXT,"
    " codes TEXT NOT NULL,"
    " reasons TEXT NOT NULL)"
)
_INDEX = "CREATE INDEX IF NOT EXISTS {name} ON {table} (institution, scan_time)"
_SQLITE_ID = "INTEGER PRIMARY KEY AUTOINCREMENT"
_POSTGRES_ID = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"


def _create(cursor: Any, table: str, sqlite: bool) -> None:
    cursor.execute(_CREATE.format(table=table, id=_SQLITE_ID if sqlite else _POSTGRES_ID))
    cursor.execute(_INDEX.format(name=f"{TABLE}_when", table=table))


def moment(value: datetime) -> str:
    """A time as the table keeps it: UTC, ISO 8601 to the microsecond (ordered as text)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class RefusedScan:
    """One refused scan. ``codes``: ``(canonical code, [reason words])`` in request order;
    ``reasons``: the scan's own reason words (``lot_not_found``, ``no_such_scan``…)."""

    scan_time: str
    institution: str
    terminal: str
    operation: str
    scan_id: str
    location: str | None = None
    operator_id: str | None = None
    patient: str | None = None
    order_id: str | None = None
    codes: list[tuple[str, list[str]]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    refused_at: str = ""
    id: int = 0

    def words(self) -> set[str]:
        """Every reason word of the scan, its codes' and its own."""
        return set(self.reasons) | {word for _, words in self.codes for word in words}

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "refusedAt": self.refused_at,
            "scanTime": self.scan_time,
            "institution": self.institution,
            "terminal": self.terminal,
            "operatorId": self.operator_id,
            "operation": self.operation,
            "location": self.location,
            "scanId": self.scan_id,
            "patient": self.patient,
            "order": self.order_id,
            "codes": [{"code": code, "reasons": words} for code, words in self.codes],
            "reasons": self.reasons,
        }


def refusal(
    scan: Scan, answer: ScanAnswer, terminal: str, when: datetime, patient: str | None
) -> RefusedScan:
    """What is kept of a red ``answer`` to ``scan`` (``patient``: its pseudonym)."""
    location = scan.location
    if location is not None:
        parsed = parse_location_uri(location)
        location = parsed[1] if parsed is not None else location
    return RefusedScan(
        scan_time=moment(when),
        institution=answer.institution,
        terminal=terminal,
        operation=scan.operation.value,
        scan_id=answer.scan_id,
        location=location,
        operator_id=scan.operator_id,
        patient=patient,
        order_id=scan.order,
        codes=[(c.canonical, [r.reason.value for r in c.reasons]) for c in answer.codes],
        reasons=[r.reason.value for r in answer.reasons],
    )


class RefusedScans(SideTable):
    """The refused-scan rows of one ledger's database."""

    name = TABLE

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger, _create)

    def keep(self, refused: RefusedScan) -> None:
        """Append one refused scan (its ``refused_at``: now, when not given)."""
        values = (
            refused.refused_at or moment(datetime.now(UTC)),
            refused.scan_time,
            refused.institution,
            refused.terminal,
            refused.operator_id,
            refused.operation,
            refused.location,
            refused.scan_id,
            refused.patient,
            refused.order_id,
            json.dumps([[code, words] for code, words in refused.codes], ensure_ascii=False),
            json.dumps(refused.reasons),
        )
        marks = ", ".join([self.mark] * len(_COLUMNS))
        with self._cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} ({', '.join(_COLUMNS)}) VALUES ({marks})", values
            )

    def between(
        self, scope: str | None, start: str | None = None, end: str | None = None
    ) -> list[RefusedScan]:
        """The refused scans of ``scope`` (None: every institution) whose scan time is in
        ``[start, end)`` (times as :func:`moment` writes them), in the order kept."""
        where, values = [], []
        for clause, value in (
            ("institution = {m}", scope),
            ("scan_time >= {m}", start),
            ("scan_time < {m}", end),
        ):
            if value is not None:
                where.append(clause.format(m=self.mark))
                values.append(value)
        sql = f"SELECT id, {', '.join(_COLUMNS)} FROM {self.table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._cursor(commit=False) as cursor:
            cursor.execute(sql + " ORDER BY id", tuple(values))
            rows = cursor.fetchall()
        return [_row(dict(row)) for row in rows]


def _row(row: dict[str, Any]) -> RefusedScan:
    return RefusedScan(
        id=int(row["id"]),
        refused_at=row["refused_at"],
        scan_time=row["scan_time"],
        institution=row["institution"],
        terminal=row["terminal"],
        operator_id=row["operator_id"],
        operation=row["operation"],
        location=row["location"],
        scan_id=row["scan_id"],
        patient=row["patient"],
        order_id=row["order_id"],
        codes=[(code, list(words)) for code, words in json.loads(row["codes"])],
        reasons=list(json.loads(row["reasons"])),
    )
