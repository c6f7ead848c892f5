"""Hospital scans through ``POST /scans``: the answers, what is stored, and what is not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from adapters.cli import main
from epcis.document import load_valid
from epcis.event_hash import document_hash_ids
from ledger.access import Role
from ledger.application import Ledger
from ledger.code_library import UNDO_DEPTH
from ledger.patient_mappings import PatientMappings
from ledger.verify import verify_chain
from tests.http_support import http_client
from tests.ledger_contract import document
from tests.master_data_support import csv_bytes
from tests.scan_support import LOCATIONS, box, code, load_hospital, post_scan

JSONLD = {"Content-Type": "application/ld+json"}


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def ok(answer: Any, colour: str = "green") -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    assert body["colour"] == colour, body
    return body


def red(answer: Any, *words: str) -> dict[str, Any]:
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["colour"] == "red"
    found = {r["reason"] for c in body["codes"] for r in c["reasons"]}
    found |= {r["reason"] for r in body["reasons"]}
    assert set(words) <= found, body
    return body


def at_op(
    client: TestClient, *codes: str, lot: str | None = None, expires: str | None = None
) -> None:
    """Codes received at the warehouse, shipped to OP, accepted there."""
    dates = {k: v for k, v in (("lot", lot), ("expires", expires)) if v is not None}
    ok(post_scan(client, operation="receive", location="WH", codes=list(codes), **dates))
    ok(post_scan(client, operation="transfer", location="WH", destination="OP", codes=list(codes)))
    ok(post_scan(client, operation="accept", location="OP", codes=list(codes)))


def stored(client: TestClient, event_id: str) -> dict[str, Any]:
    """The stored event of an eventID, as ``GET /events/{id}`` gives it."""
    answer = client.get(f"/events/{quote(event_id, safe='')}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"][
        0
    ]
    return found


def stored_count(ledger: Ledger) -> int:
    return sum(1 for _ in ledger.stored_events())


def test_a_box_from_receiving_to_the_patient(client: TestClient, ledger: Ledger) -> None:
    item = box(1)
    got = ok(
        post_scan(
            client,
            operation="receive",
            location="WH",
            codes=[item],
            lot="L1",
            expires="2099-01-01",
            source="SUP",
            scanId="s1",
        )
    )
    assert got["codes"] == [
        {
            "code": item,
            "canonical": f"urn:tracecode:cn-drug:{item}",
            "colour": "green",
            "reasons": [],
            "product": "XB02",
        }
    ]
    assert len(got["eventIDs"]) == 1 and got["scanId"] == "s1"
    ok(post_scan(client, operation="transfer", location="WH", destination="OP", codes=[item]))
    assert client.get(f"/codes/{item}").json()["hospitalState"] == "in_transit"
    ok(post_scan(client, operation="accept", location="OP", codes=[f"AHM.{item}"]))
    ok(
        post_scan(
            client, operation="bind", location="OP-1", codes=[item], patient="P-1", order="RX1"
        )
    )
    status = client.get(f"/codes/{item}").json()
    assert status["hospitalState"] == "bound" and status["lot"] == "L1"
    assert status["holder"].startswith("urn:tracecode:patient:")
    event = stored(client, got["eventIDs"][0])
    assert event["bizStep"] == "receiving" and event["epcList"] == [f"urn:tracecode:cn-drug:{item}"]
    assert verify_chain(ledger).intact


def test_every_red_reason_stores_nothing(client: TestClient, ledger: Ledger) -> None:
    bound, frozen, recalled, destroyed, gone, elsewhere, moving, lent = (
        box(n) for n in range(10, 18)
    )
    at_op(client, bound, frozen, recalled, destroyed, lent)
    ok(post_scan(client, operation="bind", location="OP", codes=[bound], patient="P-1"))
    ok(
        post_scan(
            client, operation="freeze", location="OP", codes=[frozen], reason="carton crushed"
        )
    )
    ok(post_scan(client, operation="recall", location="OP", codes=[recalled]))
    ok(post_scan(client, operation="destroy", location="OP", codes=[destroyed]))
    ok(post_scan(client, operation="lend", location="OP", codes=[lent], department="ENT"))
    ok(post_scan(client, operation="receive", location="WH", codes=[gone, elsewhere, moving]))
    ok(post_scan(client, operation="return_to_supplier", location="WH", codes=[gone]))
    ok(post_scan(client, operation="transfer", location="WH", destination="W3", codes=[moving]))
    before = stored_count(ledger)

    def bind(item: str) -> Any:
        return post_scan(client, operation="bind", location="OP", codes=[item], patient="P-9")

    red(bind(bound), "already_bound")
    red(bind(frozen), "frozen")
    red(bind(recalled), "recalled")
    red(bind(destroyed), "destroyed")
    red(bind(gone), "exited")
    red(bind(elsewhere), "not_in_stock_here")
    red(bind(moving), "in_transit_elsewhere")
    red(
        post_scan(client, operation="transfer", location="OP", destination="W3", codes=[lent]),
        "lent",
    )
    red(
        post_scan(client, operation="accept", location="W5", codes=[moving]), "in_transit_elsewhere"
    )
    red(
        post_scan(client, operation="accept", location="OP", codes=[elsewhere]),
        "not_in_transit_here",
    )
    red(
        post_scan(client, operation="receive", location="WH", codes=[elsewhere]), "already_received"
    )
    red(post_scan(client, operation="unbind", location="W3", codes=[bound]), "not_bound_here")
    red(post_scan(client, operation="unbind", location="OP", codes=[frozen]), "frozen")
    red(
        post_scan(client, operation="administer", location="W3", codes=[elsewhere], patient="P-1"),
        "not_bound",
    )
    red(
        post_scan(client, operation="administer", location="W3", codes=[bound], patient="P-2"),
        "wrong_patient",
    )
    red(post_scan(client, operation="lend_return", location="OP", codes=[elsewhere]), "not_lent")
    red(post_scan(client, operation="unfreeze", location="OP", codes=[recalled]), "recalled")
    red(
        post_scan(client, operation="commission", location="WH", codes=[elsewhere]),
        "already_commissioned",
    )
    mixed = red(
        post_scan(client, operation="bind", location="OP", codes=[box(99), bound], patient="P-9"),
        "already_bound",
    )
    assert [c["colour"] for c in mixed["codes"]] == ["yellow", "red"]  # all or nothing
    assert stored_count(ledger) == before
    assert client.get(f"/codes/{box(99)}").status_code == 404


def test_expired_and_near_expiry(client: TestClient) -> None:
    old, soon, fine = box(20), box(21), box(22)
    at_op(client, fine, expires="2099-12-31")
    ok(
        post_scan(client, operation="receive", location="WH", codes=[soon], expires=_days(30)),
        "yellow",
    )
    near = ok(
        post_scan(client, operation="transfer", location="WH", destination="OP", codes=[soon]),
        "yellow",
    )
    assert reasons_of(near) == [["near_expiry"]]
    red(
        post_scan(client, operation="receive", location="WH", codes=[old], expires=_days(-1)),
        "expired",
    )
    gs1 = "(01)09506000134352(17)200101(10)AB1(21)X9"  # a GS1 code's own expiry wins
    red(
        post_scan(client, operation="receive", location="WH", codes=[gs1], expires="2099-01-01"),
        "expired",
    )


def _days(n: int) -> str:
    return (datetime.now(UTC) + timedelta(days=n)).date().isoformat()


def reasons_of(body: dict[str, Any]) -> list[list[str]]:
    return [[r["reason"] for r in c["reasons"]] for c in body["codes"]]


def test_unbind_whoever_bound_within_the_window(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = box(30), box(31)
    at_op(client, first, second)
    ok(post_scan(client, operation="bind", location="OP-1", codes=[first, second], patient="P-1"))
    ok(post_scan(client, operation="unbind", location="OP", codes=[first], patient="P-1"))
    assert client.get(f"/codes/{first}").json()["hospitalState"] == "in_stock"
    client.app.state.scan_settings = None
    monkeypatch.setenv("TRACECODE_UNBIND_WINDOW_DAYS", "0")
    red(
        post_scan(client, operation="unbind", location="OP-1", codes=[second]),
        "unbind_window_passed",
    )
    monkeypatch.setenv("TRACECODE_UNBIND_WINDOW_DAYS", "10")
    client.app.state.scan_settings = None
    ok(post_scan(client, operation="unbind", location="OP-1", codes=[second], quality="failed"))
    assert client.get(f"/codes/{second}").json()["hospitalState"] == "frozen"


def test_unknown_to_the_library_is_yellow(client: TestClient) -> None:
    body = ok(
        post_scan(client, operation="bind", location="OP", codes=[box(40)], patient="P-1"), "yellow"
    )
    assert reasons_of(body) == [["unknown_to_library"]]


def test_orders_expected_lines(client: TestClient) -> None:
    a, b, c = box(50), box(51), box(52)
    other = code("8100002", 1)  # XA01 box of 24
    at_op(client, a, b, c, other)
    expected = [{"product": "XB02", "quantity": 20}]

    def bind(*codes: str, **extra: Any) -> Any:
        return post_scan(
            client,
            operation="bind",
            location="OP",
            codes=list(codes),
            patient="P",
            order="O1",
            expected=expected,
            **extra,
        )

    red(bind(a, other), "wrong_product")
    red(bind(a, b, c), "over_order")
    short = ok(bind(a), "yellow")
    assert [r["reason"] for r in short["reasons"]] == ["short_of_order"]
    part = ok(bind(b, partial=True))
    assert part["reasons"] == []  # the order stays open: 20 of 20 now
    red(bind(c), "over_order")


def test_a_case_expands_to_its_boxes(client: TestClient) -> None:
    case = code("8100003", 7)
    boxes = [code("8100002", n) for n in (71, 72)]
    packing = {
        "type": "AggregationEvent",
        "eventTime": "2026-11-01T08:00:00Z",
        "eventTimeZoneOffset": "+08:00",
        "parentID": case,
        "childEPCs": boxes,
        "action": "ADD",
        "bizStep": "packing",
    }
    auth = client.auth
    captured = client.post(
        "/capture", content=document(packing), headers={**JSONLD, **auth.header(Role.CAPTURE)}
    )  # type: ignore[union-attr]
    assert captured.status_code == 202, captured.text
    got = ok(post_scan(client, operation="receive", location="WH", codes=[case]))
    assert got["codes"][0]["contents"] == [f"urn:tracecode:cn-drug:{b}" for b in boxes]
    for item in boxes:
        assert client.get(f"/codes/{item}").json()["hospitalState"] == "in_stock"
    ok(post_scan(client, operation="bind", location="WH", codes=[boxes[0]], patient="P"))
    red(
        post_scan(client, operation="transfer", location="WH", destination="OP", codes=[case]),
        "already_bound",
    )


def test_a_resent_scan_answers_the_same_and_stores_nothing(
    client: TestClient, ledger: Ledger
) -> None:
    item = box(60)
    at_op(client, item)
    first = ok(
        post_scan(
            client, operation="bind", location="OP", codes=[item], patient="P", scanId="T1-0001"
        )
    )
    count = stored_count(ledger)
    again = ok(
        post_scan(
            client, operation="bind", location="OP", codes=[item], patient="P", scanId="T1-0001"
        )
    )
    assert again == first and stored_count(ledger) == count


def test_cancel_restores_the_state_before(client: TestClient, ledger: Ledger) -> None:
    item, other = box(70), box(71)
    at_op(client, item, other)
    bound = ok(
        post_scan(client, operation="bind", location="OP", codes=[item], patient="P", scanId="b1")
    )
    cancelled = ok(post_scan(client, operation="cancel", scanId="b1", reason="wrong patient"))
    assert cancelled["eventIDs"] == bound["eventIDs"]
    assert client.get(f"/codes/{item}").json()["hospitalState"] == "in_stock"
    ok(post_scan(client, operation="bind", location="OP", codes=[item], patient="P2"))  # free again
    assert ok(post_scan(client, operation="cancel", scanId="b1")) == cancelled  # resent
    ok(post_scan(client, operation="bind", location="OP", codes=[other], patient="P", scanId="b2"))
    ok(post_scan(client, operation="administer", location="W3", codes=[other], patient="P"))
    red(post_scan(client, operation="cancel", scanId="b2"), "cancel_not_last")
    red(post_scan(client, operation="cancel", scanId="nope"), "no_such_scan")
    declared = ledger.declarations(bound["eventIDs"][0])
    assert [d.event["errorDeclaration"]["reason"] for d in declared] == ["incorrect_data"]
    assert verify_chain(ledger).intact


def test_back_fill_is_yellow_and_refused_when_later_scans_contradict(client: TestClient) -> None:
    item, late = box(80), box(81)
    earlier = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    back = ok(
        post_scan(
            client,
            operation="receive",
            location="WH",
            codes=[item],
            eventTime=earlier,
            reason="PDA offline",
        ),
        "yellow",
    )
    assert reasons_of(back) == [["back_filled"]] and back["backFilled"] is True
    stored_event = stored(client, back["eventIDs"][0])
    assert stored_event["tc:backFilled"] is True and stored_event["tc:reason"] == "PDA offline"
    ok(post_scan(client, operation="receive", location="WH", codes=[late]))
    red(
        post_scan(
            client,
            operation="transfer",
            location="WH",
            destination="OP",
            codes=[late],
            eventTime=earlier,
        ),
        "later_scans",
    )


def test_patients_never_appear_raw(client: TestClient, ledger: Ledger) -> None:
    item = box(90)
    at_op(client, item)
    ok(
        post_scan(
            client, operation="bind", location="OP", codes=[item], patient="110101199001011234"
        )
    )
    assert all("110101199001011234" not in str(e.event) for e in ledger.stored_events())
    holder = client.get(f"/codes/{item}").json()["holder"]
    assert PatientMappings(ledger).find(holder, "H1") == "110101199001011234"  # kept


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"operation": "sell", "location": "OP", "codes": [box(1)]}, "/operation"),
        ({"location": "OP", "codes": [box(1)]}, "/operation"),
        ({"operation": "receive", "location": "NOWHERE", "codes": [box(1)]}, "/location"),
        ({"operation": "receive", "codes": [box(1)]}, "/location"),
        ({"operation": "receive", "location": "WH", "codes": ["not a code"]}, "/codes/0"),
        ({"operation": "receive", "location": "WH", "codes": [box(1), box(1)]}, "/codes/1"),
        ({"operation": "receive", "location": "WH", "codes": []}, "/codes"),
        ({"operation": "bind", "location": "OP", "codes": [box(1)]}, "/patient"),
        ({"operation": "transfer", "location": "WH", "codes": [box(1)]}, "/destination"),
        (
            {"operation": "bind", "location": "OP", "codes": [box(1)], "patient": "P", "lot": "L"},
            "/lot",
        ),
        (
            {"operation": "receive", "location": "WH", "codes": [box(1)], "expires": "31/12/2030"},
            "/expires",
        ),
        (
            {"operation": "receive", "location": "WH", "codes": [box(1)], "eventTime": "yesterday"},
            "/eventTime",
        ),
        ({"operation": "receive", "location": "WH", "codes": [box(1)], "colour": "red"}, "/colour"),
        (
            {
                "operation": "bind",
                "location": "OP",
                "codes": [box(1)],
                "patient": "P",
                "expected": [{"product": "XB02", "quantity": 0}],
            },
            "/expected/0/quantity",
        ),
        ({"operation": "cancel"}, "/scanId"),
    ],
)
def test_malformed_scans_are_400_naming_the_field(
    client: TestClient, ledger: Ledger, body: dict[str, Any], pointer: str
) -> None:
    before = stored_count(ledger)
    answer = client.post("/scans", json=body, headers=client.auth.header(Role.TERMINAL))  # type: ignore[union-attr]
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert pointer in [e["pointer"] for e in answer.json()["errors"]]
    assert stored_count(ledger) == before


def test_another_institutions_location_is_403(client: TestClient) -> None:
    answer = post_scan(
        client, operation="receive", location="urn:tracecode:loc:H2:WH", codes=[box(1)]
    )
    assert answer.status_code == 403, answer.text


def test_readers_may_not_scan(client: TestClient) -> None:
    answer = post_scan(client, Role.READER, operation="receive", location="WH", codes=[box(1)])
    assert answer.status_code == 403


# -- the command line ------------------------------------------------------------------------


def test_cli_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    runner = CliRunner()
    places = tmp_path / "locations.csv"
    places.write_bytes(csv_bytes(LOCATIONS))
    assert runner.invoke(main, ["masterdata", "import", str(places)]).exit_code == 0
    item = box(5)
    got = runner.invoke(main, ["scan", "receive", item, "--location", "WH", "--lot", "L9"])
    assert got.exit_code == 0, got.stderr
    assert json.loads(got.stdout)["colour"] == "green"
    again = runner.invoke(main, ["scan", "receive", item, "--location", "WH"])
    assert (
        again.exit_code == 3
        and json.loads(again.stdout)["codes"][0]["reasons"][0]["reason"] == "already_received"
    )
    body = tmp_path / "scan.json"
    body.write_text(json.dumps({"operation": "bind", "location": "WH", "codes": [item]}))
    bad = runner.invoke(main, ["scan", "--body", str(body)])
    assert bad.exit_code == 1 and "/patient" in bad.stderr
    unknown = runner.invoke(main, ["scan", "receive", box(6), "--location", "MOON"])
    assert unknown.exit_code == 1 and "/location" in unknown.stderr


def test_recall_by_lot_reaches_every_code_and_the_trail(client: TestClient) -> None:
    """The README's worked example: receive a lot, bind one box, recall the lot."""
    first, second = box(101), box(102)
    ok(
        post_scan(
            client,
            operation="receive",
            location="WH",
            source="SUP",
            codes=[first, second],
            lot="B2611",
            expires="2099-06-30",
        )
    )
    ok(
        post_scan(
            client, operation="transfer", location="WH", destination="OP", codes=[first, second]
        )
    )
    ok(post_scan(client, operation="accept", location="OP", codes=[first, second]))
    ok(
        post_scan(
            client,
            operation="bind",
            location="OP",
            codes=[first],
            patient="110101199001011234",
            order="RX1",
        )
    )
    recall = ok(post_scan(client, operation="recall", location="OP", product="XB02", lot="B2611"))
    assert [c["code"] for c in recall["codes"]] == [
        f"urn:tracecode:cn-drug:{c}" for c in (first, second)
    ]
    red(
        post_scan(client, operation="recall", location="OP", product="XB02", lot="NOPE"),
        "lot_not_found",
    )
    trail = client.get(
        "/trails",
        params={"product": "8200001", "lot": "B2611"},
        headers=client.auth.header(Role.READER),
    )  # type: ignore[union-attr]
    assert trail.status_code == 200, trail.text
    states = {line["code"]: line["hospitalState"] for line in trail.json()}
    assert set(states.values()) == {"recalled"} and len(states) == 2


def test_captures_and_scans_agree(client: TestClient) -> None:
    """What arrives through the EPCIS capture interface moves the code library too."""
    item = box(110)
    at_op(client, item)
    dispensed = {
        "type": "ObjectEvent",
        "eventTime": datetime.now(UTC).isoformat(),
        "eventTimeZoneOffset": "+08:00",
        "epcList": [item],
        "action": "OBSERVE",
        "bizStep": "dispensing",
        "disposition": "dispensed",
        "readPoint": {"id": "urn:tracecode:loc:H1:OP"},
    }
    auth = client.auth
    sent = {**JSONLD, **auth.header(Role.CAPTURE)}  # type: ignore[union-attr]
    assert client.post("/capture", content=document(dispensed), headers=sent).status_code == 202
    red(
        post_scan(client, operation="bind", location="OP", codes=[item], patient="P"),
        "already_bound",
    )


def test_cancel_by_event_id(client: TestClient) -> None:
    item = box(120)
    at_op(client, item)
    bound = ok(post_scan(client, operation="bind", location="OP", codes=[item], patient="P"))
    ok(post_scan(client, operation="cancel", eventID=bound["eventIDs"][0]))
    assert client.get(f"/codes/{item}").json()["hospitalState"] == "in_stock"


def test_the_api_documents_the_scan_body(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["paths"]["/scans"]["post"]["requestBody"]
    body = schema["content"]["application/json"]["schema"]
    assert "bind" in body["properties"]["operation"]["enum"]
    assert {"location", "codes", "scanId", "patient", "expected"} <= set(body["properties"])


def test_a_received_pack_is_checked_against_the_expiry_the_receipt_brings(
    client: TestClient, ledger: Ledger
) -> None:
    """20-digit codes carry no expiry: the receive's ``expires`` is the one that counts, on
    the receive itself too (an expired delivery is refused, nothing stored)."""
    today = datetime.now(UTC).date()
    past, soon = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=30)).isoformat()
    before = ledger.log_position()
    refused = post_scan(client, operation="receive", location="WH", codes=[box(1)], expires=past)
    red(refused, "expired")
    assert ledger.log_position() == before, "a refused receive stored nothing"
    assert client.get(f"/codes/{box(1)}").status_code == 404
    near = ok(
        post_scan(client, operation="receive", location="WH", codes=[box(2)], expires=soon),
        "yellow",
    )
    assert reasons_of(near) == [["near_expiry"]]
    moved = post_scan(client, operation="transfer", location="WH", destination="OP", codes=[box(2)])
    assert reasons_of(moved.json()) == [["near_expiry"]], "the library keeps the receipt's expiry"


def reasons(answer: Any) -> list[list[str]]:
    return reasons_of(answer.json())


def _status(client: TestClient, code: str) -> Any:
    return client.get(f"/codes/{code}")


def test_a_stocktake_of_a_code_on_its_way_leaves_where_it_is_going(client: TestClient) -> None:
    """A stocktake changes no state: the code is still expected where it was sent."""
    code = box(1)
    for step in (
        {"operation": "receive", "location": "WH"},
        {"operation": "transfer", "location": "WH", "destination": "OP"},
    ):
        assert post_scan(client, codes=[code], **step).status_code == 201
    counted = post_scan(client, operation="stocktake", location="W3", codes=[code])
    assert counted.status_code == 201 and reasons(counted) == [["not_on_books_here"]]
    elsewhere = post_scan(client, operation="accept", location="W3", codes=[code])
    assert reasons(elsewhere) == [["in_transit_elsewhere"]]
    accepted = post_scan(client, operation="accept", location="OP", codes=[code])
    assert accepted.status_code == 201, accepted.text
    assert _status(client, code).json()["hospitalState"] == "in_stock"


def test_cancels_undo_a_codes_scans_one_after_another_back_to_what_the_library_keeps(
    client: TestClient, ledger: Ledger
) -> None:
    """Cancelling the last scan makes the one before it the last: it can be cancelled
    too, and each cancel restores the state before its scan on both sides, as far back as
    the library keeps earlier states; beyond that the cancel is red and stores nothing."""
    code = box(1)
    steps = [
        {"operation": "receive", "location": "WH"},
        {"operation": "transfer", "location": "WH", "destination": "OP"},
        {"operation": "accept", "location": "OP"},
        {"operation": "lend", "location": "OP"},
        {"operation": "lend_return", "location": "OP"},
        {"operation": "bind", "location": "OP-1", "patient": "P-1"},
    ]
    states, answers = [], []
    for n, step in enumerate(steps):
        done = post_scan(client, codes=[code], scanId=f"u{n}", **step)
        assert done.status_code == 201, done.text
        answers.append(done.json())
        states.append(_status(client, code).json()["hospitalState"])
    assert states == ["in_stock", "in_transit", "in_stock", "lent", "in_stock", "bound"]
    for n in range(len(steps) - 1, len(steps) - 1 - UNDO_DEPTH, -1):
        early = post_scan(client, operation="cancel", scanId=f"u{n - 1}")
        assert early.status_code == 409 and reasons(early) == [["cancel_not_last"]]
        undone = post_scan(client, operation="cancel", scanId=f"u{n}")
        assert undone.status_code == 201, undone.text
        assert _status(client, code).json()["hospitalState"] == states[n - 1]
        before = ledger.log_position()
        resent = post_scan(client, codes=[code], scanId=f"u{n}", **steps[n])
        assert resent.status_code == 201 and resent.json() == answers[n], "its first answer"
        assert post_scan(client, operation="cancel", scanId=f"u{n}").json() == undone.json()
        assert ledger.log_position() == before, "neither resend stored anything"
        assert _status(client, code).json()["hospitalState"] == states[n - 1]
    last = len(steps) - 1 - UNDO_DEPTH
    before = ledger.log_position()
    too_old = post_scan(client, operation="cancel", scanId=f"u{last}")
    assert too_old.status_code == 409, too_old.text
    assert reasons(too_old) == [["cancel_too_old"]]
    assert ledger.log_position() == before
    assert _status(client, code).json()["hospitalState"] == states[last]
    # a new scan keeps states again: it can be cancelled
    accepted = post_scan(client, operation="accept", location="OP", codes=[code], scanId="a")
    assert accepted.status_code == 201, accepted.text
    assert post_scan(client, operation="cancel", scanId="a").status_code == 201
    assert _status(client, code).json()["hospitalState"] == states[last]
    assert verify_chain(ledger).intact


def test_a_recall_or_a_freeze_holds_a_pack_moved_back_to_the_warehouse(client: TestClient) -> None:
    recalled, frozen = box(130), box(131)
    at_op(client, recalled, frozen)
    ok(post_scan(client, operation="recall", location="OP", codes=[recalled]))
    ok(post_scan(client, operation="freeze", location="OP", codes=[frozen]))
    ok(post_scan(client, operation="return_to_warehouse", location="OP", codes=[recalled, frozen]))
    ok(post_scan(client, operation="accept", location="WH", codes=[recalled, frozen]))
    for item, word in ((recalled, "recalled"), (frozen, "frozen")):
        red(post_scan(client, operation="bind", location="WH", codes=[item], patient="P"), word)
        red(
            post_scan(client, operation="transfer", location="WH", destination="OP", codes=[item]),
            word,
        )
    red(post_scan(client, operation="unfreeze", location="WH", codes=[recalled]), "recalled")
    ok(post_scan(client, operation="unfreeze", location="WH", codes=[frozen]))
    ok(post_scan(client, operation="bind", location="WH", codes=[frozen], patient="P"))
    ok(post_scan(client, operation="return_to_supplier", location="WH", codes=[recalled]))


def test_scan_events_are_valid_epcis_in_both_syntaxes(client: TestClient) -> None:
    """What scans store reads back as valid EPCIS 2.0 (JSON-LD and XML, the GS1 schemas and
    rules), each event with the same Event Hash ID in either syntax."""
    item, made = box(140), box(141)
    ok(
        post_scan(
            client,
            operation="commission",
            location="WH",
            codes=[made],
            lot="L7",
            expires="2099-01-01",
        )
    )
    ok(
        post_scan(
            client,
            operation="receive",
            location="WH",
            source="SUP",
            codes=[item],
            lot="L8",
            expires="2099-01-01",
        )
    )
    ok(post_scan(client, operation="transfer", location="WH", destination="OP", codes=[item]))
    ok(post_scan(client, operation="accept", location="OP", codes=[item]))
    ok(
        post_scan(
            client,
            operation="bind",
            location="OP",
            codes=[item],
            patient="P",
            order="O 1",
            prescription="RX/1",
            department="ENT",
            operatorId="nurse-7",
            scanId="v1",
        )
    )
    ok(post_scan(client, operation="cancel", scanId="v1", reason="wrong patient"))
    reader = client.auth.header(Role.READER)  # type: ignore[union-attr]
    as_json = client.get("/events", headers=reader)
    as_xml = client.get("/events", headers={**reader, "Accept": "application/xml"})
    assert as_json.status_code == 200 and as_xml.status_code == 200, as_xml.text
    json_doc, xml_doc = load_valid(as_json.content), load_valid(as_xml.content)
    assert len(json_doc.events) == 6
    assert document_hash_ids(json_doc.document) == document_hash_ids(xml_doc.document)


def test_a_back_filled_recall_by_lot_finds_the_lot(client: TestClient) -> None:
    item, later = box(150), box(151)
    hour_ago = (datetime.now(UTC) - timedelta(minutes=60)).isoformat()
    received = post_scan(
        client, operation="receive", location="WH", codes=[item], lot="LB", eventTime=hour_ago
    )
    ok(received, "yellow")
    earlier = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    body = ok(
        post_scan(
            client, operation="recall", location="WH", product="XB02", lot="LB", eventTime=earlier
        ),
        "yellow",
    )
    assert [c["code"] for c in body["codes"]] == [f"urn:tracecode:cn-drug:{item}"]
    ok(post_scan(client, operation="receive", location="WH", codes=[later], lot="LC"))
    contradicted = post_scan(
        client, operation="recall", location="WH", product="XB02", lot="LC", eventTime=earlier
    )
    red(contradicted, "later_scans")  # named, not "lot_not_found"


def test_a_scan_without_a_scan_id_looks_up_no_earlier_scan(
    client: TestClient, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id the gate makes up for a scan the terminal did not name was never stored: the
    writer does not ask the store for it (one lookup a scan saved)."""
    ok(post_scan(client, operation="receive", location="WH", codes=[box(1), box(2)]))
    asked: list[Any] = []
    real = ledger.repository.get

    def get(aggregate_id: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(aggregate_id)
        return real(aggregate_id, *args, **kwargs)

    monkeypatch.setattr(ledger.repository, "get", get)
    ok(post_scan(client, operation="transfer", location="WH", destination="OP", codes=[box(1)]))
    assert asked == []
