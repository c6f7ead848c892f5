"""The parameters of the EPCIS SimpleEventQuery, read into a :class:`Query`.

Two sources give the same :class:`Query`: the query string of ``GET /events`` (lists are
pipe-delimited: ``EQ_bizStep=shipping|receiving``), read by :func:`from_query_string`, and
the JSON ``query`` object of a named query (``POST /queries``), read by :func:`from_json`.
Every parameter name is checked: an unknown one, a malformed value, or a combination the
standard forbids (``eventCountLimit`` with ``maxEventCount``, ``eventCountLimit`` without
``orderBy``) raises :class:`QueryParameterError` naming the parameter.

Values are normalised once, here: CBV terms in any spelling (bare word, URN, Web URI)
become the JSON binding's bare word; identifiers stay as given and are compared by
identity in :mod:`epcis.query.predicate`; times become aware datetimes.

Parameters that need master data (EPCIS 2.0 §8.2.7.1) are read here and answered from
master data by :func:`epcis.query.master_data.resolve`, which whoever runs the query calls
with the master data the asker may see (this package keeps none):

* ``WD_readPoint`` / ``WD_bizLocation`` (the location or any direct or indirect descendant)
  are ``value`` conditions on the location itself until resolved, which adds the
  descendants: without master data a location has none;
* ``HASATTR_<field>=attr1|attr2`` (the field's vocabulary element has one of these
  attributes) and ``EQ_ATTR_<field>_<attr>=v1|v2`` (the attribute equals one of the
  values), for the fields ``readPoint``, ``bizLocation`` and ``epcClass``, are
  ``attribute`` conditions, which match nothing until resolved (no master data is
  available for any element) and then become the set of elements they name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from epcis.cbv import (
    BIZ_STEP,
    BIZ_TRANSACTION_TYPE,
    DISPOSITION,
    ERROR_REASON,
    MEASUREMENT_TYPE,
    SOURCE_DESTINATION_TYPE,
    Vocabulary,
)
from epcis.problems import excerpt
from epcis.query.errors import QueryParameterError
from epcis.query.patterns import PATTERN_PREFIX, PatternError, parse_pattern

# which lists each MATCH_ parameter looks in
MATCH_FIELDS: dict[str, tuple[str, ...]] = {
    "MATCH_epc": ("epcList", "childEPCs"),
    "MATCH_parentID": ("parentID",),
    "MATCH_inputEPC": ("inputEPCList",),
    "MATCH_outputEPC": ("outputEPCList",),
    "MATCH_anyEPC": ("epcList", "childEPCs", "inputEPCList", "outputEPCList", "parentID"),
    "MATCH_epcClass": ("quantityList", "childQuantityList"),
    "MATCH_inputEPCClass": ("inputQuantityList",),
    "MATCH_outputEPCClass": ("outputQuantityList",),
    "MATCH_anyEPCClass": (
        "quantityList",
        "childQuantityList",
        "inputQuantityList",
        "outputQuantityList",
    ),
}

# EQ_ parameters on a single top-level value (or list of values), with its vocabulary
_EQ_VALUE: dict[str, tuple[str, Vocabulary | None]] = {
    "EQ_action": ("action", None),
    "EQ_bizStep": ("bizStep", BIZ_STEP),
    "EQ_disposition": ("disposition", DISPOSITION),
    "EQ_transformationID": ("transformationID", None),
    "EQ_eventID": ("eventID", None),
    "EQ_errorReason": ("errorDeclaration.reason", ERROR_REASON),
    "EQ_correctiveEventID": ("errorDeclaration.correctiveEventIDs", None),
    "EQ_persistentDisposition_set": ("persistentDisposition.set", DISPOSITION),
    "EQ_persistentDisposition_unset": ("persistentDisposition.unset", DISPOSITION),
    "EQ_readPoint": ("readPoint.id", None),
    "EQ_bizLocation": ("bizLocation.id", None),
    "WD_readPoint": ("readPoint.id", None),
    "WD_bizLocation": ("bizLocation.id", None),
}

_TIMES: dict[str, str] = {
    "eventTime": "eventTime",
    "recordTime": "recordTime",
    "errorDeclarationTime": "errorDeclaration.declarationTime",
    "errorDeclaration_Time": "errorDeclaration.declarationTime",  # query-schema.json's spelling
}

# sensor parameters: where they look (m = sensorMetadata, r = sensorReport) and the kind
_SENSOR_EQ: dict[str, tuple[str, Vocabulary | None]] = {
    "EQ_type": ("r", MEASUREMENT_TYPE),
    "EQ_deviceID": ("mr", None),
    "EQ_dataProcessingMethod": ("mr", None),
    "EQ_microorganism": ("r", None),
    "EQ_chemicalSubstance": ("r", None),
    "EQ_bizRules": ("m", None),
    "EQ_stringValue": ("r", None),
    "EQ_hexBinaryValue": ("r", None),
    "EQ_uriValue": ("r", None),
    "EQ_booleanValue": ("r", None),
}
_SENSOR_TIMES = {"time": "r", "startTime": "m", "endTime": "m"}
_SENSOR_NUMBERS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percValue")

_OPS = ("EQ", "GT", "GE", "LT", "LE")
_MAX_INTEGER = 2**63 - 1  # what a database's bigint (a LIMIT, a count) can hold
_CURIE = r"[A-Za-z][\w.-]*:[\w.-]+"
_EXTENSION = re.compile(
    r"^(?P<op>EQ|GT|GE|LT|LE|EXISTS)_(?P<inner>INNER_)?"
    r"(?P<scope>ILMD_|ERROR_DECLARATION_|SENSORELEMENT_|SENSORMETADATA_|SENSORREPORT_"
    r"|readPoint_|bizLocation_)?(?P<name>" + _CURIE + r"|\{[^}]+\}[\w.-]+)$"
)
_TYPED_LIST = re.compile(r"^EQ_(?P<list>bizTransaction|source|destination)_(?P<type>.+)$")
_QUANTITY = re.compile(r"^(?P<op>EQ|GT|GE|LT|LE)_quantity(?:_(?P<uom>[A-Z0-9]{2,4}))?$")
_SENSOR_NUMBER = re.compile(
    r"^(?P<op>EQ|GT|GE|LT|LE)_(?P<attr>" + "|".join(_SENSOR_NUMBERS) + r")_(?P<uom>[A-Z0-9]{2,4})$"
)
_PERC_RANK = re.compile(r"^(?P<op>GT|GE|LT|LE)_percRank$")
_SENSOR_TIME = re.compile(r"^(?P<op>GE|LT)_(?P<attr>time|startTime|endTime)$")
_TIME = re.compile(
    r"^(?P<op>GE|LT)_(?P<attr>eventTime|recordTime|errorDeclarationTime|errorDeclaration_Time)$"
)
_SCOPES = {
    None: "event",
    "ILMD_": "ilmd",
    "ERROR_DECLARATION_": "errorDeclaration",
    "SENSORELEMENT_": "sensorElement",
    "SENSORMETADATA_": "sensorMetadata",
    "SENSORREPORT_": "sensorReport",
    "readPoint_": "readPoint",
    "bizLocation_": "bizLocation",
}
_MASTER_DATA = re.compile(r"^(HASATTR_|EQ_ATTR_)")
_HASATTR = re.compile(r"^HASATTR_(?P<field>readPoint|bizLocation|epcClass)$")
_EQ_ATTR = re.compile(r"^EQ_ATTR_(?P<field>readPoint|bizLocation|epcClass)_(?P<attr>.+)$")
MASTER_DATA_FIELDS = ("readPoint", "bizLocation", "epcClass")
"""The fields whose vocabulary elements ``HASATTR_`` / ``EQ_ATTR_`` may ask about."""

_UNENCODED_PLUS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")
PAGING = ("perPage", "nextPageToken")
"""Parameters of the HTTP binding, not of the query: the caller handles them."""


@dataclass(frozen=True)
class Condition:
    """One parameter, read. ``kind`` says how :mod:`epcis.query.predicate` tests it."""

    parameter: str
    kind: str
    """``eventType``, ``value`` (field equals one of), ``time``, ``match``, ``quantity``,
    ``exists_error``, ``typed_list``, ``extension``, ``sensor_eq``, ``sensor_time``,
    ``sensor_number``, ``sensor_exists``."""
    op: str = "EQ"
    field: str = ""
    values: tuple[Any, ...] = ()
    scope: str = "event"
    inner: bool = False
    qualifier: str | None = None
    """The bizTransaction / source / destination type, the unit of measure, or the
    attribute of ``EQ_ATTR_``."""
    asked: Condition | None = None
    """The condition as the query asked it, when this one was resolved from master data
    (:func:`epcis.query.master_data.resolve`: the set of locations or classes it names)."""

    def as_asked(self) -> Condition:
        """This condition as the query asked it (before master data resolved it)."""
        return self.asked or self


@dataclass(frozen=True)
class Query:
    conditions: tuple[Condition, ...] = ()
    order_by: str | None = None
    order_direction: str = "DESC"
    event_count_limit: int | None = None
    max_event_count: int | None = None
    namespaces: Mapping[str, str] = field(default_factory=dict)
    """Prefixes for extension field names (``GS1-Extensions`` header, or the ``@context``
    of a named query's body)."""

    def of_kind(self, *kinds: str) -> list[Condition]:
        return [c for c in self.conditions if c.kind in kinds]

    def named(self, parameter: str) -> Condition | None:
        return next((c for c in self.conditions if c.parameter == parameter), None)

    def as_asked(self) -> Query:
        """The query as asked, before master data resolved any of its conditions: what a
        paging token is bound to (master data may change between two pages)."""
        return replace(self, conditions=tuple(c.as_asked() for c in self.conditions))


def from_query_string(
    items: Iterable[tuple[str, str]], namespaces: Mapping[str, str] | None = None
) -> Query:
    """A query from ``GET /events`` parameters (``perPage`` / ``nextPageToken`` skipped)."""
    seen: dict[str, str] = {}
    for name, value in items:
        if name in PAGING:
            continue
        if name in seen:
            raise QueryParameterError(name, "is given more than once; list values with '|'")
        seen[name] = value
    return _read({k: _Raw(v, text=True) for k, v in seen.items()}, namespaces or {})


def from_json(query: Mapping[str, Any], namespaces: Mapping[str, str] | None = None) -> Query:
    """A query from a named query's JSON ``query`` object (an ``@context`` in it declares
    extension prefixes)."""
    prefixes = dict(namespaces or {})
    raw: dict[str, _Raw] = {}
    for name, value in query.items():
        if name == "@context":
            prefixes.update(_context_prefixes(value))
            continue
        raw[name] = _Raw(value, text=False)
    return _read(raw, prefixes)


def to_query_string(query: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A named query's JSON ``query`` object as ``GET /events`` parameters."""
    out: list[tuple[str, str]] = []
    for name, value in query.items():
        if name == "@context":
            continue
        if isinstance(value, list):
            out.append((name, "|".join(str(v) for v in value)))
        elif isinstance(value, bool):
            out.append((name, "true" if value else "false"))
        elif value is None:
            out.append((name, ""))
        else:
            out.append((name, str(value)))
    return out


def _context_prefixes(context: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    entries = context if isinstance(context, list) else [context]
    for entry in entries:
        if isinstance(entry, dict):
            found.update({k: v for k, v in entry.items() if isinstance(v, str)})
    return found


@dataclass(frozen=True)
class _Raw:
    value: Any
    text: bool
    """True when it came from a query string (lists are '|'-delimited strings)."""

    def strings(self, name: str) -> list[str]:
        if self.text:
            items = str(self.value).split("|")
        elif isinstance(self.value, list):
            items = [str(v) for v in self.value]
        else:
            items = [str(self.value)]
        items = [i.strip() for i in items]
        if not items or any(i == "" for i in items):
            raise QueryParameterError(name, "needs one or more values (separated by '|')")
        return items

    def one(self, name: str) -> str:
        if not self.text and isinstance(self.value, list):
            raise QueryParameterError(name, "takes one value, not a list")
        text = str(self.value).strip()
        if text == "":
            raise QueryParameterError(name, "needs a value")
        return text

    def number(self, name: str) -> float:
        if (
            not self.text
            and isinstance(self.value, (int, float))
            and not isinstance(self.value, bool)
        ):
            return float(self.value)
        text = self.one(name)
        try:
            return float(text)
        except ValueError:
            raise QueryParameterError(name, f"{excerpt(text)} is not a number") from None

    def numbers(self, name: str) -> list[float]:
        out = []
        for text in self.strings(name):
            try:
                out.append(float(text))
            except ValueError:
                raise QueryParameterError(name, f"{excerpt(text)} is not a number") from None
        return out

    def integer(self, name: str, *, minimum: int) -> int:
        text = self.one(name)
        try:
            value = int(text)
        except ValueError:
            raise QueryParameterError(name, f"{excerpt(text)} is not an integer") from None
        if value < minimum:
            raise QueryParameterError(name, f"must be at least {minimum}, not {value}")
        if value > _MAX_INTEGER:
            raise QueryParameterError(name, f"must be at most {_MAX_INTEGER}")
        return value

    def time(self, name: str) -> datetime:
        return parse_time(name, self.one(name))

    def flag(self, name: str) -> bool:
        if self.value is None or self.value is True:
            return True
        if self.value is False:
            return False
        text = str(self.value).strip().lower()
        if text in ("", "true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise QueryParameterError(name, f"{excerpt(self.value)} is not true or false")


def parse_time(name: str, text: str) -> datetime:
    """An ISO 8601 date-time with a time zone (a time without one would be ambiguous).
    A space before the offset is read as the '+' that an unencoded query string turned
    into a space."""
    text = _UNENCODED_PLUS.sub(r"\1+\2", text)
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise QueryParameterError(
            name, f"{excerpt(text)} is not a date-time (e.g. 2024-05-01T08:00:00+08:00)"
        ) from None
    if moment.tzinfo is None:
        raise QueryParameterError(
            name, f"{excerpt(text)} has no time zone: add one, e.g. 'Z' or '+08:00'"
        )
    return moment


def _read(raw: Mapping[str, _Raw], namespaces: Mapping[str, str]) -> Query:
    conditions: list[Condition] = []
    order_by = None
    direction = "DESC"
    count_limit = None
    max_count = None
    for name, value in raw.items():
        if name == "orderBy":
            order_by = value.one(name)
            if order_by not in ("eventTime", "recordTime") and not re.match(
                "^(" + _CURIE + r"|\{[^}]+\}[\w.-]+)$", order_by
            ):
                raise QueryParameterError(
                    name, f"{excerpt(order_by)}: use eventTime, recordTime or an extension field"
                )
        elif name == "orderDirection":
            direction = value.one(name)
            if direction not in ("ASC", "DESC"):
                raise QueryParameterError(name, f"{excerpt(direction)}: use ASC or DESC")
        elif name == "eventCountLimit":
            count_limit = value.integer(name, minimum=1)
        elif name == "maxEventCount":
            max_count = value.integer(name, minimum=1)
        else:
            conditions.append(_condition(name, value))
    if count_limit is not None and max_count is not None:
        raise QueryParameterError("eventCountLimit", "cannot be used together with maxEventCount")
    if count_limit is not None and order_by is None:
        raise QueryParameterError("eventCountLimit", "needs orderBy")
    return Query(tuple(conditions), order_by, direction, count_limit, max_count, dict(namespaces))


def _terms(name: str, value: _Raw, vocabulary: Vocabulary | None) -> tuple[str, ...]:
    items = value.strings(name)
    if vocabulary is None:
        return tuple(items)
    return tuple(vocabulary.to_bare(i) for i in items)


def _condition(name: str, value: _Raw) -> Condition:
    if name == "eventType":
        return Condition(name, "eventType", values=tuple(value.strings(name)))
    if name in _EQ_VALUE:
        target, vocabulary = _EQ_VALUE[name]
        terms = _terms(name, value, vocabulary)
        if name == "EQ_action":
            bad = [v for v in terms if v not in ("ADD", "OBSERVE", "DELETE")]
            if bad:
                raise QueryParameterError(name, f"{bad[0]!r}: use ADD, OBSERVE or DELETE")
        return Condition(name, "value", field=target, values=terms)
    if found := _TIME.match(name):
        return Condition(
            name, "time", op=found["op"], field=_TIMES[found["attr"]], values=(value.time(name),)
        )
    if name in MATCH_FIELDS:
        epcs = tuple(value.strings(name))
        for v in epcs:
            if v.startswith(PATTERN_PREFIX) and "*" in v:
                try:
                    parse_pattern(v)
                except PatternError as exc:
                    raise QueryParameterError(name, str(exc)) from None
        return Condition(name, "match", field=name, values=epcs)
    if found := _QUANTITY.match(name):
        numbers = value.numbers(name) if found["op"] == "EQ" else [value.number(name)]
        return Condition(
            name, "quantity", op=found["op"], values=tuple(numbers), qualifier=found["uom"]
        )
    if name == "EXISTS_errorDeclaration":
        return Condition(name, "exists_error", values=(value.flag(name),))
    if name == "EXISTS_sensorElementList":
        return Condition(name, "sensor_exists", values=(value.flag(name),))
    if found := _TYPED_LIST.match(name):
        vocabulary = (
            BIZ_TRANSACTION_TYPE if found["list"] == "bizTransaction" else (SOURCE_DESTINATION_TYPE)
        )
        return Condition(
            name,
            "typed_list",
            field=found["list"],
            values=tuple(value.strings(name)),
            qualifier=vocabulary.to_bare(found["type"]),
        )
    if name in _SENSOR_EQ:
        where, vocabulary = _SENSOR_EQ[name]
        if name == "EQ_booleanValue":
            flags = []
            for text in value.strings(name):
                if text.lower() not in ("true", "false"):
                    raise QueryParameterError(name, f"{excerpt(text)} is not true or false")
                flags.append(text.lower() == "true")
            return Condition(name, "sensor_eq", field="booleanValue", values=tuple(flags))
        return Condition(
            name,
            "sensor_eq",
            field=name[3:],
            values=_terms(name, value, vocabulary),
            scope=where,
        )
    if found := _SENSOR_TIME.match(name):
        attr = found["attr"]
        return Condition(
            name,
            "sensor_time",
            op=found["op"],
            field=attr,
            values=(value.time(name),),
            scope=_SENSOR_TIMES[attr],
        )
    if found := _SENSOR_NUMBER.match(name):
        numbers = value.numbers(name) if found["op"] == "EQ" else [value.number(name)]
        return Condition(
            name,
            "sensor_number",
            op=found["op"],
            field=found["attr"],
            values=tuple(numbers),
            qualifier=found["uom"],
        )
    if found := _PERC_RANK.match(name):
        return Condition(
            name, "sensor_number", op=found["op"], field="percRank", values=(value.number(name),)
        )
    if found := _HASATTR.match(name):
        return Condition(
            name, "attribute", op="HASATTR", field=found["field"], values=tuple(value.strings(name))
        )
    if found := _EQ_ATTR.match(name):
        return Condition(
            name,
            "attribute",
            op="EQ_ATTR",
            field=found["field"],
            values=tuple(value.strings(name)),
            qualifier=found["attr"],
        )
    if _MASTER_DATA.match(name):
        raise QueryParameterError(
            name,
            "asks for master data of a field tracecode keeps none for: use "
            "HASATTR_<field> or EQ_ATTR_<field>_<attribute> with a field of "
            + ", ".join(MASTER_DATA_FIELDS),
        )
    if found := _EXTENSION.match(name):
        op = found["op"]
        if op == "EXISTS":
            values: tuple[Any, ...] = (value.flag(name),)
        elif op == "EQ":
            values = tuple(value.strings(name))
        else:
            values = (value.one(name),)
        return Condition(
            name,
            "extension",
            op=op,
            field=found["name"],
            values=values,
            scope=_SCOPES[found["scope"]],
            inner=found["inner"] is not None,
        )
    raise QueryParameterError(name, "is not a query parameter of EPCIS 2.0")
