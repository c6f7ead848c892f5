"""Hypothesis strategies for EPCIS events in the internal form, covering every field.

Generated values stay inside what both syntaxes can carry (XML-safe text, NCName
extension names, no arrays directly inside arrays), so that a JSON → XML → JSON round trip
is expected to be lossless.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from epcis import cbv_terms
from epcis.context import make_context

NAMESPACES = {"ex": "https://ns.example.com/epcis/", "acme": "urn:acme:ext"}

_text_chars = st.characters(
    codec="utf-8",
    categories=("L", "N", "P", "Zs"),
    exclude_characters="\x00",
)
text = st.text(_text_chars, min_size=1, max_size=12).map(str.strip).filter(bool)
ncname = st.from_regex(r"[a-z][A-Za-z0-9]{0,8}", fullmatch=True)
serial = st.from_regex(r"[A-Za-z0-9]{1,10}", fullmatch=True)


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, str]:
    """(eventTime, eventTimeZoneOffset) with an offset and 0–6 fraction digits."""
    moment = draw(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1))
    ).replace(tzinfo=UTC)
    minutes = draw(st.integers(-12 * 60, 14 * 60).map(lambda m: m - m % 15))
    offset = timezone(timedelta(minutes=minutes))
    local = moment.astimezone(offset)
    digits = draw(st.integers(0, 6))
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        stamp += "." + f"{local.microsecond:06d}"[:digits]
    sign = "-" if minutes < 0 else "+"
    tz = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return stamp + tz, tz


def epcs() -> st.SearchStrategy[str]:
    sgtin = st.builds(
        lambda item, s: f"urn:epc:id:sgtin:0614141.{item:06d}.{s}", st.integers(0, 999999), serial
    )
    sscc = st.integers(0, 9_999_999_999).map(lambda n: f"urn:epc:id:sscc:0614141.{n:010d}")
    dl = st.builds(lambda s: f"https://id.gs1.org/01/09521234543213/21/{s}", serial)
    cn = st.from_regex(r"8[0-9]{19}", fullmatch=True).map(lambda c: f"urn:tracecode:cn:{c}")
    return st.one_of(sgtin, sscc, dl, cn)


def epc_classes() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(
            lambda item, lot: f"urn:epc:class:lgtin:4012345.{item:06d}.{lot}",
            st.integers(0, 999999),
            serial,
        ),
        st.just("https://id.gs1.org/01/09521234543213/10/LOT1"),
    )


locations = st.builds(lambda n: f"urn:epc:id:sgln:0614141.00001.{n}", st.integers(0, 999))
numbers = st.one_of(
    st.integers(0, 10**9),
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
)


@st.composite
def quantity_elements(draw: st.DrawFn) -> dict[str, Any]:
    element: dict[str, Any] = {"epcClass": draw(epc_classes())}
    if draw(st.booleans()):
        quantity = draw(numbers)
        element["quantity"] = quantity
        # a quantity that is not a whole number needs a unit (EPCIS 2.0)
        if quantity != int(quantity) or draw(st.booleans()):
            element["uom"] = draw(st.sampled_from(["KGM", "LTR", "EA", "MGM"]))
    return element


def cbv_or_uri(terms: frozenset[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(sorted(terms)),
        ncname.map(lambda w: f"https://ns.example.com/voc/{w}"),
    )


@st.composite
def extension_values(draw: st.DrawFn, depth: int = 2) -> Any:
    """A user extension value: text, an object of extensions, or a list of those."""
    if depth <= 0:
        return draw(text)
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(text)
    if choice == 1:
        return draw(extension_objects(depth - 1))
    items = draw(st.lists(st.one_of(text, extension_objects(depth - 1)), min_size=2, max_size=3))
    return items


@st.composite
def extension_objects(draw: st.DrawFn, depth: int = 1) -> dict[str, Any]:
    keys = draw(st.lists(extension_keys(), min_size=1, max_size=3, unique=True))
    return {k: draw(extension_values(depth)) for k in keys}


def extension_keys() -> st.SearchStrategy[str]:
    return st.builds(lambda p, n: f"{p}:{n}", st.sampled_from(sorted(NAMESPACES)), ncname)


@st.composite
def sensor_elements(draw: st.DrawFn) -> dict[str, Any]:
    element: dict[str, Any] = {}
    if draw(st.booleans()):
        stamp, _ = draw(timestamps())
        element["sensorMetadata"] = {
            "time": stamp,
            "deviceID": "urn:epc:id:giai:4000001.111",
            "bizRules": "https://example.com/rules/1",
        }
    reports = []
    for _ in range(draw(st.integers(1, 3))):
        report: dict[str, Any] = {
            "type": draw(st.sampled_from(sorted(cbv_terms.MEASUREMENT_TYPES))),
            "value": draw(numbers),
            "uom": "CEL",
        }
        if draw(st.booleans()):
            report["booleanValue"] = draw(st.booleans())
        if draw(st.booleans()):
            report["stringValue"] = draw(text)
        if draw(st.booleans()):
            report[draw(extension_keys())] = draw(text)
        reports.append(report)
    element["sensorReport"] = reports
    if draw(st.booleans()):
        element[draw(extension_keys())] = draw(extension_values(1))
    return element


def source_destination_lists(role: str) -> st.SearchStrategy[list[dict[str, str]]]:
    """A sourceList or destinationList: one or two typed locations under ``role``."""
    return st.lists(
        st.builds(
            lambda t, x: {"type": t, role: x},
            st.sampled_from(sorted(cbv_terms.SOURCE_DESTINATION_TYPES)),
            locations,
        ),
        min_size=1,
        max_size=2,
    )


@st.composite
def common_fields(draw: st.DrawFn) -> dict[str, Any]:
    stamp, offset = draw(timestamps())
    fields: dict[str, Any] = {"eventTime": stamp, "eventTimeZoneOffset": offset}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "eventID": st.uuids().map(lambda u: f"urn:uuid:{u}"),
        "certificationInfo": st.just("https://accreditation.example.org/cert/1"),
        "bizStep": cbv_or_uri(cbv_terms.BIZ_STEPS),
        "disposition": cbv_or_uri(cbv_terms.DISPOSITIONS),
        "persistentDisposition": st.fixed_dictionaries(
            {
                "set": st.lists(
                    st.sampled_from(sorted(cbv_terms.DISPOSITIONS)),
                    min_size=1,
                    max_size=2,
                    unique=True,
                )
            }
        ),
        "readPoint": locations.map(lambda x: {"id": x}),
        "bizLocation": locations.map(lambda x: {"id": x}),
        "bizTransactionList": st.lists(
            st.builds(
                lambda t, n: {
                    "type": t,
                    "bizTransaction": f"urn:epcglobal:cbv:bt:0614141000005:{n}",
                },
                cbv_or_uri(cbv_terms.BIZ_TRANSACTION_TYPES),
                serial,
            ),
            min_size=1,
            max_size=3,
        ),
        "sourceList": source_destination_lists("source"),
        "destinationList": source_destination_lists("destination"),
        "sensorElementList": st.lists(sensor_elements(), min_size=1, max_size=2),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            fields[name] = draw(strategy)
    if draw(st.booleans()):
        fields["errorDeclaration"] = {
            "declarationTime": draw(timestamps())[0],
            "reason": draw(st.sampled_from(sorted(cbv_terms.ERROR_REASONS))),
        }
    return fields


def _some(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> list[Any]:
    return draw(st.lists(strategy, min_size=1, max_size=4, unique_by=repr))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "ObjectEvent",
                "AggregationEvent",
                "TransactionEvent",
                "TransformationEvent",
                "AssociationEvent",
            ]
        )
    )
    event: dict[str, Any] = {"type": kind, **draw(common_fields())}
    if kind not in ("ObjectEvent", "TransformationEvent"):
        # The GS1 JSON Schema allows persistentDisposition only on these two (the XSD on all).
        event.pop("persistentDisposition", None)
    action = draw(st.sampled_from(["ADD", "OBSERVE", "DELETE"]))
    if kind == "ObjectEvent":
        event["action"] = action
        event["epcList"] = _some(draw, epcs())
        if draw(st.booleans()):
            event["quantityList"] = _some(draw, quantity_elements())
        if action == "ADD" and draw(st.booleans()):
            event["ilmd"] = draw(extension_objects(1))
    elif kind in ("AggregationEvent", "AssociationEvent"):
        event["action"] = action
        event["parentID"] = draw(epcs())
        event["childEPCs"] = _some(draw, epcs())
        if draw(st.booleans()):
            event["childQuantityList"] = _some(draw, quantity_elements())
    elif kind == "TransactionEvent":
        event["action"] = action
        event["bizTransactionList"] = event.get("bizTransactionList") or [
            {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:1"}
        ]
        event["epcList"] = _some(draw, epcs())
    else:
        event["inputEPCList"] = _some(draw, epcs())
        event["outputEPCList"] = _some(draw, epcs())
        if draw(st.booleans()):
            event["inputQuantityList"] = _some(draw, quantity_elements())
        if draw(st.booleans()):
            event["outputQuantityList"] = _some(draw, quantity_elements())
        if draw(st.booleans()):
            event["transformationID"] = "urn:epc:id:gdti:0614141.12345.400"
        if draw(st.booleans()):
            event["ilmd"] = draw(extension_objects(1))
    for key in draw(st.lists(extension_keys(), max_size=3, unique=True)):
        event[key] = draw(extension_values(2))
    return event


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "@context": make_context(NAMESPACES),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00.000Z",
        "epcisBody": {"eventList": draw(st.lists(events(), min_size=1, max_size=3))},
    }
