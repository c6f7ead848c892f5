"""What a hostile (or broken) client sends must cost bounded work, get a 400-class problem
that says what and where, and leave the ledger exactly as it was. On both stores.

Each test here failed before the hardening of issue 8: unbounded validation before the
count limit, RecursionError and int-conversion 500s, answers echoing megabytes, duplicate
keys stored silently, work going on after the client left.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.bootstrap import http_app
from epcis import event_hash
from epcis.problems import MAX_REPORTED
from epcis.validation import json_schema
from ledger.access import Role
from ledger.application import Ledger
from ledger.settings import store_settings
from tests.http_support import RoleKeys
from tests.ledger_contract import document, event
from tests.test_http_capture import (
    JSONLD,
    PROBLEM,
    XML,
    Api,
    assert_problem,
    assert_summary,
    open_api,
)

VALIDATION = "epcisException:ValidationException"
CAPTURE_LIMIT = "epcisException:CaptureLimitExceededException"


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    with open_api(store_url, max_events=1000, max_bytes=8 * 1024 * 1024) as opened:
        yield opened


def empty_events(count: int) -> bytes:
    body = json.loads(document())
    body["epcisBody"]["eventList"] = [{} for _ in range(count)]
    return json.dumps(body).encode()


def unchanged(api: Api, before: tuple[tuple[int, str], list[str]]) -> None:
    assert api.state() == before, "the ledger changed"


# -- 2. bounded work ---------------------------------------------------------------------


def test_the_event_count_is_checked_before_any_validation(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = json_schema.validate_json_schema
    monkeypatch.setattr(
        "epcis.validation.validate_json_schema",
        lambda document: calls.append(1) or original(document),
    )
    before = api.state()
    response = api.post(empty_events(1001))
    body = assert_problem(response, 413, CAPTURE_LIMIT)
    assert body["eventCount"] == 1001 and body["captureLimit"] == 1000
    assert calls == [], "the document was validated before its events were counted"
    unchanged(api, before)


def test_many_invalid_events_are_named_but_only_the_first_explained(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    explained: list[str] = []
    original = json_schema._explained

    def counting(part: Any, at: str, validator: Any) -> Any:
        explained.append(at)
        return original(part, at, validator)

    monkeypatch.setattr(json_schema, "_explained", counting)
    before = api.state()
    response = api.post(empty_events(1000))
    body = assert_problem(response, 400, VALIDATION)
    assert len(body["errors"]) == MAX_REPORTED
    assert body["errorsOmitted"] > 0
    assert len(body["invalidEvents"]) == MAX_REPORTED
    assert body["invalidEventCount"] == 1000
    assert len(explained) <= json_schema.EXPLAINED_EVENTS
    assert len(response.content) < 64 * 1024
    unchanged(api, before)


def test_proceed_stores_the_valid_event_among_many_invalid_ones(api: Api) -> None:
    body = json.loads(document(event(1)))
    body["epcisBody"]["eventList"] += [{"type": "ObjectEvent"} for _ in range(300)]
    response = api.proceed(json.dumps(body).encode())
    assert_summary(response, stored=1, rejected=300)
    job = api.job(response)
    assert len(job["outcomes"]) == 301
    assert {o["status"] for o in job["outcomes"][1:]} == {"invalid"}
    assert len(job["errors"]) <= MAX_REPORTED
    notes = [w for w in job.get("warnings", []) if w.get("rule") == "report-limit"]
    assert notes and "not listed" in notes[0]["message"]


def test_work_stops_when_the_client_goes_away(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A raw ASGI call: the client sends a large valid document, then disconnects while it is
    being prepared. The server stops hashing its events and stores nothing."""
    total = 3000
    body = document(*(event(i) for i in range(total)))
    hashed = 0
    disconnected = threading.Event()
    original = event_hash.EventHasher.hash_id

    def slow_after_leaving(self: Any, ev: Any) -> str:
        nonlocal hashed
        hashed += 1
        if hashed == 100:
            disconnected.wait(10)
        if disconnected.is_set():
            time.sleep(0.01)  # the rest would take 30 s: the server must notice long before
        return original(self, ev)

    monkeypatch.setattr(event_hash.EventHasher, "hash_id", slow_after_leaving)
    sent: list[dict[str, Any]] = []

    async def call(app: Any) -> None:
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            while hashed < 100:
                await asyncio.sleep(0.01)
            disconnected.set()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/capture",
            "raw_path": b"/capture",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/ld+json"),
                (b"host", b"test"),
                (b"authorization", f"Bearer {key}".encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)

    from tests.test_http_capture import TestClient

    ledger = Ledger(store_settings(store_url))
    try:
        key = RoleKeys.create(ledger).keys[Role.CAPTURE]
        app = http_app(ledger, max_events=10_000, max_bytes=64 * 1024 * 1024)
        with TestClient(app):  # runs the lifespan: the committer and the projections
            asyncio.run(call(app))
            assert list(ledger.jobs()) == []
            assert ledger.current_head()[0] == 0
    finally:
        ledger.close()
    assert 100 <= hashed < total, f"{hashed} of {total} events were hashed for nobody"
    assert sent[0]["status"] == 400


# -- 3. 400s, not 500s -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/events", "/capture"])
def test_json_nested_2000_deep_is_a_400(api: Api, path: str) -> None:
    before = api.state()
    deep = '{"a": ' + "[" * 2000 + "]" * 2000 + "}"
    response = api.client.post(path, content=deep, headers=JSONLD)
    body = assert_problem(response, 400, VALIDATION)
    assert "nesting deeper than" in body["detail"]
    unchanged(api, before)


@pytest.mark.parametrize(
    "literal",
    ["9" * 5000, "9" * 1_000_000, "1e400", "-1e999", "NaN", "Infinity", "0." + "1" * 200],
)
@pytest.mark.parametrize("path", ["/events", "/capture"])
def test_numbers_json_cannot_hold_are_a_400_with_their_line(
    api: Api, path: str, literal: str
) -> None:
    before = api.state()
    one = event(1)
    one["quantityList"] = [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877"}]
    text = (
        json.dumps(one, indent=1)
        if path == "/events"
        else json.dumps(json.loads(document(one)), indent=1)
    )
    text = text.replace('"epcClass"', f'"quantity": {literal},\n  "epcClass"')
    response = api.client.post(path, content=text, headers=JSONLD)
    body = assert_problem(response, 400, VALIDATION)
    (error,) = body["errors"]
    assert error["line"] == text[: text.index(literal)].count("\n") + 1
    assert len(response.content) < 4096
    unchanged(api, before)


def xml_document(quantity: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"
    creationDate="2026-03-01T08:00:00.000+08:00">
  <EPCISBody>
    <EventList>
      <ObjectEvent>
        <eventTime>2026-03-01T08:00:00.000+08:00</eventTime>
        <eventTimeZoneOffset>+08:00</eventTimeZoneOffset>
        <epcList/>
        <action>OBSERVE</action>
        <quantityList>
          <quantityElement>
            <epcClass>urn:epc:class:lgtin:4012345.012345.998877</epcClass>
            <quantity>{quantity}</quantity>
          </quantityElement>
        </quantityList>
      </ObjectEvent>
    </EventList>
  </EPCISBody>
</epcis:EPCISDocument>
""".encode()


@pytest.mark.parametrize("quantity", ["9" * 5000, "9" * 1_000_000])
@pytest.mark.parametrize("path", ["/events", "/capture"])
def test_xml_numbers_too_long_are_a_400_at_their_line(api: Api, path: str, quantity: str) -> None:
    before = api.state()
    response = api.client.post(path, content=xml_document(quantity), headers=XML)
    body = assert_problem(response, 400, VALIDATION)
    lines = [e for e in body["errors"] if "at most 100" in e["message"]]
    assert lines and lines[0]["line"] == 14, body["errors"]
    assert len(response.content) < 8192
    unchanged(api, before)


def test_a_normal_xml_quantity_is_still_stored(api: Api) -> None:
    response = api.client.post("/capture", content=xml_document("12"), headers=XML)
    assert response.status_code == 202, response.text


# -- 4. answers do not amplify -----------------------------------------------------------


def test_a_huge_event_id_is_not_echoed(api: Api) -> None:
    before = api.state()
    huge = "urn:uuid:" + "x" * 1_000_000
    response = api.client.post(
        "/events", content=json.dumps(event(1, event_id=huge)), headers=JSONLD
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    assert len(response.content) < 16 * 1024, f"{len(response.content)} bytes answered"
    unchanged(api, before)
    missing = api.client.get("/events/" + "y" * 12_000)
    assert missing.status_code in (404, 414, 400)
    assert len(missing.content) < 4096


def test_a_huge_header_value_is_not_echoed(api: Api) -> None:
    response = api.post(document(event(1)), {**JSONLD, "GS1-Capture-Error-Behaviour": "z" * 60_000})
    assert response.status_code == 400
    assert len(response.content) < 4096


# -- 5. duplicate keys -------------------------------------------------------------------


def test_an_event_with_a_key_repeated_differently_is_refused_with_its_pointer(api: Api) -> None:
    before = api.state()
    text = document(event(1), event(2)).decode()
    text = text.replace('"action": "OBSERVE"', '"action": "OBSERVE", "action": "DELETE"', 1)
    response = api.post(text.encode())
    body = assert_problem(response, 400, VALIDATION)
    (error,) = [e for e in body["errors"] if e.get("rule") == "json-duplicate-key"]
    assert error["pointer"] == "/epcisBody/eventList/0/action"
    assert "different values" in error["message"]
    unchanged(api, before)
    on_events = api.client.post(
        "/events",
        content=json.dumps(event(3))[:-1] + ', "action": "DELETE"}',
        headers=JSONLD,
    )
    assert assert_problem(on_events, 400, VALIDATION)["errors"][0]["pointer"] == "/action"
    unchanged(api, before)


def test_under_proceed_only_the_ambiguous_event_is_rejected(api: Api) -> None:
    text = document(event(1), event(2)).decode()
    text = text.replace('"action": "OBSERVE"', '"action": "OBSERVE", "action": "DELETE"', 1)
    response = api.proceed(text.encode())
    outcomes = api.job(response)["outcomes"]
    assert [o["status"] for o in outcomes] == ["invalid", "stored"]
    assert "different values" in outcomes[0]["message"]


def test_a_key_repeated_with_the_same_value_is_stored_with_a_warning(api: Api) -> None:
    text = document(event(1)).decode()
    text = text.replace('"action": "OBSERVE"', '"action": "OBSERVE", "action": "OBSERVE"', 1)
    response = api.post(text.encode())
    assert response.status_code == 202, response.text
    warnings = api.job(response)["warnings"]
    assert warnings[0]["pointer"] == "/epcisBody/eventList/0/action"
    assert warnings[0]["rule"] == "json-duplicate-key"


@pytest.mark.parametrize("syntax", ["json", "xml"])
def test_a_document_of_too_many_nodes_is_refused_before_parsing(
    store_url: str, monkeypatch: pytest.MonkeyPatch, syntax: str
) -> None:
    monkeypatch.setenv("TRACECODE_MAX_NODES", "5000")
    parsed: list[int] = []
    monkeypatch.setattr("epcis.document.read_json", lambda *a: parsed.append(1))
    monkeypatch.setattr("epcis.document.parse_xml", lambda *a, **k: parsed.append(1))
    if syntax == "json":
        body, headers = b'{"a": [' + b",".join([b"[]"] * 6000) + b"]}", JSONLD
    else:
        body, headers = b"<a>" + b"<b/>" * 6000 + b"</a>", XML
    with open_api(store_url) as api:
        before = api.state()
        response = api.client.post("/capture", content=body, headers=headers)
        body_json = assert_problem(response, 413, CAPTURE_LIMIT)
        assert "at most 5,000 are accepted" in body_json["detail"]
        unchanged(api, before)
    assert parsed == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('{"name": "q", "query": ' + "[" * 2000 + "]" * 2000 + "}", 400),
        ('{"name": "q", "query": {"eventCountLimit": ' + "9" * 5000 + "}}", 400),
        ('{"name": "q", "name": "r", "query": {}}', 400),
        ('{"name": "q", "query": {"x": "' + "y" * (2 * 1024 * 1024) + '"}}', 413),
        ("[1, 2]", 400),
    ],
)
def test_hostile_control_bodies_are_refused_cleanly(api: Api, body: str, status: int) -> None:
    """Named queries and subscriptions read their bodies with the document guards."""
    before = api.state()
    for path in ("/queries", "/queries/q/subscriptions"):
        response = api.client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == status, (path, response.text[:500])
        assert response.headers["content-type"].startswith(PROBLEM)
        assert len(response.content) < 8192
    assert api.client.get("/queries").json() == []
    unchanged(api, before)


def _forged_token(state: dict[str, Any]) -> str:
    """A nextPageToken as this server would write one, for the query ``eventType=
    ObjectEvent``, with the state a hostile client chose (the fingerprint is public)."""
    import base64

    from epcis.query import from_query_string
    from projections.event_query import fingerprint

    query = from_query_string([("eventType", "ObjectEvent")])
    payload = json.dumps({"f": fingerprint(query), **state}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize(
    "state",
    [
        {"u": "abc", "n": 0},
        {"u": 10**30, "n": 0},
        {"u": [1], "n": 0},
        {"u": 5, "n": -1},
        {"u": 5, "n": 0, "k": "x"},
        {"u": 5, "n": 0, "k": ["x"], "p": 1},
        {"u": True, "n": 0},
    ],
)
def test_a_forged_page_token_is_a_400(api: Api, state: dict[str, Any]) -> None:
    api.post(document(event(1), event(2)))
    response = api.client.get(
        "/events",
        params={"eventType": "ObjectEvent", "perPage": "1", "nextPageToken": _forged_token(state)},
    )
    body = assert_problem(response, 400, "epcisException:QueryParameterException")
    assert "nextPageToken" in body["detail"]


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"wait_for": "9" * 5000}, {}),
        ({}, {"TraceCode-Wait-For": "9" * 5000}),
        ({"eventCountLimit": "9" * 4000}, {}),
        ({"eventCountLimit": "9" * 5000}, {}),
        ({"maxEventCount": str(2**64)}, {}),
        ({"perPage": "9" * 5000}, {}),
        ({}, {"GS1-EPCIS-Version": "2." + "0" * 5000}),
    ],
)
def test_huge_integers_in_a_query_are_a_400(
    api: Api, params: dict[str, str], headers: dict[str, str]
) -> None:
    response = api.client.get("/events", params=params, headers=headers)
    assert response.status_code in (400, 406), response.text[:500]
    assert response.headers["content-type"].startswith(PROBLEM)
    assert len(response.content) < 4096


# -- a client's recordTime (issue 9, item 3) -----------------------------------------------


@pytest.mark.parametrize("record_time", ["2024-01-01T00:00:00", "yesterday", 17])
def test_a_clients_record_time_is_ignored_and_said_so(api: Api, record_time: Any) -> None:
    """EPCIS 2.0: recordTime "SHALL be ignored when an event is presented to the EPCIS
    Capture Interface". EPCPyYes fills it without an offset by default."""
    sent = dict(event(1), recordTime=record_time)
    response = api.post(document(sent, event(2)))
    assert response.status_code == 202, response.text
    job = api.job(response)
    assert job["outcomes"][0]["notes"] == ["recordTime ignored: set by the repository"]
    assert "notes" not in job["outcomes"][1]
    (warning,) = [w for w in job["warnings"] if w["rule"] == "record-time-ignored"]
    assert warning["pointer"] == "/epcisBody/eventList/0/recordTime"
    stored = api.client.get("/events/" + job["outcomes"][0]["hashID"].replace("?", "%3F"))
    got = stored.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]
    assert got["recordTime"] != record_time and got["recordTime"].endswith("Z")


def test_a_clients_record_time_in_xml_is_ignored_too(api: Api) -> None:
    xml = xml_document("3").replace(
        b"<eventTimeZoneOffset>", b"<recordTime>not a time</recordTime><eventTimeZoneOffset>"
    )
    response = api.client.post("/capture", content=xml, headers=XML)
    assert response.status_code == 202, response.text
    job = api.job(response)
    assert job["outcomes"][0]["notes"] == ["recordTime ignored: set by the repository"]
    (warning,) = [w for w in job["warnings"] if w["rule"] == "record-time-ignored"]
    assert warning["line"] == 8


def test_validate_still_reports_a_bad_record_time(tmp_path: Any) -> None:
    """Outside capture a document is checked as written."""
    from epcis.document import check

    body = json.loads(document(dict(event(1), recordTime="2024-01-01T00:00:00")))
    problems = check(json.dumps(body).encode())
    assert any(p.pointer == "/epcisBody/eventList/0/recordTime" and p.is_error for p in problems)
