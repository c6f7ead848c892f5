"""Does an event satisfy a :class:`~epcis.query.params.Query`? (EPCIS 2.0 §8.2.7.1)

The event is in the internal form (the JSON-LD binding as a dict, with its ``eventID`` and
``recordTime``), ``namespaces`` its prefixes. Every condition must hold (AND); the values
of one condition are alternatives (OR). A condition on a field the event lacks is false,
as the standard says ("the result will only include events that (a) have a non-null …").

This is the one authority on matching: the SQL in :mod:`projections.event_index` only
narrows the candidates, and subscriptions test new events with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from epcis.context import SAME_NAMESPACE, STANDARD_NAMESPACES
from epcis.identifiers import IdentifierError, parse_identifier
from epcis.identifiers.facts import product_key
from epcis.query.params import MATCH_FIELDS, Condition, Query
from epcis.query.patterns import EpcMatcher, identity, matcher

_IDENTIFIER_FIELDS = ("readPoint.id", "bizLocation.id")


def matches(query: Query, event: Mapping[str, Any], namespaces: Mapping[str, str]) -> bool:
    return all(_test(c, query, event, namespaces) for c in query.conditions)


def _test(
    c: Condition, query: Query, event: Mapping[str, Any], namespaces: Mapping[str, str]
) -> bool:
    test = _TESTS[c.kind]
    return test(c, query, event, namespaces)


# -- values ----------------------------------------------------------------------------


def _path(event: Mapping[str, Any], dotted: str) -> Any:
    value: Any = event
    for key in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _event_type(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    return e.get("type") in c.values


def _value(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    found = _path(e, c.field)
    items = found if isinstance(found, list) else [found]
    present = [i for i in items if isinstance(i, str)]
    if c.field in _IDENTIFIER_FIELDS:
        wanted = {identity(v) for v in c.values}
        return any(identity(i) in wanted for i in present)
    return any(i in c.values for i in present)


def _time(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    moment = _as_time(_path(e, c.field))
    if moment is None:
        return False
    return _compare(c.op, moment, c.values[0])


def _exists_error(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    return not c.values[0] or isinstance(e.get("errorDeclaration"), Mapping)


# -- EPCs and classes --------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _matcher(values: tuple[str, ...]) -> EpcMatcher:
    return matcher(list(values))


def epcs_in(event: Mapping[str, Any], fields: tuple[str, ...]) -> Iterator[str]:
    """The identifiers of ``fields`` (lists of EPCs, ``parentID``, or quantity lists, whose
    ``epcClass`` counts)."""
    for name in fields:
        found = event.get(name)
        if isinstance(found, str):
            yield found
        elif isinstance(found, list):
            for item in found:
                if isinstance(item, str):
                    yield item
                elif isinstance(item, Mapping) and isinstance(item.get("epcClass"), str):
                    yield item["epcClass"]


def _match(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    m = _matcher(tuple(c.values))
    return any(m.matches(v) for v in epcs_in(e, MATCH_FIELDS[c.field]))


def _no_master_data(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    """``HASATTR_`` / ``EQ_ATTR_`` not resolved (:mod:`epcis.query.master_data`): no master
    data is available for any element, so no event matches."""
    return False


@lru_cache(maxsize=65536)
def _product_of(identifier: str) -> str | None:
    """The product (GTIN-14, a trace code's 7-digit prefix) an EPC or a class belongs to."""
    try:
        return parse_identifier(identifier).product_key
    except IdentifierError:
        return None


@lru_cache(maxsize=4096)
def _products(values: tuple[str, ...]) -> frozenset[str]:
    out = set()
    for value in values:
        try:
            out.add(product_key(value))
        except IdentifierError:
            continue
    return frozenset(out)


def _epc_class(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    wanted = _products(tuple(c.values))
    if not wanted:
        return False
    fields = MATCH_FIELDS["MATCH_anyEPC"] + MATCH_FIELDS["MATCH_anyEPCClass"]
    return any(_product_of(v) in wanted for v in epcs_in(e, fields))


def _quantity(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    for name in MATCH_FIELDS["MATCH_anyEPCClass"]:
        for item in e.get(name) or []:
            if not isinstance(item, Mapping) or not _is_number(item.get("quantity")):
                continue
            if c.qualifier is not None and item.get("uom") != c.qualifier:
                continue
            if _number_test(c, float(item["quantity"])):
                return True
    return False


def _typed_list(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    key = c.field
    for item in e.get(key + "List") or []:
        if isinstance(item, Mapping) and item.get("type") == c.qualifier:
            value = item.get(key)
            if isinstance(value, str) and (
                value in c.values or identity(value) in {identity(v) for v in c.values}
            ):
                return True
    return False


# -- sensors -----------------------------------------------------------------------------


def _sensor_parts(e: Mapping[str, Any], scope: str) -> Iterator[Mapping[str, Any]]:
    for element in e.get("sensorElementList") or []:
        if not isinstance(element, Mapping):
            continue
        if "m" in scope and isinstance(element.get("sensorMetadata"), Mapping):
            yield element["sensorMetadata"]
        if "r" in scope:
            for report in element.get("sensorReport") or []:
                if isinstance(report, Mapping):
                    yield report


def _sensor_exists(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    return not c.values[0] or bool(e.get("sensorElementList"))


def _sensor_eq(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    return any(part.get(c.field) in c.values for part in _sensor_parts(e, c.scope or "r"))


def _sensor_time(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    for part in _sensor_parts(e, c.scope):
        moment = _as_time(part.get(c.field))
        if moment is not None and _compare(c.op, moment, c.values[0]):
            return True
    return False


def _sensor_number(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    for report in _sensor_parts(e, "r"):
        value = _number_of(report.get(c.field))
        if value is None or isinstance(report.get(c.field), str):
            continue
        if c.qualifier is not None and report.get("uom") != c.qualifier:
            continue
        if _number_test(c, value):
            return True
    return False


# -- user extensions ---------------------------------------------------------------------


def expand(name: str, prefixes: Mapping[str, str], fallback: Mapping[str, str]) -> str:
    """A field name as one IRI: ``{iri}local`` stays, ``prefix:local`` expands with
    ``prefixes`` (the query's), else ``fallback`` (the event's), else with what a standard
    prefix names undeclared, else stays as it is. The two spellings of one standard
    namespace (``urn:epcglobal:cbv:mda`` with or without its colon) expand alike, so that
    ``EQ_ILMD_cbvmda:lotNumber`` finds an event whatever spelling its document declared."""
    if name.startswith("{"):
        iri, _, local = name[1:].partition("}")
        return SAME_NAMESPACE.get(iri, iri) + local
    prefix, _, local = name.partition(":")
    base = prefixes.get(prefix) or fallback.get(prefix) or STANDARD_NAMESPACES.get(prefix)
    return SAME_NAMESPACE.get(base, base) + local if base else name


def _scopes(e: Mapping[str, Any], scope: str) -> Iterator[Mapping[str, Any]]:
    if scope == "event":
        yield e
    elif scope in ("ilmd", "errorDeclaration", "readPoint", "bizLocation"):
        found = e.get(scope)
        if isinstance(found, Mapping):
            yield found
    elif scope == "sensorElement":
        for element in e.get("sensorElementList") or []:
            if isinstance(element, Mapping):
                yield element
    elif scope == "sensorMetadata":
        yield from _sensor_parts(e, "m")
    elif scope == "sensorReport":
        yield from _sensor_parts(e, "r")


def _extension_values(
    c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]
) -> Iterator[Any]:
    want = expand(c.field, q.namespaces, ns)
    for holder in _scopes(e, c.scope):
        if c.inner:  # nested inside a top-level extension element, at any depth
            for key, value in holder.items():
                if ":" in key:
                    yield from _nested(value, want, ns)
        else:
            for key, value in holder.items():
                if ":" in key and expand(key, ns, ns) == want:
                    yield value


def _nested(value: Any, want: str, ns: Mapping[str, str]) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _nested(item, want, ns)
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            if ":" in key and expand(key, ns, ns) == want:
                yield inner
            yield from _nested(inner, want, ns)


def _extension(c: Condition, q: Query, e: Mapping[str, Any], ns: Mapping[str, str]) -> bool:
    if c.op == "EXISTS":
        exists = any(True for _ in _extension_values(c, q, e, ns))
        return exists or not c.values[0]
    for found in _extension_values(c, q, e, ns):
        for value in found if isinstance(found, list) else [found]:
            if isinstance(value, Mapping):
                value = value.get("#text")
            if value is None or isinstance(value, (Mapping, list)):
                continue
            if any(_field_compare(c.op, value, wanted) for wanted in c.values):
                return True
    return False


def _field_compare(op: str, value: Any, wanted: str) -> bool:
    """Compare an extension value with a query value: as numbers when the event's value is
    a number (or both read as numbers), as instants when both are date-times, else as text
    (EQ only)."""
    if isinstance(value, bool):
        return op == "EQ" and str(value).lower() == str(wanted).lower()
    number = _number_of(value)
    target = _number_of(wanted)
    if number is not None and target is not None:
        return _compare(op, number, target)
    moment, when = _as_time(value), _as_time(wanted)
    if moment is not None and when is not None:
        return _compare(op, moment, when)
    if op == "EQ":
        return str(value) == str(wanted)
    return False


# -- helpers -----------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_of(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "EQ":
        return bool(left == right)
    if op == "GT":
        return bool(left > right)
    if op == "GE":
        return bool(left >= right)
    if op == "LT":
        return bool(left < right)
    if op == "LE":
        return bool(left <= right)
    raise ValueError(op)


def _number_test(c: Condition, value: float) -> bool:
    if c.op == "EQ":
        return value in c.values
    return _compare(c.op, value, c.values[0])


_Test = Callable[[Condition, Query, Mapping[str, Any], Mapping[str, str]], bool]
_TESTS: dict[str, _Test] = {
    "eventType": _event_type,
    "value": _value,
    "time": _time,
    "exists_error": _exists_error,
    "match": _match,
    "quantity": _quantity,
    "typed_list": _typed_list,
    "sensor_exists": _sensor_exists,
    "sensor_eq": _sensor_eq,
    "sensor_time": _sensor_time,
    "sensor_number": _sensor_number,
    "extension": _extension,
    "attribute": _no_master_data,
    "epc_class": _epc_class,
}
