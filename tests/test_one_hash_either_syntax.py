"""One event, one Event Hash ID, whichever syntax it comes in.

A GS1 XML document declares ``xmlns:cbvmda="urn:epcglobal:cbv:mda"``; a JSON-LD document
uses ``cbvmda:`` without declaring it, taking it from the EPCIS context, which spells the
namespace with a trailing colon. Both are the same event: captured in one syntax and then
in the other, it is stored once. A prefix a document declares is hashed as declared (the
reference vectors say so; ``tests/test_event_hash.py`` checks all 63).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import epcis.event_hash
from epcis.context import BUILTIN_PREFIXES, namespaces
from epcis.document import convert, detect_syntax, load
from ledger.export import export
from ledger.verify import verify_chain
from tests.conftest import EXAMPLES
from tests.test_cli import run
from tests.test_http_capture import (
    JSONLD,
    XML,
    Api,
    conflict_free_groups,
    open_api,
)
from tests.test_queries import results

XML_EXAMPLES = sorted(
    p
    for p in (EXAMPLES / "xml").rglob("*.xml")
    if "CaptureJob" not in p.parts and load(p.read_bytes(), validate=False).events
)
LOT_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2"
    xmlns:cbvmda="urn:epcglobal:cbv:mda" schemaVersion="2.0"
    creationDate="2026-03-01T08:00:00Z">
  <EPCISBody><EventList><ObjectEvent>
    <eventTime>2026-03-01T08:00:00Z</eventTime>
    <eventTimeZoneOffset>+08:00</eventTimeZoneOffset>
    <epcList><epc>urn:epc:id:sgtin:0614141.107346.%d</epc></epcList>
    <action>ADD</action>
    <bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>
    <ilmd><cbvmda:lotNumber>LOT-7</cbvmda:lotNumber></ilmd>
  </ObjectEvent></EventList></EPCISBody>
</epcis:EPCISDocument>
"""


def lot_json(serial: int, declare: str | None = None) -> bytes:
    """The same ObjectEvent written the usual way in JSON-LD: ``cbvmda`` from the EPCIS
    context, or declared as ``declare`` says."""
    context: list[Any] = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
    if declare is not None:
        context.append({"cbvmda": declare})
    event = {
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T08:00:00Z",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [f"urn:epc:id:sgtin:0614141.107346.{serial}"],
        "action": "ADD",
        "bizStep": "commissioning",
        "ilmd": {"cbvmda:lotNumber": "LOT-7"},
    }
    return json.dumps(
        {
            "@context": context,
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-03-01T08:00:00Z",
            "epcisBody": {"eventList": [event]},
        }
    ).encode()


def outcomes(api: Api, body: bytes, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = api.post(body, headers)
    assert response.status_code == 202, response.text
    found: list[dict[str, Any]] = api.job(response)["outcomes"]
    return found


def test_an_event_captured_as_xml_then_as_json_ld_is_stored_once(api: Api) -> None:
    first = outcomes(api, LOT_XML % 1, XML)
    assert [o["status"] for o in first] == ["stored"]
    again = outcomes(api, lot_json(1), JSONLD)
    assert [o["status"] for o in again] == ["already-stored"]
    assert again[0]["hashID"] == first[0]["hashID"]
    # The other way round too.
    json_first = outcomes(api, lot_json(2), JSONLD)
    assert [o["status"] for o in outcomes(api, LOT_XML % 2, XML)] == ["already-stored"]
    assert json_first[0]["status"] == "stored"


def test_a_declared_spelling_is_hashed_as_declared(api: Api) -> None:
    """The reference vectors fix it: a document that declares the EPCIS context's own
    spelling (trailing colon) hashes ``{urn:epcglobal:cbv:mda:}…``, another event."""
    usual = load(lot_json(3)).hash_ids()
    assert load(lot_json(3, declare="urn:epcglobal:cbv:mda")).hash_ids() == usual
    assert load(lot_json(3, declare="urn:epcglobal:cbv:mda:")).hash_ids() != usual
    assert load(LOT_XML % 3).hash_ids() == usual


def test_eq_ilmd_cbvmda_finds_events_of_either_syntax_and_spelling(api: Api) -> None:
    outcomes(api, LOT_XML % 1, XML)
    outcomes(api, lot_json(2), JSONLD)
    outcomes(api, lot_json(3, declare="urn:epcglobal:cbv:mda:"), JSONLD)
    expected = [[f"urn:epc:id:sgtin:0614141.107346.{n}"] for n in (1, 2, 3)]

    def found(headers: dict[str, str] | None = None) -> list[list[str]]:
        url = "/events?EQ_ILMD_cbvmda:lotNumber=LOT-7&perPage=10"
        return [e["epcList"] for e in results(api.client.get(url, headers=headers))]

    assert found() == expected
    assert found({"GS1-Extensions": "cbvmda=urn:epcglobal:cbv:mda:"}) == expected
    assert found({"GS1-Extensions": "cbvmda=urn:epcglobal:cbv:mda"}) == expected
    assert results(api.client.get("/events?EQ_ILMD_cbvmda:lotNumber=OTHER")) == []


def test_json_ld_from_xml_uses_the_context_and_xml_from_json_ld_the_xml_spelling(
    tmp_path: Path,
) -> None:
    source = tmp_path / "lot.jsonld"
    source.write_bytes(lot_json(4))
    code, xml, _ = run("convert", str(source), "--to", "xml")
    assert code == 0
    assert 'xmlns:cbvmda="urn:epcglobal:cbv:mda"' in xml
    assert "urn:epcglobal:cbv:mda:" not in xml
    back = tmp_path / "lot.xml"
    back.write_text(xml)
    code, as_json, _ = run("convert", str(back), "--to", "json")
    assert code == 0
    # Written the usual way: cbvmda is not declared again, the EPCIS context defines it.
    assert "cbvmda" not in namespaces(json.loads(as_json))
    assert load(as_json.encode()).hash_ids() == load(lot_json(4)).hash_ids()


def test_a_record_hashed_before_the_xml_spelling_still_verifies(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ledgers written before this change hashed an undeclared ``cbvmda`` with the EPCIS
    context's spelling; ``verify`` must not call those records altered."""
    now = load(lot_json(5)).hash_ids()[0]
    with monkeypatch.context() as old:
        old.setattr(epcis.event_hash, "STANDARD_NAMESPACES", dict(BUILTIN_PREFIXES))
        with open_api(store_url) as api:
            legacy = outcomes(api, lot_json(5), JSONLD)
            assert legacy[0]["hashID"] != now
    with open_api(store_url) as api:
        outcomes(api, lot_json(6), JSONLD)
        report = verify_chain(api.ledger)
        assert report.intact, report.findings
        assert report.checked == 2


# -- every GS1 XML example, in both syntaxes ---------------------------------------------------


def _post_all(api: Api, documents: list[tuple[Path, bytes]], *want: str) -> None:
    for path, data in documents:
        headers = XML if detect_syntax(data) == "xml" else JSONLD
        statuses = {o["status"] for o in outcomes(api, data, headers)}
        assert statuses and statuses <= set(want), (path, statuses)


def _converted(documents: list[tuple[Path, bytes]], to: str) -> list[tuple[Path, bytes]]:
    out = []
    for path, data in documents:
        loaded = load(data)
        assert loaded.errors == [], (path, loaded.errors)
        out.append((path, convert(loaded.document, "json" if to == "json" else "xml")))
    return out


def _check_group(api: Api, files: list[Path]) -> None:
    as_xml = [(p, p.read_bytes()) for p in files]
    # GS1's 1.2 and 2.0 examples share events: some are there before their file comes.
    _post_all(api, as_xml, "stored", "already-stored")
    as_json = _converted(as_xml, "json")  # each valid in its new syntax, too
    _post_all(api, as_json, "already-stored")
    back = _converted(as_json, "xml")
    _post_all(api, back, "already-stored")


def test_every_gs1_xml_example_is_already_stored_in_json_ld_and_back(tmp_path: Path) -> None:
    """Done when: each GS1 XML example captured, converted to JSON-LD and captured again,
    converted back to XML and captured again: ``already-stored`` for every event."""
    assert len(XML_EXAMPLES) >= 35
    for n, group in enumerate(conflict_free_groups(XML_EXAMPLES)):
        with open_api(f"sqlite:///{tmp_path / f'group-{n}.db'}") as api:
            _check_group(api, group)


@pytest.mark.parametrize(
    "name", ["WithSensorData/SensorDataExamples.xml", "Example-PersistentDisposition.xml"]
)
def test_the_examples_that_differed_on_postgres_too(api: Api, name: str) -> None:
    _check_group(api, [EXAMPLES / "xml" / "2.0" / name])


def test_query_answers_and_exports_keep_each_events_hash_across_spellings(api: Api) -> None:
    """Events whose documents spelled cbvmda differently answer one query (and one export)
    together; merged into one @context, each still has the hash it was stored under."""
    stored = [
        *outcomes(api, lot_json(2, declare="urn:epcglobal:cbv:mda:"), JSONLD),
        *outcomes(api, lot_json(3), JSONLD),
        *outcomes(api, LOT_XML % 1, XML),
    ]
    hashes = [o["hashID"] for o in stored]
    assert len(set(hashes)) == 3
    url = "/events?EQ_ILMD_cbvmda:lotNumber=LOT-7&orderBy=eventTime&perPage=10"
    for accept in ("application/ld+json", "application/xml"):
        answer = api.client.get(url, headers={"Accept": accept})
        assert answer.status_code == 200
        assert sorted(load(answer.content).hash_ids()) == sorted(hashes), accept
    for fmt in ("json", "xml"):
        exported = b"".join(export(api.ledger, fmt=fmt))  # type: ignore[arg-type]
        assert load(exported).hash_ids() == hashes, fmt
