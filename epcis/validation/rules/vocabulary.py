"""Rules on words: CBV values as the JSON binding spells them, and declared prefixes."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from epcis import cbv
from epcis.context import BUILTIN_PREFIXES, namespaces
from epcis.event_types import EVENT_TYPES
from epcis.problems import pointer_join
from epcis.validation.rules.walk import (
    DOCUMENT_TYPES,
    Found,
    did_you_mean,
    iter_events,
    kind_of,
    list_items,
    sensor_reports,
)

_CBV_URN = "urn:epcglobal:cbv:"
_GS1_VOC = re.compile(r"^https?://(www\.)?gs1\.org/voc/")
_ABSOLUTE_IRI_PREFIXES = frozenset({"urn", "http", "https"})


def cbv_values(event: Mapping[str, Any], at: str) -> Iterator[Found]:
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
            for item_at, item in list_items(
                persistent, pointer_join(at, "persistentDisposition"), key
            ):
                yield item_at, item, cbv.DISPOSITION
    for key in ("bizTransactionList", "sourceList", "destinationList"):
        for item_at, item in list_items(event, at, key):
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
    for report_at, report in sensor_reports(event, at):
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
            f"{vocabulary.name} term{did_you_mean(word, vocabulary.terms)}"
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
        f"{value!r} is not a CBV {vocabulary.name} term{did_you_mean(value, vocabulary.terms)};"
        " a non-standard value must be a URI"
    )


def extension_prefixes(document: Mapping[str, Any]) -> Iterator[Found]:
    declared = set(BUILTIN_PREFIXES) | set(namespaces(dict(document)))
    yield from _undeclared_keys(document, "", declared)
    for at, event in iter_events(document):
        kind = kind_of(event)
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
