"""The auditor over HTTP: export (its institution's events), verify (the whole chain,
against a signed checkpoint too), checkpoint; a broken chain is named, not signed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from adapters.bootstrap import http_app
from epcis.document import load
from ledger.access import Role
from ledger.api_keys import KeyRing
from ledger.application import Ledger
from ledger.settings import store_settings
from tests.ledger_contract import alter_second_record, document, event

JSONLD = {"Content-Type": "application/ld+json"}


Served = tuple[TestClient, dict[str, dict[str, str]], Path]


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("TRACECODE_SIGNING_KEY", str(tmp_path / "signing-key.pem"))
    path = tmp_path / "ledger.db"
    ledger = Ledger(store_settings(f"sqlite:///{path}"))
    ring = KeyRing(ledger)
    keys = {
        name: {"Authorization": f"Bearer {ring.create(role, institution)[1]}"}
        for name, role, institution in (
            ("h1 capture", Role.CAPTURE, "H1"),
            ("h2 capture", Role.CAPTURE, "H2"),
            ("h1 auditor", Role.AUDITOR, "H1"),
            ("h1 reader", Role.READER, "H1"),
        )
    }
    try:
        with TestClient(http_app(ledger)) as client:
            for who, serials in (("h1 capture", (1, 2)), ("h2 capture", (3,))):
                body = document(*(event(s) for s in serials))
                posted = client.post("/capture", content=body, headers={**JSONLD, **keys[who]})
                assert posted.status_code == 202, posted.text
            yield client, keys, path
    finally:
        ledger.close()


def test_an_auditor_exports_its_institutions_events(
    served: Served,
) -> None:
    client, keys, _ = served
    exported = client.get("/audit/export", headers=keys["h1 auditor"])
    assert exported.status_code == 200, exported.text
    loaded = load(exported.content, validate=True)
    assert not loaded.errors
    epcs = sorted(e["epcList"][0] for e in loaded.events)
    assert epcs == [f"urn:epc:id:sgtin:0614141.107346.{n}" for n in (1, 2)]
    xml = client.get("/audit/export?format=xml", headers=keys["h1 auditor"])
    assert xml.headers["content-type"].startswith("application/xml")
    assert len(etree.fromstring(xml.content).findall(".//ObjectEvent")) == 2
    early = client.get("/audit/export?until=2000-01-01T00:00:00Z", headers=keys["h1 auditor"])
    assert load(early.content).events == []
    bad = client.get("/audit/export?until=yesterday", headers=keys["h1 auditor"])
    assert bad.status_code == 400 and bad.json()["errors"][0]["query"] == "until"
    assert client.get("/audit/export", headers=keys["h1 reader"]).status_code == 403


def test_verify_and_a_checkpoint_it_extends_and_a_broken_chain_named(
    served: Served,
) -> None:
    client, keys, path = served
    auditor = keys["h1 auditor"]
    verified = client.get("/audit/verify", headers=auditor).json()
    assert verified["intact"] and verified["events"] == 3 and verified["findings"] == []
    made = client.post("/audit/checkpoint", headers=auditor)
    assert made.status_code == 201, made.text
    checkpoint = made.json()
    assert checkpoint["position"] == 3 and checkpoint["signature"]
    again = client.post("/audit/verify", json=checkpoint, headers=auditor).json()
    assert again["intact"] and again["checkpoint"]["extended"]
    forged = {**checkpoint, "position": 2}
    refused = client.post("/audit/verify", json=forged, headers=auditor)
    assert refused.status_code == 400 and "checkpoint" in refused.json()["detail"]
    alter_second_record(path, bizStep="destroying")
    broken = client.get("/audit/verify", headers=auditor).json()
    assert not broken["intact"]
    assert broken["findings"][0].startswith("position 2") and "altered" in broken["findings"][0]
    refused_sign = client.post("/audit/checkpoint", headers=auditor)
    assert refused_sign.status_code == 409 and "not intact" in refused_sign.json()["detail"]
