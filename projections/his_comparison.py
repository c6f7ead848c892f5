"""The third leg of 账-物-码: a reconciliation by code (:mod:`projections.reconciliation`)
against the HIS's own book figures (:mod:`ledger.his_books`).

The figures of every location the reconciliation covers (each location's snapshot that
holds at the period's end) are summed per product × lot and set beside the codes'
theoretical closing: ``hisQuantity`` (null where the HIS said nothing), ``hisDifference``
= hisQuantity − theoreticalClosing. A HIS figure's product is its trace prefix, or its
GTIN when the codes of that line are GS1 codes; lines only the HIS has are added with
zero code figures. Each line says what disagrees: ``booksVsCodes`` (HIS figures were
imported and differ from the codes, a line on the code books they leave out included) and
``codesVsCount`` (the stocktake found codes missing or extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.his_books import Snapshot
from projections.reconciliation import Line, LineKey, Reconciliation

DISAGREEMENTS = ("booksVsCodes", "codesVsCount")
CSV_COLUMNS = ("hisQuantity", "hisDifference", "disagreements")


@dataclass(frozen=True)
class HisComparison:
    """The snapshots used (one per location) and their figures per line (codes)."""

    snapshots: list[Snapshot]
    quantities: dict[LineKey, int] = field(default_factory=dict)
    counted: bool = False
    """Whether the reconciliation has a stocktake to compare with."""

    def books_json(self) -> dict[str, Any] | None:
        """``{id, asOf, importedAt}`` of the latest snapshot used (and every one, by
        location), or None when the HIS said nothing about these locations by then."""
        if not self.snapshots:
            return None
        latest = max(self.snapshots, key=lambda s: (s.as_of, s.source.order))
        return {
            "id": latest.source.import_id,
            "asOf": latest.as_of,
            "importedAt": latest.source.imported_at,
            "locations": [s.as_json() for s in self.snapshots],
        }

    def line_json(self, line: Line) -> dict[str, Any]:
        his = self.quantities.get((line.product, line.lot))
        closing = line.theoretical_closing()
        disagree = []
        if self.snapshots and (his or 0) != closing:
            disagree.append("booksVsCodes")
        if self.counted and (line.missing or line.extra):
            disagree.append("codesVsCount")
        return {
            "hisQuantity": his,
            "hisQuantityUnits": None if his is None or line.units is None else his * line.units,
            "hisDifference": None if his is None else his - closing,
            "disagreements": disagree,
        }

    def csv_values(self, line: Line) -> dict[str, Any]:
        found = self.line_json(line)
        return {**found, "disagreements": " ".join(found["disagreements"])}

    def summary(self, lines: Sequence[Line]) -> dict[str, int]:
        """How many lines disagree, each way."""
        found = [self.line_json(line)["disagreements"] for line in lines]
        return {kind: sum(kind in d for d in found) for kind in DISAGREEMENTS}


def compare_with_books(
    found: Reconciliation, snapshots: list[Snapshot], units: Callable[[str | None], int | None]
) -> HisComparison:
    """Sum the snapshots' figures per line of ``found``, adding to it the lines only the
    HIS has (``units``: smallest units per code of a product)."""
    quantities: dict[LineKey, int] = {}
    for snapshot in snapshots:
        for figure in snapshot.figures:
            lot = figure["lot"]
            gs1 = figure["gtin"] and (figure["gtin"], lot) in found.lines
            key = (figure["gtin"] if gs1 else figure["tracePrefix"], lot)
            quantities[key] = quantities.get(key, 0) + int(figure["quantity"])
    for key in quantities:
        if key not in found.lines:
            found.lines[key] = Line(product=key[0], lot=key[1], units=units(key[0]))
    return HisComparison(snapshots, quantities, found.counted_at is not None)
