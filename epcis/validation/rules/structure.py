"""Rules on what each event type holds: its type, action, parent and children, what it
names, where ``ilmd`` may stand, and the parts of an error declaration."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from epcis.event_types import (
    AGGREGATION,
    ASSOCIATION,
    EVENT_TYPES,
    OBJECT,
    TRANSACTION,
    TRANSFORMATION,
    WITH_ACTION,
)
from epcis.problems import pointer_join
from epcis.validation.rules.walk import Found, did_you_mean, kind_of, non_empty_list

ACTIONS: tuple[str, ...] = ("ADD", "OBSERVE", "DELETE")


def event_type(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    kind = event.get("type")
    if "type" not in event:
        yield pointer_join(at, "type"), "the event has no 'type'"
    elif not isinstance(kind, str):
        yield pointer_join(at, "type"), f"event type must be a string, got {kind!r}"
    elif kind not in EVENT_TYPES and ":" not in kind:
        yield (
            pointer_join(at, "type"),
            f"{kind!r} is not an EPCIS event type{did_you_mean(kind, EVENT_TYPES)}; "
            f"use one of {list(EVENT_TYPES)} or an extension type URI 'prefix:Name'",
        )


def event_action(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    kind = kind_of(event)
    where = pointer_join(at, "action")
    if kind == TRANSFORMATION and "action" in event:
        yield where, "a TransformationEvent has no 'action'; remove it"
    elif kind in WITH_ACTION:
        action = event.get("action")
        if "action" not in event:
            yield where, f"a {kind} needs an 'action' (one of {list(ACTIONS)})"
        elif action not in ACTIONS:
            yield where, f"action {action!r} is not one of {list(ACTIONS)}"


def object_event_what(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if kind_of(event) != OBJECT:
        return
    if non_empty_list(event.get("epcList")) or non_empty_list(event.get("quantityList")):
        return
    if non_empty_list(event.get("sensorElementList")) and "readPoint" in event:
        return
    yield (
        at,
        "an ObjectEvent must name at least one object in a non-empty 'epcList' or "
        "'quantityList' (or, reporting sensor data only, have a non-empty "
        "'sensorElementList' and a 'readPoint')",
    )


def parent_id(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    kind, action = kind_of(event), event.get("action")
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


def children(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    kind = kind_of(event)
    if kind not in (AGGREGATION, ASSOCIATION) or event.get("action") == "DELETE":
        return
    if non_empty_list(event.get("childEPCs")) or non_empty_list(event.get("childQuantityList")):
        return
    yield (
        at,
        f"a {kind} must name its children in a non-empty 'childEPCs' or 'childQuantityList' "
        "(both may be empty only when action is DELETE)",
    )


def transaction_biz_transaction(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if kind_of(event) == TRANSACTION and not non_empty_list(event.get("bizTransactionList")):
        yield (
            pointer_join(at, "bizTransactionList"),
            "a TransactionEvent needs a non-empty 'bizTransactionList'",
        )


def transaction_what(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if kind_of(event) != TRANSACTION or event.get("action") == "DELETE":
        return
    if non_empty_list(event.get("epcList")) or non_empty_list(event.get("quantityList")):
        return
    yield (
        at,
        "a TransactionEvent must name at least one object in a non-empty 'epcList' or "
        "'quantityList' (both may be empty only when action is DELETE)",
    )


def transformation_io(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if kind_of(event) != TRANSFORMATION:
        return
    inputs = any(non_empty_list(event.get(k)) for k in ("inputEPCList", "inputQuantityList"))
    outputs = any(non_empty_list(event.get(k)) for k in ("outputEPCList", "outputQuantityList"))
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


def ilmd_placement(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    if "ilmd" not in event:
        return
    kind, action = kind_of(event), event.get("action")
    if kind == TRANSFORMATION or (kind == OBJECT and action == "ADD"):
        return
    what = f"an ObjectEvent with action {action}" if kind == OBJECT else f"a {kind}"
    yield (
        pointer_join(at, "ilmd"),
        f"ilmd is not allowed in {what}; it describes objects created by an ObjectEvent "
        "with action ADD or by a TransformationEvent",
    )


def persistent_disposition(event: Mapping[str, Any], at: str) -> Iterator[Found]:
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


def error_declaration(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, Mapping) and "declarationTime" not in declaration:
        yield (
            pointer_join(at, "errorDeclaration", "declarationTime"),
            "an errorDeclaration needs a 'declarationTime' (when the error was declared)",
        )
