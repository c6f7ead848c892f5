"""Batch-wise projection: the same rows as one event at a time, the same stock from the
maintained current state as from the facts, and identifiers read fast as parsed.

Every store test runs on SQLite and on a fresh PostgreSQL database (``store_url``).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from epcis.identifiers.facts import canonical, check_digit, facts_of, slow_facts_of
from ledger.application import Ledger
from ledger.capture import prepare
from projections.code_facts import history_positions
from projections.code_status import effective_facts, foldings, statuses
from projections.hierarchy import parents_of
from projections.recall_trail import current_statuses, trail
from projections.runner import ReadModelRunner
from projections.schema import (
    code_facts,
    code_state,
    in_scope,
    links,
    stock_counts,
    visible_to,
)
from projections.stock import stock, stock_by_folding
from tests.conftest import open_ledger
from tests.supply_chain import ev
from tests.test_projections import (
    ANY_STREAMS,
    BOX,
    INSTITUTIONS,
    WAREHOUSE,
    _capture_stream,
    capture,
    commission,
    document,
    dump,
    pooled_events,
    receive,
    ship,
    step_fields,
    stream_document,
    wide_and_small,
)
from tests.test_projections_read import scenario

EVERYTHING = "9999-12-31T23:59:59Z"  # as_of after every record time: the facts path
FAR_PAST, FAR_FUTURE = date(2000, 1, 1), date(9999, 12, 31)  # nothing expired; all expired


def facts_and_links(runner: ReadModelRunner) -> dict[str, list[tuple[Any, ...]]]:
    """The facts, the links, and the current state and stock kept with them."""
    return dump(runner, (code_facts, links, code_state, stock_counts))


def check_current_state(runner: ReadModelRunner, *, trails: bool = True) -> None:
    """``view_code_state`` is the fold of every code's facts, and stock from it is stock
    from the facts: everyone's, and each institution's of its own facts."""
    for scope in (None, *INSTITUTIONS[:-1]):
        check_scope(runner, scope, trails=trails)


def check_scope(runner: ReadModelRunner, scope: str | None, *, trails: bool = True) -> None:
    """:func:`check_current_state` for one scope; with ``trails``, the trails of every lot
    and code too (read from the rows checked here: the checks between the documents of a
    stream leave them out, 70 % of an example's time, and the checks at its end make them)."""
    with runner.connect() as conn:
        folded = statuses(conn, scope=scope)
        moves = foldings(conn, scope=scope)
        rows = {row.code: row for row in conn.execute(select(code_state).where(in_scope(scope)))}
        mine = [] if scope is None else [visible_to(code_facts, scope)]
        facts = set(conn.execute(select(code_facts.c.code).where(*mine).distinct()).scalars())
        # every code with facts of its own has a row, and so has every code the fold finds
        # (a box may only inherit an institution's events, from the case it is in)
        assert facts <= set(rows), sorted(facts - set(rows))
        assert set(folded) <= set(rows), sorted(set(folded) - set(rows))
        # each row's history is the positions of the code's effective facts, in order
        effective = effective_facts(conn, None, scope=scope)
        for code, row in rows.items():
            positions = [r.position for r in effective.get(code, [])]
            assert history_positions(row.history) == positions, (scope, code)
        # each row's parent is the one the links the scope sees give now
        parents = parents_of(conn, list(rows), scope=scope)
        for code, row in rows.items():
            assert row.parent == parents.get(code), (scope, code, row.parent)
        for code, row in rows.items():
            found = folded.get(code)
            if found is None:
                assert row.declared and row.state is None, code
                continue
            assert (row.moved, row.held) == (moves[code].moved, moves[code].held), code
            assert (
                row.state,
                row.hospital_state,
                row.location,
                row.destination,
                row.holder,
                row.product,
                row.lot,
                row.expiry,
                row.last_event,
                row.last_event_time,
                row.last_position,
            ) == (
                found.state,
                found.hospital_state,
                found.location,
                found.destination,
                found.holder,
                found.product,
                found.lot,
                found.expiry,
                found.last_event,
                found.last_event_time,
                found.last_position,
            ), (scope, code)
        # expiry judged on days before, on and after every expiry date the codes have
        expiries = {date.fromisoformat(r.expiry) for r in rows.values() if r.expiry}
        days = {FAR_PAST, FAR_FUTURE} | expiries | {d + timedelta(days=1) for d in expiries}
        for day in sorted(days):
            now = stock(conn, scope=scope, today=day)
            assert now == stock_by_folding(conn, as_of=EVERYTHING, scope=scope, today=day)
        places = {r.place for r in rows.values() if r.place is not None}
        for place in places:
            now = stock(conn, location=place, scope=scope, today=FAR_PAST)
            then = stock_by_folding(
                conn, location=place, as_of=EVERYTHING, scope=scope, today=FAR_PAST
            )
            assert now == then
        if not trails:
            return
        # the recall trail now (statuses from view_code_state) is the trail from the facts
        lots = {(r.product, r.lot) for r in rows.values() if r.product is not None}
        for product, lot in lots:
            assert trail(conn, product=product, lot=lot, scope=scope) == trail(
                conn, product=product, lot=lot, as_of=EVERYTHING, scope=scope
            )
        for code in rows:
            assert trail(conn, code=code, scope=scope) == trail(
                conn, code=code, as_of=EVERYTHING, scope=scope
            )


def check_batched(ledger: Ledger, runner: ReadModelRunner, stream: list[list[Any]]) -> None:
    """Incremental (batches of 3), one big batch, and one event at a time give the same
    rows, current state included; the current state follows the facts throughout."""
    for events in stream:
        _capture_stream(ledger, runner, [events])
        check_current_state(runner, trails=False)
    runner.run_until_caught_up()
    incremental = facts_and_links(runner)
    check_current_state(runner)
    runner.batch_size = 10_000
    runner.rebuild()
    assert facts_and_links(runner) == incremental
    check_current_state(runner)
    reference = ReadModelRunner(ledger, batch_size=1)
    try:
        reference.rebuild()
        assert facts_and_links(reference) == incremental
    finally:
        reference.close()


_POOLED = st.lists(st.lists(pooled_events(), min_size=1, max_size=5), min_size=1, max_size=4)
(
    test_batches_equal_one_event_at_a_time_over_pooled_streams,
    test_batches_equal_one_event_at_a_time_over_pooled_streams_on_postgres,
) = wide_and_small(check_batched, _POOLED)


(
    test_batches_equal_one_event_at_a_time_over_any_events,
    test_batches_equal_one_event_at_a_time_over_any_events_on_postgres,
) = wide_and_small(check_batched, ANY_STREAMS)


def test_stock_from_the_current_state_through_the_scenario(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    for event in scenario():
        capture(ledger, event)
        runner.run_until_caught_up()
        check_current_state(runner)
    with runner.connect() as conn:
        assert stock(conn)  # not trivially equal
        kept = list(conn.execute(select(code_state).order_by(code_state.c.code)))
    # a database projected before view_code_state / view_stock existed: filled from the facts
    for dropped in ((code_state, stock_counts), (stock_counts,)):
        with runner.transaction() as conn:
            for table in dropped:
                table.drop(conn)
        again = ReadModelRunner(ledger)
        try:
            with again.connect() as conn:
                assert list(conn.execute(select(code_state).order_by(code_state.c.code))) == kept
            check_current_state(again)
        finally:
            again.close()


def test_the_current_state_follows_error_declarations_and_late_events(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    wrong = ev(
        "ObjectEvent",
        9,
        epcList=[BOX[0], BOX[1]],
        action="OBSERVE",
        bizStep="holding",
        disposition="damaged",
    )
    declared = {
        **wrong,
        "errorDeclaration": {
            "declarationTime": "2026-03-01T10:00:00.000+08:00",
            "reason": "incorrect_data",
        },
    }
    steps: list[list[dict[str, Any]]] = [
        [commission(8)],
        [wrong, ship(12)],
        [declared],
        [receive(11)],  # late: before the shipping by eventTime
        [ev("ObjectEvent", 7, epcList=[BOX[2]], action="OBSERVE", bizStep="dispensing")],
    ]
    for events in steps:
        capture(ledger, *events)
        runner.run_until_caught_up()
        check_current_state(runner)
    with runner.connect() as conn:
        rows = {r.code: r for r in conn.execute(select(code_state))}
    assert rows[canonical(BOX[0])].declared
    assert rows[canonical(BOX[0])].state == "in_stock"


@pytest.mark.parametrize("batch_size", [1, 10])
def test_a_late_packing_under_a_container_event_declared_in_error_passes_it_on(
    store_url: str, batch_size: int
) -> None:
    """A container's event captured with an error declaration (dropped from its fold, so
    not its last event) still reaches what the container holds at its eventTime, whatever
    order the packing was recorded in: the packing recorded after it folds the boxes again
    (found by a 250-example run of batches == one event at a time)."""
    case = "urn:epc:id:sscc:0614141.0000000099"
    wrong = ev("ObjectEvent", 15, epcList=[case], action="OBSERVE", bizStep="holding")
    declared = {
        **wrong,
        "errorDeclaration": {
            "declarationTime": "2026-03-01T16:00:00.000+08:00",
            "reason": "incorrect_data",
        },
    }
    pack = ev("AggregationEvent", 9, parentID=case, childEPCs=[BOX[0]], action="ADD")
    with open_ledger(store_url) as ledger:
        runner = ReadModelRunner(ledger, batch_size=batch_size)
        try:
            capture(ledger, declared)
            capture(ledger, pack)  # recorded after, happened before
            runner.run_until_caught_up()
            check_current_state(runner)
            with runner.connect() as conn:
                row = conn.execute(
                    select(code_state).where(
                        code_state.c.scope == "", code_state.c.code == canonical(BOX[0])
                    )
                ).one()
            assert row.declared
            assert len(history_positions(row.history)) == 2
        finally:
            runner.close()


# -- identifiers: the fast path answers as the parser ---------------------------------------

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@st.composite
def gs1_codes(draw: st.DrawFn) -> str:
    prefix_length = draw(st.integers(6, 12))
    prefix = draw(st.text("0123456789", min_size=prefix_length, max_size=prefix_length))
    kind = draw(st.sampled_from(["sgtin", "sscc", "sgtin-link", "sscc-link", "bad-link"]))
    if kind.startswith("sgtin"):
        item = draw(st.text("0123456789", min_size=13 - prefix_length, max_size=13 - prefix_length))
        serial = draw(st.text(_ALNUM, min_size=1, max_size=21))
        urn = f"urn:epc:id:sgtin:{prefix}.{item}.{serial}"
    else:
        reference = draw(
            st.text("0123456789", min_size=17 - prefix_length, max_size=17 - prefix_length)
        )
        urn = f"urn:epc:id:sscc:{prefix}.{reference}"
    if kind in ("sgtin", "sscc"):
        return urn
    link = slow_facts_of(urn).canonical
    if kind == "bad-link" and link.startswith("https://id.gs1.org/0"):
        digit = 22 + (13 if link[19:21] == "01" else 17)  # the key's check digit
        return link[:digit] + str((int(link[digit]) + 1) % 10) + link[digit + 1 :]
    return link


@given(code=gs1_codes())
def test_the_fast_path_reads_codes_as_the_parser_does(code: str) -> None:
    assert facts_of(code) == slow_facts_of(code)


def test_check_digit() -> None:
    assert check_digit("1061414107346") == "4"
    assert check_digit("10614141234567890") == "8"


def test_a_shared_packing_and_shipping_enters_the_receivers_view(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    """The supplier packs, ships; the hospital captures the supplier's document too (a
    share), then receives: its own state and stock hold the boxes, folded like every view."""
    from ledger.capture import prepare
    from tests.test_projections import pack

    def capture_as(institution: str, *events: dict[str, Any]) -> None:
        body = stream_document(list(events))
        assert ledger.capture(prepare(body, institution=institution)).success
        runner.run_until_caught_up()
        check_current_state(runner)

    supplier = [commission(8), pack(9), ship(10)]
    capture_as("A", *supplier)
    with runner.connect() as conn:
        assert stock(conn, scope="B") == []
    capture_as("B", *supplier)  # the hospital posts the supplier's document: shared
    capture_as("B", receive(11))
    with runner.connect() as conn:
        own = {(r.scope, r.code): r.state for r in conn.execute(select(code_state))}
        assert own[("B", canonical(BOX[0]))] == own[("", canonical(BOX[0]))] == "in_stock"
        assert own[("A", canonical(BOX[0]))] == "in_transit"
        assert stock(conn, scope="B") == stock(conn, scope=None)
    runner.rebuild()  # the shares are followed again from the log
    check_current_state(runner)


def test_the_outbox_runner_leaves_the_shares_to_the_views(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    """Another runner over the log (the outbox's) neither adds the shares again nor clears
    them when it is rebuilt: they are the views'."""
    from ledger.capture import prepare
    from projections.outbox import outbox_runner
    from projections.schema import event_shares

    supplier = [commission(8), ship(10)]
    for institution in ("A", "B"):  # B captures A's document too: a share
        assert ledger.capture(prepare(stream_document(supplier), institution=institution)).success
    runner.run_until_caught_up()

    def shares() -> list[tuple[str, int]]:
        with runner.connect() as conn:
            return sorted(conn.execute(select(event_shares)).tuples())

    kept = shares()
    assert kept
    other = outbox_runner(ledger, [])
    try:
        other.run_until_caught_up()
        assert shares() == kept
        other.rebuild()
        assert shares() == kept
    finally:
        other.close()


# -- record order does not matter: late packing (seed 000 §2.2.6) ---------------------------

_BOXES = 4
_CASES = 2


@st.composite
def packing_streams(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[int]]:
    """Events over boxes 0–3, cases 0–1 and one pallet, each at its own hour and captured
    by institution A or B: scans of any of them, packing boxes into cases and cases onto
    the pallet, unpacking some or all (a DELETE without childEPCs); and a record order (a
    permutation)."""
    hours = draw(st.lists(st.integers(0, 23), min_size=2, max_size=9, unique=True))
    stream = []
    for hour in hours:
        kind = draw(st.sampled_from(["scan", "scan", "pack", "unpack", "unpack_all"]))
        item: dict[str, Any] = {"hour": hour, "kind": kind}
        item["institution"] = draw(st.sampled_from(["A", "B"]))  # who captures it
        if kind == "scan":
            item["codes"] = draw(
                st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3, unique=True)
            )
            item["fields"] = draw(step_fields())
        else:
            parent = draw(st.sampled_from([f"c{n}" for n in range(_CASES)] + ["p"]))
            below = (
                [f"b{n}" for n in range(_BOXES)]
                if parent != "p"
                else [f"c{n}" for n in range(_CASES)]
            )
            item["parent"] = parent
            item["children"] = draw(st.lists(st.sampled_from(below), min_size=1, unique=True))
        stream.append(item)
    return stream, draw(st.permutations(range(len(stream))))


_NAMES = [*(f"b{n}" for n in range(_BOXES)), *(f"c{n}" for n in range(_CASES)), "p"]
_twin_ids = iter(range(10**9))


def _twin_code(twin: str, name: str) -> str:
    if name.startswith("b"):
        return f"urn:epc:id:sgtin:0614141.107346.{twin}{name}"
    number = {"c0": 1, "c1": 2, "p": 3}[name]
    return f"urn:epc:id:sscc:0614141.{int(twin):07d}{number:03d}"


def _twin_event(twin: str, item: dict[str, Any]) -> dict[str, Any]:
    hour = item["hour"]
    if item["kind"] == "scan":
        epcs = [_twin_code(twin, name) for name in item["codes"]]
        return ev("ObjectEvent", hour, epcList=epcs, action="OBSERVE", **item["fields"])
    action = "ADD" if item["kind"] == "pack" else "DELETE"
    fields: dict[str, Any] = {
        "parentID": _twin_code(twin, item["parent"]),
        "action": action,
        "bizStep": "packing" if action == "ADD" else "unpacking",
    }
    if item["kind"] != "unpack_all":
        fields["childEPCs"] = [_twin_code(twin, name) for name in item["children"]]
    return ev("AggregationEvent", hour, **fields)


def _compared(found: Any, names: dict[str, str]) -> tuple[Any, ...] | None:
    """A status without what names the event or its place in the log (the twins' events
    differ in their codes, so in their hashes and positions)."""
    if found is None:
        return None
    return (
        found.state,
        found.hospital_state,
        found.location,
        found.destination,
        found.holder,
        found.order,
        found.product,
        found.lot,
        found.expiry,
        found.last_event_time,
        None if found.parent is None else names[found.parent],
    )


def check_record_order(
    ledger: Ledger, runner: ReadModelRunner, drawn: tuple[list[dict[str, Any]], list[int]]
) -> None:
    """The same events recorded in eventTime order (one twin) and in another order (the
    other twin, packings arriving after events of their cases): every code's status and
    parent, and its history, are the same; the maintained state is the fold throughout,
    and a rebuild gives the incremental rows."""
    stream, order = drawn
    n = next(_twin_ids)
    twins = (str(2 * n), str(2 * n + 1))

    def capture_as(twin: str, item: dict[str, Any]) -> None:
        time.sleep(0.003)  # a later record time than the capture before (as capture does)
        body = document(_twin_event(twin, item))
        assert ledger.capture(prepare(body, institution=item["institution"])).success
        runner.run_once()

    for item in sorted(stream, key=lambda i: i["hour"]):
        capture_as(twins[0], item)
    for index in order:
        capture_as(twins[1], stream[index])
    runner.run_until_caught_up()
    for scope in (None, "A", "B"):  # each institution's view too: late events of the other
        check_scope(runner, scope)
    names = {canonical(_twin_code(t, name)): name for t in twins for name in _NAMES}
    with runner.connect() as conn:
        for name in _NAMES:
            first, second = (_twin_code(t, name) for t in twins)
            now = statuses(conn, [first, second], parents=True)
            assert _compared(now.get(canonical(first)), names) == _compared(
                now.get(canonical(second)), names
            ), name
            history = [
                [(f.event_time, f.biz_step, f.role) for f in effective_facts(conn, [c]).get(c, [])]
                for c in (canonical(first), canonical(second))
            ]
            assert history[0] == history[1], name
    incremental = facts_and_links(runner)
    runner.rebuild()
    assert facts_and_links(runner) == incremental


_HERE = {"id": WAREHOUSE}
_BOX_ON = {"hour": 0, "kind": "scan", "institution": "A", "codes": ["b0"]}
_TWO_INSTITUTIONS = [
    {
        **_BOX_ON,
        "hour": 18,
        "fields": {"bizStep": "commissioning", "bizLocation": {"id": WAREHOUSE}},
    },
    {"hour": 0, "kind": "unpack_all", "institution": "A", "parent": "c0", "children": ["b0"]},
    {"hour": 21, "kind": "pack", "institution": "B", "parent": "c0", "children": ["b0", "b1"]},
    {"hour": 23, "kind": "unpack", "institution": "A", "parent": "c0", "children": ["b3", "b0"]},
    {**_BOX_ON, "hour": 1, "fields": {"bizStep": "commissioning"}},
    {"hour": 2, "kind": "pack", "institution": "A", "parent": "c1", "children": ["b0"]},
    {**_BOX_ON, "hour": 3, "fields": {"bizStep": "commissioning"}},
    {"hour": 4, "kind": "pack", "institution": "A", "parent": "c0", "children": _NAMES[:4]},
]


@pytest.mark.parametrize(
    ("last", "order"),
    [
        # A packs b2 into c1 at 19, recorded after B's packing of c0 at 21 passed B's event
        # on to b2 (still in c0 then, as far as was known): B's row of b2 loses it
        (
            {
                "hour": 19,
                "kind": "pack",
                "institution": "A",
                "parent": "c1",
                "children": _NAMES[:4],
            },
            [0, 6, 3, 7, 4, 1, 2, 8, 5],
        ),
        # B empties c1 at 19: b0, in c0 by then, inherits nothing from it, but its link to
        # c1 (never deleted) was what made c1 its parent: the kept parent goes
        (
            {"hour": 19, "kind": "unpack_all", "institution": "B", "parent": "c1", "children": []},
            [5, 3, 1, 0, 7, 2, 4, 6, 8],
        ),
    ],
)
def test_record_order_with_two_institutions(
    store_url: str, last: dict[str, Any], order: list[int]
) -> None:
    """Two examples a 250-example run of the property below found (institutions' rows
    and kept parents), on both stores."""
    with open_ledger(store_url) as ledger:
        runner = ReadModelRunner(ledger)
        try:
            check_record_order(ledger, runner, ([*_TWO_INSTITUTIONS, last], order))
        finally:
            runner.close()


def test_a_late_packing_into_a_case_of_an_institution_with_no_rows_of_its_own(
    store_url: str,
) -> None:
    """A's box is packed, late, into a case B scanned later: the box inherits B's scan, so
    B's view gets a row of it, though B had no row of its own anywhere (its one code was
    its alone: everyone's row stood for B's)."""
    stream = [
        {**_BOX_ON, "hour": 1, "fields": {"bizStep": "commissioning", "bizLocation": _HERE}},
        {"hour": 5, "kind": "scan", "institution": "B", "codes": ["c0"], "fields": {}},
        {"hour": 3, "kind": "pack", "institution": "A", "parent": "c0", "children": ["b0"]},
    ]
    with open_ledger(store_url) as ledger:
        runner = ReadModelRunner(ledger)
        try:
            for item in stream:  # the packing last: recorded after B's scan of the case
                body = document(_twin_event("0", item))
                assert ledger.capture(prepare(body, institution=item["institution"])).success
                runner.run_once()
            for scope in (None, "A", "B"):
                check_scope(runner, scope)
            with runner.connect() as conn:
                box = canonical(_twin_code("0", "b0"))
                assert box in current_statuses(conn, [box], "B")
        finally:
            runner.close()


(
    test_record_order_does_not_matter_with_late_packing,
    test_record_order_does_not_matter_with_late_packing_on_postgres,
) = wide_and_small(check_record_order, packing_streams())
