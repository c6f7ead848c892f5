"""Institutions kept apart: an institution reads 0 events of another through every read
path (events, queries, top-level resources, named queries, subscriptions and their
webhooks, the WebSocket stream, codes, hierarchy, trails, stock, capture jobs), while a
regulator reads across them; a code that crossed institutions (supplier → hospital) shows
the other institution's events only to the regulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from adapters.bootstrap import http_app
from epcis.identifiers.facts import canonical
from ledger.access import Role
from ledger.api_keys import KeyRing
from ledger.application import Ledger
from ledger.settings import store_settings
from tests.ledger_contract import document, event
from tests.test_subscriptions import SECRET, Receiver, fast_webhooks, receiver, until

JSONLD = {"Content-Type": "application/ld+json"}
ROLES = (Role.CAPTURE, Role.READER, Role.ADMIN)


__all__ = ["fast_webhooks", "receiver"]  # the fixtures, used here too

H1_STORE = "urn:epc:id:sgln:0614141.00001.1"


@dataclass
class Keys:
    by: dict[tuple[str, str], str]

    def __call__(self, institution: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.by[(institution, role)]}"}


def code(serial: int) -> str:
    return f"urn:epc:id:sgtin:0614141.107346.{serial}"


def shipped(serial: int) -> dict[str, Any]:
    return {**event(serial), "bizStep": "shipping", "action": "OBSERVE"}


def at_h1(e: dict[str, Any]) -> dict[str, Any]:
    return {**e, "bizLocation": {"id": H1_STORE}}


@pytest.fixture
def served(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Keys]]:
    monkeypatch.setenv("TRACECODE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("TRACECODE_WEBHOOK_POLL_SECONDS", "0.05")
    ledger = Ledger(store_settings(store_url))
    ring = KeyRing(ledger)
    by = {(i, r.value): ring.create(r, i)[1] for i in ("H1", "H2", "S") for r in ROLES}
    by[("", Role.REGULATOR.value)] = ring.create(Role.REGULATOR, "")[1]
    by[("H1", "second capture")] = ring.create(Role.CAPTURE, "H1")[1]
    try:
        with TestClient(http_app(ledger)) as client:
            yield client, Keys(by)
    finally:
        ledger.close()


def capture(client: TestClient, headers: dict[str, str], *events: dict[str, Any]) -> str:
    response = client.post("/capture", content=document(*events), headers={**JSONLD, **headers})
    assert response.status_code == 202, response.text
    return str(response.json()["captureID"])


def event_ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    return [e["eventID"] for e in body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]


def test_an_institution_reads_nothing_of_another(
    served: tuple[TestClient, Keys], receiver: Receiver
) -> None:
    client, keys = served
    h1, h2 = keys("H1", Role.READER), keys("H2", Role.READER)
    h1_job = capture(client, keys("H1", Role.CAPTURE), at_h1(event(1)), at_h1(shipped(2)))
    capture(client, keys("H2", Role.CAPTURE), event(50))
    h1_events = event_ids(client.get("/events", headers=h1))
    assert len(h1_events) == 2
    for admin in ("H1", "H2"):  # each its own "all" query: names do not collide
        made = client.post(
            "/queries", json={"name": "all", "query": {}}, headers=keys(admin, Role.ADMIN)
        )
        assert made.status_code == 201, made.text
    hook = client.post(
        "/queries/all/subscriptions",
        json={"dest": receiver.url, "secret": SECRET, "stream": True},
        headers=keys("H2", Role.ADMIN),
    )
    assert hook.status_code == 201, hook.text
    h1_hook = client.post(
        "/queries/all/subscriptions",
        json={"dest": receiver.url, "secret": SECRET, "stream": True},
        headers=keys("H1", Role.ADMIN),
    ).json()["subscriptionID"]

    with client.websocket_connect("/queries/all/events", headers=h2) as socket:
        capture(client, keys("H1", Role.CAPTURE), event(3))  # H2 must not see this
        capture(client, keys("H2", Role.CAPTURE), event(51))
        streamed = json.loads(socket.receive_text())
    results = streamed["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["epcList"] for e in results] == [[code(51)]]

    # events and queries
    seen = event_ids(client.get("/events", headers=h2))
    assert len(seen) == 2 and not set(seen) & set(h1_events)
    for event_id in h1_events:
        assert client.get(f"/events/{quote(event_id, safe='')}", headers=h2).status_code == 404
    assert event_ids(client.get(f"/events?MATCH_epc={code(1)}", headers=h2)) == []
    assert event_ids(client.get("/queries/all/events", headers=h2)) != []
    assert not set(event_ids(client.get("/queries/all/events", headers=h2))) & set(h1_events)
    # top-level resources
    epcs = client.get("/epcs", headers=h2).json()["member"]
    assert canonical(code(1)) not in epcs and canonical(code(50)) in epcs
    assert client.get(f"/epcs/{code(1)}", headers=h2).status_code == 404
    assert event_ids(client.get(f"/epcs/{code(1)}/events", headers=h2)) == []
    # named queries and subscriptions
    assert [q["name"] for q in client.get("/queries", headers=h2).json()] == ["all"]
    h2_subscriptions = client.get("/queries/all/subscriptions", headers=keys("H2", Role.ADMIN))
    assert [s["subscriptionID"] for s in h2_subscriptions.json()] == [hook.json()["subscriptionID"]]
    other = client.get(f"/queries/all/subscriptions/{h1_hook}", headers=keys("H2", Role.ADMIN))
    assert other.status_code == 404
    # codes, hierarchy, trails, stock
    for path in (f"/codes/{code(1)}", f"/codes/{code(1)}/hierarchy", f"/trails?code={code(1)}"):
        assert client.get(path, headers=h2).status_code == 404, path
    assert client.get("/trails?product=00614141073467&lot=x", headers=h2).status_code == 404
    store = canonical(H1_STORE)
    assert store in [line["location"] for line in client.get("/stock", headers=h1).json()]
    assert store not in [line["location"] for line in client.get("/stock", headers=h2).json()]
    assert client.get(f"/stock?location={H1_STORE}", headers=h2).json() == []
    # capture jobs
    assert client.get(f"/capture/{h1_job}", headers=h2).status_code == 404
    assert h1_job not in [j["captureID"] for j in client.get("/capture", headers=h2).json()]
    # webhooks: H2's subscription delivered H2's event only (H1's went to H1's)
    until(lambda: len(receiver.posts) >= 2)
    delivered: dict[str, list[list[str]]] = {}
    for body, _ in receiver.posts:
        results = json.loads(body)["epcisBody"]["queryResults"]
        epcs_sent = [e["epcList"] for e in results["resultsBody"]["eventList"]]
        delivered.setdefault(results["subscriptionID"], []).extend(epcs_sent)
    assert delivered[hook.json()["subscriptionID"]] == [[code(51)]]
    assert delivered[h1_hook] == [[code(3)]]


def test_a_regulator_reads_across_institutions_and_a_crossing_code_shows_each_its_own(
    served: tuple[TestClient, Keys],
) -> None:
    client, keys = served
    capture(client, keys("S", Role.CAPTURE), shipped(7))  # the supplier ships
    capture(client, keys("H1", Role.CAPTURE), event(7))  # the hospital receives
    regulator = keys("", Role.REGULATOR)
    assert len(event_ids(client.get("/events", headers=regulator))) == 2
    everyone = client.get(f"/codes/{code(7)}", headers=regulator).json()
    assert len(everyone["history"]) == 2
    hospital = client.get(f"/codes/{code(7)}", headers=keys("H1", Role.READER)).json()
    supplier = client.get(f"/codes/{code(7)}", headers=keys("S", Role.READER)).json()
    assert len(hospital["history"]) == len(supplier["history"]) == 1
    assert hospital["history"] != supplier["history"]
    trail = client.get(f"/trails?code={code(7)}", headers=regulator).json()
    assert len(trail[0]["events"]) == 2
    own = client.get(f"/trails?code={code(7)}", headers=keys("H1", Role.READER)).json()
    assert len(own[0]["events"]) == 1


def test_a_capture_key_reads_the_jobs_it_captured_and_no_other(
    served: tuple[TestClient, Keys],
) -> None:
    client, keys = served
    mine = capture(client, keys("H1", Role.CAPTURE), event(20))
    second = keys("H1", "second capture")
    theirs = capture(client, second, event(21))
    jobs = client.get("/capture", headers=keys("H1", Role.CAPTURE)).json()
    assert [j["captureID"] for j in jobs] == [mine]
    assert client.get(f"/capture/{theirs}", headers=keys("H1", Role.CAPTURE)).status_code == 404
    reader = client.get("/capture", headers=keys("H1", Role.READER)).json()
    assert {j["captureID"] for j in reader} == {mine, theirs}


def test_an_event_another_institution_stored_is_shared_with_whoever_captures_it_too(
    served: tuple[TestClient, Keys],
) -> None:
    """A hospital capturing its supplier's document: the events the supplier stored are
    not stored twice, but the hospital sees them from then on (and a third does not)."""
    client, keys = served
    one = {k: v for k, v in event(60).items() if k != "example:ward"}
    own_id = "urn:uuid:6a1e7d5e-2222-4a1a-8a1a-00000000000c"
    first = client.post(
        "/events", json={**one, "eventID": own_id}, headers={**JSONLD, **keys("S", Role.CAPTURE)}
    )
    assert first.status_code == 201, first.text
    h1 = keys("H1", Role.READER)
    assert client.get(f"/codes/{code(60)}", headers=h1).status_code == 404
    again = client.post("/events", json=one, headers={**JSONLD, **keys("H1", Role.CAPTURE)})
    assert again.status_code == 200, again.text
    assert client.get(again.headers["Location"], headers=h1).status_code == 200
    assert len(event_ids(client.get(f"/events?MATCH_epc={code(60)}", headers=h1))) == 1
    assert len(client.get(f"/codes/{code(60)}", headers=h1).json()["history"]) == 1
    assert client.get(f"/trails?code={code(60)}", headers=h1).status_code == 200
    assert client.get(f"/codes/{code(60)}", headers=keys("H2", Role.READER)).status_code == 404
    jobs = client.get("/capture", headers=h1).json()
    outcomes = [o for job in jobs for o in job["outcomes"] if o["status"] == "already-stored"]
    assert outcomes and all(o["eventID"] != own_id for o in outcomes)
    regulator = keys("", Role.REGULATOR)
    assert len(event_ids(client.get(f"/events?MATCH_epc={code(60)}", headers=regulator))) == 1


def test_a_share_is_made_once_chained_and_verified(ledger: Ledger) -> None:
    from ledger.application import SHARE_TOPIC
    from ledger.capture import prepare
    from ledger.verify import verify_chain

    body = document(event(70), event(71))
    first = prepare(body, institution="S")
    same_group = prepare(body, institution="H1")  # the same group: shares name the new positions
    ledger.append([first, same_group])
    ledger.capture(prepare(body, institution="H1"))  # a retry: no second share
    ledger.capture(prepare(body, institution="S"))  # the owner again: no share
    shares = [state for _, topic, state in ledger.raw_log([SHARE_TOPIC])]
    assert sorted((s["institution"], s["position"]) for s in shares if s) == [("H1", 1), ("H1", 2)]
    report = verify_chain(ledger)
    assert report.intact, report.findings
    stored = list(ledger.stored_events())
    assert ledger.sees("H1", stored[0]) and not ledger.sees("H2", stored[0])


def test_an_eventid_conflict_names_another_institutions_event_to_no_one(ledger: Ledger) -> None:
    """EventIDs are one namespace, so a second institution reusing one is refused; but it
    is not told the hash of the event that holds it, unless it sees that event (a share, or
    its own, or the command line's full rights)."""
    from ledger.capture import prepare
    from ledger.outcomes import Status

    taken = "urn:uuid:6a1e7d5e-3333-4a1a-8a1a-00000000000d"
    theirs = ledger.capture(prepare(document({**event(80), "eventID": taken}), institution="S"))
    owner = theirs.outcomes[0].hash_id
    mine = document({**event(81), "eventID": taken})
    for institution, shown in (("H1", None), ("S", owner), ("", owner)):
        result = ledger.capture(prepare(mine, institution=institution))
        [conflict] = result.conflicts
        assert conflict.status == Status.CONFLICT
        assert conflict.existing_hash_id == shown
        assert (owner in (conflict.message or "")) == (shown is not None)
    # once H1 captures S's event too it sees it, and is told which event holds the eventID
    ledger.capture(prepare(document({**event(80), "eventID": taken}), institution="H1"))
    [conflict] = ledger.capture(prepare(mine, institution="H1")).conflicts
    assert conflict.existing_hash_id == owner
    # in one group: the owner stored by another institution's request before it
    again = "urn:uuid:6a1e7d5e-3333-4a1a-8a1a-00000000000f"
    group = ledger.append(
        [
            prepare(document({**event(82), "eventID": again}), institution="S"),
            prepare(document({**event(83), "eventID": again}), institution="H2"),
            prepare(document({**event(84), "eventID": again}), institution="S"),
        ]
    )
    assert group[1].conflicts[0].existing_hash_id is None
    assert group[2].conflicts[0].existing_hash_id == group[0].outcomes[0].hash_id


def test_a_conflict_over_http_does_not_show_another_institutions_hash(
    served: tuple[TestClient, Keys],
) -> None:
    client, keys = served
    taken = "urn:uuid:6a1e7d5e-4444-4a1a-8a1a-00000000000e"

    def post(serial: int, institution: str) -> Any:
        plain = {k: v for k, v in event(serial).items() if k != "example:ward"}
        body = {**plain, "eventID": taken}
        return client.post("/events", json=body, headers={**JSONLD, **keys(institution, "capture")})

    assert post(90, "S").status_code == 201
    own = post(91, "S")  # the owner's institution is told which event holds the eventID
    assert own.status_code == 409, own.text
    owner = own.json()["errors"][0]["existingHashID"]
    assert owner.startswith("ni:///sha-256;")
    refused = post(91, "H1")
    assert refused.status_code == 409, refused.text
    assert owner not in refused.text
    assert "an event of another institution" in refused.json()["errors"][0]["message"]


def test_verify_finds_a_share_the_ledger_would_not_have_made(ledger: Ledger) -> None:
    """Shares written through the ledger's own commits (so no digest breaks) but naming a
    record wrongly: verify compares each share with the record it names."""
    from ledger.capture import prepare
    from ledger.domain import EventShare
    from ledger.verify import verify_chain

    ledger.capture(prepare(document(event(95)), institution="S"))
    [stored] = list(ledger.stored_events())
    bad = [
        EventShare(
            share=f"H1 {stored.key}",
            key=stored.key,
            hash_id=stored.hash_id,
            institution="H1",
            position=stored.position + 7,
        ),
        EventShare(
            share=f"S {stored.key}",
            key=stored.key,
            hash_id=stored.hash_id,
            institution="S",
            position=stored.position,
        ),
        EventShare(
            share="H2 ni:///sha-256;00",
            key="ni:///sha-256;00",
            hash_id="ni:///sha-256;00",
            institution="H2",
            position=1,
        ),
    ]
    ledger.save_entries(lambda: bad)
    report = verify_chain(ledger)
    found = sorted(str(f) for f in report.findings)
    assert len(found) == 3, found
    assert any(f"event share 'H1 {stored.key}'" in f and "at position 8" in f for f in found)
    assert any(f"event share 'S {stored.key}'" in f and "which captured it" in f for f in found)
    assert any("event share 'H2 ni:///sha-256;00'" in f and "no record" in f for f in found)
