"""What the runner needs of a projection: its tables and how it applies a batch of events.

A projection writes only to its own tables, inside the connection (and transaction) the
runner gives it, so that the batch's rows of every projection and the tracking position
are committed together. ``rebuild`` drops and recreates ``tables``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection, Table

from ledger.application import StoredEvent


class Projection(Protocol):
    name: str
    tables: tuple[Table, ...]

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        """Write the view rows of ``batch`` (log order) through ``conn``."""
