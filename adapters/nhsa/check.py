"""What is wrong with a 医保 request, field by field, against the tables of :mod:`.fields`.

The stand-in platform refuses what this finds, and the message builders assert that what
they make passes it: one reading of the spec for both sides. Each problem names the field
by its JSON pointer into the request (``/input/selinfo/setl_id``,
``/input/invinfoDetail/2/drug_trac_info/0/drug_trac_codg``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.nhsa.fields import Field, Message, Tables, load
from epcis.problems import Problem, excerpt

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
Row = Mapping[str, Any]


def pointer(*parts: str | int) -> str:
    """An RFC 6901 pointer of ``parts`` (``~`` and ``/`` escaped)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def problems(message: Any, tables: Tables | None = None) -> list[Problem]:
    """Every problem of a whole request (envelope and input), in the request's order."""
    tables = tables or load()
    if not isinstance(message, dict):
        return [Problem("the request must be a JSON object", pointer="")]
    infno = message.get("infno")
    spec = tables.messages.get(infno) if isinstance(infno, str) else None
    rows = _rows(message.get("input"), spec)
    found = _fields(message, tables.envelope, "", rows, tables, "the envelope")
    found += _infno(infno, spec, tables)
    found += _msgid(message, tables)
    if spec is not None and isinstance(message.get("input"), dict):
        found += _input(message["input"], spec, tables)
    return found


def _rows(node: Any, spec: Message | None) -> list[Row]:
    """The input's rows (for conditions on the envelope): the node, or the batch's list."""
    value = node.get(spec.node) if isinstance(node, dict) and spec is not None else None
    if isinstance(value, dict):
        return [value]
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _infno(infno: Any, spec: Message | None, tables: Tables) -> list[Problem]:
    if spec is not None or not isinstance(infno, str) or infno == "":
        return []  # missing or not text: said by the envelope's fields
    known = ", ".join(tables.messages)
    return [Problem(f"{excerpt(infno)} is not an infno of the tables ({known})", "/infno")]


def _msgid(message: Row, tables: Tables) -> list[Problem]:
    """``msgid`` = fixmedins_code (12) + yyyyMMddHHmmss + a 4-digit sequence."""
    form, msgid = tables.msgid, message.get("msgid")
    if not isinstance(msgid, str) or msgid == "":
        return []
    shape = (
        f"{form.prefix_field} ({form.prefix_length}) + time ({form.time_length}) + "
        f"sequence ({form.sequence_digits} digits)"
    )
    if len(msgid) != form.length:
        return [Problem(f"{excerpt(msgid)}: {form.length} characters: {shape}", "/msgid")]
    found = []
    prefix, stamp = msgid[: form.prefix_length], msgid[form.prefix_length : -form.sequence_digits]
    institution = message.get(form.prefix_field)
    if isinstance(institution, str) and prefix != institution:
        said = f"{excerpt(msgid)} must begin with {form.prefix_field} {excerpt(institution)}"
        if len(institution) != form.prefix_length:
            said += f" ({form.prefix_length} characters)"
        found.append(Problem(said, "/msgid"))
    try:
        datetime.strptime(stamp, form.time_format)
        good_time = stamp.isdigit()
    except ValueError:
        good_time = False
    if not good_time:
        found.append(Problem(f"{excerpt(msgid)}: {stamp!r} is not a time ({shape})", "/msgid"))
    if not msgid[-form.sequence_digits :].isdigit():
        said = f"{excerpt(msgid)}: must end in a sequence number ({shape})"
        found.append(Problem(said, "/msgid"))
    return found


def _input(node: Row, spec: Message, tables: Tables) -> list[Problem]:
    """The input carries exactly the infno's node: one row, or (A variants) a list of rows."""
    carries = f"infno {spec.infno} carries {spec.node}"
    found = [
        Problem(f"{carries}, not {excerpt(key)}", pointer("input", key))
        for key in node
        if key != spec.node
    ]
    where = pointer("input", spec.node)
    if spec.node not in node:
        return [*found, Problem(f"required: {carries}", where)]
    value, label = node[spec.node], f"{spec.infno} {spec.node}"
    if not spec.batch:
        if not isinstance(value, dict):
            return [*found, Problem(f"must be an object (one row), not {excerpt(value)}", where)]
        return found + _fields(value, spec.fields, where, [value], tables, label)
    if not isinstance(value, list) or not value:
        return [*found, Problem("must be a list of at least one row", where)]
    for index, row in enumerate(value):
        at = f"{where}/{index}"
        if not isinstance(row, dict):
            found.append(Problem(f"a row must be an object, not {excerpt(row)}", at))
        else:
            found += _fields(row, spec.fields, at, [row], tables, label)
    return found


def _fields(
    row: Row, fields: Mapping[str, Field], at: str, rows: Sequence[Row], tables: Tables, label: str
) -> list[Problem]:
    """Unknown fields, missing required ones, and each present value against its type."""
    found = [
        Problem(f"not a field of {label}", f"{at}{pointer(name)}")
        for name in row
        if name not in fields
    ]
    for name, spec in fields.items():
        value = row.get(name)
        if value is None or value == "":
            if spec.required.applies(row, rows):
                reason = spec.required.describe(tables.values)
                where = at + pointer(name)
                found.append(Problem(f"{reason}: {spec.label} ({spec.kind})", where))
        else:
            found += _value(spec, value, at, tables)
    return found


def _value(spec: Field, value: Any, parent: str, tables: Tables) -> list[Problem]:
    """The problems of a present value (its pointer made only when there is one: this
    halves the check of a good message)."""
    wrong = CHECKS[spec.type](spec, value)
    if wrong:
        said = f"{excerpt(value)}: {wrong} ({spec.label}, {spec.kind})"
        return [Problem(said, parent + pointer(spec.name))]
    if spec.values and value not in spec.values:
        codes = ", ".join(f"{k} {v}" for k, v in spec.values.items())
        said = f"{excerpt(value)} is not one of {codes} ({spec.label})"
        return [Problem(said, parent + pointer(spec.name))]
    if spec.type == "list":
        at = parent + pointer(spec.name)
        return [
            p
            for index, item in enumerate(value)
            for p in _fields(item, spec.items, f"{at}/{index}", [item], tables, spec.name)
        ]
    return []


def _text(spec: Field, value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    if spec.length is not None and len(value) > spec.length:
        return f"{len(value)} characters, at most {spec.length}"
    return None


def _number(spec: Field, value: Any) -> str | None:
    """A JSON number with at most ``scale`` decimals and ``precision - scale`` integer
    digits (trailing zeros do not count: 1.50 is 1.5)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return "must be a number"
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value)
        if not number.is_finite():
            return "must be a finite number"
        _, digits, exponent = number.normalize().as_tuple()
    except InvalidOperation:
        return "must be a number"
    assert isinstance(exponent, int)
    decimals = max(-exponent, 0)
    whole = len(digits) + exponent if exponent >= 0 else max(len(digits) - decimals, 0)
    precision, scale = spec.precision or 0, spec.scale or 0
    if decimals > scale:
        return f"{decimals} decimals, at most {scale}"
    if whole > precision - scale:
        return f"{whole} integer digits, at most {precision - scale}"
    return None


def _date(spec: Field, value: Any) -> str | None:
    if not isinstance(value, str) or not DATE.fullmatch(value):
        return "must be a date yyyy-MM-dd"
    try:
        date.fromisoformat(value)
    except ValueError:
        return "not a day of the calendar"
    return None


def _datetime(spec: Field, value: Any) -> str | None:
    if not isinstance(value, str) or not DATETIME.fullmatch(value):
        return "must be a time yyyy-MM-dd HH:mm:ss"
    try:
        datetime.fromisoformat(value)  # the form is checked above; strptime: 20 µs, this: 0.4
    except ValueError:
        return "not a time of the calendar"
    return None


def _list(spec: Field, value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        return f"must be a list of objects {{{', '.join(spec.items)}}}"
    return None


def _node(spec: Field, value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))
    if spec.length is not None and size > spec.length:
        return f"{size} characters of JSON, at most {spec.length}"
    return None


CHECKS: dict[str, Callable[[Field, Any], str | None]] = {
    "C": _text,
    "N": _number,
    "D": _date,
    "DT": _datetime,
    "list": _list,
    "node": _node,
}
