"""Tables of the ledger's own database kept outside its log (patient mappings, refused
scans): what may be erased, or what never was an event. Each is reached through the
ledger's own connections, so SQLite's single writer is shared, not fought over."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ledger.application import Ledger


class SideTable:
    """One such table of one ledger: ``create`` runs once per ledger (with the table's
    qualified name and the cursor) before the first use."""

    name: str
    _ready: weakref.WeakSet[Ledger]

    def __init__(self, ledger: Ledger, create: Callable[[Any, str, bool], None]) -> None:
        self.ledger = ledger
        self.sqlite = ledger.settings.kind == "sqlite"
        self.mark = "?" if self.sqlite else "%s"
        schema = "" if self.sqlite else f'"{ledger.recorder.datastore.schema}".'  # type: ignore[attr-defined]
        self.table = f"{schema}{self.name}"
        if ledger not in self._ready:
            with self._cursor() as cursor:
                create(cursor, self.table, self.sqlite)
            self._ready.add(ledger)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._ready = weakref.WeakSet()

    @contextmanager
    def _cursor(self, *, commit: bool = True) -> Iterator[Any]:
        """A DB-API cursor in a transaction of the ledger's own datastore."""
        with self.ledger.recorder.datastore.transaction(commit=commit) as cursor:  # type: ignore[attr-defined]
            yield cursor.sqlite_cursor if self.sqlite else cursor

    def _sql(self, text: str) -> str:
        return text.format(table=self.table, m=self.mark)

    def _erase(self, where: str, values: tuple[str, ...]) -> int:
        """Delete the rows ``where`` says (SQL with ``{m}`` marks), the freed bytes zeroed on
        SQLite (``secure_delete``, the write-ahead log checkpointed afterwards when no
        reader holds it); how many there were. PostgreSQL keeps a deleted row's bytes in
        the table's file until (auto)vacuum reuses the space."""
        with self._cursor() as cursor:
            if self.sqlite:
                cursor.execute("PRAGMA secure_delete = ON")
            cursor.execute(self._sql("DELETE FROM {table} WHERE " + where), values)
            erased = int(cursor.rowcount)
        if erased and self.sqlite:
            with self._cursor(commit=False) as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return erased

    def _by_pseudonym(self, pseudonym: str, scope: str | None) -> tuple[str, tuple[str, ...]]:
        """The condition on a table keyed by pseudonym and institution: ``pseudonym`` as
        recorded by ``scope`` (None: by any institution)."""
        if scope is None:
            return self._sql("pseudonym = {m}"), (pseudonym,)
        return self._sql("pseudonym = {m} AND institution = {m}"), (pseudonym, scope)
