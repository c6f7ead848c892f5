"""Read projections over the code facts: stock per location × product × lot, recall trail.

The DOMAIN scenario on both stores (``store_url``): commission a lot of boxes, pack them in
a case, ship it, receive it at a pharmacy, unpack, dispense some, recall the lot.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from epcis.identifiers.facts import canonical
from ledger.application import Ledger
from ledger.settings import store_settings
from projections.recall_trail import CSV_HEADER, TrailLine, trail, trail_csv
from projections.runner import ReadModelRunner
from projections.stock import StockLine, stock
from tests.supply_chain import (
    commissioning,
    dispensing,
    observation,
    packing,
    receiving,
    shipping,
    unpacking,
)
from tests.test_projections import capture

GTIN = "10614141073464"
BOXES = [f"urn:epc:id:sgtin:0614141.107346.{n}" for n in (11, 12, 13, 14)]
OTHER = "urn:epc:id:sgtin:0614141.107346.99"  # lot L2, stays at the warehouse
CASE = "urn:epc:id:sscc:0614141.1234567891"
WAREHOUSE = canonical("urn:epc:id:sgln:0614141.00001.0")
PHARMACY = canonical("urn:epc:id:sgln:0614141.00002.0")
PATIENTS = ["pseudonym:aa01", "pseudonym:bb02"]
TODAY = date(2026, 3, 2)  # the day stock is asked on: the lots expire in 2028


@pytest.fixture
def runner(store_url: str) -> Iterator[tuple[Ledger, ReadModelRunner]]:
    ledger = Ledger(store_settings(store_url))
    projection = ReadModelRunner(ledger, batch_size=4)
    try:
        yield ledger, projection
    finally:
        projection.close()
        ledger.close()


def commission(hour: int, epcs: list[str], lot: str) -> dict[str, Any]:
    return commissioning(
        hour,
        epcs,
        WAREHOUSE,
        ilmd={"cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": "2028-01-31"},
    )


def scenario() -> list[dict[str, Any]]:
    """The steps, one capture each (the last two dispense to two patients)."""
    return [
        commission(8, BOXES, "L1"),
        packing(9, CASE, BOXES, WAREHOUSE),
        shipping(10, [CASE], WAREHOUSE, PHARMACY),
        receiving(11, [CASE], PHARMACY),
        unpacking(12, CASE, BOXES, PHARMACY),
        *(dispensing(13 + n, [BOXES[n]], PHARMACY, PATIENTS[n]) for n in (0, 1)),
        # the recall: the boxes still on the shelf, and the lot as a (lot-level) class
        observation(
            16,
            BOXES[2:],
            "holding",
            "recalled",
            PHARMACY,
            quantityList=[{"epcClass": "urn:epc:class:lgtin:0614141.107346.L1", "quantity": 4}],
        ),
    ]


def line(
    location: str | None,
    lot: str | None = "L1",
    *,
    in_stock: int = 0,
    in_transit: int = 0,
    bound: int = 0,
    lent_out: int = 0,
    expired: int = 0,
    product: str = GTIN,
    **held: int,
) -> StockLine:
    """A stock line: ``in_stock`` of which ``expired``; ``held``: the other states on hand
    (recalled, frozen, returned)."""
    by_state = {
        "sellable": in_stock - expired,
        "expired": expired,
        "recalled": 0,
        "frozen": 0,
        "returned": 0,
    }
    assert set(held) <= set(by_state), held
    by_state.update(held)
    return StockLine(
        location=location,
        product=product,
        lot=lot,
        in_stock=in_stock,
        in_transit=in_transit,
        bound=bound,
        on_hand=sum(by_state.values()),
        lent_out=lent_out,
        by_state=by_state,
    )


def test_stock_and_recall_trail_through_the_scenario(
    runner: tuple[Ledger, ReadModelRunner],
) -> None:
    ledger, projection = runner
    (other,) = capture(ledger, commission(7, [OTHER], "L2"))
    l2 = line(WAREHOUSE, "L2", in_stock=1)
    recorded: list[str] = []
    hashes: list[str] = []
    seen: list[list[StockLine]] = []
    for event in scenario():
        (stored,) = capture(ledger, event)
        recorded.append(stored.record_time)
        hashes.append(stored.hash_id)
        projection.run_until_caught_up()
        with projection.connect() as conn:
            seen.append(stock(conn, today=TODAY))

    committed, packed, shipped, received, unpacked, first, second, recalled = seen
    assert committed == [line(WAREHOUSE, in_stock=4), l2]
    assert packed == committed  # the case (no product) is not stock
    # sorted by location: the warehouse's GLN sorts before the pharmacy's
    assert shipped == [l2, line(PHARMACY, in_transit=4)]  # counted at the destination
    assert received == [l2, line(PHARMACY, in_stock=4)]
    assert unpacked == received
    assert first == [l2, line(PHARMACY, in_stock=3, bound=1)]
    assert second == [l2, line(PHARMACY, in_stock=2, bound=2)]
    # recalled boxes are not sellable stock but still on hand; the lot-level class fact
    # is not counted at all
    assert recalled == [l2, line(PHARMACY, bound=2, recalled=2)]

    with projection.connect() as conn:
        assert stock(conn, location=WAREHOUSE, today=TODAY) == [l2]
        assert stock(conn, location=PHARMACY, today=TODAY) == [line(PHARMACY, bound=2, recalled=2)]
        # as of an earlier record time: the earlier stock
        assert stock(conn, as_of=recorded[0]) == committed
        assert stock(conn, as_of=recorded[2]) == shipped
        assert stock(conn, as_of=recorded[2], location=WAREHOUSE) == [l2]
        assert stock(conn, as_of=other.record_time) == [l2]
        assert stock(conn, as_of="2000-01-01T00:00:00Z") == []

        lines = trail(conn, product=GTIN, lot="L1")
        then = trail(conn, product=GTIN, lot="L1", as_of=recorded[2])
        of_case = trail(conn, code=CASE, as_of=recorded[2])
        of_case_now = trail(conn, code=CASE)
        csv_text = trail_csv(lines)

    by_code = {t.code: t for t in lines}
    assert sorted(by_code) == sorted(canonical(b) for b in BOXES)
    for n, box in enumerate(BOXES):
        t = by_code[canonical(box)]
        assert (t.product, t.lot, t.location, t.via) == (GTIN, "L1", PHARMACY, None)
        assert t.events == (*hashes[:5], hashes[5 + n] if n < 2 else hashes[7])
        if n < 2:
            assert (t.state, t.holder) == ("dispensed", PATIENTS[n])
        else:
            assert (t.state, t.holder) == ("recalled", None)

    assert [(t.state, t.location, t.destination, t.parent) for t in then] == [
        ("in_transit", None, PHARMACY, canonical(CASE))
    ] * 4
    assert all(t.events == tuple(hashes[:3]) for t in then)

    assert [t.code for t in of_case] == sorted([canonical(CASE), *map(canonical, BOXES)])
    assert {t.via for t in of_case if t.code != canonical(CASE)} == {canonical(CASE)}
    assert [t.code for t in of_case_now] == [canonical(CASE)]  # unpacked since

    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0] == list(CSV_HEADER)
    assert len(rows) == 1 + len(BOXES)
    table = {row[0]: dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]}
    assert table[canonical(BOXES[0])]["holder"] == PATIENTS[0]
    assert table[canonical(BOXES[0])]["state"] == "dispensed"
    assert table[canonical(BOXES[3])]["location"] == PHARMACY
    assert table[canonical(BOXES[3])]["events"].split() == [*hashes[:5], hashes[7]]


def test_trail_needs_a_code_or_a_product(runner: tuple[Ledger, ReadModelRunner]) -> None:
    _, projection = runner
    with projection.connect() as conn, pytest.raises(ValueError):
        trail(conn)
    assert trail_csv([]) == ",".join(CSV_HEADER) + "\n"
    line = TrailLine(*[None] * (len(TrailLine._fields) - 1), events=())
    assert set(line.row()) == set(CSV_HEADER)
