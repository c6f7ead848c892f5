"""The read routes (``/codes``, ``/stock``, ``/trails``) on both stores.

The scenario of :mod:`tests.test_projections_read` is captured through ``POST /capture``,
one document per step; every read comes right after a 202 and must see it (the routes
catch the projection up before answering).
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import quote

import pytest

from epcis.identifiers.facts import canonical
from projections.recall_trail import CSV_HEADER
from tests.ledger_contract import document
from tests.test_http_capture import Api, assert_problem
from tests.test_projections_read import (
    BOXES,
    CASE,
    GTIN,
    PATIENTS,
    PHARMACY,
    WAREHOUSE,
    commission,
    scenario,
)

VALIDATION = "epcisException:ValidationException"
NO_SUCH_NAME = "epcisException:NoSuchNameException"


def code_url(code: str, tail: str = "") -> str:
    return "/codes/" + quote(code, safe="") + tail


def capture(api: Api, event: dict[str, Any]) -> tuple[str, str]:
    """Capture one event; its Event Hash ID and record time."""
    response = api.post(document(event))
    assert response.status_code == 202, response.text
    (outcome,) = api.job(response)["outcomes"]
    stored = api.ledger.get_event(outcome["hashID"])
    assert stored is not None
    return stored.hash_id, stored.record_time


def get(api: Api, url: str, **params: str) -> Any:
    response = api.client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_reads_follow_the_captures(api: Api) -> None:
    hashes: list[str] = []
    recorded: list[str] = []
    box = BOXES[0]
    for n, event in enumerate(scenario()):
        hash_id, record_time = capture(api, event)
        hashes.append(hash_id)
        recorded.append(record_time)
        if n == 1:  # packed: read right after the 202
            status = get(api, code_url(box))
            assert status["parent"] == canonical(CASE)
            tree = get(api, code_url(CASE, "/hierarchy"))
            assert tree["children"] == sorted(canonical(b) for b in BOXES)
            assert tree["parent"] is None
        if n == 2:  # shipped
            lines = get(api, "/stock")
            assert lines == [
                {
                    "location": PHARMACY,
                    "product": GTIN,
                    "lot": "L1",
                    "in_stock": 0,
                    "in_transit": 4,
                    "bound": 0,
                    "on_hand": 0,
                    "lent_out": 0,
                    "by_state": {
                        "sellable": 0,
                        "expired": 0,
                        "recalled": 0,
                        "frozen": 0,
                        "returned": 0,
                    },
                }
            ]

    status = get(api, code_url(box))
    assert status["code"] == canonical(box)
    assert (status["state"], status["holder"]) == ("dispensed", PATIENTS[0])
    assert (status["product"], status["lot"], status["location"]) == (GTIN, "L1", PHARMACY)
    assert status["parent"] is None
    assert status["history"] == [*hashes[:5], hashes[5]]
    assert status["last_event"] == hashes[5]

    # any identifier form: the GS1 Digital Link URI of the same box
    link = get(api, code_url("https://id.gs1.org/01/10614141073464/21/11"))
    assert link["code"] == status["code"]

    then = get(api, code_url(box), as_of=recorded[2])
    assert (then["state"], then["location"], then["destination"]) == (
        "in_transit",
        None,
        PHARMACY,
    )
    assert then["parent"] == canonical(CASE)
    assert then["history"] == hashes[:3]

    assert get(api, code_url(box, "/hierarchy"))["parent"] is None
    assert get(api, code_url(CASE, "/hierarchy"))["children"] == []
    packed = get(api, code_url(CASE, "/hierarchy"), as_of=recorded[1])
    assert packed["children"] == sorted(canonical(b) for b in BOXES)
    assert get(api, code_url(box, "/hierarchy"), as_of=recorded[1])["parent"] == canonical(CASE)

    stock = get(api, "/stock")
    assert [(s["location"], s["in_stock"], s["bound"]) for s in stock] == [(PHARMACY, 0, 2)]
    # the two recalled boxes are still on the pharmacy's shelf
    assert (stock[0]["on_hand"], stock[0]["by_state"]["recalled"]) == (2, 2)
    assert get(api, "/stock", location=WAREHOUSE) == []
    assert get(api, "/stock", location=WAREHOUSE, as_of=recorded[0])[0]["in_stock"] == 4
    assert get(api, "/stock", as_of="2000-01-01T00:00:00Z") == []

    lines = get(api, "/trails", product=GTIN, lot="L1")
    assert [line["code"] for line in lines] == sorted(canonical(b) for b in BOXES)
    assert lines[0]["events"] == status["history"]
    of_case = get(api, "/trails", code=CASE, as_of=recorded[2])
    assert {line["code"] for line in of_case} == {canonical(CASE), *map(canonical, BOXES)}

    for response in (
        api.client.get(
            "/trails", params={"product": GTIN, "lot": "L1"}, headers={"Accept": "text/csv"}
        ),
        api.client.get("/trails", params={"product": GTIN, "lot": "L1", "format": "csv"}),
    ):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == list(CSV_HEADER)
        assert len(rows) == 1 + len(BOXES)
        table = {row[0]: dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]}
        assert table[canonical(box)]["events"].split() == status["history"]


def test_read_errors(api: Api) -> None:
    capture(api, scenario()[0])
    box = BOXES[0]
    for url in (code_url(box), code_url(box, "/hierarchy"), "/stock"):
        body = assert_problem(api.client.get(url, params={"as_of": "yesterday"}), 400, VALIDATION)
        assert "as_of" in body["detail"]
        assert body["errors"][0]["query"] == "as_of"
    for params in ({}, {"product": GTIN}, {"lot": "L1"}, {"code": box, "product": GTIN}):
        assert_problem(api.client.get("/trails", params=params), 400, VALIDATION)
    assert_problem(
        api.client.get("/trails", params={"code": box, "format": "xml"}), 400, VALIDATION
    )
    unknown = "urn:epc:id:sgtin:0614141.107346.404"
    assert_problem(api.client.get(code_url(unknown)), 404, NO_SUCH_NAME)
    assert_problem(api.client.get(code_url(unknown, "/hierarchy")), 404, NO_SUCH_NAME)
    # before it was recorded, the box is unknown too
    assert_problem(
        api.client.get(code_url(box), params={"as_of": "2000-01-01T00:00:00Z"}), 404, NO_SUCH_NAME
    )


def test_openapi_says_reads_see_the_writes(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/codes/{code}", "/codes/{code}/hierarchy", "/stock", "/trails"):
        assert "Read your writes" in paths[path]["get"]["description"]


# --- a value that cannot be a code is 400; a code nothing touched is 404 (issue 9) --------

BAD_GTIN_LINK = "https://id.gs1.org/01/09521234000012/21/1"  # check digit 3, not 2
CANNOT_BE_CODES = [
    ("garbage", "unrecognised identifier 'garbage'"),
    ("urn:epc:id:sgtin:952123.4.1", "company prefix + reference must be 13 digits"),
    (BAD_GTIN_LINK, "bad GTIN check digit at position 14 of '09521234000012': expected 3"),
    ("8123456789012345678", "19 digits where 20 are needed"),
]


@pytest.mark.parametrize(("value", "says"), CANNOT_BE_CODES)
def test_a_value_that_cannot_be_a_code_is_400_naming_why(api: Api, value: str, says: str) -> None:
    capture(api, scenario()[0])
    for url in (code_url(value), code_url(value, "/hierarchy")):
        body = assert_problem(api.client.get(url), 400, VALIDATION)
        assert says in body["detail"]
        [error] = body["errors"]
        assert error["path"] == "code" and says in error["message"]
    body = assert_problem(api.client.get("/trails", params={"code": value}), 400, VALIDATION)
    [error] = body["errors"]
    assert error["query"] == "code" and says in error["message"]


@pytest.mark.parametrize(
    "value",
    [
        "urn:epc:id:sgtin:0614141.107346.404",  # a well-formed code
        "https://id.gs1.org/01/09521234000013/21/1",
        "urn:example:item:1",  # private identifiers are codes too: capture accepts them
        "https://example.com/item/1",
    ],
)
def test_a_code_nothing_touched_is_404(api: Api, value: str) -> None:
    capture(api, scenario()[0])
    assert_problem(api.client.get(code_url(value)), 404, NO_SUCH_NAME)
    assert_problem(api.client.get(code_url(value, "/hierarchy")), 404, NO_SUCH_NAME)
    body = assert_problem(api.client.get("/trails", params={"code": value}), 404, NO_SUCH_NAME)
    assert "nothing is recorded about code" in body["detail"]
    csv_form = api.client.get("/trails", params={"code": value, "format": "csv"})
    assert_problem(csv_form, 404, NO_SUCH_NAME)


GTIN13_ITEMS = [f"urn:epc:id:sgtin:9521234.054321.{n}" for n in (1, 2)]  # GTIN 09521234543213


@pytest.mark.parametrize(
    "product",
    [
        "09521234543213",
        "9521234543213",  # GTIN-13
        " 9521234543213 ",
        "https://id.gs1.org/01/09521234543213",
        "(01)09521234543213",
        "urn:epc:idpat:sgtin:9521234.054321.*",
    ],
)
def test_trails_take_the_product_in_any_gtin_form(api: Api, product: str) -> None:
    capture(api, commission(8, GTIN13_ITEMS, "L7"))
    lines = get(api, "/trails", product=product, lot="L7")
    assert [line["code"] for line in lines] == sorted(canonical(c) for c in GTIN13_ITEMS)
    assert {line["product"] for line in lines} == {"09521234543213"}


def test_trails_of_a_gtin12_and_a_gtin8(api: Api) -> None:
    upc = "urn:epc:id:sgtin:0614141.012345.1"  # GTIN-14 00614141123452: UPC-A 614141123452
    ean8 = "urn:epc:id:sgtin:000009.0521234.1"  # GTIN-14 00000095212340: EAN-8 95212340
    capture(api, commission(8, [upc], "U1"))
    capture(api, commission(9, [ean8], "E1"))
    assert [line["code"] for line in get(api, "/trails", product="614141123452", lot="U1")] == [
        canonical(upc)
    ]
    assert [line["code"] for line in get(api, "/trails", product="95212340", lot="E1")] == [
        canonical(ean8)
    ]


@pytest.mark.parametrize(
    ("product", "says"),
    [
        ("9521234543210", "not a GTIN-13: bad GTIN check digit"),
        ("09521234543210", "not a GTIN-14: bad GTIN check digit"),
        ("123", "3 digits: a GTIN has 8, 12, 13 or 14 digits"),
        ("abc", "unrecognised identifier 'abc'"),
        ("https://id.gs1.org/01/09521234543213/21/1", "names one item, not a product"),
    ],
)
def test_trails_refuse_a_malformed_product_naming_it(api: Api, product: str, says: str) -> None:
    capture(api, commission(8, GTIN13_ITEMS, "L7"))
    response = api.client.get("/trails", params={"product": product, "lot": "L7"})
    body = assert_problem(response, 400, VALIDATION)
    assert "product" in body["detail"] and says in body["detail"]
    [error] = body["errors"]
    assert error["query"] == "product" and says in error["message"]


def test_trails_of_an_unknown_lot_are_404_in_json_and_csv(api: Api) -> None:
    capture(api, scenario()[0])
    for params in (
        {"product": GTIN, "lot": "NO-SUCH-LOT"},
        {"product": GTIN, "lot": "NO-SUCH-LOT", "format": "csv"},
        {"product": "09521234543213", "lot": "L1"},  # a product nothing touched
        {"product": GTIN, "lot": "L1", "as_of": "2000-01-01T00:00:00Z"},
    ):
        body = assert_problem(api.client.get("/trails", params=params), 404, NO_SUCH_NAME)
        assert "no event touched a code of product" in body["detail"]
    assert get(api, "/trails", product=GTIN, lot="L1") != []
