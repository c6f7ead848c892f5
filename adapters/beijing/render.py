"""Messages of seed-004 table rows, in JSON and in XML, and back.

A message is one table's rows under a message id (the seed gives no envelope; this one is
ours, README "The stand-in Beijing platform"):

* JSON: ``{"table": "receiving", "id": "…", "rows": [{…}, …]}``, each row as the seed
  names its fields;
* XML: ``<message table="receiving" id="…"><row>…</row>…</message>``, each field an element
  named as the field (prefixed names in their namespaces, :data:`tables.NAMESPACES`): lists
  of codes ``<epcList><epc>…</epc></epcList>``, typed lists
  ``<bizTransactionList><bizTransaction type="…">…</bizTransaction></bizTransactionList>``,
  ``<bizLocation><id>…</id></bizLocation>``, objects as elements holding their members,
  and ``SerialNumber`` repeated once per number.

Reading XML keeps whatever it finds (unknown elements included) so that :mod:`check` can
name it; what cannot be a value at all (an element inside text, a field given twice) is a
problem of the reading, with its element path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from adapters.beijing.tables import BY_KEY, NAMESPACES, Field, Kind, Table
from epcis.problems import DocumentError, Problem, excerpt
from epcis.xmlbinding.safe import parse_xml

ROOT = "message"
ROW = "row"
_PREFIXES = {uri: prefix for prefix, uri in NAMESPACES.items()}
_INTEGER = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class Message:
    table: Table
    id: str
    rows: list[dict[str, Any]]


def _refused(message: str, where: Mapping[str, str]) -> DocumentError:
    """``where``: ``{"pointer": …}`` (JSON) or ``{"path": …}`` (XML)."""
    at = {"pointer": where.get("pointer"), "path": where.get("path")}
    return DocumentError(
        [Problem(message, at["pointer"], path=at["path"], rule="beijing-envelope")]
    )


def _table(key: Any, where: Mapping[str, str]) -> Table:
    table = BY_KEY.get(key) if isinstance(key, str) else None
    if table is None:
        raise _refused(f"table {excerpt(key)}: not one of {', '.join(BY_KEY)}", where)
    return table


def _message_id(value: Any, where: Mapping[str, str]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _refused(f"id must be a non-empty string, got {excerpt(value)}", where)
    return value


# ---- JSON ----


def to_json(message: Message) -> bytes:
    body = {"table": message.table.key, "id": message.id, "rows": message.rows}
    return json.dumps(body, ensure_ascii=False).encode()


def from_json(body: bytes) -> Message:
    """The message in a JSON body; :class:`DocumentError` when its envelope is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentError.single(f"not JSON: {exc}", pointer="", rule="json-syntax") from None
    if not isinstance(data, dict):
        raise DocumentError.single('a message is an object {"table", "id", "rows"}', pointer="")
    table = _table(data.get("table"), {"pointer": "/table"})
    message_id = _message_id(data.get("id"), {"pointer": "/id"})
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise _refused("rows must be a non-empty list", {"pointer": "/rows"})
    for name in sorted(set(data) - {"table", "id", "rows"}):
        raise _refused(f"{excerpt(name)} is not part of a message", {"pointer": f"/{name}"})
    return Message(table, message_id, rows)


# ---- XML, written ----


def _tag(name: str) -> str:
    prefix, colon, local = name.partition(":")
    return f"{{{NAMESPACES[prefix]}}}{local}" if colon and prefix in NAMESPACES else name


def to_xml(message: Message) -> bytes:
    root = etree.Element(ROOT, nsmap=NAMESPACES)
    root.set("table", message.table.key)
    root.set("id", message.id)
    for row in message.rows:
        root.append(row_to_xml(message.table, row))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def row_to_xml(table: Table, row: Mapping[str, Any]) -> etree._Element:
    element = etree.Element(ROW)
    _write_fields(element, table.fields, row)
    return element


def _write_fields(
    parent: etree._Element, fields: Sequence[Field], value: Mapping[str, Any]
) -> None:
    by_name = {field.name: field for field in fields}
    for name, member in value.items():
        field = by_name.get(name)
        if field is None:
            etree.SubElement(parent, _tag(name)).text = str(member)
        else:
            _write(parent, field, member)


def _write(parent: etree._Element, field: Field, value: Any) -> None:
    if field.kind is Kind.REPEATED_TEXT:
        for text in value:
            etree.SubElement(parent, _tag(field.name)).text = str(text)
        return
    element = etree.SubElement(parent, _tag(field.name))
    if field.kind is Kind.EPC_LIST:
        for code in value:
            etree.SubElement(element, field.item).text = str(code)
    elif field.kind is Kind.TYPED_LIST:
        for entry in value:
            item = etree.SubElement(element, field.item, type=str(entry["type"]))
            item.text = str(entry[field.value_key])
    elif field.kind is Kind.OBJECT:
        _write_fields(element, field.children, value)
    elif field.kind in (Kind.LOCATION, Kind.FREE_OBJECT):
        for name, text in value.items():
            etree.SubElement(element, name).text = str(text)
    else:
        element.text = str(value)


# ---- XML, read ----


def from_xml(body: bytes) -> tuple[Message, list[Problem]]:
    """The message in an XML body, and what in its rows could not be read as values (with
    element paths); :class:`DocumentError` when the body is no message at all."""
    root = parse_xml(body)
    if root.tag != ROOT:
        raise DocumentError.single(
            f"the root element must be <{ROOT}>, not <{_name(root)}>", path="/"
        )
    table = _table(root.get("table"), {"path": f"/{ROOT}/@table"})
    message_id = _message_id(root.get("id"), {"path": f"/{ROOT}/@id"})
    rows: list[dict[str, Any]] = []
    found: list[Problem] = []
    for index, child in enumerate(root, start=1):
        if child.tag != ROW:
            found.append(
                _read_problem(f"/{ROOT}/{_name(child)}", f"only <{ROW}> elements go in a message")
            )
            continue
        rows.append(_read_fields(table.fields, child, f"/{ROOT}/{ROW}[{index}]", found))
    if not rows:
        raise DocumentError.single(f"a message needs at least one <{ROW}>", path=f"/{ROOT}")
    return Message(table, message_id, rows), found


def _read_problem(path: str, message: str) -> Problem:
    return Problem(message, path=path, rule="beijing-xml")


def _name(element: etree._Element) -> str:
    qname = etree.QName(element)
    prefix = _PREFIXES.get(qname.namespace or "")
    if qname.namespace is None:
        return qname.localname
    return f"{prefix}:{qname.localname}" if prefix else element.tag


def _read_fields(
    fields: Sequence[Field], element: etree._Element, path: str, found: list[Problem]
) -> dict[str, Any]:
    by_name = {field.name: field for field in fields}
    out: dict[str, Any] = {}
    for child in element:
        name = _name(child)
        field = by_name.get(name)
        where = f"{path}/{name}"
        if field is not None and field.kind is Kind.REPEATED_TEXT:
            out.setdefault(name, []).append(_text(child, where, found))
        elif name in out:
            found.append(_read_problem(where, f"{name} is given more than once"))
        elif field is None:
            out[name] = _text(child, where, found)
        else:
            out[name] = _read(field, child, where, found)
    return out


def _text(element: etree._Element, path: str, found: list[Problem]) -> str:
    if len(element):
        found.append(_read_problem(path, f"{_name(element)} must hold text, not elements"))
    return element.text or ""


def _read(field: Field, element: etree._Element, path: str, found: list[Problem]) -> Any:
    if field.kind is Kind.EPC_LIST:
        return [_item(field, child, path, index, found) for index, child in enumerate(element, 1)]
    if field.kind is Kind.TYPED_LIST:
        entries = []
        for index, child in enumerate(element, 1):
            entry: dict[str, Any] = {field.value_key: _item(field, child, path, index, found)}
            if child.get("type") is not None:
                entry = {"type": child.get("type"), **entry}
            entries.append(entry)
        return entries
    if field.kind is Kind.OBJECT:
        return _read_fields(field.children, element, path, found)
    if field.kind in (Kind.LOCATION, Kind.FREE_OBJECT):
        return _read_fields((), element, path, found)
    text = _text(element, path, found)
    if field.kind is Kind.NUMBER and _INTEGER.match(text):
        return int(text)
    return text


def _item(
    field: Field, element: etree._Element, path: str, index: int, found: list[Problem]
) -> str:
    where = f"{path}/{_name(element)}[{index}]"
    if element.tag != field.item:
        found.append(_read_problem(where, f"only <{field.item}> elements go in {field.name}"))
    return _text(element, where, found)


def element_path(table: Table, pointer: str) -> str:
    """The XML element path of a JSON pointer into a message (``/rows/0/epcList/1`` →
    ``/message/row[1]/epcList/epc[2]``), for problems found on an XML message's rows."""
    parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
    if parts[:1] != ["rows"] or len(parts) < 2:
        return f"/{ROOT}" + "".join(f"/@{part}" for part in parts[:1])
    path = f"/{ROOT}/{ROW}[{int(parts[1]) + 1}]"
    fields: Sequence[Field] = table.fields
    rest = parts[2:]
    while rest:
        name, rest = rest[0], rest[1:]
        field = next((f for f in fields if f.name == name), None)
        if field is None:
            return path + "".join(f"/{part}" for part in [name, *rest])
        if field.kind is Kind.REPEATED_TEXT:
            return path + f"/{name}" + (f"[{int(rest[0]) + 1}]" if rest else "")
        path += f"/{name}"
        if field.kind in (Kind.EPC_LIST, Kind.TYPED_LIST) and rest:
            path += f"/{field.item}[{int(rest[0]) + 1}]"
            return path + ("/@type" if rest[1:2] == ["type"] else "")
        fields = field.children
    return path
