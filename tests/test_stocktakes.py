"""Stocktake sessions (``/stocktakes``, ``tracecode stocktake``): a pharmacist opens a count
of the outpatient pharmacy of the small hospital (``tests/scan_support.py``), scans its
shelves into it, closes it and gets the reconciliation back; what a session refuses, and
that a count is blurred neither by a sessionless stocktake scan nor by another count."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from adapters.cli import main
from epcis.identifiers.facts import canonical
from ledger.access import LOCAL, Role
from ledger.application import Ledger
from ledger.master_data_import import import_master_data
from ledger.stocktake import TOPICS, OpenRequest, open_stocktake
from ledger.verify import verify_chain
from tests.http_support import http_client
from tests.master_data_support import csv_bytes
from tests.scan_support import LOCATIONS, code, load_hospital, post_scan
from tests.test_api_keys import _rows, _set_state

OP, W3 = "urn:tracecode:loc:H1:OP", "urn:tracecode:loc:H1:W3"


def as_role(client: TestClient, role: Role) -> dict[str, str]:
    auth = client.auth
    assert hasattr(auth, "header")
    headers: dict[str, str] = auth.header(role)
    return headers


def scanned(client: TestClient, operation: str, place: str, codes: list[str], **body: Any) -> Any:
    answer = post_scan(client, operation=operation, location=place, codes=codes, **body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def stock(client: TestClient, place: str, first: int, count: int) -> list[str]:
    """``count`` new packs of XB02 lot L1 received into the warehouse, then moved to
    ``place`` (accepted there)."""
    made = [code("8200001", first + i) for i in range(count)]
    scanned(client, "receive", "WH", made, lot="L1", expires="2099-12-31", source="SUP")
    if place != "WH":
        scanned(client, "transfer", "WH", made, destination=place)
        scanned(client, "accept", place, made)
    return made


def open_count(client: TestClient, location: str, role: Role = Role.TERMINAL) -> dict[str, Any]:
    answer = client.post("/stocktakes", json={"location": location}, headers=as_role(client, role))
    assert answer.status_code == 201, answer.text
    opened: dict[str, Any] = answer.json()
    return opened


def close_count(client: TestClient, stocktake_id: str, **kwargs: Any) -> Any:
    headers = {**as_role(client, Role.TERMINAL), **kwargs.pop("headers", {})}
    return client.post(f"/stocktakes/{stocktake_id}/close", headers=headers, **kwargs)


def codes_of(placed: list[dict[str, Any]]) -> list[str]:
    return sorted(p["code"] for p in placed)


def urns(raw: list[str]) -> list[str]:
    return sorted(canonical(c) for c in raw)


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def test_a_count_is_opened_scanned_shelf_by_shelf_and_closes_with_its_report(
    client: TestClient, ledger: Ledger
) -> None:
    shelf = stock(client, "OP", 1, 5)
    ward = stock(client, "W3", 100, 1)
    opened = open_count(client, "OP")
    assert opened["state"] == "open" and opened["location"] == "OP"
    assert opened["institution"] == "H1" and opened["closedAt"] is None
    count = opened["id"]
    shown = client.get(f"/stocktakes/{count}", headers=as_role(client, Role.TERMINAL))
    assert shown.status_code == 200 and shown.json()["scans"] == 0

    # two shelves: the window (within OP) and the pharmacy, one pack from the ward among them
    first = scanned(client, "stocktake", "OP-1", shelf[:2], stocktake=count)
    scanned(client, "stocktake", "OP", [*shelf[2:4], ward[0]], stocktake=count)
    found = client.get("/events/" + first["eventIDs"][0].replace("?", "%3F")).json()
    (event,) = found["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert event["tc:stocktake"] == count and event["bizStep"] == "cycle_counting"
    progress = client.get(f"/stocktakes/{count}").json()
    assert (progress["state"], progress["scans"], progress["codes"]) == ("open", 2, 5)
    as_csv = client.get(f"/stocktakes/{count}", params={"format": "csv"})
    assert as_csv.status_code == 409  # no report while open

    closed = close_count(client, count)
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert body["state"] == "closed" and body["closedAt"] >= body["openedAt"]
    assert (body["scans"], body["codes"]) == (2, 5)
    report = body["report"]
    assert report["location"] == "OP" and report["from"] == body["openedAt"]
    assert report["to"] > body["closedAt"]  # the close included
    assert report["stocktakeScans"] == 2
    assert codes_of(report["missing"]) == urns(shelf[4:])
    assert codes_of(report["extra"]) == urns(ward)
    assert [(p["code"], p["location"]) for p in report["elsewhere"]] == [(urns(ward)[0], W3)]
    (line,) = report["lines"]
    assert (line["booksAtCount"], line["counted"], line["missing"], line["extra"]) == (5, 5, 1, 1)

    # the report is stored: later scans change the books of the period, not the count
    scanned(client, "bind", "OP-1", shelf[:1], patient="P-1", order="RX-1")
    again = close_count(client, count)
    assert again.status_code == 200 and again.json() == body
    assert client.get(f"/stocktakes/{count}").json() == body
    text = close_count(client, count, headers={"Accept": "text/csv"})
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert [(r["location"], r["missingCodes"], r["extraCodes"]) for r in rows] == [
        ("OP", urns(shelf[4:])[0], urns(ward)[0])
    ]
    assert client.get(f"/stocktakes/{count}", params={"format": "csv"}).text == text.text

    # a scan into the closed count: red, nothing stored
    position = ledger.log_position()
    late = post_scan(client, operation="stocktake", location="OP", codes=shelf[4:], stocktake=count)
    assert late.status_code == 409, late.text
    assert late.json()["colour"] == "red"
    assert [r["reason"] for r in late.json()["reasons"]] == ["stocktake_closed"]
    assert ledger.log_position() == position
    assert verify_chain(ledger).intact


def test_a_count_holds_only_its_own_scans(client: TestClient) -> None:
    shelf = stock(client, "OP", 1, 3)
    ward = stock(client, "W3", 100, 2)
    pharmacy = open_count(client, "OP")["id"]
    beds = open_count(client, "W3", Role.ADMIN)["id"]  # another location, counted meanwhile
    scanned(client, "stocktake", "OP", shelf[:2], stocktake=pharmacy)
    scanned(client, "stocktake", "OP", shelf[2:])  # no session: allowed, not in the count
    scanned(client, "stocktake", "W3", ward[:1], stocktake=beds)
    # an open count covers the location, one within it and the one holding it
    for location in ("OP", "OP-1", "H1"):
        refused = client.post(
            "/stocktakes", json={"location": location}, headers=as_role(client, Role.TERMINAL)
        )
        assert refused.status_code == 409, (location, refused.text)
        assert refused.json()["errors"][0]["pointer"] == "/location"
        assert pharmacy in refused.json()["detail"] or beds in refused.json()["detail"]
    listed = client.get("/stocktakes", params={"state": "open"}).json()["stocktakes"]
    assert {s["id"] for s in listed} == {pharmacy, beds}
    assert all("report" not in s for s in listed)

    counted = close_count(client, pharmacy).json()["report"]
    assert counted["stocktakeScans"] == 1
    assert codes_of(counted["missing"]) == urns(shelf[2:]) and counted["extra"] == []
    # the same period without the session: every stocktake scan there counts
    period = {"location": "OP", "from": counted["from"], "to": counted["to"]}
    everything = client.get("/reconciliation", params=period).json()
    assert everything["stocktakeScans"] == 2 and everything["missing"] == []
    beds_report = close_count(client, beds, headers=as_role(client, Role.ADMIN)).json()["report"]
    assert codes_of(beds_report["missing"]) == urns(ward[1:]) and beds_report["extra"] == []

    assert [s["id"] for s in client.get("/stocktakes").json()["stocktakes"]] == [beds, pharmacy]
    by_place = client.get("/stocktakes", params={"location": "W3", "state": "closed"}).json()
    assert [s["id"] for s in by_place["stocktakes"]] == [beds]
    assert client.get("/stocktakes", params={"state": "open"}).json() == {"stocktakes": []}
    reopened = open_count(client, "OP-1")  # once closed, the place may be counted again
    assert reopened["id"] not in (pharmacy, beds)


def test_a_count_closed_without_scans_misses_everything_on_the_books(client: TestClient) -> None:
    shelf = stock(client, "OP-1", 1, 2) + stock(client, "OP", 10, 1)
    count = open_count(client, "OP")["id"]
    body = close_count(client, count).json()
    assert (body["scans"], body["codes"]) == (0, 0)
    report = body["report"]
    assert report["countedAt"] == report["to"] and report["stocktakeScans"] == 0
    assert codes_of(report["missing"]) == urns(shelf)


def test_a_cancelled_scan_leaves_the_count(client: TestClient) -> None:
    shelf = stock(client, "OP", 1, 2)
    count = open_count(client, "OP")["id"]
    scanned(client, "stocktake", "OP", shelf[:1], stocktake=count, scanId="s-1")
    scanned(client, "stocktake", "OP", shelf[1:], stocktake=count, scanId="s-2")
    assert post_scan(client, operation="cancel", scanId="s-2").status_code == 201
    assert client.get(f"/stocktakes/{count}").json()["scans"] == 1
    body = close_count(client, count).json()
    assert body["scans"] == 1 and codes_of(body["report"]["missing"]) == urns(shelf[1:])


def test_bad_input_is_refused_naming_it_and_stores_nothing(
    client: TestClient, ledger: Ledger
) -> None:
    shelf = stock(client, "OP", 1, 1)
    import_master_data(ledger, LOCAL, csv_bytes(LOCATIONS.replace("H1", "H2")), "H2")
    theirs = open_stocktake(ledger, LOCAL, OpenRequest("OP", "H2")).id
    count = open_count(client, "OP")["id"]
    terminal = as_role(client, Role.TERMINAL)
    position = ledger.log_position()
    for body, pointer in (
        (["OP"], ""),
        ({}, "/location"),
        ({"location": 7}, "/location"),
        ({"location": " "}, "/location"),
        ({"location": "NOWHERE"}, "/location"),
        ({"location": "W5", "colour": "red"}, "/colour"),
        ({"location": "W5", "institution": "H2"}, "/institution"),
        ({"location": "W5", "note": "x" * 201}, "/note"),
    ):
        refused = client.post("/stocktakes", json=body, headers=terminal)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e.get("pointer", "") for e in refused.json()["errors"]] == [pointer], body
    for scan, pointer in (
        ({"operation": "receive", "location": "WH"}, "/stocktake"),
        ({"stocktake": 12}, "/stocktake"),
        ({"stocktake": "not-a-count"}, "/stocktake"),
        ({"stocktake": theirs}, "/stocktake"),  # another institution's count
        ({"location": "W3"}, "/stocktake"),  # not within the counted location
        ({"eventTime": "2020-01-01T00:00:00Z"}, "/eventTime"),  # before it was opened
    ):
        sent = {"operation": "stocktake", "location": "OP", "codes": shelf, "stocktake": count}
        refused = post_scan(client, **{**sent, **scan})
        assert refused.status_code == 400, (scan, refused.text)
        assert [e["pointer"] for e in refused.json()["errors"]] == [pointer], scan
    for method, path, status in (
        ("GET", "/stocktakes/not-a-count", 404),
        ("POST", "/stocktakes/not-a-count/close", 404),
        ("GET", f"/stocktakes/{theirs}", 404),
        ("POST", f"/stocktakes/{theirs}/close", 404),
        ("GET", "/stocktakes?state=counting", 400),
    ):
        refused = client.request(method, path, headers=terminal)
        assert refused.status_code == status, (path, refused.text)
    assert client.get("/stocktakes?state=counting").json()["errors"] == [
        {"query": "state", "message": "state is one of open, closed"}
    ]
    assert ledger.log_position() == position
    # readers read counts, they do not open or close them
    reader = as_role(client, Role.READER)
    assert client.post("/stocktakes", json={"location": "W5"}, headers=reader).status_code == 403
    assert client.post(f"/stocktakes/{count}/close", headers=reader).status_code == 403
    assert client.get(f"/stocktakes/{count}", headers=reader).status_code == 200


def test_the_command_line_opens_scans_into_shows_lists_and_closes_a_count(
    client: TestClient, ledger: Ledger
) -> None:
    shelf = stock(client, "OP", 1, 2)
    runner = CliRunner()
    env = {"TRACECODE_DATABASE_URL": ledger.settings.url}

    def run(*args: str) -> Any:
        return runner.invoke(main, list(args), env=env)

    opened = run("stocktake", "open", "--location", "OP", "--note", "月末盘点")
    assert opened.exit_code == 0, opened.stderr
    count = json.loads(opened.stdout)
    assert count["note"] == "月末盘点" and count["state"] == "open"
    scan = run(
        "scan",
        "stocktake",
        shelf[0],
        "--location",
        "OP-1",
        "--stocktake",
        count["id"],
    )  # (no --institution: the scan is H1's, the only institution with an OP-1)
    assert scan.exit_code == 0, scan.stderr
    shown = json.loads(run("stocktake", "show", count["id"]).stdout)
    assert (shown["scans"], shown["codes"]) == (1, 1)
    listed = json.loads(run("stocktake", "list", "--state", "open").stdout)
    assert [s["id"] for s in listed["stocktakes"]] == [count["id"]]
    assert run("stocktake", "show", count["id"], "--csv").exit_code == 1  # no report yet

    closed = run("stocktake", "close", count["id"])
    assert closed.exit_code == 0, closed.stderr
    body = json.loads(closed.stdout)
    assert codes_of(body["report"]["missing"]) == urns(shelf[1:])
    assert json.loads(run("stocktake", "close", count["id"]).stdout) == body
    assert client.get(f"/stocktakes/{count['id']}").json() == body
    as_csv = run("stocktake", "show", count["id"], "--csv")
    assert as_csv.exit_code == 0 and as_csv.stdout.startswith("location,product,lot,")
    assert run("stocktake", "close", count["id"], "--csv").stdout == as_csv.stdout

    position = ledger.log_position()
    for args, code_, named in (
        (("open", "--location", "NOWHERE"), 2, "--location"),
        (("open", "--location", "OP", "--institution", "H9"), 2, "--location"),
        (("list", "--state", "counting"), 2, "--state"),
        (("show", "not-a-count"), 1, "not-a-count"),
        (("close", "not-a-count"), 1, "not-a-count"),
    ):
        refused = run("stocktake", *args)
        assert refused.exit_code == code_ and named in refused.stderr, (args, refused.stderr)
    assert run("stocktake", "open", "--location", "W3").exit_code == 0
    overlapping = run("stocktake", "open", "--location", "W3")
    assert overlapping.exit_code == 1 and "is open" in overlapping.stderr
    assert ledger.log_position() > position  # the one good open


def test_verify_names_an_altered_or_removed_stocktake(client: TestClient, ledger: Ledger) -> None:
    count = open_count(client, "OP")["id"]
    assert close_count(client, count).status_code == 200
    assert verify_chain(ledger).intact
    url = ledger.settings.url
    ((row, state),) = _rows(url, TOPICS[2])
    state["report"]["missing"] = [{"code": "hidden"}]
    _set_state(url, row, state)
    report = verify_chain(ledger)
    assert [str(f) for f in report.findings if f"stocktake {count!r}" in str(f)], report.findings
