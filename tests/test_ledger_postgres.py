"""The ledger contract on PostgreSQL (the production store), against a real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from ledger.domain import ChainHead
from tests.conftest import drop_postgres_database, make_postgres_database
from tests.ledger_contract import CorrectionsContract, LedgerContract


class TestPostgresLedger(LedgerContract, CorrectionsContract):
    def make_url(self, tmp_path: Path) -> Iterator[str]:
        url = make_postgres_database()
        try:
            yield url
        finally:
            drop_postgres_database(url)

    def sql(self, url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(statement.encode(), params)
            return list(cursor.fetchall()) if cursor.description else []

    def rows(self, url: str, topic: str) -> list[tuple[int, bytes]]:
        return [
            (row, bytes(state))
            for row, state in self.sql(
                url,
                "SELECT notification_id, state FROM tracecode_events WHERE topic = %s "
                "ORDER BY notification_id",
                (topic,),
            )
        ]

    def set_state(self, url: str, row: int, state: bytes) -> None:
        self.sql(
            url, "UPDATE tracecode_events SET state = %s WHERE notification_id = %s", (state, row)
        )

    def delete_row(self, url: str, row: int) -> None:
        self.sql(url, "DELETE FROM tracecode_events WHERE notification_id = %s", (row,))

    def insert_copy(self, url: str, row: int) -> None:
        self.sql(
            url,
            "INSERT INTO tracecode_events (originator_id, originator_version, topic, state) "
            "SELECT %s, 1, topic, state FROM tracecode_events WHERE notification_id = %s",
            (uuid.uuid4(), row),
        )

    def reset_head(self, url: str) -> None:
        head = ChainHead.create_id()
        self.sql(url, "DELETE FROM tracecode_events WHERE originator_id = %s", (head,))
        self.sql(url, "DELETE FROM tracecode_snapshots WHERE originator_id = %s", (head,))
