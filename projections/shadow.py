"""Rebuilding views beside the live ones, and swapping them in at once.

:meth:`projections.runner.ReadModelRunner.rebuild` projects the whole log into a *shadow*
of the runner's tables, on one connection of its own, while the live tables go on being
read and kept up to date by the normal runner; then :meth:`Shadow.swap` replaces them in
one transaction. A reader sees the old complete views or the new complete ones.

**Where the shadow is.** The shadow tables have the live tables' names in a namespace that
comes first on the shadow's connection, so the projections (their module-level
:class:`~sqlalchemy.Table` objects, and raw SQL such as the ``COPY`` of
:func:`projections.bulk.insert_rows`) write into it without knowing; a table that is not
shadowed (master data, the log) is found where it always is. The shadow holds its own
``view_tracking`` and ``view_projection_failures`` too: the shadow run follows its own
position and quarantines into its own failures.

* PostgreSQL: a schema ``view_rebuild_<runner>``, put first on the connection's
  ``search_path``. The swap drops each live table and moves the shadow's in
  (``ALTER TABLE … SET SCHEMA``: its indexes and statistics go with it; index names are
  per schema, so they do not clash) — catalogue changes only, whatever the size.
* SQLite: the connection's ``temp`` database (searched before ``main``). The swap copies
  each table into ``main`` (drop, create, ``INSERT … SELECT``, then the indexes) under the
  write lock: SQLite has one file and one writer, so no cheaper swap puts rows into the
  ledger's file, and building in ``temp`` keeps the write lock free for captures during
  the build (see the README for what the copy costs).

**The swap.** In one transaction under the live tracking row's lock (PostgreSQL
``SELECT … FOR UPDATE``; SQLite ``BEGIN IMMEDIATE``): the shadow takes in what the log
gained since (the caller's ``catch_up``), each live table is replaced by the shadow's, the
live tracking position becomes the shadow's, and the runner's failures become the
shadow's. On PostgreSQL the table replacements wait at most :data:`LOCK_TIMEOUT` for a
reader still inside a live table (so that readers queued behind the swap never wait
longer) and the whole swap is tried again a few times.

**One rebuild at a time** per runner name (:func:`rebuild_lock`): a second raises
:class:`RebuildRunningError` at once, before touching anything.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, select, update
from sqlalchemy.schema import CreateIndex, CreateTable

from projections.failures import is_transient
from projections.schema import failures, tracking

log = logging.getLogger(__name__)

WRITES = "tracecode_writes"
"""Execution option: on SQLite, a transaction begun with it takes the write lock at once
(``BEGIN IMMEDIATE``); see :func:`projections.runner.make_engine`."""

LOCK_TIMEOUT = "3s"
"""PostgreSQL: how long the swap waits for a live table (a reader inside it) before it
gives up and tries again."""
SWAP_ATTEMPTS = 10


class RebuildRunningError(RuntimeError):
    """Another rebuild of the same runner's views is running."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())[:40]


@contextmanager
def rebuild_lock(conn: Connection, name: str) -> Iterator[None]:
    """Hold the rebuild lock of runner ``name`` (PostgreSQL: a session advisory lock on
    ``conn``; SQLite: ``flock`` on a file beside the database); both go with the process.
    :class:`RebuildRunningError` when it is held."""
    taken = f"a rebuild of the views of {name!r} is already running (another process or thread)"
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256(f"tracecode-rebuild:{name}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar()
        conn.commit()
        if not got:
            raise RebuildRunningError(taken)
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
            conn.commit()
        return
    database = conn.engine.url.database
    if not database or database == ":memory:":
        yield  # one connection, one process: nothing can run beside it
        return
    path = Path(f"{database}.rebuild-{_slug(name)}.lock")
    with path.open("a") as handle:  # never removed: removing a lock file races its takers
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RebuildRunningError(taken) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Shadow:
    """The shadow of ``tables`` on ``conn`` (which it keeps for itself until
    :meth:`drop`); see the module."""

    def __init__(self, conn: Connection, name: str, tables: Sequence[Table]) -> None:
        self.conn = conn
        self.name = name
        self.tables = list(tables)
        self.postgres = conn.dialect.name == "postgresql"
        quote = conn.dialect.identifier_preparer.quote
        self._quote = quote
        self._path: str | None = None
        if self.postgres:
            self.schema = f"view_rebuild_{_slug(name)}"
            self.live = str(conn.exec_driver_sql("SELECT current_schema()").scalar())
            conn.commit()
        else:
            self.schema, self.live = "temp", "main"
        self._own = [tracking, failures]
        """Tables the shadow keeps for its run but does not swap in."""

    def _in(self, schema: str) -> dict[str, Any]:
        return {"schema_translate_map": {None: schema}}

    def _name(self, schema: str, table: Table) -> str:
        return f"{self._quote(schema)}.{self._quote(table.name)}"

    # -- building -----------------------------------------------------------------------

    def create(self) -> None:
        """Make the empty shadow tables (dropping what a crashed rebuild left) and put
        them first on the connection."""
        conn = self.conn
        with conn.begin():
            if self.postgres:
                schema = self._quote(self.schema)
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            else:
                self._drop_temp()
            for table in [*self.tables, *self._own]:
                _create(conn, table, self.schema)
            if self.postgres:
                self._path = str(conn.exec_driver_sql("SHOW search_path").scalar())
                conn.exec_driver_sql(f"SET search_path TO {self._quote(self.schema)}, {self._path}")

    @contextmanager
    def transaction(self, *, writes: bool = False) -> Iterator[Connection]:
        """A transaction on the shadow's connection (SQLite: ``writes`` takes the write
        lock of the live file; without it the shadow writes only to ``temp``)."""
        self.conn.execution_options(**{WRITES: writes})
        with self.conn.begin():
            yield self.conn

    def analyze(self) -> None:
        """PostgreSQL: statistics for the shadow tables (they go with them in the swap)."""
        if self.postgres:
            with self.transaction() as conn:
                for table in self.tables:
                    conn.exec_driver_sql(f"ANALYZE {self._name(self.schema, table)}")

    # -- swapping -----------------------------------------------------------------------

    def swap(self, catch_up: Callable[[Connection], int]) -> int:
        """Replace the live tables by the shadow's (see the module); how many events
        ``catch_up`` applied in the swap's transaction. On PostgreSQL, a swap that could not
        have its locks in time is tried again."""
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            try:
                return self._swap(catch_up)
            except Exception as error:
                if not (self.postgres and is_transient(error)) or attempt == SWAP_ATTEMPTS:
                    raise
                log.warning(
                    "rebuild of %s: swap attempt %d failed (%s); trying again",
                    self.name,
                    attempt,
                    type(error).__name__,
                )
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def _swap(self, catch_up: Callable[[Connection], int]) -> int:
        live = self._in(self.live)
        with self.transaction(writes=True) as conn:
            held = conn.execute(
                select(tracking.c.notification_id)
                .where(tracking.c.projection == self.name)
                .with_for_update(),
                execution_options=live,
            ).scalar()
            applied = catch_up(conn)
            position = conn.execute(
                select(tracking.c.notification_id).where(tracking.c.projection == self.name),
                execution_options=self._in(self.schema),
            ).scalar()
            if self.postgres:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                for table in self.tables:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self._name(self.live, table)}")
                    conn.exec_driver_sql(
                        f"ALTER TABLE {self._name(self.schema, table)} "
                        f"SET SCHEMA {self._quote(self.live)}"
                    )
            else:
                for table in self.tables:
                    self._copy(conn, table)
            if held is None:
                conn.execute(
                    tracking.insert().values(projection=self.name, notification_id=position or 0),
                    execution_options=live,
                )
            else:
                conn.execute(
                    update(tracking)
                    .where(tracking.c.projection == self.name)
                    .values(notification_id=position or 0),
                    execution_options=live,
                )
            conn.execute(
                failures.delete().where(failures.c.runner == self.name), execution_options=live
            )
            columns = ", ".join(self._quote(c.name) for c in failures.columns if c.name != "id")
            conn.exec_driver_sql(
                f"INSERT INTO {self._name(self.live, failures)} ({columns}) "
                f"SELECT {columns} FROM {self._name(self.schema, failures)} ORDER BY id"
            )
        return applied

    def _copy(self, conn: Connection, table: Table) -> None:
        """SQLite: ``main``'s table made again from ``temp``'s (rows first, then indexes)."""
        columns = ", ".join(self._quote(c.name) for c in table.columns)
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self._name('main', table)}")
        _create(
            conn,
            table,
            "main",
            rows=lambda: conn.exec_driver_sql(
                f"INSERT INTO {self._name('main', table)} ({columns}) "
                f"SELECT {columns} FROM {self._name('temp', table)}"
            ),
        )

    # -- cleaning up --------------------------------------------------------------------

    def drop(self) -> None:
        """Remove the shadow and give the connection its own search path back."""
        conn = self.conn
        if conn.in_transaction():
            conn.rollback()
        with conn.begin():
            if self.postgres:
                if self._path is not None:
                    conn.exec_driver_sql(f"SET search_path TO {self._path}")
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {self._quote(self.schema)} CASCADE")
            else:
                self._drop_temp()

    def _drop_temp(self) -> None:
        for table in [*self.tables, *self._own]:
            self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self._name('temp', table)}")


def _create(
    conn: Connection, table: Table, schema: str, rows: Callable[[], object] | None = None
) -> None:
    """Create ``table`` in ``schema`` (then fill it with ``rows``), then its indexes."""
    where = {"schema_translate_map": {None: schema}}
    conn.execute(CreateTable(table), execution_options=where)
    if rows is not None:
        rows()
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        conn.execute(CreateIndex(index), execution_options=where)
