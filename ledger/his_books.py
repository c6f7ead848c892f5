"""The HIS's own book figures (账), kept with their history in the ledger's store: the third
leg of the stock reconciliation by code (账-物-码, seed 000 §3.1(6), seed 001).

Each import of a HIS stock export (:mod:`ledger.his_books_file`) is one
:class:`HisBooks` (a chained entry: ``tracecode verify`` covers it), stored once and never
changed. It holds one *snapshot* per location and ``asOf`` of the file: what the HIS said
was on the books there then, in codes (packs), per product (a master-data row: one
packaging level) × lot. A snapshot replaces the location's figures from its ``asOf`` on:
the figures of a location at a time are those of its snapshot with the latest ``asOf`` up
to then (of two with the same ``asOf``, the one imported last). Earlier imports stay in
the log, and are listed.

A file is checked as a whole against the institution's master data as it is at import
time: every location a place of the institution (not a supplier), every product one
master-data row, quantities in smallest units a whole number of codes, no location ×
``asOf`` × product × lot twice. Any error stores nothing (:class:`BooksInvalid`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from epcis.timestamps import utc_now, utc_text
from ledger.access import Permission, Principal, require
from ledger.application import Ledger
from ledger.domain import ChainedEntry
from ledger.his_books_file import BooksInvalid, Figure, parse_books
from ledger.master_data import MasterData, master_data
from ledger.master_data_import import institution_for
from ledger.master_data_rows import RowError, level_rank

_NAMESPACE = UUID("c3a4e1f2-7b6d-4c59-8e0a-2d9f61b7a8c4")
NOT_STOCK = ("supplier", "external")
"""Location kinds that keep no stock of the institution's."""


@dataclass
class HisBooks(ChainedEntry, created_event_name="Imported", kind="HIS books", key="import_id"):
    """One import of a HIS stock export: ``snapshots`` ``[{location, asOf, figures}]``, each
    figure ``{line, product (as the file names it), ybCode, level, tracePrefix, gtin, lot,
    quantity (codes), given, unit (as the file gives it)}``."""

    import_id: str
    institution: str
    imported_at: str
    imported_by: str
    snapshots: list[dict[str, Any]]

    @staticmethod
    def create_id(import_id: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, import_id)


TOPICS = [f"{HisBooks.__module__}:{HisBooks.__qualname__}.Imported"]


@dataclass(frozen=True)
class BooksImport:
    """An import as stored; ``order`` is its place in the log (later imports: higher)."""

    import_id: str
    institution: str
    imported_at: str
    imported_by: str
    snapshots: list[dict[str, Any]]
    order: int

    def as_json(self, location: str | None = None) -> dict[str, Any]:
        return {
            "id": self.import_id,
            "institution": self.institution,
            "importedAt": self.imported_at,
            "importedBy": self.imported_by,
            "snapshots": [
                s for s in self.snapshots if location is None or s["location"] == location
            ],
        }


@dataclass(frozen=True)
class Snapshot:
    """The HIS figures of one location at ``as_of``, and the import they came with."""

    location: str
    as_of: str
    figures: list[dict[str, Any]]
    source: BooksImport

    def as_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "id": self.source.import_id,
            "asOf": self.as_of,
            "importedAt": self.source.imported_at,
        }


def book_imports(ledger: Ledger, institution: str | None = None) -> list[BooksImport]:
    """Every import (of ``institution``), in log order."""
    found = []
    for notification in ledger.notifications(TOPICS):
        state = ledger.mapper.to_domain_event(notification).__dict__
        if institution in (None, state["institution"]):
            found.append(
                BooksImport(
                    state["import_id"],
                    state["institution"],
                    state["imported_at"],
                    state["imported_by"],
                    state["snapshots"],
                    notification.id,
                )
            )
    return found


def visible_imports(ledger: Ledger, who: Principal, location: str | None) -> list[BooksImport]:
    """The imports ``who`` may read (its institution's; every one for a regulator and the
    command line), those with figures of ``location`` when it is given."""
    require(who, Permission.READ)
    return [
        found
        for found in book_imports(ledger, who.scope)
        if who.sees(found.institution)
        and (location is None or any(s["location"] == location for s in found.snapshots))
    ]


def latest_books(
    ledger: Ledger, institution: str, locations: list[str], until: str
) -> list[Snapshot]:
    """Per location of ``locations`` (ids of ``institution``), the snapshot whose figures
    hold at ``until`` (UTC text, :func:`~epcis.timestamps.utc_text`): the latest ``asOf`` ≤
    ``until``, imported last; none for a location the HIS said nothing about by then."""
    best: dict[str, Snapshot] = {}
    for found in book_imports(ledger, institution):
        for snapshot in found.snapshots:
            where, when = snapshot["location"], snapshot["asOf"]
            if where not in locations or when > until:
                continue
            if where not in best or when >= best[where].as_of:
                best[where] = Snapshot(where, when, snapshot["figures"], found)
    return [best[key] for key in sorted(best)]


@dataclass
class BooksSummary:
    """What an import stored: its id, and per snapshot the location, asOf and rows."""

    import_id: str
    institution: str
    imported_at: str
    snapshots: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.import_id,
            "institution": self.institution,
            "importedAt": self.imported_at,
            "snapshots": [
                {"location": s["location"], "asOf": s["asOf"], "lines": len(s["figures"])}
                for s in self.snapshots
            ],
        }


def import_books(
    ledger: Ledger, who: Principal, data: bytes, institution: str | None = None
) -> BooksSummary:
    """Import a HIS stock export for ``institution`` (an admin: its own; the command line:
    the one named, or the one whose locations the file names): :class:`BooksInvalid` with
    every error, nothing stored; :class:`~ledger.master_data_import.MasterDataRefused` for
    another institution's."""
    require(who, Permission.ADMIN)
    asked = institution_for(who, institution)
    figures, wrong = parse_books(data)
    summary = BooksSummary("", "", "", [])

    def build() -> list[Any]:
        data = master_data(ledger, None if asked is None else [asked])
        owner = asked or _owner(data, figures, wrong)
        now = utc_now()
        snapshots = _snapshots(figures, wrong, data, owner, utc_text(now))
        summary.import_id, summary.institution = str(uuid.uuid4()), owner
        summary.imported_at, summary.snapshots = now, snapshots
        return [
            HisBooks(
                import_id=summary.import_id,
                institution=owner,
                imported_at=now,
                imported_by=who.subject,
                snapshots=snapshots,
            )
        ]

    ledger.save_entries(build)
    return summary


def _owner(data: MasterData, figures: list[Figure], wrong: list[RowError]) -> str:
    """The one institution that has every location the file names."""
    named = {f.location for f in figures}
    owners = sorted(
        owner
        for owner in {inst for inst, _ in data.locations}
        if named <= {key for inst, key in data.locations if inst == owner}
    )
    if len(owners) != 1:
        which = "no institution has" if not owners else f"{', '.join(owners)} each have"
        message = f"{which} every location of the file: name the institution"
        raise BooksInvalid([RowError(1, "location", message), *wrong])
    return owners[0]


def _snapshots(
    figures: list[Figure], wrong: list[RowError], data: MasterData, owner: str, now: str
) -> list[dict[str, Any]]:
    """The file's figures checked against ``owner``'s master data, grouped by location and
    asOf (the import time ``now`` when the file gives none): :class:`BooksInvalid` with
    these errors and ``wrong`` (the rows that could not be read)."""
    products = [row for (inst, _), row in data.products.items() if inst == owner]
    places = {key: row for (inst, key), row in data.locations.items() if inst == owner}
    errors = list(wrong)
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    seen: dict[tuple[str, str, str, str | None], int] = {}
    for figure in figures:
        found = _checked(figure, products, places, owner, now, errors)
        if found is None:
            continue
        when, row, codes = found
        key = (figure.location, when, f"{row['yb_code']}/{row['level']}", figure.lot)
        if key in seen:
            errors.append(
                RowError(
                    figure.line,
                    "product",
                    f"repeats line {seen[key]}: {figure.location}, {row['trace_prefix']}, "
                    f"lot {figure.lot or '(none)'}" + (f", as of {when}" if when != now else ""),
                )
            )
            continue
        seen[key] = figure.line
        grouped.setdefault((figure.location, when), []).append(
            {
                "line": figure.line,
                "product": figure.product,
                "ybCode": row["yb_code"],
                "level": row["level"],
                "tracePrefix": row["trace_prefix"],
                "gtin": row["gtin"],
                "lot": figure.lot,
                "quantity": codes,
                "given": figure.quantity,
                "unit": figure.unit,
            }
        )
    if errors:
        raise BooksInvalid(sorted(errors, key=lambda e: (e.line, e.column)))
    return [
        {"location": where, "asOf": when, "figures": grouped[(where, when)]}
        for where, when in sorted(grouped)
    ]


def _checked(
    figure: Figure,
    products: list[dict[str, Any]],
    places: dict[str, dict[str, Any]],
    owner: str,
    now: str,
    errors: list[RowError],
) -> tuple[str, dict[str, Any], int] | None:
    """A figure's asOf (UTC text), product row and quantity in codes; None after adding
    what is wrong with it to ``errors``."""
    line = figure.line
    before = len(errors)
    place = places.get(figure.location)
    if place is None:
        message = f"{figure.location!r} is not a location of {owner}"
        errors.append(RowError(line, "location", message))
    elif place["kind"] in NOT_STOCK:
        message = f"{figure.location!r} is a {place['kind']}, not a place of {owner}'s stock"
        errors.append(RowError(line, "location", message))
    when = now if figure.as_of is None else utc_text(figure.as_of)
    if when > now:
        errors.append(RowError(line, "asOf", f"{when} is after the import ({now})"))
    row = _product(figure, products, owner, errors)
    codes = 0
    if row is not None:
        codes = _codes(figure, row, errors)
    if len(errors) > before or row is None:
        return None
    return when, row, codes


def _product(
    figure: Figure, products: list[dict[str, Any]], owner: str, errors: list[RowError]
) -> dict[str, Any] | None:
    """The master-data row (one packaging level) the file's product names: by 医保 code
    (with ``level`` when it has several), trace prefix or GTIN."""
    wanted = figure.product
    gtin = wanted.zfill(14) if wanted.isascii() and wanted.isdigit() else ""
    named = [
        r
        for r in products
        if wanted in (r["yb_code"], r["trace_prefix"]) or (gtin and r["gtin"] == gtin)
    ]
    if not named:
        errors.append(
            RowError(
                figure.line,
                "product",
                f"{wanted!r} is not a product (医保 code, trace prefix or GTIN) in the master "
                f"data of {owner}",
            )
        )
        return None
    levelled = [r for r in named if figure.level in ("", r["level"])]
    levels = ", ".join(
        f"{r['level']} {r['trace_prefix']}"
        for r in sorted(named, key=lambda r: level_rank(r["level"]))
    )
    if not levelled:
        errors.append(
            RowError(figure.line, "level", f"{wanted!r} has no level {figure.level} ({levels})")
        )
        return None
    if len(levelled) > 1:
        errors.append(
            RowError(
                figure.line,
                "product",
                f"{wanted!r} names {len(levelled)} packaging levels ({levels}): give the level "
                "column, or name the level's trace prefix or GTIN",
            )
        )
        return None
    return levelled[0]


def _codes(figure: Figure, row: dict[str, Any], errors: list[RowError]) -> int:
    """The figure in codes (packs of the row's level)."""
    if figure.unit == "code":
        return figure.quantity
    per = int(row["units"])
    if figure.quantity % per:
        errors.append(
            RowError(
                figure.line,
                "quantity",
                f"{figure.quantity} smallest units is not a whole number of codes of "
                f"{row['trace_prefix']} ({per} units each)",
            )
        )
    return figure.quantity // per
