"""Refused (red) scans: kept in their own append-only table, the patient only as a pseudonym."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from adapters.cli import main
from ledger.application import Ledger
from ledger.patients import normalise, pseudonym
from ledger.refused_scans import RefusedScans
from ledger.settings import store_settings
from tests.http_support import http_client
from tests.master_data_support import csv_bytes
from tests.scan_support import LOCATIONS, box, load_hospital, post_scan


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def test_a_red_scan_is_kept_with_who_where_what_why(client: TestClient, ledger: Ledger) -> None:
    item, other = box(1), box(2)
    for codes in ([item], [item, other]):
        got = post_scan(client, operation="receive", location="WH", codes=codes)
        assert got.status_code in (201, 409), got.text
    assert RefusedScans(ledger).between("H1") != []  # the second receive of item
    for operation in ("transfer", "accept"):
        extra = {"destination": "OP"} if operation == "transfer" else {}
        where = "WH" if operation == "transfer" else "OP"
        got = post_scan(client, operation=operation, location=where, codes=[item], **extra)
        assert got.status_code == 201, got.text
    stored_before = sum(1 for _ in ledger.stored_events())
    bound = post_scan(
        client, operation="bind", location="OP-1", codes=[item], patient="110101199001011234"
    )
    assert bound.status_code == 201, bound.text
    twice = post_scan(
        client,
        operation="bind",
        location="OP-1",
        codes=[item],
        patient="110101199001011235",
        order="RX9",
        operatorId="nurse-7",
        scanId="PDA-9",
    )
    assert twice.status_code == 409
    assert sum(1 for _ in ledger.stored_events()) == stored_before + 1  # the first bind only
    rows = RefusedScans(ledger).between("H1")
    assert [r.operation for r in rows] == ["receive", "bind"]
    first, last = rows
    assert first.codes == [
        (f"urn:tracecode:cn-drug:{item}", ["already_received"]),
        (f"urn:tracecode:cn-drug:{other}", []),
    ]
    assert (first.location, first.institution, first.patient) == ("WH", "H1", None)
    assert last.location == "OP-1" and last.terminal == first.terminal != ""
    assert (last.operator_id, last.scan_id, last.order_id) == ("nurse-7", "PDA-9", "RX9")
    assert last.codes == [(f"urn:tracecode:cn-drug:{item}", ["already_bound"])]
    assert last.patient == pseudonym(normalise("110101199001011235"))
    assert last.scan_time <= last.refused_at
    assert RefusedScans(ledger).between("H2") == []
    assert len(RefusedScans(ledger).between(None)) == 2


def test_no_raw_patient_identifier_in_the_table(client: TestClient, ledger: Ledger) -> None:
    raw = "110101199001019999"
    first = post_scan(client, operation="bind", location="OP", codes=[box(7)], patient="P-1")
    assert first.status_code == 201, first.text  # yellow: unknown to the library
    got = post_scan(client, operation="bind", location="OP", codes=[box(7)], patient=raw)
    assert got.status_code == 409, got.text
    (row,) = RefusedScans(ledger).between("H1")
    assert raw not in json.dumps(row.as_json())
    assert row.patient is not None and row.patient.startswith("urn:tracecode:patient:")


def test_bad_and_forbidden_scans_are_not_refusals(client: TestClient, ledger: Ledger) -> None:
    """A scan that cannot be read (400) or is at another institution (403) was never
    decided: nothing is kept."""
    assert (
        post_scan(client, operation="receive", location="MOON", codes=[box(1)]).status_code == 400
    )
    assert post_scan(client, operation="bind", location="OP", codes=[box(1)]).status_code == 400
    elsewhere = "urn:tracecode:loc:H2:WH"
    assert (
        post_scan(client, operation="receive", location=elsewhere, codes=[box(1)]).status_code
        == 403
    )
    assert RefusedScans(ledger).between(None) == []


def test_a_red_lot_recall_keeps_the_scans_own_reason(client: TestClient, ledger: Ledger) -> None:
    got = post_scan(client, operation="recall", location="WH", product="XB02", lot="NOPE")
    assert got.status_code == 409, got.text
    (row,) = RefusedScans(ledger).between("H1")
    assert row.codes == [] and row.reasons == ["lot_not_found"]


def test_the_command_line_keeps_red_scans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("TRACECODE_DATABASE_URL", url)
    runner = CliRunner()
    places = tmp_path / "locations.csv"
    places.write_bytes(csv_bytes(LOCATIONS))
    assert runner.invoke(main, ["masterdata", "import", str(places)]).exit_code == 0
    item = box(5)
    assert runner.invoke(main, ["scan", "receive", item, "--location", "WH"]).exit_code == 0
    again = runner.invoke(main, ["scan", "receive", item, "--location", "WH", "--scan-id", "x"])
    assert again.exit_code == 3
    ledger = Ledger(store_settings(url))
    try:
        (row,) = RefusedScans(ledger).between(None)
    finally:
        ledger.close()
    assert (row.institution, row.location, row.scan_id, row.terminal) == (
        "H1",
        "WH",
        "x",
        "command line",
    )
