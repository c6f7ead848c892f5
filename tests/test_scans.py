"""Hospital scans through ``POST /scans``: the answers, what is stored, and what is not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ledger.application import Ledger
from ledger.verify import verify_chain
from tests.http_support import http_client
from tests.scan_support import box, load_hospital, post_scan, reasons


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def test_a_box_from_receiving_to_the_patient(client: TestClient, ledger: Ledger) -> None:
    code = box(1)
    got = post_scan(
        client,
        operation="receive",
        location="WH",
        codes=[code],
        lot="L1",
        expires="2099-01-01",
        source="SUP",
        scanId="s1",
    )
    assert got.status_code == 201, got.text
    assert got.json()["colour"] == "green" and reasons(got) == [[]]
    moved = post_scan(client, operation="transfer", location="WH", destination="OP", codes=[code])
    assert moved.status_code == 201, moved.text
    accepted = post_scan(client, operation="accept", location="OP", codes=[code])
    assert accepted.status_code == 201, accepted.text
    bound = post_scan(
        client, operation="bind", location="OP-1", codes=[code], patient="P-1", order="RX1"
    )
    assert bound.status_code == 201, bound.text
    again = post_scan(client, operation="bind", location="OP-1", codes=[code], patient="P-2")
    assert again.status_code == 409, again.text
    assert again.json()["colour"] == "red" and reasons(again) == [["already_bound"]]
    status = client.get(f"/codes/{code}").json()
    assert status["hospitalState"] == "bound"
    assert verify_chain(ledger).intact
