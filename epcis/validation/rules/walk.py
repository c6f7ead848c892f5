"""Where a document's events are, and the parts of an event the rules look at."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft7Validator

from epcis.problems import pointer_join

Found = tuple[str, str]  # (JSON pointer, message)
EventCheck = Callable[[Mapping[str, Any], str], Iterable[Found]]
DocumentCheck = Callable[[Mapping[str, Any]], Iterable[Found]]

DOCUMENT_TYPES = frozenset({"EPCISDocument", "EPCISQueryDocument"})
QUANTITY_LISTS: tuple[str, ...] = (
    "quantityList",
    "childQuantityList",
    "inputQuantityList",
    "outputQuantityList",
)
_URI_CHECKER = Draft7Validator.FORMAT_CHECKER  # the same "uri" check as the JSON Schema


def iter_events(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(pointer, event) for every event object: an EPCISDocument's or EPCISQueryDocument's
    event list (recognised by ``type`` or, failing that, by ``epcisBody``), or the document
    itself when it is a single event."""
    kind = kind_of(document)
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


def kind_of(node: Mapping[str, Any]) -> str | None:
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
class PerEvent:
    """A rule checked on each event; :func:`check_rules` finds the events once for all."""

    check: EventCheck

    def __call__(self, document: Mapping[str, Any]) -> Iterator[Found]:
        for at, event in iter_events(document):
            yield from self.check(event, at)

    def over(self, events: list[tuple[str, Mapping[str, Any]]]) -> Iterator[Found]:
        for at, event in events:
            yield from self.check(event, at)


def per_event(check: EventCheck) -> DocumentCheck:
    return PerEvent(check)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def non_empty_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0


def is_uri(value: Any) -> bool:
    return isinstance(value, str) and _URI_CHECKER.conforms(value, "uri")


def list_items(event: Mapping[str, Any], at: str, key: str) -> Iterator[tuple[str, Any]]:
    value = event.get(key)
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield pointer_join(at, key, index), item


def sensor_reports(event: Mapping[str, Any], at: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for element_at, element in list_items(event, at, "sensorElementList"):
        if isinstance(element, Mapping):
            for report_at, report in list_items(element, element_at, "sensorReport"):
                if isinstance(report, Mapping):
                    yield report_at, report


def _closest(word: str, choices: Iterable[str]) -> str | None:
    options = sorted(choices)
    for option in options:
        if option.lower() == word.lower():
            return option
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    best = _closest(word, choices)
    return f" (did you mean {best!r}?)" if best else ""
