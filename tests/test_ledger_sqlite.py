"""The ledger contract on SQLite (the embedded default)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.ledger_contract import CorrectionsContract, LedgerContract, StoreTables


class TestSQLiteLedger(LedgerContract, CorrectionsContract):
    tables = StoreTables("stored_events", "stored_snapshots", row_id="rowid", mark="?")

    def make_url(self, tmp_path: Path) -> Iterator[str]:
        yield f"sqlite:///{tmp_path / 'ledger.db'}"

    def _path(self, url: str) -> str:
        return url.removeprefix("sqlite:///")

    def sql(self, url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self._path(url)) as conn:
            return list(conn.execute(statement, params).fetchall())

    def originator(self, value: uuid.UUID) -> str:
        return value.hex
