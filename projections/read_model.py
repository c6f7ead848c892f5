"""What the runner needs of a read model: its tables and how it applies a batch of events.

(Named ``ReadModel``, and its runner ``ReadModelRunner``, so as not to be taken for the
``eventsourcing`` library's ``Projection`` and ``ProjectionRunner``, which are other things.)

A projection writes only to its own tables, inside the connection (and transaction) the
runner gives it, so that the batch's rows of every projection and the tracking position
are committed together. ``rebuild`` builds ``tables`` anew beside the live ones and swaps
them in (:mod:`projections.shadow`); the projection does not know: its table names lead to
the shadow's on the rebuild's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection, Table

from ledger.application import StoredEvent


class ReadModel(Protocol):
    name: str
    tables: tuple[Table, ...]

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        """Write the view rows of ``batch`` (log order) through ``conn``."""
