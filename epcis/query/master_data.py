"""The query parameters that need master data (EPCIS 2.0 §8.2.7.1), answered from the
master data whoever runs the query has: this package keeps none, it is given
:class:`Vocabularies` and turns each such condition into the set of elements it names.

* ``WD_readPoint`` / ``WD_bizLocation``: the values and every direct or indirect
  descendant (``children`` of the field's vocabulary elements, by identifier identity);
* ``HASATTR_<field>=a|b``: the field's elements with a non-null attribute ``a`` or ``b``;
* ``EQ_ATTR_<field>_<attr>=v1|v2``: the field's elements whose attribute ``attr`` has the
  value ``v1`` or ``v2`` (compared as text).

A location condition becomes a ``value`` condition on ``readPoint.id`` / ``bizLocation.id``;
an ``epcClass`` one an ``epc_class`` condition, which an event satisfies when the class of
one of its quantity elements, or of one of its EPCs (an instance's class: its GTIN, a
Chinese trace code's 7-digit prefix), is one of the classes named (compared by product:
an EPC pattern, a Digital Link and a GTIN of one product are the same class).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from epcis.master_data import VocabularyElement
from epcis.problems import excerpt
from epcis.query.errors import QueryParameterError
from epcis.query.params import Condition, Query
from epcis.query.patterns import identity

_LOCATION_FIELDS = {"readPoint": "readPoint.id", "bizLocation": "bizLocation.id"}


@dataclass(frozen=True)
class Vocabularies:
    """The master data a query may use: the vocabulary elements of each field
    (``readPoint``, ``bizLocation``: locations by their URI; ``epcClass``: product classes,
    by any identifier of the class), and the names an attribute may be asked by."""

    elements: Mapping[str, Sequence[VocabularyElement]]
    names: Mapping[str, Mapping[str, str]] | None = None
    """Per field, every name an attribute may be asked by → the name the elements carry it
    under (``name`` → ``urn:epcglobal:cbv:mda#name``); other names are refused. None: any
    name, as the elements carry it."""


def needs_master_data(query: Query) -> bool:
    """Whether any condition of ``query`` is answered from master data."""
    return any(_wants(c) for c in query.conditions)


def _wants(c: Condition) -> bool:
    return c.asked is None and (c.kind == "attribute" or c.parameter.startswith("WD_"))


def check_names(query: Query, names: Mapping[str, Mapping[str, str]]) -> None:
    """Refuse an attribute name no element can have (:class:`QueryParameterError`)."""
    for c in query.conditions:
        if c.kind != "attribute" or c.asked is not None:
            continue
        asked = [c.qualifier or ""] if c.op == "EQ_ATTR" else list(c.values)
        _canonical(c, asked, names.get(c.field, {}))


def _canonical(c: Condition, asked: Iterable[str], known: Mapping[str, str]) -> list[str]:
    out = []
    for name in asked:
        if name not in known:
            shown = ", ".join(sorted(known)) or "none"
            raise QueryParameterError(
                c.parameter,
                f"{excerpt(name)} is not an attribute of the {c.field} master data: {shown}",
            )
        out.append(known[name])
    return out


def resolve(query: Query, vocabularies: Vocabularies) -> Query:
    """``query`` with every condition that needs master data answered from
    ``vocabularies`` (:class:`QueryParameterError` for an attribute name not known)."""
    if not needs_master_data(query):
        return query
    return replace(query, conditions=tuple(_resolved(c, vocabularies) for c in query.conditions))


def _resolved(c: Condition, vocabularies: Vocabularies) -> Condition:
    if not _wants(c):
        return c
    elements = vocabularies.elements.get(c.field if c.kind == "attribute" else c.field[:-3], ())
    if c.kind != "attribute":  # WD_
        return replace(c, values=_with_descendants(c.values, elements), asked=c)
    if vocabularies.names is None:
        names = [c.qualifier or ""] if c.op == "EQ_ATTR" else list(c.values)
    else:
        names = _canonical(
            c,
            [c.qualifier or ""] if c.op == "EQ_ATTR" else c.values,
            vocabularies.names.get(c.field, {}),
        )
    if c.op == "HASATTR":
        chosen = [e.id for e in elements if any(_present(e.attributes.get(n)) for n in names)]
    else:
        wanted = set(c.values)
        chosen = [
            e.id
            for e in elements
            if any(_text(v) in wanted for v in e.attributes.get(names[0], ()) if v is not None)
        ]
    ids = tuple(sorted(set(chosen)))
    if c.field in _LOCATION_FIELDS:
        return Condition(c.parameter, "value", field=_LOCATION_FIELDS[c.field], values=ids, asked=c)
    return Condition(c.parameter, "epc_class", field=c.field, values=ids, asked=c)


def _present(values: tuple[Any, ...] | None) -> bool:
    return bool(values) and any(v is not None and v != "" for v in values or ())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _with_descendants(
    asked: Iterable[str], elements: Sequence[VocabularyElement]
) -> tuple[str, ...]:
    children: dict[str, list[str]] = {}
    for element in elements:
        children.setdefault(identity(element.id), []).extend(element.children)
    found: dict[str, str] = {}
    todo = list(asked)
    while todo:
        current = todo.pop()
        key = identity(current)
        if key in found:
            continue
        found[key] = current
        todo.extend(children.get(key, ()))
    return tuple(sorted(found.values()))
