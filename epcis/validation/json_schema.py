"""Validation against the GS1 EPCIS 2.0 JSON Schema (draft-07), with readable problems.

The schema is ``schemas/json-schema/EPCIS-JSON-Schema.json`` of the GS1 artefacts
(:func:`epcis.artefacts.schema_path`). It covers ``EPCISDocument``, ``EPCISQueryDocument``
and single events. It is loaded and compiled once, with format checks on (``date-time``,
``uri``…) and with an empty :class:`referencing.Registry`, so that a ``$ref`` can never be
fetched over the network (every ``$ref`` of the GS1 schema is a local ``#/definitions/…``;
:func:`_validator` refuses a schema that has any other).

Each :class:`jsonschema.ValidationError` becomes one or more :class:`Problem` with the RFC 6901
pointer of the failing value and a short message. ``anyOf``/``oneOf`` failures are not reported
as "is not valid under any of the given schemas": the branch that got furthest into the
instance is explained instead, or, when every branch fails on the instance itself, the
message lists what each branch expected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import Any

import jsonschema_rs
import referencing
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from epcis.artefacts import schema_path
from epcis.event_types import EVENT_TYPES
from epcis.problems import DocumentError, Problem, pointer_join
from epcis.validation.rules.walk import DOCUMENT_TYPES, iter_events, kind_of
from epcis.validation.xsd_reconciliation import reconcile_with_xsd

RULE = "json-schema"
SCHEMA_FILE: tuple[str, str] = ("json-schema", "EPCIS-JSON-Schema.json")

_COMBINATORS = frozenset({"anyOf", "oneOf"})
_NAMED_TYPES = frozenset(EVENT_TYPES) | DOCUMENT_TYPES
_MAX_REPR = 80

# Patterns of the GS1 schema, said in words.
_PATTERN_WORDS: dict[str, str] = {
    "^([+]|[-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)$": (
        "a time-zone offset [+-]HH:MM between -14:00 and +14:00, e.g. '+01:00'"
    ),
    "^[A-Z0-9]{2,3}$": "a UN/CEFACT Rec. 20 unit code of 2 or 3 upper-case letters or digits",
    "^\\d+(\\.\\d+)*$": "a version number such as '2.0'",
    "^[A-Fa-f0-9]+$": "hexadecimal digits",
    "^(?!(urn:epcglobal:cbv|https?:\\/\\/ns\\.gs1\\.org/cbv\\/))": (
        "a URI outside the reserved CBV namespaces (a standard CBV value is written as its "
        "bare word in JSON-LD, not as 'urn:epcglobal:cbv:…')"
    ),
    "^(?!(https?:\\/\\/gs1\\.org\\/voc\\/|https?:\\/\\/www\\.gs1\\.org\\/voc\\/))": (
        "a URI outside https://gs1.org/voc/ (a GS1 term is written as its bare word)"
    ),
}
_FORMAT_WORDS: dict[str, str] = {
    "date-time": (
        "date-time (RFC 3339 with a time-zone offset, e.g. '2005-04-03T20:33:31.116-06:00')"
    ),
    "uri": "URI (absolute, with a scheme, e.g. 'urn:epc:id:sgtin:0614141.107346.2017')",
}
_JSON_TYPE_NAMES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


@dataclass(frozen=True)
class _Found:
    pointer: str
    message: str
    weak: bool  # found inside an anyOf/oneOf branch: a guess at what was meant


EXPLAINED_EVENTS = 20
"""How many invalid events of one document are explained problem by problem. Explaining
is the costly part (``jsonschema`` walks the schema in Python: up to ~10 ms for an event
with no ``type``, which every event definition then applies to); every invalid event is
still found and named, by the compiled validator, so the work per document stays bounded
(10,000 invalid events: well under a second, not minutes)."""
EXPLAINED_ERRORS = 200
"""How many schema errors one explained part (an event, or the document around its events)
contributes at most: a list of 100,000 bad EPCs is refused without 100,000 messages."""


def validate_json_schema(document: Any) -> list[Problem]:
    """Problems of ``document`` under the GS1 EPCIS 2.0 JSON Schema; ``[]`` when valid.

    A compiled validator (jsonschema-rs, ~300x faster) decides first. A document it rejects
    is checked again in parts, still compiled: the document without its events, then each
    event alone (``#/definitions/EPCIS-Document-Event``, what the schema applies to every
    item of an ``eventList``). Only the parts that fail are walked by ``jsonschema`` to
    explain each problem with a pointer, and only the first :data:`EXPLAINED_EVENTS`
    failing events; later ones get one problem each, at the event.
    """
    if _fast_validator().is_valid(document):
        return []
    split = _split_events(document)
    if split is None:
        return _explained(document, "", _validator())
    envelope, base, events = split
    problems = (
        [] if _fast_validator().is_valid(envelope) else _explained(envelope, "", _validator())
    )
    fast, slow = _event_validators()
    explained = 0
    for index, event in enumerate(events):
        if fast.is_valid(event):
            continue
        at = pointer_join(base, index)
        if explained < EXPLAINED_EVENTS:
            explained += 1
            problems.extend(_explained(event, at, slow))
        else:
            problems.append(
                Problem(
                    "not valid under the GS1 EPCIS 2.0 JSON Schema (not explained: only the "
                    f"first {EXPLAINED_EVENTS} invalid events of a document are)",
                    pointer=at,
                    rule=RULE,
                )
            )
    return problems


def explain_json_schema(document: Any) -> list[Problem]:
    """Every problem of ``document`` under the schema, found by ``jsonschema`` alone."""
    found: list[_Found] = []
    for error in _validator().iter_errors(document):
        found.extend(_explain(error, weak=False))
    found = _without_untyped_noise(document, found)
    return [Problem(f.message, pointer=f.pointer, rule=RULE) for f in _tidy(found)]


def _explained(part: Any, at: str, validator: Draft7Validator) -> list[Problem]:
    """The problems of one part of a document that the compiled validator rejected, with
    pointers below ``at``; never none (a part the walk finds nothing wrong with still gets
    one problem, so that it is rejected all the same)."""
    if isinstance(part, dict) and not isinstance(part.get("type"), str):
        # Without a string ``type`` only the ``type`` problem is reported (see
        # _without_untyped_noise): find it on the ``type`` alone, not on the whole part.
        part = {"type": part["type"]} if "type" in part else {}
    found: list[_Found] = []
    for error in islice(validator.iter_errors(part), EXPLAINED_ERRORS):
        found.extend(_explain(error, weak=False))
    found = _without_untyped_noise(part, found)
    problems = [Problem(f.message, pointer=at + f.pointer, rule=RULE) for f in _tidy(found)]
    return problems or [
        Problem("not valid under the GS1 EPCIS 2.0 JSON Schema", pointer=at, rule=RULE)
    ]


def _split_events(document: Any) -> tuple[dict[str, Any], str, list[Any]] | None:
    """(the document with an empty event list, the list's pointer, its items), or None for
    anything but an EPCISDocument or EPCISQueryDocument with a list of events."""
    if not isinstance(document, dict) or kind_of(document) not in DOCUMENT_TYPES:
        return None
    body = document.get("epcisBody")
    if not isinstance(body, dict):
        return None
    if document["type"] == "EPCISDocument":
        events = body.get("eventList")
        if not isinstance(events, list):
            return None
        envelope = {**document, "epcisBody": {**body, "eventList": []}}
        return envelope, "/epcisBody/eventList", events
    results = body.get("queryResults")
    inner = results.get("resultsBody") if isinstance(results, dict) else None
    events = inner.get("eventList") if isinstance(inner, dict) else None
    if not isinstance(events, list) or not isinstance(results, dict):
        return None
    emptied = {**results, "resultsBody": {**inner, "eventList": []}}  # type: ignore[dict-item]
    envelope = {**document, "epcisBody": {**body, "queryResults": emptied}}
    return envelope, "/epcisBody/queryResults/resultsBody/eventList", events


def _without_untyped_noise(document: Any, found: list[_Found]) -> list[_Found]:
    """Keep only the ``type`` problem of a document or event that has no string ``type``.

    The GS1 schema picks the definition to apply with ``if: {properties: {type: {enum:
    [...]}}}``, which holds vacuously when ``type`` is absent: every definition then applies
    at once and the report fills with contradictions that say nothing useful.
    """
    if not isinstance(document, dict):
        return found
    untyped = [at for at, event in iter_events(document) if not isinstance(event.get("type"), str)]
    if not isinstance(document.get("type"), str):
        untyped.append("")
    if not untyped:
        return found

    def noise(pointer: str) -> bool:
        return any(
            (pointer == at or pointer.startswith(at + "/")) and pointer != at + "/type"
            for at in untyped
        )

    return [f for f in found if not noise(f.pointer)]


@cache
def _schema() -> dict[str, Any]:
    path = schema_path(*SCHEMA_FILE)
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    outside = sorted(set(_non_local_refs(schema)))
    if outside:
        raise DocumentError.single(
            f"{path} has $refs outside itself ({', '.join(outside)}); map them to local files",
            rule="configuration",
        )
    reconcile_with_xsd(schema)
    Draft7Validator.check_schema(schema)
    return schema


@cache
def _fast_validator() -> jsonschema_rs.Draft7Validator:
    return jsonschema_rs.Draft7Validator(_schema(), validate_formats=True)


@cache
def _event_validators() -> tuple[jsonschema_rs.Draft7Validator, Draft7Validator]:
    """Compiled and explaining validators of one item of an ``eventList``."""
    schema = {"$ref": "#/definitions/EPCIS-Document-Event", "definitions": _schema()["definitions"]}
    explaining = Draft7Validator(
        schema, format_checker=Draft7Validator.FORMAT_CHECKER, registry=referencing.Registry()
    )
    return jsonschema_rs.Draft7Validator(schema, validate_formats=True), explaining


@cache
def _validator() -> Draft7Validator:
    return Draft7Validator(
        _schema(),
        format_checker=Draft7Validator.FORMAT_CHECKER,
        registry=referencing.Registry(),  # nothing is retrieved: no network
    )


def _non_local_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                yield value
            else:
                yield from _non_local_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _non_local_refs(item)


def _tidy(found: Sequence[_Found]) -> list[_Found]:
    """Drop repeats, and guesses from inside anyOf/oneOf where a plain error says it better."""
    strong = {f.pointer for f in found if not f.weak}
    out: list[_Found] = []
    seen: set[tuple[str, str]] = set()
    for f in found:
        if f.weak and f.pointer in strong:
            continue
        key = (f.pointer, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _pointer(path: Iterable[str | int]) -> str:
    return pointer_join("", *path)


def _explain(error: ValidationError, *, weak: bool) -> list[_Found]:
    if "propertyNames" in error.absolute_schema_path:
        return [_bad_property_name(error, weak=weak)]
    kind = error.validator
    at = _pointer(error.absolute_path)
    if kind in _COMBINATORS:
        return _explain_alternatives(error)
    if kind == "required":
        return [
            _Found(pointer_join(at, name), f"required field {name!r} is missing", weak)
            for name in _missing(error)
        ]
    if kind == "additionalProperties":
        allowed = list(_as_mapping(error.schema).get("properties", {}))
        return [
            _Found(
                pointer_join(at, key),
                f"field {key!r} is not allowed here; allowed fields are {allowed}",
                weak,
            )
            for key in _extra_keys(error)
        ]
    if kind == "uniqueItems" and isinstance(error.instance, list):
        return [_Found(p, m, weak) for p, m in _duplicates(at, error.instance)]
    if kind == "not":
        name = error.absolute_path[-1] if error.absolute_path else "value"
        return [_Found(at, f"field {name!r} is not allowed here", weak)]
    return [_Found(at, _message(error), weak)]


def _explain_alternatives(error: ValidationError) -> list[_Found]:
    """An anyOf/oneOf failed: explain the branch that got furthest, or list them all."""
    at = _pointer(error.absolute_path)
    branches = _branches(error)
    if not branches:  # oneOf valid under several branches, or nothing to say
        return [_Found(at, error.message, weak=True)]
    depth = {index: max(len(e.relative_path) for e in errs) for index, errs in branches.items()}
    deepest = max(depth.values())
    if deepest > 0:
        best = min(
            (i for i in branches if depth[i] == deepest), key=lambda i: (len(branches[i]), i)
        )
        found: list[_Found] = []
        for sub in branches[best]:
            found.extend(_explain(sub, weak=True))
        return found
    wanted = " or ".join(
        "(" + " and ".join(_expectation(e) for e in errs) + ")"
        if len(errs) > 1
        else _expectation(errs[0])
        for errs in branches.values()
    )
    if isinstance(error.instance, dict):
        kind = error.instance.get("type")
        what = kind if isinstance(kind, str) and kind in _NAMED_TYPES else "object"
        return [_Found(at, f"this {what} needs {wanted}", weak=True)]
    return [_Found(at, f"{_short(error.instance)} is not valid here: expected {wanted}", True)]


def _branches(error: ValidationError) -> dict[int, list[ValidationError]]:
    """The context errors of an anyOf/oneOf, by branch; branches for another ``type`` dropped."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        index = sub.relative_schema_path[0] if sub.relative_schema_path else 0
        branches.setdefault(int(index), []).append(sub)
    other_type = {
        index
        for index, errs in branches.items()
        if any(list(e.relative_path) == ["type"] and e.validator in {"enum", "const"} for e in errs)
    }
    if other_type and len(other_type) < len(branches):
        for index in other_type:
            del branches[index]
    return branches


def _bad_property_name(error: ValidationError, *, weak: bool) -> _Found:
    key = error.instance
    at = pointer_join(_pointer(error.absolute_path), str(key))
    allowed: list[Any] = []
    extension = False
    for leaf in _leaves(error):
        if leaf.validator == "enum" and isinstance(leaf.validator_value, list):
            allowed.extend(v for v in leaf.validator_value if v not in allowed)
        elif leaf.validator == "format" and leaf.validator_value == "uri":
            extension = True
    if allowed:
        also = " or an extension field 'prefix:localName'" if extension else ""
        message = f"field {key!r} is not allowed here; allowed fields are {allowed}{also}"
    elif extension:
        message = f"field {key!r} is not allowed here; only extension fields 'prefix:localName'"
        message += " are allowed"
    else:
        message = f"field name {key!r} is not allowed here: {error.message}"
    return _Found(at, message, weak)


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    if error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def _missing(error: ValidationError) -> list[str]:
    required = error.validator_value if isinstance(error.validator_value, list) else []
    instance = error.instance if isinstance(error.instance, dict) else {}
    return [str(name) for name in required if name not in instance]


def _extra_keys(error: ValidationError) -> list[str]:
    schema = _as_mapping(error.schema)
    known = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    return [
        str(key)
        for key in instance
        if key not in known and not any(re.search(p, str(key)) for p in patterns)
    ]


def _duplicates(at: str, items: list[Any]) -> Iterator[tuple[str, str]]:
    seen: list[tuple[int, Any]] = []
    for index, item in enumerate(items):
        first = next((i for i, other in seen if _same_json(other, item)), None)
        if first is None:
            seen.append((index, item))
        else:
            yield pointer_join(at, index), f"duplicate item {_short(item)} (same as item {first})"


def _same_json(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _as_mapping(schema: Any) -> Mapping[str, Any]:
    return schema if isinstance(schema, Mapping) else {}


def _message(error: ValidationError) -> str:
    """A one-line message for a failed keyword that has no sub-errors."""
    kind = error.validator
    value = error.validator_value
    instance = error.instance
    if kind == "type":
        return f"expected {_type_words(value)}, got {_json_type(instance)} {_short(instance)}"
    if kind == "enum":
        return f"{_short(instance)} is not one of {value!r}"
    if kind == "const":
        return f"{_short(instance)} is not {value!r}"
    if kind == "format":
        return f"{_short(instance)} is not a valid {_FORMAT_WORDS.get(str(value), value)}"
    if kind == "pattern":
        words = _PATTERN_WORDS.get(str(value))
        if words:
            return f"{_short(instance)} is not {words}"
        return f"{_short(instance)} does not match the pattern {value!r}"
    if kind == "minItems":
        count = len(instance) if isinstance(instance, list) else 0
        return f"expected at least {value} item(s), got {count}"
    return error.message


def _expectation(error: ValidationError) -> str:
    """What a failed keyword wanted, as a phrase ("one of [...]", "a valid uri"…)."""
    kind = error.validator
    value = error.validator_value
    if kind == "required":
        listed = value if isinstance(value, list) else []
        names = _missing(error) or [str(v) for v in listed]
        return " and ".join(f"field {name!r}" for name in names)
    if kind == "enum":
        return f"one of {value!r}"
    if kind == "const":
        return repr(value)
    if kind == "type":
        return _type_words(value)
    if kind == "format":
        return f"a valid {_FORMAT_WORDS.get(str(value), value)}"
    if kind == "pattern":
        return _PATTERN_WORDS.get(str(value)) or f"a string matching {value!r}"
    if kind == "minItems":
        return f"at least {value} item(s)"
    if kind in _COMBINATORS:
        return "(" + " or ".join(_expectation(e) for e in error.context or ()) + ")"
    return error.message


def _type_words(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    words = [("an " if str(n)[0] in "aeiou" else "a ") + str(n) for n in names]
    return " or ".join(words)


def _json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 1] + "…"
