"""Chinese drug trace codes inside EPCIS (issue 11): captured bare or ``AHM.``, stored as
``urn:tracecode:cn-drug:…`` with the raw form in the job's notes, and read in any form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from adapters.cli import main
from epcis.context import make_context
from tests.ledger_contract import document
from tests.test_hostile_input import xml_document as hostile_xml
from tests.test_http_capture import JSONLD, XML, Api, assert_problem

VALIDATION = "epcisException:ValidationException"
CASE = "81234570000000000001"
BOX = "81234560000000000001"
BOX2 = "81234560000000000002"
PACK = "81234560000000000003"
URN = "urn:tracecode:cn-drug:"


def urn(code: str) -> str:
    return URN + code


def spellings(code: str) -> list[str]:
    return [code, f"AHM.{code}", urn(code)]


def commission(*codes: str) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2026-03-01T08:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": list(codes),
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "bizLocation": {"id": "urn:epc:id:sgln:0614141.00001.0"},
    }


def pack(parent: str, *children: str) -> dict[str, Any]:
    return {
        "type": "AggregationEvent",
        "eventTime": "2026-03-01T09:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "parentID": parent,
        "childEPCs": list(children),
        "action": "ADD",
        "bizStep": "packing",
        "bizLocation": {"id": "urn:epc:id:sgln:0614141.00001.0"},
    }


def repack(inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    return {
        "type": "TransformationEvent",
        "eventTime": "2026-03-01T10:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "inputEPCList": inputs,
        "outputEPCList": outputs,
        "bizStep": "repackaging",
    }


def captured(api: Api, body: bytes, headers: dict[str, str] = JSONLD) -> dict[str, Any]:
    response = api.post(body, headers)
    assert response.status_code == 202, response.text
    return api.job(response)


def stored_event(api: Api, outcome: dict[str, Any]) -> dict[str, Any]:
    found = api.ledger.get_event(outcome["hashID"])
    assert found is not None
    return found.event


def test_capture_stores_bare_and_ahm_codes_as_their_urn_and_notes_the_raw_form(
    api: Api,
) -> None:
    job = captured(
        api,
        document(
            commission(CASE, BOX, f"AHM.{BOX2}"),
            pack(f"AHM.{CASE}", BOX, urn(BOX2)),
            repack([f"ahm.{BOX2}"], [PACK]),
        ),
    )
    one, two, three = job["outcomes"]
    assert stored_event(api, one)["epcList"] == [urn(CASE), urn(BOX), urn(BOX2)]
    assert one["notes"] == [
        f"/epcisBody/eventList/0/epcList/0: '{CASE}' read as {urn(CASE)}",
        f"/epcisBody/eventList/0/epcList/1: '{BOX}' read as {urn(BOX)}",
        f"/epcisBody/eventList/0/epcList/2: 'AHM.{BOX2}' read as {urn(BOX2)}",
    ]
    aggregation = stored_event(api, two)
    assert (aggregation["parentID"], aggregation["childEPCs"]) == (
        urn(CASE),
        [urn(BOX), urn(BOX2)],
    )
    assert two["notes"] == [
        f"/epcisBody/eventList/1/parentID: 'AHM.{CASE}' read as {urn(CASE)}",
        f"/epcisBody/eventList/1/childEPCs/0: '{BOX}' read as {urn(BOX)}",
    ]
    transformation = stored_event(api, three)
    assert transformation["inputEPCList"] == [urn(BOX2)]
    assert transformation["outputEPCList"] == [urn(PACK)]
    assert len(three["notes"]) == 2


def test_a_client_sending_the_urn_gets_the_same_event_hash(api: Api) -> None:
    first = captured(api, document(commission(BOX, f"AHM.{BOX2}")))["outcomes"][0]
    again = api.post(document(commission(urn(BOX), urn(BOX2))))
    assert again.status_code == 202, again.text
    second = api.job(again)["outcomes"][0]
    assert second["hashID"] == first["hashID"]
    assert second["status"] != first["status"]  # the second is already stored
    assert "notes" not in second
    assert len(list(api.ledger.stored_events())) == 1


def xml_document(*epcs: str) -> bytes:
    """An XML document of one event holding ``epcs``."""
    listed = "".join(f"<epc>{e}</epc>" for e in epcs)
    return hostile_xml("3").replace(b"<epcList/>", f"<epcList>{listed}</epcList>".encode())


def test_xml_capture_reads_them_alike_with_the_same_hash(api: Api) -> None:
    from_xml = captured(api, xml_document(BOX, f"AHM.{BOX2}"), XML)["outcomes"][0]
    assert stored_event(api, from_xml)["epcList"] == [urn(BOX), urn(BOX2)]
    assert from_xml["notes"][1] == (
        f"/epcisBody/eventList/0/epcList/1: 'AHM.{BOX2}' read as {urn(BOX2)}"
    )
    as_urns = captured(api, xml_document(urn(BOX), urn(BOX2)), XML)["outcomes"][0]
    assert as_urns["hashID"] == from_xml["hashID"] and "notes" not in as_urns


def single_event(*epcs: str) -> bytes:
    return json.dumps({"@context": make_context({}), **commission(*epcs)}).encode()


def test_post_events_takes_a_bare_code(api: Api) -> None:
    response = api.client.post("/events", content=single_event(BOX), headers=JSONLD)
    assert response.status_code == 201, response.text
    (stored,) = api.ledger.stored_events()
    assert stored.event["epcList"] == [urn(BOX)]
    (job,) = api.ledger.jobs()
    assert job.outcomes[0].notes == (f"/epcList/0: '{BOX}' read as {urn(BOX)}",)


BAD_CODES = [
    ("8123456000000000001", "19 digits where 20 are needed"),
    ("71234560000000000001", "start with 8, got '7'"),
    ("AHM.8123x", "a non-digit 'x'"),
    (f"AHM.{BOX}0", "21 digits where 20 are needed"),
    (f"{URN}{BOX}:unit:0", "whole number from 1"),
]


@pytest.mark.parametrize(("value", "message"), BAD_CODES)
def test_a_bad_code_is_refused_with_its_pointer_and_nothing_stored(
    api: Api, value: str, message: str
) -> None:
    before = api.state()
    for body, headers in (
        (document(commission(BOX, value)), JSONLD),
        (xml_document(BOX, value), XML),
    ):
        problem = assert_problem(api.post(body, headers), 400, VALIDATION)
        errors = [e for e in problem["errors"] if message in e["message"]]
        assert errors and errors[0]["pointer"] == "/epcisBody/eventList/0/epcList/1"
    response = api.client.post("/events", content=single_event(value), headers=JSONLD)
    problem = assert_problem(response, 400, VALIDATION)
    assert {e["pointer"] for e in problem["errors"]} == {"/epcList/0"}
    assert api.state() == before
    assert list(api.ledger.stored_events()) == []


def test_a_value_that_is_no_uri_stays_refused(api: Api) -> None:
    before = api.state()
    problem = assert_problem(api.post(document(commission("not a code"))), 400, VALIDATION)
    assert problem["errors"][0]["pointer"] == "/epcisBody/eventList/0/epcList/0"
    assert "not a valid URI" in problem["errors"][0]["message"]
    assert api.state() == before


def test_every_read_path_takes_every_form(api: Api) -> None:
    captured(api, document(commission(CASE, BOX, BOX2), pack(CASE, BOX, BOX2)))
    statuses = []
    for code in spellings(BOX):
        response = api.client.get("/codes/" + quote(code, safe=""))
        assert response.status_code == 200, response.text
        statuses.append(response.json())
        hierarchy = api.client.get("/codes/" + quote(code, safe="") + "/hierarchy")
        assert hierarchy.status_code == 200, hierarchy.text
        assert hierarchy.json()["parent"] == urn(CASE)
        trail = api.client.get("/trails", params={"code": code})
        assert trail.status_code == 200, trail.text
        assert [line["code"] for line in trail.json()] == [urn(BOX)]
    assert statuses[0] == statuses[1] == statuses[2]
    assert statuses[0]["code"] == urn(BOX)
    for code in spellings(CASE):
        children = api.client.get("/codes/" + quote(code, safe="") + "/hierarchy").json()
        assert sorted(children["children"]) == [urn(BOX), urn(BOX2)]
    for name, code, count in (
        ("MATCH_epc", BOX, 2),  # epcList and childEPCs
        ("MATCH_parentID", CASE, 1),
        ("MATCH_anyEPC", CASE, 2),
    ):
        for spelled in spellings(code):
            response = api.client.get("/events", params={name: spelled})
            assert response.status_code == 200, response.text
            body = response.json()["epcisBody"]["queryResults"]["resultsBody"]
            assert len(body["eventList"]) == count, (name, spelled)


def test_match_input_and_output_epc_take_every_form(api: Api) -> None:
    captured(api, document(repack([BOX], [f"AHM.{PACK}"])))
    for name, code in (("MATCH_inputEPC", BOX), ("MATCH_outputEPC", PACK)):
        for spelled in spellings(code):
            response = api.client.get("/events", params={name: spelled})
            body = response.json()["epcisBody"]["queryResults"]["resultsBody"]
            assert len(body["eventList"]) == 1, (name, spelled)


def test_cli_status_and_trail_take_every_form(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", store_url)
    monkeypatch.setenv("TRACECODE_SIGNING_KEY", str(tmp_path / "key.pem"))
    steps = tmp_path / "codes.json"
    steps.write_bytes(document(commission(CASE, f"AHM.{BOX}"), pack(CASE, BOX)))
    assert CliRunner().invoke(main, ["capture", str(steps)]).exit_code == 0
    shown, trails = [], []
    for code in spellings(BOX):
        status = CliRunner().invoke(main, ["status", code])
        assert status.exit_code == 0, status.output
        shown.append(json.loads(status.stdout))
        trail = CliRunner().invoke(main, ["trail", "--code", code])
        assert trail.exit_code == 0, trail.output
        trails.append(json.loads(trail.stdout))
    assert shown[0] == shown[1] == shown[2] and shown[0]["code"] == urn(BOX)
    assert shown[0]["parent"] == urn(CASE)
    assert trails[0] == trails[1] == trails[2]
    assert [line["code"] for line in trails[0]] == [urn(BOX)]
