"""Rebuilding views beside the live ones, and swapping them in at once.

:meth:`projections.runner.ReadModelRunner.rebuild` projects the whole log into a *shadow*
of the runner's tables, on one connection of its own, while the live tables go on being
read and kept up to date by the normal runner; then :meth:`Shadow.swap` replaces them in
one transaction. A reader sees the old complete views or the new complete ones.

**Where the shadow is.** The projections do not know they write into a shadow: their
module-level :class:`~sqlalchemy.Table` objects and raw SQL (the ``COPY`` of
:func:`projections.bulk.insert_rows`) lead to the shadow's tables on the rebuild's
connection, and a table that is not shadowed (master data, the log) is found where it
always is. The shadow holds its own ``view_tracking`` and ``view_projection_failures``
too: the shadow run follows its own position and quarantines into its own failures.

* PostgreSQL: a schema ``view_rebuild_<runner>``, put first on the connection's
  ``search_path``. The swap drops each live table and moves the shadow's in
  (``ALTER TABLE … SET SCHEMA``: its indexes and statistics go with it; index names are
  per schema, so they do not clash) — catalogue changes only, whatever the size. A
  partitioned table (:mod:`projections.partitions`: made in the shadow's schema as its
  rows need them) does not take its partitions along: each is moved after it.
* SQLite: tables ``view_rebuild__<name>`` in the same file, the connection saying those
  names wherever its statements say the live ones (a ``before_cursor_execute`` hook on
  that one connection; index names alternate between ``<index>`` and
  ``view_rebuild__<index>``, one namespace per file). Shadow batches take the write lock
  one at a time, as the live runner's do. The swap renames the live table aside
  (``view_retired__<name>``) and the shadow's to its name: no rows are copied under the
  lock (a copy from a ``temp`` or ATTACHed shadow held it ~5 s per 20,000 events, and
  captures wait for it); the tables swapped out are dropped after, each in a write
  transaction of its own.

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

from sqlalchemy import Connection, Table, event, select, update
from sqlalchemy.schema import CreateIndex, CreateTable

from projections.failures import is_transient
from projections.partitions import partitions
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


SHADOW = "view_rebuild__"
"""SQLite: the prefix of a shadow table's name (and of an index name, every other rebuild)."""
RETIRED = "view_retired__"
"""SQLite: the prefix of a live table swapped out, dropped right after the swap."""
_LIVE = "tracecode_live"
"""Execution option: a statement on the shadow's connection naming the live tables."""


class Shadow:
    """The shadow of ``tables`` on ``conn`` (which it keeps for itself until
    :meth:`drop`); see the module."""

    def __init__(self, conn: Connection, name: str, tables: Sequence[Table]) -> None:
        self.conn = conn
        self.name = name
        self.tables = list(tables)
        self.postgres = conn.dialect.name == "postgresql"
        self._quote = conn.dialect.identifier_preparer.quote
        self._path: str | None = None
        self._names: dict[str, str] = {}
        """SQLite: live name → shadow name, of the shadow's tables."""
        self._rename: Callable[..., tuple[str, Any]] | None = None
        if self.postgres:
            self.schema = f"view_rebuild_{_slug(name)}"
            self.live = str(conn.exec_driver_sql("SELECT current_schema()").scalar())
            conn.commit()
        else:
            self.schema = self.live = "main"
        self._own = [tracking, failures]
        """Tables the shadow keeps for its run but does not swap in."""

    def _in(self, schema: str) -> dict[str, Any]:
        return {"schema_translate_map": {None: schema}}

    def _name(self, schema: str, table: Table | str) -> str:
        name = table if isinstance(table, str) else table.name
        return f"{self._quote(schema)}.{self._quote(name)}"

    def _shadow_name(self, table: Table) -> str:
        return self._names.get(table.name, table.name)

    # -- building -----------------------------------------------------------------------

    def create(self) -> None:
        """Make the empty shadow tables (dropping what a crashed rebuild left), and have
        the connection's statements lead to them."""
        conn = self.conn
        if not self.postgres:
            self._drop_leftovers()
        with self.transaction(writes=True):
            if self.postgres:
                schema = self._quote(self.schema)
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            else:
                self._name_sqlite_shadow()
            for table in [*self.tables, *self._own]:
                _create(conn, table, self.schema)
            if self.postgres:
                self._path = str(conn.exec_driver_sql("SHOW search_path").scalar())
                conn.exec_driver_sql(f"SET search_path TO {self._quote(self.schema)}, {self._path}")

    def _name_sqlite_shadow(self) -> None:
        """SQLite: name each shadow table ``view_rebuild__<name>``, and each index the other
        of its two names (``<name>``, ``view_rebuild__<name>``) from the live one's (index
        names are one namespace per file, and a swapped-in table keeps its indexes' names);
        then make the connection say those names wherever it says the live ones."""
        existing = set(
            self.conn.exec_driver_sql("SELECT name FROM main.sqlite_master WHERE type = 'index'")
            .scalars()
            .all()
        )
        indexes: dict[str, str] = {}
        for table in [*self.tables, *self._own]:
            self._names[table.name] = SHADOW + table.name
            for index in table.indexes:
                name = str(index.name)
                indexes[name] = SHADOW + name if name in existing else name
        tables = _replacer(self._names)
        ddl = _replacer({**self._names, **indexes})  # index names only where DDL says them

        def rename(
            _conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: bool
        ) -> tuple[str, Any]:
            if context is not None and context.execution_options.get(_LIVE):
                return statement, parameters
            head = statement.lstrip()[:6].upper()
            return (ddl if head in ("CREATE", "DROP I") else tables)(statement), parameters

        self._rename = rename
        event.listen(self.conn, "before_cursor_execute", rename, retval=True)

    @contextmanager
    def transaction(self, *, writes: bool | None = None) -> Iterator[Connection]:
        """A transaction on the shadow's connection (SQLite: it takes the write lock at
        once, as the live runner's do)."""
        self.conn.execution_options(**{WRITES: not self.postgres if writes is None else writes})
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
        live = {**self._in(self.live), _LIVE: True}
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
                for statement in self._replace(table):
                    conn.exec_driver_sql(statement, execution_options=live)
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
            shadow_failures = self._name(self.schema, self._shadow_name(failures))
            conn.exec_driver_sql(
                f"INSERT INTO {self._name(self.live, failures)} ({columns}) "
                f"SELECT {columns} FROM {shadow_failures} ORDER BY id",
                execution_options=live,
            )
        return applied

    def _replace(self, table: Table) -> list[str]:
        """The statements putting the shadow's ``table`` in the live one's place: on
        PostgreSQL the live one dropped, the shadow's moved into its schema; on SQLite the
        live one renamed aside (dropped after the swap), the shadow's renamed to its name."""
        live = self._name(self.live, table)
        if self.postgres:
            into = f"SET SCHEMA {self._quote(self.live)}"
            found = partitions(self.conn, table.name)
            parts = [] if found is None or found[0] != self.schema else found[1]
            return [
                f"DROP TABLE IF EXISTS {live}",  # its partitions with it
                f"ALTER TABLE {self._name(self.schema, table)} {into}",
                # a partitioned table moves alone: each partition (and its indexes) too
                *(f"ALTER TABLE {self._name(self.schema, name)} {into}" for *_, name in parts),
            ]
        shadow = self._name(self.schema, self._shadow_name(table))
        found = self.conn.exec_driver_sql(
            "SELECT count(*) FROM main.sqlite_master WHERE type = 'table' AND name = ?",
            (table.name,),
            execution_options={_LIVE: True},
        ).scalar()
        aside = [f"ALTER TABLE {live} RENAME TO {self._quote(RETIRED + table.name)}"]
        into = f"ALTER TABLE {shadow} RENAME TO {self._quote(table.name)}"
        return [*(aside if found else []), into]

    # -- cleaning up --------------------------------------------------------------------

    def drop(self) -> None:
        """Remove the shadow (and on SQLite the tables swapped out) and give the
        connection its own names back."""
        conn = self.conn
        if conn.in_transaction():
            conn.rollback()
        if self.postgres:
            with conn.begin():
                if self._path is not None:
                    conn.exec_driver_sql(f"SET search_path TO {self._path}")
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {self._quote(self.schema)} CASCADE")
            return
        if self._rename is not None:
            event.remove(conn, "before_cursor_execute", self._rename)
            self._rename, self._names = None, {}
        self._drop_leftovers()

    def _drop_leftovers(self) -> None:
        """SQLite: drop the shadow's and the swapped-out tables, each in a write
        transaction of its own (a big table's pages are freed under the write lock)."""
        for table in [*self.tables, *self._own]:
            for prefix in (SHADOW, RETIRED):
                with self.transaction(writes=True) as conn:
                    conn.exec_driver_sql(
                        f"DROP TABLE IF EXISTS {self._name('main', prefix + table.name)}",
                        execution_options={_LIVE: True},
                    )


def _create(conn: Connection, table: Table, schema: str) -> None:
    """Create ``table`` (and its indexes) in ``schema``."""
    where = {"schema_translate_map": {None: schema}}
    conn.execute(CreateTable(table), execution_options=where)
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        conn.execute(CreateIndex(index), execution_options=where)


def _replacer(names: dict[str, str]) -> Callable[[str], str]:
    """A function saying each of ``names`` (a whole SQL word) as its value."""
    words = sorted(names, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b")
    return lambda statement: pattern.sub(lambda m: names[m.group(1)], statement)
