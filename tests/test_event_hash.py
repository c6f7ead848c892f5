"""The Event Hash ID against the public test vectors (shared/epcis/hash-vectors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from epcis.document import load
from epcis.event_hash import EventHasher, _canonical_number, _canonical_time, event_hash_id
from tests.conftest import EXAMPLES, HASH_VECTORS

VECTORS = HASH_VECTORS / "examples"
HASHED = sorted(
    p
    for p in VECTORS.iterdir()
    if p.suffix in (".xml", ".jsonld") and p.with_suffix(".hashes").exists()
)


def _expected(document: Path) -> list[str]:
    return document.with_suffix(".hashes").read_text().split()


def _hash_ids(path: Path) -> list[str]:
    return load(path.read_bytes(), validate=False).hash_ids()


@pytest.mark.parametrize("path", HASHED, ids=lambda p: p.name)
def test_vector_hashes_are_reproduced(path: Path) -> None:
    assert _hash_ids(path) == _expected(path)


def test_all_63_expected_hashes_are_covered() -> None:
    """Every line of every .hashes file is checked by at least one document."""
    covered = {p.with_suffix(".hashes") for p in HASHED}
    lines = sum(len(h.read_text().split()) for h in VECTORS.glob("*.hashes"))
    assert covered == set(VECTORS.glob("*.hashes"))
    assert lines == 63


@pytest.mark.parametrize(
    "path", sorted((HASH_VECTORS / "expected_equal").iterdir()), ids=lambda p: p.name
)
def test_expected_equal_documents_give_one_hash(path: Path) -> None:
    hashes = _hash_ids(path)
    assert len(hashes) >= 2
    assert len(set(hashes)) == 1, hashes


def test_the_gs1_representations_of_one_event_hash_alike() -> None:
    """GS1's seven spellings of one event (XML, JSON, time zones, element order).

    Number 2 says "different time zone but exactly identical event", but it also changes
    ``eventTimeZoneOffset``, which CBV 2.0 hashes (canonical order item 3): its pre-hash
    string differs from the others in that value alone.
    """
    folder = EXAMPLES / "xml" / "2.0" / "WithEventHashID"
    prehashes = {
        p.name.rsplit("_", 1)[1].split(".")[0]: _prehashes(p) for p in sorted(folder.iterdir())
    }
    assert len(prehashes) == 7
    alike = {prehashes[n][0] for n in ("1", "3", "4", "5", "6", "7")}
    assert len(alike) == 1, alike
    (reference,) = alike
    assert prehashes["2"][0] != reference
    assert prehashes["2"][0].replace(
        "eventTimeZoneOffset=-05:00", "eventTimeZoneOffset=-06:00"
    ) == (reference)


def _prehashes(path: Path) -> list[str]:
    loaded = load(path.read_bytes(), validate=False)
    hasher = EventHasher.for_document(loaded.document)
    return [hasher.prehash(e) for e in loaded.events]


def test_a_changed_value_changes_the_hash() -> None:
    path = VECTORS / "epcisDocWithSingleEvent.jsonld"
    loaded = load(path.read_bytes(), validate=False)
    before = loaded.hash_ids()
    loaded.document["epcisBody"]["eventList"][0]["epcList"].append(
        "urn:epc:id:sgtin:0614141.107346.2019"
    )
    assert loaded.hash_ids() != before


def test_record_fields_do_not_change_the_hash() -> None:
    path = VECTORS / "epcisDocWithSingleEvent.jsonld"
    loaded = load(path.read_bytes(), validate=False)
    before = loaded.hash_ids()
    event = loaded.document["epcisBody"]["eventList"][0]
    event["recordTime"] = "2030-01-01T00:00:00Z"
    event["eventID"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
    assert loaded.hash_ids() == before


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("2023-01-18T11:04:03.1415Z", "2023-01-18T11:04:03.142Z"),
        ("2023-01-18T11:04:03.1425Z", "2023-01-18T11:04:03.143Z"),
        ("2023-01-18T11:04:03.1414Z", "2023-01-18T11:04:03.141Z"),
        ("2023-01-18T23:59:59.9996Z", "2023-01-19T00:00:00.000Z"),
        ("2023-01-18T11:04:03+08:00", "2023-01-18T03:04:03.000Z"),
        ("2023-01-18T11:04:03.5-06:00", "2023-01-18T17:04:03.500Z"),
    ],
)
def test_timestamps_are_utc_milliseconds_rounded_half_up(raw: str, canonical: str) -> None:
    assert _canonical_time(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("1.0", "1"), ("+5", "5"), ("0.3434", "0.3434"), ("26.20", "26.2"), ("abc", "abc")],
)
def test_numbers_lose_trailing_zeros(raw: str, canonical: str) -> None:
    assert _canonical_number(raw) == canonical


def test_extension_names_are_expanded_and_sorted() -> None:
    hasher = EventHasher({"ex": "https://ns.example.com/"})
    event = {
        "type": "ObjectEvent",
        "eventTime": "2020-01-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "ex:b": "2",
        "ex:a": {"ex:y": "1", "ex:x": "0"},
    }
    assert hasher.prehash(event) == (
        "eventType=ObjectEventeventTime=2020-01-01T00:00:00.000ZeventTimeZoneOffset=+00:00"
        "action=OBSERVE{https://ns.example.com/}a{https://ns.example.com/}x=0"
        "{https://ns.example.com/}y=1{https://ns.example.com/}b=2"
    )
    assert event_hash_id("") == (
        "ni:///sha-256;e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855?ver=CBV2.0"
    )
