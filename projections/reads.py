"""The read use cases every entry point calls: a code's status and hierarchy, stock, a
recall trail. Each takes who asks (:class:`~ledger.access.Principal`), checks that its
role may, and answers from what its institution may see (a regulator's and the command
line's: every institution's).

The HTTP routes (:mod:`adapters.http.reads`) and the command line (``tracecode status``,
``tracecode trail``, ``tracecode reconcile``) render these results; neither queries the
read models itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Generator
from dataclasses import dataclass
from typing import Any

from epcis.identifiers.facts import canonical
from ledger.access import Permission, Principal, require
from ledger.his_books import latest_books
from ledger.locations import location_uri
from ledger.master_data import current_master_data
from projections import hierarchy, pools
from projections.code_status import answer_names, effective_facts, status
from projections.his_comparison import CSV_COLUMNS, HisComparison, compare_with_books
from projections.recall_trail import TrailLine, current_statuses, trail, trail_lines
from projections.reconciliation import (
    Reconciliation,
    places_within,
    reconcile,
    reconciliation_csv,
)
from projections.runner import ReadModelRunner
from projections.stock import StockLine, stock


def code_status(
    runner: ReadModelRunner, who: Principal, code: str, as_of: str | None = None
) -> dict[str, Any] | None:
    """A code's status with ``asOf`` and ``history`` (the Event Hash IDs of every event
    that touched it, in event-time order); None when nothing visible touched it."""
    require(who, Permission.READ_CODES)
    code = canonical(code)
    with runner.connect() as conn:
        if as_of is None:  # now: the kept state and history, not a fold of every fact
            kept = current_statuses(conn, [code], who.scope).get(code)
            if kept is None:
                return None
            found, history = kept
        else:
            then = status(conn, code, as_of, who.scope)
            if then is None:
                return None
            facts = effective_facts(conn, [code], as_of=as_of, scope=who.scope).get(code, [])
            found, history = then, list(dict.fromkeys(f.hash_id for f in facts))
    body = answer_names(dataclasses.asdict(found))
    body["asOf"] = as_of
    body["history"] = history
    return body


def code_hierarchy(
    runner: ReadModelRunner, who: Principal, code: str, as_of: str | None = None
) -> dict[str, Any] | None:
    """The code it is packed in (or made from) and every code inside it, transitively;
    None when nothing visible is recorded about it."""
    require(who, Permission.READ_CODES)
    scope = who.scope
    with runner.connect() as conn:
        parent = hierarchy.parent_of(conn, code, as_of, scope=scope)
        inside = hierarchy.children(conn, code, as_of, transitive=True, scope=scope)
        if parent is None and not inside and status(conn, code, as_of, scope) is None:
            return None
    return {"code": canonical(code), "asOf": as_of, "parent": parent, "children": inside}


def stock_lines(
    runner: ReadModelRunner, who: Principal, location: str | None = None, as_of: str | None = None
) -> list[StockLine]:
    """Stock per location × product × lot (only at ``location`` when given)."""
    require(who, Permission.READ)
    with runner.connect() as conn:
        return stock(conn, location=location, as_of=as_of, scope=who.scope)


def recall_trail(
    runner: ReadModelRunner,
    who: Principal,
    *,
    product: str | None = None,
    lot: str | None = None,
    code: str | None = None,
    as_of: str | None = None,
) -> list[TrailLine]:
    """The recall trail of a lot (``product`` and ``lot``) or of one ``code``."""
    require(who, Permission.READ)
    with runner.connect() as conn:
        return trail(conn, product=product, lot=lot, code=code, as_of=as_of, scope=who.scope)


def recall_trail_lines(
    runner: ReadModelRunner,
    who: Principal,
    *,
    product: str | None = None,
    lot: str | None = None,
    code: str | None = None,
    as_of: str | None = None,
) -> Generator[TrailLine, None, None]:
    """:func:`recall_trail`, line by line as the caller takes them (the connection is
    held until the last line is taken or the iterator is closed)."""
    require(who, Permission.READ)
    with runner.connect() as conn:
        yield from trail_lines(
            conn, product=product, lot=lot, code=code, as_of=as_of, scope=who.scope
        )


def pool_boxes(
    runner: ReadModelRunner,
    who: Principal,
    location: str,
    product: str | None = None,
    as_of: str | None = None,
) -> list[dict[str, Any]]:
    """The split-unit pool at a location (a master-data id of the asker's institution, or
    a location URI): per pre-scanned box, its units left, bound (per patient pseudonym and
    per order) and expiry; only of ``product`` (its 医保 code, trace prefix or GTIN) when given."""
    require(who, Permission.READ)
    where = location if ":" in location else location_uri(who.institution, location)
    products = None if product is None else _product_keys(runner, who, product)
    with runner.connect() as conn:
        boxes = pools.pool(conn, location=where, products=products, as_of=as_of, scope=who.scope)
    return [
        {
            "code": b.box,
            "product": b.product,
            "lot": b.lot,
            "expiry": b.expiry,
            "units": b.units,
            "left": b.left,
            "bound": b.bound,
            "boundTo": b.bound_to,
            "boundToOrder": b.bound_to_order,
        }
        for b in boxes
    ]


def _product_keys(runner: ReadModelRunner, who: Principal, product: str) -> list[str]:
    """The trace prefixes and GTINs a product is known by (itself when no row names it)."""
    _, data = current_master_data(runner.ledger)
    keys = [
        key
        for (owner, _), row in data.products.items()
        if who.scope in (None, owner)
        and product in (row["yb_code"], row["trace_prefix"], row["gtin"])
        for key in (row["trace_prefix"], row["gtin"])
        if key
    ]
    return keys or [product]


class ReconciliationError(ValueError):
    """A reconciliation asked with a bad parameter (``parameter`` names it)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class ReconciliationAnswer:
    """A reconciliation and what it was asked for (:func:`reconciliation`)."""

    institution: str
    location: str
    found: Reconciliation
    products: dict[str, dict[str, Any]]
    """Master-data product rows by trace prefix and by GTIN."""
    his: HisComparison

    def describe(self, product: str | None) -> dict[str, Any]:
        row = self.products.get(product or "")
        return {"ybCode": row["yb_code"] if row else None, "name": row["name"] if row else None}

    def as_json(self) -> dict[str, Any]:
        found = self.found
        return {
            "institution": self.institution,
            "location": self.location,
            "places": found.places,
            "from": found.start,
            "to": found.end,
            "countedAt": found.counted_at,
            "stocktakeScans": found.stocktake_scans,
            "hisBooks": self.his.books_json(),
            "disagreements": self.his.summary(found.sorted_lines()),
            "lines": [
                {**line.as_json(self.describe), **self.his.line_json(line)}
                for line in found.sorted_lines()
            ],
            "missing": [p.as_json() for p in found.missing],
            "extra": [p.as_json() for p in found.extra],
            "elsewhere": [p.as_json() for p in found.elsewhere],
        }

    def csv(self) -> str:
        return reconciliation_csv(self.found, self.location, CSV_COLUMNS, self.his.csv_values)


def reconciliation(
    runner: ReadModelRunner,
    who: Principal,
    *,
    location: str,
    start: str,
    end: str,
    institution: str | None = None,
    counted_by: Collection[str] | None = None,
) -> ReconciliationAnswer:
    """The stock reconciliation of a master-data ``location`` (an id of the asker's
    institution; with every institution in sight, of ``institution``, or of the one
    institution that has such a location) over ``start`` ≤ eventTime < ``end`` (times as
    the read models store them); ``counted_by``: a stocktake session's scans
    (:func:`projections.reconciliation.reconcile`). :class:`ReconciliationError` names a bad
    parameter."""
    require(who, Permission.READ)
    if start >= end:
        raise ReconciliationError("to", f"to ({end}) must be later than from ({start})")
    scope = who.scope
    if scope is not None and institution not in (None, scope):
        raise ReconciliationError(
            "institution", f"institution {institution!r}: this key sees only {scope!r}"
        )
    _, data = current_master_data(runner.ledger)
    owners = sorted(owner for owner, key in data.locations if key == location)
    wanted = scope or institution
    if wanted is None:
        if not owners:
            raise ReconciliationError("location", f"no institution has a location {location!r}")
        if len(owners) > 1:
            raise ReconciliationError(
                "institution",
                f"{', '.join(owners)} each have a location {location!r}: name the institution",
            )
        wanted = owners[0]
    if wanted not in owners:
        raise ReconciliationError(
            "location", f"location {location!r} is not a location of institution {wanted!r}"
        )
    rows = {key: row for (owner, key), row in data.locations.items() if owner == wanted}
    within = places_within(rows, location)
    places = [location_uri(wanted, key) for key in within]
    products: dict[str, dict[str, Any]] = {}
    for (owner, _), row in data.products.items():
        if owner == wanted:
            products[row["trace_prefix"]] = row
            if row.get("gtin"):
                products[row["gtin"]] = row

    def units(product: str | None) -> int | None:
        row = products.get(product or "")
        return int(row["units"]) if row and row.get("units") else None

    with runner.connect() as conn:
        found = reconcile(
            conn,
            places=places,
            start=start,
            end=end,
            scope=scope,
            units=units,
            counted_by=counted_by,
        )
    books = latest_books(runner.ledger, wanted, within, end)
    return ReconciliationAnswer(
        wanted, location, found, products, compare_with_books(found, books, units)
    )
