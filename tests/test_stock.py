"""Stock counts what is on hand (issue 14): every code physically at a place, by state —
sellable, expired, recalled, frozen, returned — beside what is in transit to it, bound
there and lent out from it; the maintained lines (``view_stock``) and the fold "as of"
answer the same. On both stores (the ``ledger`` fixture)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters.cli import main
from epcis.identifiers.facts import canonical
from ledger.application import Ledger
from ledger.lifecycle import LENDING
from projections.runner import ReadModelRunner
from projections.stock import StockLine, stock, stock_by_folding
from tests.ledger_contract import document
from tests.supply_chain import commissioning, dispensing, observation, receiving, shipping
from tests.test_http_capture import Api
from tests.test_projections import capture
from tests.test_projections_read import GTIN, PHARMACY, WAREHOUSE, line

EVERYTHING = "9999-12-31T23:59:59Z"
EXPIRES = "2026-06-30"
BEFORE, ON, AFTER = date(2026, 3, 2), date(2026, 6, 30), date(2026, 7, 1)


def boxes(first: int, count: int) -> list[str]:
    return [f"urn:epc:id:sgtin:0614141.107346.{n}" for n in range(first, first + count)]


def commission(hour: int, epcs: list[str], lot: str = "L1") -> dict[str, Any]:
    return commissioning(
        hour, epcs, WAREHOUSE, ilmd={"cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": EXPIRES}
    )


def at_pharmacy(epcs: list[str]) -> list[dict[str, Any]]:
    """Made at the warehouse, shipped to the pharmacy, received there."""
    return [
        commission(8, epcs),
        shipping(9, epcs, WAREHOUSE, PHARMACY),
        receiving(10, epcs, PHARMACY),
    ]


def recall(hour: int, epcs: list[str]) -> dict[str, Any]:
    return observation(hour, epcs, "holding", "recalled", None)


def answer(
    ledger: Ledger, runner: ReadModelRunner, events: list[dict[str, Any]], today: date = BEFORE
) -> list[StockLine]:
    """Stock after ``events``: the maintained lines, checked equal to the fold of every
    fact (``as_of`` after everything) and to one place's lines, each."""
    for event in events:
        capture(ledger, event)
    runner.run_until_caught_up()
    with runner.connect() as conn:
        now = stock(conn, today=today)
        assert now == stock_by_folding(conn, as_of=EVERYTHING, today=today)
        for found in now:
            assert found.location is not None
            assert stock(conn, location=found.location, today=today) == [
                s for s in now if s.location == found.location
            ]
    return now


def test_a_pharmacy_holding_recalled_boxes_has_them_on_hand(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    """The issue's example: 20 boxes at a pharmacy, 7 dispensed, the 13 left recalled. They
    are not sellable (``in_stock`` 0) but on its shelf waiting to go back (``on_hand`` 13,
    recalled); the 7 stay bound."""
    shelf = boxes(100, 20)
    events = at_pharmacy(shelf)
    events += [
        dispensing(11, [code], PHARMACY, f"pseudonym:p{n}") for n, code in enumerate(shelf[:7])
    ]
    events.append(recall(12, shelf[7:]))
    assert answer(ledger, runner, events) == [line(PHARMACY, bound=7, recalled=13)]
    # the lot recalled as a scan recalls it, every live code named, the bound ones too: they
    # are with their patients (still bound), not back on the shelf
    assert answer(ledger, runner, [recall(13, shelf)]) == [line(PHARMACY, bound=7, recalled=13)]


def test_frozen_damaged_returned_lent_and_gone(ledger: Ledger, runner: ReadModelRunner) -> None:
    shelf = boxes(200, 10)
    frozen, damaged, thawed, bound, back, broken, lent, lent_back, gone, exited = shelf
    events = at_pharmacy(shelf)
    events += [
        observation(11, [frozen, thawed], "holding", "non_sellable_other", PHARMACY),
        observation(11, [damaged], "holding", "damaged", PHARMACY),
        observation(12, [thawed], "inspecting", "sellable_accessible", PHARMACY),
        dispensing(11, [bound, back, broken], PHARMACY, "pseudonym:p1"),
        observation(12, [back], "receiving", "returned", PHARMACY),  # a patient's return
        observation(12, [broken], "receiving", "damaged", PHARMACY),  # returned damaged
        observation(11, [lent, lent_back], LENDING, "reserved", PHARMACY),
        observation(12, [lent_back], "receiving", "sellable_accessible", PHARMACY),
        {**observation(12, [gone], "destroying", "destroyed", PHARMACY), "action": "DELETE"},
        observation(12, [exited], "shipping", "returned", None, readPoint={"id": PHARMACY}),
    ]
    assert answer(ledger, runner, events) == [
        line(PHARMACY, in_stock=2, bound=1, lent_out=1, frozen=3, returned=1)
    ]


def test_expired_is_judged_on_the_day_asked(ledger: Ledger, runner: ReadModelRunner) -> None:
    """In stock past its expiry date: on hand as expired, still counted ``in_stock``; held
    codes stay as they are held."""
    shelf = boxes(300, 3)
    events = [*at_pharmacy(shelf), recall(11, shelf[:1])]
    assert answer(ledger, runner, events, BEFORE) == [line(PHARMACY, in_stock=2, recalled=1)]
    assert answer(ledger, runner, [], ON) == [line(PHARMACY, in_stock=2, recalled=1)]
    expired = [line(PHARMACY, in_stock=2, expired=2, recalled=1)]
    assert answer(ledger, runner, [], AFTER) == expired
    with runner.connect() as conn:  # as of a time: judged on that day unless told
        assert stock(conn, as_of=EVERYTHING) == expired
        assert stock(conn, as_of=EVERYTHING, today=ON) == answer(ledger, runner, [], ON)


def test_a_recalled_box_sent_back_stays_recalled_at_the_warehouse(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    shelf = boxes(400, 2)
    recalled, frozen = shelf
    events = [
        *at_pharmacy(shelf),
        recall(11, [recalled]),
        observation(11, [frozen], "holding", "damaged", PHARMACY),
        shipping(12, shelf, PHARMACY, WAREHOUSE),
    ]
    # in transit: counted at the warehouse, where they are going
    assert answer(ledger, runner, events) == [line(WAREHOUSE, in_transit=2)]
    received = [receiving(13, shelf, WAREHOUSE)]
    assert answer(ledger, runner, received) == [line(WAREHOUSE, recalled=1, frozen=1)]
    unfrozen = [observation(14, shelf, "inspecting", "sellable_accessible", WAREHOUSE)]
    assert answer(ledger, runner, unfrozen) == [line(WAREHOUSE, in_stock=1, recalled=1)]


def test_stock_over_http_and_the_cli_carries_every_figure(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shelf = boxes(500, 4)
    events = [*at_pharmacy(shelf), recall(11, shelf[:1]), dispensing(11, shelf[1:2], PHARMACY, "p")]
    accepted = api.post(document(*events))
    assert accepted.status_code == 202, accepted.text
    expected = {
        "location": PHARMACY,
        "product": GTIN,
        "lot": "L1",
        "in_stock": 2,
        "in_transit": 0,
        "bound": 1,
        "on_hand": 3,
        "lent_out": 0,
        "by_state": {"sellable": 0, "expired": 2, "recalled": 1, "frozen": 0, "returned": 0},
    }
    # the boxes expired on 30 June 2026: the day now is later
    response = api.client.get("/stock", params={"location": PHARMACY})
    assert response.status_code == 200, response.text
    assert response.json() == [expected]
    then = api.client.get("/stock", params={"as_of": "2026-06-01T00:00:00Z"})
    assert then.status_code == 200 and then.json() == []  # recorded later than that

    monkeypatch.setenv("TRACECODE_DATABASE_URL", api.ledger.settings.url)
    result = CliRunner().invoke(main, ["stock", "--location", PHARMACY])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [expected]
    result = CliRunner().invoke(main, ["stock", "--location", canonical(WAREHOUSE)])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    result = CliRunner().invoke(main, ["stock", "--as-of", "yesterday"])
    assert result.exit_code == 2 and "--as-of" in result.stderr
