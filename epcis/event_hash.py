"""The EPCIS Event Hash ID of CBV 2.0 (``ni:///sha-256;<hex>?ver=CBV2.0``).

The hash is computed from the *pre-hash string*: the event's fields in a canonical order,
``name=value`` pairs concatenated with no separator, with every value canonicalised (UTC
millisecond timestamps, numbers without trailing zeros, CBV values as Web URIs, CURIEs and
extension names expanded, EPC URNs and Digital Links as constrained canonical GS1 Digital
Link URIs). It works on the JSON-LD form (see ``docs/epcis-internal-form.md``), so an event
read from XML and the same event read from JSON-LD give the same hash.

Where the CBV text and the public reference implementation (RalphTro/epcis-event-hash-generator)
differ, the GS1 test vectors follow the reference implementation, and so do we:

* ``certificationInfo`` and ``parentID`` come before ``epcList`` in the canonical order;
* ``bizTransactionList``, ``sourceList``, ``destinationList`` and ``ilmd`` are not placed at
  their positions of the canonical order table but sorted with the user extensions that
  follow the ordered fields (each business transaction, source and destination is written
  ``type=…`` then its value);
* a document-level field ``{https://repository-x.example.com/}ignoreFields`` lists extension
  fields to leave out of the hash (a convention of the reference implementation's tests).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from epcis import cbv
from epcis.context import BUILTIN_PREFIXES, STANDARD_NAMESPACES, lift_scoped_contexts, namespaces
from epcis.identifiers import canonical_digital_link

HASH_VERSION = "CBV2.0"
IGNORE_FIELDS_NAMESPACE = "https://repository-x.example.com/"

# Fields never hashed: they are about the record, not the event.
_NOT_HASHED = frozenset({"type", "eventID", "recordTime", "errorDeclaration", "@context"})
# Comments are annotations, not event data.
_COMMENTS = frozenset({"rdfs:comment", "comment"})

_QUANTITY_ORDER = ("epcClass", "quantity", "uom")
_SENSOR_METADATA_ORDER = (
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
)
_SENSOR_REPORT_ORDER = (
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "time",
    "microorganism",
    "chemicalSubstance",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
    "uom",
    "coordinateReferenceSystem",
)
_EPC_LISTS = ("epcList", "inputEPCList", "childEPCs", "outputEPCList")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_ORDERED_FIELDS = (
    "eventTime",
    "eventTimeZoneOffset",
    "certificationInfo",
    "parentID",
    "epcList",
    "inputEPCList",
    "childEPCs",
    "quantityList",
    "childQuantityList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
    "action",
    "transformationID",
    "bizStep",
    "disposition",
    "persistentDisposition",
    "readPoint",
    "bizLocation",
    "sensorElementList",
)
_NUMBER_START = frozenset("0123456789+-._")

# A structure's pre-hash string, and the strings of its members hashed after the ordered fields.
Rendered = tuple[str, list[str]]

_VALUE_PREFIXES = {p: BUILTIN_PREFIXES[p] for p in ("cbv", "gs1", "epcis")}
_TYPED_LISTS = {
    "bizTransactionList": "bizTransaction",
    "sourceList": "source",
    "destinationList": "destination",
}


def event_hash_id(prehash: str) -> str:
    """The ``ni:`` URI of a pre-hash string."""
    digest = hashlib.sha256(prehash.encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_VERSION}"


def document_hash_ids(document: Mapping[str, Any]) -> list[str]:
    """The Event Hash ID of every event of a JSON-LD form document, in document order."""
    return [event_hash_id(p) for p in document_prehashes(document)]


def document_prehashes(document: Mapping[str, Any]) -> list[str]:
    document, _ = lift_scoped_contexts(dict(document))
    hasher = EventHasher.for_document(document)
    return [hasher.prehash(event) for event in events_of(document)]


def events_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The events of an EPCISDocument or EPCISQueryDocument (or a body with one ``event``)."""
    body = document.get("epcisBody") or {}
    if "eventList" in body:
        return list(body["eventList"] or [])
    if "queryResults" in body:
        return list(((body["queryResults"] or {}).get("resultsBody") or {}).get("eventList") or [])
    if "event" in body:
        return [body["event"]]
    return []


class EventHasher:
    """Computes pre-hash strings of events that share one set of namespace prefixes."""

    def __init__(self, prefixes: Mapping[str, str], ignore: Iterable[str] = ()) -> None:
        # An undeclared standard prefix names what the XML binding spells it as (cbvmda:
        # urn:epcglobal:cbv:mda), so that one event has one hash in either syntax.
        self._prefixes = {**STANDARD_NAMESPACES, **prefixes}
        self._ignore = frozenset(self.expand_name(name) for name in ignore)

    @classmethod
    def for_document(cls, document: Mapping[str, Any]) -> EventHasher:
        prefixes = namespaces(dict(document))
        probe = cls(prefixes)
        ignore: list[str] = []
        holders = [document, (document.get("epcisBody") or {}).get("queryResults") or {}]
        for holder in holders:
            for key, value in holder.items():
                if probe.expand_name(key) == "{" + IGNORE_FIELDS_NAMESPACE + "}ignoreFields":
                    ignore.extend(_names_listed(value))
        return cls(prefixes, ignore)

    def hash_id(self, event: Mapping[str, Any]) -> str:
        return event_hash_id(self.prehash(event))

    # -- names and values -------------------------------------------------------------

    def expand_name(self, key: str) -> str:
        """``prefix:local`` → ``{namespace}local`` for a declared prefix; else unchanged."""
        prefix, sep, local = key.partition(":")
        if sep and prefix in self._prefixes and not local.startswith("//"):
            return "{" + self._prefixes[prefix] + "}" + local
        return key

    @staticmethod
    def expand_curie(value: str) -> str:
        """Expand a value written with a standard prefix (``cbv:``, ``gs1:``, ``epcis:``).

        Values with a document's own prefixes stay as written: the XML binding cannot tell
        a CURIE from a URI with an unusual scheme, and the test vectors keep them.
        """
        prefix, sep, rest = value.partition(":")
        if sep and prefix in _VALUE_PREFIXES and not rest.startswith("//"):
            return _VALUE_PREFIXES[prefix] + rest
        return value

    def value(self, raw: Any, vocabulary: cbv.Vocabulary | None = None) -> str:
        """A canonical non-time value, or ``""`` for an empty one."""
        text = _lexical(raw).strip()
        if not text:
            return ""
        if vocabulary is not None:
            text = vocabulary.to_web_uri(text)
        text = self.expand_curie(text)
        text = cbv.urn_to_web_uri(text)
        text = _canonical_number(text)
        return canonical_digital_link(text) or text

    # -- the pre-hash string ----------------------------------------------------------

    def prehash(self, event: Mapping[str, Any]) -> str:
        parts = ["eventType=" + str(event.get("type", ""))]
        rest: list[str] = []
        for field in _ORDERED_FIELDS:
            if field in event:
                ordered, leftover = self._ordered_field(field, event[field])
                parts.append(ordered)
                if leftover:
                    rest.append(field + "".join(sorted(leftover)))
        for key, value in event.items():
            if key in _NOT_HASHED or key in _ORDERED_FIELDS or key in _COMMENTS:
                continue
            name = self.expand_name(key)
            if name in self._ignore:
                continue
            rest.extend(self._generic(key, name, value))
        rest.sort()
        return "".join(parts) + "".join(rest)

    def _ordered_field(self, field: str, value: Any) -> Rendered:
        """A field of the canonical order: its string, and what of it is left for the end."""
        if field == "eventTime":
            return _pair(field, _canonical_time(value)), []
        if field in _EPC_LISTS:
            items = sorted(_pair("epc", self.value(v)) for v in _as_list(value))
            return (field + "".join(items) if "".join(items) else ""), []
        if field in _QUANTITY_LISTS:
            return self._list(
                field,
                "quantityElement",
                [self._structure("quantityElement", q, _QUANTITY_ORDER) for q in _as_list(value)],
            )
        if field == "persistentDisposition":
            return self._structure(field, value, ("set", "unset"))
        if field in ("readPoint", "bizLocation"):
            return self._structure(field, value, ("id",))
        if field == "sensorElementList":
            return self._list(
                field, "sensorElement", [self._sensor_element(e) for e in _as_list(value)]
            )
        vocabulary = cbv.FIELD_VOCABULARY.get(field)
        return "".join(_pair(field, self.value(v, vocabulary)) for v in _as_list(value)), []

    @staticmethod
    def _list(field: str, item_name: str, items: list[Rendered]) -> Rendered:
        ordered = sorted(text for text, _ in items if text)
        leftover = [item_name + "".join(sorted(left)) for _, left in items if left]
        return (field + "".join(ordered) if ordered else ""), leftover

    def _structure(self, name: str, obj: Any, order: tuple[str, ...]) -> Rendered:
        """``name`` + its ordered members + its user extensions, sorted.

        Members that are neither ordered nor user extensions (in a namespace ending in
        ``/``) are not part of the structure's string: they are returned as left over and
        hashed, under the structure's name, after the ordered fields.
        """
        if not isinstance(obj, Mapping):
            return _pair(name, self.value(obj)), []
        parts: list[str] = []
        for member in order:
            if member not in obj:
                continue
            values = [self._member(name, member, v) for v in _as_list(obj[member])]
            parts.extend(sorted(v for v in values if v))
        gathered, leftover = self._others(obj, order)
        body = "".join(parts) + "".join(sorted(gathered))
        return (name + body if body else ""), leftover

    def _others(
        self, obj: Mapping[str, Any], known: tuple[str, ...]
    ) -> tuple[list[str], list[str]]:
        """Strings of the members not in ``known``: (user extensions, everything else)."""
        others = [
            (key, value)
            for key, value in obj.items()
            if key not in known and key not in _COMMENTS and key != "#text"
        ]
        # The reference gathers extensions only where the element has more than one child.
        children = sum(len(_as_list(v)) for k, v in obj.items() if k not in _COMMENTS)
        gathered: list[str] = []
        leftover: list[str] = []
        for key, value in others:
            name = self.expand_name(key)
            strings = list(self._generic(key, name, value))
            is_extension = name.startswith("{") and "/}" in name
            (gathered if is_extension and children > 1 else leftover).extend(strings)
        return gathered, leftover

    def _member(self, parent: str, member: str, value: Any) -> str:
        if "time" in member.lower():
            return _pair(member, _canonical_time(value))
        if member == "type" and parent == "sensorReport":
            return _pair(member, self.value(value, cbv.MEASUREMENT_TYPE))
        return _pair(member, self.value(value, cbv.FIELD_VOCABULARY.get(member)))

    def _sensor_element(self, element: Any) -> Rendered:
        if not isinstance(element, Mapping):
            return "", []
        parts: list[str] = []
        leftover: list[str] = []
        if "sensorMetadata" in element:
            text, left = self._structure(
                "sensorMetadata", element["sensorMetadata"], _SENSOR_METADATA_ORDER
            )
            parts.append(text)
            if left:
                leftover.append("sensorMetadata" + "".join(sorted(left)))
        reports = [
            self._structure("sensorReport", r, _SENSOR_REPORT_ORDER)
            for r in _as_list(element.get("sensorReport"))
        ]
        parts.extend(sorted(text for text, _ in reports))
        leftover.extend("sensorReport" + "".join(sorted(left)) for _, left in reports if left)
        gathered, others = self._others(element, ("sensorMetadata", "sensorReport"))
        leftover.extend(others)
        body = "".join(parts) + "".join(sorted(gathered))
        return ("sensorElement" + body if body else ""), leftover

    def _generic(self, key: str, name: str, value: Any) -> Iterator[str]:
        """Strings of a field outside the canonical order: one per element (lists repeat)."""
        if key in _TYPED_LISTS:
            yield name + "".join(sorted(self._typed(_TYPED_LISTS[key], e) for e in _as_list(value)))
            return
        for item in _as_list(value):
            if isinstance(item, Mapping):
                text = self.value(item.get("#text"))
                children: list[str] = []
                for child_key, child_value in item.items():
                    if child_key == "#text" or child_key in _COMMENTS:
                        continue
                    children.extend(
                        self._generic(child_key, self.expand_name(child_key), child_value)
                    )
                yield name + _assign(text) + "".join(sorted(children))
            else:
                yield name + _assign(self.value(item))

    def _typed(self, member: str, entry: Any) -> str:
        """A business transaction, source or destination: ``type=…`` then the value."""
        if not isinstance(entry, Mapping):
            return _pair(member, self.value(entry))
        vocabulary = cbv.TYPE_VOCABULARY_BY_PARENT[member + "List"]
        return _pair("type", self.value(entry.get("type"), vocabulary)) + _pair(
            member, self.value(entry.get(member))
        )


def _names_listed(value: Any) -> list[str]:
    """The field names an ``ignoreFields`` entry lists, as a JSON array or XML children."""
    if isinstance(value, Mapping):
        return [k for k in value if not k.startswith("@")]
    return [v for v in _as_list(value) if isinstance(v, str)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _pair(name: str, value: str) -> str:
    return f"{name}={value}" if value else ""


def _assign(value: str) -> str:
    return "=" + value if value else ""


def _lexical(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if raw is None:
        return ""
    return str(raw)


def _canonical_number(text: str) -> str:
    """Numbers lose trailing zeros and a leading ``+`` (``1.0`` → ``1``); other text is kept."""
    if text[0] not in _NUMBER_START:
        return text  # cheap test first: most values are URIs
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    if number == int(number):
        return str(int(number))
    return repr(number)


def _canonical_time(raw: Any) -> str:
    """UTC with exactly three fraction digits, rounding half up on the fourth (CBV 2.0 rule 9)."""
    text = _lexical(raw).strip()
    try:
        moment = _parse_timestamp(text)
    except ValueError:
        return text
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_timestamp(text: str) -> datetime:
    """Parse an xsd:dateTime with any number of fraction digits; no offset means UTC."""
    body, fraction = text, Decimal(0)
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        if digits == 0:
            raise ValueError(text)
        fraction = Decimal("0." + tail[:digits])
        body = head + tail[digits:]
    if body.endswith(("Z", "z")):
        body = body[:-1] + "+00:00"
    moment = datetime.fromisoformat(body)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    millis = int((fraction * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return moment.astimezone(UTC) + timedelta(milliseconds=millis)
