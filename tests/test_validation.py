"""Tests of :mod:`epcis.validation`: the GS1 JSON Schema, the EPCIS rules, and both together."""

from __future__ import annotations

import copy
import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epcis import document as epcis_document
from epcis.problems import Problem
from epcis.validation import RULES, check_rules, validate_document, validate_json_schema
from epcis.validation import json_schema as json_schema_module
from epcis.validation import rules as rules_module
from epcis.validation.json_schema import _fast_validator, explain_json_schema
from tests.conftest import EXAMPLES

JSON_EXAMPLES_DIR = EXAMPLES / "json"
JSON_EXAMPLES = sorted(
    p for p in JSON_EXAMPLES_DIR.rglob("*") if p.suffix in {".json", ".jsonld"} and p.is_file()
)
URN_EXAMPLE = EXAMPLES / "xml" / "2.0" / "WithEventHashID" / "event_with_identical_hash_id_7.json"
EVENT0 = "/epcisBody/eventList/0"
REPORT = f"{EVENT0}/sensorElementList/0/sensorReport/0"
ERROR_DECLARATION_EXAMPLE = (
    "WithErrorDeclaration/Example_9.6.1-ObjectEvent-with-error-declaration.jsonld"
)

# GS1 examples that are valid under the GS1 JSON Schema but break a plausibility rule
# (reported as warnings, so the examples still validate).
# Each entry: file (relative to examples/json) -> the exact (pointer, rule) problems expected.
_ALL_FIELDS_MEAN = (f"{REPORT}/meanValue", "sensor-values")
KNOWN_RULE_BREAKS: dict[str, set[tuple[str, str]]] = {
    # The "all possible fields" samples fill every sensorReport field with filler numbers:
    # minValue 26, maxValue 26.2 but meanValue 13.2, a mean below the minimum.
    "WithFullCombinationOfFields/aggregation_event_all_possible_fields.jsonld": {_ALL_FIELDS_MEAN},
    "WithFullCombinationOfFields/association_event_all_possible_fields.jsonld": {_ALL_FIELDS_MEAN},
    "WithFullCombinationOfFields/object_event_all_possible_fields.jsonld": {_ALL_FIELDS_MEAN},
    "WithFullCombinationOfFields/transaction_event_all_possible_fields.jsonld": {_ALL_FIELDS_MEAN},
    "WithFullCombinationOfFields/transformation_event_all_possible_fields.jsonld": {
        _ALL_FIELDS_MEAN
    },
    # A Temperature report with uom 'CEL' but no value at all; the standard (EPCIS.ttl,
    # epcis:uom) says: "If there is no value, minValue, maxValue, averageValue or percValue
    # field present, uom SHALL be omitted."
    "WithSensorData/SensorDataExample8.jsonld": {
        (f"{EVENT0}/sensorElementList/2/sensorReport/0/uom", "sensor-uom")
    },
}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((JSON_EXAMPLES_DIR / name).read_text(encoding="utf-8"))
    return data


def mutated(name: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    document = copy.deepcopy(load(name))
    change(document)
    return document


def with_event0(name: str, **fields: Any) -> dict[str, Any]:
    """Example ``name`` with ``fields`` set on its first event."""
    return mutated(name, lambda d: event(d).update(fields))


def event(document: dict[str, Any], index: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = document["epcisBody"]["eventList"][index]
    return found


def report(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = event(document)["sensorElementList"][0]["sensorReport"][0]
    return found


def at(problems: list[Problem], pointer: str, rule: str | None = None) -> list[Problem]:
    return [p for p in problems if p.pointer == pointer and (rule is None or p.rule == rule)]


def one_at(problems: list[Problem], pointer: str, rule: str | None = None) -> Problem:
    found = at(problems, pointer, rule)
    assert len(found) == 1, f"expected one problem at {pointer} ({rule}), got {problems}"
    return found[0]


def resolve(document: Any, pointer: str) -> bool:
    """Whether the RFC 6901 ``pointer`` names a value in ``document``."""
    node = document
    for raw in pointer.split("/")[1:] if pointer else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


# --- the GS1 examples ----------------------------------------------------------------------


def test_examples_found() -> None:
    assert len(JSON_EXAMPLES) >= 50, JSON_EXAMPLES_DIR
    names = {p.relative_to(JSON_EXAMPLES_DIR).as_posix() for p in JSON_EXAMPLES}
    assert set(KNOWN_RULE_BREAKS) <= names


@pytest.mark.parametrize(
    "path", JSON_EXAMPLES, ids=lambda p: p.relative_to(JSON_EXAMPLES_DIR).as_posix()
)
def test_gs1_json_example_is_valid(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert validate_json_schema(document) == []
    expected = KNOWN_RULE_BREAKS.get(path.relative_to(JSON_EXAMPLES_DIR).as_posix(), set())
    for strict in (True, False):
        problems = validate_document(document, strict=strict)
        assert [p for p in problems if p.is_error] == []
        # the known breaks are plausibility warnings, reported but not rejecting
        assert {(p.pointer, p.rule) for p in problems} == expected


def test_query_document_is_checked_by_the_schema() -> None:
    document = mutated(
        "EPCISQueryDocument.jsonld",
        lambda d: d["epcisBody"]["queryResults"]["resultsBody"]["eventList"][1].update(
            action="MOVE"
        ),
    )
    pointer = "/epcisBody/queryResults/resultsBody/eventList/1/action"
    assert "'MOVE' is not one of" in one_at(validate_json_schema(document), pointer).message
    assert one_at(check_rules(document), pointer, "action")


def test_single_event_document_is_checked() -> None:
    document = json.loads((JSON_EXAMPLES_DIR / "schema-tests/ObjectEvent.json").read_text())
    document["action"] = "MOVE"
    assert one_at(validate_json_schema(document), "/action")
    assert one_at(check_rules(document), "/action", "action")


def test_urn_cbv_example_is_rejected() -> None:
    document = json.loads(URN_EXAMPLE.read_text(encoding="utf-8"))
    expected = {
        f"{EVENT0}/bizStep": ("urn:epcglobal:cbv:bizstep:receiving", "receiving"),
        f"{EVENT0}/disposition": ("urn:epcglobal:cbv:disp:in_progress", "in_progress"),
        f"{EVENT0}/persistentDisposition/set/0": (
            "urn:epcglobal:cbv:disp:completeness_verified",
            "completeness_verified",
        ),
        f"{EVENT0}/bizTransactionList/0/type": ("urn:epcglobal:cbv:btt:po", "po"),
        f"{EVENT0}/sourceList/1/type": (
            "urn:epcglobal:cbv:sdt:possessing_party",
            "possessing_party",
        ),
    }
    for strict in (True, False):
        problems = validate_document(document, strict=strict)
        for pointer, (urn, bare) in expected.items():
            problem = one_at(problems, pointer, "cbv-value")
            assert urn in problem.message and f"write {bare!r}" in problem.message
    schema_problems = validate_json_schema(document)
    for pointer, (urn, _) in expected.items():
        assert urn in one_at(schema_problems, pointer).message


# --- JSON Schema error families ------------------------------------------------------------


def test_schema_wrong_type() -> None:
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d)["epcList"].append(5))
    problem = one_at(validate_json_schema(document), f"{EVENT0}/epcList/2")
    assert problem.message == "expected a string, got integer 5"
    assert problem.rule == "json-schema"


def test_schema_missing_required() -> None:
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).pop("eventTime"))
    problem = one_at(validate_json_schema(document), f"{EVENT0}/eventTime")
    assert problem.message == "required field 'eventTime' is missing"


def test_schema_bad_enum() -> None:
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).update(action="MOVE"))
    problems = validate_json_schema(document)
    assert [str(p) for p in problems] == [
        "/epcisBody/eventList/0/action: 'MOVE' is not one of ['OBSERVE', 'ADD', 'DELETE']"
    ]


def test_schema_bad_date_time() -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld",
        lambda d: event(d).update(eventTime="2005-04-03T20:33:31.116"),
    )
    problem = one_at(validate_json_schema(document), f"{EVENT0}/eventTime")
    assert "'2005-04-03T20:33:31.116' is not a valid date-time" in problem.message


def test_schema_bad_uri() -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d)["readPoint"].update(id="dock 4")
    )
    problem = one_at(validate_json_schema(document), f"{EVENT0}/readPoint/id")
    assert "'dock 4' is not a valid URI" in problem.message


def test_schema_any_of_names_the_allowed_values() -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).update(bizStep="shiping")
    )
    problem = one_at(validate_json_schema(document), f"{EVENT0}/bizStep")
    assert "'shiping'" in problem.message and "'shipping'" in problem.message
    assert "valid URI" in problem.message
    assert "under any of the given schemas" not in problem.message


def test_schema_any_of_over_the_event_lists_the_alternatives() -> None:
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).pop("epcList"))
    problem = one_at(validate_json_schema(document), EVENT0)
    assert problem.message.startswith("this ObjectEvent needs field 'epcList' or")
    assert "'quantityList'" in problem.message


def test_schema_unknown_field_points_at_the_key() -> None:
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).update(colour="red"))
    problem = one_at(validate_json_schema(document), f"{EVENT0}/colour")
    assert "field 'colour' is not allowed here" in problem.message
    assert "'bizStep'" in problem.message and "prefix:localName" in problem.message


def test_schema_additional_property_in_quantity_element() -> None:
    document = mutated(
        "Example_9.6.2-ObjectEvent.jsonld", lambda d: event(d)["quantityList"][0].update(lot="1")
    )
    problem = one_at(validate_json_schema(document), f"{EVENT0}/quantityList/0/lot")
    assert "'epcClass'" in problem.message


def test_schema_duplicate_epc() -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld",
        lambda d: event(d)["epcList"].append(event(d)["epcList"][0]),
    )
    problem = one_at(validate_json_schema(document), f"{EVENT0}/epcList/2")
    assert "duplicate" in problem.message and "item 0" in problem.message


def test_schema_without_type_reports_only_the_type() -> None:
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: d.pop("type"))
    assert [str(p) for p in validate_json_schema(document)] == [
        "/type: required field 'type' is missing"
    ]
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld",
        lambda d: (event(d).pop("type"), event(d).update(eventTimeZoneOffset="+15:00")),
    )
    assert [p.pointer for p in validate_json_schema(document)] == [f"{EVENT0}/type"]
    # the rules still check what does not depend on the type
    assert one_at(validate_document(document), f"{EVENT0}/eventTimeZoneOffset")


def test_schema_has_no_remote_refs_and_never_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = json.loads(
        (json_schema_module.schema_path(*json_schema_module.SCHEMA_FILE)).read_text()
    )
    assert list(json_schema_module._non_local_refs(schema)) == []
    assert list(json_schema_module._non_local_refs({"a": [{"$ref": "https://x/y.json"}]})) == [
        "https://x/y.json"
    ]

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the validator tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    json_schema_module._validator.cache_clear()
    try:
        assert validate_json_schema(load("Example_9.6.1-ObjectEvent.jsonld")) == []
    finally:
        json_schema_module._validator.cache_clear()


def test_schema_is_compiled_once() -> None:
    assert json_schema_module._validator() is json_schema_module._validator()


# --- validate_document ---------------------------------------------------------------------


def test_strict_false_skips_the_schema_but_not_the_rules() -> None:
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).update(colour="red"))
    assert at(validate_document(document), f"{EVENT0}/colour")
    assert validate_document(document, strict=False) == []
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).pop("action"))
    assert one_at(validate_document(document, strict=False), f"{EVENT0}/action", "action")


def test_one_problem_per_pointer_when_schema_and_rule_agree() -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld",
        lambda d: event(d).update(bizStep="urn:epcglobal:cbv:bizstep:shipping"),
    )
    problems = validate_document(document)
    assert [str(p) for p in problems] == [
        "/epcisBody/eventList/0/bizStep: CBV URN 'urn:epcglobal:cbv:bizstep:shipping' is not "
        "allowed in JSON-LD; write 'shipping'"
    ]


def test_rules_are_documented() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    for name in names:
        assert f"``{name}``" in (rules_module.__doc__ or ""), name


# --- one test per rule ---------------------------------------------------------------------


def test_rule_event_type() -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).update(type="ObjectEvnt")
    )
    problem = one_at(check_rules(document), f"{EVENT0}/type", "event-type")
    assert "did you mean 'ObjectEvent'" in problem.message


@pytest.mark.parametrize(
    ("name", "change", "words"),
    [
        ("Example_9.6.1-ObjectEvent.jsonld", lambda e: e.pop("action"), "needs an 'action'"),
        ("Example_9.6.1-ObjectEvent.jsonld", lambda e: e.update(action="add"), "not one of"),
        ("Example_9.6.3-AggregationEvent.jsonld", lambda e: e.pop("action"), "needs an 'action'"),
        ("Example_9.6.4-TransformationEvent.jsonld", lambda e: e.update(action="ADD"), "has no"),
    ],
    ids=["missing", "lower-case", "aggregation-missing", "on-transformation"],
)
def test_rule_action(name: str, change: Callable[[dict[str, Any]], Any], words: str) -> None:
    document = mutated(name, lambda d: change(event(d)))
    assert words in one_at(check_rules(document), f"{EVENT0}/action", "action").message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("+15:00", "hours must be 00..14"),
        ("-05:60", "minutes must be 00..59"),
        ("+14:30", "beyond ±14:00"),
        ("+0100", "not of the form [+-]HH:MM"),
        ("Z", "not of the form"),
        (1, "must be a string"),
    ],
)
def test_rule_event_time_zone_offset(value: Any, words: str) -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).update(eventTimeZoneOffset=value)
    )
    problem = one_at(check_rules(document), f"{EVENT0}/eventTimeZoneOffset")
    assert problem.rule == "event-time-zone-offset" and words in problem.message


def test_rule_event_time_zone_offset_present_and_extremes_ok() -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).pop("eventTimeZoneOffset")
    )
    problem = one_at(check_rules(document), f"{EVENT0}/eventTimeZoneOffset")
    assert "required" in problem.message


VALID_EVENT_VALUES = {
    "eventTimeZoneOffset": ["+14:00", "-14:00", "+00:00", "-09:30", "+13:59"],
    "eventTime": [  # xsd:dateTimeStamp: 24:00, a five-digit year, nanoseconds
        "2005-04-03T20:33:31Z",
        "2005-04-03T24:00:00+01:00",
        "12005-01-01T00:00:00Z",
        "2004-02-29T00:00:00.123456789-14:00",
    ],
    "eventID": [
        "urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8",
        "ni:///sha-256;df7bb3c352fef055578554f09f5e2aa41782150ced7bd0b8af24dd3ccb30ba69?ver=CBV2.0",
        "https://id.example.org/event/1",
    ],
}


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, values in VALID_EVENT_VALUES.items() for value in values],
)
def test_rules_accept_valid_event_values(field: str, value: str) -> None:
    document = with_event0("Example_9.6.1-ObjectEvent.jsonld", **{field: value})
    assert check_rules(document) == []


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        ("eventTime", "2005-04-03T20:33:31.116", "no time-zone offset"),
        ("eventTime", "2005-04-03", "is not a date-time"),
        ("recordTime", "2005-02-30T20:33:31Z", "not a real date"),
        ("recordTime", "2005-04-03T20:33:31+15:00", "hours must be 00..14"),
        ("errorDeclaration/declarationTime", "2020-01-15T00:00:00", "no time-zone offset"),
    ],
)
def test_rule_timestamp(path: str, value: str, words: str) -> None:
    def change(d: dict[str, Any]) -> None:
        target = event(d)
        *parents, key = path.split("/")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[key] = value

    document = mutated(ERROR_DECLARATION_EXAMPLE, change)
    problem = one_at(check_rules(document), f"{EVENT0}/{path}", "timestamp")
    assert words in problem.message


def test_rule_timestamp_sensor_time_and_required_event_time() -> None:
    document = mutated(
        "WithSensorData/SensorDataExample1.jsonld",
        lambda d: event(d)["sensorElementList"][0]["sensorMetadata"].update(
            time="2019-04-02T14:05:00.000"
        ),
    )
    pointer = f"{EVENT0}/sensorElementList/0/sensorMetadata/time"
    assert "no time-zone offset" in one_at(check_rules(document), pointer, "timestamp").message
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).pop("eventTime"))
    assert one_at(check_rules(document), f"{EVENT0}/eventTime", "timestamp")


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e.pop("epcList"),
        lambda e: e.update(epcList=[]),
        lambda e: e.update(epcList=[], quantityList=[]),
    ],
    ids=["no-epcList", "empty-epcList", "both-empty"],
)
def test_rule_object_event_what(change: Callable[[dict[str, Any]], Any]) -> None:
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: change(event(d)))
    problem = one_at(check_rules(document), EVENT0, "object-event-what")
    assert "at least one object" in problem.message


def test_rule_object_event_what_sensor_only_needs_read_point() -> None:
    document = mutated("WithSensorData/SensorDataExample1b.jsonld", lambda d: None)
    assert check_rules(document) == []
    document = mutated(
        "WithSensorData/SensorDataExample1b.jsonld", lambda d: event(d).pop("readPoint")
    )
    assert one_at(check_rules(document), EVENT0, "object-event-what")


def test_rule_parent_id() -> None:
    document = mutated(
        "Example_9.6.3-AggregationEvent.jsonld",
        lambda d: (event(d).pop("parentID"), event(d).update(action="ADD")),
    )
    problem = one_at(check_rules(document), f"{EVENT0}/parentID", "parent-id")
    assert "action ADD needs a 'parentID'" in problem.message
    document = mutated("Example_9.6.3-AggregationEvent.jsonld", lambda d: event(d).pop("parentID"))
    assert at(check_rules(document), f"{EVENT0}/parentID") == []  # OBSERVE: optional
    document = mutated(
        "AssociationEvent/AssociationEvent-a.jsonld",
        lambda d: (event(d).pop("parentID"), event(d).update(action="OBSERVE")),
    )
    assert one_at(check_rules(document), f"{EVENT0}/parentID", "parent-id")


def test_rule_children() -> None:
    def drop_children(d: dict[str, Any]) -> None:
        event(d).pop("childEPCs")
        event(d).pop("childQuantityList")

    document = mutated("Example_9.6.3-AggregationEvent.jsonld", drop_children)
    assert "childQuantityList" in one_at(check_rules(document), EVENT0, "children").message
    document = mutated(
        "Example_9.6.3-AggregationEvent.jsonld",
        lambda d: (drop_children(d), event(d).update(action="DELETE")),
    )
    assert check_rules(document) == []
    document = mutated(
        "AssociationEvent/AssociationEvent-a.jsonld", lambda d: event(d).update(childEPCs=[])
    )
    assert one_at(check_rules(document), EVENT0, "children")


def test_rule_transaction_biz_transaction() -> None:
    document = mutated(
        "Example-TransactionEvents-2020_07_03y.jsonld",
        lambda d: event(d, 1).update(bizTransactionList=[]),
    )
    pointer = "/epcisBody/eventList/1/bizTransactionList"
    assert one_at(check_rules(document), pointer, "transaction-biz-transaction")


def test_rule_transaction_what() -> None:
    document = mutated(
        "Example-TransactionEvents-2020_07_03y.jsonld", lambda d: event(d).pop("epcList")
    )
    assert "epcList" in one_at(check_rules(document), EVENT0, "transaction-what").message
    document = mutated(
        "Example-TransactionEvents-2020_07_03y.jsonld",
        lambda d: (event(d).pop("epcList"), event(d).update(action="DELETE")),
    )
    assert check_rules(document) == []


def test_rule_transformation_io() -> None:
    keys = ("inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList")
    document = mutated(
        "Example_9.6.4-TransformationEvent.jsonld",
        lambda d: [event(d).pop(k, None) for k in keys],
    )
    assert (
        "at least one input or output"
        in one_at(check_rules(document), EVENT0, "transformation-io").message
    )
    document = mutated(
        "Example_9.6.4-TransformationEvent.jsonld",
        lambda d: [event(d).pop(k, None) for k in keys[2:]],
    )
    problem = one_at(check_rules(document), f"{EVENT0}/transformationID", "transformation-io")
    assert "without outputs" in problem.message
    document["epcisBody"]["eventList"][0]["transformationID"] = "urn:epc:id:gdti:0614141.12345.400"
    assert check_rules(document) == []


def test_rule_ilmd_placement() -> None:
    ilmd = {"example:batch": "XYZ"}
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).update(ilmd=ilmd))
    problem = one_at(check_rules(document), f"{EVENT0}/ilmd", "ilmd-placement")
    assert "ObjectEvent with action OBSERVE" in problem.message
    document = mutated(
        "Example_9.6.3-AggregationEvent.jsonld", lambda d: event(d).update(ilmd=ilmd)
    )
    assert one_at(check_rules(document), f"{EVENT0}/ilmd", "ilmd-placement")
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).update(ilmd=ilmd, action="ADD")
    )
    assert check_rules(document) == []


@pytest.mark.parametrize(
    ("element", "pointer", "words"),
    [
        (
            {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "uom": "KGM"},
            "uom",
            "without a quantity",
        ),
        (
            {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": -1},
            "quantity",
            "negative",
        ),
        (
            {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 2.5},
            "quantity",
            "needs a 'uom'",
        ),
    ],
    ids=["uom-without-quantity", "negative", "fraction-without-uom"],
)
def test_rule_quantity(element: dict[str, Any], pointer: str, words: str) -> None:
    document = mutated(
        "Example_9.6.2-ObjectEvent.jsonld", lambda d: event(d).update(quantityList=[element])
    )
    problem = one_at(check_rules(document), f"{EVENT0}/quantityList/0/{pointer}", "quantity")
    assert words in problem.message


def test_rule_quantity_in_transformation_lists() -> None:
    document = mutated(
        "Example_9.6.4-TransformationEvent.jsonld",
        lambda d: event(d)["inputQuantityList"][0].update(quantity=-3),
    )
    assert one_at(check_rules(document), f"{EVENT0}/inputQuantityList/0/quantity", "quantity")
    document = mutated(
        "Example_9.6.2-ObjectEvent.jsonld",
        lambda d: event(d)["quantityList"][0].update(quantity=2.5),
    )
    assert check_rules(document) == []  # a fraction with a uom is fine


def test_rule_persistent_disposition() -> None:
    document = mutated(
        "PersistentDisposition-example.jsonld",
        lambda d: event(d, 1)["persistentDisposition"]["unset"].append("completeness_verified"),
    )
    pointer = "/epcisBody/eventList/1/persistentDisposition/unset/1"
    problem = one_at(check_rules(document), pointer, "persistent-disposition")
    assert "'completeness_verified' is both set and unset" in problem.message


def test_rule_error_declaration() -> None:
    document = mutated(
        "WithErrorDeclaration/Example_9.6.1-ObjectEvent-with-error-declaration.jsonld",
        lambda d: event(d)["errorDeclaration"].pop("declarationTime"),
    )
    pointer = f"{EVENT0}/errorDeclaration/declarationTime"
    assert "declarationTime" in one_at(check_rules(document), pointer, "error-declaration").message


def test_rule_corrective_event_ids() -> None:
    document = mutated(
        "WithErrorDeclaration/ErrorDeclarationAndCorrectiveEvent.jsonld",
        lambda d: event(d)["errorDeclaration"]["correctiveEventIDs"].append("event 2"),
    )
    pointer = f"{EVENT0}/errorDeclaration/correctiveEventIDs/1"
    problem = one_at(check_rules(document), pointer, "corrective-event-ids")
    assert "'event 2' is not an event ID URI" in problem.message


@pytest.mark.parametrize(
    ("fields", "key", "words"),
    [
        ({"minValue": 5.0, "maxValue": 3.0}, "minValue", "minValue 5.0 > maxValue 3.0"),
        ({"minValue": 1, "maxValue": 3, "meanValue": 4}, "meanValue", "meanValue 4 > maxValue 3"),
        ({"minValue": 1, "meanValue": 0.5}, "meanValue", "meanValue 0.5 < minValue 1"),
        ({"percRank": 150, "percValue": 3.0}, "percRank", "not within 0..100"),
        ({"meanValue": 2.0, "sDev": -0.1}, "sDev", "negative"),
    ],
)
def test_rule_sensor_values(fields: dict[str, Any], key: str, words: str) -> None:
    document = mutated(
        "WithSensorData/SensorDataExample1.jsonld", lambda d: report(d).update(fields)
    )
    assert words in one_at(check_rules(document), f"{REPORT}/{key}", "sensor-values").message


@pytest.mark.parametrize(
    ("fields", "key"),
    [({"percRank": 50}, "percRank"), ({"percValue": 12.7}, "percValue"), ({"sDev": 0.1}, "sDev")],
)
def test_rule_sensor_pairs(fields: dict[str, Any], key: str) -> None:
    document = mutated(
        "WithSensorData/SensorDataExample1.jsonld", lambda d: report(d).update(fields)
    )
    assert (
        "only used together with"
        in one_at(check_rules(document), f"{REPORT}/{key}", "sensor-pairs").message
    )


def test_rule_sensor_uom() -> None:
    document = mutated("WithSensorData/SensorDataExample1.jsonld", lambda d: report(d).pop("value"))
    problem = one_at(check_rules(document), f"{REPORT}/uom", "sensor-uom")
    assert "no numeric value" in problem.message
    document = mutated(
        "WithSensorData/SensorDataExample1.jsonld",
        lambda d: (report(d).pop("value"), report(d).update(maxValue=3.0)),
    )
    assert check_rules(document) == []


def test_rule_cbv_value_urn_names_the_bare_word() -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld",
        lambda d: event(d).update(bizStep="urn:epcglobal:cbv:bizstep:shipping"),
    )
    problem = one_at(check_rules(document), f"{EVENT0}/bizStep", "cbv-value")
    assert str(problem) == (
        "/epcisBody/eventList/0/bizStep: CBV URN 'urn:epcglobal:cbv:bizstep:shipping' is not "
        "allowed in JSON-LD; write 'shipping'"
    )


@pytest.mark.parametrize(
    ("name", "change", "pointer", "words"),
    [
        (
            "Example_9.6.1-ObjectEvent.jsonld",
            lambda e: e.update(bizStep="shiping"),
            "bizStep",
            "'shiping' is not a CBV bizStep term (did you mean 'shipping'?); a non-standard value "
            "must be a URI",
        ),
        (
            "Example_9.6.1-ObjectEvent.jsonld",
            lambda e: e.update(disposition="In_Transit"),
            "disposition",
            "did you mean 'in_transit'",
        ),
        (
            "Example_9.6.1-ObjectEvent.jsonld",
            lambda e: e.update(bizStep="urn:epcglobal:cbv:bizstep:shiping"),
            "bizStep",
            "'shiping' is not a CBV bizStep term (did you mean 'shipping'?)",
        ),
        (
            "Example_9.6.1-ObjectEvent.jsonld",
            lambda e: e["bizTransactionList"][0].update(type="purchase_order"),
            "bizTransactionList/0/type",
            "not a CBV bizTransactionType term",
        ),
        (
            "Example_9.6.2-ObjectEvent.jsonld",
            lambda e: e["sourceList"][0].update(type="owner"),
            "sourceList/0/type",
            "not a CBV sourceDestType term",
        ),
        (
            "WithErrorDeclaration/Example_9.6.1-ObjectEvent-with-error-declaration.jsonld",
            lambda e: e["errorDeclaration"].update(reason="urn:epcglobal:cbv:er:incorrect_data"),
            "errorDeclaration/reason",
            "write 'incorrect_data'",
        ),
        (
            "WithSensorData/SensorDataExample1.jsonld",
            lambda e: e["sensorElementList"][0]["sensorReport"][0].update(type="temperature"),
            "sensorElementList/0/sensorReport/0/type",
            "did you mean 'Temperature'",
        ),
        (
            "WithSensorData/SensorDataExample1.jsonld",
            lambda e: e["sensorElementList"][0]["sensorReport"][0].update(
                type="https://gs1.org/voc/Temperature"
            ),
            "sensorElementList/0/sensorReport/0/type",
            "write 'Temperature'",
        ),
    ],
    ids=["typo", "case", "urn-typo", "btt", "sdt", "error-reason", "measurement", "gs1-voc-uri"],
)
def test_rule_cbv_value(
    name: str, change: Callable[[dict[str, Any]], Any], pointer: str, words: str
) -> None:
    document = mutated(name, lambda d: change(event(d)))
    problem = one_at(check_rules(document), f"{EVENT0}/{pointer}", "cbv-value")
    assert words in problem.message


def test_rule_cbv_value_accepts_non_standard_uris() -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld",
        lambda d: event(d).update(
            bizStep="https://example.com/bizstep/relabelling",
            disposition="https://ref.gs1.org/cbv/Disp-in_transit",
        ),
    )
    assert check_rules(document) == []


def test_rule_extension_prefix() -> None:
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld",
        lambda d: event(d).update({"acme:colour": {"acme:shade": "red", "example:ok": 1}}),
    )
    problems = [p for p in check_rules(document) if p.rule == "extension-prefix"]
    assert {p.pointer for p in problems} == {
        f"{EVENT0}/acme:colour",
        f"{EVENT0}/acme:colour/acme:shade",
    }
    assert "prefix 'acme', which is not declared in @context" in problems[0].message
    # declared ('example'), built in ('cbvmda', 'gs1') and absolute IRIs are fine
    document = mutated(
        "Example_9.6.1-ObjectEvent.jsonld",
        lambda d: event(d).update(
            {
                "example:a": 1,
                "cbvmda:lotNumber": "1",
                "gs1:x": 2,
                "https://ns.example.com/b": 3,
                "urn:example:c": 4,
            }
        ),
    )
    assert check_rules(document) == []


def test_rule_extension_prefix_in_ilmd_and_event_type() -> None:
    document = mutated(
        "Example_9.6.4-TransformationEvent.jsonld",
        lambda d: event(d)["ilmd"].update({"lot:number": "1"}),
    )
    assert one_at(check_rules(document), f"{EVENT0}/ilmd/lot:number", "extension-prefix")
    document = json.loads((JSON_EXAMPLES_DIR / "schema-tests/Extended-Event.json").read_text())
    assert check_rules(document) == []
    document["type"] = "acme:CustomEvent"
    assert one_at(check_rules(document), "/type", "extension-prefix")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("event-1", "is not a URI"),
        (17, "is not a URI"),
        ("urn:uuid:not-a-uuid", "not a valid UUID URI"),
    ],
)
def test_rule_event_id(value: Any, words: str) -> None:
    document = mutated("Example_9.6.1-ObjectEvent.jsonld", lambda d: event(d).update(eventID=value))
    assert words in one_at(check_rules(document), f"{EVENT0}/eventID", "event-id").message


def test_rule_duplicate_event_id() -> None:
    def duplicate(d: dict[str, Any]) -> None:
        event(d, 1)["eventID"] = event(d, 0)["eventID"]

    document = mutated("Example_9.6.1-ObjectEvent.jsonld", duplicate)
    problem = one_at(check_rules(document), "/epcisBody/eventList/1/eventID", "duplicate-event-id")
    assert "already used by the event at /epcisBody/eventList/0" in problem.message


def test_rule_duplicate_event_id_allows_an_error_declaration() -> None:
    def declare_error(d: dict[str, Any]) -> None:
        declaration = copy.deepcopy(event(d, 1))
        declaration["errorDeclaration"] = {"declarationTime": "2005-04-05T10:00:00Z"}
        d["epcisBody"]["eventList"].append(declaration)

    document = mutated("Example_9.6.1-ObjectEvent.jsonld", declare_error)
    assert check_rules(document) == []


# --- hypothesis: random damage never crashes and is always reported -------------------------

FUZZ_BASES = [
    "Example_9.6.1-ObjectEvent.jsonld",
    "Example_9.6.2-ObjectEvent.jsonld",
    "Example_9.6.3-AggregationEvent.jsonld",
    "Example_9.6.4-TransformationEvent.jsonld",
    "Example-TransactionEvents-2020_07_03y.jsonld",
    "AssociationEvent/AssociationEvent-b.jsonld",
    "EPCISQueryDocument.jsonld",
    "PersistentDisposition-example.jsonld",
    "WithErrorDeclaration/ErrorDeclarationAndCorrectiveEvent.jsonld",
    "WithSensorData/SensorDataExample1.jsonld",
    "WithSensorData/SensorDataExample9.jsonld",
    "schema-tests/ObjectEvent.json",
]
_FUZZ_DOCS = {name: load(name) for name in FUZZ_BASES}
_WITH_ACTION = {"ObjectEvent", "AggregationEvent", "TransactionEvent", "AssociationEvent"}


def walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{pointer}/{index}")


def typed_pointers(document: dict[str, Any]) -> list[str]:
    """Pointers whose value has a fixed JSON type (not extensions, @context or headers)."""
    out = []
    for pointer, _ in walk(document):
        parts = pointer.split("/")[1:]
        if not parts or any(":" in p for p in parts) or parts[0] == "@context":
            continue
        if "epcisHeader" in parts[:-1] or "certificationInfo" in parts:
            continue
        out.append(pointer)
    return out


def required_pointers(document: dict[str, Any]) -> list[str]:
    """Pointers of fields the schema requires, in the document as it is."""
    out = []
    for pointer, node in walk(document):
        if not isinstance(node, dict):
            continue
        last = pointer.rsplit("/", 1)[-1]
        names: list[str] = []
        if pointer == "":
            names = ["@context", "type", "epcisBody"]
        elif "eventTime" in node:  # an event
            names = ["type", "eventTime", "eventTimeZoneOffset"]
            if node.get("type") in _WITH_ACTION:
                names.append("action")
        elif last in {"readPoint", "bizLocation"}:
            names = ["id"]
        elif "epcClass" in node:
            names = ["epcClass"]
        elif "bizTransaction" in node:
            names = ["bizTransaction"]
        elif "source" in node or "destination" in node:
            names = ["type", "source" if "source" in node else "destination"]
        elif last == "errorDeclaration":
            names = ["declarationTime"]
        elif "sensorReport" in node:
            names = ["sensorReport"]
        # A sensorReport needs no type: the XSD's rule, followed in both syntaxes.
        out.extend(f"{pointer}/{name}" for name in names if name in node)
    return out


def other_type_values(value: Any) -> list[Any]:
    """JSON values of a different JSON type than ``value``."""
    candidates: list[Any] = ["text", 7, None, True, {"k": 1}, [1]]
    if isinstance(value, bool):
        return [c for c in candidates if not isinstance(c, bool)]
    if isinstance(value, int | float):
        return [c for c in candidates if isinstance(c, bool) or not isinstance(c, int | float)]
    if isinstance(value, str):
        return [c for c in candidates if not isinstance(c, str)]
    if isinstance(value, dict):
        return [c for c in candidates if not isinstance(c, dict)]
    if isinstance(value, list):
        return [c for c in candidates if not isinstance(c, list)]
    return ["text"]


def set_at(document: dict[str, Any], pointer: str, value: Any, *, delete: bool = False) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    node: Any = document
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if delete:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def draw_place(
    data: st.DataObject, places: Callable[[dict[str, Any]], list[str]], label: str = "pointer"
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """An example document, one of its ``places`` (pointers) and a copy of it to damage."""
    name = data.draw(st.sampled_from(FUZZ_BASES), label="document")
    original = _FUZZ_DOCS[name]
    pointer = data.draw(st.sampled_from(places(original)), label=label)
    return original, pointer, copy.deepcopy(original)


def assert_reported_at(original: dict[str, Any], damaged: dict[str, Any], pointer: str) -> None:
    """Validating ``damaged`` reports the damage at ``pointer``, every problem pointing at a
    place in the ``original``."""
    problems = validate_document(damaged)
    assert problems, "the damage was not reported"
    assert all(isinstance(p, Problem) and isinstance(p.pointer, str) for p in problems)
    assert all("under any of the given schemas" not in p.message for p in problems)
    assert any(resolve(original, p.pointer or "") for p in problems), problems
    assert any(p.pointer == pointer for p in problems), problems


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_deleting_a_required_field_is_reported(data: st.DataObject) -> None:
    original, pointer, document = draw_place(data, required_pointers, "deleted")
    set_at(document, pointer, None, delete=True)
    assert_reported_at(original, document, pointer)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_wrong_typed_value_is_reported(data: st.DataObject) -> None:
    original, pointer, document = draw_place(data, typed_pointers)
    old = dict(walk(original))[pointer]
    value = data.draw(st.sampled_from(other_type_values(old)), label="value")
    set_at(document, pointer, value)
    assert_reported_at(original, document, pointer)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_anywhere_never_crashes(data: st.DataObject) -> None:
    _, pointer, document = draw_place(data, lambda d: [p for p, _ in walk(d) if p])
    set_at(document, pointer, data.draw(_json, label="value"))
    for strict in (True, False):
        for problem in validate_document(document, strict=strict):
            assert isinstance(problem.pointer, str) and problem.message


_format_breakers = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "2020-13-01T00:00:00Z",
            "2020-01-01T00:00:00",
            "2020-01-01 00:00:00Z",
            "2020-02-30T00:00:00+01:00",
            "2020-01-01T24:00:00Z",
            "not a uri",
            "urn:",
            "http://exa mple.com",
            "relative/path",
            "urn:epc:id:sgtin:0614141.107346.2017",
            ":no-scheme",
            "+25:00",
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_schema_check_never_accepts_what_jsonschema_rejects(data: st.DataObject) -> None:
    """``validate_json_schema`` trusts jsonschema-rs when it says valid: check that verdict."""
    _, pointer, document = draw_place(
        data, lambda d: [p for p, v in walk(d) if p and isinstance(v, str)]
    )
    set_at(document, pointer, data.draw(_format_breakers | _json, label="value"))
    if _fast_validator().is_valid(document):
        assert explain_json_schema(document) == []


# --- identifier-limits ---------------------------------------------------------------------

ISSUE_SGTIN = "urn:epc:id:sgtin:0614141.107346." + "aB3" * 1000  # the issue: 3,000 characters
LONG_URI = "https://example.com/private/" + "x" * 3000


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"epcList": ["urn:epc:id:sgtin:0614141.107346.1", ISSUE_SGTIN]}, "epcList/1"),
        ({"childEPCs": [ISSUE_SGTIN]}, "childEPCs/0"),
        ({"parentID": "urn:epc:id:sscc:0614141.12345678901"}, "parentID"),
        ({"inputEPCList": [LONG_URI]}, "inputEPCList/0"),
        ({"outputEPCList": ["urn:epc:id:giai:0614141." + "a" * 24]}, "outputEPCList/0"),
        (
            {"quantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.107346." + "L" * 21}]},
            "quantityList/0/epcClass",
        ),
        (
            {
                "childQuantityList": [
                    {"epcClass": "https://id.gs1.org/01/09506000134352/10/" + "L" * 21}
                ]
            },
            "childQuantityList/0/epcClass",
        ),
        ({"readPoint": {"id": "urn:epc:id:sgln:0614141.12345." + "x" * 21}}, "readPoint/id"),
        ({"bizLocation": {"id": LONG_URI}}, "bizLocation/id"),
        (
            {"sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:0614141.123456"}]},
            "sourceList/0/source",
        ),
        (
            {"destinationList": [{"type": "location", "destination": LONG_URI}]},
            "destinationList/0/destination",
        ),
        (
            {
                "bizTransactionList": [
                    {"type": "po", "bizTransaction": "urn:example:po:" + "1" * 3000}
                ]
            },
            "bizTransactionList/0/bizTransaction",
        ),
    ],
)
def test_rule_identifier_limits_points_at_the_value(fields: dict[str, Any], pointer: str) -> None:
    document = with_event0("Example_9.6.1-ObjectEvent.jsonld", **fields)
    problem = one_at(check_rules(document), f"{EVENT0}/{pointer}", "identifier-limits")
    assert problem.is_error and len(problem.message) < 400


def test_the_issues_3000_character_sgtin_is_refused_with_a_pointer() -> None:
    document = with_event0("Example_9.6.1-ObjectEvent.jsonld", epcList=[ISSUE_SGTIN])
    problems = validate_document(document)
    assert [(p.pointer, p.rule) for p in problems] == [(f"{EVENT0}/epcList/0", "identifier-limits")]
    message = problems[0].message
    assert "sgtin serial" in message and "longer than 20 characters" in message
    serial = ISSUE_SGTIN.rpartition(".")[2]
    assert f"{serial[:40]!r}…" in message and serial[:41] not in message
    assert "3000 characters" in message


@pytest.mark.parametrize(
    ("epc", "words"),
    [
        ("https://id.gs1.org/01/09506000134352/21/" + "1" * 21, r"AI \(21\) .* at most 20"),
        ("urn:epc:id:sgtin:0614141.107346." + "A" * 21, "longer than 20 characters"),
        (LONG_URI, "longer than 2048 characters"),
    ],
)
def test_rule_identifier_limits_refuses(epc: str, words: str) -> None:
    document = with_event0("Example_9.6.1-ObjectEvent.jsonld", epcList=[epc])
    problem = one_at(validate_document(document), f"{EVENT0}/epcList/0", "identifier-limits")
    assert re.search(words, problem.message), problem.message


@pytest.mark.parametrize(
    "epc",
    [
        "https://id.gs1.org/01/09506000134352/21/" + "1" * 20,
        "urn:epc:id:sgtin:0614141.107346." + "A" * 20,
        "https://example.com/private/" + "x" * (2048 - 28),
    ],
)
def test_rule_identifier_limits_accepts_values_at_the_limit(epc: str) -> None:
    document = with_event0("Example_9.6.1-ObjectEvent.jsonld", epcList=[epc])
    assert validate_document(document) == []


# --- gs1-check-digit ------------------------------------------------------------------------

BAD_GTIN_LINK = "https://id.gs1.org/01/09521234000012/21/1"  # the issue: check digit 3, not 2
BAD_SSCC_LINK = "https://id.gs1.org/00/106141412345678900"  # 8, not 0
BAD_GLN_LINK = "https://id.gs1.org/414/9521234000011"  # 3, not 1


@pytest.mark.parametrize(
    ("fields", "pointer", "words"),
    [
        ({"epcList": ["urn:epc:id:sgtin:0614141.107346.1", BAD_GTIN_LINK]}, "epcList/1", "GTIN"),
        ({"childEPCs": [BAD_GTIN_LINK]}, "childEPCs/0", "GTIN"),
        ({"parentID": BAD_SSCC_LINK}, "parentID", "SSCC"),
        ({"inputEPCList": [BAD_SSCC_LINK]}, "inputEPCList/0", "SSCC"),
        ({"outputEPCList": [BAD_GTIN_LINK]}, "outputEPCList/0", "GTIN"),
        (
            {"quantityList": [{"epcClass": "https://id.gs1.org/01/09521234000012/10/L1"}]},
            "quantityList/0/epcClass",
            "GTIN",
        ),
        ({"readPoint": {"id": BAD_GLN_LINK}}, "readPoint/id", "GLN"),
        ({"bizLocation": {"id": BAD_GLN_LINK + "/254/7"}}, "bizLocation/id", "GLN"),
        (
            {
                "sourceList": [
                    {"type": "owning_party", "source": "https://id.gs1.org/417/9521234000011"}
                ]
            },
            "sourceList/0/source",
            "GLN",
        ),
        (
            {"destinationList": [{"type": "location", "destination": BAD_GLN_LINK}]},
            "destinationList/0/destination",
            "GLN",
        ),
        (  # a key in the query string, on another domain
            {"epcList": ["https://example.com/01/09521234543213/21/1?8003=09521234000012"]},
            "epcList/0",
            "GRAI",
        ),
    ],
)
def test_rule_gs1_check_digit_points_at_the_value(
    fields: dict[str, Any], pointer: str, words: str
) -> None:
    document = with_event0("Example_9.6.1-ObjectEvent.jsonld", **fields)
    problem = one_at(validate_document(document), f"{EVENT0}/{pointer}", "gs1-check-digit")
    assert problem.is_error
    assert f"bad {words} check digit" in problem.message and "expected" in problem.message


def test_rule_gs1_check_digit_names_the_expected_digit() -> None:
    document = with_event0("Example_9.6.1-ObjectEvent.jsonld", epcList=[BAD_GTIN_LINK])
    problems = validate_document(document)
    assert [(p.pointer, p.rule) for p in problems] == [(f"{EVENT0}/epcList/0", "gs1-check-digit")]
    assert "'09521234000012': expected 3, got 2" in problems[0].message


@pytest.mark.parametrize(
    "epc",
    [
        "https://id.gs1.org/01/09521234000013/21/1",
        "https://id.gs1.org/00/106141412345678908",
        "https://example.com/gtin/09521234000013/ser/1",
        "urn:epc:id:sgtin:0614141.107346.1",  # an EPC URI carries no check digit
        "https://example.com/private/0952123400001",
    ],
)
def test_rule_gs1_check_digit_accepts_right_digits(epc: str) -> None:
    document = with_event0("Example_9.6.1-ObjectEvent.jsonld", epcList=[epc])
    assert validate_document(document) == []


XML_OBJECT_EVENT = EXAMPLES / "xml" / "2.0" / "Example_9.6.1-ObjectEvent-2020_06_18a.xml"


def test_rule_identifier_limits_in_xml_names_the_line() -> None:
    from epcis.document import check

    raw = XML_OBJECT_EVENT.read_text(encoding="utf-8")
    first = "<epc>urn:epc:id:sgtin:0614141.107346.2017</epc>"
    line = raw[: raw.index(first)].count("\n") + 1
    # XML's xsd:anyURI lets a bare code through: a 21-digit Chinese drug trace code
    problems = check(raw.replace(first, "<epc>812345678901234567890</epc>", 1).encode())
    errors = [p for p in problems if p.is_error]
    assert [(p.line, p.pointer, p.rule) for p in errors] == [
        (line, f"{EVENT0}/epcList/0", "identifier-limits")
    ]
    assert "21 digits where 20 are needed" in errors[0].message
    assert errors[0].path is not None and errors[0].path.endswith("/epcList/epc[1]")
    problems = check(raw.replace(first, f"<epc>{ISSUE_SGTIN}</epc>", 1).encode())
    assert [(p.line, p.rule) for p in problems if p.is_error] == [(line, "identifier-limits")]


def test_where_the_xsd_and_the_json_schema_disagree_json_ld_follows_the_xsd() -> None:
    """``persistentDisposition`` on every event type, and a sensor report with an
    ``exception`` and no ``type``: the XSD accepts both, and so does JSON-LD now."""
    aggregation = {
        "type": "AggregationEvent",
        "eventTime": "2026-03-01T08:00:00Z",
        "eventTimeZoneOffset": "+08:00",
        "parentID": "urn:epc:id:sscc:0614141.1234567890",
        "childEPCs": ["urn:epc:id:sgtin:0614141.107346.2018"],
        "action": "ADD",
        "persistentDisposition": {"set": ["completeness_verified"]},
        "sensorElementList": [
            {"sensorReport": [{"exception": "ALARM_CONDITION", "booleanValue": True}]}
        ],
    }
    transaction = {
        "type": "TransactionEvent",
        "eventTime": "2026-03-01T08:00:00Z",
        "eventTimeZoneOffset": "+08:00",
        "bizTransactionList": [
            {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:9"}
        ],
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2019"],
        "action": "ADD",
        "persistentDisposition": {"unset": ["completeness_inferred"]},
    }
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T08:00:00Z",
        "epcisBody": {"eventList": [aggregation, transaction]},
    }
    assert validate_document(document) == []
    xml = epcis_document.convert(document, "xml")
    assert epcis_document.load(xml).errors == []
    # Still refused: a persistentDisposition that is not one.
    aggregation["persistentDisposition"] = {"set": "completeness_verified"}
    assert [p.pointer for p in validate_document(document) if p.is_error] == [
        "/epcisBody/eventList/0/persistentDisposition/set"
    ]
