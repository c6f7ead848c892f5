"""The command line contract: ``validate``, ``convert``, ``hash``, ``id``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.cli import main
from tests.conftest import EXAMPLES, HASH_VECTORS

URN_IN_JSON = EXAMPLES / "xml" / "2.0" / "WithEventHashID" / "event_with_identical_hash_id_7.json"
# GS1's own example gives one event two different eventIDs: ambiguous, so refused.
REPEATED_KEY = EXAMPLES / "json" / "AssociationEvent" / "AssociationEvent-h.jsonld"
ALL_EXAMPLES = sorted(
    p
    for p in EXAMPLES.rglob("*")
    if p.suffix in (".xml", ".json", ".jsonld") and p not in (URN_IN_JSON, REPEATED_KEY)
)
SINGLE = HASH_VECTORS / "examples" / "epcisDocWithShippingAndTransportingEvent"


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_every_gs1_example_validates() -> None:
    assert len(ALL_EXAMPLES) > 90
    code, out, _ = run("validate", *map(str, ALL_EXAMPLES))
    assert (code, out) == (0, "")


def test_an_example_repeating_a_key_with_different_values_is_rejected_at_the_key() -> None:
    code, out, _ = run("validate", str(REPEATED_KEY))
    assert code == 1
    assert out.splitlines() == [
        f"{REPEATED_KEY}:/epcisBody/eventList/0/eventID: duplicate key 'eventID' with "
        "different values: the document is ambiguous; send each name once"
    ]


def test_urn_cbv_values_in_json_are_rejected_with_the_reason() -> None:
    code, out, _ = run("validate", str(URN_IN_JSON))
    assert code == 1
    lines = out.splitlines()
    assert lines
    assert all(line.startswith(f"{URN_IN_JSON}:/epcisBody/eventList/0/") for line in lines)
    assert any("CBV URN 'urn:epcglobal:cbv:bizstep:receiving'" in line for line in lines)
    assert any("write 'receiving'" in line for line in lines)


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_xml_problems_name_line_and_path(tmp_path: Path) -> None:
    xml = (EXAMPLES / "xml" / "2.0" / "Example_9.6.1-ObjectEvent-2020_06_18a.xml").read_text()
    broken = xml.replace("<action>OBSERVE</action>", "<action>MOVE</action>", 1)
    line = broken[: broken.index("MOVE")].count("\n") + 1
    path = _write(tmp_path, "broken.data", broken)  # the name says nothing of the format
    code, out, _ = run("validate", path)
    assert code == 1
    assert f"{path}:{line}:/epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent" in out
    assert "MOVE" in out


def test_json_rule_problems_name_the_pointer(tmp_path: Path) -> None:
    doc = json.loads((SINGLE.with_suffix(".jsonld")).read_text())
    doc["epcisBody"]["eventList"][0]["eventTimeZoneOffset"] = "+25:00"
    code, out, _ = run("validate", _write(tmp_path, "bad.json", json.dumps(doc)))
    assert code == 1
    assert ":/epcisBody/eventList/0/eventTimeZoneOffset: " in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"type": "EPCISDocument",', "invalid JSON"),
        ("<epcis:EPCISDocument xmlns:epcis='urn:epcglobal:epcis:xsd:2'>", ":1"),
        ("hello", "neither JSON nor XML"),
        ("", "empty document"),
        (
            '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
            "entit",
        ),
        ("<a>" * 5000 + "</a>" * 5000, "nesting deeper"),
    ],
    ids=["truncated-json", "truncated-xml", "not-a-document", "empty", "xxe", "deep"],
)
def test_unreadable_input_gets_a_clear_error_quickly(
    tmp_path: Path, content: str, expected: str
) -> None:
    code, out, _ = run("validate", _write(tmp_path, "doc", content))
    assert code == 1
    assert expected in out


def test_oversized_input_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_MAX_DOCUMENT_BYTES", "1000")
    path = _write(tmp_path, "big.json", '{"a": "' + "x" * 5000 + '"}')
    code, out, _ = run("validate", path)
    assert code == 1
    assert "larger than the limit" in out


def test_hash_prints_one_line_per_event_in_order() -> None:
    code, out, _ = run("hash", str(SINGLE.with_suffix(".xml")))
    assert code == 0
    assert len(out.splitlines()) == 2
    assert out.split() == SINGLE.with_suffix(".hashes").read_text().split()


def test_hash_reads_stdin() -> None:
    code, out, _ = run("hash", "-", stdin=SINGLE.with_suffix(".jsonld").read_bytes())
    assert code == 0
    assert out.split() == SINGLE.with_suffix(".hashes").read_text().split()


@pytest.mark.parametrize("target", ["json", "xml"])
def test_convert_keeps_the_hash(tmp_path: Path, target: str) -> None:
    source = EXAMPLES / "xml" / "2.0" / "Example-TransactionEvent-2020_07_03y.xml"
    code, converted, _ = run("convert", str(source), "--to", target)
    assert code == 0
    out = _write(tmp_path, "converted", converted)
    assert run("hash", out)[1] == run("hash", str(source))[1]
    assert run("validate", out)[0] == 0


def test_convert_refuses_an_invalid_document() -> None:
    code, out, _ = run("convert", str(URN_IN_JSON), "--to", "xml")
    assert code == 1
    assert "CBV URN" in out


def test_id_prints_the_canonical_form_as_json() -> None:
    code, out, _ = run("id", "urn:epc:id:sgtin:0614141.107346.2017")
    assert code == 0
    info = json.loads(out)
    assert info["canonical"] == "https://id.gs1.org/01/10614141073464/21/2017"
    assert info["serial"] == "2017"


def test_id_of_a_scanned_datamatrix() -> None:
    code, out, _ = run("id", "]d20109521234543213\x1d10LOT7\x1d17280101" + "21SER9")
    assert code == 0
    info = json.loads(out)
    assert info["lot"] == "LOT7"
    assert info["expiry"] == "2028-01-01"
    assert info["serial"] == "SER9"


def test_id_rejects_malformed_input_with_a_reason() -> None:
    code, _, err = run("id", "urn:epc:id:sgtin:0614141.107346")
    assert code == 1
    assert err.strip()
