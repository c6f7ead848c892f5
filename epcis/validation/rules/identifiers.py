"""Rules on the identifiers an event carries: within their standard's limits, and GS1
keys in Digital Links with the right check digit."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from epcis.identifiers.limits import PLAINLY_WITHIN, check_digit_problem, limit_problem
from epcis.problems import pointer_join
from epcis.validation.rules.walk import QUANTITY_LISTS, Found

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


def identifier_limits(event: Mapping[str, Any], at: str) -> Iterator[Found]:
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


def check_digits(event: Mapping[str, Any], at: str) -> Iterator[Found]:
    # Only http(s) values can be Digital Links: one prefix test decides nearly every value.
    for value, path in _identifiers(event):
        if isinstance(value, str) and value[:4].lower() == "http":
            problem = check_digit_problem(value)
            if problem is not None:
                yield pointer_join(at, *path), problem
