"""What the patient tests share: a key, principals, and a scan of every table of a store
for a value (the test that an erased identifier is gone from the database)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ledger.access import Principal, Role
from ledger.application import Ledger

KEY = bytes(range(32))
KEY_HEX = KEY.hex()
PATIENT = "11010119900307123X"
H1_TERMINAL = Principal("t1", Role.TERMINAL, "H1")
H1_ADMIN = Principal("a1", Role.ADMIN, "H1")
H1_AUDITOR = Principal("u1", Role.AUDITOR, "H1")
H1_READER = Principal("r1", Role.READER, "H1")
H2_TERMINAL = Principal("t2", Role.TERMINAL, "H2")
H2_ADMIN = Principal("a2", Role.ADMIN, "H2")
REGULATOR = Principal("g", Role.REGULATOR, "")


def _holds(value: Any, wanted: str) -> bool:
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return wanted.encode("utf-8") in value
    return wanted in str(value)


def tables_holding(ledger: Ledger, wanted: str) -> list[str]:
    """The tables of the ledger's database with a row that holds ``wanted`` anywhere."""
    if ledger.settings.kind == "sqlite":
        conn = sqlite3.connect(ledger.settings.env["SQLITE_DBNAME"])
        try:
            names = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            return [n for n in names if _table_holds(conn.execute(f'SELECT * FROM "{n}"'), wanted)]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(ledger.settings.url, autocommit=True) as pg:
        names = [
            r[0]
            for r in pg.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        return [n for n in names if _table_holds(pg.execute(f'SELECT * FROM "{n}"'), wanted)]


def _table_holds(rows: Any, wanted: str) -> bool:
    return any(_holds(value, wanted) for row in rows for value in row)


def files_holding(ledger: Ledger, wanted: str) -> list[str]:
    """The SQLite database's files (the database, its write-ahead log) whose bytes hold
    ``wanted``."""
    base = Path(ledger.settings.env["SQLITE_DBNAME"])
    found = []
    for path in (base, base.with_name(base.name + "-wal")):
        if path.exists() and wanted.encode("utf-8") in path.read_bytes():
            found.append(path.name)
    return found
