"""A rebuild builds the views beside the live ones and swaps them in at once: readers see
the old complete views until the swap and the new complete ones after it, the live runner
keeps following the log meanwhile, a failure leaves the live views as they were, and a
second rebuild at the same time is refused.

Every test runs on SQLite and on a fresh PostgreSQL database (the ``ledger`` fixture). The
rebuilding runner applies one event a batch and pauses between two of its shadow's batches
to read, capture and follow the log from elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Table, select, text

from ledger.application import Ledger, StoredEvent
from projections.code_status import status
from projections.runner import ReadModelRunner, RebuildRunningError
from projections.schema import event_shares, failures, tracking
from projections.shadow import Shadow
from projections.stock import stock
from tests.test_projections import (
    BOX,
    CASE,
    capture,
    commission,
    dispense,
    pack,
    receive,
    ship,
    unpack,
)


def tables_of(runner: ReadModelRunner) -> list[Table]:
    return [
        *dict.fromkeys(t for p in runner.projections for t in p.tables),
        event_shares,
        tracking,
        failures,
    ]


def snapshot(runner: ReadModelRunner) -> dict[str, Any]:
    """What a reader on a connection of its own sees: every row of the runner's tables
    (whatever they are) and the answers of the reads."""
    with runner.connect() as conn:
        rows = {
            table.name: sorted(
                (tuple(row) for row in conn.execute(select(table))),
                key=lambda row: tuple((value is None, str(value)) for value in row),
            )
            for table in tables_of(runner)
            if table is not failures
        }
        return {
            "rows": rows,
            "status": [status(conn, code) for code in (*BOX, CASE)],
            "stock": stock(conn),
        }


@contextmanager
def views(ledger: Ledger, batch_size: int) -> Iterator[ReadModelRunner]:
    runner = ReadModelRunner(ledger, batch_size=batch_size)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def live(ledger: Ledger) -> Iterator[ReadModelRunner]:
    """The views' runner that keeps following the log while another one rebuilds."""
    with views(ledger, 2) as runner:
        yield runner


@pytest.fixture
def rebuilder(ledger: Ledger) -> Iterator[ReadModelRunner]:
    """The same views' runner (same tracking row), one event a batch, to pause in."""
    with views(ledger, 1) as runner:
        yield runner


def between_batches(
    runner: ReadModelRunner, events: int, act: Callable[[], None], monkeypatch: Any
) -> list[int]:
    """Call ``act`` once the shadow has applied ``events`` events, before its next
    transaction (outside any: on SQLite a shadow batch holds the write lock, as a live one
    does); the positions the shadow applied."""
    seen: list[int] = []
    runner.on_applied = lambda stored: seen.append(stored.position)
    original = Shadow.transaction
    done: list[bool] = []

    @contextmanager
    def transaction(self: Shadow, **kw: Any) -> Iterator[Any]:
        if len(seen) >= events and not done:
            done.append(True)
            act()
        with original(self, **kw) as conn:
            yield conn

    monkeypatch.setattr(Shadow, "transaction", transaction)
    return seen


def leftovers(runner: ReadModelRunner) -> list[str]:
    """What a rebuild left: PostgreSQL shadow schemas; SQLite shadow or swapped-out tables."""
    query = (
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'view\\_rebuild%'"
        if runner.engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE "
        "'view_rebuild__%' OR name LIKE 'view_retired__%')"
    )
    with runner.connect() as conn:
        return list(conn.execute(text(query)).scalars())


def test_readers_see_the_old_views_until_the_swap_and_captures_meanwhile_are_in_the_new(
    ledger: Ledger, live: ReadModelRunner, rebuilder: ReadModelRunner, monkeypatch: Any
) -> None:
    capture(ledger, commission(), pack(), ship())
    live.run_until_caught_up()
    before = snapshot(live)
    assert before["status"][0].state == "in_transit"
    during: list[dict[str, Any]] = []

    def mid_rebuild() -> None:
        assert snapshot(live) == before  # the old views, whole: not the shadow's two events
        capture(ledger, receive(), unpack())
        assert live.run_until_caught_up() == 2  # the live views follow the log meanwhile
        during.append(snapshot(live))
        assert during[0]["status"][0].state == "in_stock"

    seen = between_batches(rebuilder, 2, mid_rebuild, monkeypatch)
    assert rebuilder.rebuild() == 5
    assert len(seen) == 5  # the shadow went on to the events captured during the rebuild
    rebuilt = snapshot(live)
    assert rebuilt == during[0]  # the rebuilt views equal the incremental ones
    assert leftovers(live) == []
    assert live.run_until_caught_up() == 0


def test_what_the_log_gains_before_the_swap_is_taken_in_under_the_lock(
    ledger: Ledger, live: ReadModelRunner, rebuilder: ReadModelRunner, monkeypatch: Any
) -> None:
    capture(ledger, commission(), pack(), ship(), receive(), unpack())
    live.run_until_caught_up()
    incremental: list[dict[str, Any]] = []
    original = Shadow.swap

    def swap_after_a_capture(self: Shadow, catch_up: Callable[[Any], int]) -> int:
        capture(ledger, dispense())  # after the shadow caught up, before the swap
        assert live.run_until_caught_up() == 1
        incremental.append(snapshot(live))
        applied = original(self, catch_up)
        assert applied == 1
        return applied

    monkeypatch.setattr(Shadow, "swap", swap_after_a_capture)
    assert rebuilder.rebuild() == 6
    assert snapshot(live) == incremental[0]
    assert incremental[0]["status"][0].state == "dispensed"


def test_a_failure_mid_rebuild_leaves_the_live_views_and_no_shadow(
    ledger: Ledger, live: ReadModelRunner, rebuilder: ReadModelRunner
) -> None:
    capture(ledger, commission(), pack(), ship(), receive())
    live.run_until_caught_up()
    before = snapshot(live)

    class Crash(Exception):
        pass

    def crash(stored: StoredEvent) -> None:
        if stored.position == 3:
            raise Crash

    rebuilder.on_applied = crash
    with pytest.raises(Crash):
        rebuilder.rebuild()
    assert snapshot(live) == before
    assert leftovers(live) == []
    rebuilder.on_applied = None
    assert rebuilder.rebuild() == 4  # nothing left in the way of the next one
    assert snapshot(live) == before


def test_a_second_rebuild_meanwhile_is_refused(
    ledger: Ledger, live: ReadModelRunner, rebuilder: ReadModelRunner, monkeypatch: Any
) -> None:
    capture(ledger, commission(), pack(), ship())
    live.run_until_caught_up()
    before = snapshot(live)
    refused: list[str] = []

    def second() -> None:
        with pytest.raises(RebuildRunningError) as raised:
            live.rebuild()
        refused.append(str(raised.value))

    between_batches(rebuilder, 1, second, monkeypatch)
    assert rebuilder.rebuild() == 3
    assert refused == [
        "a rebuild of the views of 'code_status' is already running (another process or thread)"
    ]
    assert snapshot(live) == before
    rebuilder.on_applied = None
    assert live.rebuild() == 3  # the lock went with the first


def test_quarantined_events_are_tried_again_and_the_new_failures_swapped_in(
    ledger: Ledger, live: ReadModelRunner
) -> None:
    """The runner's failures are the shadow's after the swap: a rebuild whose projection
    still fails on an event quarantines it again (once), one that can apply it clears it."""
    from projections.failures import listed

    capture(ledger, commission(), pack(), ship())

    class Picky:
        """The default projections, failing on the packing event while ``picky``."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.name, self.tables = inner, inner.name, inner.tables
            self.picky = True

        def apply(self, conn: Any, batch: Any) -> None:
            if self.picky and any(s.event.get("bizStep", "").endswith("packing") for s in batch):
                raise ValueError("packing refused")
            self.inner.apply(conn, batch)

    picky = [Picky(p) for p in live.projections]
    runner = ReadModelRunner(ledger, projections=picky)
    try:
        runner.run_until_caught_up()

        def quarantined() -> list[tuple[str, int]]:
            with runner.connect() as conn:
                return [(f.projection, f.position) for f in listed(conn, runner.name)]

        first = quarantined()
        assert len(first) == len(picky)
        assert runner.rebuild() == 3
        assert quarantined() == first
        for p in picky:
            p.picky = False
        assert runner.rebuild() == 3
        assert quarantined() == []
        assert snapshot(runner)["status"][0].state == "in_transit"
    finally:
        runner.close()


def test_the_cli_says_a_rebuild_is_running(
    ledger: Ledger, live: ReadModelRunner, monkeypatch: Any
) -> None:
    from click.testing import CliRunner

    from adapters.cli import main
    from projections.shadow import rebuild_lock

    capture(ledger, commission())
    monkeypatch.setenv("TRACECODE_DATABASE_URL", ledger.settings.url)
    with live.connect() as conn, rebuild_lock(conn, live.name):
        result = CliRunner().invoke(main, ["projections", "rebuild"])
    assert result.exit_code == 1, result.output
    assert "a rebuild of the views of 'code_status' is already running" in result.output
    result = CliRunner().invoke(main, ["projections", "rebuild"])
    assert result.exit_code == 0 and "rebuilt: 1 events applied" in result.output


def test_views_of_several_partitions_are_rebuilt_and_swapped_in_whole(
    ledger: Ledger, live: ReadModelRunner, rebuilder: ReadModelRunner, monkeypatch: Any
) -> None:
    """With partitions of two positions (PostgreSQL; SQLite has none): the shadow makes
    its own as its rows need them, including for the events captured mid-rebuild, and the
    swap moves them in with their tables."""
    from projections.partitions import PARTITIONED, partitions

    monkeypatch.setenv("TRACECODE_PARTITION_EVENTS", "2")
    capture(ledger, commission(), pack(), ship())
    with views(ledger, 2) as runner:  # tables made with the setting: a new database's
        runner.rebuild()
    live.run_until_caught_up()
    during: list[dict[str, Any]] = []

    def mid_rebuild() -> None:
        capture(ledger, receive(), unpack(), dispense())
        live.run_until_caught_up()
        during.append(snapshot(live))

    between_batches(rebuilder, 2, mid_rebuild, monkeypatch)
    assert rebuilder.rebuild() == 6
    assert snapshot(live) == during[0]
    assert leftovers(live) == []
    if live.engine.dialect.name == "postgresql":
        with live.connect() as conn:
            for table in PARTITIONED:
                found = partitions(conn, table)
                assert found is not None and found[0] == "public", table
                lows = (2, 4) if table == "view_links" else (0, 2, 4, 6)  # links: from 2
                assert [(a, b) for a, b, _ in found[1]] == [(a, a + 2) for a in lows], table
