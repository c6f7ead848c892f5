"""The pydantic models are a lossless typed view of the internal form."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from epcis.jsonld import read_json
from epcis.model import (
    EPCISDocument,
    ExtensionEvent,
    ObjectEvent,
    SensorReport,
    parse_document,
    parse_event,
)
from tests.conftest import EXAMPLES

JSON_EXAMPLES = sorted((EXAMPLES / "json").rglob("*.json*"))


@pytest.mark.parametrize("path", JSON_EXAMPLES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_gs1_json_example_round_trips_through_the_models(path: Path) -> None:
    doc = read_json(path.read_bytes()).document
    model = parse_document(doc) if doc["type"].endswith("Document") else parse_event(doc)
    assert model.to_jsonld() == doc


def test_typed_access_and_extensions() -> None:
    path = (
        EXAMPLES
        / "json"
        / "WithFullCombinationOfFields"
        / "object_event_all_possible_fields.jsonld"
    )
    model = parse_document(read_json(path.read_bytes()).document)
    assert isinstance(model, EPCISDocument)
    (event,) = model.events
    assert isinstance(event, ObjectEvent)
    assert event.action == "ADD"
    assert event.quantityList is not None and event.quantityList[0].quantity == 200
    assert event.extensions["ext1:int"] == "10"
    assert event.event_time.utcoffset() is not None
    report = event.sensorElementList[0].sensorReport[0]  # type: ignore[index]
    assert isinstance(report, SensorReport)
    assert report.extensions == {"ext1:someFurtherReportData": "someText"}
    assert len(model.hash_ids()) == 1


def test_user_defined_event_types_are_kept() -> None:
    event = parse_event(
        {
            "type": "example:CustomEvent",
            "eventTime": "2020-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "example:x": "1",
        }
    )
    assert isinstance(event, ExtensionEvent)
    assert event.to_jsonld()["example:x"] == "1"


def test_a_bad_action_is_refused_by_the_model() -> None:
    with pytest.raises(ValidationError, match="action"):
        parse_event(
            {
                "type": "ObjectEvent",
                "eventTime": "2020-01-01T00:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "MOVE",
            }
        )
