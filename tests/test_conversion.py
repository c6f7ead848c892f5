"""Conversion between XML (1.2, 2.0) and JSON-LD keeps every event's Event Hash ID."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from epcis.document import LoadedDocument, convert, load
from epcis.event_hash import document_hash_ids
from epcis.problems import DocumentError
from tests import strategies
from tests.conftest import EXAMPLES, HASH_VECTORS

CAPTURE_JOBS = EXAMPLES / "xml" / "2.0" / "CaptureJob"
XML_DOCUMENTS = sorted(
    p
    for p in [*(EXAMPLES / "xml").rglob("*.xml"), *(HASH_VECTORS / "examples").glob("*.xml")]
    if p.parent != CAPTURE_JOBS
)
JSON_DOCUMENTS = sorted(
    p
    for p in [
        *(EXAMPLES / "json").rglob("*.jsonld"),
        *(HASH_VECTORS / "examples").glob("*.jsonld"),
    ]
)


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def round_trip(path: Path, via: str, home: str, *, validate: bool) -> LoadedDocument:
    """The document at ``path`` converted to ``via`` and back to ``home``, every event
    keeping its hash id at each step; the document read back."""
    original = load(path.read_bytes(), validate=False)
    hashes = original.hash_ids()
    there = load(convert(original.document, via), validate=False)
    assert there.hash_ids() == hashes
    back = load(convert(there.document, home), validate=validate)
    assert back.hash_ids() == hashes
    return back


@pytest.mark.parametrize("path", XML_DOCUMENTS, ids=_name)
def test_xml_to_json_to_xml_keeps_every_hash(path: Path) -> None:
    back = round_trip(path, "json", "xml", validate=True)
    assert [p for p in back.problems if p.rule == "xsd"] == []


@pytest.mark.parametrize("path", JSON_DOCUMENTS, ids=_name)
def test_json_to_xml_to_json_keeps_every_hash(path: Path) -> None:
    round_trip(path, "xml", "json", validate=False)


@pytest.mark.parametrize(
    "path", sorted((EXAMPLES / "xml" / "1.2").glob("*.xml")), ids=lambda p: p.name
)
def test_xml_1_2_to_json_and_back_to_1_2(path: Path) -> None:
    original = load(path.read_bytes(), validate=True)
    assert original.xml_version == "1.2"
    hashes = original.hash_ids()
    as_json = load(convert(original.document, "json"), validate=False)
    if any(e.get("type") == "AssociationEvent" for e in as_json.events):
        # EPCIS 1.2 has no AssociationEvent: writing one as 1.2 is refused, saying where.
        with pytest.raises(DocumentError) as refused:
            convert(as_json.document, "xml-1.2")
        assert refused.value.problems[0].pointer == "/epcisBody/eventList/0"
        assert "AssociationEvent" in refused.value.problems[0].message
        return
    back = load(convert(as_json.document, "xml-1.2"), validate=True)
    assert back.xml_version == "1.2"
    assert back.hash_ids() == hashes
    assert back.errors == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.documents())
def test_generated_events_keep_their_hash_through_xml(document: dict[str, object]) -> None:
    hashes = document_hash_ids(document)
    xml = convert(document, "xml")
    from_xml = load(xml, validate=True)
    assert [p for p in from_xml.problems if p.rule == "xsd"] == []
    assert from_xml.hash_ids() == hashes
    back = load(convert(from_xml.document, "json"), validate=False)
    assert back.hash_ids() == hashes
    assert back.document == from_xml.document


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.documents())
def test_generated_documents_are_valid_json_ld(document: dict[str, object]) -> None:
    """The strategies make documents the validator accepts: the round trips test real input."""
    loaded = load(convert(document, "json"), validate=True)
    assert loaded.errors == []
