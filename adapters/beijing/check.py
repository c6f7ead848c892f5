"""What makes a row of a seed-004 table acceptable: every required field present and of its
form, no field the table does not name, lists of the right shape.

:func:`problems` answers with :class:`~epcis.problems.Problem` values whose ``pointer`` is
a JSON pointer into the row (``/epcList/2``, ``/bizTransactionList/0/type``); the stand-in
prefixes the row's place in its message and, for XML, turns it into the element path
(:func:`adapters.beijing.render.element_path`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from lxml import etree

from adapters.beijing.tables import Field, Kind, Need, Table
from epcis.problems import Problem, excerpt, pointer_join
from epcis.validation.rules.times import offset_problem, timestamp_problem

RULE = "beijing"

_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_DIGITS = re.compile(r"^\d+$")


def problems(table: Table, row: Any, at: str = "") -> list[Problem]:
    """Everything wrong with ``row`` as a row of ``table`` (empty: acceptable)."""
    if not isinstance(row, Mapping):
        return [_problem(at, f"a row of table {table.number} must be an object")]
    found = list(_fields(table.fields, row, at))
    if table.one_of and not any(_given(row.get(name)) for name in table.one_of):
        names = " or ".join(table.one_of)
        found.append(_problem(at, f"table {table.number} needs {names}: neither is given"))
    return found


def _given(value: Any) -> bool:
    return value not in (None, "", [], {})


def _problem(pointer: str, message: str) -> Problem:
    return Problem(message, pointer=pointer, rule=RULE)


def _fields(fields: tuple[Field, ...], value: Mapping[Any, Any], at: str) -> Iterator[Problem]:
    named = {field.name for field in fields}
    for field in fields:
        where = pointer_join(at, field.name)
        if field.name not in value:
            if field.need is Need.YES:
                yield _problem(where, f"{field.name} ({field.zh}) is required")
            continue
        yield from _value(field, value[field.name], where)
    for name in value:
        if name not in named:
            known = ", ".join(sorted(named))
            yield _problem(
                pointer_join(at, str(name)), f"{excerpt(str(name))} is not a field here ({known})"
            )


def _value(field: Field, value: Any, at: str) -> Iterator[Problem]:
    checks = {
        Kind.TEXT: _text,
        Kind.NUMBER: _number,
        Kind.DATE_TIME: _date_time,
        Kind.OFFSET: _offset,
        Kind.DATE: _date,
        Kind.COUNT: _count,
        Kind.LOCATION: _location,
        Kind.EPC_LIST: _strings,
        Kind.TYPED_LIST: _typed_list,
        Kind.OBJECT: _object,
        Kind.FREE_OBJECT: _free_object,
        Kind.REPEATED_TEXT: _strings,
    }
    yield from checks[field.kind](field, value, at)


def _text_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {excerpt(value)}"
    if not value.strip():
        return "must not be empty"
    return None


def _text(field: Field, value: Any, at: str) -> Iterator[Problem]:
    problem = _text_problem(value)
    if problem:
        yield _problem(at, f"{field.name} {problem}")
    elif field.allowed and value not in field.allowed:
        yield _problem(
            at, f"{field.name} {excerpt(value)} is not one of {', '.join(field.allowed)}"
        )


def _number(field: Field, value: Any, at: str) -> Iterator[Problem]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        yield _problem(
            at, f"{field.name} must be a whole number of at least 1, got {excerpt(value)}"
        )


def _date_time(field: Field, value: Any, at: str) -> Iterator[Problem]:
    problem = timestamp_problem(value)
    if problem:
        yield _problem(at, f"{field.name} {problem}")


def _offset(field: Field, value: Any, at: str) -> Iterator[Problem]:
    problem = offset_problem(value)
    if problem:
        yield _problem(at, f"{field.name} {problem}")


def _date(field: Field, value: Any, at: str) -> Iterator[Problem]:
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        yield _problem(
            at, f"{field.name} must be a date like 2022-06-30 or 20210701, got {excerpt(value)}"
        )
        return
    try:
        date(*(int(part) for part in match.groups()))
    except ValueError as exc:
        yield _problem(at, f"{field.name} {excerpt(value)} is not a real date ({exc})")


def _count(field: Field, value: Any, at: str) -> Iterator[Problem]:
    if not isinstance(value, str) or not _DIGITS.match(value):
        yield _problem(
            at, f"{field.name} must be a string of digits like '100', got {excerpt(value)}"
        )


def _location(field: Field, value: Any, at: str) -> Iterator[Problem]:
    if not isinstance(value, Mapping):
        yield _problem(at, f'{field.name} must be an object {{"id": …}}, got {excerpt(value)}')
        return
    yield from _fields((Field("id", field.zh, Kind.TEXT, Need.YES),), value, at)


def _list(field: Field, value: Any, at: str) -> Iterator[Problem]:
    if not isinstance(value, list):
        yield _problem(at, f"{field.name} must be a list, got {excerpt(value)}")
    elif not value and field.need is Need.YES and field.item_need is Need.YES:
        yield _problem(at, f"{field.name} must not be empty")


def _strings(field: Field, value: Any, at: str) -> Iterator[Problem]:
    """A list of codes (EPC_LIST) or of serial numbers (REPEATED_TEXT)."""
    shape = list(_list(field, value, at))
    yield from shape
    if shape or not isinstance(value, list):
        return
    for index, text in enumerate(value):
        problem = _text_problem(text)
        if problem is None and text != text.strip():
            problem = "must not start or end with spaces"
        if problem:
            yield _problem(pointer_join(at, index), f"{field.item or field.name} {problem}")


def _typed_list(field: Field, value: Any, at: str) -> Iterator[Problem]:
    if not isinstance(value, list):
        yield _problem(at, f"{field.name} must be a list, got {excerpt(value)}")
        return
    types = {member.type for member in field.members}
    seen: set[str] = set()
    for index, entry in enumerate(value):
        where = pointer_join(at, index)
        if not isinstance(entry, Mapping):
            yield _problem(where, f'{field.item} must be an object {{"type", "{field.value_key}"}}')
            continue
        shape = (
            Field("type", "", Kind.TEXT, Need.YES),
            Field(field.value_key, "", Kind.TEXT, Need.YES),
        )
        yield from _fields(shape, entry, where)
        kind = entry.get("type")
        if isinstance(kind, str):
            seen.add(kind)
            if types and kind not in types:
                listed = ", ".join(sorted(types))
                yield _problem(
                    pointer_join(where, "type"),
                    f"{field.item} type {excerpt(kind)} is not one the table lists ({listed})",
                )
    for member in field.members:
        if member.need is Need.YES and member.type not in seen:
            yield _problem(at, f"{field.name} needs an entry of type {member.type} ({member.zh})")


def _object(field: Field, value: Any, at: str) -> Iterator[Problem]:
    if not isinstance(value, Mapping):
        yield _problem(at, f"{field.name} must be an object, got {excerpt(value)}")
        return
    yield from _fields(field.children, value, at)


def _free_object(field: Field, value: Any, at: str) -> Iterator[Problem]:
    if not isinstance(value, Mapping) or not value:
        yield _problem(at, f"{field.name} must be an object with at least one member")
        return
    for name, member in value.items():
        where = pointer_join(at, str(name))
        if not _xml_name(str(name)):
            yield _problem(where, f"{excerpt(str(name))} cannot be a member name (not an XML name)")
        problem = _text_problem(member)
        if problem:
            yield _problem(where, f"{name} {problem}")


def _xml_name(name: str) -> bool:
    try:
        etree.Element(name)
    except ValueError:
        return False
    return ":" not in name
