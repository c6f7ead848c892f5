"""The Beijing platform's messages (issue 13, seed 004): derived from the log by the outbox
(:class:`adapters.beijing.owed.BeijingOwes`) and delivered by
:class:`adapters.beijing.delivery.BeijingTransport` to the stand-in over the network, or
written to a directory; on SQLite and PostgreSQL.

Events are made as an integration would: scans through ``POST /scans`` (a delivery's
documents too: purchase order, invoice, receipt and dispatch notes), and what scans do not
say (carriers, packing, batches, commissioning) as EPCIS events through ``POST /capture``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from adapters.beijing import render, standin
from adapters.beijing.delivery import BeijingTransport
from adapters.beijing.owed import BeijingOwes
from epcis.context import make_context
from ledger.access import Role
from ledger.application import Ledger
from projections.outbox import (
    ACKNOWLEDGED,
    INCOMPLETE,
    PENDING,
    Message,
    OutboxDelivery,
    listed,
    messages,
    outbox_runner,
)
from projections.runner import ReadModelRunner
from tests.http_support import RoleKeys, http_client
from tests.master_data_support import PRODUCT_HEADER, csv_bytes
from tests.patient_support import KEY_HEX
from tests.scan_support import box, load_hospital, post_scan

BTT = "urn:epcglobal:cbv:btt:"
SDT = "urn:epcglobal:cbv:sdt:"
WH = "urn:tracecode:loc:H1:WH"
OP = "urn:tracecode:loc:H1:OP"
WINDOW = "urn:tracecode:loc:H1:OP-1"
SUP = "urn:tracecode:loc:H1:SUP"
CARRIER = "urn:idcode:MA.156.M1.135790.0123456C.120"
WHEN = "2026-03-02T09:15:30.250+08:00"
AT = {"eventTime": WHEN, "eventTimeZoneOffset": "+08:00"}
PO = "urn:tracecode:order:H1:PO-2026-0001"
INVOICE = "http://idcode.org.cn/epcis/inv/011002300111.04567890"
RECEIPT = "http://idcode.org.cn/epcis/recadv/H1.REC2026030017"
DISPATCH = "http://idcode.org.cn/epcis/desadv/H1.ASN2026030009"
ADDRESS = [
    f"/rows/0/{name}"
    for name in ("streetAddressOne", "streetAddressTwo", "city", "state", "postalCode")
] + ["/rows/0/countryCode"]
DRUG_XB02 = {
    "additionalTradeItemIdentification": "8200001",
    "additionalTradeItemIdentificationTypeCode": "AHM",
    "regulatedProductName": "头孢克肟片",
    "manufacturerOfTradeItemPartyName": "另一药业",
    "dosageFormType": "片剂",
    "strengthDescription": "0.1g*10片",
    "netContentDescription": "0.1g*10片",
}


def ahm(serial: int) -> str:
    return f"AHM.{box(serial)}"


@pytest.fixture(autouse=True)
def _patient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_PATIENT_KEY", KEY_HEX)


@pytest.fixture
def runner(ledger: Ledger) -> ReadModelRunner:
    """The outbox's runner, its tables made before the server's own runners start."""
    return outbox_runner(ledger, [BeijingOwes(ledger)])


@pytest.fixture
def client(ledger: Ledger, runner: ReadModelRunner) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


@pytest.fixture(scope="module")
def stand() -> Iterator[str]:
    with standin.running() as url:
        yield url


@pytest.fixture
def platform(stand: str) -> Iterator[str]:
    """The stand-in, emptied and behaving."""
    with httpx.Client() as http:
        http.delete(stand + "/messages").raise_for_status()
        http.post(stand + "/faults", json={}).raise_for_status()
    yield stand


def received(url: str) -> list[dict[str, Any]]:
    return list(httpx.get(url + "/messages").json())


def scan(client: TestClient, **body: Any) -> dict[str, Any]:
    answer = post_scan(client, **body)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def capture(client: TestClient, *events: dict[str, Any]) -> None:
    document = {
        "@context": make_context({"tc": "urn:tracecode:ext:"}),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": WHEN,
        "epcisBody": {"eventList": list(events)},
    }
    answer = client.post(
        "/capture",
        content=json.dumps(document).encode(),
        headers={"Content-Type": "application/ld+json"},
    )
    assert answer.status_code == 202 and answer.json()["success"], answer.text


def observed(codes: list[str], step: str, where: str = WH, **more: Any) -> dict[str, Any]:
    """An ObjectEvent (OBSERVE unless ``action`` says) of ``codes`` at ``where``."""
    return {
        "type": "ObjectEvent",
        **AT,
        "epcList": codes,
        "action": "OBSERVE",
        "bizStep": step,
        "readPoint": {"id": where},
        **more,
    }


def receipt(*serials: int) -> dict[str, Any]:
    """The supplier's goods at the warehouse, as the SPD system captures them."""
    return observed(
        [box(s) for s in serials],
        "receiving",
        disposition="sellable_not_accessible",
        bizLocation={"id": WH},
        bizTransactionList=[
            {"type": "urn:tracecode:voc:btt:order", "bizTransaction": PO},
            {"type": "inv", "bizTransaction": INVOICE},
            {"type": "recadv", "bizTransaction": RECEIPT},
        ],
        sourceList=[
            {"type": "owning_party", "source": SUP},
            {"type": "possessing_party", "source": CARRIER},
        ],
    )


def to_pharmacy(client: TestClient, *serials: int) -> None:
    """Boxes moved from the warehouse to the outpatient pharmacy (nothing for the platform)."""
    codes = [box(s) for s in serials]
    scan(client, operation="transfer", location="WH", destination="OP", codes=codes)
    scan(client, operation="accept", location="OP", codes=codes)


def bind(client: TestClient, serial: int, **more: Any) -> dict[str, Any]:
    """A box dispensed at the pharmacy's window."""
    given = {"location": "OP-1", "codes": [box(serial)], "patient": "110101199001011234"}
    return scan(client, operation="bind", **{**given, **more})


def derive(runner: ReadModelRunner) -> list[Message]:
    runner.run_until_caught_up()
    return listed(runner, platform="beijing", limit=1000)


def deliver(ledger: Ledger, runner: ReadModelRunner, **settings: Any) -> int:
    owes = BeijingOwes(ledger)
    delivery = OutboxDelivery(
        runner, owes, BeijingTransport(**settings), event_of=ledger.get_event, refresh_every=0
    )
    try:
        return delivery.deliver()
    finally:
        delivery.close()


def event_time(ledger: Ledger, message: Message) -> dict[str, str]:
    stored = ledger.get_event(message.event)
    assert stored is not None
    return {k: stored.event[k] for k in ("eventTime", "eventTimeZoneOffset")}


def by_kind(found: list[Message]) -> dict[str, list[Message]]:
    out: dict[str, list[Message]] = {}
    for message in found:
        out.setdefault(message.kind, []).append(message)
    return out


def test_scans_and_captures_reach_the_platform_row_by_row(
    client: TestClient, ledger: Ledger, runner: ReadModelRunner, platform: str
) -> None:
    capture(client, receipt(1, 2, 3, 4))
    to_pharmacy(client, 1, 2)
    bind(client, 1, order="O-1", prescription="MZ20260302-00815", prescriber_name="王医生")
    scan(client, operation="prescan", location="OP", codes=[box(2)])
    units = dict(patient="110101199001011235", order="O-2", prescription="ZY2026-004512")
    scan(client, operation="bind", location="OP-1", product="XB02", quantity=3, **units)
    scan(client, operation="bind", location="OP-1", product="XB02", quantity=2, **units)
    scan(client, operation="destroy", location="WH", codes=[box(4)], reason="expired")
    scan(client, operation="stocktake", location="WH", codes=[box(3)])
    capture(
        client,
        observed(
            [box(3)],
            "shipping",
            disposition="returned",
            bizTransactionList=[
                {"type": "po", "bizTransaction": PO},
                {"type": "inv", "bizTransaction": INVOICE},
                {"type": "desadv", "bizTransaction": DISPATCH},
            ],
            sourceList=[{"type": "owning_party", "source": WH}],
            destinationList=[{"type": "owning_party", "destination": SUP}],
        ),
    )

    found = derive(runner)
    kinds = by_kind(found)
    assert [m.kind for m in found if m.kind != "entity"] == [
        *("drug", "receiving", "use", "split", "use", "use", "destruction", "shipping"),
    ]  # transfer, accept, prescan, stocktake: nothing
    entities = {m.key: m for m in kinds["entity"]}
    assert list(entities) == [f"entity:H1:{p}" for p in ("WH", "SUP", "OP-1")]
    assert entities["entity:H1:SUP"].body["rows"] == [{"name": "某医药公司"}]
    assert all(m.state == INCOMPLETE and m.missing == ADDRESS for m in entities.values())
    assert [m.msgid for m in found] == sorted(m.msgid for m in found)
    assert all(m.msgid.startswith("H1-") and len(m.msgid) == 22 for m in found)

    assert deliver(ledger, runner, url=platform) == 8
    got = received(platform)
    assert [(m["table"], m["id"], m["answer"]["result"]) for m in got] == [
        (m.kind, m.msgid, "accepted") for m in found if m.kind != "entity"
    ]
    rows = [m["body"]["rows"] for m in got]
    assert rows[0] == [DRUG_XB02]
    assert rows[1] == [
        {
            **AT,
            "epcList": [ahm(1), ahm(2), ahm(3), ahm(4)],
            "bizLocation": {"id": WH},
            "bizTransactionList": [
                {"type": BTT + "po", "bizTransaction": PO},
                {"type": BTT + "inv", "bizTransaction": INVOICE},
                {"type": BTT + "recadv", "bizTransaction": RECEIPT},
            ],
            "extension": {
                "sourceList": [
                    {"type": SDT + "owning_party", "source": SUP},
                    {"type": SDT + "possessing_party", "source": CARRIER},
                ],
                "destinationList": [],
            },
        }
    ]
    use, split, first, second = kinds["use"][0], kinds["split"][0], *kinds["use"][1:]
    assert rows[2] == [
        {
            **event_time(ledger, use),
            "epcList": [ahm(1)],
            "bizLocation": {"id": WINDOW},
            "prescribeDoc": "王医生",
            "prescription": "MZ20260302-00815",
        }
    ]
    # the box is split by the first bind of its units, which the split row says
    assert split.event == first.event and split.key == f"split:H1:{box(2)}"
    for row, message in zip(rows[3:6], (split, first, second), strict=True):
        assert row == [
            {
                **event_time(ledger, message),
                "epcList": [ahm(2)],
                "bizLocation": {"id": WINDOW},
                "prescription": "ZY2026-004512",
            }
        ]
    assert rows[6] == [
        {
            **event_time(ledger, kinds["destruction"][0]),
            "epcList": [ahm(4)],
            "bizLocation": {"id": WH},
            "bizTransactionList": [],
        }
    ]
    assert rows[7] == [
        {
            **AT,
            "epcList": [ahm(3)],
            "bizLocation": {"id": WH},
            "bizTransactionList": [
                {"type": BTT + "po", "bizTransaction": PO},
                {"type": BTT + "inv", "bizTransaction": INVOICE},
                {"type": BTT + "desadv", "bizTransaction": DISPATCH},
            ],
            "extension": {
                "sourceList": [{"type": SDT + "owning_party", "source": WH}],
                "destinationList": [],
            },
        }
    ]
    states = {m.msgid: m.state for m in derive(runner)}
    assert [m["id"] for m in got if states[m["id"]] != ACKNOWLEDGED] == []


def test_scans_with_their_documents_make_complete_receiving_and_shipping_rows(
    client: TestClient, ledger: Ledger, runner: ReadModelRunner, platform: str
) -> None:
    documents = {"purchase_order": "PO-2026-0001", "invoice": "011002300111.04567890"}
    where = {"location": "WH", "source": "SUP", "lot": "B2611", "expires": "2028-06-30"}
    codes = [box(41), box(42)]
    scan(client, operation="receive", codes=codes, receipt_note="REC-17", **where, **documents)
    back = {"location": "WH", "destination": "SUP", "codes": [box(42)], **documents}
    scan(client, operation="return_to_supplier", dispatch_note="ASN/9", **back)
    scan(client, operation="receive", codes=[box(43)], order="PO-3", **where)

    found = derive(runner)
    kinds = by_kind(found)
    assert [m.kind for m in found if m.kind != "entity"] == [
        *("drug", "receiving", "shipping", "receiving")
    ]
    received_here, without = kinds["receiving"]
    assert (received_here.state, received_here.missing) == (PENDING, [])
    assert (kinds["shipping"][0].state, kinds["shipping"][0].missing) == (PENDING, [])
    assert (without.state, without.missing) == (
        INCOMPLETE,
        [f"/rows/0/bizTransactionList[{BTT}{kind}]" for kind in ("inv", "recadv")],
    )
    assert deliver(ledger, runner, url=platform) == 3
    got = received(platform)
    assert [m["table"] for m in got] == ["drug", "receiving", "shipping"]
    assert all(m["answer"]["result"] == "accepted" for m in got)
    doc = "urn:tracecode:doc:H1:"
    assert got[1]["body"]["rows"] == [
        {
            **event_time(ledger, received_here),
            "epcList": [ahm(41), ahm(42)],
            "bizLocation": {"id": WH},
            "bizTransactionList": [
                {"type": BTT + "po", "bizTransaction": doc + "po:PO-2026-0001"},
                {"type": BTT + "inv", "bizTransaction": doc + "inv:011002300111.04567890"},
                {"type": BTT + "recadv", "bizTransaction": doc + "recadv:REC-17"},
            ],
            "extension": {
                "sourceList": [{"type": SDT + "owning_party", "source": SUP}],
                "destinationList": [],
            },
        }
    ]
    assert got[2]["body"]["rows"] == [
        {
            **event_time(ledger, kinds["shipping"][0]),
            "epcList": [ahm(42)],
            "bizLocation": {"id": WH},
            "bizTransactionList": [
                {"type": BTT + "po", "bizTransaction": doc + "po:PO-2026-0001"},
                {"type": BTT + "inv", "bizTransaction": doc + "inv:011002300111.04567890"},
                {"type": BTT + "desadv", "bizTransaction": doc + "desadv:ASN%2F9"},
            ],
        }
    ]
    assert without.body["rows"][0]["bizTransactionList"] == [
        {"type": BTT + "po", "bizTransaction": "urn:tracecode:order:H1:PO-3"}
    ]


def test_a_purchase_order_is_the_po_before_the_scans_order(
    client: TestClient, ledger: Ledger, runner: ReadModelRunner
) -> None:
    scan(
        client,
        operation="receive",
        location="WH",
        source="SUP",
        codes=[box(44)],
        order="HIS-77",
        purchase_order="PO-77",
        invoice="INV-77",
        receipt_note="REC-77",
    )
    [receiving] = [m for m in derive(runner) if m.kind == "receiving"]
    assert [t["type"] for t in receiving.body["rows"][0]["bizTransactionList"]] == [
        BTT + kind for kind in ("po", "inv", "recadv")
    ]
    assert receiving.body["rows"][0]["bizTransactionList"][0]["bizTransaction"] == (
        "urn:tracecode:doc:H1:po:PO-77"
    )


def test_packing_commissioning_take_away_and_recall_from_captured_events(
    client: TestClient, ledger: Ledger, runner: ReadModelRunner, platform: str
) -> None:
    capture(
        client,
        observed(
            [box(11), box(12)],
            "commissioning",
            action="ADD",
            disposition="active",
            bizLocation={"id": WH},
            ilmd={"cbvmda:lotNumber": "B24K071", "cbvmda:itemExpirationDate": "2027-10-31"},
            **{"tc:importId": "010120251000456789"},
        ),
        {
            "type": "AggregationEvent",
            **AT,
            "parentID": "AHM.81000030000000000001",
            "childEPCs": [box(11), box(12)],
            "action": "ADD",
            "bizStep": "packing",
            "bizLocation": {"id": WH},
            "tc:lotNumber": "B24K071",
            "tc:itemExpirationDate": "2027-10-31",
            "tc:productionDate": "20241031",
        },
        observed(
            [box(11)],
            "urn:tracecode:voc:bizstep:taking_away",
            WINDOW,
            bizTransactionList=[
                {
                    "type": "urn:tracecode:voc:btt:prescription",
                    "bizTransaction": "urn:tracecode:order:H1:ZY2026-004512",
                }
            ],
            **{"tc:prescriberName": "李医生"},
        ),
        observed(
            [box(12)],
            "holding",
            disposition="recalled",
            bizLocation={"id": WH},
            **{"tc:lotNumber": "B24K071"},
        ),
    )
    found = derive(runner)
    assert [m.kind for m in found if m.kind != "entity"] == [
        *("drug", "commissioning", "drug", "aggregation", "take-away", "recall"),
    ]
    assert deliver(ledger, runner, url=platform) == 6
    rows = {m["table"]: m["body"]["rows"] for m in received(platform) if m["table"] != "drug"}
    assert rows["commissioning"] == [
        {
            **AT,
            "epcList": [ahm(11), ahm(12)],
            "bizLocation": {"id": WH},
            "cbvmda:lotNumber": "B24K071",
            "cbvmda:itemExpirationDate": "2027-10-31",
            "certificateNo": "国药准字H2",
            "ImportID": "010120251000456789",
        }
    ]
    assert rows["aggregation"] == [
        {
            **AT,
            "parentID": "AHM.81000030000000000001",
            "childEPCs": [ahm(11), ahm(12)],
            "bizLocation": {"id": WH},
            "idcode:Extension": {
                "LOT": "B24K071",
                "EXP": "2027-10-31",
                "MFG": "20241031",
                "QTY": "2",
            },
        }
    ]
    assert rows["take-away"] == [
        {
            **AT,
            "epcList": [ahm(11)],
            "bizLocation": {"id": WINDOW},
            "prescribeDoc": "李医生",
            "prescription": "ZY2026-004512",
        }
    ]
    assert rows["recall"] == [
        {
            **AT,
            "epcList": [ahm(12)],
            "bizLocation": {"id": WH},
            "cbvmda:lotNumber": "B24K071",
            "QTY": "1",
        }
    ]
    drugs = [m["body"]["rows"][0] for m in received(platform) if m["table"] == "drug"]
    assert drugs[0] == DRUG_XB02
    assert drugs[1] == {
        "additionalTradeItemIdentification": "8100003",
        "additionalTradeItemIdentificationTypeCode": "AHM",
        "regulatedProductName": "阿莫西林胶囊",
        "manufacturerOfTradeItemPartyName": "某药业",
        "dosageFormType": "胶囊剂",
        "strengthDescription": "0.25g",
        "netContentDescription": "0.25g*24粒*20盒",
    }


def test_a_row_missing_fields_is_held_until_master_data_gives_them(
    client: TestClient, ledger: Ledger, runner: ReadModelRunner, platform: str
) -> None:
    code = "83000010000000000001"
    capture(
        client,
        observed(
            [code],
            "commissioning",
            action="ADD",
            bizLocation={"id": WH},
            ilmd={"cbvmda:itemExpirationDate": "2027-10-31"},
        ),
    )
    drug, entity, commissioning = derive(runner)
    assert (drug.state, drug.missing) == (
        INCOMPLETE,
        [
            f"/rows/0/{name}"
            for name in (
                "regulatedProductName",
                "manufacturerOfTradeItemPartyName",
                "dosageFormType",
                "strengthDescription",
                "netContentDescription",
            )
        ],
    )
    assert entity.kind == "entity" and entity.missing == ADDRESS
    assert commissioning.missing == ["/rows/0/certificateNo", "/rows/0/ImportID"]
    assert deliver(ledger, runner, url=platform) == 0
    assert received(platform) == []

    product = f"{PRODUCT_HEADER}\nXC03,,8300001,box,1,阿加糖酶β注射用浓溶液,35mg,注射剂,"
    product += "Genzyme Europe B.V.,国药准字SJ20150001,1,0"
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    headers = {"Content-Type": "text/csv", **auth.header(Role.ADMIN)}
    imported = client.post("/masterdata", content=csv_bytes(product), headers=headers)
    assert imported.status_code == 201, imported.text
    assert deliver(ledger, runner, url=platform) == 1  # the drug; commissioning lacks ImportID
    [sent] = received(platform)
    assert (sent["id"], sent["body"]["rows"][0]["netContentDescription"]) == (drug.msgid, "35mg")
    again = {m.key: m for m in derive(runner)}
    assert again[commissioning.key].missing == ["/rows/0/ImportID"]
    assert again[commissioning.key].body["rows"][0]["certificateNo"] == "国药准字SJ20150001"


def test_deriving_again_gives_the_same_ids_and_sends_nothing_twice(
    client: TestClient, ledger: Ledger, runner: ReadModelRunner, platform: str
) -> None:
    capture(client, receipt(21, 22))
    to_pharmacy(client, 21)
    bound = bind(client, 21, prescription="MZ-1", scanId="b-21")
    first = derive(runner)
    assert deliver(ledger, runner, url=platform) == 3
    named = [(m.key, m.msgid) for m in first]

    assert runner.rebuild() > 0  # from the start: every message is found under its key
    assert [(m.key, m.msgid, m.state) for m in derive(runner)] == [
        (m.key, m.msgid, ACKNOWLEDGED if m.kind != "entity" else INCOMPLETE) for m in first
    ]
    assert deliver(ledger, runner, url=platform) == 0
    assert len(received(platform)) == 3

    with runner.transaction() as conn:  # the outbox lost: derived again, the same ids
        conn.execute(delete(messages))
    assert runner.rebuild() > 0
    assert [(m.key, m.msgid) for m in derive(runner)] == named
    assert deliver(ledger, runner, url=platform) == 3
    answers = [m["answer"]["result"] for m in received(platform)]
    assert answers == ["accepted"] * 3 + ["already-received"] * 3

    scan(client, operation="cancel", scanId="b-21", reason="wrong patient")
    after = derive(runner)
    assert len(after) == len(first)  # the seed has no message that withdraws a row
    [use] = [m for m in after if m.kind == "use"]
    assert use.state == ACKNOWLEDGED and use.superseded_by is not None
    assert use.event == bound["eventIDs"][0]


def test_xml_and_the_directory(
    client: TestClient, ledger: Ledger, runner: ReadModelRunner, platform: str, tmp_path: Path
) -> None:
    capture(client, receipt(31))
    found = [m for m in derive(runner) if m.state != INCOMPLETE]
    assert [m.kind for m in found] == ["drug", "receiving"]
    assert deliver(ledger, runner, url=platform, form="xml") == 2
    for message, got in zip(found, received(platform), strict=True):
        assert got["format"] == "xml" and got["answer"]["result"] == "accepted"
        back, problems = render.from_xml(got["body"].encode())
        assert problems == [] and back.id == message.msgid
        assert back.rows == message.body["rows"]

    with runner.transaction() as conn:
        conn.execute(delete(messages))
    runner.rebuild()
    folder = tmp_path / "beijing"
    assert deliver(ledger, runner, directory=folder) == 2
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(f"{m.msgid}.json" for m in found)
    for message in found:
        written = render.from_json((folder / f"{message.msgid}.json").read_bytes())
        assert (written.table.key, written.rows) == (message.kind, message.body["rows"])
    transport = BeijingTransport(directory=folder)
    reply = transport.send(found[0])
    assert reply.taken and reply.answer is not None
    assert reply.answer["result"] == "already-received"
    assert sorted(p.name for p in folder.iterdir()) == files
