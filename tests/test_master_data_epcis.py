"""EPCIS master data (an EPCIS document's vocabularies) through ``POST /masterdata`` (JSON-LD
and XML 1.2 / 2.0, on both stores) and ``tracecode masterdata import``: locations with their
hierarchy from ``children``, products from EPCClass elements, every bad input refused with
its JSON pointer (and XML line), nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from adapters.cli import main
from ledger.access import Role
from ledger.application import Ledger
from ledger.verify import verify_chain
from tests.http_support import RoleKeys, http_client
from tests.ledger_contract import document

CBV = "urn:epcglobal:cbv:mda#"
TC = "urn:tracecode:mda#"
BIZ_LOCATION = "urn:epcglobal:epcis:vtype:BusinessLocation"
READ_POINT = "urn:epcglobal:epcis:vtype:ReadPoint"
EPC_CLASS = "urn:epcglobal:epcis:vtype:EPCClass"
LIST = "/epcisHeader/epcisMasterData/vocabularyList"


def loc(location_id: str, institution: str = "H1") -> str:
    return f"urn:tracecode:loc:{institution}:{location_id}"


def element(
    element_id: str, attributes: dict[str, Any], children: list[str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": element_id,
        "attributes": [{"id": k, "attribute": v} for k, v in attributes.items()],
    }
    if children:
        out["children"] = children
    return out


def place(name: str, kind: str, **more: str) -> dict[str, Any]:
    return {CBV + "name": name, TC + "kind": kind, **{TC + k: v for k, v in more.items()}}


HOSPITAL = [
    element(loc("H1"), place("第一医院", "institution"), [loc("WH"), loc("OP")]),
    element(loc("WH"), place("药库", "warehouse"), [loc("WH-A")]),
    element(loc("WH-A"), place("药库A区", "warehouse")),
    element(loc("OP"), place("门诊药房", "pharmacy", institution_code="H1")),
]


def capsule(level: str = "box", **changes: Any) -> dict[str, Any]:
    out = {
        CBV + "regulatedProductName": "阿莫西林胶囊",
        CBV + "strengthDescription": "0.25g*24粒",
        CBV + "dosageFormType": "胶囊剂",
        CBV + "manufacturerOfTradeItemPartyName": "某药业",
        TC + "approval_no": "国药准字H1",
        TC + "yb_code": "XA01",
        TC + "trace_prefix": "8100002" if level == "box" else "8100001",
        TC + "level": level,
        TC + "units": 24 if level == "box" else 1,
        TC + "must_scan": "1",
        TC + "split": "0",
    }
    out.update({(TC + k if ":" not in k else k): v for k, v in changes.items()})
    return {k: v for k, v in out.items() if v is not None}


PRODUCTS = [
    element("https://id.gs1.org/01/16901234567899", capsule("box")),
    element("urn:example:product:capsule-unit", capsule("unit")),
]


def epcis_json(*vocabularies: tuple[str, list[dict[str, Any]]], events: int = 0) -> bytes:
    body = json.loads(document(*[_event(n) for n in range(events)]))
    body["epcisHeader"] = {
        "epcisMasterData": {
            "vocabularyList": [
                {"type": vtype, "vocabularyElementList": elements}
                for vtype, elements in vocabularies
            ]
        }
    }
    return json.dumps(body, ensure_ascii=False).encode()


def places_doc(*elements: dict[str, Any]) -> bytes:
    return epcis_json((BIZ_LOCATION, list(elements)))


def _event(n: int) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T08:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [f"urn:epc:id:sgtin:0614141.107346.{n}"],
        "action": "OBSERVE",
    }


XML_1_2 = """<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2"
    creationDate="2026-03-01T08:00:00Z"
    xmlns:sbdh="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader">
  <EPCISHeader>
    <sbdh:StandardBusinessDocumentHeader>
      <sbdh:HeaderVersion>1.0</sbdh:HeaderVersion>
      <sbdh:Sender><sbdh:Identifier Authority="GLN">6901234000004</sbdh:Identifier></sbdh:Sender>
      <sbdh:Receiver>
        <sbdh:Identifier Authority="GLN">6901234000011</sbdh:Identifier>
      </sbdh:Receiver>
      <sbdh:DocumentIdentification>
        <sbdh:Standard>EPCglobal</sbdh:Standard>
        <sbdh:TypeVersion>1.0</sbdh:TypeVersion>
        <sbdh:InstanceIdentifier>1</sbdh:InstanceIdentifier>
        <sbdh:Type>Events</sbdh:Type>
        <sbdh:CreationDateAndTime>2026-03-01T08:00:00Z</sbdh:CreationDateAndTime>
      </sbdh:DocumentIdentification>
    </sbdh:StandardBusinessDocumentHeader>
    <extension>
      <EPCISMasterData>
        <VocabularyList>
          <Vocabulary type="urn:epcglobal:epcis:vtype:ReadPoint">
            <VocabularyElementList>
              <VocabularyElement id="urn:tracecode:loc:H1:W3">
                <attribute id="urn:epcglobal:cbv:mda#name">三病区</attribute>
                <attribute id="urn:tracecode:mda#kind">{kind}</attribute>
                <children><id>urn:tracecode:loc:H1:W3-BED</id></children>
              </VocabularyElement>
              <VocabularyElement id="urn:tracecode:loc:H1:W3-BED">
                <attribute id="urn:epcglobal:cbv:mda#name">三病区床旁</attribute>
                <attribute id="urn:tracecode:mda#kind">ward</attribute>
              </VocabularyElement>
            </VocabularyElementList>
          </Vocabulary>
        </VocabularyList>
      </EPCISMasterData>
    </extension>
  </EPCISHeader>
  <EPCISBody><EventList/></EPCISBody>
</epcis:EPCISDocument>
"""

MASTER_DATA_DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<epcismd:EPCISMasterDataDocument xmlns:epcismd="urn:epcglobal:epcis-masterdata:xsd:2"
    schemaVersion="2.0" creationDate="2026-03-01T08:00:00Z">
  <EPCISBody>
    <VocabularyList>
      <Vocabulary type="urn:epcglobal:epcis:vtype:EPCClass">
        <VocabularyElementList>
          <VocabularyElement id="urn:epc:idpat:sgtin:6901234.056789.*">
            <attribute id="urn:epcglobal:cbv:mda#regulatedProductName">头孢克肟片</attribute>
            <attribute id="urn:tracecode:mda#yb_code">XB02</attribute>
            <attribute id="urn:tracecode:mda#trace_prefix">8200001</attribute>
            <attribute id="urn:tracecode:mda#level">box</attribute>
            <attribute id="urn:tracecode:mda#units">10</attribute>
            <attribute id="urn:tracecode:mda#must_scan">1</attribute>
            <attribute id="urn:tracecode:mda#split">{split}</attribute>
          </VocabularyElement>
        </VocabularyElementList>
      </Vocabulary>
    </VocabularyList>
  </EPCISBody>
</epcismd:EPCISMasterDataDocument>
"""


def post(client: TestClient, data: bytes, media: str = "application/ld+json", **kw: Any) -> Any:
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    headers = {"Content-Type": media, **auth.header(kw.get("role", Role.ADMIN))}
    return client.post("/masterdata", content=data, headers=headers)


def stored(client: TestClient, kind: str = "locations", **params: str) -> dict[str, Any]:
    rows = client.get(f"/masterdata/{kind}", params=params).json()[kind]
    key = "id" if kind == "locations" else "trace_prefix"
    return {row[key]: row for row in rows}


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        yield opened


def test_a_json_ld_document_imports_locations_and_products(
    client: TestClient, ledger: Ledger
) -> None:
    data = epcis_json((BIZ_LOCATION, HOSPITAL), (EPC_CLASS, PRODUCTS))
    made = post(client, data)
    assert made.status_code == 201, made.text
    assert made.json() == {
        "imports": [
            {
                "kind": "locations",
                "institutions": ["H1"],
                "added": ["H1", "WH", "WH-A", "OP"],
                "changed": [],
                "unchanged": [],
            },
            {
                "kind": "products",
                "institutions": ["H1"],
                "added": ["XA01/box", "XA01/unit"],
                "changed": [],
                "unchanged": [],
            },
        ]
    }
    places = stored(client)
    assert {k: v["parent"] for k, v in places.items()} == {
        "H1": "",
        "WH": "H1",
        "WH-A": "WH",
        "OP": "H1",
    }
    assert places["OP"]["kind"] == "pharmacy" and places["OP"]["institution_code"] == "H1"
    products = stored(client, "products")
    box = products["8100002"]
    assert box["gtin"] == "16901234567899" and box["units"] == 24 and box["must_scan"] is True
    assert (box["spec"], box["form"], box["manufacturer"]) == ("0.25g*24粒", "胶囊剂", "某药业")
    assert products["8100001"]["gtin"] == ""  # an id that is no GTIN only names the element

    again = post(client, data)
    assert [s["unchanged"] for s in again.json()["imports"]] == [
        ["H1", "WH", "WH-A", "OP"],
        ["XA01/box", "XA01/unit"],
    ]
    then = places["WH"]["recordedAt"]
    renamed = [element(loc("WH"), place("中心药库", "warehouse"), [loc("WH-A")])]
    changed = post(client, epcis_json((READ_POINT, renamed)))
    assert changed.json()["imports"][0]["changed"] == ["WH"]
    assert stored(client)["WH"]["name"] == "中心药库"
    assert stored(client, as_of=then)["WH"]["name"] == "药库"
    assert verify_chain(ledger).intact

    # the hierarchy it brought is the one WD_ follows
    capture = client.post(
        "/capture",
        content=document(
            {**_event(1), "bizLocation": {"id": loc("WH-A")}},
            {**_event(2), "bizLocation": {"id": loc("OP")}},
        ),
        headers={"Content-Type": "application/ld+json"},
    )
    assert capture.status_code == 202, capture.text
    answer = client.get("/events", params={"WD_bizLocation": loc("WH")})
    events = answer.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["bizLocation"]["id"] for e in events] == [loc("WH-A")]


def test_xml_documents_1_2_2_0_and_master_data_documents(client: TestClient) -> None:
    made = post(client, XML_1_2.format(kind="ward").encode(), "application/xml")
    assert made.status_code == 201, made.text
    assert made.json()["imports"][0]["added"] == ["W3", "W3-BED"]
    assert stored(client)["W3-BED"]["parent"] == "W3"
    as_2_0 = XML_1_2.replace("xsd:1", "xsd:2").replace('"1.2"', '"2.0"')
    as_2_0 = as_2_0.replace("三病区床旁", "三病区床边")
    changed = post(client, as_2_0.format(kind="ward").encode(), "text/xml")
    assert changed.status_code == 201, changed.text
    assert changed.json()["imports"][0]["changed"] == ["W3-BED"]
    products = post(client, MASTER_DATA_DOCUMENT.format(split="1").encode(), "application/xml")
    assert products.status_code == 201, products.text
    tablet = stored(client, "products")["8200001"]
    assert tablet["gtin"] == "06901234567892" and tablet["split"] is True


def test_bad_xml_names_the_line(client: TestClient) -> None:
    answer = post(client, XML_1_2.format(kind="shop").encode(), "application/xml")
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"] == [
        {
            "pointer": f"{LIST}/0/vocabularyElementList/0/attributes/1/attribute",
            "line": 27,
            "column": "kind",
            "message": "urn:tracecode:mda#kind (kind): 'shop' is not one of institution, "
            "warehouse, pharmacy, ward, department, supplier, external",
        }
    ]
    start = XML_1_2.index("    <sbdh:StandardBusinessDocumentHeader>")
    end = XML_1_2.index("    <extension>")
    no_sbdh = XML_1_2[:start] + XML_1_2[end:]  # EPCIS 1.2 requires the SBDH
    answer = post(client, no_sbdh.format(kind="ward").encode(), "application/xml")
    assert answer.status_code == 400
    first = answer.json()["errors"][0]
    assert first["line"] == 6 and "EPCISHeader/extension" in first["message"]
    answer = post(client, MASTER_DATA_DOCUMENT.format(split="yes").encode(), "application/xml")
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert (
        error["line"] == 15 and error["column"] == "split" and "is not 1 or 0" in error["message"]
    )
    assert stored(client) == {} and stored(client, "products") == {}


def test_the_shared_master_data_examples_are_refused_naming_each_sgln(
    client: TestClient, examples_dir: Path
) -> None:
    """The GS1 examples name locations by SGLN: a tracecode location needs an id that scans
    name, so each such element is refused (and nothing stored)."""
    path = examples_dir / "xml/2.0/WithFullCombinationOfFields/masterdata_all_possible_fields.xml"
    answer = post(client, path.read_bytes(), "application/xml")
    assert answer.status_code == 400, answer.text
    errors = answer.json()["errors"]
    assert [(e["line"], e["pointer"]) for e in errors] == [
        (18, f"{LIST}/0/vocabularyElementList/0/id"),
        (73, f"{LIST}/1/vocabularyElementList/0/id"),
    ]
    assert (
        "'urn:epc:id:sgln:0037000.00729.0' is not a tracecode location URI" in errors[0]["message"]
    )
    mimasu = post(
        client, (examples_dir / "xml/2.0/Mimasu/Example-masterData.xml").read_bytes(), "text/xml"
    )
    assert mimasu.status_code == 400 and len(mimasu.json()["errors"]) == 7
    assert stored(client) == {}


def _el(v: int, e: int, rest: str = "") -> str:
    return f"{LIST}/{v}/vocabularyElementList/{e}{rest}"


BAD: list[tuple[str, bytes, str, str]] = [
    (
        "unknown attribute",
        epcis_json((BIZ_LOCATION, [element(loc("X"), {**place("x", "ward"), CBV + "sst": "201"})])),
        _el(0, 0, "/attributes/2"),
        "attribute 'urn:epcglobal:cbv:mda#sst' is not one tracecode keeps for locations",
    ),
    (
        "no name",
        epcis_json((BIZ_LOCATION, [element(loc("X"), {TC + "kind": "ward"})])),
        _el(0, 0),
        "has no attribute urn:epcglobal:cbv:mda#name (name)",
    ),
    (
        "attribute twice",
        epcis_json(
            (
                BIZ_LOCATION,
                [
                    {
                        "id": loc("X"),
                        "attributes": [
                            {"id": CBV + "name", "attribute": "a"},
                            {"id": CBV + "name", "attribute": "b"},
                            {"id": TC + "kind", "attribute": "ward"},
                        ],
                    }
                ],
            )
        ),
        _el(0, 0, "/attributes/1"),
        "attribute urn:epcglobal:cbv:mda#name (name) is given more than once",
    ),
    (
        "not text",
        epcis_json(
            (BIZ_LOCATION, [element(loc("X"), {**place("x", "ward"), CBV + "name": {"a": 1}})])
        ),
        _el(0, 0, "/attributes/0"),
        "is not a text value",
    ),
    (
        "child not described",
        epcis_json((BIZ_LOCATION, [element(loc("X"), place("x", "ward"), [loc("Y")])])),
        _el(0, 0, "/children/0"),
        "child urn:tracecode:loc:H1:Y is not described in this document nor stored",
    ),
    (
        "child of another institution",
        epcis_json((BIZ_LOCATION, [element(loc("X"), place("x", "ward"), [loc("Y", "H2")])])),
        _el(0, 0, "/children/0"),
        "is not a location of H1",
    ),
    (
        "two parents",
        places_doc(
            element(loc("A"), place("a", "ward"), [loc("C")]),
            element(loc("B"), place("b", "ward"), [loc("C")]),
            element(loc("C"), place("c", "ward")),
        ),
        _el(0, 1, "/children/0"),
        "child C already has the parent A",
    ),
    (
        "parents go round",
        places_doc(
            element(loc("A"), place("a", "ward"), [loc("B")]),
            element(loc("B"), place("b", "ward"), [loc("A")]),
        ),
        _el(0, 0),
        "parents go round",
    ),
    (
        "another institution's location",
        epcis_json((BIZ_LOCATION, [element(loc("X", "H2"), place("x", "ward"))])),
        _el(0, 0, "/id"),
        "H2 is not the institution imported for (H1)",
    ),
    (
        "institution_code not the id's",
        epcis_json((BIZ_LOCATION, [element(loc("X"), place("x", "ward", institution_code="H2"))])),
        _el(0, 0, "/attributes/2"),
        "institution_code 'H2' is not the institution of the element's id (H1)",
    ),
    (
        "described differently twice",
        epcis_json(
            (BIZ_LOCATION, [element(loc("X"), place("x", "ward"))]),
            (READ_POINT, [element(loc("X"), place("y", "ward"))]),
        ),
        _el(1, 0),
        f"location X of H1 is described differently at {_el(0, 0)}",
    ),
    (
        "an item is no class",
        epcis_json((EPC_CLASS, [element("urn:epc:id:sgtin:6901234.056789.1", capsule())])),
        _el(0, 0, "/id"),
        "names no product class",
    ),
    (
        "gtin other than the id's",
        epcis_json(
            (
                EPC_CLASS,
                [element("https://id.gs1.org/01/16901234567899", capsule(gtin="06901234567892"))],
            )
        ),
        _el(0, 0, "/attributes/11"),
        "gtin '06901234567892' is not the GTIN of the element's id (16901234567899)",
    ),
    (
        "same trace prefix twice",
        epcis_json(
            (
                EPC_CLASS,
                [
                    element("urn:example:a", capsule("box")),
                    element("urn:example:b", capsule("box", yb_code="XZ9")),
                ],
            )
        ),
        _el(0, 1),
        f"trace_prefix 8100002 is also at {_el(0, 0)}",
    ),
    (
        "units not a number",
        epcis_json((EPC_CLASS, [element("urn:example:a", capsule(units="many"))])),
        _el(0, 0, "/attributes/8/attribute"),
        "is not a whole number of smallest units",
    ),
    (
        "other vocabulary",
        epcis_json(("urn:epcglobal:epcis:vtype:BusinessStep", [element("urn:x:step", {})])),
        _el(0, 0),
        "is not master data tracecode keeps",
    ),
    (
        "events",
        epcis_json((BIZ_LOCATION, HOSPITAL), events=2),
        "/epcisBody/eventList",
        "the document carries 2 event(s): master data only",
    ),
    (
        "no master data",
        document(_event(1)),
        "/epcisHeader",
        "the document carries no master data",
    ),
    (
        "not EPCIS",
        b'{"type": "EPCISDocument"}',
        "",
        "",
    ),
]


@pytest.mark.parametrize(("why", "data", "pointer", "says"), BAD, ids=[b[0] for b in BAD])
def test_bad_documents_are_refused_naming_where(
    client: TestClient, why: str, data: bytes, pointer: str, says: str
) -> None:
    answer = post(client, data)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    errors = answer.json()["errors"]
    if pointer:
        assert any(e["pointer"] == pointer and says in e["message"] for e in errors), errors
    else:
        assert errors and all(e["pointer"] for e in errors)
    assert stored(client) == {} and stored(client, "products") == {}


def test_only_an_admin_and_only_known_media(client: TestClient) -> None:
    data = epcis_json((BIZ_LOCATION, HOSPITAL))
    assert post(client, data, role=Role.READER).status_code == 403
    answer = post(client, data, "text/plain")
    assert answer.status_code == 415 and "application/ld+json" in answer.json()["detail"]
    assert post(client, data, "application/json").status_code == 201


def test_cli_imports_an_epcis_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    both = tmp_path / "master.jsonld"
    both.write_bytes(epcis_json((BIZ_LOCATION, HOSPITAL), (EPC_CLASS, PRODUCTS)))
    runner = CliRunner()
    refused = runner.invoke(main, ["masterdata", "import", str(both)])
    assert refused.exit_code == 2 and "--institution" in refused.stderr
    done = runner.invoke(main, ["masterdata", "import", str(both), "--institution", "H1"])
    assert done.exit_code == 0, done.stderr
    assert done.stdout.splitlines() == [
        "locations of H1: 4 added, 0 changed, 0 unchanged",
        "added H1",
        "added WH",
        "added WH-A",
        "added OP",
        "products of H1: 2 added, 0 changed, 0 unchanged",
        "added XA01/box",
        "added XA01/unit",
    ]
    places = tmp_path / "places.xml"
    places.write_text(XML_1_2.format(kind="ward"), encoding="utf-8")
    placed = runner.invoke(main, ["masterdata", "import", str(places)])
    assert placed.exit_code == 0 and placed.stdout.startswith("locations of H1: 2 added")
    bad = tmp_path / "bad.xml"
    bad.write_text(XML_1_2.format(kind="shop"), encoding="utf-8")
    failed = runner.invoke(main, ["masterdata", "import", str(bad)])
    assert failed.exit_code == 1 and failed.stdout == ""
    assert failed.stderr.splitlines()[-1:] == [
        f"{bad}: line 27, {_el(0, 0, '/attributes/1/attribute')}, column kind: "
        "urn:tracecode:mda#kind (kind): 'shop' is not one of institution, warehouse, "
        "pharmacy, ward, department, supplier, external"
    ]
