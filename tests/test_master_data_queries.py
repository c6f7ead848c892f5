"""The EPCIS query parameters that need master data (``WD_``, ``HASATTR_``, ``EQ_ATTR_``),
answered from the master data over HTTP on both stores: ``GET /events``, named queries, and
a subscription that follows a hierarchy changed after it was defined."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from ledger.access import Role
from ledger.application import Ledger
from tests.http_support import RoleKeys, http_client, websocket_headers
from tests.ledger_contract import document
from tests.master_data_support import LOCATION_HEADER, LOCATIONS, PRODUCTS, csv_bytes

QUERY_PARAMETER = "epcisException:QueryParameterException"
WAREHOUSE_SHELF = "WH-A,药库A区,warehouse,WH,H1"


def loc(location_id: str, institution: str = "H1") -> str:
    return f"urn:tracecode:loc:{institution}:{location_id}"


def at(location_id: str, serial: int, *, code: str | None = None) -> dict[str, Any]:
    """An ObjectEvent at a master-data location (readPoint and bizLocation)."""
    return {
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T08:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [code or f"urn:epc:id:sgtin:0614141.107346.{serial}"],
        "action": "OBSERVE",
        "bizStep": "receiving",
        "readPoint": {"id": loc(location_id)},
        "bizLocation": {"id": loc(location_id)},
    }


def post_csv(client: TestClient, text: str) -> None:
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    headers = {"Content-Type": "text/csv", **auth.header(Role.ADMIN)}
    answer = client.post("/masterdata", content=csv_bytes(text), headers=headers)
    assert answer.status_code == 201, answer.text


def capture(client: TestClient, *events: dict[str, Any]) -> None:
    answer = client.post(
        "/capture", content=document(*events), headers={"Content-Type": "application/ld+json"}
    )
    assert answer.status_code == 202, answer.text


def found(client: TestClient, query: str, **headers: str) -> list[str]:
    answer = client.get("/events?" + query, headers=headers)
    assert answer.status_code == 200, answer.text
    events = answer.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return sorted(e["bizLocation"]["id"].rsplit(":", 1)[1] for e in events)


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        post_csv(opened, LOCATIONS + "\n" + WAREHOUSE_SHELF)
        capture(
            opened,
            *[at(place, n) for n, place in enumerate(["H1", "WH", "WH-A", "OP", "W3", "SUP"])],
            at("ELSEWHERE", 9),
        )
        yield opened


def test_wd_follows_the_hierarchy(client: TestClient) -> None:
    everything = ["H1", "OP", "W3", "WH", "WH-A"]
    assert found(client, "WD_bizLocation=" + loc("H1")) == everything
    assert found(client, "WD_readPoint=" + loc("WH")) == ["WH", "WH-A"]
    assert found(client, f"WD_readPoint={loc('WH-A')}|{loc('OP')}") == ["OP", "WH-A"]
    # a location master data does not know: itself only
    assert found(client, "WD_bizLocation=" + loc("ELSEWHERE")) == ["ELSEWHERE"]
    # EQ_ stays the location itself
    assert found(client, "EQ_bizLocation=" + loc("WH")) == ["WH"]


def test_hasattr_and_eq_attr_read_the_locations_attributes(client: TestClient) -> None:
    assert found(client, "HASATTR_bizLocation=parent") == ["OP", "W3", "WH", "WH-A"]
    assert found(client, "HASATTR_readPoint=kind") == ["H1", "OP", "SUP", "W3", "WH", "WH-A"]
    assert found(client, "EQ_ATTR_bizLocation_kind=pharmacy|ward") == ["OP", "W3"]
    assert found(client, "EQ_ATTR_readPoint_parent=WH") == ["WH-A"]
    by_uri = quote("EQ_ATTR_bizLocation_urn:epcglobal:cbv:mda#name", safe="_:")
    assert found(client, f"{by_uri}={quote('药库')}") == ["WH"]
    tracecode_uri = quote("EQ_ATTR_readPoint_urn:tracecode:mda#institution_code", safe="_:")
    assert len(found(client, f"{tracecode_uri}=H1")) == 6
    assert found(client, "EQ_ATTR_bizLocation_kind=warehouse&WD_bizLocation=" + loc("WH")) == [
        "WH",
        "WH-A",
    ]
    assert found(client, "EQ_ATTR_bizLocation_kind=nothing") == []


@pytest.mark.parametrize(
    ("params", "parameter", "says"),
    [
        ("HASATTR_bizLocation=colour", "HASATTR_bizLocation", "'colour' is not an attribute"),
        ("EQ_ATTR_readPoint_size=1", "EQ_ATTR_readPoint_size", "'size' is not an attribute"),
        ("HASATTR_bizStep=name", "HASATTR_bizStep", "readPoint, bizLocation, epcClass"),
        ("EQ_ATTR_bizLocation_kind=", "EQ_ATTR_bizLocation_kind", "needs one or more values"),
        ("HASATTR_epcClass=kind", "HASATTR_epcClass", "'kind' is not an attribute"),
    ],
)
def test_bad_master_data_parameters_are_named(
    client: TestClient, params: str, parameter: str, says: str
) -> None:
    answer = client.get("/events?" + params)
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["type"] == QUERY_PARAMETER
    assert problem["errors"][0]["query"] == parameter
    assert says in problem["errors"][0]["message"]


def test_each_institution_reads_its_own_hierarchy(client: TestClient, ledger: Ledger) -> None:
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    h2 = RoleKeys.create(ledger, "H2")
    answer = client.post(
        "/masterdata",
        content=csv_bytes(LOCATION_HEADER + "\nD,二院药库,warehouse,,H2\nD-1,一区,warehouse,D,H2"),
        headers={"Content-Type": "text/csv", **h2.header(Role.ADMIN)},
    )
    assert answer.status_code == 201, answer.text
    place = at("WH", 40)
    place["bizLocation"] = {"id": loc("D-1", "H2")}  # H1 names a place of H2's
    capture(client, place)
    # H1's reader sees H1's master data only: H2's D has no descendants for it
    assert found(client, "WD_bizLocation=" + loc("D", "H2")) == []
    assert found(client, "EQ_ATTR_bizLocation_kind=warehouse") == ["WH", "WH-A"]
    regulator = auth.header(Role.REGULATOR)  # every institution's
    assert found(client, "WD_bizLocation=" + loc("D", "H2"), **regulator) == ["D-1"]
    assert found(client, "EQ_ATTR_bizLocation_kind=warehouse", **regulator) == [
        "D-1",
        "WH",
        "WH-A",
    ]


def test_named_queries_and_pages_see_master_data_as_it_changes(client: TestClient) -> None:
    defined = client.post(
        "/queries", json={"name": "warehouse", "query": {"WD_bizLocation": [loc("WH")]}}
    )
    assert defined.status_code == 201, defined.text
    refused = client.post(
        "/queries", json={"name": "bad", "query": {"HASATTR_readPoint": ["colour"]}}
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["pointer"] == "/query/HASATTR_readPoint"

    def named() -> list[str]:
        answer = client.get("/queries/warehouse/events")
        assert answer.status_code == 200, answer.text
        events = answer.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        return sorted(e["bizLocation"]["id"].rsplit(":", 1)[1] for e in events)

    assert named() == ["WH", "WH-A"]
    first = client.get("/events?perPage=1&WD_bizLocation=" + loc("WH"))
    link = first.headers["link"]
    post_csv(client, LOCATION_HEADER + "\nWH-B,药库B区,warehouse,WH,H1")
    capture(client, at("WH-B", 20))
    assert named() == ["WH", "WH-A", "WH-B"]
    # the token still belongs to the query; the next page reads master data as it now is
    second = client.get(link[1 : link.index(">")])
    assert second.status_code == 200, second.text


def test_a_subscription_follows_a_hierarchy_changed_after_it(client: TestClient) -> None:
    defined = client.post(
        "/queries", json={"name": "wards", "query": {"WD_bizLocation": [loc("H1")]}}
    )
    assert defined.status_code == 201
    with client.websocket_connect(
        "/queries/wards/events", headers=websocket_headers(client)
    ) as socket:
        post_csv(client, LOCATION_HEADER + "\nW5,五病区,ward,H1,H1")
        capture(client, at("ELSEWHERE", 30), at("W5", 31))
        message = json.loads(socket.receive_text())
        events = message["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert [e["bizLocation"]["id"] for e in events] == [loc("W5")]


def test_epc_class_attributes_read_the_products(ledger: Ledger) -> None:
    with http_client(ledger) as client:
        auth = client.auth
        assert isinstance(auth, RoleKeys)
        headers = {"Content-Type": "text/csv", **auth.header(Role.ADMIN)}
        made = client.post("/masterdata", content=csv_bytes(PRODUCTS), headers=headers)
        assert made.status_code == 201, made.text
        capsule_box = "urn:tracecode:cn-drug:81000021234567890123"
        tablet_box = "urn:tracecode:cn-drug:82000011234567890123"
        by_gtin = at("WH", 2)
        by_gtin["epcList"] = []
        by_gtin["quantityList"] = [
            {"epcClass": "https://id.gs1.org/01/06901234567892", "quantity": 3}
        ]
        capture(client, at("WH", 1, code=capsule_box), by_gtin, at("OP", 3, code=tablet_box))

        def serials(query: str) -> list[str]:
            answer = client.get("/events?" + query)
            assert answer.status_code == 200, answer.text
            events = answer.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            return [
                str((e.get("epcList") or [e["quantityList"][0]["epcClass"]])[0]) for e in events
            ]

        capsules = serials("EQ_ATTR_epcClass_form=" + quote("胶囊剂"))
        assert sorted(capsules) == sorted([capsule_box, "https://id.gs1.org/01/06901234567892"])
        form_uri = quote("EQ_ATTR_epcClass_urn:epcglobal:cbv:mda#dosageFormType", safe="_:")
        assert serials(f"{form_uri}={quote('片剂')}") == [tablet_box]
        assert serials("EQ_ATTR_epcClass_level=box") == [capsule_box, tablet_box]
        assert len(serials("HASATTR_epcClass=gtin")) == 2
        assert len(serials("HASATTR_epcClass=name")) == 3
