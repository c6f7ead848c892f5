"""The ledger contract on PostgreSQL (the production store), against a real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import postgres_database
from tests.ledger_contract import CorrectionsContract, LedgerContract, StoreTables


class TestPostgresLedger(LedgerContract, CorrectionsContract):
    tables = StoreTables(
        "tracecode_events", "tracecode_snapshots", row_id="notification_id", mark="%s"
    )

    def make_url(self, tmp_path: Path) -> Iterator[str]:
        with postgres_database() as url:
            yield url

    def sql(self, url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(statement.encode(), params)
            return list(cursor.fetchall()) if cursor.description else []

    def originator(self, value: uuid.UUID) -> uuid.UUID:
        return value
