"""Which required fields of a seed-004 row are not known, read from the tables
(:mod:`adapters.beijing.tables`): such a row is held as ``incomplete`` rather than sent
without them.

Each is named by the JSON pointer of the field in the message body (``/rows/0/ImportID``);
a required entry of a typed list by the list's pointer and the entry's type in brackets
(``/rows/0/bizTransactionList[urn:epcglobal:cbv:btt:inv]``); a table's "one of" by its
fields' pointers joined with `` | ``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from adapters.beijing.tables import Field, Kind, Need, Table


def missing(table: Table, row: Mapping[str, Any], at: str = "/rows/0") -> tuple[str, ...]:
    found = list(_fields(table.fields, row, at))
    if table.one_of and not any(_given(row.get(name)) for name in table.one_of):
        found.append(" | ".join(f"{at}/{name}" for name in table.one_of))
    return tuple(found)


def _given(value: Any) -> bool:
    return value not in (None, "", [], {})


def _fields(fields: tuple[Field, ...], value: Mapping[str, Any], at: str) -> Iterator[str]:
    for field in fields:
        where = f"{at}/{field.name}"
        given = value.get(field.name)
        if field.kind is Kind.TYPED_LIST and isinstance(given, list):
            types = {entry.get("type") for entry in given if isinstance(entry, Mapping)}
            for member in field.members:
                if member.need is Need.YES and member.type not in types:
                    yield f"{where}[{member.type}]"
        elif field.kind is Kind.EPC_LIST and given == [] and field.item_need is not Need.YES:
            continue
        elif not _given(given):
            if field.need is Need.YES:
                yield where
        elif field.kind is Kind.OBJECT and isinstance(given, Mapping):
            yield from _fields(field.children, given, where)
