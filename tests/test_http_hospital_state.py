"""A code's hospital state through HTTP (``GET /codes/{code}`` ``hospitalState``, the
recall trail), after each step of a hospital journey and as of earlier record times; on
both stores (the ``api`` fixture).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from epcis.identifiers.facts import canonical
from ledger.lifecycle import ADMINISTERING, CONSUMED, LENDING
from tests.supply_chain import dispensing, ev, observation, receiving, shipping, unpacking
from tests.test_http_capture import Api
from tests.test_http_reads import capture, code_url, get

A, B, C = (f"urn:epc:id:sgtin:0614141.107346.{n}" for n in (101, 102, 103))
CASE = "urn:epc:id:sscc:0614141.1234567899"
SUPPLIER = "urn:epc:id:sgln:0614141.00009.0"
WAREHOUSE = "urn:epc:id:sgln:0614141.00001.0"
PHARMACY = "urn:epc:id:sgln:0614141.00002.0"
PATIENT = "pseudonym:7f3a"


def delivery_note(hour: int) -> dict[str, Any]:
    """The supplier's electronic delivery note: the case and its boxes, in transit."""
    return ev(
        "AggregationEvent",
        hour,
        parentID=CASE,
        childEPCs=[A, B, C],
        action="ADD",
        bizStep="packing",
        disposition="in_transit",
        bizLocation={"id": SUPPLIER},
    )


def step(hour: int, codes: list[str], biz_step: str, disposition: str | None) -> dict[str, Any]:
    """An OBSERVE of ``codes`` at the pharmacy (no disposition when None)."""
    said = {"disposition": disposition} if disposition else {}
    return ev(
        "ObjectEvent",
        hour,
        epcList=codes,
        action="OBSERVE",
        bizStep=biz_step,
        bizLocation={"id": PHARMACY},
        **said,
    )


# (event, the code to read, its hospitalState after the event)
JOURNEY: list[tuple[dict[str, Any], str, str]] = [
    (delivery_note(1), A, "not_received"),
    (shipping(2, [CASE], SUPPLIER, WAREHOUSE), A, "not_received"),
    (observation(3, [CASE], "receiving", "sellable_not_accessible", WAREHOUSE), A, "in_stock"),
    (unpacking(4, CASE, [A, B, C], WAREHOUSE), C, "in_stock"),
    (shipping(5, [A, B], WAREHOUSE, PHARMACY), A, "in_transit"),
    (receiving(6, [A, B], PHARMACY), A, "in_stock"),
    (step(7, [A], "picking", None), A, "in_stock"),
    (dispensing(8, [A], PHARMACY, PATIENT), A, "bound"),
    (step(9, [A], "receiving", "returned"), A, "in_stock"),
    (dispensing(10, [A], PHARMACY, PATIENT), A, "bound"),
    (step(11, [A], ADMINISTERING, CONSUMED), A, "consumed"),
    (step(12, [B], LENDING, "reserved"), B, "lent"),
    (receiving(13, [B], PHARMACY), B, "in_stock"),
    (step(14, [B], "holding", "damaged"), B, "frozen"),
    (step(15, [B], "shipping", "returned"), B, "exited"),
    (observation(16, [C], "holding", "recalled", WAREHOUSE), C, "recalled"),
    (
        ev("ObjectEvent", 17, epcList=[C], action="DELETE", bizStep="destroying",
           disposition="destroyed", bizLocation={"id": WAREHOUSE}),
        C,
        "destroyed",
    ),
]  # fmt: skip


def test_the_hospital_state_after_each_step_and_as_of(api: Api) -> None:
    recorded: list[str] = []
    for event, code, expected in JOURNEY:
        recorded.append(capture(api, event)[1])
        status = get(api, code_url(code))
        assert status["hospitalState"] == expected, (event, status)
    for n, (_, code, expected) in enumerate(JOURNEY):
        then = get(api, code_url(code), as_of=recorded[n])
        assert then["hospitalState"] == expected, n

    now = get(api, code_url(A))
    assert (now["state"], now["hospitalState"]) == ("consumed", "consumed")
    assert list(now)[:3] == ["code", "state", "hospitalState"]  # beside the EPCIS state
    in_transit = get(api, code_url(A), as_of=recorded[4])
    assert (in_transit["state"], in_transit["destination"]) == ("in_transit", canonical(PHARMACY))
    shipped_to_us = get(api, code_url(A), as_of=recorded[1])
    assert (shipped_to_us["state"], shipped_to_us["hospitalState"]) == (
        "in_transit",
        "not_received",
    )

    for n, expected in ((1, "not_received"), (2, "in_stock")):  # the case and its boxes
        lines = get(api, "/trails", code=CASE, as_of=recorded[n])
        assert [line["code"] for line in lines] == sorted(map(canonical, (CASE, A, B, C)))
        assert {line["hospitalState"] for line in lines} == {expected}
    (line,) = get(api, "/trails", code=B)
    assert line["hospitalState"] == "exited"
    response = api.client.get("/trails", params={"code": C, "format": "csv"})
    assert response.status_code == 200, response.text
    (row,) = csv.DictReader(io.StringIO(response.text))
    assert row["hospitalState"] == "destroyed"


def test_a_code_only_counted_was_never_received(api: Api) -> None:
    capture(api, step(1, [A], "cycle_counting", None))
    status = get(api, code_url(A))
    assert (status["state"], status["hospitalState"]) == (None, "not_received")
