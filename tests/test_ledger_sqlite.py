"""The ledger contract on SQLite (the embedded default)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ledger.domain import ChainHead
from tests.ledger_contract import CorrectionsContract, LedgerContract


class TestSQLiteLedger(LedgerContract, CorrectionsContract):
    def make_url(self, tmp_path: Path) -> Iterator[str]:
        yield f"sqlite:///{tmp_path / 'ledger.db'}"

    def _path(self, url: str) -> str:
        return url.removeprefix("sqlite:///")

    def sql(self, url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self._path(url)) as conn:
            return list(conn.execute(statement, params).fetchall())

    def rows(self, url: str, topic: str) -> list[tuple[int, bytes]]:
        return [
            (row, bytes(state))
            for row, state in self.sql(
                url,
                "SELECT rowid, state FROM stored_events WHERE topic = ? ORDER BY rowid",
                (topic,),
            )
        ]

    def set_state(self, url: str, row: int, state: bytes) -> None:
        self.sql(url, "UPDATE stored_events SET state = ? WHERE rowid = ?", (state, row))

    def delete_row(self, url: str, row: int) -> None:
        self.sql(url, "DELETE FROM stored_events WHERE rowid = ?", (row,))

    def insert_copy(self, url: str, row: int) -> None:
        self.sql(
            url,
            "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
            "SELECT ?, 1, topic, state FROM stored_events WHERE rowid = ?",
            (uuid.uuid4().hex, row),
        )

    def reset_head(self, url: str) -> None:
        head = ChainHead.create_id().hex
        self.sql(url, "DELETE FROM stored_events WHERE originator_id = ?", (head,))
        self.sql(url, "DELETE FROM stored_snapshots WHERE originator_id = ?", (head,))
