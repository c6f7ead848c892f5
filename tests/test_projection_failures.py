"""A projection that cannot apply an event quarantines it; the read side keeps answering.

Every store test runs on SQLite and on a fresh PostgreSQL database. The poison here is a
test projection (the code facts, refusing events marked ``example:poison``): since the
view indexes are bounded (:mod:`projections.keys`), no real identifier makes them fail.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, select
from sqlalchemy import exc as sa_exc

from adapters.cli import main
from ledger.application import Ledger, StoredEvent
from ledger.capture import prepare
from projections import failures
from projections.code_facts import CodeFacts
from projections.code_status import status
from projections.event_index import EventIndex
from projections.event_index import events as event_rows
from projections.failures import is_transient
from projections.runner import ReadModelRunner
from tests.ledger_contract import document
from tests.supply_chain import commissioning, ev
from tests.test_http_capture import open_api
from tests.test_projections import BOX, PHARMACY, WAREHOUSE, canon, commission

POISON_CODE = "urn:epc:id:sgtin:0614141.107346.666"
OTHER = "urn:epc:id:sgtin:0614141.107346.7"


def poison(hour: int = 9) -> dict[str, Any]:
    return commissioning(
        hour,
        [POISON_CODE],
        WAREHOUSE,
        eventID=f"urn:uuid:6f1b8c52-0000-4000-8000-0000000006{hour:02d}",
        **{"example:poison": "yes"},
    )


def other(hour: int = 10) -> dict[str, Any]:
    return commissioning(hour, [OTHER], PHARMACY, ilmd={"cbvmda:lotNumber": "L2"})


class Fragile(CodeFacts):
    """The code facts, failing on any batch that holds a marked event."""

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        if any(s.event.get("example:poison") for s in batch):
            raise ValueError("this projection cannot apply a poisoned event")
        super().apply(conn, batch)


class Flaky(CodeFacts):
    """The code facts, failing once with ``error`` (a transient database error)."""

    def __init__(self, error: Exception) -> None:
        self.error: Exception | None = error

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        super().apply(conn, batch)


def capture(ledger: Ledger, *events: dict[str, Any]) -> None:
    request = prepare(document(*events))
    assert not request.problems, request.problems
    ledger.append([request])


def test_a_poison_event_is_quarantined_and_only_it(ledger: Ledger) -> None:
    capture(ledger, commission(8), poison(9), other(10))
    runner = ReadModelRunner(ledger, batch_size=10, projections=[Fragile(), EventIndex()])
    try:
        assert runner.run_until_caught_up() == 3
        assert runner.quarantined == 1
        with runner.connect() as conn:
            (failure,) = failures.listed(conn, runner.name)
            assert failure.projection == "code_facts"
            assert failure.event_id == poison()["eventID"]
            assert failure.position == 2
            assert "cannot apply a poisoned event" in failure.error
            assert failure.error_type.endswith("ValueError")
            # the other events of the same batch are applied, the poison is not
            found = status(conn, BOX[0])
            assert found is not None and found.state == "in_stock"
            found = status(conn, OTHER)
            assert found is not None and found.lot == "L2"
            assert status(conn, POISON_CODE) is None
            # the event index (another projection) has all three
            assert len(conn.execute(select(event_rows.c.position)).all()) == 3
        assert runner.position() == ledger.log_position() - 2  # the events, then job, head
        # not tried again: the position moved past it
        capture(ledger, ev("ObjectEvent", 11, epcList=[BOX[1]], action="OBSERVE"))
        assert runner.run_until_caught_up() == 1
        assert runner.quarantined == 1
        with runner.connect() as conn:
            assert failures.count(conn, runner.name) == 1
    finally:
        runner.close()
    # a rebuild tries quarantined events again (here with projections that can apply it)
    healed = ReadModelRunner(ledger)
    try:
        assert healed.rebuild() == 4
        with healed.connect() as conn:
            assert failures.count(conn, healed.name) == 0
            assert status(conn, POISON_CODE) is not None
    finally:
        healed.close()


def test_two_poison_events_in_a_big_batch(ledger: Ledger) -> None:
    boxes = [ev("ObjectEvent", 8, epcList=[f"{OTHER}{n}"], action="ADD") for n in range(20)]
    capture(ledger, *boxes[:5], poison(9), *boxes[5:15], poison(10), *boxes[15:])
    runner = ReadModelRunner(ledger, batch_size=100, projections=[Fragile(), EventIndex()])
    try:
        assert runner.run_until_caught_up() == 22
        with runner.connect() as conn:
            assert [f.position for f in failures.listed(conn, runner.name)] == [6, 17]
            for n in range(20):
                assert status(conn, f"{OTHER}{n}") is not None
    finally:
        runner.close()


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("database is locked"),
        sa_exc.OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked")),
        psycopg.errors.SerializationFailure("could not serialize access"),
        psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
        psycopg.OperationalError("consuming input failed: server closed the connection"),
    ],
    ids=["sqlite-locked", "sqlalchemy-wrapped", "serialization", "lock-timeout", "lost"],
)
def test_a_transient_error_quarantines_nothing(ledger: Ledger, error: Exception) -> None:
    capture(ledger, commission(8), other(10))
    runner = ReadModelRunner(ledger, batch_size=10, projections=[Flaky(error), EventIndex()])
    try:
        with pytest.raises(type(error)):
            runner.run_once()
        assert runner.position() == 0
        assert runner.run_until_caught_up() == 2  # the batch again, whole
        assert runner.quarantined == 0
        with runner.connect() as conn:
            assert failures.count(conn, runner.name) == 0
            assert status(conn, BOX[0]) is not None
    finally:
        runner.close()


def test_what_is_transient() -> None:
    assert is_transient(psycopg.errors.DeadlockDetected("deadlock"))
    assert is_transient(psycopg.errors.QueryCanceled("statement timeout"))
    assert is_transient(psycopg.errors.AdminShutdown("terminating connection"))
    assert is_transient(psycopg.errors.UndefinedTable("no such table"))
    # what an event can cause: blamed on it when it fails alone
    assert not is_transient(psycopg.errors.ProgramLimitExceeded("index row size 3056"))
    assert not is_transient(psycopg.errors.UntranslatableCharacter("\\u0000"))
    assert not is_transient(psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_transient(ValueError("a bug on one event"))
    assert not is_transient(sqlite3.DataError("string or blob too big"))


# -- through HTTP, and after a restart ----------------------------------------------------


@pytest.fixture
def fragile(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The server's runner with the fragile code facts."""
    monkeypatch.setattr("projections.runner.default_projections", lambda: (Fragile(), EventIndex()))
    yield


def _reads_answer(client: Any) -> None:
    box = quote(BOX[0], safe="")
    for url in (
        f"/codes/{box}",
        f"/codes/{box}/hierarchy",
        "/events",
        f"/events?MATCH_epc={quote(OTHER, safe='')}",
        "/stock",
        f"/trails?code={box}",
        "/trails?product=10614141073464&lot=L1",
        "/epcs",
        "/bizSteps",
    ):
        response = client.get(url)
        assert response.status_code == 200, (url, response.text)


def test_reads_answer_with_a_poison_event_also_after_a_restart(
    store_url: str, fragile: None
) -> None:
    with open_api(store_url) as api:
        health = api.client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        response = api.post(document(commission(8), poison(9), other(10)))
        assert response.status_code == 202, response.text
        _reads_answer(api.client)
        assert api.client.get("/codes/" + quote(POISON_CODE, safe="")).status_code == 404
        listed = api.client.get("/events").json()["epcisBody"]["queryResults"]["resultsBody"]
        assert len(listed["eventList"]) == 3  # the event index has it
        health = api.client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "degraded"
        quarantined = body["projections"]["quarantined"]
        assert quarantined["count"] == 1 and quarantined["sinceStart"] == 1
        (failed,) = quarantined["events"]
        assert failed["eventID"] == poison()["eventID"] and failed["projection"] == "code_facts"
        assert failed["position"] == 2
        assert body["projections"]["reached"] == body["projections"]["logEnd"]
        assert "/health" in api.client.get("/openapi.json").json()["paths"]
    with open_api(store_url) as api:  # a restart: a new app and runner on the same store
        _reads_answer(api.client)
        response = api.post(document(ev("ObjectEvent", 11, epcList=[OTHER], action="OBSERVE")))
        assert response.status_code == 202
        position = response.headers["TraceCode-Log-Position"]
        after = api.client.get("/codes/" + quote(OTHER, safe=""), params={"wait_for": position})
        assert after.status_code == 200 and len(after.json()["history"]) == 2
        body = api.client.get("/health").json()
        assert body["status"] == "degraded"
        assert body["projections"]["quarantined"]["count"] == 1
        assert body["projections"]["quarantined"]["sinceStart"] == 0


def test_the_cli_lists_the_failures(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    capture(ledger, commission(8), poison(9))
    runner = ReadModelRunner(ledger, projections=[Fragile(), EventIndex()])
    try:
        runner.run_until_caught_up()
    finally:
        runner.close()
    monkeypatch.setenv("TRACECODE_DATABASE_URL", ledger.settings.url)
    result = CliRunner().invoke(main, ["projections", "failures"])
    assert result.exit_code == 1, result.output
    assert poison()["eventID"] in result.output and "code_facts" in result.output
    result = CliRunner().invoke(main, ["projections", "rebuild"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["projections", "failures"])
    assert result.exit_code == 0, result.output
    assert canon(POISON_CODE)  # (the default projections apply it: nothing listed)


def test_a_value_the_database_refuses_is_quarantined(ledger: Ledger) -> None:
    """A real database error inside the batch's COPY: PostgreSQL text cannot hold NUL
    (SQLite can: there nothing fails)."""
    from tests.test_long_identifiers import append_unvalidated

    nul = "urn:epc:id:sgtin:0614141.107346.bad\x00serial"
    append_unvalidated(
        ledger, commission(8), ev("ObjectEvent", 9, epcList=[nul], action="ADD"), other(10)
    )
    runner = ReadModelRunner(ledger, batch_size=10)
    try:
        assert runner.run_until_caught_up() == 3
        with runner.connect() as conn:
            found = failures.listed(conn, runner.name)
            if conn.dialect.name == "postgresql":
                assert {f.projection for f in found} == {"code_facts", "event_index"}
                assert {f.position for f in found} == {2}
                assert all(f.error_type.endswith("DataError") for f in found), found
            else:
                assert found == []
            assert status(conn, BOX[0]) is not None and status(conn, OTHER) is not None
            positions = conn.execute(select(event_rows.c.position)).scalars().all()
            assert sorted(positions) == ([1, 3] if found else [1, 2, 3])
    finally:
        runner.close()
