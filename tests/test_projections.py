"""The code-status projection: facts, hierarchy, as-of queries, exactly-once, rebuild.

Every store test runs on SQLite and on a fresh PostgreSQL database (``store_url``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, select

from epcis.context import make_context
from epcis.identifiers.facts import canonical
from ledger.application import Ledger, StoredEvent
from ledger.capture import prepare
from ledger.lifecycle import LENDING, derive_state
from projections import hierarchy
from projections.code_status import CodeStatus, derive, effective_facts, status
from projections.event_index import event_epcs
from projections.event_index import events as event_rows
from projections.runner import BackgroundRunner, ReadModelRunner
from projections.schema import code_facts, links, tracking
from tests.conftest import empty_store, open_ledger
from tests.ledger_contract import document
from tests.strategies import NAMESPACES
from tests.strategies import events as any_events
from tests.supply_chain import (
    commissioning,
    dispensing,
    ev,
    packing,
    receiving,
    shipping,
    unpacking,
)

BOX = [f"urn:epc:id:sgtin:0614141.107346.{n}" for n in (1, 2, 3)]
CASE = "urn:epc:id:sscc:0614141.1234567890"
WAREHOUSE = "urn:epc:id:sgln:0614141.00001.0"
PHARMACY = "urn:epc:id:sgln:0614141.00002.0"
PATIENT = "pseudonym:7f3a"


def canon(code: str) -> str:
    return canonical(code)


def commission(hour: int = 8) -> dict[str, Any]:
    return commissioning(
        hour,
        BOX,
        WAREHOUSE,
        ilmd={"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2028-01-31"},
    )


def pack(hour: int = 9) -> dict[str, Any]:
    return packing(hour, CASE, BOX, WAREHOUSE)


def ship(hour: int = 10) -> dict[str, Any]:
    return shipping(hour, [CASE], WAREHOUSE, PHARMACY)


def receive(hour: int = 11) -> dict[str, Any]:
    return receiving(hour, [CASE], PHARMACY)


def unpack(hour: int = 12) -> dict[str, Any]:
    return unpacking(hour, CASE, BOX, PHARMACY)


def dispense(hour: int = 13) -> dict[str, Any]:
    return dispensing(hour, [BOX[0]], PHARMACY, PATIENT)


def capture(ledger: Ledger, *events: dict[str, Any]) -> list[StoredEvent]:
    """Capture a document; the stored events it added (their record time is later than
    any earlier capture's: the clock has a millisecond resolution)."""
    time.sleep(0.003)
    result = ledger.capture(prepare(document(*events)))
    assert result.success, result.errors or result.outcomes
    positions = {o.position for o in result.outcomes if o.position is not None}
    return [s for s in ledger.stored_events() if s.position in positions]


def state_of(runner: ReadModelRunner, code: str, as_of: str | None = None) -> CodeStatus:
    with runner.connect() as conn:
        found = status(conn, code, as_of)
    assert found is not None, code
    return found


def kids(runner: ReadModelRunner, parent: str, **kw: Any) -> list[str]:
    with runner.connect() as conn:
        return hierarchy.children(conn, parent, **kw)


def parent(runner: ReadModelRunner, code: str, as_of: str | None = None) -> str | None:
    with runner.connect() as conn:
        return hierarchy.parent_of(conn, code, as_of)


def dump(
    runner: ReadModelRunner,
    tables: tuple[Table, ...] = (code_facts, links, tracking, event_rows, event_epcs),
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``tables`` (by name), in primary-key order: to compare two runs."""
    with runner.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(
                    select(table).order_by(
                        *(list(table.primary_key.columns) or list(table.columns))
                    )
                ).all()
            ]
            for table in tables
        }


# -- pure derivation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "action", "step", "disposition", "role", "expected"),
    [
        ("ObjectEvent", "ADD", "commissioning", "active", "epc", "in_stock"),
        ("ObjectEvent", "OBSERVE", "shipping", "in_transit", "epc", "in_transit"),
        ("AggregationEvent", "ADD", "packing", "in_transit", "child", "expected"),
        ("ObjectEvent", "OBSERVE", "receiving", "sellable_accessible", "epc", "in_stock"),
        ("ObjectEvent", "OBSERVE", "dispensing", "dispensed", "epc", "dispensed"),
        ("ObjectEvent", "OBSERVE", "holding", "recalled", "epc", "recalled"),
        ("ObjectEvent", "OBSERVE", "holding", "damaged", "epc", "frozen"),
        ("ObjectEvent", "OBSERVE", "holding", "non_sellable_other", "epc", "frozen"),
        ("ObjectEvent", "DELETE", "destroying", "destroyed", "epc", "destroyed"),
        ("ObjectEvent", "OBSERVE", "receiving", "returned", "epc", "returned"),
        (
            "ObjectEvent",
            "OBSERVE",
            "https://ns.example.com/voc/reserving",
            "reserved",
            "epc",
            "lent",
        ),
        ("TransformationEvent", None, "repackaging", "partially_dispensed", "input", "split"),
        ("TransformationEvent", None, "repackaging", "active", "output", "in_stock"),
        ("ObjectEvent", "OBSERVE", "cycle_counting", None, "epc", None),
        ("AggregationEvent", "DELETE", "unpacking", None, "child", None),
        ("ObjectEvent", "OBSERVE", "urn:epcglobal:cbv:bizstep:shipping", None, "epc", "in_transit"),
    ],
)
def test_state_mapping(
    kind: str, action: str | None, step: str, disposition: str | None, role: str, expected: str
) -> None:
    assert derive_state(kind, action, step, disposition, role) == expected


def test_derive_names_every_code_once_in_canonical_form() -> None:
    event = ev(
        "AggregationEvent",
        9,
        parentID=CASE,
        childEPCs=[BOX[0], "https://id.gs1.org/01/10614141073464/21/1", "not-a-code"],
        childQuantityList=[
            {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 3}
        ],
        action="ADD",
    )
    derived = derive(
        event, position=1, notification_id=1, record_time="2026-03-01T00:00:00Z", hash_id="h"
    )
    codes = [f.code for f in derived.facts]
    assert codes == [
        canon(CASE),
        "https://id.gs1.org/01/10614141073464/21/1",
        "not-a-code",
        "https://id.gs1.org/01/04012345123456/10/998877",
    ]
    lot_fact = derived.facts[-1]
    assert (lot_fact.product, lot_fact.lot, lot_fact.quantity) == ("04012345123456", "998877", 3.0)
    assert [(link.parent, link.child) for link in derived.links] == [
        (canon(CASE), canon(BOX[0])),
        (canon(CASE), "not-a-code"),
    ]
    assert derived.facts[0].event_time == "2026-03-01T01:00:00.000000Z"


# -- the scenario --------------------------------------------------------------------------


def test_box_lifecycle_through_a_case(ledger: Ledger, runner: ReadModelRunner) -> None:
    recorded: list[str] = []

    def step(event: dict[str, Any]) -> None:
        (stored,) = capture(ledger, event)
        recorded.append(stored.record_time)
        runner.run_until_caught_up()

    step(commission())
    for box in BOX:
        s = state_of(runner, box)
        assert (s.state, s.location, s.parent) == ("in_stock", canon(WAREHOUSE), None)
        assert (s.product, s.lot, s.expiry) == ("10614141073464", "L1", "2028-01-31")
    assert kids(runner, CASE) == []

    step(pack())
    assert kids(runner, CASE) == sorted(canon(b) for b in BOX)
    for box in BOX:
        s = state_of(runner, box)
        assert (s.state, s.location, s.parent) == ("in_stock", canon(WAREHOUSE), canon(CASE))

    step(ship())
    for box in BOX:
        s = state_of(runner, box)
        assert (s.state, s.location, s.destination) == ("in_transit", None, canon(PHARMACY))
        assert s.parent == canon(CASE)
    assert state_of(runner, CASE).state == "in_transit"
    with runner.connect() as conn:
        # stored once, for the case the event names; passed on to the boxes when read
        stored = conn.execute(
            select(code_facts.c.code).where(code_facts.c.biz_step == "shipping")
        ).scalars()
        assert list(stored) == [canon(CASE)]
        (passed,) = [
            f for f in effective_facts(conn, [BOX[0]])[canon(BOX[0])] if f.biz_step == "shipping"
        ]
    assert (passed.via, passed.role) == (canon(CASE), "contained")

    step(receive())
    for box in BOX:
        s = state_of(runner, box)
        assert (s.state, s.location) == ("in_stock", canon(PHARMACY))

    step(unpack())
    assert kids(runner, CASE) == []
    for box in BOX:
        s = state_of(runner, box)
        assert (s.state, s.location, s.parent) == ("in_stock", canon(PHARMACY), None)

    step(dispense())
    s = state_of(runner, BOX[0])
    assert (s.state, s.holder, s.location) == ("dispensed", PATIENT, canon(PHARMACY))
    # the Digital Link of the same box answers the same
    assert state_of(runner, "https://id.gs1.org/01/10614141073464/21/1") == s
    assert state_of(runner, BOX[1]).state == "in_stock"

    # as of a record time between two captures: the earlier answer
    after_ship = recorded[2]
    s = state_of(runner, BOX[0], as_of=after_ship)
    assert (s.state, s.parent) == ("in_transit", canon(CASE))
    assert kids(runner, CASE, as_of=after_ship) == sorted(canon(b) for b in BOX)
    assert parent(runner, BOX[0], as_of=recorded[4]) is None
    assert parent(runner, BOX[0], as_of=recorded[3]) == canon(CASE)
    with runner.connect() as conn:
        assert status(conn, BOX[0], as_of="2000-01-01T00:00:00Z") is None


def test_nested_containers_pass_events_down_transitively(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    pallet = "urn:epc:id:sscc:0614141.9999999999"
    capture(ledger, commission(), pack())
    capture(
        ledger,
        ev(
            "AggregationEvent",
            9,
            parentID=pallet,
            childEPCs=[CASE],
            action="ADD",
            bizStep="packing",
        ),
    )
    capture(ledger, ev("ObjectEvent", 10, epcList=[pallet], action="OBSERVE", bizStep="shipping"))
    runner.run_until_caught_up()
    assert kids(runner, pallet) == [canon(CASE)]
    assert kids(runner, pallet, transitive=True) == sorted([canon(CASE), *map(canon, BOX)])
    for box in BOX:
        assert state_of(runner, box).state == "in_transit"


def test_a_late_event_with_an_earlier_event_time_does_not_override(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    capture(ledger, commission(8), pack(9))
    capture(ledger, receive(11))
    runner.run_until_caught_up()
    (before_late,) = capture(ledger, ev("ObjectEvent", 12, epcList=[BOX[2]], action="OBSERVE"))
    # the offline shipping scan arrives last, with its original (earlier) eventTime
    capture(ledger, ship(10))
    runner.run_until_caught_up()
    for box in BOX:
        s = state_of(runner, box)
        assert (s.state, s.location) == ("in_stock", canon(PHARMACY))
    assert state_of(runner, CASE).state == "in_stock"
    assert state_of(runner, BOX[0], as_of=before_late.record_time).state == "in_stock"
    # the late fact is there, in its place by eventTime
    with runner.connect() as conn:
        steps = [f.biz_step for f in effective_facts(conn, [BOX[0]])[canon(BOX[0])]]
        assert steps == ["commissioning", "packing", "shipping", "receiving"]


def test_a_late_event_that_is_latest_does_change_the_status(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    capture(ledger, commission(8))
    capture(
        ledger,
        ev(
            "ObjectEvent",
            14,
            epcList=[BOX[0]],
            action="OBSERVE",
            bizStep="holding",
            disposition="recalled",
        ),
    )
    capture(ledger, ev("ObjectEvent", 9, epcList=[BOX[0]], action="OBSERVE", bizStep="shipping"))
    runner.run_until_caught_up()
    assert state_of(runner, BOX[0]).state == "recalled"


def test_an_error_declaration_withdraws_the_event(ledger: Ledger, runner: ReadModelRunner) -> None:
    capture(ledger, commission(8))
    wrong = ev(
        "ObjectEvent",
        9,
        epcList=[BOX[0]],
        action="OBSERVE",
        bizStep="holding",
        disposition="damaged",
    )
    (first,) = capture(ledger, wrong)
    runner.run_until_caught_up()
    assert state_of(runner, BOX[0]).state == "frozen"
    declared = {
        **wrong,
        "errorDeclaration": {
            "declarationTime": "2026-03-01T10:00:00.000+08:00",
            "reason": "incorrect_data",
        },
    }
    capture(ledger, declared)
    runner.run_until_caught_up()
    assert state_of(runner, BOX[0]).state == "in_stock"
    assert state_of(runner, BOX[0], as_of=first.record_time).state == "frozen"


def test_transformation_links_inputs_to_outputs(ledger: Ledger, runner: ReadModelRunner) -> None:
    units = [f"urn:epc:id:sgtin:0614141.107347.{n}" for n in (1, 2)]
    capture(ledger, commission(8))
    capture(
        ledger,
        ev(
            "TransformationEvent",
            9,
            inputEPCList=[BOX[0]],
            outputEPCList=units,
            bizStep="repackaging",
            disposition="active",
            bizLocation={"id": PHARMACY},
        ),
    )
    runner.run_until_caught_up()
    assert state_of(runner, BOX[0]).state == "split"
    assert kids(runner, BOX[0]) == sorted(map(canon, units))
    assert kids(runner, BOX[0], kinds=("aggregation",)) == []
    s = state_of(runner, units[0])
    assert (s.state, s.location, s.parent) == ("in_stock", canon(PHARMACY), canon(BOX[0]))


# -- exactly once ----------------------------------------------------------------------------


class Crash(Exception):
    pass


def test_a_batch_that_dies_midway_leaves_nothing(ledger: Ledger, runner: ReadModelRunner) -> None:
    capture(ledger, commission(), pack(), ship())
    capture(ledger, receive(), unpack(), dispense())
    assert runner.run_once() == 3
    kept = dump(runner)
    tracked = runner.position()

    seen: list[int] = []

    def die_on_the_second(stored: StoredEvent) -> None:
        seen.append(stored.position)
        if len(seen) == 2:
            raise Crash

    runner.on_applied = die_on_the_second
    with pytest.raises(Crash):
        runner.run_once()
    assert seen == [4, 5]  # rows of events 4 and 5 were written before the crash…
    assert dump(runner) == kept  # …and none of them kept
    assert runner.position() == tracked

    runner.on_applied = None
    assert runner.run_until_caught_up() == 3
    resumed = dump(runner)
    assert runner.rebuild() == 6
    assert dump(runner) == resumed
    assert state_of(runner, BOX[0]).state == "dispensed"


def test_two_runners_do_not_apply_a_batch_twice(ledger: Ledger, runner: ReadModelRunner) -> None:
    capture(ledger, commission(), pack(), ship(), receive())
    other = ReadModelRunner(ledger, batch_size=2)
    try:
        assert runner.run_once() + other.run_once() + runner.run_once() == 4
        assert other.run_once() == 0
        alone = dump(runner)
    finally:
        other.close()
    runner.rebuild()
    assert dump(runner) == alone


def test_the_background_runner_follows_the_log(ledger: Ledger, runner: ReadModelRunner) -> None:
    background = BackgroundRunner(runner, interval=0.05).start()
    try:
        capture(ledger, commission(), pack(), ship())
        deadline = time.monotonic() + 10
        while runner.position() == 0 or state_of_or_none(runner, BOX[0]) != "in_transit":
            assert time.monotonic() < deadline, "the background runner did not catch up"
            time.sleep(0.05)
    finally:
        background.stop()


def test_a_reader_blocks_neither_capture_nor_the_runner(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    capture(ledger, commission())
    runner.run_until_caught_up()
    with runner.connect() as conn:
        assert status(conn, BOX[0]) is not None  # a read transaction is now open
        capture(ledger, ship())  # a blocked writer would fail here ("database is locked")
        assert runner.run_until_caught_up() == 1
    assert state_of(runner, CASE).state == "in_transit"


def state_of_or_none(runner: ReadModelRunner, code: str) -> str | None:
    with runner.connect() as conn:
        found = status(conn, code)
    return found.state if found else None


# -- rebuild == incremental ------------------------------------------------------------------


def test_rebuild_gives_the_incremental_tables(ledger: Ledger, runner: ReadModelRunner) -> None:
    for event in (commission(), pack(), ship(13), receive(11), unpack(), dispense()):
        capture(ledger, event)
        runner.run_once()
    runner.run_until_caught_up()
    incremental = dump(runner)
    assert runner.rebuild() == 6
    assert dump(runner) == incremental
    assert len(incremental["view_code_facts"]) > 6


POOL = [*BOX, CASE, "urn:epc:id:sscc:0614141.9999999999"]
STEPS = [
    "commissioning",
    "packing",
    "shipping",
    "receiving",
    "unpacking",
    "dispensing",
    "holding",
    "inspecting",
    LENDING,
    "destroying",
    "cycle_counting",
]
DISPOSITIONS = [
    None,
    "in_transit",
    "sellable_accessible",
    "dispensed",
    "recalled",
    "damaged",
    "returned",
    "reserved",
    "active",
]


@st.composite
def step_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A business step, maybe a disposition, maybe the warehouse or the pharmacy."""
    fields: dict[str, Any] = {"bizStep": draw(st.sampled_from(STEPS))}
    disposition = draw(st.sampled_from(DISPOSITIONS))
    if disposition:
        fields["disposition"] = disposition
    if draw(st.booleans()):
        fields["bizLocation"] = {"id": draw(st.sampled_from([WAREHOUSE, PHARMACY]))}
    return fields


@st.composite
def pooled_events(draw: st.DrawFn) -> dict[str, Any]:
    """Events over a few codes, so that packs, ships and late arrivals interact."""
    hour = draw(st.integers(0, 23))
    common = draw(step_fields())
    if draw(st.booleans()):
        parent_code = draw(st.sampled_from(POOL[3:]))
        kids_ = draw(st.lists(st.sampled_from(POOL), min_size=0, max_size=3, unique=True))
        kids_ = [k for k in kids_ if k != parent_code]
        action = draw(st.sampled_from(["ADD", "OBSERVE", "DELETE"]))
        if not kids_:
            action = "DELETE"
        fields: dict[str, Any] = {"parentID": parent_code, "action": action, **common}
        if kids_:
            fields["childEPCs"] = kids_
        return ev("AggregationEvent", hour, **fields)
    epcs = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=3, unique=True))
    return ev("ObjectEvent", hour, epcList=epcs, action="OBSERVE", **common)


INSTITUTIONS = ("A", "B", "")
"""Whose each document of a stream is, in turn: the read models keep each one's view."""


def stream_document(events: list[dict[str, Any]]) -> bytes:
    """A document of generated events (their extension prefixes declared)."""
    return json.dumps(
        {
            "@context": make_context(NAMESPACES),
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00.000Z",
            "epcisBody": {"eventList": events},
        }
    ).encode()


def _capture_stream(ledger: Ledger, runner: ReadModelRunner, stream: list[list[Any]]) -> None:
    for n, events in enumerate(stream):
        body = stream_document(events)
        # examples share one ledger: a reused eventID is a conflict, and that is fine
        institution = INSTITUTIONS[n % len(INSTITUTIONS)]
        ledger.capture(prepare(body, error_behaviour="proceed", institution=institution))
        runner.run_once()


def _check_rebuild(ledger: Ledger, runner: ReadModelRunner, stream: list[list[Any]]) -> None:
    _capture_stream(ledger, runner, stream)
    runner.run_until_caught_up()
    incremental = dump(runner)
    runner.rebuild()
    assert dump(runner) == incremental


# Property tests run wide on SQLite and small on PostgreSQL (the same checks, fewer
# examples: a PostgreSQL round trip costs more than SQLite's). Each example runs on a store
# of its own: on one store shared by the examples every check replays (and rebuilds) what
# the examples before it left, so a run's cost grew with the square of its examples (82 s
# for 25 examples of the batched pooled streams on SQLite; a few seconds now).
_HYPOTHESIS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_SMALL = settings(_HYPOTHESIS, max_examples=5)
POOLED_STREAMS = st.lists(st.lists(pooled_events(), min_size=1, max_size=4), min_size=1, max_size=4)
ANY_STREAMS = st.lists(st.lists(any_events(), min_size=1, max_size=3), min_size=1, max_size=3)


@contextmanager
def example_store(kind: str, directory: pytest.TempPathFactory) -> Iterator[ReadModelRunner]:
    """The projections (in batches of 3, as the ``runner`` fixture's) of a new, empty
    store of ``kind`` for one hypothesis example: its ledger is ``runner.ledger``."""
    with (
        empty_store(kind, directory.mktemp("example") / "ledger.db") as url,
        open_ledger(url) as ledger,
    ):
        runner = ReadModelRunner(ledger, batch_size=3)
        try:
            yield runner
        finally:
            runner.close()


def wide_and_small(
    check: Callable[[Ledger, ReadModelRunner, Any], None], strategy: st.SearchStrategy[Any]
) -> tuple[Callable[..., None], Callable[..., None]]:
    """One property, two tests: wide on SQLite, small on PostgreSQL, each example on a
    store of its own."""

    def on(kind: str, profile: settings) -> Callable[..., None]:
        @profile
        @given(drawn=strategy)
        def prop(tmp_path_factory: pytest.TempPathFactory, drawn: Any) -> None:
            with example_store(kind, tmp_path_factory) as runner:
                check(runner.ledger, runner, drawn)

        return prop

    return on("sqlite", _HYPOTHESIS), on("postgresql", _SMALL)


(
    test_rebuild_equals_incremental_over_pooled_streams,
    test_rebuild_equals_incremental_over_pooled_streams_on_postgres,
) = wide_and_small(_check_rebuild, POOLED_STREAMS)
(
    test_rebuild_equals_incremental_over_any_events,
    test_rebuild_equals_incremental_over_any_events_on_postgres,
) = wide_and_small(_check_rebuild, ANY_STREAMS)


# -- arrival order does not matter (eventTime decides) ---------------------------------------

_twins = iter(range(10**9))


@st.composite
def object_streams(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[int]]:
    """ObjectEvents over codes 0–2 with distinct eventTimes, and an arrival order."""
    hours = draw(st.lists(st.integers(0, 23), min_size=1, max_size=6, unique=True))
    stream = []
    for hour in hours:
        fields = draw(step_fields())
        codes = draw(st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True))
        stream.append({"hour": hour, "codes": codes, "fields": fields})
    order = draw(st.permutations(range(len(stream))))
    return stream, order


def _check_arrival_order(
    ledger: Ledger, runner: ReadModelRunner, drawn: tuple[list[dict[str, Any]], list[int]]
) -> None:
    stream, order = drawn
    twins = [f"{next(_twins)}x", f"{next(_twins)}y"]

    def code(twin: str, n: int) -> str:
        return f"urn:epc:id:sgtin:0614141.107346.{twin}{n}"

    def instance(twin: str, item: dict[str, Any]) -> dict[str, Any]:
        epcs = [code(twin, n) for n in item["codes"]]
        return ev("ObjectEvent", item["hour"], epcList=epcs, action="OBSERVE", **item["fields"])

    for item in stream:  # in eventTime order as drawn
        capture(ledger, instance(twins[0], item))
    for index in order:  # the same events, arriving in another order
        capture(ledger, instance(twins[1], stream[index]))
    runner.run_until_caught_up()
    for n in range(3):
        with runner.connect() as conn:
            first, second = (status(conn, code(t, n)) for t in twins)
        if first is None or second is None:
            assert first is second
            continue
        assert (first.state, first.location, first.destination, first.last_event_time) == (
            second.state,
            second.location,
            second.destination,
            second.last_event_time,
        )


(
    test_status_follows_event_time_whatever_the_arrival_order,
    test_status_follows_event_time_whatever_the_arrival_order_on_postgres,
) = wide_and_small(_check_arrival_order, object_streams())
