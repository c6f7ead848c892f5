"""The HTTP capture API (GS1 EPCIS 2.0 REST bindings, capture part), on SQLite and PostgreSQL.

Every test drives the bootstrap's ``http_app(Ledger(...))`` through FastAPI's TestClient,
which runs the app's lifespan, so captures go through the real group committer. The
streaming-limit tests call the app through httpx's ASGI transport instead: it pulls a
request body from its generator one chunk per ``receive``, so the test can count what the
server read.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from epcis.context import make_context
from epcis.document import check, detect_syntax, load
from ledger.application import Ledger
from tests.conftest import EXAMPLES, empty_store, open_ledger
from tests.http_support import http_client
from tests.ledger_contract import document, event

with warnings.catch_warnings():  # starlette now suggests httpx2; httpx is what is installed
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

MAX_EVENTS = 20
MAX_BYTES = 256 * 1024
JSONLD = {"Content-Type": "application/ld+json"}
XML = {"Content-Type": "application/xml"}
PROBLEM = "application/problem+json"
REJECTED_EXAMPLE = EXAMPLES / "xml/2.0/WithEventHashID/event_with_identical_hash_id_7.json"
# GS1's example gives its event two different eventIDs: ambiguous, refused at the key.
AMBIGUOUS_EXAMPLE = EXAMPLES / "json/AssociationEvent/AssociationEvent-h.jsonld"
HASH_ID = (
    "ni:///sha-256;9d8f0a4b1c2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e?ver=CBV2.0"
)


@dataclass
class Api:
    client: TestClient
    ledger: Ledger

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post("/capture", content=body, headers=headers or JSONLD)

    def proceed(self, body: bytes) -> httpx.Response:
        """Capture ``body`` under ``GS1-Capture-Error-Behaviour: proceed``: accepted."""
        response = self.post(body, {**JSONLD, "GS1-Capture-Error-Behaviour": "proceed"})
        assert response.status_code == 202, response.text
        return response

    def state(self) -> tuple[tuple[int, str], list[str]]:
        """The chain head as the store has it, and every capture job's id."""
        return self.ledger.current_head(), [job.capture_id for job in self.ledger.jobs()]

    def job(self, response: httpx.Response) -> dict[str, Any]:
        job = self.client.get(response.headers["Location"])
        assert job.status_code == 200, job.text
        body: dict[str, Any] = job.json()
        return body


@contextmanager
def open_api(
    url: str, *, max_events: int = MAX_EVENTS, max_bytes: int = MAX_BYTES
) -> Iterator[Api]:
    with (
        open_ledger(url) as ledger,
        http_client(ledger, max_events=max_events, max_bytes=max_bytes) as client,
    ):
        yield Api(client, ledger)


def assert_gs1(response: httpx.Response) -> None:
    assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
    assert response.headers["GS1-CBV-Version"] == "2.0.0"


def assert_problem(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert_gs1(response)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == type_
    assert body["title"] and body["detail"] and body["instance"]
    return body


def assert_summary(response: httpx.Response, *, stored: int, rejected: int) -> None:
    """The capture's summary: ``stored`` and ``rejected`` events, none already stored or
    left unstored."""
    assert response.json()["summary"] == {
        "stored": stored,
        "alreadyStored": 0,
        "rejected": rejected,
        "notStored": 0,
    }


def event_url(event_id: str) -> str:
    return "/events/" + quote(event_id, safe="")


STANDARD_TYPES = {
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
}


def read_back_hashes(api: Api, event_id: str, *, valid_in: str = "json xml") -> list[str]:
    """The Event Hash ID of the event read back by eventID, as JSON-LD and as XML (an event
    of an extension type has no XML form: asking only for XML is then 406). The answers in
    the syntaxes of ``valid_in`` must be valid documents."""
    hashes = []
    for accept in ("application/ld+json", "application/xml"):
        response = api.client.get(event_url(event_id), headers={"Accept": accept})
        assert_gs1(response)
        if accept == "application/xml" and response.status_code == 406:
            assert "no XML form" in response.json()["detail"]
            continue
        assert response.status_code == 200, (event_id, response.text)
        assert response.headers["content-type"].startswith(accept)
        loaded = load(response.content)
        if loaded.syntax in valid_in:
            assert loaded.is_valid, loaded.errors
        assert loaded.kind == "EPCISQueryDocument"
        # the event, then any error declarations of it: all share its Event Hash ID
        hash_id, *declarations = loaded.hash_ids()
        assert set(declarations) <= {hash_id}
        hashes.append(hash_id)
    return hashes


# -- every GS1 example -----------------------------------------------------------------------


def example_files() -> list[Path]:
    return sorted(
        path
        for path in EXAMPLES.rglob("*")
        if path.suffix in (".json", ".jsonld", ".xml")
        and "CaptureJob" not in path.parts
        and path not in (REJECTED_EXAMPLE, AMBIGUOUS_EXAMPLE)
    )


def conflict_free_groups(files: list[Path]) -> list[list[Path]]:
    """The examples in groups that can share a store.

    GS1's examples reuse eventIDs for different events (e.g. the JSON and XML versions of
    ErrorDeclarationAndCorrectiveEvent differ, yet carry the same eventIDs); one store keeps
    an eventID for one event, so those go to another store.
    """
    groups: list[tuple[list[Path], dict[str, str]]] = []
    for path in files:
        loaded = load(path.read_bytes(), validate=False)
        claims = {
            e["eventID"]: h
            for e, h in zip(loaded.events, loaded.hash_ids(), strict=True)
            if isinstance(e.get("eventID"), str)
        }
        for group in groups:
            if all(group[1].get(k, v) == v for k, v in claims.items()):
                break
        else:
            group = ([], {})
            groups.append(group)
        group[0].append(path)
        group[1].update(claims)
    return [members for members, _ in groups]


@contextmanager
def extra_store(store_url: str, tmp_path: Path, n: int) -> Iterator[str]:
    """Another empty store of the same kind as ``store_url``."""
    kind = "sqlite" if store_url.startswith("sqlite") else "postgresql"
    with empty_store(kind, tmp_path / f"extra-{n}.db") as url:
        yield url


def capture_examples(api: Api, files: list[Path]) -> None:
    """Post each example; read every event back by eventID in JSON-LD and XML."""
    for path in files:
        data = path.read_bytes()
        headers = XML if detect_syntax(data) == "xml" else JSONLD
        response = api.post(data, headers)
        assert response.status_code == 202, (path, response.text)
        assert_gs1(response)
        job = api.job(response)
        assert job["success"] is True, (path, job)
        assert job["summary"]["rejected"] == job["summary"]["notStored"] == 0, (path, job)
        original = load(data)
        assert [o["hashID"] for o in job["outcomes"]] == original.hash_ids(), path
        for outcome, sent in zip(job["outcomes"], original.events, strict=True):
            assert outcome["status"] in ("stored", "already-stored"), (path, outcome)
            # A stored event is found by its eventID; one that was already there (perhaps
            # under another eventID) by its Event Hash ID, which every stored event answers to.
            key = outcome["eventID"] if outcome["status"] == "stored" else outcome["hashID"]
            syntaxes = 2 if sent["type"] in STANDARD_TYPES else 1
            # Valid in the syntax it came in; not always in the other: GS1's XSD allows
            # persistentDisposition in an AggregationEvent, its JSON Schema does not.
            hashes = read_back_hashes(api, key, valid_in=original.syntax)
            assert hashes == [outcome["hashID"]] * syntaxes, (path, key)


def recapture_examples(api: Api, files: list[Path]) -> None:
    head, _ = api.state()
    for path in files:
        data = path.read_bytes()
        response = api.post(data, XML if detect_syntax(data) == "xml" else JSONLD)
        assert response.status_code == 202, (path, response.text)
        assert response.json()["summary"]["stored"] == 0
        job = api.job(response)
        assert {o["status"] for o in job["outcomes"]} <= {"already-stored"}, (path, job)
    assert api.state()[0] == head


def test_every_gs1_example_is_captured_and_reads_back(store_url: str, tmp_path: Path) -> None:
    files = example_files()
    assert len(files) > 80
    groups = conflict_free_groups(files)
    assert sum(len(g) for g in groups) == len(files)
    with open_api(store_url) as api:
        capture_examples(api, groups[0])
        recapture_examples(api, groups[0])
        # The rejected example writes CBV URNs where JSON-LD wants bare words.
        before = api.state()
        response = api.post(REJECTED_EXAMPLE.read_bytes())
        body = assert_problem(response, 400, "epcisException:ValidationException")
        pointers = {e.get("pointer") for e in body["errors"]}
        assert "/epcisBody/eventList/0/bizStep" in pointers
        assert any("CBV URN" in e["message"] for e in body["errors"])
        assert api.state() == before
        response = api.post(AMBIGUOUS_EXAMPLE.read_bytes())
        body = assert_problem(response, 400, "epcisException:ValidationException")
        assert body["errors"][0]["pointer"] == "/epcisBody/eventList/0/eventID"
        assert api.state() == before
        # The examples that reuse an eventID of a different event are refused in this store.
        for path in (p for group in groups[1:] for p in group):
            data = path.read_bytes()
            response = api.post(data, XML if detect_syntax(data) == "xml" else JSONLD)
            conflict = assert_problem(
                response, 409, "epcisException:ResourceAlreadyExistsException"
            )
            assert all(e["existingHashID"] != e["hashID"] for e in conflict["errors"])
        assert api.state()[0] == before[0]
    for n, group in enumerate(groups[1:], start=1):
        with extra_store(store_url, tmp_path, n) as url, open_api(url) as api:
            capture_examples(api, group)
            recapture_examples(api, group)


# -- rollback, proceed, conflicts ------------------------------------------------------------


def bad(serial: int) -> dict[str, Any]:
    broken = event(serial)
    broken["action"] = "TELEPORT"
    return broken


def test_rollback_stores_nothing_of_a_document_with_one_bad_event(api: Api) -> None:
    api.post(document(event(1)))
    before = api.state()
    response = api.post(document(event(2), bad(3), event(4)))
    body = assert_problem(response, 400, "epcisException:ValidationException")
    assert body["errors"] and all(
        e["pointer"].startswith("/epcisBody/eventList/1") for e in body["errors"]
    )
    assert body["invalidEvents"] == [1]
    assert "proceed" in body["detail"]
    assert response.headers["GS1-EPCIS-Capture-Limit"] == str(MAX_EVENTS)
    assert api.state() == before  # nothing stored, no job


def test_proceed_stores_the_valid_events_and_the_job_lists_the_bad_one(api: Api) -> None:
    body = document(event(2), bad(3), event(4))
    response = api.proceed(body)
    assert_summary(response, stored=2, rejected=1)
    job = api.job(response)
    assert job["success"] is False and job["running"] is False
    assert job["captureErrorBehaviour"] == "proceed"
    assert [o["status"] for o in job["outcomes"]] == ["stored", "invalid", "stored"]
    assert [o["position"] for o in job["outcomes"] if o["status"] == "stored"] == [1, 2]
    assert job["errors"] and all(
        e["type"] == "epcisException:ValidationException"
        and e["pointer"].startswith("/epcisBody/eventList/1")
        for e in job["errors"]
    )
    hashes = load(body).hash_ids()
    assert read_back_hashes(api, hashes[0]) == [hashes[0]] * 2
    assert api.client.get(event_url(hashes[2])).status_code == 200


def test_capture_error_behaviour_must_be_rollback_or_proceed(api: Api) -> None:
    before = api.state()
    response = api.post(document(event(1)), {**JSONLD, "GS1-Capture-Error-Behaviour": "all"})
    body = assert_problem(response, 400, "epcisException:ValidationException")
    assert "GS1-Capture-Error-Behaviour" in body["detail"]
    assert body["errors"][0]["header"] == "GS1-Capture-Error-Behaviour"
    assert api.state() == before


def test_event_id_conflict(api: Api) -> None:
    first = event(1, event_id="urn:uuid:6b0bb3a4-0c57-4bd4-9b05-4ab0bc1cd2e6")
    other = event(2, event_id="urn:uuid:6b0bb3a4-0c57-4bd4-9b05-4ab0bc1cd2e6")
    assert api.post(document(first)).status_code == 202
    (first_hash,) = load(document(first)).hash_ids()
    (other_hash,) = load(document(other)).hash_ids()
    fresh_hash = load(document(event(3))).hash_ids()[0]
    before = api.state()

    response = api.post(document(event(3), other))  # rollback: nothing stored
    body = assert_problem(response, 409, "epcisException:ResourceAlreadyExistsException")
    (error,) = body["errors"]
    assert error["eventID"] == first["eventID"]
    assert error["existingHashID"] == first_hash and error["hashID"] == other_hash
    assert error["pointer"] == "/epcisBody/eventList/1"
    assert first_hash in body["detail"] and other_hash in body["detail"]
    assert api.state()[0] == before[0]
    assert api.client.get(event_url(fresh_hash)).status_code == 404
    job = api.client.get(body["instance"]).json()  # the failed job is on record
    assert job["captureID"] == body["captureID"] and job["success"] is False
    assert [o["status"] for o in job["outcomes"]] == ["not-stored", "conflict"]
    assert job["outcomes"][1]["existingHashID"] == first_hash

    response = api.proceed(document(event(3), other))
    job = api.job(response)
    assert [o["status"] for o in job["outcomes"]] == ["stored", "conflict"]
    assert any(e.get("existingHashID") == first_hash for e in job["errors"])
    assert api.client.get(event_url(fresh_hash)).status_code == 200
    stored = api.client.get(event_url(first["eventID"])).content
    assert load(stored).hash_ids() == [first_hash]  # the eventID still names the first event


def test_an_already_stored_outcome_names_the_event_id_that_reads_it_back(api: Api) -> None:
    """Not the hash where an eventID belongs: the client's eventID when it sent one, else
    the eventID the stored event has."""
    given = "urn:uuid:5a4a2b4e-1f7c-4d55-9b3e-2f6d1c0e7a11"
    other = "urn:uuid:0b5e5c4c-8d1e-4a9a-a3c2-6f1e9d2b7c44"
    (hash_id,) = load(document(event(1, event_id=given))).hash_ids()
    assert api.post(document(event(1, event_id=given))).status_code == 202
    again = api.job(api.post(document(event(1))))["outcomes"]
    assert [(o["status"], o["eventID"], o["hashID"]) for o in again] == [
        ("already-stored", given, hash_id)
    ]
    renamed = api.job(api.post(document(event(1, event_id=other))))["outcomes"]
    assert [(o["status"], o["eventID"]) for o in renamed] == [("already-stored", other)]
    assert api.client.get(event_url(other)).status_code == 200
    # The same event twice in one document, the first time with an eventID.
    twice = document(event(2, event_id=other.replace("0b5e", "1c6f")), event(2))
    outcomes = api.job(api.post(twice))["outcomes"]
    assert [(o["status"], o["eventID"]) for o in outcomes] == [
        ("stored", other.replace("0b5e", "1c6f")),
        ("already-stored", other.replace("0b5e", "1c6f")),
    ]


def test_post_events(api: Api) -> None:
    one = event(7, event_id="urn:uuid:0d2b6f0e-4b55-4d8a-a9a4-4a3f6f1f8c01")
    bare = {
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"example": "https://ns.example.com/epcis/"},
        ],
        **one,
    }
    response = api.client.post("/events", content=json.dumps(bare), headers=JSONLD)
    assert response.status_code == 201, response.text
    assert_gs1(response)
    assert response.headers["Location"] == event_url(one["eventID"])
    created = response.json()
    assert created["eventID"] == one["eventID"] and created["recordTime"]
    assert api.client.get(response.headers["Location"]).status_code == 200

    again = api.client.post("/events", content=json.dumps(bare), headers=JSONLD)
    assert again.status_code == 200, again.text  # an idempotent retry is not an error
    assert again.headers["Location"] == response.headers["Location"]
    assert again.json()["recordTime"] == created["recordTime"]

    clash = {**bare, **event(8, event_id=one["eventID"])}
    body = assert_problem(
        api.client.post("/events", content=json.dumps(clash), headers=JSONLD),
        409,
        "epcisException:ResourceAlreadyExistsException",
    )
    assert body["errors"][0]["existingHashID"] == load(json.dumps(bare).encode()).hash_ids()[0]

    xml = api.client.get(event_url(one["eventID"]), headers={"Accept": "application/xml"})
    new_xml = xml.content.replace(b"0614141.107346.7<", b"0614141.107346.9<").replace(
        one["eventID"].encode(), b"urn:uuid:0d2b6f0e-4b55-4d8a-a9a4-4a3f6f1f8c09"
    )
    response = api.client.post("/events", content=new_xml, headers=XML)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == event_url(
        "urn:uuid:0d2b6f0e-4b55-4d8a-a9a4-4a3f6f1f8c09"
    )

    body = assert_problem(
        api.client.post("/events", content=document(event(10), event(11)), headers=JSONLD),
        400,
        "epcisException:ValidationException",
    )
    assert "exactly one event" in body["detail"]
    body = assert_problem(
        api.client.post("/events", content=json.dumps(bad(12)), headers=JSONLD),
        400,
        "epcisException:ValidationException",
    )
    assert any(e.get("pointer", "").endswith("/action") for e in body["errors"])


# -- limits ------------------------------------------------------------------------------------


def test_content_length_over_the_limit_is_413(api: Api) -> None:
    before = api.state()
    response = api.post(b" " * (MAX_BYTES + 1))
    body = assert_problem(response, 413, "epcisException:CaptureLimitExceededException")
    assert str(MAX_BYTES) in body["detail"]
    assert response.headers["GS1-EPCIS-Capture-File-Size-Limit"] == str(MAX_BYTES)
    assert api.state() == before


class Counter:
    def __init__(self, chunk: int, chunks: int) -> None:
        self.chunk, self.chunks, self.pulled = chunk, chunks, 0

    async def body(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += self.chunk
            yield b" " * self.chunk


def asgi(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request straight through httpx's ASGI transport (no lifespan of its own: the
    TestClient that opened the app has already started it)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        auth = app.state.role_keys  # the keys of the TestClient that opened the app
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", auth=auth
        ) as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def post_streamed(app: Any, counter: Counter, headers: dict[str, str]) -> httpx.Response:
    return asgi(app, "POST", "/capture", content=counter.body(), headers=headers)


def test_streamed_body_over_the_limit_is_413_without_reading_the_rest(api: Api) -> None:
    app = api.client.app
    chunk = 4096
    counter = Counter(chunk, 10 * MAX_BYTES // chunk)  # ten times the limit, if read whole
    response = post_streamed(app, counter, JSONLD)  # chunked: no Content-Length
    body = assert_problem(response, 413, "epcisException:CaptureLimitExceededException")
    assert body["fileSizeLimit"] == MAX_BYTES
    assert MAX_BYTES < counter.pulled <= MAX_BYTES + chunk

    counter = Counter(chunk, 10 * MAX_BYTES // chunk)
    declared = {**JSONLD, "Content-Length": str(10 * MAX_BYTES)}
    response = post_streamed(app, counter, declared)
    assert_problem(response, 413, "epcisException:CaptureLimitExceededException")
    assert counter.pulled == 0  # refused on Content-Length, before reading anything


def test_post_events_refuses_an_sgtin_serial_of_3000_characters(api: Api) -> None:
    """The issue: a 3,000-character serial was stored (201); TDS allows 20 characters."""
    one = event(7)
    one["epcList"] = ["urn:epc:id:sgtin:0614141.107346." + "A1b" * 1000]
    bare = {"@context": make_context({"example": "https://ns.example.com/epcis/"}), **one}
    before = api.state()
    response = api.client.post("/events", content=json.dumps(bare), headers=JSONLD)
    body = assert_problem(response, 400, "epcisException:ValidationException")
    [error] = body["errors"]
    assert error["pointer"] == "/epcList/0" and error["rule"] == "identifier-limits"
    assert "longer than 20 characters" in error["message"] and len(response.text) < 2000
    assert api.state() == before


def test_capture_refuses_a_digital_link_with_a_wrong_gtin_check_digit(api: Api) -> None:
    """The issue: it was stored, and its status then showed ``product: null``."""
    one = event(7)
    one["epcList"] = ["https://id.gs1.org/01/09521234000012/21/1"]  # check digit 3, not 2
    before = api.state()
    body = assert_problem(api.post(document(one)), 400, "epcisException:ValidationException")
    [error] = body["errors"]
    assert error["pointer"] == "/epcisBody/eventList/0/epcList/0"
    assert error["rule"] == "gs1-check-digit" and "expected 3, got 2" in error["message"]
    assert api.state() == before


def test_too_many_events_is_413(api: Api) -> None:
    before = api.state()
    response = api.post(document(*(event(n) for n in range(MAX_EVENTS + 1))))
    body = assert_problem(response, 413, "epcisException:CaptureLimitExceededException")
    assert body["captureLimit"] == MAX_EVENTS and body["eventCount"] == MAX_EVENTS + 1
    assert f"at most {MAX_EVENTS}" in body["detail"]
    assert response.headers["GS1-EPCIS-Capture-Limit"] == str(MAX_EVENTS)
    assert api.state() == before
    assert api.post(document(*(event(n) for n in range(MAX_EVENTS)))).status_code == 202


# -- media types, versions, not found ------------------------------------------------------------


def test_unsupported_media_types_are_415(api: Api) -> None:
    before = api.state()
    ok = document(event(1))
    for headers, body in (
        ({"Content-Type": "text/plain"}, ok),
        ({}, ok),
        (XML, ok),  # JSON sent as XML
        ({**JSONLD, "Content-Encoding": "gzip"}, ok),
        (JSONLD, EXAMPLES.joinpath("xml/1.2/ObjectEvent.xml").read_bytes()),
    ):
        response = api.client.post("/capture", content=body, headers=headers)
        problem = assert_problem(response, 415, "epcisException:UnsupportedMediaTypeException")
        assert problem["instance"] == "/capture"
    assert api.state() == before
    assert api.post(ok, {"Content-Type": "application/json; charset=utf-8"}).status_code == 202
    xml = EXAMPLES.joinpath("xml/1.2/ObjectEvent.xml").read_bytes()
    assert api.post(xml, {"Content-Type": "text/xml"}).status_code == 202


def test_versions_and_accept(api: Api) -> None:
    before = api.state()
    for header, value in (
        ("GS1-EPCIS-Version", "1.2.0"),
        ("GS1-CBV-Version", "1.2"),
        ("GS1-EPCIS-Min", "2.1"),
        ("GS1-EPCIS-Max", "1.2.0"),
        ("GS1-EPCIS-Version", "two"),
    ):
        response = api.post(document(event(1)), {**JSONLD, header: value})
        body = assert_problem(response, 406, "epcisException:NotAcceptableException")
        assert header in body["detail"]
    assert api.state() == before
    response = api.post(document(event(1)), {**JSONLD, "GS1-EPCIS-Version": "2.0"})
    assert response.status_code == 202
    (hash_id,) = load(document(event(1))).hash_ids()
    for accept in ("text/html", "application/xml;q=0, application/*;q=0, */*;q=0"):
        response = api.client.get(event_url(hash_id), headers={"Accept": accept})
        assert_problem(response, 406, "epcisException:NotAcceptableException")
    for accept, media in (
        ("application/json", "application/json"),
        ("text/xml", "text/xml"),
        ("text/html, application/*;q=0.5", "application/ld+json"),
        ("application/ld+json;q=0.1, application/xml", "application/xml"),
    ):
        response = api.client.get(event_url(hash_id), headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media)
        assert load(response.content).hash_ids() == [hash_id]


def test_not_found_and_method_not_allowed(api: Api) -> None:
    for path in ("/capture/no-such-job", event_url("urn:uuid:no-such-event"), "/nowhere"):
        body = assert_problem(api.client.get(path), 404, "epcisException:NoSuchNameException")
        assert body["instance"].startswith(path.split("%")[0])
    assert_problem(
        api.client.options(event_url("urn:uuid:nothing")), 404, "epcisException:NoSuchNameException"
    )
    response = api.client.delete("/capture")
    body = assert_problem(response, 405, "about:blank")
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "GET", "POST"}
    response = api.client.delete("/events")
    assert_problem(response, 405, "about:blank")
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "GET", "POST"}


def test_options_discovery(api: Api) -> None:
    response = api.post(document(event(1, event_id="https://example.com/e;1/2?x=y")))
    assert response.status_code == 202
    for path, allow in (
        ("/capture", {"OPTIONS", "POST", "GET"}),
        ("/events", {"OPTIONS", "GET", "POST"}),
        (event_url("https://example.com/e;1/2?x=y"), {"OPTIONS", "GET"}),
        (response.headers["Location"], {"OPTIONS", "GET"}),
    ):
        options = api.client.options(path)
        assert options.status_code == 204, (path, options.text)
        assert set(options.headers["Allow"].split(", ")) == allow
        assert_gs1(options)
        assert options.headers["GS1-EPCIS-Capture-Limit"] == str(MAX_EVENTS)
        assert options.headers["GS1-EPCIS-Capture-File-Size-Limit"] == str(MAX_BYTES)
        assert options.headers["GS1-Vendor-Version"].startswith("tracecode")
        assert "GS1-Extensions" in options.headers
        assert options.headers["GS1-EPCIS-Min"] == options.headers["GS1-EPCIS-Max"] == "2.0.0"
    assert api.client.options("/capture").headers["GS1-Capture-Error-Behaviour"] == "all"


def test_percent_encoded_event_ids(api: Api) -> None:
    ids = [
        "urn:uuid:3c1ab4a0-2f07-4a0e-8f3b-0a5b1e0f9d11",
        HASH_ID,
        "https://example.com/events/a;b?c=d&e=f#g",
    ]
    events = [event(100 + n, event_id=event_id) for n, event_id in enumerate(ids)]
    assert api.post(document(*events)).status_code == 202
    for event_id, original in zip(ids, load(document(*events)).hash_ids(), strict=True):
        assert read_back_hashes(api, event_id) == [original] * 2
        stored = load(api.client.get(event_url(event_id)).content)
        assert stored.events[0]["eventID"] == event_id
    # Only what a URL cannot carry needs escaping: `?` here.
    response = api.client.get("/events/" + HASH_ID.replace("?", "%3F"))
    assert response.status_code == 200
    assert load(response.content).events[0]["eventID"] == HASH_ID
    # An eventID holding a percent sign is escaped once and decoded once. (Starlette's
    # TestClient decodes the path twice, so this goes through httpx's ASGI transport.)
    with_percent = "urn:example:event:a%2Fb"
    bare = {k: v for k, v in event(200, event_id=with_percent).items() if k != "example:ward"}
    response = api.client.post("/events", content=json.dumps(bare))
    assert response.status_code == 415  # no Content-Type
    response = api.client.post("/events", content=json.dumps(bare), headers=JSONLD)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == "/events/urn%3Aexample%3Aevent%3Aa%252Fb"
    read = asgi(api.client.app, "GET", response.headers["Location"])
    assert read.status_code == 200, read.text
    assert load(read.content).events[0]["eventID"] == with_percent


def test_malformed_documents_leave_the_store_as_it_was(api: Api) -> None:
    assert api.post(document(event(1), event(2))).status_code == 202
    before = api.state()
    query_doc = EXAMPLES.joinpath("json/EPCISQueryDocument.jsonld").read_text()
    for body, headers, located in (
        (b'{"@context": [', JSONLD, "line"),
        (b"<epcis:EPCISDocument xmlns:epcis='urn:epcglobal:epcis:xsd:2'><Oops>", XML, "line"),
        (b"", JSONLD, "line"),
        (json.dumps({"type": "EPCISDocument"}).encode(), JSONLD, "pointer"),
        (query_doc.replace('"OBSERVE"', '"LOOK"').encode(), JSONLD, "pointer"),
        (
            EXAMPLES.joinpath("xml/1.2/ObjectEvent.xml")
            .read_bytes()
            .replace(b"<action>OBSERVE</action>", b"<action>LOOK</action>", 1),
            XML,
            "line",
        ),
    ):
        for behaviour in ("rollback", "proceed"):
            response = api.post(body, {**headers, "GS1-Capture-Error-Behaviour": behaviour})
            problem = assert_problem(response, 400, "epcisException:ValidationException")
            assert problem["errors"], problem
            assert all(e["message"] for e in problem["errors"])
            assert any(located in e for e in problem["errors"]), problem
            assert api.state() == before, body[:60]


def test_capture_jobs_are_listed_and_paged(api: Api) -> None:
    ids = []
    for n in range(5):
        response = api.post(document(event(n)))
        ids.append(response.json()["captureID"])
        assert response.headers["Location"] == f"/capture/{ids[-1]}"
    seen: list[str] = []
    url: str | None = "/capture?perPage=2"
    pages = 0
    while url:
        response = api.client.get(url)
        assert response.status_code == 200, response.text
        assert_gs1(response)
        page = response.json()
        assert len(page) <= 2
        seen += [job["captureID"] for job in page]
        link = response.headers.get("Link")
        url = link.split(";")[0].strip("<>") if link else None
        pages += 1
    assert seen == ids and pages == 3
    for job in api.client.get("/capture").json():
        assert set(job) >= {
            "captureID",
            "createdAt",
            "finishedAt",
            "running",
            "success",
            "captureErrorBehaviour",
            "errors",
        }
    assert_problem(
        api.client.get("/capture?nextPageToken=garbage"), 400, "epcisException:ValidationException"
    )
    assert_problem(api.client.get("/capture?perPage=0"), 400, "epcisException:ValidationException")
    xml = api.client.get(f"/capture/{ids[0]}", headers={"Accept": "application/xml"})
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    assert check(xml.content) == []  # a valid epcis:EPCISCaptureJob (EPCIS 2.0 XSD)


def test_openapi_documents_the_api(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/capture", "/capture/{capture_id}", "/events", "/events/{event_id}"} <= set(paths)
    assert set(paths["/capture"]) == {"options", "post", "get"}
    post = paths["/capture"]["post"]
    assert {"202", "400", "409", "413", "415", "406"} <= set(post["responses"])
    assert "422" not in post["responses"]
    assert set(post["requestBody"]["content"]) == {
        "application/ld+json",
        "application/json",
        "application/xml",
        "text/xml",
    }
    assert "Problem" in spec["components"]["schemas"]
    assert api.client.get("/docs").status_code == 200
