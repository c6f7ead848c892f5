"""One capture limit for every way in: ``POST /capture``, ``POST /events`` and
``tracecode capture`` refuse a document over ``TRACECODE_CAPTURE_LIMIT`` events whole,
before validating it, and store nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.cli import main
from ledger.application import Ledger
from ledger.settings import store_settings
from tests.http_support import http_client
from tests.ledger_contract import document, event

LIMIT = 2


@pytest.fixture(autouse=True)
def capture_limit(monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    monkeypatch.setenv("TRACECODE_CAPTURE_LIMIT", str(LIMIT))
    monkeypatch.setenv("TRACECODE_DATABASE_URL", store_url)


def stored_events(store_url: str) -> int:
    ledger = Ledger(store_settings(store_url))
    try:
        return sum(1 for _ in ledger.stored_events())
    finally:
        ledger.close()


def test_the_three_ways_in_share_the_capture_limit(store_url: str, tmp_path: Path) -> None:
    over = document(*(event(n) for n in range(LIMIT + 1)))
    ledger = Ledger(store_settings(store_url))
    try:
        with http_client(ledger) as client:
            headers = {"Content-Type": "application/ld+json"}
            refused = client.post("/capture", content=over, headers=headers)
            assert refused.status_code == 413, refused.text
            assert refused.json()["captureLimit"] == LIMIT
            assert refused.headers["GS1-EPCIS-Capture-Limit"] == str(LIMIT)
            # /events takes exactly one event: its limit is 1, refused before validation
            two = client.post("/events", content=document(event(1), event(2)), headers=headers)
            assert two.status_code == 400 and two.json()["eventCount"] == 2
            one = client.post("/capture", content=document(event(1)), headers=headers)
            assert one.status_code == 202
    finally:
        ledger.close()
    assert stored_events(store_url) == 1
    path = tmp_path / "over.jsonld"
    path.write_bytes(over)
    result = CliRunner().invoke(main, ["capture", str(path)])
    assert result.exit_code == 1, result.output
    assert f"holds {LIMIT + 1} events; at most {LIMIT} are accepted" in result.stdout
    assert "refused whole, nothing stored" in result.stdout
    assert stored_events(store_url) == 1
    within = tmp_path / "within.jsonld"
    within.write_bytes(document(event(7), event(8)))
    result = CliRunner().invoke(main, ["capture", str(within)])
    assert result.exit_code == 0, result.output
    assert stored_events(store_url) == 3


def test_a_bad_capture_limit_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRACECODE_CAPTURE_LIMIT", "lots")
    path = tmp_path / "one.jsonld"
    path.write_bytes(document(event(1)))
    result = CliRunner().invoke(main, ["capture", str(path)])
    assert result.exit_code == 1
    assert "TRACECODE_CAPTURE_LIMIT" in result.output
