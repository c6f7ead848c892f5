"""Master data from an EPCIS document: the vocabularies in its header (JSON-LD
``epcisHeader.epcisMasterData.vocabularyList``; XML, 1.2 or 2.0,
``EPCISHeader/extension/EPCISMasterData/VocabularyList``), or the body of an XML
``EPCISMasterDataDocument``.

* ``BusinessLocation`` and ``ReadPoint`` elements are locations. The element's id is the
  location's URI ``urn:tracecode:loc:<institution_code>:<id>``: an element with another id
  (an SGLN) is refused, naming it, since a location needs an id scans can name. Its
  ``children`` are locations whose parent it is (each described in the same document, or
  already stored: then only its parent changes);
  the attributes are those of :data:`ledger.master_data_vocabulary.LOCATION_ATTRIBUTES`.
  An element in both vocabularies is one location (described the same way in both).
* ``EPCClass`` elements are product rows (one packaging level), with the attributes of
  :data:`ledger.master_data_vocabulary.PRODUCT_ATTRIBUTES`. An id that names a GTIN's
  class (``urn:epc:idpat:sgtin:…``, ``https://id.gs1.org/01/…``) gives the row's GTIN; an
  id that names one item or one lot is refused; any other URI is only the element's name.

Every value is checked as the CSV's is, then the same rules hold of the whole
(:mod:`ledger.master_data_rules`); each error names the element by its JSON pointer (and,
for XML, its line). A document with any error stores nothing, and so does one carrying
events (master data only: events are captured with ``POST /capture``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from epcis.document import load
from epcis.identifiers import IdentifierError, parse_identifier
from epcis.identifiers.facts import product_key
from epcis.master_data import (
    BUSINESS_LOCATION,
    EPC_CLASS,
    READ_POINT,
    VOCABULARY_LIST,
    FoundElement,
    has_master_data,
    vocabulary_elements,
)
from epcis.problems import DocumentError, Problem, excerpt
from ledger.access import Permission, Principal, require
from ledger.application import Ledger
from ledger.locations import parse_location_uri
from ledger.master_data import current_master_data
from ledger.master_data_csv import LOCATION_VALUES, PRODUCT_VALUES
from ledger.master_data_import import (
    ImportSummary,
    MasterDataRefused,
    Part,
    institution_for,
    save_parts,
)
from ledger.master_data_rows import BadValue, MasterDataInvalid, RowError, without_empty
from ledger.master_data_rules import Lined
from ledger.master_data_vocabulary import LOCATION_ATTRIBUTES, PRODUCT_ATTRIBUTES, attribute_text

_OPTIONAL_PRODUCT = {
    "gtin": "",
    "spec": "",
    "form": "",
    "manufacturer": "",
    "approval_no": "",
    "his_code": "",
    "his_name": "",
    "rx_flag": "",
    "price": "",
}
_OPTIONAL_PRODUCT_FLAGS = {"preparation": "0"}


@dataclass
class _Reading:
    """Rows read from a document's vocabularies, and what was wrong with them."""

    line_of: Callable[[str], int]
    errors: list[RowError] = field(default_factory=list)
    locations: dict[tuple[str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)
    """(institution, id) → (the pointer of its element, its row)."""
    products: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def error(self, pointer: str, message: str, column: str = "") -> None:
        self.errors.append(RowError(self.line_of(pointer), column, message, pointer))


def _text(reading: _Reading, found: FoundElement, uri: str, column: str) -> str | None:
    """The one value of attribute ``uri`` as text (None: absent, or an error noted)."""
    values = found.element.attributes.get(uri)
    if not values:
        return None
    pointers = found.attribute_pointers[uri]
    if len(values) > 1:
        reading.error(pointers[1], f"attribute {uri} ({column}) is given more than once", column)
        return None
    value = values[0]
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        reading.error(pointers[0], f"attribute {uri} ({column}) is not a text value", column)
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return attribute_text(value)


def _unknown_attributes(reading: _Reading, found: FoundElement, known: dict[str, str]) -> None:
    uris = set(known.values())
    for uri, pointers in found.attribute_pointers.items():
        if uri not in uris:
            reading.error(
                pointers[0],
                f"attribute {excerpt(uri)} is not one tracecode keeps for "
                f"{'products' if known is PRODUCT_ATTRIBUTES else 'locations'}: "
                + ", ".join(f"{u} ({c})" for c, u in known.items()),
            )


def _row(
    reading: _Reading,
    found: FoundElement,
    known: dict[str, str],
    values: dict[str, Callable[[str], Any]],
    given: dict[str, str],
    defaults: dict[str, str],
) -> dict[str, Any] | None:
    """A row from the element's attributes (and ``given`` columns), each value checked."""
    _unknown_attributes(reading, found, known)
    before = len(reading.errors)
    row: dict[str, Any] = {}
    for column, check in values.items():
        uri = known.get(column, "id")
        text = given.get(column)
        if text is None:
            noted = len(reading.errors)
            text = _text(reading, found, uri, column)
            if len(reading.errors) > noted:
                continue
        if text is None:
            text = defaults.get(column)
        if text is None:
            reading.error(found.pointer, f"has no attribute {uri} ({column})", column)
            continue
        try:
            row[column] = check(text)
        except BadValue as exc:
            pointers = found.attribute_pointers.get(uri)
            where = f"{pointers[0]}/attribute" if pointers else f"{found.pointer}/id"
            reading.error(where, f"{uri} ({column}): {exc}", column)
    return without_empty(row) if len(reading.errors) == before else None


def _location(reading: _Reading, found: FoundElement) -> None:
    parsed = parse_location_uri(found.element.id)
    if parsed is None:
        reading.error(
            f"{found.pointer}/id",
            f"{excerpt(found.element.id)} is not a tracecode location URI: name a location "
            "urn:tracecode:loc:<institution_code>:<id> (its id is what scans name)",
        )
        return
    institution, location_id = parsed
    code = _text(reading, found, LOCATION_ATTRIBUTES["institution_code"], "institution_code")
    if code is not None and code != institution:
        pointer = found.attribute_pointers[LOCATION_ATTRIBUTES["institution_code"]][0]
        reading.error(
            pointer,
            f"institution_code {excerpt(code)} is not the institution of the element's id "
            f"({institution})",
            "institution_code",
        )
        return
    row = _row(
        reading,
        found,
        LOCATION_ATTRIBUTES,
        LOCATION_VALUES,
        {"id": location_id, "institution_code": institution},
        {"parent": "", "admdvs": ""},
    )
    if row is None:
        return
    key = (institution, location_id)
    if key in reading.locations:
        pointer, before = reading.locations[key]
        if before != row:
            reading.error(
                found.pointer,
                f"location {location_id} of {institution} is described differently at {pointer}",
            )
        return
    reading.locations[key] = (found.pointer, row)


def _class_gtin(reading: _Reading, found: FoundElement) -> str | None:
    """The GTIN an EPCClass element's id names ("" for none; None: an error noted)."""
    try:
        identifier = parse_identifier(found.element.id)
    except IdentifierError:
        return ""  # not an identifier tracecode reads: only the element's name
    try:
        key = product_key(found.element.id)
    except IdentifierError as exc:
        reading.error(f"{found.pointer}/id", f"names no product class: {exc}")
        return None
    return key if identifier.family == "gs1" else ""


def _product(reading: _Reading, found: FoundElement) -> None:
    gtin = _class_gtin(reading, found)
    if gtin is None:
        return
    given = {}
    if gtin:
        said = _text(reading, found, PRODUCT_ATTRIBUTES["gtin"], "gtin")
        if said and said.zfill(14) != gtin:
            reading.error(
                found.attribute_pointers[PRODUCT_ATTRIBUTES["gtin"]][0],
                f"gtin {excerpt(said)} is not the GTIN of the element's id ({gtin})",
                "gtin",
            )
            return
        given["gtin"] = gtin
    row = _row(
        reading,
        found,
        PRODUCT_ATTRIBUTES,
        PRODUCT_VALUES,
        given,
        {**_OPTIONAL_PRODUCT, **_OPTIONAL_PRODUCT_FLAGS},
    )
    if row is not None:
        reading.products.append((found.pointer, row))


def _children(
    reading: _Reading,
    found: FoundElement,
    parents: dict[str, str],
    stored: Mapping[tuple[str, str], dict[str, Any]],
) -> None:
    """Give each child of a location element its parent (a stored location the document
    does not describe keeps its other values)."""
    parsed = parse_location_uri(found.element.id)
    if parsed is None or not found.element.children:
        return
    institution, parent = parsed
    for index, child in enumerate(found.element.children):
        pointer = f"{found.pointer}/children/{index}"
        child_key = parse_location_uri(child)
        if child_key is None or child_key[0] != institution:
            reading.error(
                pointer,
                f"child {excerpt(child)} is not a location of {institution} "
                f"(urn:tracecode:loc:{institution}:<id>)",
            )
            continue
        if child_key not in reading.locations and child_key in stored:
            reading.locations[child_key] = (pointer, dict(stored[child_key]))
        if child_key not in reading.locations:
            reading.error(pointer, f"child {child} is not described in this document nor stored")
            continue
        child_pointer, row = reading.locations[child_key]
        if row["parent"] not in ("", parent):
            reading.error(
                pointer,
                f"child {child_key[1]} already has the parent {row['parent']} ({child_pointer})",
            )
            continue
        if parents.get(child, parent) != parent:
            reading.error(pointer, f"child {child_key[1]} is also a child of {parents[child]}")
            continue
        parents[child] = parent
        row["parent"] = parent


def read_vocabularies(
    data: bytes, stored: Mapping[tuple[str, str], dict[str, Any]] | None = None
) -> _Reading:
    """The location and product rows of an EPCIS document's vocabularies, every value
    checked (errors in :attr:`_Reading.errors`; an unreadable document raises
    :class:`MasterDataInvalid`); ``stored`` locations by (institution, id) may be
    children without being described again."""
    try:
        loaded = load(data, validate=True)
    except DocumentError as exc:
        raise MasterDataInvalid([_problem(p) for p in exc.problems]) from None
    source = loaded.source_map

    def line_of(pointer: str) -> int:
        current = pointer
        while True:
            if current in source:
                return source[current][0]
            if not current:
                return 0
            current = current.rpartition("/")[0]

    reading = _Reading(line_of)
    problems = [p for p in loaded.problems if p.is_error]
    if problems:
        raise MasterDataInvalid([_problem(p) for p in problems])
    document = loaded.document
    if loaded.events:
        pointer = "/epcisBody/eventList"
        reading.error(
            pointer,
            f"the document carries {len(loaded.events)} event(s): master data only "
            "(capture events with POST /capture)",
        )
    if not has_master_data(document):
        reading.error(
            "/epcisHeader",
            "the document carries no master data (epcisHeader.epcisMasterData.vocabularyList)",
        )
        raise MasterDataInvalid(reading.errors)
    found = list(vocabulary_elements(document))
    for item in found:
        if item.vtype in (BUSINESS_LOCATION, READ_POINT):
            _location(reading, item)
        elif item.vtype == EPC_CLASS:
            _product(reading, item)
        else:
            reading.error(
                item.pointer,
                f"vocabulary type {excerpt(item.vtype)} is not master data tracecode keeps: "
                f"{BUSINESS_LOCATION}, {READ_POINT}, {EPC_CLASS}",
            )
    parents: dict[str, str] = {}
    for item in found:
        if item.vtype in (BUSINESS_LOCATION, READ_POINT):
            _children(reading, item, parents, stored or {})
    if not found and not reading.errors:
        reading.error(VOCABULARY_LIST, "the vocabulary list has no elements")
    return reading


def _problem(problem: Problem) -> RowError:
    """A problem of the document as a whole (not EPCIS, not valid): by its JSON pointer
    (the root shown as ``/``), or for XML by its line, the element path in the message."""
    if problem.pointer is not None:
        return RowError(problem.line or 0, "", problem.message, problem.pointer or "/")
    where = f"{problem.path}: " if problem.path else ""
    return RowError(problem.line or 0, "", where + problem.message)


def _lined(
    rows: list[tuple[str, dict[str, Any]]], line_of: Callable[[str], int]
) -> tuple[Lined, Callable[[RowError], RowError], Callable[[int], str]]:
    """Rows numbered 1…n for the rules, and how their errors name the elements again."""
    pointers = [pointer for pointer, _ in rows]
    lined = [(index + 1, row) for index, (_, row) in enumerate(rows)]

    def locate(error: RowError) -> RowError:
        pointer = pointers[error.line - 1]
        return RowError(line_of(pointer), error.column, error.message, pointer)

    def where(index: int) -> str:
        return "at " + pointers[index - 1]

    return lined, locate, where


def import_epcis_master_data(
    ledger: Ledger, who: Principal, data: bytes, institution: str | None = None
) -> list[ImportSummary]:
    """Import the master data of an EPCIS document (JSON-LD or XML): its locations (for
    the institution each location's URI names: an admin's own only) and its products (for
    ``institution``, default the admin's own), in one commit; a summary per kind, locations
    first. :class:`MasterDataInvalid` with every error (nothing stored),
    :class:`MasterDataRefused`, :class:`ledger.access.Forbidden`."""
    require(who, Permission.ADMIN)
    wanted = institution_for(who, institution)
    reading = read_vocabularies(data, current_master_data(ledger)[1].locations)
    grouped: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for (owner, _), (pointer, row) in reading.locations.items():
        if wanted is not None and owner != wanted:
            reading.error(
                f"{pointer}/id",
                f"{owner} is not the institution imported for ({wanted})",
                "institution_code",
            )
        grouped.setdefault(owner, []).append((pointer, row))
    if reading.products and wanted is None:
        raise MasterDataRefused("products need the institution they belong to (--institution)")
    if reading.errors:
        raise MasterDataInvalid(sorted(reading.errors, key=lambda e: (e.line, e.pointer)))
    parts: list[Part] = []
    if grouped:
        by_owner: dict[str, Lined] = {}
        pointers: list[tuple[str, dict[str, Any]]] = []
        for owner, rows in grouped.items():
            start = len(pointers)
            pointers.extend(rows)
            by_owner[owner] = [(start + i + 1, row) for i, (_, row) in enumerate(rows)]
        _, locate, where = _lined(pointers, reading.line_of)
        summary = ImportSummary("locations", sorted(by_owner))
        parts.append(Part("location", by_owner, summary, locate, where))
    if reading.products:
        assert wanted is not None
        lined, locate, where = _lined(reading.products, reading.line_of)
        parts.append(
            Part("product", {wanted: lined}, ImportSummary("products", [wanted]), locate, where)
        )
    save_parts(ledger, parts)
    return [part.summary for part in parts]
