"""A delivery's documents on a scan (issue 13): ``purchase_order``, ``invoice``,
``receipt_note`` on ``receive``, ``dispatch_note`` on ``return_to_supplier`` and
``transfer``; through ``POST /scans`` and ``tracecode scan``, on SQLite and PostgreSQL.
They become the event's bizTransactions of CBV types po / inv / recadv / desadv; a bad one
is refused by its JSON pointer and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from adapters.cli import main
from ledger.application import Ledger
from tests.http_support import http_client
from tests.scan_support import box, load_hospital, post_scan

RECEIVED = {"purchase_order": "PO-2026-0001", "invoice": "011002300111.04567890"}
DOC = "urn:tracecode:doc:H1:"


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def event(ledger: Ledger, event_id: str) -> dict[str, Any]:
    found = ledger.get_event(event_id)
    assert found is not None
    return found.event


def stored(ledger: Ledger, answer: Any) -> dict[str, Any]:
    """The one event a scan stored."""
    assert answer.status_code == 201, answer.text
    [event_id] = answer.json()["eventIDs"]
    return event(ledger, event_id)


def count(ledger: Ledger) -> int:
    return sum(1 for _ in ledger.stored_events())


def receive(client: TestClient, *serials: int, **more: Any) -> Any:
    codes = [box(s) for s in serials]
    return post_scan(client, operation="receive", location="WH", codes=codes, **more)


def test_a_receive_names_its_order_invoice_and_receipt_note(
    client: TestClient, ledger: Ledger
) -> None:
    event = stored(ledger, receive(client, 1, source="SUP", receipt_note="REC/2026/17", **RECEIVED))
    assert event["bizTransactionList"] == [
        {"type": "po", "bizTransaction": DOC + "po:PO-2026-0001"},
        {"type": "inv", "bizTransaction": DOC + "inv:011002300111.04567890"},
        {"type": "recadv", "bizTransaction": DOC + "recadv:REC%2F2026%2F17"},
    ]
    assert event["sourceList"] == [{"type": "owning_party", "source": "urn:tracecode:loc:H1:SUP"}]


def test_goods_shipped_out_name_their_dispatch_note(client: TestClient, ledger: Ledger) -> None:
    assert receive(client, 2, 3).status_code == 201
    returned = post_scan(
        client,
        operation="return_to_supplier",
        location="WH",
        destination="SUP",
        codes=[box(2)],
        dispatch_note="ASN_2026-0009",
        **RECEIVED,
    )
    assert stored(ledger, returned)["bizTransactionList"] == [
        {"type": "po", "bizTransaction": DOC + "po:PO-2026-0001"},
        {"type": "inv", "bizTransaction": DOC + "inv:011002300111.04567890"},
        {"type": "desadv", "bizTransaction": DOC + "desadv:ASN_2026-0009"},
    ]
    moved = post_scan(
        client,
        operation="transfer",
        location="WH",
        destination="OP",
        codes=[box(3)],
        dispatch_note="DB-7",
        order="RX-7",
    )
    assert stored(ledger, moved)["bizTransactionList"] == [
        {"type": "urn:tracecode:voc:btt:order", "bizTransaction": "urn:tracecode:order:H1:RX-7"},
        {"type": "desadv", "bizTransaction": DOC + "desadv:DB-7"},
    ]


@pytest.mark.parametrize(
    ("body", "pointer", "words"),
    [
        ({"purchase_order": "P" * 41}, "/purchase_order", "longer than 40"),
        ({"invoice": "0110 0230"}, "/invoice", "letters, digits and - _ . / only"),
        ({"receipt_note": "入库单-17"}, "/receipt_note", "letters, digits"),
        ({"receipt_note": "R\n17"}, "/receipt_note", "control character"),
        ({"purchase_order": 2026}, "/purchase_order", "non-empty string"),
        ({"invoice": " "}, "/invoice", "non-empty string"),
        ({"dispatch_note": "ASN-1"}, "/dispatch_note", "on return_to_supplier or transfer"),
        ({"operation": "accept", "invoice": "INV-1"}, "/invoice", "not accept"),
        ({"operation": "bind", "patient": "P-1", "receipt_note": "R1"}, "/receipt_note", "bind"),
    ],
)
def test_a_bad_document_is_named_and_nothing_is_stored(
    client: TestClient, ledger: Ledger, body: dict[str, Any], pointer: str, words: str
) -> None:
    before = count(ledger)
    good = RECEIVED if body.get("operation", "receive") == "receive" else {}
    scan = {"operation": "receive", "location": "WH", "codes": [box(9)], **good, **body}
    answer = post_scan(client, **scan)
    assert answer.status_code == 400, answer.text
    errors = {e["pointer"]: e["message"] for e in answer.json()["errors"]}
    assert list(errors) == [pointer] and words in errors[pointer]
    assert count(ledger) == before


def test_the_command_line_takes_the_documents(client: TestClient, ledger: Ledger) -> None:
    env = {"TRACECODE_DATABASE_URL": ledger.settings.url}
    runner = CliRunner()
    common = ["--location", "WH", "--purchase-order", "PO-9", "--invoice", "INV-9"]
    made = runner.invoke(
        main, ["scan", "receive", box(21), *common, "--receipt-note", "REC-9"], env=env
    )
    assert made.exit_code == 0, made.stderr
    [event_id] = json.loads(made.stdout)["eventIDs"]
    assert [t["bizTransaction"] for t in event(ledger, event_id)["bizTransactionList"]] == [
        DOC + "po:PO-9",
        DOC + "inv:INV-9",
        DOC + "recadv:REC-9",
    ]
    before = count(ledger)
    refused = runner.invoke(
        main,
        ["scan", "return_to_supplier", box(21), *common, "--dispatch-note", "ASN 9"],
        env=env,
    )
    assert refused.exit_code == 1
    assert "\n/dispatch_note: dispatch_note is a document number" in refused.stderr
    assert count(ledger) == before
