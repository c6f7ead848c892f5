"""PostgreSQL: the view tables that grow with the log are partitioned by position range
(:mod:`projections.partitions`), the partitions made as the log crosses their bounds,
each row in the partition of its position; SQLite tables are never partitioned.

Runs on PostgreSQL for real (a fresh database per test), with partitions of a few positions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text

from epcis.identifiers.facts import canonical
from ledger.application import Ledger
from projections import hierarchy
from projections.code_first import code_first, lookup
from projections.code_status import effective_facts, status
from projections.partitions import PARTITIONED, ensure, partition_name, partition_size, partitions
from projections.runner import ReadModelRunner
from projections.schema import code_facts
from tests.conftest import open_ledger, postgres_database
from tests.supply_chain import commissioning, packing, shipping
from tests.test_projections import (
    BOX,
    CASE,
    PHARMACY,
    WAREHOUSE,
    capture,
    commission,
    dispense,
    pack,
    receive,
    ship,
    unpack,
)

SIZE = 2


@pytest.fixture
def pg_ledger() -> Iterator[Ledger]:
    with postgres_database() as url, open_ledger(url) as ledger:
        yield ledger


@pytest.fixture
def small(monkeypatch: Any) -> int:
    """Partitions of :data:`SIZE` positions."""
    monkeypatch.setenv("TRACECODE_PARTITION_EVENTS", str(SIZE))
    return SIZE


def layout(runner: ReadModelRunner) -> dict[str, list[tuple[int, int, str]]]:
    """Each partitioned table's partitions (from, to, name) in the live schema."""
    with runner.connect() as conn:
        out = {}
        for table in sorted(PARTITIONED):
            found = partitions(conn, table)
            assert found is not None and found[0] == "public", table
            out[table] = found[1]
        return out


def placed(runner: ReadModelRunner, table: str) -> set[tuple[str, int]]:
    """(partition, position) of every row of ``table``."""
    with runner.connect() as conn:
        rows = conn.execute(text(f"SELECT tableoid::regclass::text, position FROM {table}"))
        return {(str(name), int(position)) for name, position in rows}


def test_partitions_are_made_as_the_log_crosses_their_bounds(pg_ledger: Ledger, small: int) -> None:
    runner = ReadModelRunner(pg_ledger, batch_size=2)
    try:
        assert layout(runner) == {table: [] for table in PARTITIONED}  # none before a row
        capture(pg_ledger, commission())  # position 1
        runner.run_until_caught_up()
        assert layout(runner)["view_code_facts"] == [(0, 2, "view_code_facts_p000000000000")]
        capture(pg_ledger, pack(), ship(), receive())  # positions 2, 3, 4
        runner.run_until_caught_up()
        for table, parts in layout(runner).items():
            # the links: only the packing (position 2) has any: its partition alone
            lows = (2,) if table == "view_links" else (0, 2, 4)
            assert [(a, b) for a, b, _ in parts] == [(a, a + 2) for a in lows], table
            assert [name for *_, name in parts] == [partition_name(table, a) for a in lows]
        with runner.connect() as conn:  # each partition's indexes: the table's, named after them
            named = conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = :t ORDER BY indexname"),
                {"t": "view_code_facts_p000000000002"},
            ).scalars()
            indexes = sorted(str(index.name) for index in code_facts.indexes)
            assert list(named) == [f"{index}_p000000000002" for index in indexes]
        for table in PARTITIONED:
            rows = placed(runner, table)
            assert {p for _, p in rows} == ({2} if table == "view_links" else {1, 2, 3, 4})
            for name, position in rows:  # each row in its position's partition
                assert name == partition_name(table, position - position % small), (table, name)
    finally:
        runner.close()


def test_partitions_before_the_first_are_made_too_and_the_range_stays_whole(
    pg_ledger: Ledger, small: int
) -> None:
    """A writer with rows before the first partition (never in log order, but a caller
    may) gets one partition up to it; the range has no hole."""
    runner = ReadModelRunner(pg_ledger)
    try:
        with runner.transaction() as conn:
            assert ensure(conn, "view_links", 9, 9) == ["view_links_p000000000008"]
            assert ensure(conn, "view_links", 9, 9) == []
            assert ensure(conn, "view_links", 3, 12) == [
                "view_links_p000000000002",
                "view_links_p000000000010",
                "view_links_p000000000012",
            ]
            found = partitions(conn, "view_links")
        assert found is not None
        assert [(a, b) for a, b, _ in found[1]] == [(2, 8), (8, 10), (10, 12), (12, 14)]
    finally:
        runner.close()


def test_a_batch_rolled_back_takes_its_partitions_with_it(pg_ledger: Ledger, small: int) -> None:
    runner = ReadModelRunner(pg_ledger, batch_size=10)
    try:
        capture(pg_ledger, commission(), pack(), ship())

        def crash(_stored: Any) -> None:
            raise RuntimeError("crash")

        runner.on_applied = crash
        with pytest.raises(RuntimeError):
            runner.run_once()
        assert layout(runner)["view_events"] == []
        runner.on_applied = None
        assert runner.run_until_caught_up() == 3  # made again, nothing cached
        assert len(layout(runner)["view_events"]) == 2
    finally:
        runner.close()


def test_rebuild_equals_incremental_across_partitions_and_moves_them(
    pg_ledger: Ledger, small: int
) -> None:
    runner = ReadModelRunner(pg_ledger, batch_size=3)
    try:
        for event in (commission(), pack(), ship(13), receive(11), unpack(), dispense()):
            capture(pg_ledger, event)
            runner.run_once()
        runner.run_until_caught_up()
        before = {t: sorted((p, n) for n, p in placed(runner, t)) for t in PARTITIONED}
        parts = layout(runner)
        assert len(parts["view_code_facts"]) == 4  # positions 1..6: [0,2) … [6,8)
        assert runner.rebuild() == 6
        assert {t: sorted((p, n) for n, p in placed(runner, t)) for t in PARTITIONED} == before
        assert layout(runner) == parts  # the shadow's partitions, moved into the live schema
        with runner.connect() as conn:
            left = conn.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname LIKE 'view\\_rebuild%'"
                )
            ).scalar()
        assert left == 0
    finally:
        runner.close()


def test_no_partitions_with_a_size_of_0(pg_ledger: Ledger, monkeypatch: Any) -> None:
    monkeypatch.setenv("TRACECODE_PARTITION_EVENTS", "0")
    runner = ReadModelRunner(pg_ledger)
    try:
        capture(pg_ledger, commission())
        assert runner.run_until_caught_up() == 1
        with runner.connect() as conn:
            kinds = conn.execute(
                text("SELECT relname, relkind FROM pg_class WHERE relname = ANY(:names)"),
                {"names": sorted(PARTITIONED)},
            ).all()
            assert partitions(conn, "view_code_facts") is None
        assert sorted(kinds) == [(name, "r") for name in sorted(PARTITIONED)]
    finally:
        runner.close()


@pytest.mark.parametrize("raw", ["ten", "-1", "1.5"])
def test_a_bad_size_is_refused_with_its_name(raw: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("TRACECODE_PARTITION_EVENTS", raw)
    with pytest.raises(ValueError, match="TRACECODE_PARTITION_EVENTS"):
        partition_size()
    # the server and the projector check it at start, with its name
    from adapters.bootstrap import Settings, SettingsError

    with pytest.raises(SettingsError, match="TRACECODE_PARTITION_EVENTS"):
        Settings.from_env({"TRACECODE_PARTITION_EVENTS": raw})


def test_sqlite_tables_are_not_partitioned(tmp_path: Any, small: int) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        runner = ReadModelRunner(ledger)
        try:
            capture(ledger, commission(), pack(), ship())
            assert runner.run_until_caught_up() == 3
            with runner.connect() as conn:
                assert partitions(conn, "view_code_facts") is None
                assert ensure(conn, "view_code_facts", 1, 100) == []
        finally:
            runner.close()


# -- pruning: a code's lookups read the partitions from its first position on -------------

NEW = [f"urn:epc:id:sgtin:0614141.107399.{n}" for n in (1, 2)]
NEW_CASE = "urn:epc:id:sscc:0614141.5555555555"
_PARTITION = re.compile(r"\b(view_(?:code_facts|links)_p\d{12})\b")


@contextmanager
def statements(runner: ReadModelRunner) -> Iterator[list[tuple[str, Any]]]:
    """The statements run on ``runner``'s engine meanwhile that read the facts or links."""
    seen: list[tuple[str, Any]] = []

    def note(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _m: bool) -> None:
        lowered = statement.lower()
        if lowered.lstrip().startswith("select") and (
            "view_code_facts" in lowered or "view_links" in lowered
        ):
            seen.append((statement, parameters))

    event.listen(runner.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(runner.engine, "before_cursor_execute", note)


def scanned(runner: ReadModelRunner, seen: list[tuple[str, Any]]) -> set[str]:
    """The partitions of the facts and links the plans of ``seen`` read (EXPLAIN, with
    the same parameters)."""
    out: set[str] = set()
    with runner.connect() as conn:
        for statement, parameters in seen:
            plan = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
            out |= {m for line in plan for m in _PARTITION.findall(line)}
    return out


def test_lookups_of_a_code_read_only_the_partitions_from_its_first_position(
    pg_ledger: Ledger, small: int
) -> None:
    runner = ReadModelRunner(pg_ledger, batch_size=2)
    try:
        # the old codes: positions 1-6 (facts in partitions 0, 2, 4, 6; links in 2, 4)
        capture(pg_ledger, commission(), pack(), ship(), receive(), unpack(), dispense())
        runner.run_until_caught_up()
        # new codes at 7 (partition 6), packed at 8 and shipped at 9 (partition 8)
        capture(pg_ledger, commissioning(14, NEW, WAREHOUSE), packing(15, NEW_CASE, NEW, WAREHOUSE))
        with statements(runner) as catch_up:
            assert runner.run_once() == 2
        capture(pg_ledger, shipping(16, [NEW_CASE], WAREHOUSE, PHARMACY))
        runner.run_until_caught_up()
        with runner.connect() as conn:
            every = {
                name
                for table in ("view_code_facts", "view_links")
                for *_, name in (partitions(conn, table) or ("", []))[1]
            }
        assert len(every) == 9  # facts: 0, 2, 4, 6, 8; links: 2, 4, 6 (empty: no hole), 8

        # the catch-up of the new codes' batch looked them up in their partition only
        assert catch_up and scanned(runner, catch_up) <= {
            "view_code_facts_p000000000006",
            "view_code_facts_p000000000008",
            "view_links_p000000000006",
            "view_links_p000000000008",
        }
        # a new box's status, history and parent: its own partitions and its case's
        with statements(runner) as reads, runner.connect() as conn:
            found = status(conn, NEW[0])
            history = effective_facts(conn, [canonical(NEW[0])])[canonical(NEW[0])]
            parent = hierarchy.parent_of(conn, NEW[0])
        assert found is not None and found.state == "in_transit"
        assert [f.position for f in history] == [7, 8, 9]
        assert parent == canonical(NEW_CASE)
        assert scanned(runner, reads) == {
            "view_code_facts_p000000000006",
            "view_code_facts_p000000000008",
            "view_links_p000000000006",
            "view_links_p000000000008",
        }
        # an old box reads from its first position: every partition, as before
        with statements(runner) as reads, runner.connect() as conn:
            assert [
                f.position for f in effective_facts(conn, [canonical(BOX[1])])[canonical(BOX[1])]
            ] == [
                1,
                2,
                3,
                4,
                5,
            ]
        assert {"view_code_facts_p000000000000", "view_links_p000000000002"} <= scanned(
            runner, reads
        )
    finally:
        runner.close()


def test_first_positions_are_filled_from_the_facts_when_their_table_is_new(
    pg_ledger: Ledger,
) -> None:
    runner = ReadModelRunner(pg_ledger)
    try:
        capture(pg_ledger, commission(), pack(), ship())
        runner.run_until_caught_up()
        with runner.connect() as conn:
            kept = lookup(conn, [canonical(c) for c in (*BOX, CASE)])
        assert kept == {**{canonical(b): 1 for b in BOX}, canonical(CASE): 2}
        with runner.transaction() as conn:
            code_first.drop(conn)
    finally:
        runner.close()
    again = ReadModelRunner(pg_ledger)  # creates it beside the facts, and fills it
    try:
        with again.connect() as conn:
            assert lookup(conn, [canonical(c) for c in (*BOX, CASE)]) == kept
    finally:
        again.close()
