"""Master data as EPCIS vocabularies: which attribute URI each CSV column is, and the
queries that need master data (``WD_``, ``HASATTR_``, ``EQ_ATTR_``) answered from it.

Locations are ``ReadPoint`` / ``BusinessLocation`` elements named by their URI
(``urn:tracecode:loc:<institution>:<id>``, :mod:`ledger.locations`), whose ``children``
are the locations whose ``parent`` they are; products are ``EPCClass`` elements, one per
class identifier of a product row (its GTIN, its 7-digit trace-code prefix). Attributes
are named by CBV 2.0 master-data attribute URIs where one fits and otherwise under
``urn:tracecode:mda#``; a query may name them by URI or by CSV column.

A query is answered from the master data as the store has it when the query runs (of the
asker's institution; every institution's for a regulator): a named query or a subscription
defined before a location was added sees it from then on.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from typing import Any

from epcis.master_data import VocabularyElement
from epcis.query import Query, Vocabularies, needs_master_data, resolve
from epcis.query.master_data import check_names
from ledger.application import Ledger
from ledger.locations import location_uri
from ledger.master_data import MasterData, current_master_data

CBV_MDA = "urn:epcglobal:cbv:mda#"
TRACECODE_MDA = "urn:tracecode:mda#"

LOCATION_ATTRIBUTES: dict[str, str] = {
    "name": CBV_MDA + "name",
    "kind": TRACECODE_MDA + "kind",
    "parent": TRACECODE_MDA + "parent",
    "institution_code": TRACECODE_MDA + "institution_code",
    "admdvs": TRACECODE_MDA + "admdvs",
}
"""Location column → attribute URI (``id`` is the element's id; ``parent`` also its place
among its parent's ``children``)."""

PRODUCT_ATTRIBUTES: dict[str, str] = {
    "yb_code": TRACECODE_MDA + "yb_code",
    "gtin": TRACECODE_MDA + "gtin",
    "trace_prefix": TRACECODE_MDA + "trace_prefix",
    "level": TRACECODE_MDA + "level",
    "units": TRACECODE_MDA + "units",
    "name": CBV_MDA + "regulatedProductName",
    "spec": CBV_MDA + "strengthDescription",
    "form": CBV_MDA + "dosageFormType",
    "manufacturer": CBV_MDA + "manufacturerOfTradeItemPartyName",
    "approval_no": TRACECODE_MDA + "approval_no",
    "must_scan": TRACECODE_MDA + "must_scan",
    "split": TRACECODE_MDA + "split",
    "preparation": TRACECODE_MDA + "preparation",
    "his_code": TRACECODE_MDA + "his_code",
    "his_name": TRACECODE_MDA + "his_name",
    "rx_flag": TRACECODE_MDA + "rx_flag",
    "price": TRACECODE_MDA + "price",
}
"""Product column → attribute URI."""


def _names(columns: dict[str, str]) -> dict[str, str]:
    return {**columns, **{uri: uri for uri in columns.values()}}


QUERY_NAMES: dict[str, dict[str, str]] = {
    "readPoint": _names(LOCATION_ATTRIBUTES),
    "bizLocation": _names(LOCATION_ATTRIBUTES),
    "epcClass": _names(PRODUCT_ATTRIBUTES),
}
"""The names a query may give an attribute by (column or URI) → its URI."""


def attribute_text(value: Any) -> str:
    """A row's value as an attribute's text: flags ``1`` / ``0``, numbers in digits."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _attributes(row: dict[str, Any], columns: dict[str, str]) -> dict[str, tuple[Any, ...]]:
    return {
        uri: (attribute_text(row[column]),)
        for column, uri in columns.items()
        if column in row and row[column] != ""
    }


def vocabularies(data: MasterData) -> Vocabularies:
    """``data`` as the vocabularies a query reads."""
    children: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (institution, key), row in data.locations.items():
        if row["parent"]:
            children[(institution, row["parent"])].append(location_uri(institution, key))
    locations = tuple(
        VocabularyElement(
            location_uri(institution, key),
            _attributes(row, LOCATION_ATTRIBUTES),
            tuple(sorted(children[(institution, key)])),
        )
        for (institution, key), row in sorted(data.locations.items())
    )
    classes = []
    for _, row in sorted(data.products.items()):
        attributes = _attributes(row, PRODUCT_ATTRIBUTES)
        for class_id in (row["gtin"], row["trace_prefix"]):
            if class_id:
                classes.append(VocabularyElement(class_id, attributes))
    return Vocabularies(
        {"readPoint": locations, "bizLocation": locations, "epcClass": tuple(classes)},
        QUERY_NAMES,
    )


def check_query(query: Query) -> None:
    """Refuse a query naming an attribute master data does not have
    (:class:`epcis.query.QueryParameterError`): when a named query is defined."""
    check_names(query, QUERY_NAMES)


_CACHE: weakref.WeakKeyDictionary[Ledger, dict[str | None, tuple[int, Vocabularies]]] = (
    weakref.WeakKeyDictionary()
)
_CACHE_LOCK = threading.Lock()


def _scoped(data: MasterData, scope: str | None) -> MasterData:
    if scope is None:
        return data
    return MasterData(
        {k: v for k, v in data.products.items() if k[0] == scope},
        {k: v for k, v in data.locations.items() if k[0] == scope},
        {},
    )


def current_vocabularies(ledger: Ledger, scope: str | None) -> Vocabularies:
    """The vocabularies of the institution ``scope`` (None: every one) as the store has
    them now; built again only after master data changed."""
    position, data = current_master_data(ledger)
    with _CACHE_LOCK:
        cached = _CACHE.setdefault(ledger, {}).get(scope)
        if cached is not None and cached[0] == position:
            return cached[1]
    built = vocabularies(_scoped(data, scope))
    with _CACHE_LOCK:
        _CACHE.setdefault(ledger, {})[scope] = (position, built)
    return built


def with_master_data(ledger: Ledger, query: Query, scope: str | None) -> Query:
    """``query`` with its ``WD_``, ``HASATTR_`` and ``EQ_ATTR_`` conditions answered from the
    master data of ``scope`` (the asker's institution; None: every one) as it is now;
    :class:`epcis.query.QueryParameterError` for an attribute name master data lacks."""
    if not needs_master_data(query):
        return query
    return resolve(query, current_vocabularies(ledger, scope))
