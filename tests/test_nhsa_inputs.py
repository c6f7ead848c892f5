"""What the 医保 messages need from the write side (issue 13), through ``POST /masterdata``,
``POST /scans`` and the command line, on SQLite and PostgreSQL: the products' and the
institution's 医保 columns, the operators list, a bind's staff and settlement, a settlement
given later (``settle``), and the personal fields kept outside the log and erased with the
patient's mapping."""

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
from ledger.master_data import current_master_data, master_data
from ledger.master_data_vocabulary import TRACECODE_MDA, vocabularies
from ledger.operators import operator_name
from ledger.patients import pseudonym
from ledger.settlements import settlement_of
from ledger.verify import verify_chain
from tests.http_support import http_client
from tests.master_data_support import PRODUCT_HEADER, csv_bytes
from tests.patient_support import KEY, KEY_HEX, tables_holding
from tests.scan_support import box, load_hospital, post_scan

PATIENT = "110101199001011234"
PSN_NO = "PSN-7731000123"
CERTNO = "11010119900101123X"
PSN_NAME = "张小明"
INSURED = {
    "mdtrt_setl_type": "1",
    "setl_id": "SETL-0001",
    "mdtrt_sn": "MDTRT-0001",
    "psn_no": PSN_NO,
    "psn_cert_type": "01",
    "hi_feesetl_type": "1",
    "insuplc_admdvs": "620100",
    "certno": CERTNO,
    "psn_name": PSN_NAME,
}
STAFF = {
    "prescriber_name": "李医生",
    "pharmacist_name": "王药师",
    "pharmacist_cert": "ZY-20260001",
    "receipt": "RCPT-0001",
}
NHSA_PRODUCTS = "\n".join(
    [
        PRODUCT_HEADER + ",his_code,his_name,rx_flag,price",
        "XB02,,8200001,box,10,头孢克肟片,0.1g*10片,片剂,另一药业,国药准字H2,1,0,"
        "H-XB02,头孢克肟片(院内),1,12.500000",
        "XA01,06901234567892,8100001,unit,1,阿莫西林胶囊,0.25g,胶囊剂,某药业,国药准字H1,1,1,,,,",
    ]
)
OPERATORS = "id,name,institution_code,cert\nOP-07,王药师,H1,ZY-20260001\nOP-08,赵护士,H1,\n"


@pytest.fixture(autouse=True)
def _patient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_PATIENT_KEY", KEY_HEX)


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def _admin(client: TestClient) -> dict[str, str]:
    return {"Content-Type": "text/csv", **client.auth.header(Role.ADMIN)}  # type: ignore[union-attr]


def _import(client: TestClient, text: str) -> Any:
    return client.post("/masterdata", content=csv_bytes(text), headers=_admin(client))


def ok(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    assert body["colour"] in ("green", "yellow"), body
    return body


def red(answer: Any, word: str) -> dict[str, Any]:
    assert answer.status_code == 409, answer.text
    body: dict[str, Any] = answer.json()
    found = {r["reason"] for r in body["reasons"]}
    found |= {r["reason"] for c in body["codes"] for r in c["reasons"]}
    assert word in found, body
    return body


def bind(client: TestClient, order: str, *codes: str, **more: Any) -> Any:
    """A bind at the pharmacy's window for :data:`PATIENT` (the answer as posted)."""
    scan = {"location": "OP-1", "codes": list(codes), "patient": PATIENT, "order": order}
    return post_scan(client, operation="bind", **{**scan, **more})


def settle(client: TestClient, order: str, settlement: Any = None, **more: Any) -> Any:
    """A settle of an order (:data:`INSURED` unless said)."""
    given = INSURED if settlement is None else settlement
    return post_scan(client, operation="settle", order=order, settlement=given, **more)


def at_op(client: TestClient, *codes: str) -> None:
    """Codes received at the warehouse and moved to the outpatient pharmacy."""
    ok(post_scan(client, operation="receive", location="WH", codes=list(codes), lot="L1"))
    ok(post_scan(client, operation="transfer", location="WH", destination="OP", codes=list(codes)))
    ok(post_scan(client, operation="accept", location="OP", codes=list(codes)))


def stored(ledger: Ledger, hash_id: str) -> dict[str, Any]:
    found = ledger.get_event(hash_id)
    assert found is not None
    return found.event


def log_text(ledger: Ledger) -> str:
    """Every stored event, as JSON."""
    return "\n".join(json.dumps(s.event, ensure_ascii=False) for s in ledger.stored_events())


def count(ledger: Ledger) -> int:
    return sum(1 for _ in ledger.stored_events())


# -- master data ------------------------------------------------------------------------


def test_products_and_the_institution_carry_the_nhsa_columns(
    client: TestClient, ledger: Ledger
) -> None:
    answer = _import(client, NHSA_PRODUCTS)
    assert answer.status_code == 201, answer.text
    assert answer.json()["changed"] == ["XB02/box"] and answer.json()["unchanged"] == ["XA01/unit"]
    rows = {
        r["yb_code"] + "/" + r["level"]: r
        for r in client.get("/masterdata/products").json()["products"]
    }
    assert {k: rows["XB02/box"][k] for k in ("his_code", "his_name", "rx_flag", "price")} == {
        "his_code": "H-XB02",
        "his_name": "头孢克肟片(院内)",
        "rx_flag": "1",
        "price": "12.500000",
    }
    assert "price" not in rows["XA01/unit"]  # empty: not kept, so the row did not change
    places = (
        "id,name,kind,parent,institution_code,admdvs\n"
        "H1,第一医院,institution,,H1,620102\n"
        "WH,药库,warehouse,H1,H1,\n"
    )
    assert _import(client, places).json()["unchanged"] == ["WH"]  # an empty admdvs: as before
    locations = {r["id"]: r for r in client.get("/masterdata/locations").json()["locations"]}
    assert locations["H1"]["admdvs"] == "620102" and "admdvs" not in locations["WH"]
    vocabulary = vocabularies(current_master_data(ledger)[1])
    (xb02,) = [e for e in vocabulary.elements["epcClass"] if e.id == "8200001"]
    assert xb02.attributes[TRACECODE_MDA + "price"] == ("12.500000",)
    (h1,) = [e for e in vocabulary.elements["bizLocation"] if e.id.endswith(":H1")]
    assert h1.attributes[TRACECODE_MDA + "admdvs"] == ("620102",)


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("rx_flag", "ABCD", "1 to 3 letters or digits"),
        ("rx_flag", "处方", "1 to 3 letters or digits"),
        ("price", "-1", "a decimal >= 0"),
        ("price", "1.1234567", "at most 6 decimal places"),
        ("price", "1e3", "not a price"),
        ("price", "12345678901", "not a price"),
        ("his_code", "H" * 31, "longer than 30"),
        ("his_name", "名" * 201, "longer than 200"),
    ],
)
def test_a_bad_product_value_is_named_and_nothing_is_stored(
    client: TestClient, ledger: Ledger, column: str, value: str, says: str
) -> None:
    before = master_data(ledger)
    row = {"his_code": "", "his_name": "", "rx_flag": "", "price": "", column: value}
    text = (
        PRODUCT_HEADER
        + ",his_code,his_name,rx_flag,price\n"
        + "XB02,,8200001,box,10,头孢克肟片,,,,,1,0,"
        + ",".join(row[c] for c in ("his_code", "his_name", "rx_flag", "price"))
    )
    answer = _import(client, text)
    assert answer.status_code == 400, answer.text
    (error,) = answer.json()["errors"]
    assert (error["line"], error["column"]) == (2, column) and says in error["message"]
    assert master_data(ledger) == before


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("H1,第一医院,institution,,H1,62010", "6 digits"),
        ("H1,第一医院,institution,,H1,62O102", "6 digits"),
        ("WH,药库,warehouse,H1,H1,620102", "institution's own row"),
    ],
)
def test_a_bad_admdvs_is_named_and_nothing_is_stored(
    client: TestClient, ledger: Ledger, row: str, says: str
) -> None:
    before = master_data(ledger)
    answer = _import(client, "id,name,kind,parent,institution_code,admdvs\n" + row)
    assert answer.status_code == 400, answer.text
    (error,) = answer.json()["errors"]
    assert (error["line"], error["column"]) == (2, "admdvs") and says in error["message"]
    assert master_data(ledger) == before


def test_epcis_vocabularies_take_the_columns_too(client: TestClient) -> None:
    def document(price: str) -> dict[str, Any]:
        attributes = {
            "urn:epcglobal:cbv:mda#regulatedProductName": "头孢克肟片",
            **{
                TRACECODE_MDA + k: v
                for k, v in (
                    ("yb_code", "XB02"),
                    ("trace_prefix", "8200001"),
                    ("level", "box"),
                    ("units", "10"),
                    ("must_scan", "1"),
                    ("split", "0"),
                    ("price", price),
                    ("rx_flag", "1"),
                )
            },
        }
        return {
            "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00Z",
            "epcisHeader": {
                "epcisMasterData": {
                    "vocabularyList": [
                        {
                            "type": "urn:epcglobal:epcis:vtype:EPCClass",
                            "vocabularyElementList": [
                                {
                                    "id": "urn:tracecode:class:XB02",
                                    "attributes": [
                                        {"id": k, "attribute": v} for k, v in attributes.items()
                                    ],
                                }
                            ],
                        }
                    ]
                }
            },
            "epcisBody": {"eventList": []},
        }

    headers = {**_admin(client), "Content-Type": "application/ld+json"}
    bad = client.post("/masterdata", json=document("-2"), headers=headers)
    assert bad.status_code == 400, bad.text
    assert bad.json()["errors"][0]["column"] == "price"
    good = client.post("/masterdata", json=document("3.5"), headers=headers)
    assert good.status_code == 201, good.text
    (row,) = [
        r
        for r in client.get("/masterdata/products").json()["products"]
        if r["trace_prefix"] == "8200001"
    ]
    assert (row["price"], row["rx_flag"]) == ("3.5", "1") and "his_code" not in row


def test_command_line_imports_and_refuses_the_columns(ledger: Ledger, tmp_path: Path) -> None:
    env = {"TRACECODE_DATABASE_URL": ledger.settings.url}
    runner = CliRunner()
    products = tmp_path / "products.csv"
    products.write_bytes(csv_bytes(NHSA_PRODUCTS))
    done = runner.invoke(
        main, ["masterdata", "import", str(products), "--institution", "H1"], env=env
    )
    assert done.exit_code == 0, done.stderr
    row = master_data(ledger).products[("H1", "XB02/box")]
    assert row["price"] == "12.500000"
    products.write_bytes(csv_bytes(NHSA_PRODUCTS.replace("12.500000", "12,5")))
    refused = runner.invoke(
        main, ["masterdata", "import", str(products), "--institution", "H1"], env=env
    )
    assert refused.exit_code == 1
    assert "line 2" in refused.stderr


# -- the operators list -----------------------------------------------------------------


def test_operators_are_imported_with_history_and_name_the_operator(
    client: TestClient, ledger: Ledger, tmp_path: Path
) -> None:
    answer = _import(client, OPERATORS)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {
        "kind": "operators",
        "institutions": ["H1"],
        "added": ["OP-07", "OP-08"],
        "changed": [],
        "unchanged": [],
    }
    listed = client.get("/masterdata/operators").json()["operators"]
    assert [(r["id"], r["name"], r.get("cert")) for r in listed] == [
        ("OP-07", "王药师", "ZY-20260001"),
        ("OP-08", "赵护士", None),
    ]
    first_time = listed[0]["recordedAt"]
    assert operator_name(ledger, "H1", "OP-07") == "王药师"
    assert operator_name(ledger, "H1", "OP-99") == "OP-99"  # not listed: the scan's operatorId
    assert operator_name(ledger, "H2", "OP-07") == "OP-07"  # another institution's list
    renamed = tmp_path / "operators.csv"
    renamed.write_bytes(csv_bytes(OPERATORS.replace("王药师", "王二药师")))
    runner = CliRunner()
    done = runner.invoke(
        main,
        ["masterdata", "import", str(renamed)],
        env={"TRACECODE_DATABASE_URL": ledger.settings.url},
    )
    assert done.exit_code == 0, done.stderr
    assert "operators of H1: 0 added, 1 changed, 1 unchanged" in done.stdout
    assert operator_name(ledger, "H1", "OP-07") == "王二药师"
    then = client.get("/masterdata/operators", params={"as_of": first_time}).json()["operators"]
    assert then[0]["name"] == "王药师"
    assert verify_chain(ledger).intact


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("id,name,institution_code\nOP-07,王药师,H1\nOP-07,另一人,H1", "id", "also on line 2"),
        ("id,name,institution_code\nOP-07,,H1", "name", "empty"),
        ("id,name,institution_code\nOP 07,王药师,H1", "id", "not a code"),
        ("id,name,institution_code,cert\nOP-07,王药师,H1," + "Z" * 51, "cert", "longer than 50"),
        ("id,name,institution_code\nOP-07,王药师,H2", "institution_code", "not the institution"),
    ],
)
def test_a_bad_operators_file_is_refused(
    client: TestClient, ledger: Ledger, text: str, column: str, says: str
) -> None:
    answer = _import(client, text)
    assert answer.status_code == 400, answer.text
    errors = answer.json()["errors"]
    assert any(e["column"] == column and says in e["message"] for e in errors), errors
    assert master_data(ledger).operators == {}


# -- the bind's staff and settlement ----------------------------------------------------


def test_a_bind_carries_the_sale_and_the_log_never_the_person(
    client: TestClient, ledger: Ledger
) -> None:
    at_op(client, box(1), box(2))
    got = ok(
        bind(
            client,
            "RX1",
            box(1),
            box(2),
            prescription="RXNO-1",
            operatorId="OP-07",
            settlement=INSURED,
            **STAFF,
        )
    )
    event = stored(ledger, got["eventIDs"][0])
    assert {
        k: v
        for k, v in event.items()
        if k.startswith("tc:") and k not in ("tc:scan", "tc:terminal", "tc:patient")
    } == {
        "tc:operator": "OP-07",
        "tc:prescriberName": "李医生",
        "tc:pharmacistName": "王药师",
        "tc:pharmacistCert": "ZY-20260001",
        "tc:receipt": "RCPT-0001",
        "tc:mdtrt_setl_type": "1",
        "tc:setl_id": "SETL-0001",
        "tc:mdtrt_sn": "MDTRT-0001",
        "tc:psn_cert_type": "01",
        "tc:hi_feesetl_type": "1",
        "tc:insuplc_admdvs": "620100",
    }
    text = log_text(ledger)
    for personal in (PSN_NO, CERTNO, PSN_NAME, PATIENT):
        assert personal not in text
    assert tables_holding(ledger, PSN_NO) == ["settlement_persons"]
    assert tables_holding(ledger, PSN_NAME) == ["settlement_persons"]
    found = settlement_of(ledger, "H1", "RX1")
    assert found is not None
    assert (found.setl_id, found.mdtrt_sn, found.insuplc_admdvs) == (
        "SETL-0001",
        "MDTRT-0001",
        "620100",
    )
    assert (found.psn_no, found.certno, found.psn_name) == (PSN_NO, CERTNO, PSN_NAME)
    assert found.patient == pseudonym(PATIENT, KEY) and found.event == got["eventIDs"][0]
    assert settlement_of(ledger, "H1", "RX2") is None
    assert settlement_of(ledger, "H2", "RX1") is None
    assert verify_chain(ledger).intact


def test_a_self_paid_bind_needs_no_settlement_id(client: TestClient, ledger: Ledger) -> None:
    at_op(client, box(3))
    ok(bind(client, "RX3", box(3), settlement={"mdtrt_setl_type": 2, "mdtrt_sn": "VISIT-3"}))
    found = settlement_of(ledger, "H1", "RX3")
    assert found is not None
    assert (found.mdtrt_setl_type, found.setl_id, found.psn_no) == ("2", None, None)


def test_settled_later_by_order(client: TestClient, ledger: Ledger) -> None:
    at_op(client, box(4), box(5))
    bound = ok(bind(client, "RX4", box(4), box(5)))
    assert settlement_of(ledger, "H1", "RX4") is None
    settled = ok(settle(client, "RX4", scanId="HIS-S4"))
    assert [c["code"] for c in settled["codes"]] == sorted(
        f"urn:tracecode:cn-drug:{b}" for b in (box(4), box(5))
    )
    event = stored(ledger, settled["eventIDs"][0])
    assert event["bizStep"] == "urn:tracecode:voc:bizstep:settling" and event["action"] == "OBSERVE"
    assert "disposition" not in event and "readPoint" not in event
    assert event["bizTransactionList"] == [
        {"type": "urn:tracecode:voc:btt:order", "bizTransaction": "urn:tracecode:order:H1:RX4"}
    ]
    assert event["tc:setl_id"] == "SETL-0001" and event["tc:patient"] == pseudonym(PATIENT, KEY)
    assert PSN_NO not in log_text(ledger)
    found = settlement_of(ledger, "H1", "RX4")
    assert found is not None and found.event == settled["eventIDs"][0] and found.psn_no == PSN_NO
    status = client.get(f"/codes/{box(4)}").json()
    assert status["hospitalState"] == "bound" and status["order"] == "urn:tracecode:order:H1:RX4"
    # the same scanId again: the first answer, nothing new
    again = ok(settle(client, "RX4", scanId="HIS-S4"))
    assert again["eventIDs"] == settled["eventIDs"]
    # the bind's codes are still its to administer
    ok(post_scan(client, operation="administer", location="OP-1", codes=[box(4)], patient=PATIENT))
    assert bound["eventIDs"] and verify_chain(ledger).intact


def test_a_settlement_is_not_counted_as_a_scan(client: TestClient) -> None:
    at_op(client, box(14))
    ok(bind(client, "RX14", box(14)))
    figures = client.get("/metrics/quality").json()
    ok(settle(client, "RX14"))
    red(settle(client, "RX14"), "already_settled")
    assert client.get("/metrics/quality").json() == figures


def test_settle_refusals(client: TestClient, ledger: Ledger) -> None:
    at_op(client, box(6), box(7))
    red(
        settle(client, "RX-NONE"),
        "order_not_found",
    )
    ok(post_scan(client, operation="pick", location="OP", codes=[box(7)], order="RX7"))
    red(settle(client, "RX7"), "order_not_found")
    ok(bind(client, "RX6", box(6), settlement=INSURED))
    before = count(ledger)
    twice = red(settle(client, "RX6", {**INSURED, "setl_id": "SETL-2"}), "already_settled")
    assert "SETL-0001" in twice["reasons"][0]["message"]
    red(bind(client, "RX6", box(7), settlement=INSURED), "already_settled")
    assert count(ledger) == before
    found = settlement_of(ledger, "H1", "RX6")
    assert found is not None and found.setl_id == "SETL-0001"


def test_a_wrong_settlement_is_cancelled_and_settled_again(
    client: TestClient, ledger: Ledger
) -> None:
    at_op(client, box(8))
    ok(bind(client, "RX8", box(8)))
    ok(settle(client, "RX8", scanId="S8-1"))
    ok(post_scan(client, operation="cancel", scanId="S8-1"))
    assert settlement_of(ledger, "H1", "RX8") is None
    right = ok(settle(client, "RX8", {**INSURED, "setl_id": "SETL-8"}, scanId="S8-2"))
    found = settlement_of(ledger, "H1", "RX8")
    assert found is not None and found.setl_id == "SETL-8" and found.event == right["eventIDs"][0]
    assert verify_chain(ledger).intact


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"settlement": {"setl_id": "S"}}, "/settlement/mdtrt_setl_type"),
        ({"settlement": {"mdtrt_setl_type": "3"}}, "/settlement/mdtrt_setl_type"),
        ({"settlement": {"mdtrt_setl_type": "1", "psn_no": "P"}}, "/settlement/setl_id"),
        ({"settlement": {"mdtrt_setl_type": "1", "setl_id": "S"}}, "/settlement/psn_no"),
        ({"settlement": {**INSURED, "setl_id": "S" * 31}}, "/settlement/setl_id"),
        ({"settlement": {**INSURED, "psn_name": "名" * 51}}, "/settlement/psn_name"),
        ({"settlement": {**INSURED, "insuplc_admdvs": "62A100"}}, "/settlement/insuplc_admdvs"),
        ({"settlement": {**INSURED, "hi_feesetl_type": 1}}, "/settlement/hi_feesetl_type"),
        ({"settlement": {**INSURED, "psn_age": "40"}}, "/settlement/psn_age"),
        ({"settlement": "1"}, "/settlement"),
        ({"prescriber_name": "医" * 51}, "/prescriber_name"),
        ({"receipt": "R" * 41}, "/receipt"),
        ({"pharmacist_cert": ""}, "/pharmacist_cert"),
        ({"order": None, "settlement": INSURED}, "/order"),
    ],
)
def test_a_bad_bind_sale_is_named(
    client: TestClient, ledger: Ledger, body: dict[str, Any], pointer: str
) -> None:
    at_op(client, box(9))
    before = count(ledger)
    scan = {
        "operation": "bind",
        "location": "OP-1",
        "codes": [box(9)],
        "patient": PATIENT,
        "order": "RX9",
        **body,
    }
    answer = post_scan(client, **{k: v for k, v in scan.items() if v is not None})
    assert answer.status_code == 400, answer.text
    assert pointer in [e["pointer"] for e in answer.json()["errors"]]
    assert count(ledger) == before and settlement_of(ledger, "H1", "RX9") is None
    assert tables_holding(ledger, PSN_NO) == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"operation": "settle", "order": "RX1"}, "/settlement"),
        ({"operation": "settle", "settlement": INSURED}, "/order"),
        (
            {"operation": "settle", "order": "RX1", "settlement": INSURED, "codes": [box(1)]},
            "/codes",
        ),
        (
            {"operation": "settle", "order": "RX1", "settlement": INSURED, "patient": PATIENT},
            "/patient",
        ),
        (
            {
                "operation": "receive",
                "location": "WH",
                "codes": [box(1)],
                "settlement": INSURED,
                "order": "X",
            },
            "/settlement",
        ),
        (
            {"operation": "receive", "location": "WH", "codes": [box(1)], "receipt": "R1"},
            "/receipt",
        ),
        (
            {"operation": "settle", "order": "RX1", "settlement": INSURED, "location": "MOON"},
            "/location",
        ),
    ],
)
def test_settlement_fields_belong_to_bind_and_settle(
    client: TestClient, ledger: Ledger, body: dict[str, Any], pointer: str
) -> None:
    answer = post_scan(client, **body)
    assert answer.status_code == 400, answer.text
    assert pointer in [e["pointer"] for e in answer.json()["errors"]]
    assert count(ledger) == 0


# -- erasure ----------------------------------------------------------------------------


def test_erasing_the_patient_erases_the_personal_fields_not_the_log(
    client: TestClient, ledger: Ledger
) -> None:
    at_op(client, box(10))
    ok(bind(client, "RX10", box(10), settlement=INSURED, **STAFF))
    log_before = log_text(ledger)
    named = pseudonym(PATIENT, KEY)
    erased = client.delete(f"/patients/{named}", headers=client.auth.header(Role.ADMIN))  # type: ignore[union-attr]
    assert erased.status_code == 204
    found = settlement_of(ledger, "H1", "RX10")
    assert found is not None
    assert (found.psn_no, found.certno, found.psn_name) == (None, None, None)
    assert (found.setl_id, found.mdtrt_setl_type, found.patient) == ("SETL-0001", "1", named)
    for personal in (PSN_NO, CERTNO, PSN_NAME, PATIENT):
        assert tables_holding(ledger, personal) == []
    assert log_text(ledger) == log_before
    assert verify_chain(ledger).intact


def test_a_pseudonym_bind_keeps_personal_fields_that_erase_alone(
    client: TestClient, ledger: Ledger
) -> None:
    """A bind naming a pseudonym keeps no patient mapping; the settlement's personal fields
    are still erased by that pseudonym."""
    at_op(client, box(11))
    named = pseudonym(PATIENT, KEY)
    ok(bind(client, "RX11", box(11), patient=named, settlement=INSURED))
    admin = client.auth.header(Role.ADMIN)  # type: ignore[union-attr]
    assert client.delete(f"/patients/{named}", headers=admin).status_code == 204
    assert client.delete(f"/patients/{named}", headers=admin).status_code == 404
    assert tables_holding(ledger, PSN_NO) == []


# -- the command line -------------------------------------------------------------------


def test_command_line_bind_settle_and_erase(client: TestClient, ledger: Ledger) -> None:
    at_op(client, box(12), box(13))
    env = {"TRACECODE_DATABASE_URL": ledger.settings.url, "TRACECODE_PATIENT_KEY": KEY_HEX}
    runner = CliRunner()
    bound = runner.invoke(
        main,
        [
            "scan",
            "bind",
            box(12),
            "--location",
            "OP-1",
            "--patient",
            PATIENT,
            "--order",
            "RX12",
            "--prescriber-name",
            "李医生",
            "--pharmacist-name",
            "王药师",
            "--pharmacist-cert",
            "ZY-1",
            "--receipt",
            "R-12",
            "--settlement",
            json.dumps(INSURED),
        ],
        env=env,
    )
    assert bound.exit_code == 0, bound.stderr
    event = stored(ledger, json.loads(bound.stdout)["eventIDs"][0])
    assert (event["tc:receipt"], event["tc:setl_id"]) == ("R-12", "SETL-0001")
    ok(bind(client, "RX13", box(13)))

    def settle_cli(settlement: str, *where: str) -> Any:
        command = ["scan", "settle", *where, "--order", "RX13", "--settlement", settlement]
        return runner.invoke(main, command, env=env)

    nobody = settle_cli(json.dumps(INSURED))
    assert nobody.exit_code == 1 and "--institution" in nobody.stderr
    settled = settle_cli(json.dumps({**INSURED, "setl_id": "SETL-13"}), "--institution", "H1")
    assert settled.exit_code == 0, settled.stderr
    again = settle_cli(json.dumps(INSURED), "--institution", "H1")
    assert again.exit_code == 3 and "already_settled" in again.stdout
    bad = settle_cli("{not json")
    assert bad.exit_code == 2 and "--settlement" in bad.stderr
    invalid = settle_cli('{"mdtrt_setl_type": "9"}')
    assert invalid.exit_code == 1 and "/settlement/mdtrt_setl_type" in invalid.stderr
    found = settlement_of(ledger, "H1", "RX13")
    assert found is not None and found.setl_id == "SETL-13" and found.psn_no == PSN_NO
    erase = runner.invoke(main, ["patients", "erase", PATIENT], env=env)
    assert erase.exit_code == 0, erase.stderr
    for order in ("RX12", "RX13"):
        after = settlement_of(ledger, "H1", order)
        assert after is not None and after.psn_no is None and after.setl_id
    assert tables_holding(ledger, PSN_NO) == [] and PSN_NO not in log_text(ledger)
    assert verify_chain(ledger).intact
