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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from epcis.problems import Problem
from epcis.validation.rules import event_ids, identifiers, measures, structure, times, vocabulary
from epcis.validation.rules.walk import DocumentCheck, PerEvent, iter_events, per_event


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
        found = check.over(events) if isinstance(check, PerEvent) else check(document)
        for pointer, message in found:
            problems.append(
                Problem(message, pointer=pointer, rule=rule.name, severity=rule.severity)
            )
    return problems


RULES: tuple[Rule, ...] = (
    Rule(
        "event-type",
        "an event's type is an EPCIS event type or a URI",
        per_event(structure.event_type),
    ),
    Rule(
        "action",
        "action present (ADD/OBSERVE/DELETE) except on TransformationEvent",
        per_event(structure.event_action),
    ),
    Rule(
        "event-time-zone-offset",
        "eventTimeZoneOffset present and within ±14:00",
        per_event(times.event_time_zone_offset),
    ),
    Rule(
        "timestamp",
        "event, record, declaration and sensor times carry an offset",
        per_event(times.timestamps),
    ),
    Rule(
        "object-event-what",
        "an ObjectEvent names at least one object",
        per_event(structure.object_event_what),
    ),
    Rule(
        "parent-id",
        "parentID where the event type and action require it",
        per_event(structure.parent_id),
    ),
    Rule(
        "children",
        "aggregation/association children unless action is DELETE",
        per_event(structure.children),
    ),
    Rule(
        "transaction-biz-transaction",
        "a TransactionEvent has business transactions",
        per_event(structure.transaction_biz_transaction),
    ),
    Rule(
        "transaction-what",
        "a TransactionEvent names objects unless action is DELETE",
        per_event(structure.transaction_what),
    ),
    Rule(
        "transformation-io",
        "a TransformationEvent has inputs/outputs (and a transformationID)",
        per_event(structure.transformation_io),
    ),
    Rule(
        "ilmd-placement",
        "ilmd only on ObjectEvent ADD and TransformationEvent",
        per_event(structure.ilmd_placement),
    ),
    Rule(
        "quantity",
        "uom only with quantity; quantity ≥ 0; fractions need a uom",
        per_event(measures.quantities),
    ),
    Rule(
        "persistent-disposition",
        "no value both set and unset",
        per_event(structure.persistent_disposition),
    ),
    Rule(
        "error-declaration",
        "an errorDeclaration has a declarationTime",
        per_event(structure.error_declaration),
    ),
    Rule(
        "corrective-event-ids",
        "correctiveEventIDs are URIs",
        per_event(event_ids.corrective_event_ids),
    ),
    Rule(
        "sensor-values",
        "min ≤ mean ≤ max, percRank in 0..100, sDev ≥ 0",
        per_event(measures.sensor_values),
        severity="warning",  # plausibility of measurements; GS1's own examples break it
    ),
    Rule(
        "sensor-pairs",
        "percRank with percValue, sDev with meanValue",
        per_event(measures.sensor_pairs),
    ),
    Rule(
        "sensor-uom",
        "a sensor uom only with a numeric value",
        per_event(measures.sensor_uom),
        severity="warning",  # GS1's SensorDataExample8 has a uom with no value
    ),
    Rule(
        "cbv-value",
        "CBV values as bare words, non-standard values as URIs",
        per_event(vocabulary.cbv_values),
    ),
    Rule(
        "extension-prefix",
        "extension prefixes are declared in @context",
        vocabulary.extension_prefixes,
    ),
    Rule("event-id", "eventID is a URI", per_event(event_ids.event_id)),
    Rule(
        "identifier-limits",
        "identifiers within their standard's limits, at most 2,048 characters",
        per_event(identifiers.identifier_limits),
    ),
    Rule(
        "gs1-check-digit",
        "GS1 keys in Digital Links have the right check digit",
        per_event(identifiers.check_digits),
    ),
    Rule("duplicate-event-id", "eventIDs are unique in a document", event_ids.duplicate_event_ids),
)
