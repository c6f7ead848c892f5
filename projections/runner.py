"""Following the ledger's notification log into the view tables, exactly once.

:class:`ProjectionRunner` reads the events after the position in ``view_tracking``, one
batch at a time, and writes the batch's view rows and the new tracking position in one
transaction: a batch is either wholly applied or not at all, and a run after a crash
resumes from the tracking row. Two runners on one database do not both apply a batch: the
tracking row is locked (PostgreSQL ``SELECT … FOR UPDATE``; SQLite ``BEGIN IMMEDIATE``)
and its update is conditional on the position read. Following notification ids is safe
because they become visible in order: the ``eventsourcing`` PostgreSQL recorder inserts
under an EXCLUSIVE table lock, and SQLite has one writer.

The projections it feeds are :class:`projections.projection.Projection` s (by default
the code facts and the event index); one batch, one transaction for all of them. Batches
are 5,000 events by default: a projection applies a batch as a whole (the code facts
resolve its containment in memory and write its rows with ``COPY`` on PostgreSQL,
:mod:`projections.code_facts`), so a catch-up costs a few statements per batch, not per
event.

:class:`BackgroundRunner` polls (every 0.2 s by default) in a thread, for the server;
``run_until_caught_up`` is the standalone form.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
    update,
)

from ledger.application import Ledger, StoredEvent
from projections.code_facts import CodeFacts
from projections.event_index import EventIndex
from projections.projection import Projection
from projections.schema import metadata, sqlalchemy_url, tracking

log = logging.getLogger(__name__)

PROJECTION = "code_status"
_WRITES = "tracecode_writes"


class ConcurrentRunError(RuntimeError):
    """Another runner moved the tracking position while this one applied a batch."""


def make_engine(ledger_url: str) -> Engine:
    """An engine on the ledger's database (on SQLite, :meth:`ProjectionRunner.transaction`
    takes the write lock when it begins)."""
    url = sqlalchemy_url(ledger_url)
    if url.get_backend_name() != "sqlite":
        # No server-side prepared statements: a generic plan made while the view tables
        # were empty (a rebuild's first batch) stays a sequential scan: 20x slower.
        return create_engine(url, pool_pre_ping=True, connect_args={"prepare_threshold": None})
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we say BEGIN ourselves

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # writers take the write lock at once; readers get a snapshot and block nobody
        writes = conn.get_execution_options().get(_WRITES, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


class ProjectionRunner:
    """Applies the ledger's events to the view tables of its projections."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        batch_size: int = 5000,
        name: str = PROJECTION,
        projections: Sequence[Projection] | None = None,
    ) -> None:
        self.ledger = ledger
        self.batch_size = batch_size
        self.name = name
        self.projections: tuple[Projection, ...] = (
            tuple(projections) if projections is not None else default_projections()
        )
        self.engine = make_engine(ledger.settings.url)
        self.on_applied: Callable[[StoredEvent], None] | None = None
        """Test hook: called for each event once the batch's rows were written, inside the
        batch's transaction (raising there aborts the whole batch)."""
        existing = set(inspect(self.engine).get_table_names())
        metadata.create_all(self.engine, checkfirst=True)
        self._backfill(existing)

    def _backfill(self, existing: set[str]) -> None:
        """A projection some of whose tables were just created beside its existing ones
        (a view added in a later version) fills them from its others (``backfill``)."""
        for projection in self.projections:
            created = [t for t in projection.tables if t.name not in existing]
            backfill = getattr(projection, "backfill", None)
            if created and len(created) < len(projection.tables) and backfill is not None:
                with self.transaction() as conn:
                    backfill(conn, created)

    def close(self) -> None:
        self.engine.dispose()

    def connect(self) -> Connection:
        """A connection for queries (the caller closes it)."""
        return self.engine.connect()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``), committed on leaving."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITES: True})
            with conn.begin():
                yield conn

    def position(self) -> int:
        """The notification id of the last event applied (0: none)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(tracking.c.notification_id).where(tracking.c.projection == self.name)
            ).scalar()
        return int(value or 0)

    # -- applying ---------------------------------------------------------------------

    def run_once(self) -> int:
        """Apply the next batch (rows and tracking row in one transaction); how many events."""
        with self.transaction() as conn:
            tracked = conn.execute(
                select(tracking.c.notification_id)
                .where(tracking.c.projection == self.name)
                .with_for_update()
            ).scalar()
            after = int(tracked or 0)
            batch = list(
                islice(self.ledger.stored_events(after_notification=after), self.batch_size)
            )
            if not batch:
                return 0
            for projection in self.projections:
                projection.apply(conn, batch)
            if self.on_applied is not None:
                for stored in batch:
                    self.on_applied(stored)
            last = batch[-1].notification_id
            if tracked is None:
                conn.execute(insert(tracking).values(projection=self.name, notification_id=last))
            else:
                moved = conn.execute(
                    update(tracking)
                    .where(tracking.c.projection == self.name, tracking.c.notification_id == after)
                    .values(notification_id=last)
                )
                if moved.rowcount != 1:
                    raise ConcurrentRunError(f"{self.name}: the tracking position moved")
        return len(batch)

    def run_until_caught_up(self) -> int:
        """Apply batches until none is left; how many events in all."""
        total = 0
        while count := self.run_once():
            total += count
        return total

    def rebuild(self) -> int:
        """Drop and recreate the views, then replay the whole log into them (and, on
        PostgreSQL, ANALYZE them: planned without statistics, the reads scan whole tables
        until autovacuum comes round)."""
        tables = [t for p in self.projections for t in p.tables]
        with self.transaction() as conn:
            for table in reversed(tables):
                table.drop(conn, checkfirst=True)
            conn.execute(delete(tracking).where(tracking.c.projection == self.name))
            for table in tables:
                table.create(conn)
        count = self.run_until_caught_up()
        if self.engine.dialect.name == "postgresql":
            with self.transaction() as conn:
                for table in tables:
                    conn.exec_driver_sql(f'ANALYZE "{table.name}"')
        return count


def default_projections() -> tuple[Projection, ...]:
    return (CodeFacts(), EventIndex())


class BackgroundRunner:
    """Keeps a projection caught up from a thread, polling the log."""

    def __init__(self, runner: ProjectionRunner, *, interval: float = 0.2) -> None:
        self.runner = runner
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"projection-{runner.name}")
        self._thread.daemon = True

    def start(self) -> BackgroundRunner:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.runner.run_until_caught_up()
            except Exception:  # keep following; the failed batch was rolled back
                log.exception("projection %s: batch failed; retrying", self.runner.name)
            self._stop.wait(self.interval)
