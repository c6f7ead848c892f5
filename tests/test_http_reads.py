"""The read routes (``/codes``, ``/stock``, ``/trails``) on both stores.

The scenario of :mod:`tests.test_projections_read` is captured through ``POST /capture``,
one document per step; every read comes right after a 202 and must see it (the routes
catch the projection up before answering).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from projections.recall_trail import CSV_HEADER
from projections.schema import canonical
from tests.ledger_contract import document
from tests.test_http_capture import Api, assert_problem, open_api
from tests.test_projections_read import (
    BOXES,
    CASE,
    GTIN,
    PATIENTS,
    PHARMACY,
    WAREHOUSE,
    scenario,
)

VALIDATION = "epcisException:ValidationException"
NO_SUCH_NAME = "epcisException:NoSuchNameException"


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    with open_api(store_url) as opened:
        yield opened


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
