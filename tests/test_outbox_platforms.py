"""One platform down holds back only its own messages (issue 13): the outbox as the server
runs it (:func:`adapters.bootstrap.start_outbox`: one thread deriving, one per platform
delivering), the Beijing stand-in down while the 医保 one takes its messages, on SQLite
and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.beijing import standin as beijing
from adapters.bootstrap import OutboxSettings, start_outbox
from ledger.application import Ledger
from projections.outbox import ACKNOWLEDGED, PENDING, listed
from tests.nhsa_outbox_support import World, box, world


@pytest.fixture
def w(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.patient_support import KEY_HEX

    monkeypatch.setenv("TRACECODE_PATIENT_KEY", KEY_HEX)
    with world(ledger) as opened:
        yield opened


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_platform_down_holds_back_only_its_own(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with beijing.running() as elsewhere:
        httpx.post(elsewhere + "/faults", json={"down_for": 600}).raise_for_status()
        monkeypatch.setenv("TRACECODE_NHSA_URL", w.url + "/")
        monkeypatch.setenv("TRACECODE_BEIJING_URL", elsewhere + "/")
        documents = {"purchase_order": "PO-1", "invoice": "INV-1", "receipt_note": "REC-1"}
        w.scan(
            operation="receive",
            location="WH",
            source="SUP",
            codes=[box(1), box(2)],
            lot="L1",
            manufactured="2025-03-01",
            **documents,
        )
        settings = OutboxSettings(poll=0.05, base_backoff=0.05, max_backoff=0.2, lease=5)
        stops = start_outbox(w.ledger, settings)
        try:

            def states(platform: str) -> list[str]:
                return [m.state for m in listed(w.runner, platform=platform)]

            _until(lambda: states("nhsa") == [ACKNOWLEDGED], "the 医保 3502 acknowledged")
            _until(
                lambda: any(
                    m.state == PENDING and "503" in str(m.error)
                    for m in listed(w.runner, platform="beijing")
                ),
                "the Beijing platform tried, and its rows wait",
            )
            assert ACKNOWLEDGED not in states("beijing")
            httpx.post(elsewhere + "/faults", json={}).raise_for_status()
            _until(
                lambda: PENDING not in states("beijing") and ACKNOWLEDGED in states("beijing"),
                "the Beijing rows taken once it is back",
            )
        finally:
            for stop in reversed(stops):
                stop()
    assert [m["infno"] for m in w.received()] == ["3502"]
