"""Following the ledger's notification log into the view tables, exactly once.

:class:`ReadModelRunner` reads the events after the position in ``view_tracking``, one
batch at a time, and writes the batch's view rows and the new tracking position in one
transaction: a batch is either wholly applied or not at all, and a run after a crash
resumes from the tracking row. Two runners on one database do not both apply a batch: the
tracking row is locked (PostgreSQL ``SELECT … FOR UPDATE``; SQLite ``BEGIN IMMEDIATE``)
and its update is conditional on the position read. Following notification ids is safe
because they become visible in order: the ``eventsourcing`` PostgreSQL recorder inserts
under an EXCLUSIVE table lock, and SQLite has one writer.

The projections it feeds are :class:`projections.read_model.ReadModel` s (by default
the code facts and the event index); one batch, one transaction for all of them. Batches
are 5,000 events by default: a projection applies a batch as a whole (the code facts
resolve its containment in memory and write its rows with ``COPY`` on PostgreSQL,
:mod:`projections.code_facts`), so a catch-up costs a few statements per batch, not per
event.

:class:`BackgroundRunner` polls (every 0.2 s by default) in a thread, for the server;
``run_until_caught_up`` is the standalone form.

**An event a projection cannot apply does not stop the views.** When a batch fails, the
error decides (:func:`projections.failures.is_transient`): a transient one (connection
lost, serialization failure, lock timeout, "database is locked") rolls the batch back to
be tried again later, blaming nothing. Any other is blamed on events only once they fail
alone: the batch is applied again in the same transaction, halved in SAVEPOINTs until the
failing events are found (a few dozen attempts for one bad event in 5,000); each of those
is applied to each projection on its own, and a projection that still fails records it in
``view_projection_failures`` (append-only; the ERROR log line says so, and
:attr:`ReadModelRunner.quarantined` counts), skips it, and the tracking position moves on
past it with the rest of the batch. ``GET /health`` and ``tracecode projections failures``
report them; :meth:`ReadModelRunner.rebuild` clears them and tries those events again.

**Schema version.** ``view_tracking`` holds :data:`projections.schema.SCHEMA_VERSION`
(row ``#schema``); a runner that opens views of another version drops them and projects
the log into new ones from the start (``create_all`` cannot change existing tables).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
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

from epcis.gc_pause import collector_paused
from ledger.application import Ledger, StoredEvent
from ledger.records import SharedEvent
from projections.bulk import insert_rows
from projections.code_facts import CodeFacts
from projections.event_index import EventIndex
from projections.failures import ConcurrentRunError, is_transient
from projections.read_model import ReadModel
from projections.schema import (
    ERROR_TEXT_LIMIT,
    SCHEMA_ROW,
    SCHEMA_VERSION,
    event_shares,
    failures,
    metadata,
    sqlalchemy_url,
    tracking,
    utc_text,
)
from projections.shadow import WRITES, RebuildRunningError, Shadow, rebuild_lock

log = logging.getLogger(__name__)

__all__ = [
    "BackgroundRunner",
    "ConcurrentRunError",
    "ReadModelRunner",
    "RebuildRunningError",
    "make_engine",
]

PROJECTION = "code_status"


def make_engine(ledger_url: str) -> Engine:
    """An engine on the ledger's database (on SQLite, :meth:`ReadModelRunner.transaction`
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
        writes = conn.get_execution_options().get(WRITES, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


class ReadModelRunner:
    """Applies the ledger's events to the view tables of its projections."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        batch_size: int = 5000,
        name: str = PROJECTION,
        projections: Sequence[ReadModel] | None = None,
        shares: bool = True,
    ) -> None:
        self.ledger = ledger
        self.shares = shares
        """Whether this runner keeps ``view_event_shares`` (the views' runner does; a
        runner of other read models, the outbox's, must neither add to it nor clear it)."""
        self.batch_size = batch_size
        self.name = name
        self.projections: tuple[ReadModel, ...] = (
            tuple(projections) if projections is not None else default_projections()
        )
        self.engine = make_engine(ledger.settings.url)
        self.on_applied: Callable[[StoredEvent], None] | None = None
        """Test hook: called for each event once the batch's rows were written, inside the
        batch's transaction (raising there aborts the whole batch)."""
        self.quarantined = 0
        """Events this runner quarantined since it was made (a counter for monitoring)."""
        self._open_schema()

    def _open_schema(self) -> None:
        """Create the view tables; views made by another :data:`SCHEMA_VERSION` are
        dropped first (with every tracking position and failure), so the runner projects
        the log into them again from the start. One transaction; on PostgreSQL under an
        advisory lock, so server workers starting together do this once."""
        views = [t for t in metadata.sorted_tables if t not in (tracking, failures)]
        with self.transaction() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7316002215)")
            existing = set(inspect(conn).get_table_names())
            version = None
            if tracking.name in existing:
                version = conn.execute(
                    select(tracking.c.notification_id).where(tracking.c.projection == SCHEMA_ROW)
                ).scalar()
            if version != SCHEMA_VERSION and any(t.name in existing for t in views):
                log.warning(
                    "projection views of schema version %s found, %s wanted: dropping them; "
                    "they are projected again from the log",
                    version or 1,
                    SCHEMA_VERSION,
                )
                for table in reversed(views):
                    if table.name in existing:
                        table.drop(conn)
                        existing.discard(table.name)
                if tracking.name in existing:
                    conn.execute(delete(tracking))
                if failures.name in existing:
                    conn.execute(delete(failures))
            metadata.create_all(conn, checkfirst=True)
            if version != SCHEMA_VERSION:
                conn.execute(delete(tracking).where(tracking.c.projection == SCHEMA_ROW))
                conn.execute(
                    insert(tracking).values(projection=SCHEMA_ROW, notification_id=SCHEMA_VERSION)
                )
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
            conn.execution_options(**{WRITES: True})
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
        """Apply the next batch (rows and tracking row in one transaction); how many events.

        When a projection fails on the batch with an error that is not transient
        (:func:`projections.failures.is_transient`), the batch is applied again with the
        events to blame found and skipped (:meth:`_apply_isolating`); a transient error
        is raised, and the batch is tried again by the next run."""
        return self._once(self.transaction)

    def _once(self, transaction: Callable[[], AbstractContextManager[Connection]]) -> int:
        """:meth:`run_once` in the transactions ``transaction`` gives (the live tables',
        or a rebuild's shadow's)."""
        with collector_paused():  # a batch's many short-lived objects (epcis.gc_pause)
            try:
                with transaction() as conn:
                    return self._apply_next(conn, isolate=False)
            except _BatchFailed as failed:
                if is_transient(failed.error):
                    raise failed.error from None
                log.warning(
                    "projection %s: a batch failed (%s: %s); applying it again event by event",
                    self.name,
                    type(failed.error).__name__,
                    _short(failed.error, 300),
                )
            with transaction() as conn:
                return self._apply_next(conn, isolate=True)

    def _apply_next(self, conn: Connection, *, isolate: bool) -> int:
        """Apply the batch after the tracking position through ``conn`` (in its
        transaction), and move the position; how many events."""
        tracked = conn.execute(
            select(tracking.c.notification_id)
            .where(tracking.c.projection == self.name)
            .with_for_update()
        ).scalar()
        after = int(tracked or 0)
        batch = list(islice(self.ledger.log_items(after_notification=after), self.batch_size))
        if not batch:
            return 0
        shares = [item for item in batch if isinstance(item, SharedEvent)]
        records = [item for item in batch if not isinstance(item, SharedEvent)]
        if tracked is None:
            # the row to lock from now on; a runner racing for the first batch waits
            # here and then loses (IntegrityError), before applying anything
            conn.execute(insert(tracking).values(projection=self.name, notification_id=0))
        if isolate:
            self._apply_isolating(conn, records)
        else:
            try:
                for projection in self.projections:
                    projection.apply(conn, records)
            except Exception as error:
                raise _BatchFailed(error) from error
        if shares and self.shares:
            self._share(conn, shares)
        if self.on_applied is not None:
            for stored in records:
                self.on_applied(stored)
        moved = conn.execute(
            update(tracking)
            .where(tracking.c.projection == self.name, tracking.c.notification_id == after)
            .values(notification_id=batch[-1].notification_id)
        )
        if moved.rowcount != 1:
            raise ConcurrentRunError(f"{self.name}: the tracking position moved")
        return len(batch)

    def _share(self, conn: Connection, shares: Sequence[SharedEvent]) -> None:
        """Record who else sees which event (``view_event_shares``), then let each
        projection that keeps a view per institution take it in (``share``)."""
        insert_rows(conn, event_shares, [(s.institution, s.position) for s in shares])
        for projection in self.projections:
            share = getattr(projection, "share", None)
            if share is not None:
                share(conn, shares)

    def _apply_isolating(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        """Apply ``batch`` in log order, each part in a SAVEPOINT: a part that fails is
        halved until the events that fail alone are found; each of those is applied to
        each projection on its own, and a projection that still fails on it records it
        (:meth:`_quarantine`) and goes on without it. A transient error is raised."""
        try:
            with conn.begin_nested():
                for projection in self.projections:
                    projection.apply(conn, batch)
            return
        except Exception as error:
            if is_transient(error):
                raise
            if len(batch) > 1:
                middle = len(batch) // 2
                self._apply_isolating(conn, batch[:middle])
                self._apply_isolating(conn, batch[middle:])
                return
        for projection in self.projections:
            try:
                with conn.begin_nested():
                    projection.apply(conn, batch)
            except Exception as error:
                if is_transient(error):
                    raise
                self._quarantine(conn, projection, batch[0], error)

    def _quarantine(
        self, conn: Connection, projection: ReadModel, stored: StoredEvent, error: Exception
    ) -> None:
        text = _short(error, ERROR_TEXT_LIMIT)
        conn.execute(
            insert(failures).values(
                runner=self.name,
                projection=projection.name,
                notification_id=stored.notification_id,
                position=stored.position,
                event_id=stored.event_id,
                hash_id=stored.hash_id,
                error_type=f"{type(error).__module__}.{type(error).__qualname__}"[:200],
                error=text,
                failed_at=utc_text(datetime.now(UTC)),
            )
        )
        self.quarantined += 1
        log.error(
            "projection %s/%s: cannot apply event %s (log row %d, position %d): %s: %s; "
            "quarantined in %s, the views go on without it",
            self.name,
            projection.name,
            stored.event_id,
            stored.notification_id,
            stored.position,
            type(error).__name__,
            _short(error, 500),
            failures.name,
        )

    def run_until_caught_up(self) -> int:
        """Apply batches until none is left; how many events in all."""
        total = 0
        while count := self.run_once():
            total += count
        return total

    def rebuild(self) -> int:
        """Project the whole log into new views and swap them in (:mod:`projections.shadow`):
        the live views stay whole and followed until the swap, one transaction that
        replaces them, the tracking position and the runner's failures (cleared, their
        events tried again). How many events the new views took in. A failure leaves the
        live views as they were; a second rebuild of the same runner meanwhile raises
        :class:`~projections.shadow.RebuildRunningError`.

        A runner with no tables of its own (the outbox's, which keeps its messages through
        a rebuild) derives everything again in place, from position 0."""
        tables = list(dict.fromkeys(t for p in self.projections for t in p.tables))
        if self.shares and event_shares not in tables:
            tables.append(event_shares)
        with self.engine.connect() as conn, rebuild_lock(conn, self.name):
            if not tables:
                with self.transaction() as live:
                    live.execute(delete(tracking).where(tracking.c.projection == self.name))
                    live.execute(delete(failures).where(failures.c.runner == self.name))
                return self.run_until_caught_up()
            shadow = Shadow(conn, self.name, tables)
            try:
                shadow.create()
                count = 0
                while applied := self._once(shadow.transaction):
                    count += applied
                shadow.analyze()
                count += shadow.swap(self._catch_up)
            except BaseException:
                try:
                    shadow.drop()
                except Exception:
                    log.exception("rebuild of %s: the shadow could not be dropped", self.name)
                    conn.invalidate()  # its temp tables (SQLite) go with the connection
                raise
            shadow.drop()
        return count

    def _catch_up(self, conn: Connection) -> int:
        """Apply every batch left through ``conn``, in its transaction (failing events
        found and quarantined in SAVEPOINTs, :meth:`_apply_isolating`)."""
        total = 0
        while applied := self._apply_next(conn, isolate=True):
            total += applied
        return total


class _BatchFailed(Exception):
    """A projection raised ``error`` on a batch (not the ``on_applied`` hook)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _short(error: BaseException, limit: int) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def default_projections() -> tuple[ReadModel, ...]:
    return (CodeFacts(), EventIndex())


class BackgroundRunner:
    """Keeps a projection caught up from a thread, polling the log.

    ``log_end``: a cheap read of the log's end (``Ledger.log_position``); given it, a round
    takes a batch's write lock (on SQLite the one writer's) only when the log has moved
    since the last round that caught up, so the runner can poll often."""

    def __init__(
        self,
        runner: ReadModelRunner,
        *,
        interval: float = 0.2,
        log_end: Callable[[], int] | None = None,
    ) -> None:
        self.runner = runner
        self.interval = interval
        self.log_end = log_end
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
        seen: int | None = None
        while not self._stop.is_set():
            try:
                end = self.log_end() if self.log_end is not None else None
                if end is None or end != seen:
                    self.runner.run_until_caught_up()
                    seen = end
            except Exception as error:  # keep following; the failed batch was rolled back
                if is_transient(error):
                    log.warning(
                        "projection %s: batch failed (%s: %s); retrying",
                        self.runner.name,
                        type(error).__name__,
                        _short(error, 300),
                    )
                else:
                    log.exception("projection %s: batch failed; retrying", self.runner.name)
            self._stop.wait(self.interval)
