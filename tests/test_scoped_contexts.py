"""Contexts below the document: on events (as other repositories' exports and query results
carry them) and on nested objects. Each is worth exactly its document-level equivalent:
valid alike, the same Event Hash IDs, the same XML, the same answers to queries."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from epcis.context import EPCIS_CONTEXT_URL, SCOPED_CONTEXT_RULE, namespaces
from epcis.document import convert, load
from epcis.event_hash import document_hash_ids
from tests.test_http_capture import JSONLD, Api
from tests.test_queries import results

EX1 = "https://ex1.example.com/epcis/"
EX2 = "https://ex2.example.com/epcis/"
UNITS = "https://units.example.com/"


def event(serial: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T08:00:00Z",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [f"urn:epc:id:sgtin:0614141.107346.{serial}"],
        "action": "OBSERVE",
        "bizStep": "receiving",
        **extra,
    }


def document(*events: dict[str, Any], prefixes: dict[str, str] | None = None) -> dict[str, Any]:
    context: list[Any] = [EPCIS_CONTEXT_URL]
    if prefixes:
        context.append(prefixes)
    return {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T08:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def as_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


# One prefix per event, each declared on its own event.
PER_EVENT = document(
    event(1, **{"@context": {"ex1": EX1}, "ex1:temperature": "4.5"}),
    event(2, **{"@context": [{"ex2": EX2}], "ex2:owner": "ward 3"}),
)
PER_EVENT_AT_TOP = document(
    event(1, **{"ex1:temperature": "4.5"}),
    event(2, **{"ex2:owner": "ward 3"}),
    prefixes={"ex1": EX1, "ex2": EX2},
)
# Contexts on nested objects: an extension object, and the ILMD.
NESTED = document(
    event(
        3,
        action="ADD",
        bizStep="commissioning",
        ilmd={"@context": {"ex1": EX1}, "ex1:batchNote": "first run"},
        **{
            "ex2:reading": {"@context": {"u": UNITS}, "u:celsius": "5", "ex2:probe": "p-7"},
        },
    ),
    prefixes={"ex2": EX2},
)
NESTED_AT_TOP = document(
    event(
        3,
        action="ADD",
        bizStep="commissioning",
        ilmd={"ex1:batchNote": "first run"},
        **{"ex2:reading": {"u:celsius": "5", "ex2:probe": "p-7"}},
    ),
    prefixes={"ex2": EX2, "ex1": EX1, "u": UNITS},
)
# One prefix, two namespaces, in two events: the second keeps its namespace, renamed.
CLASHING = document(
    event(4, **{"@context": {"ex": EX1}, "ex:grade": "A"}),
    event(5, **{"@context": {"ex": EX2}, "ex:grade": "A"}),
)
CLASHING_AT_TOP = document(
    event(4, **{"ex:grade": "A"}),
    event(5, **{"ex2:grade": "A"}),
    prefixes={"ex": EX1, "ex2": EX2},
)
EQUIVALENTS = [(PER_EVENT, PER_EVENT_AT_TOP), (NESTED, NESTED_AT_TOP), (CLASHING, CLASHING_AT_TOP)]
IDS = ["per-event", "nested", "clashing"]


@pytest.mark.parametrize(("scoped", "at_top"), EQUIVALENTS, ids=IDS)
def test_scoped_contexts_validate_and_hash_as_their_document_level_equivalent(
    scoped: dict[str, Any], at_top: dict[str, Any]
) -> None:
    loaded = load(as_bytes(scoped))
    assert loaded.errors == []
    expected = load(as_bytes(at_top))
    assert expected.errors == []
    assert loaded.hash_ids() == expected.hash_ids()
    # Hashing the document as it came, without the reader, agrees.
    assert document_hash_ids(scoped) == expected.hash_ids()


def test_a_clash_is_a_warning_at_the_context_that_bound_the_other_namespace() -> None:
    loaded = load(as_bytes(CLASHING))
    warnings = [p for p in loaded.problems if p.rule == SCOPED_CONTEXT_RULE]
    assert [(w.pointer, w.severity) for w in warnings] == [
        ("/epcisBody/eventList/1/@context", "warning")
    ]
    assert "'ex2'" in warnings[0].message
    assert namespaces(loaded.document) == {"ex": EX1, "ex2": EX2}


def test_a_prefix_is_declared_only_where_its_context_reaches() -> None:
    """A prefix bound on one event is not bound on the next: used there, it is refused at
    the field, as before."""
    outside = document(
        event(6, **{"@context": {"ex": EX1}, "ex:grade": "A"}),
        event(7, **{"ex:grade": "B"}),
    )
    loaded = load(as_bytes(outside))
    errors = [(p.pointer, p.rule) for p in loaded.errors]
    assert errors == [("/epcisBody/eventList/1/ex:grade", "extension-prefix")]


@pytest.mark.parametrize(("scoped", "at_top"), EQUIVALENTS, ids=IDS)
def test_json_to_xml_to_json_keeps_every_hash(
    scoped: dict[str, Any], at_top: dict[str, Any]
) -> None:
    hashes = load(as_bytes(at_top)).hash_ids()
    for xml in (convert(load(as_bytes(scoped)).document, "xml"), convert(scoped, "xml")):
        from_xml = load(xml)
        assert from_xml.errors == [], from_xml.errors
        assert from_xml.hash_ids() == hashes
        back = load(convert(from_xml.document, "json"))
        assert back.errors == []
        assert back.hash_ids() == hashes


def test_the_reader_does_not_change_the_document_it_was_given() -> None:
    before = copy.deepcopy(NESTED)
    document_hash_ids(NESTED)
    convert(NESTED, "xml")
    assert before == NESTED


def test_captured_and_queried_like_their_document_level_equivalent(api: Api) -> None:
    response = api.post(as_bytes(PER_EVENT))
    assert response.status_code == 202, response.text
    assert [o["status"] for o in api.job(response)["outcomes"]] == ["stored", "stored"]
    again = api.post(as_bytes(PER_EVENT_AT_TOP))
    assert [o["status"] for o in api.job(again)["outcomes"]] == ["already-stored"] * 2
    nested = api.post(as_bytes(NESTED))
    assert [o["status"] for o in api.job(nested)["outcomes"]] == ["stored"]

    def epcs(url: str, extensions: str) -> list[str]:
        found = results(api.client.get(url, headers={"GS1-Extensions": extensions}))
        return [e["epcList"][0] for e in found]

    assert epcs("/events?EQ_ex1:temperature=4.5", f"ex1={EX1}") == [
        "urn:epc:id:sgtin:0614141.107346.1"
    ]
    assert epcs("/events?EQ_ILMD_ex1:batchNote=first%20run", f"ex1={EX1}") == [
        "urn:epc:id:sgtin:0614141.107346.3"
    ]
    # Read back, the event declares what it uses, in one context at the top.
    read = api.client.get("/events?EQ_bizStep=commissioning", headers=JSONLD)
    body = read.json()
    found = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert len(found) == 1 and "@context" not in json.dumps(found)
    assert {"ex1": EX1, "ex2": EX2, "u": UNITS}.items() <= namespaces(body).items()


def test_a_query_document_whose_events_carry_their_contexts_is_captured(api: Api) -> None:
    """What another repository's query answers look like."""
    events = PER_EVENT["epcisBody"]["eventList"]
    query_document = {
        "@context": [EPCIS_CONTEXT_URL],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T08:00:00Z",
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {"eventList": events},
            }
        },
    }
    response = api.post(as_bytes(query_document))
    assert response.status_code == 202, response.text
    job = api.job(response)
    assert [o["status"] for o in job["outcomes"]] == ["stored", "stored"]
    assert [o["hashID"] for o in job["outcomes"]] == load(as_bytes(PER_EVENT_AT_TOP)).hash_ids()


def test_an_escaped_context_key_is_a_context_all_the_same() -> None:
    r"""``"\u0040context"`` is ``"@context"`` once parsed: noticed by the parser, not by
    looking for bytes."""
    raw = as_bytes(PER_EVENT).replace(b'"@context": {"ex1"', b'"\\u0040context": {"ex1"')
    assert b"\\u0040context" in raw
    loaded = load(raw)
    assert loaded.errors == []
    assert loaded.hash_ids() == load(as_bytes(PER_EVENT_AT_TOP)).hash_ids()


def test_a_document_without_nested_contexts_is_read_as_it_is() -> None:
    loaded = load(as_bytes(PER_EVENT_AT_TOP))
    assert loaded.document == PER_EVENT_AT_TOP
    assert [p for p in loaded.problems if p.rule == SCOPED_CONTEXT_RULE] == []
