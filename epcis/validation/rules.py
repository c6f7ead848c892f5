"""EPCIS 2.0 rules that the GS1 JSON Schema does not express, checked on the JSON-LD dict form.

They hold for both syntaxes: a document read from XML is converted to the internal form
(docs/epcis-internal-form.md) and checked here too. Every problem carries the JSON pointer of
the offending value (or of the place where a missing field belongs) and the rule's name.

Rules (``RULES``, in this order):

* ``event-type`` - an event's ``type`` is one of the five EPCIS event types, or an extension
  type written as a URI / ``prefix:Name``; a near miss gets a suggestion.
* ``action`` - ``action`` (ADD, OBSERVE or DELETE) is present on ObjectEvent, AggregationEvent,
  TransactionEvent and AssociationEvent, and absent on TransformationEvent.
* ``event-time-zone-offset`` - ``eventTimeZoneOffset`` is present and is ``[+-]HH:MM`` with
  HH 00..14, MM 00..59, and at most ±14:00.
* ``timestamp`` - ``eventTime`` is present; ``eventTime``, ``recordTime``,
  ``errorDeclaration.declarationTime`` and the sensor ``time``/``startTime``/``endTime`` are
  xsd:dateTimeStamp values, i.e. they carry a time-zone offset (``Z`` or ``±HH:MM``).
* ``object-event-what`` - an ObjectEvent names at least one object (non-empty ``epcList`` or
  ``quantityList``), unless it only reports sensor data (non-empty ``sensorElementList`` and a
  ``readPoint``).
* ``parent-id`` - AggregationEvent: ``parentID`` is required unless action is OBSERVE;
  AssociationEvent: ``parentID`` is always required.
* ``children`` - AggregationEvent/AssociationEvent: non-empty ``childEPCs`` or
  ``childQuantityList`` unless action is DELETE (DELETE without children = all children).
* ``transaction-biz-transaction`` - a TransactionEvent has a non-empty ``bizTransactionList``.
* ``transaction-what`` - a TransactionEvent names at least one object (non-empty ``epcList`` or
  ``quantityList``) unless action is DELETE.
* ``transformation-io`` - a TransformationEvent has at least one input or output, and a
  ``transformationID`` unless it has both inputs and outputs.
* ``ilmd-placement`` - ``ilmd`` only on an ObjectEvent with action ADD, or a TransformationEvent.
* ``quantity`` - in every quantity element: ``uom`` only together with ``quantity``; ``quantity``
  is finite and ≥ 0; a quantity that is not a whole number needs a ``uom``.
* ``persistent-disposition`` - no value both in ``set`` and in ``unset``.
* ``error-declaration`` - an ``errorDeclaration`` has a ``declarationTime``.
* ``corrective-event-ids`` - ``errorDeclaration.correctiveEventIDs`` entries are URIs.
* ``sensor-values`` - in a sensorReport: ``minValue ≤ meanValue ≤ maxValue``, ``percRank`` in
  0..100, ``sDev`` ≥ 0.
* ``sensor-pairs`` - ``percRank`` and ``percValue`` come together; ``sDev`` only with
  ``meanValue``.
* ``sensor-uom`` - ``uom`` only when the report has a ``value``, ``minValue``, ``maxValue``,
  ``meanValue`` or ``percValue``.
* ``cbv-value`` - CBV values are spelled as the JSON binding requires: a ``urn:epcglobal:cbv:…``
  value is an error naming the bare word to use; a GS1 Web vocabulary URI
  (``https://gs1.org/voc/Temperature``) likewise; a bare word that is not a term of its
  vocabulary is an error suggesting the closest term (a non-standard value must be a URI).
* ``extension-prefix`` - a user-extension key ``prefix:localName`` (and an extension event
  type ``prefix:Name``) uses a prefix declared in ``@context`` or defined by the EPCIS context.
* ``event-id`` - ``eventID``, if present, is an absolute URI; a ``urn:uuid:`` one holds a UUID.
* ``identifier-limits`` - every identifier an event carries (``epcList``, ``childEPCs``,
  ``parentID``, ``inputEPCList``, ``outputEPCList``, the ``epcClass`` of every quantity
  element, ``readPoint``/``bizLocation`` ``id``, ``source``, ``destination``,
  ``bizTransaction``) is within its standard's limits (EPC URIs: GS1 EPC Tag Data Standard;
  Digital Links: the AI formats of the GS1 General Specifications; 20-digit Chinese drug
  trace codes; MA codes) and no longer than 2,048 characters
  (:mod:`epcis.identifiers.limits`).
* ``gs1-check-digit`` - every GS1 key in a Digital Link among those identifiers (GTIN
  ``/01/``, SSCC ``/00/``, GLN ``/414/``, GRAI, GDTI … in the path or the query) has the
  right mod-10 check digit (GS1 General Specifications 7.9.1); EPC URIs carry none.
* ``duplicate-event-id`` - no two events of a document share an ``eventID``, except that an
  error declaration repeats the ``eventID`` of the event it declares erroneous.
"""

from __future__ import annotations

import difflib
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft7Validator

from epcis import cbv
from epcis.context import BUILTIN_PREFIXES, namespaces
from epcis.event_types import (
    AGGREGATION,
    ASSOCIATION,
    EVENT_TYPES,
    OBJECT,
    TRANSACTION,
    TRANSFORMATION,
    WITH_ACTION,
)
from epcis.identifiers.limits import PLAINLY_WITHIN, check_digit_problem, limit_problem
from epcis.problems import Problem, pointer_join

Found = tuple[str, str]  # (JSON pointer, message)
EventCheck = Callable[[Mapping[str, Any], str], Iterable[Found]]
DocumentCheck = Callable[[Mapping[str, Any]], Iterable[Found]]

ACTIONS: tuple[str, ...] = ("ADD", "OBSERVE", "DELETE")
DOCUMENT_TYPES = frozenset({"EPCISDocument", "EPCISQueryDocument"})

QUANTITY_LISTS: tuple[str, ...] = (
    "quantityList",
    "childQuantityList",
    "inputQuantityList",
    "outputQuantityList",
)
SENSOR_NUMBERS: tuple[str, ...] = ("value", "minValue", "maxValue", "meanValue", "percValue")

_URI_CHECKER = Draft7Validator.FORMAT_CHECKER  # the same "uri" check as the JSON Schema
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_DATE_TIME = re.compile(
    r"^-?(?P<year>\d{4,})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"T(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(\.\d+)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?$"
)
_CBV_URN = "urn:epcglobal:cbv:"
_GS1_VOC = re.compile(r"^https?://(www\.)?gs1\.org/voc/")
_ABSOLUTE_IRI_PREFIXES = frozenset({"urn", "http", "https"})


@dataclass(frozen=True)
class Rule:
    """One rule: its short name, a one-line summary, and its check over a whole document."""

    name: str
    summary: str
    check: DocumentCheck
    severity: str = "error"


def check_rules(document: Mapping[str, Any]) -> list[Problem]:
    """Problems of ``document`` under every rule of :data:`RULES`; ``[]`` when none."""
    problems: list[Problem] = []
    if not isinstance(document, Mapping):
        return [Problem("an EPCIS document must be a JSON object", pointer="", rule="document")]
    events = list(iter_events(document))
    for rule in RULES:
        check = rule.check
        found = check.over(events) if isinstance(check, _PerEvent) else check(document)
        for pointer, message in found:
            problems.append(
                Problem(message, pointer=pointer, rule=rule.name, severity=rule.severity)
            )
    return problems


# --- where the events are ------------------------------------------------------------------


def iter_events(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(pointer, event) for every event object: an EPCISDocument's or EPCISQueryDocument's
    event list (recognised by ``type`` or, failing that, by ``epcisBody``), or the document
    itself when it is a single event."""
    kind = _kind(document)
    if kind not in DOCUMENT_TYPES and "epcisBody" not in document:
        yield "", document
        return
    body = document.get("epcisBody")
    if kind == "EPCISQueryDocument" or (
        kind != "EPCISDocument" and isinstance(body, Mapping) and "queryResults" in body
    ):
        base = "/epcisBody/queryResults/resultsBody/eventList"
        events = _get(body, "queryResults", "resultsBody", "eventList")
    else:
        base, events = "/epcisBody/eventList", _get(body, "eventList")
    if isinstance(events, list):
        for index, event in enumerate(events):
            if isinstance(event, Mapping):
                yield pointer_join(base, index), event


def _kind(node: Mapping[str, Any]) -> str | None:
    """The ``type`` of an event or document when it is a string, else None."""
    kind = node.get("type")
    return kind if isinstance(kind, str) else None


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


@dataclass(frozen=True)
class _PerEvent:
    """A rule checked on each event; :func:`check_rules` finds the events once for all."""

    check: EventCheck

    def __call__(self, document: Mapping[str, Any]) -> Iterator[Found]:
        for at, event in iter_events(document):
            yield from self.check(event, at)

    def over(self, events: list[tuple[str, Mapping[str, Any]]]) -> Iterator[Found]:
        for at, event in events:
            yield from self.check(event, at)


def _per_event(check: EventCheck) -> DocumentCheck:
    return _PerEvent(check)


# --- small helpers -------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _non_empty_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0


def _is_uri(value: Any) -> bool:
    return isinstance(value, str) and _URI_CHECKER.conforms(value, "uri")


def _items(event: Mapping[str, Any], at: str, key: str) -> Iterator[tuple[str, Any]]:
    value = event.get(key)
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield pointer_join(at, key, index), item


def _sensor_reports(event: Mapping[str, Any], at: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for element_at, element in _items(event, at, "sensorElementList"):
        if isinstance(element, Mapping):
            for report_at, report in _items(element, element_at, "sensorReport"):
                if isinstance(report, Mapping):
                    yield report_at, report


def _closest(word: str, choices: Iterable[str]) -> str | None:
    options = sorted(choices)
    for option in options:
        if option.lower() == word.lower():
            return option
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    best = _closest(word, choices)
    return f" (did you mean {best!r}?)" if best else ""


# --- the rules -----------------------------------------------------------------------------


def _event_type(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    kind = event.get("type")
    if "type" not in event:
        yield pointer_join(at, "type"), "the event has no 'type'"
    elif not isinstance(kind, str):
        yield pointer_join(at, "type"), f"event type must be a string, got {kind!r}"
    elif kind not in EVENT_TYPES and ":" not in kind:
        yield (
            pointer_join(at, "type"),
            f"{kind!r} is not an EPCIS event type{_did_you_mean(kind, EVENT_TYPES)}; "
            f"use one of {list(EVENT_TYPES)} or an extension type URI 'prefix:Name'",
        )


def _action(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    kind = _kind(event)
    where = pointer_join(at, "action")
    if kind == TRANSFORMATION and "action" in event:
        yield where, "a TransformationEvent has no 'action'; remove it"
    elif kind in WITH_ACTION:
        action = event.get("action")
        if "action" not in event:
            yield where, f"a {kind} needs an 'action' (one of {list(ACTIONS)})"
        elif action not in ACTIONS:
            yield where, f"action {action!r} is not one of {list(ACTIONS)}"


def _event_time_zone_offset(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    where = pointer_join(at, "eventTimeZoneOffset")
    if "eventTimeZoneOffset" not in event:
        yield where, "eventTimeZoneOffset is required (the local offset from UTC, e.g. '+01:00')"
        return
    problem = _offset_problem(event["eventTimeZoneOffset"])
    if problem:
        yield where, f"eventTimeZoneOffset {problem}"


def _offset_problem(value: Any) -> str | None:
    """Why ``value`` is not a time-zone offset ``[+-]HH:MM`` within ±14:00, or None."""
    if not isinstance(value, str):
        return f"must be a string like '+01:00', got {value!r}"
    match = _OFFSET.match(value)
    if not match:
        return f"{value!r} is not of the form [+-]HH:MM (e.g. '+01:00', '-06:00')"
    hours, minutes = int(match.group(2)), int(match.group(3))
    if hours > 14:
        return f"{value!r} has hours {hours:02d}; hours must be 00..14"
    if minutes > 59:
        return f"{value!r} has minutes {minutes:02d}; minutes must be 00..59"
    if hours == 14 and minutes != 0:
        return f"{value!r} is beyond ±14:00, the largest time-zone offset"
    return None


def _timestamp_problem(value: Any) -> str | None:
    """Why ``value`` is not an xsd:dateTimeStamp (a date-time WITH an offset), or None."""
    if not isinstance(value, str):
        return f"must be a date-time string with a time-zone offset, got {value!r}"
    match = _DATE_TIME.match(value)
    if not match:
        return f"{value!r} is not a date-time like '2005-04-03T20:33:31.116-06:00'"
    zone = match.group("zone")
    if zone is None:
        return f"{value!r} has no time-zone offset; add 'Z' or ±HH:MM"
    if zone != "Z":
        problem = _offset_problem(zone)
        if problem:
            return f"{value!r}: offset {problem}"
    parts = {k: int(match.group(k)) for k in ("year", "month", "day", "hour", "minute", "second")}
    if parts["hour"] == 24 and parts["minute"] == parts["second"] == 0:
        parts["hour"] = 0  # 24:00:00 is the end of the day in XML Schema
    try:
        # Leap years repeat every 400 years; map the year into datetime's range.
        year = 2000 + parts["year"] % 400
        datetime(
            year, parts["month"], parts["day"], parts["hour"], parts["minute"], parts["second"]
        )
    except ValueError as exc:
        return f"{value!r} is not a real date and time ({exc})"
    return None


def _timestamps(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if "eventTime" not in event:
        yield pointer_join(at, "eventTime"), "eventTime is required"
    places: list[tuple[str, Mapping[str, Any], str]] = [
        (at, event, "eventTime"),
        (at, event, "recordTime"),
    ]
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping):
        places.append((pointer_join(at, "errorDeclaration"), declaration, "declarationTime"))
    for element_at, element in _items(event, at, "sensorElementList"):
        metadata = element.get("sensorMetadata") if isinstance(element, Mapping) else None
        if isinstance(metadata, Mapping):
            meta_at = pointer_join(element_at, "sensorMetadata")
            places.extend((meta_at, metadata, key) for key in ("time", "startTime", "endTime"))
    places.extend((report_at, report, "time") for report_at, report in _sensor_reports(event, at))
    for parent_at, parent, key in places:
        if key in parent:
            problem = _timestamp_problem(parent[key])
            if problem:
                yield pointer_join(parent_at, key), f"{key} {problem}"


def _object_event_what(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if _kind(event) != OBJECT:
        return
    if _non_empty_list(event.get("epcList")) or _non_empty_list(event.get("quantityList")):
        return
    if _non_empty_list(event.get("sensorElementList")) and "readPoint" in event:
        return
    yield (
        at,
        "an ObjectEvent must name at least one object in a non-empty 'epcList' or "
        "'quantityList' (or, reporting sensor data only, have a non-empty "
        "'sensorElementList' and a 'readPoint')",
    )


def _parent_id(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    kind, action = _kind(event), event.get("action")
    if "parentID" in event:
        return
    if kind == ASSOCIATION:
        yield pointer_join(at, "parentID"), "an AssociationEvent needs a 'parentID'"
    elif kind == AGGREGATION and action in ("ADD", "DELETE"):
        yield (
            pointer_join(at, "parentID"),
            f"an AggregationEvent with action {action} needs a 'parentID' "
            "(it is optional only when action is OBSERVE)",
        )


def _children(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    kind = _kind(event)
    if kind not in (AGGREGATION, ASSOCIATION) or event.get("action") == "DELETE":
        return
    if _non_empty_list(event.get("childEPCs")) or _non_empty_list(event.get("childQuantityList")):
        return
    yield (
        at,
        f"a {kind} must name its children in a non-empty 'childEPCs' or 'childQuantityList' "
        "(both may be empty only when action is DELETE)",
    )


def _transaction_biz_transaction(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if _kind(event) == TRANSACTION and not _non_empty_list(event.get("bizTransactionList")):
        yield (
            pointer_join(at, "bizTransactionList"),
            "a TransactionEvent needs a non-empty 'bizTransactionList'",
        )


def _transaction_what(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if _kind(event) != TRANSACTION or event.get("action") == "DELETE":
        return
    if _non_empty_list(event.get("epcList")) or _non_empty_list(event.get("quantityList")):
        return
    yield (
        at,
        "a TransactionEvent must name at least one object in a non-empty 'epcList' or "
        "'quantityList' (both may be empty only when action is DELETE)",
    )


def _transformation_io(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if _kind(event) != TRANSFORMATION:
        return
    inputs = any(_non_empty_list(event.get(k)) for k in ("inputEPCList", "inputQuantityList"))
    outputs = any(_non_empty_list(event.get(k)) for k in ("outputEPCList", "outputQuantityList"))
    if not inputs and not outputs:
        yield (
            at,
            "a TransformationEvent needs at least one input or output (non-empty "
            "inputEPCList, inputQuantityList, outputEPCList or outputQuantityList)",
        )
    elif not (inputs and outputs) and "transformationID" not in event:
        missing = "outputs" if inputs else "inputs"
        yield (
            pointer_join(at, "transformationID"),
            f"a TransformationEvent without {missing} needs a 'transformationID' that links "
            "it to the events holding the rest of the transformation",
        )


def _ilmd_placement(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if "ilmd" not in event:
        return
    kind, action = _kind(event), event.get("action")
    if kind == TRANSFORMATION or (kind == OBJECT and action == "ADD"):
        return
    what = f"an ObjectEvent with action {action}" if kind == OBJECT else f"a {kind}"
    yield (
        pointer_join(at, "ilmd"),
        f"ilmd is not allowed in {what}; it describes objects created by an ObjectEvent "
        "with action ADD or by a TransformationEvent",
    )


def _quantities(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    for key in QUANTITY_LISTS:
        for element_at, element in _items(event, at, key):
            if isinstance(element, Mapping):
                yield from _quantity_element(element, element_at)


def _quantity_element(element: Mapping[str, Any], at: str) -> Iterator[Found]:
    quantity = element.get("quantity")
    if "uom" in element and quantity is None:
        yield pointer_join(at, "uom"), "uom is given without a quantity; add 'quantity'"
    if not isinstance(quantity, int | float) or isinstance(quantity, bool):
        return
    where = pointer_join(at, "quantity")
    if not math.isfinite(quantity):
        yield where, f"quantity {quantity!r} is not a finite number"
    elif quantity < 0:
        yield where, f"quantity {quantity!r} is negative; a quantity is ≥ 0"
    elif not float(quantity).is_integer() and "uom" not in element:
        yield (
            where,
            f"quantity {quantity!r} is not a whole number, so it needs a 'uom' "
            "(without a unit of measure a quantity counts objects)",
        )


def _persistent_disposition(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    value = event.get("persistentDisposition")
    if not isinstance(value, Mapping):
        return
    set_, unset = value.get("set"), value.get("unset")
    if not isinstance(set_, list) or not isinstance(unset, list):
        return
    in_set = {v for v in set_ if isinstance(v, str)}
    for index, item in enumerate(unset):
        if isinstance(item, str) and item in in_set:
            yield (
                pointer_join(at, "persistentDisposition", "unset", index),
                f"{item!r} is both set and unset in persistentDisposition",
            )


def _error_declaration(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping) and "declarationTime" not in declaration:
        yield (
            pointer_join(at, "errorDeclaration", "declarationTime"),
            "an errorDeclaration needs a 'declarationTime' (when the error was declared)",
        )


def _corrective_event_ids(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    declaration = event.get("errorDeclaration")
    if not isinstance(declaration, Mapping):
        return
    declaration_at = pointer_join(at, "errorDeclaration")
    for item_at, item in _items(declaration, declaration_at, "correctiveEventIDs"):
        if not _is_uri(item):
            yield item_at, f"correctiveEventIDs entry {item!r} is not an event ID URI"


def _sensor_values(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    for report_at, report in _sensor_reports(event, at):
        numbers = {k: v for k, v in report.items() if _is_number(v)}
        low, mean, high = (numbers.get(k) for k in ("minValue", "meanValue", "maxValue"))
        if low is not None and high is not None and low > high:
            yield pointer_join(report_at, "minValue"), f"minValue {low} > maxValue {high}"
        if mean is not None and low is not None and mean < low:
            yield pointer_join(report_at, "meanValue"), f"meanValue {mean} < minValue {low}"
        if mean is not None and high is not None and mean > high:
            yield pointer_join(report_at, "meanValue"), f"meanValue {mean} > maxValue {high}"
        rank = numbers.get("percRank")
        if rank is not None and not 0 <= rank <= 100:
            yield pointer_join(report_at, "percRank"), f"percRank {rank} is not within 0..100"
        sdev = numbers.get("sDev")
        if sdev is not None and sdev < 0:
            yield pointer_join(report_at, "sDev"), f"sDev {sdev} is negative"


def _sensor_pairs(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    for report_at, report in _sensor_reports(event, at):
        for key, partner in (("percRank", "percValue"), ("percValue", "percRank")):
            if key in report and partner not in report:
                yield pointer_join(report_at, key), f"{key} is only used together with {partner}"
        if "sDev" in report and "meanValue" not in report:
            yield pointer_join(report_at, "sDev"), "sDev is only used together with meanValue"


def _sensor_uom(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    for report_at, report in _sensor_reports(event, at):
        if "uom" in report and not any(k in report for k in SENSOR_NUMBERS):
            yield (
                pointer_join(report_at, "uom"),
                f"uom is given but the report has no numeric value ({', '.join(SENSOR_NUMBERS)});"
                " remove uom or add the value",
            )


def _cbv_values(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    for where, value, vocabulary in _cbv_places(event, at):
        problem = _cbv_problem(value, vocabulary)
        if problem:
            yield where, problem


def _cbv_places(event: Mapping[str, Any], at: str) -> Iterator[tuple[str, Any, cbv.Vocabulary]]:
    """(pointer, value, vocabulary) of every value of the event that takes a CBV vocabulary."""
    for key in ("bizStep", "disposition"):
        if key in event:
            yield pointer_join(at, key), event[key], cbv.FIELD_VOCABULARY[key]
    persistent = event.get("persistentDisposition")
    if isinstance(persistent, Mapping):
        for key in ("set", "unset"):
            for item_at, item in _items(persistent, pointer_join(at, "persistentDisposition"), key):
                yield item_at, item, cbv.DISPOSITION
    for key in ("bizTransactionList", "sourceList", "destinationList"):
        for item_at, item in _items(event, at, key):
            if isinstance(item, Mapping) and "type" in item:
                yield (
                    pointer_join(item_at, "type"),
                    item["type"],
                    cbv.TYPE_VOCABULARY_BY_PARENT[key],
                )
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping) and "reason" in declaration:
        yield (
            pointer_join(at, "errorDeclaration", "reason"),
            declaration["reason"],
            cbv.ERROR_REASON,
        )
    for report_at, report in _sensor_reports(event, at):
        for key, vocabulary in (
            ("type", cbv.MEASUREMENT_TYPE),
            ("exception", cbv.SENSOR_ALERT_TYPE),
            ("component", cbv.COMPONENT),
        ):
            if key in report:
                yield pointer_join(report_at, key), report[key], vocabulary


def _cbv_problem(value: Any, vocabulary: cbv.Vocabulary) -> str | None:
    if not isinstance(value, str):
        return None  # a wrong type is the JSON Schema's to report
    if value.startswith(_CBV_URN):
        bare = vocabulary.to_bare(value)
        if bare != value:
            return f"CBV URN {value!r} is not allowed in JSON-LD; write {bare!r}"
        word = value.rsplit(":", 1)[-1]
        return (
            f"CBV URN {value!r} is not allowed in JSON-LD, and {word!r} is not a CBV "
            f"{vocabulary.name} term{_did_you_mean(word, vocabulary.terms)}"
        )
    if _GS1_VOC.match(value):
        bare = _GS1_VOC.sub("", value)
        if vocabulary.is_term(bare):
            return f"GS1 vocabulary URI {value!r} is not allowed here; write {bare!r}"
        return None
    if ":" in value:
        return None  # a non-standard value, written as a URI
    if vocabulary.is_term(value):
        return None
    return (
        f"{value!r} is not a CBV {vocabulary.name} term{_did_you_mean(value, vocabulary.terms)};"
        " a non-standard value must be a URI"
    )


def _extension_prefixes(document: Mapping[str, Any]) -> Iterator[Found]:
    declared = set(BUILTIN_PREFIXES) | set(namespaces(dict(document)))
    yield from _undeclared_keys(document, "", declared)
    for at, event in iter_events(document):
        kind = _kind(event)
        if isinstance(kind, str) and kind not in EVENT_TYPES and kind not in DOCUMENT_TYPES:
            prefix = _undeclared_prefix(kind, declared)
            if prefix is not None:
                yield (
                    pointer_join(at, "type"),
                    f"event type {kind!r} uses prefix {prefix!r}, which is not declared in "
                    "@context",
                )


def _undeclared_keys(node: Any, at: str, declared: set[str]) -> Iterator[Found]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "@context":
                continue
            here = pointer_join(at, str(key))
            prefix = _undeclared_prefix(str(key), declared)
            if prefix is not None:
                yield (
                    here,
                    f"extension field {key!r} uses prefix {prefix!r}, which is not declared in "
                    f'@context; add {{"{prefix}": "<namespace URI>"}} to it',
                )
            yield from _undeclared_keys(value, here, declared)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _undeclared_keys(item, pointer_join(at, index), declared)


def _undeclared_prefix(name: str, declared: set[str]) -> str | None:
    """The prefix of a compact IRI ``prefix:local`` when it is not declared, else None."""
    prefix, colon, local = name.partition(":")
    if not colon or not prefix or local.startswith("//") or prefix in _ABSOLUTE_IRI_PREFIXES:
        return None
    return None if prefix in declared else prefix


def _event_id(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if "eventID" not in event:
        return
    value = event["eventID"]
    where = pointer_join(at, "eventID")
    if not _is_uri(value):
        yield (
            where,
            f"eventID {value!r} is not a URI (use 'urn:uuid:…', an Event Hash ID 'ni:///…' "
            "or another absolute URI)",
        )
    elif value.lower().startswith("urn:uuid:"):
        try:
            uuid.UUID(value[len("urn:uuid:") :])
        except ValueError:
            yield where, f"eventID {value!r} is not a valid UUID URI"


EPC_LISTS: tuple[str, ...] = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_PARTY_LISTS: tuple[tuple[str, str], ...] = (
    ("sourceList", "source"),
    ("destinationList", "destination"),
    ("bizTransactionList", "bizTransaction"),
)


def _identifiers(event: Mapping[str, Any]) -> Iterator[tuple[Any, tuple[str | int, ...]]]:
    """(value, path within the event) of every identifier the event carries."""
    for key in EPC_LISTS:
        values = event.get(key)
        if isinstance(values, list):
            for index, value in enumerate(values):
                yield value, (key, index)
    yield from _single_identifiers(event)


def _single_identifiers(event: Mapping[str, Any]) -> Iterator[tuple[Any, tuple[str | int, ...]]]:
    """:func:`_identifiers` but for the EPC lists."""
    if "parentID" in event:
        yield event["parentID"], ("parentID",)
    for key in QUANTITY_LISTS:
        elements = event.get(key)
        if isinstance(elements, list):
            for index, element in enumerate(elements):
                if isinstance(element, Mapping) and "epcClass" in element:
                    yield element["epcClass"], (key, index, "epcClass")
    for key in ("readPoint", "bizLocation"):
        place = event.get(key)
        if isinstance(place, Mapping) and "id" in place:
            yield place["id"], (key, "id")
    for key, field in _PARTY_LISTS:
        items = event.get(key)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, Mapping) and field in item:
                    yield item[field], (key, index, field)


def _identifier_limits(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    # The hot path of validation (bench epcis: ~16 identifiers an event): one regex call
    # decides nearly every value, the EPC lists are filtered by a comprehension, and a
    # pointer is only built for a value found wrong.
    plainly_within = PLAINLY_WITHIN.fullmatch
    suspects: list[tuple[Any, tuple[str | int, ...]]] = []
    for key in EPC_LISTS:
        values = event.get(key)
        if isinstance(values, list):
            suspects.extend(
                (value, (key, index))
                for index, value in enumerate(values)
                if not isinstance(value, str) or plainly_within(value) is None
            )
    suspects.extend(
        (value, path)
        for value, path in _single_identifiers(event)
        if not isinstance(value, str) or plainly_within(value) is None
    )
    for value, path in suspects:
        if isinstance(value, str):  # another type is the JSON Schema's to report
            problem = limit_problem(value)
            if problem is not None:
                yield pointer_join(at, *path), problem


def _check_digits(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    # Only http(s) values can be Digital Links: one prefix test decides nearly every value.
    for value, path in _identifiers(event):
        if isinstance(value, str) and value[:4].lower() == "http":
            problem = check_digit_problem(value)
            if problem is not None:
                yield pointer_join(at, *path), problem


def _duplicate_event_ids(document: Mapping[str, Any]) -> Iterator[Found]:
    first: dict[tuple[str, bool], str] = {}
    for at, event in iter_events(document):
        value = event.get("eventID")
        if not isinstance(value, str):
            continue
        key = (value, "errorDeclaration" in event)
        if key in first:
            yield (
                pointer_join(at, "eventID"),
                f"eventID {value!r} is already used by the event at {first[key]}",
            )
        else:
            first[key] = at


RULES: tuple[Rule, ...] = (
    Rule("event-type", "an event's type is an EPCIS event type or a URI", _per_event(_event_type)),
    Rule(
        "action",
        "action present (ADD/OBSERVE/DELETE) except on TransformationEvent",
        _per_event(_action),
    ),
    Rule(
        "event-time-zone-offset",
        "eventTimeZoneOffset present and within ±14:00",
        _per_event(_event_time_zone_offset),
    ),
    Rule(
        "timestamp",
        "event, record, declaration and sensor times carry an offset",
        _per_event(_timestamps),
    ),
    Rule(
        "object-event-what",
        "an ObjectEvent names at least one object",
        _per_event(_object_event_what),
    ),
    Rule(
        "parent-id", "parentID where the event type and action require it", _per_event(_parent_id)
    ),
    Rule(
        "children",
        "aggregation/association children unless action is DELETE",
        _per_event(_children),
    ),
    Rule(
        "transaction-biz-transaction",
        "a TransactionEvent has business transactions",
        _per_event(_transaction_biz_transaction),
    ),
    Rule(
        "transaction-what",
        "a TransactionEvent names objects unless action is DELETE",
        _per_event(_transaction_what),
    ),
    Rule(
        "transformation-io",
        "a TransformationEvent has inputs/outputs (and a transformationID)",
        _per_event(_transformation_io),
    ),
    Rule(
        "ilmd-placement",
        "ilmd only on ObjectEvent ADD and TransformationEvent",
        _per_event(_ilmd_placement),
    ),
    Rule(
        "quantity",
        "uom only with quantity; quantity ≥ 0; fractions need a uom",
        _per_event(_quantities),
    ),
    Rule(
        "persistent-disposition", "no value both set and unset", _per_event(_persistent_disposition)
    ),
    Rule(
        "error-declaration",
        "an errorDeclaration has a declarationTime",
        _per_event(_error_declaration),
    ),
    Rule("corrective-event-ids", "correctiveEventIDs are URIs", _per_event(_corrective_event_ids)),
    Rule(
        "sensor-values",
        "min ≤ mean ≤ max, percRank in 0..100, sDev ≥ 0",
        _per_event(_sensor_values),
        severity="warning",  # plausibility of measurements; GS1's own examples break it
    ),
    Rule("sensor-pairs", "percRank with percValue, sDev with meanValue", _per_event(_sensor_pairs)),
    Rule(
        "sensor-uom",
        "a sensor uom only with a numeric value",
        _per_event(_sensor_uom),
        severity="warning",  # GS1's SensorDataExample8 has a uom with no value
    ),
    Rule(
        "cbv-value",
        "CBV values as bare words, non-standard values as URIs",
        _per_event(_cbv_values),
    ),
    Rule("extension-prefix", "extension prefixes are declared in @context", _extension_prefixes),
    Rule("event-id", "eventID is a URI", _per_event(_event_id)),
    Rule(
        "identifier-limits",
        "identifiers within their standard's limits, at most 2,048 characters",
        _per_event(_identifier_limits),
    ),
    Rule(
        "gs1-check-digit",
        "GS1 keys in Digital Links have the right check digit",
        _per_event(_check_digits),
    ),
    Rule("duplicate-event-id", "eventIDs are unique in a document", _duplicate_event_ids),
)
