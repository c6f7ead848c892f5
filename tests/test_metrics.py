"""``GET /metrics``: the Prometheus text exposition of a running app, its own registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ledger.access import Role
from ledger.application import Ledger
from tests.http_support import RoleKeys, http_client
from tests.ledger_contract import document, event
from tests.scan_support import box, load_hospital, post_scan

JSONLD = {"Content-Type": "application/ld+json"}


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with http_client(ledger) as opened:
        load_hospital(opened)
        yield opened


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    got = client.get("/metrics")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(got.text)
        for s in family.samples
    }


def test_captures_scans_writer_lag_and_latency(client: TestClient) -> None:
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    sent = client.post(
        "/capture",
        content=document(event(1), event(2)),
        headers={**JSONLD, **auth.header(Role.CAPTURE)},
    )
    assert sent.status_code == 202, sent.text
    for colour, status in (("green", 201), ("red", 409)):
        got = post_scan(client, operation="receive", location="WH", codes=[box(1)])
        assert (got.status_code, got.json()["colour"]) == (status, colour)
    assert (
        post_scan(client, operation="bind", location="OP", codes=[box(2)], patient="P").json()[
            "colour"
        ]
        == "yellow"
    )
    found = samples(client)
    assert found[("tracecode_events_stored_total", (("way", "POST /capture"),))] == 2
    assert found[("tracecode_events_stored_total", (("way", "POST /scans"),))] == 2
    for operation, colour in (("receive", "green"), ("receive", "red"), ("bind", "yellow")):
        key = (("colour", colour), ("operation", operation))
        assert found[("tracecode_scans_total", key)] == 1
    assert found[("tracecode_writer_requests_total", ())] == 4  # the capture and 3 scans
    assert found[("tracecode_writer_groups_total", ())] >= 1
    assert found[("tracecode_writer_queue_depth", ())] >= 0
    assert found[("tracecode_projection_lag", ())] == (
        found[("tracecode_log_position", ())] - found[("tracecode_projection_position", ())]
    )
    route = (("method", "POST"), ("route", "/scans"))
    assert found[("tracecode_request_duration_seconds_count", route)] == 3
    assert found[("tracecode_request_duration_seconds_bucket", (("le", "+Inf"), *route))] == 3


def test_each_app_counts_for_itself(ledger: Ledger) -> None:
    """Two apps in one process: separate registries (no duplicate-timeseries error)."""
    with http_client(ledger) as first, http_client(ledger) as second:
        load_hospital(first)
        assert (
            post_scan(first, operation="receive", location="WH", codes=[box(3)]).status_code == 201
        )
        mine = samples(first)
        theirs = samples(second)
    key = ("tracecode_scans_total", (("colour", "green"), ("operation", "receive")))
    assert mine[key] == 1 and key not in theirs


def test_metrics_need_a_reader(client: TestClient) -> None:
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    assert client.get("/metrics", headers=auth.header(Role.TERMINAL)).status_code == 403
