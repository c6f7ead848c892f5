"""The stand-in Beijing platform (seed 004 §三, tables 1–14), over real sockets.

Each table has one row built by hand from the seed's table, with realistic values (codes as
the seed writes them: ``AHM.`` and 20 digits). The stand-in must take each as JSON and as
XML, refuse it without each required field (naming the field), take a message id once, list
what it answered in order, and misbehave as told.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.beijing import check, render, standin
from adapters.beijing.tables import BY_KEY, TABLES, Field, Kind, Need

HERE = "http://idcode.org.cn/epcis/loc/MA.156.M1.123456.0123456C"
SUPPLIER = "http://idcode.org.cn/epcis/loc/MA.156.M1.100001.0123456C.120"
CARRIER = "http://idcode.org.cn/epcis/loc/MA.156.M1.135790.0123456C.120"
CARRIER_STORE = "http://idcode.org.cn/epcis/loc/MA.156.M1.135790.0123456C.08"
CODES = ["AHM.81000120000000000011", "AHM.81000120000000000028"]
WHEN = {"eventTime": "2026-03-02T09:15:30.250+08:00", "eventTimeZoneOffset": "+08:00"}
SCAN = {**WHEN, "epcList": CODES, "bizLocation": {"id": HERE}}
BTT = "urn:epcglobal:cbv:btt:"
SDT = "urn:epcglobal:cbv:sdt:"


def _transactions(last: str, number: str) -> list[dict[str, str]]:
    return [
        {
            "type": BTT + "po",
            "bizTransaction": "http://idcode.org.cn/epcis/po/MA.156.M2.100001.PO2026030001",
        },
        {
            "type": BTT + "inv",
            "bizTransaction": "http://idcode.org.cn/epcis/inv/011002300111.04567890",
        },
        {
            "type": BTT + last,
            "bizTransaction": f"http://idcode.org.cn/epcis/{last}/MA.156.M2.100001.{number}",
        },
    ]


EXTENSION = {
    "sourceList": [
        {"type": SDT + "owning_party", "source": SUPPLIER},
        {"type": SDT + "possessing_party", "source": CARRIER},
    ],
    "destinationList": [{"type": SDT + "location", "destination": CARRIER_STORE}],
}
OBJECT_KEY = {"Name": "GTIN", "Value": "06912345678902"}

ROWS: dict[str, dict[str, Any]] = {
    "serial-request": {
        "SendingSystem": "6901234000017",
        "IDType": "GTIN",
        "size": 2,
        "ObjectKey": OBJECT_KEY,
        "Sender_ID": "MA.156.M1.100001",
        "Receiver_ID": "MA.156.M0.110000",
    },
    "serial-issue": {
        "ReceivingSystem": "6901234000017",
        "ACTIONCODE": "C",
        "IDType": "GTIN",
        "size": 2,
        "SerialNumber": ["86153050000031896084", "86153050000031896091"],
        "ObjectKey": OBJECT_KEY,
        "Sender_ID": "MA.156.M0.110000",
        "Receiver_ID": "MA.156.M1.100001",
    },
    "commissioning": {
        **SCAN,
        "cbvmda:lotNumber": "B24K071",
        "cbvmda:itemExpirationDate": "2027-10-31",
        "certificateNo": "京药监急进〔2025〕0123号",
        "ImportID": "010120251000456789",
    },
    "aggregation": {
        **WHEN,
        "parentID": "AHM.82000120000000000018",
        "childEPCs": CODES,
        "bizLocation": {"id": HERE},
        "idcode:Extension": {"LOT": "B24K071", "EXP": "2027-10-31", "MFG": "20241031", "QTY": "2"},
    },
    "receiving": {
        **SCAN,
        "bizTransactionList": _transactions("recadv", "REC2026030017"),
        "extension": EXTENSION,
    },
    "shipping": {
        **SCAN,
        "bizTransactionList": _transactions("desadv", "ASN2026030009"),
        "extension": EXTENSION,
    },
    "use": {**SCAN, "prescribeDoc": "王医生", "prescription": "MZ20260302-00815"},
    "take-away": {**SCAN, "prescribeDoc": "王医生", "prescription": "ZY2026-004512"},
    "recall": {**SCAN, "cbvmda:lotNumber": "B24K071", "QTY": "2"},
    "split": {**SCAN, "prescribeDoc": "李医生", "prescription": "ZY2026-004512"},
    "destruction": {
        **SCAN,
        "bizTransactionList": [
            {
                "type": "urn:tracecode:btt:destruction",
                "bizTransaction": "http://idcode.org.cn/epcis/hw/2026-0312",
            }
        ],
    },
    "follow-up": {
        **SCAN,
        "prescription": "ZY2026-004512",
        "Pic": {"opened": "https://example.org/f/1.jpg", "lastUse": "https://example.org/f/2.jpg"},
        "video": {"opened": "https://example.org/f/1.mp4"},
    },
    "drug": {
        "additionalTradeItemIdentification": "81000120",
        "additionalTradeItemIdentificationTypeCode": "NMPA",
        "regulatedProductName": "阿加糖酶β注射用浓溶液",
        "manufacturerOfTradeItemPartyName": "Genzyme Europe B.V.",
        "dosageFormType": "注射剂",
        "strengthDescription": "35mg",
        "netContentDescription": "1瓶/盒",
    },
    "entity": {
        "name": "北京天竺综合保税区某医药进口有限公司",
        "streetAddressOne": "北京市顺义区天竺综合保税区",
        "streetAddressTwo": "天柱路8号2号库",
        "city": "北京市",
        "state": "北京市",
        "postalCode": "101312",
        "countryCode": "CN",
    },
}


def message(key: str, row: dict[str, Any] | None = None, id: str = "") -> render.Message:
    return render.Message(BY_KEY[key], id or f"{key}-0001", [ROWS[key] if row is None else row])


class Stand:
    """The stand-in at ``url``, asked through one client (a new client costs 0.1 s)."""

    def __init__(self, url: str, client: httpx.Client) -> None:
        self.url = url
        self.client = client

    def post(self, msg: render.Message, form: str = "json", **kw: Any) -> httpx.Response:
        body = render.to_xml(msg) if form == "xml" else render.to_json(msg)
        kind = "application/xml" if form == "xml" else "application/json"
        return self.client.post(self.url + "/", content=body, headers={"content-type": kind}, **kw)

    def result(self, msg: render.Message, form: str = "json") -> str:
        return str(self.post(msg, form).json()["result"])

    def messages(self) -> list[dict[str, Any]]:
        return list(self.client.get(self.url + "/messages").json())

    def faults(self, **faults: Any) -> None:
        self.client.post(self.url + "/faults", json=faults).raise_for_status()


@pytest.fixture(scope="module")
def running() -> Iterator[Stand]:
    with standin.running() as url, httpx.Client() as client:
        yield Stand(url, client)


@pytest.fixture
def stand(running: Stand) -> Stand:
    running.faults()
    running.client.delete(running.url + "/messages").raise_for_status()
    return running


def test_every_table_has_a_sample_row_and_it_passes_the_check() -> None:
    assert set(ROWS) == set(BY_KEY)
    assert [t.number for t in TABLES] == list(range(1, 15))
    for key, row in ROWS.items():
        assert check.problems(BY_KEY[key], row) == [], key


SCAN_HEAD = ["eventTime", "eventTimeZoneOffset", "epcList", "bizLocation"]
SEED_ORDER = {
    1: ["SendingSystem", "IDType", "size", "ObjectKey", "Sender_ID", "Receiver_ID"],
    2: [
        *("ReceivingSystem", "ACTIONCODE", "IDType", "size", "SerialNumber", "ObjectKey"),
        *("Sender_ID", "Receiver_ID"),
    ],
    3: [*SCAN_HEAD, "cbvmda:lotNumber", "cbvmda:itemExpirationDate", "certificateNo", "ImportID"],
    4: [
        *("eventTime", "eventTimeZoneOffset", "parentID", "childEPCs", "bizLocation"),
        "idcode:Extension",
    ],
    5: [*SCAN_HEAD, "bizTransactionList", "extension"],
    6: [*SCAN_HEAD, "bizTransactionList", "extension"],
    7: [*SCAN_HEAD, "prescribeDoc", "prescription"],
    8: [*SCAN_HEAD, "prescribeDoc", "prescription"],
    9: [*SCAN_HEAD, "cbvmda:lotNumber", "QTY"],
    10: [*SCAN_HEAD, "prescribeDoc", "prescription"],
    11: [*SCAN_HEAD, "bizTransactionList", "extension"],
    12: [*SCAN_HEAD, "prescription", "Pic", "video"],
}


def test_the_tables_name_the_fields_in_the_seeds_order() -> None:
    for table in TABLES[:12]:
        assert [f.name for f in table.fields] == SEED_ORDER[table.number], table.key
    optional = {t.key: [f.name for f in t.fields if f.need is not Need.YES] for t in TABLES}
    assert optional["use"] == optional["split"] == ["prescribeDoc"]
    assert optional["recall"] == ["cbvmda:lotNumber", "QTY"]
    assert optional["commissioning"] == ["cbvmda:lotNumber"]
    assert optional["receiving"] == optional["destruction"] == ["extension"]
    assert optional["drug"] == optional["entity"] == []


@pytest.mark.parametrize("form", ["json", "xml"])
@pytest.mark.parametrize("key", list(ROWS))
def test_each_table_is_accepted(stand: Stand, key: str, form: str) -> None:
    answer = stand.post(message(key, id=f"{key}-{form}"), form)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"result": "accepted", "id": f"{key}-{form}", "table": key, "rows": 1}
    [seen] = stand.messages()
    assert (seen["table"], seen["id"], seen["format"]) == (key, f"{key}-{form}", form)
    assert seen["status"] == 200


@pytest.mark.parametrize("key", list(ROWS))
def test_json_to_xml_to_json_gives_the_same_message(key: str) -> None:
    sent = message(key)
    back, found = render.from_xml(render.to_xml(sent))
    assert found == []
    assert render.from_json(render.to_json(back)) == sent


def test_the_xml_form_names_elements_after_the_fields() -> None:
    xml = render.to_xml(message("receiving")).decode()
    assert '<message xmlns:cbvmda="urn:epcglobal:cbv:mda"' in xml
    assert 'table="receiving" id="receiving-0001"><row><eventTime>' in xml
    assert f"<epcList><epc>{CODES[0]}</epc><epc>{CODES[1]}</epc></epcList>" in xml
    assert f"<bizLocation><id>{HERE}</id></bizLocation>" in xml
    assert f'<bizTransaction type="{BTT}recadv">' in xml
    assert f'<sourceList><source type="{SDT}owning_party">{SUPPLIER}</source>' in xml
    commissioning = render.to_xml(message("commissioning")).decode()
    assert "<cbvmda:itemExpirationDate>2027-10-31<" in commissioning
    issue = render.to_xml(message("serial-issue")).decode()
    serials = "<SerialNumber>86153050000031896084</SerialNumber><SerialNumber>86153050000031896091<"
    assert serials in issue
    assert "<ObjectKey><Name>GTIN</Name><Value>06912345678902</Value></ObjectKey>" in issue
    assert "<idcode:Extension><LOT>B24K071</LOT>" in render.to_xml(message("aggregation")).decode()


def _required(fields: tuple[Field, ...], at: str = "") -> Iterator[tuple[str, tuple[str, ...]]]:
    """(JSON pointer, path of keys) of every required field, nested ones included."""
    for field in fields:
        if field.need is Need.YES:
            yield f"{at}/{field.name}", (field.name,)
        if field.kind is Kind.OBJECT:
            for pointer, keys in _required(field.children, f"{at}/{field.name}"):
                yield pointer, (field.name, *keys)


MISSING = [
    (key, pointer, keys)
    for key, table in BY_KEY.items()
    for pointer, keys in _required(table.fields)
    if all(k in ROWS[key] for k in keys[:-1])
]


@pytest.mark.parametrize(
    ("key", "pointer", "keys"), MISSING, ids=[f"{k}{p}" for k, p, _ in MISSING]
)
def test_each_missing_required_field_is_refused_naming_it(
    stand: Stand, key: str, pointer: str, keys: tuple[str, ...]
) -> None:
    row = copy.deepcopy(ROWS[key])
    holder = row
    for name in keys[:-1]:
        holder = holder[name]
    del holder[keys[-1]]
    answer = stand.post(message(key, row))
    assert answer.status_code == 400
    problems = answer.json()["problems"]
    assert {p["pointer"] for p in problems} == {"/rows/0" + pointer}
    assert f"{keys[-1]} (" in problems[0]["message"] and "required" in problems[0]["message"]


def test_a_missing_field_in_xml_is_named_by_its_element_path(stand: Stand) -> None:
    row = copy.deepcopy(ROWS["aggregation"])
    del row["idcode:Extension"]["MFG"]
    row["childEPCs"] = [CODES[0], ""]
    answer = stand.post(message("aggregation", row), "xml")
    assert answer.status_code == 400
    assert answer.json()["problems"] == [
        {"path": "/message/row[1]/childEPCs/epc[2]", "message": "epc must not be empty"},
        {"path": "/message/row[1]/idcode:Extension/MFG", "message": "MFG (生产日期) is required"},
    ]


TRANSACTIONS = "/bizTransactionList"
BAD_FORMS = [
    ("use", {"eventTime": "2026-03-02 09:15"}, "/eventTime"),
    ("use", {"eventTime": "2026-03-02T09:15:30"}, "/eventTime"),
    ("use", {"eventTimeZoneOffset": "0800"}, "/eventTimeZoneOffset"),
    ("use", {"epcList": []}, "/epcList"),
    ("use", {"epcList": CODES[0]}, "/epcList"),
    ("use", {"epcList": [CODES[0], 81000120000000000011]}, "/epcList/1"),
    ("use", {"bizLocation": HERE}, "/bizLocation"),
    ("use", {"bizLocation": {"id": HERE, "name": "x"}}, "/bizLocation/name"),
    ("use", {"ward": "3"}, "/ward"),
    ("commissioning", {"cbvmda:itemExpirationDate": "2027-02-30"}, "/cbvmda:itemExpirationDate"),
    ("commissioning", {"Cbvmda:itemExpirationDate": "2027-10-31"}, "/Cbvmda:itemExpirationDate"),
    ("serial-request", {"size": "50000"}, "/size"),
    ("serial-request", {"size": 0}, "/size"),
    ("serial-issue", {"ACTIONCODE": "X"}, "/ACTIONCODE"),
    ("serial-issue", {"SerialNumber": []}, "/SerialNumber"),
    (
        "aggregation",
        {"idcode:Extension": {"EXP": "2027-10-31", "MFG": "20241031", "QTY": 2}},
        "/idcode:Extension/QTY",
    ),
    (
        "receiving",
        {"bizTransactionList": _transactions("desadv", "A1")},
        "/bizTransactionList/2/type",
    ),
    (
        "receiving",
        {"bizTransactionList": [{"type": BTT + "po"}]},
        "/bizTransactionList/0/bizTransaction",
    ),
    (
        "receiving",
        {"extension": {"sourceList": [], "destinationList": []}},
        "/extension/sourceList",
    ),
    ("receiving", {"extension": {"destinationList": []}}, "/extension/sourceList"),
    ("follow-up", {"Pic": {}}, "/Pic"),
    ("follow-up", {"video": {"a b": "x"}}, "/video/a b"),
    ("drug", {"dosageFormType": "  "}, "/dosageFormType"),
]


@pytest.mark.parametrize(("key", "change", "pointer"), BAD_FORMS)
def test_a_field_of_the_wrong_form_is_refused_naming_it(
    key: str, change: dict[str, Any], pointer: str
) -> None:
    found = check.problems(BY_KEY[key], {**ROWS[key], **change})
    assert pointer in {p.pointer for p in found}, found


def test_a_recall_names_its_codes_or_its_lot() -> None:
    recall = BY_KEY["recall"]
    by_lot = {**ROWS["recall"], "epcList": []}
    assert check.problems(recall, by_lot) == []
    del by_lot["cbvmda:lotNumber"]
    [problem] = check.problems(recall, by_lot)
    assert "epcList or cbvmda:lotNumber" in problem.message


@pytest.mark.parametrize(
    ("body", "kind", "where"),
    [
        (b"{", "application/json", {"pointer": ""}),
        (b'{"table": "sales", "id": "1", "rows": [{}]}', "application/json", {"pointer": "/table"}),
        (b'{"table": "use", "rows": [{}]}', "application/json", {"pointer": "/id"}),
        (b'{"table": "use", "id": "1", "rows": []}', "application/json", {"pointer": "/rows"}),
        (b'<message table="use" id="1"/>', "application/xml", {"path": "/message"}),
        (b'<message id="1"><row/></message>', "application/xml", {"path": "/message/@table"}),
        (b"<EPCISDocument/>", "text/xml", {"path": "/"}),
    ],
)
def test_a_message_that_is_no_message_is_refused(
    stand: Stand, body: bytes, kind: str, where: dict[str, str]
) -> None:
    answer = stand.client.post(stand.url + "/", content=body, headers={"content-type": kind})
    assert answer.status_code == 400
    [problem] = answer.json()["problems"]
    assert {k: problem[k] for k in where} == where


def test_another_content_type_is_refused(stand: Stand) -> None:
    answer = stand.client.post(
        stand.url + "/", content=b"x", headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 415


def test_a_message_id_is_taken_once(stand: Stand) -> None:
    assert stand.result(message("use", id="m-1")) == "accepted"
    again = stand.post(message("use", id="m-1"), "xml")
    assert again.status_code == 200
    assert again.json()["result"] == "already-received"
    assert "differs" not in again.json()["message"]
    other = stand.post(message("split", id="m-1"))
    assert other.json()["result"] == "already-received"
    assert "this body differs" in other.json()["message"]
    seen = stand.messages()
    results = [m["answer"]["result"] for m in seen]
    assert results == ["accepted", "already-received", "already-received"]


def test_a_refused_id_may_be_sent_again_corrected(stand: Stand) -> None:
    bad = {k: v for k, v in ROWS["use"].items() if k != "prescription"}
    assert stand.post(message("use", bad, id="m-2")).status_code == 400
    assert stand.result(message("use", id="m-2")) == "accepted"


def test_messages_are_listed_oldest_first_and_deleted(stand: Stand) -> None:
    for number in range(5):
        stand.post(message("drug", id=f"d-{number}"), "xml" if number % 2 else "json")
    seen = stand.messages()
    assert [m["id"] for m in seen] == [f"d-{n}" for n in range(5)]
    assert [m["received"] for m in seen] == sorted(m["received"] for m in seen)
    assert seen[0]["body"] == json.loads(render.to_json(message("drug", id="d-0")))
    assert seen[1]["body"].startswith("<?xml") and seen[1]["format"] == "xml"
    listed = {"table", "id", "received", "format", "body", "status", "answer", "fault"}
    assert set(seen[0]) == listed
    assert stand.client.delete(stand.url + "/messages").json() == {"deleted": 5}
    assert stand.messages() == []
    assert stand.result(message("drug", id="d-0")) == "accepted"


def test_the_tables_are_served_as_data(stand: Stand) -> None:
    tables = stand.client.get(stand.url + "/tables").json()
    assert [t["number"] for t in tables] == list(range(1, 15))
    receiving = tables[4]
    assert receiving["zh"] == "入库信息"
    [transactions] = [f for f in receiving["fields"] if f["name"] == "bizTransactionList"]
    assert [m["type"] for m in transactions["members"]] == [BTT + "po", BTT + "inv", BTT + "recadv"]


# ---- faults ----


def _faults(stand: Stand, **faults: Any) -> None:
    stand.client.post(stand.url + "/faults", json=faults).raise_for_status()


def test_down_for_answers_503_then_comes_back(stand: Stand) -> None:
    stand.faults(down_for=600)
    assert stand.post(message("use", id="f-1")).status_code == 503
    assert stand.messages() == []
    stand.faults(down_for=0.2)
    deadline = time.monotonic() + 10
    while (answer := stand.post(message("use", id="f-1"))).status_code == 503:
        assert time.monotonic() < deadline, "still down"
        time.sleep(0.05)
    assert answer.json()["result"] == "accepted"


def test_error_rate_fails_the_share_asked_for_reproducibly(stand: Stand) -> None:
    def run() -> list[int]:
        stand.faults(error_rate=0.3, seed=7)
        return [stand.post(message("drug", id=f"e-{n}")).status_code for n in range(40)]

    first = run()
    stand.client.delete(stand.url + "/messages")
    assert run() == first
    assert set(first) == {200, 500} and 4 <= first.count(500) <= 20
    failed = [n for n, status in enumerate(first) if status == 500]
    stand.faults()
    for n in failed:  # a failed message was not taken: sent again, it is accepted
        assert stand.result(message("drug", id=f"e-{n}")) == "accepted"


def test_timeout_after_commit_takes_the_message_and_answers_too_late(stand: Stand) -> None:
    stand.faults(timeout_after_commit=1, hang=5)
    with pytest.raises(httpx.ReadTimeout):
        stand.post(message("use", id="t-1"), timeout=0.5)
    again = stand.post(message("use", id="t-1"))
    assert again.json()["result"] == "already-received"
    assert stand.result(message("use", id="t-2")) == "accepted"  # worn off
    faults = [m["fault"] for m in stand.messages()]
    assert faults == ["timeout_after_commit", None, None]


def test_drop_responses_takes_the_message_and_cuts_the_connection(stand: Stand) -> None:
    stand.faults(drop_responses=2)
    for id in ("x-1", "x-2"):
        with pytest.raises(httpx.TransportError):
            stand.post(message("use", id=id))
    assert stand.result(message("use", id="x-1")) == "already-received"
    assert stand.result(message("use", id="x-3")) == "accepted"


def test_slow_answers_after_the_wait(stand: Stand) -> None:
    stand.faults(slow=1.0)
    with pytest.raises(httpx.ReadTimeout):
        stand.post(message("use", id="s-1"), timeout=0.2)
    stand.faults()
    assert stand.result(message("use", id="s-2")) == "accepted"


def test_an_empty_faults_body_resets_and_bad_faults_are_refused(stand: Stand) -> None:
    stand.faults(down_for=60, drop_responses=3)
    assert stand.client.get(stand.url + "/faults").json()["drop_responses"] == 3
    assert stand.client.post(stand.url + "/faults", json={}).json()["down_for"] == 0
    assert stand.post(message("use")).status_code == 200
    bad = stand.client.post(stand.url + "/faults", json={"error_rate": 2, "flaky": True})
    assert bad.status_code == 400
    assert {p["pointer"] for p in bad.json()["problems"]} == {"/error_rate", "/flaky"}


# ---- the command line ----


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_cli_serves_the_stand_in(tmp_path: Path) -> None:
    port = _free_port()
    logged = tmp_path / "standin.log"
    root = str(Path(__file__).resolve().parent.parent)
    command = ["standin", "beijing", "--port", str(port)]
    with logged.open("wb") as log, httpx.Client() as client:
        process = subprocess.Popen(
            [sys.executable, "-c", "from adapters.cli import main; main()", *command],
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONPATH": root},
        )
        stand = Stand(f"http://127.0.0.1:{port}", client)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    answer = stand.post(message("entity"))
                    break
                except httpx.TransportError:
                    assert process.poll() is None, logged.read_text()
                    assert time.monotonic() < deadline, "the stand-in did not start"
                    time.sleep(0.1)
            assert answer.json()["result"] == "accepted"
            assert stand.messages()[0]["table"] == "entity"
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert "stand-in Beijing platform" in logged.read_text()


def test_what_xml_cannot_say_as_a_value_is_named_by_its_element_path(stand: Stand) -> None:
    xml = render.to_xml(message("use")).decode()
    xml = xml.replace("<epc>", "<code>", 1).replace("</epc>", "</code>", 1)
    xml = xml.replace("</row>", "<prescription>again</prescription><ward>3</ward></row>")
    xml = xml.replace("<prescribeDoc>王医生", "<prescribeDoc><b>王医生</b>")
    answer = stand.client.post(
        stand.url + "/", content=xml.encode(), headers={"content-type": "application/xml"}
    )
    assert answer.status_code == 400
    assert [p["path"] for p in answer.json()["problems"]] == [
        "/message/row[1]/epcList/code[1]",
        "/message/row[1]/prescribeDoc",
        "/message/row[1]/prescription",
        "/message/row[1]/prescribeDoc",  # and, so, it holds no text
        "/message/row[1]/ward",
    ]


def test_xml_declaring_entities_is_refused(stand: Stand) -> None:
    body = b'<!DOCTYPE m [<!ENTITY x "y">]><message table="use" id="1"><row/></message>'
    answer = stand.client.post(stand.url + "/", content=body, headers={"content-type": "text/xml"})
    assert answer.status_code == 400
    assert stand.messages()[0]["answer"]["result"] == "refused"
