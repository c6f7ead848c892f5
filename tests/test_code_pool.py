"""The split-unit code pool through ``POST /scans``: pre-scan, split binds allocated first
expiry first, split returns, and the split-sale rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from ledger.access import Role
from ledger.application import Ledger
from ledger.scan_events import order_uri
from tests.http_support import http_client
from tests.scan_support import box, load_hospital, post_scan

URN = "urn:tracecode:cn-drug:"


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def stored(answer: Any, colour: str = "green") -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    assert body["colour"] == colour, body
    return body


def at_op(client: TestClient, code: str, expires: str) -> None:
    stored(post_scan(client, operation="receive", location="WH", codes=[code], expires=expires))
    stored(post_scan(client, operation="transfer", location="WH", destination="OP", codes=[code]))
    stored(post_scan(client, operation="accept", location="OP", codes=[code]))


def test_split_binds_take_units_first_expiry_first_across_boxes(client: TestClient) -> None:
    late, early = box(1), box(2)  # XB02: boxes of 10
    at_op(client, late, "2099-06-30")
    at_op(client, early, "2099-01-31")
    made = stored(post_scan(client, operation="prescan", location="OP", codes=[late, early]))
    assert len(made["eventIDs"]) == 2
    again = post_scan(client, operation="prescan", location="OP", codes=[late])
    assert again.status_code == 409 and "already_split" in str(again.json()["codes"])
    unit = client.get(f"/codes/{URN}{early}:unit:10").json()
    assert unit["hospitalState"] == "in_stock"

    def split_bind(quantity: int, order: str) -> Any:
        return post_scan(
            client,
            operation="bind",
            location="OP",
            product="XB02",
            quantity=quantity,
            patient="P-1",
            order=order,
        )

    first = stored(split_bind(7, "O1"))
    assert first["allocations"] == [{"code": URN + early, "units": 7}]
    second = stored(split_bind(5, "O2"))  # 3 left in the early box, then the late one
    assert second["allocations"] == [
        {"code": URN + early, "units": 3},
        {"code": URN + late, "units": 2},
    ]
    short = split_bind(9, "O3")  # 8 left
    assert short.status_code == 409
    assert [r["reason"] for r in short.json()["reasons"]] == ["pool_short"]
    back = stored(
        post_scan(
            client,
            operation="unbind",
            location="OP",
            product="XB02",
            quantity=4,
            order="O2",
            patient="P-1",
        )
    )
    assert sum(a["units"] for a in back["allocations"]) == 4
    assert stored(split_bind(12, "O4"))["allocations"][0]["units"] <= 10  # split-sale rule
    refused = post_scan(
        client,
        operation="unbind",
        location="OP",
        product="XB02",
        quantity=1,
        order="O9",
    )
    assert refused.status_code == 409 and refused.json()["reasons"][0]["reason"] == "not_bound"


def test_a_bind_never_reports_more_units_than_its_codes_hold(client: TestClient) -> None:
    code = box(5)
    at_op(client, code, "2099-01-31")
    refused = post_scan(
        client,
        operation="bind",
        location="OP",
        codes=[code],
        quantity=11,
        patient="P",
    )
    assert refused.status_code == 409
    assert [r["reason"] for r in refused.json()["reasons"]] == ["over_box_units"]
    stored(
        post_scan(client, operation="bind", location="OP", codes=[code], quantity=10, patient="P")
    )


def test_split_scans_that_cannot_be_read(client: TestClient) -> None:
    unknown = post_scan(
        client,
        operation="bind",
        location="OP",
        product="NOPE",
        quantity=1,
        patient="P",
    )
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["pointer"] == "/product"
    no_order = post_scan(client, operation="unbind", location="OP", product="XB02", quantity=1)
    assert no_order.status_code == 400 and no_order.json()["errors"][0]["pointer"] == "/order"


def test_the_pool_as_the_read_side_shows_it(client: TestClient) -> None:
    first, second = box(11), box(12)
    at_op(client, first, "2099-03-31")
    at_op(client, second, "2099-01-31")
    stored(post_scan(client, operation="prescan", location="OP", codes=[first, second]))
    then = stored(
        post_scan(
            client,
            operation="bind",
            location="OP",
            product="XB02",
            quantity=12,
            patient="P",
            order="O1",
        )
    )
    assert then["allocations"] == [
        {"code": URN + second, "units": 10},
        {"code": URN + first, "units": 2},
    ]
    reader = client.auth.header(Role.READER)  # type: ignore[union-attr]
    boxes = client.get("/pools", params={"location": "OP", "product": "XB02"}, headers=reader)
    assert boxes.status_code == 200, boxes.text
    shown = [(b["code"], b["units"], b["left"], b["bound"], b["expiry"]) for b in boxes.json()]
    assert shown == [
        (URN + second, 10, 0, 10, "2099-01-31"),
        (URN + first, 10, 8, 2, "2099-03-31"),
    ]
    assert client.get("/pools", params={"location": "WH"}, headers=reader).json() == []


def test_the_split_sale_rule_counts_the_orders_codes_bound_before(client: TestClient) -> None:
    first, second = box(21), box(22)
    at_op(client, first, "2099-01-31")
    at_op(client, second, "2099-01-31")

    def bind(code: str, quantity: int) -> Any:
        return post_scan(
            client,
            operation="bind",
            location="OP",
            codes=[code],
            quantity=quantity,
            patient="P",
            order="O-21",
        )

    stored(bind(first, 10))
    refused = bind(second, 21)  # two boxes of 10 cannot carry 21 units
    assert refused.status_code == 409
    assert [r["reason"] for r in refused.json()["reasons"]] == ["over_box_units"]
    stored(bind(second, 20))


def test_the_pool_names_the_units_bound_per_order(client: TestClient) -> None:
    """``boundToOrder``: the units of each box bound per order (the bind's order
    bizTransaction), after a split return by order too, and as of before it."""
    first, second = box(31), box(32)
    at_op(client, first, "2099-01-31")
    at_op(client, second, "2099-02-28")
    stored(post_scan(client, operation="prescan", location="OP", codes=[first, second]))

    def split(operation: str, quantity: int, order: str, patient: str) -> dict[str, Any]:
        return stored(
            post_scan(
                client,
                operation=operation,
                location="OP",
                product="XB02",
                quantity=quantity,
                patient=patient,
                order=order,
            )
        )

    split("bind", 8, "O-31", "P-1")
    split("bind", 4, "O-32", "P-1")  # 2 from the first box, 2 from the second
    bound = split("bind", 3, "O-33", "P-2")
    reader = client.auth.header(Role.READER)
    event = client.get(f"/events/{quote(bound['eventIDs'][0], safe='')}", headers=reader)
    assert event.status_code == 200, event.text
    body = event.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]
    before_return = body["recordTime"]
    split("unbind", 3, "O-32", "P-1")  # the order's last units first: 2 of the second box, 1

    def pools(**as_of: str) -> list[tuple[int, int, dict[str, int], dict[str, int]]]:
        params = {"location": "OP", "product": "XB02", **as_of}
        answer = client.get("/pools", params=params, headers=reader)
        assert answer.status_code == 200, answer.text
        return [(b["left"], b["bound"], b["boundTo"], b["boundToOrder"]) for b in answer.json()]

    o31, o32, o33 = (order_uri("H1", order) for order in ("O-31", "O-32", "O-33"))
    p1, p2 = pseudonym_of(client, first, 1), pseudonym_of(client, second, 3)
    assert pools() == [
        (1, 9, {p1: 9}, {o31: 8, o32: 1}),
        (7, 3, {p2: 3}, {o33: 3}),
    ]
    assert pools(as_of=before_return) == [
        (0, 10, {p1: 10}, {o31: 8, o32: 2}),
        (5, 5, {p1: 2, p2: 3}, {o32: 2, o33: 3}),
    ]
    unit = client.get(f"/codes/{URN}{first}:unit:1", headers=reader).json()
    assert unit["order"] == o31


def pseudonym_of(client: TestClient, box_code: str, unit: int) -> str:
    """The patient pseudonym a bound unit's status names."""
    reader = client.auth.header(Role.READER)
    holder: str = client.get(f"/codes/{URN}{box_code}:unit:{unit}", headers=reader).json()["holder"]
    return holder
