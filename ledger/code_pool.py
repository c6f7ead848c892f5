"""The split-unit code pool (拆零, seed 001): boxes opened into their smallest units.

A *pre-scan* (预扫描登记) of a box before it is opened puts its N smallest units (N from the
product's master data) into the pool of the box's location, each with its in-hospital
sub-code ``urn:tracecode:cn-drug:<box's 20 digits>:unit:<n>`` (n = 1…N): unique, read as a
sub-code by :func:`epcis.identifiers.parse_identifier`, and pointing back to its box. In
EPCIS it is a TransformationEvent (the box in, its units out, bizStep repackaging).

A split bind of K units takes them from the pool **first expiry first**, then oldest
pre-scan, then box and unit order, possibly across boxes; the answer's ``allocations`` say
how many units were taken from each box. Because every unit belongs to exactly one box,
the split-sale rule (seed 003 §三(二)2: the quantity reported against one trace code never
exceeds that box's units) holds by construction. A split return (``unbind`` with order,
product and quantity) puts back that many of the units bound to the order.

Everything here reads the code library's overlay (:class:`ledger.code_library.Overlay`):
the pool is the library's units in stock at a location, never a separate table; the
library keeps them indexed in allocation order (:mod:`ledger.pool_index`), so a bind reads
the boxes it takes from, not the whole pool.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from epcis.identifiers.cn_drug_code import UNIT_MARK
from ledger.code_library import Overlay, product_digits
from ledger.lifecycle import HospitalState
from ledger.pool_index import box_of, unit_number

__all__ = ["Allocation", "allocate", "bound_to_order", "box_of", "is_split", "pool", "unit_codes"]


def unit_codes(box: str, units: int) -> list[str]:
    """The sub-codes of a box's ``units`` smallest units (``box`` canonical)."""
    return [f"{box}{UNIT_MARK}{n}" for n in range(1, units + 1)]


@dataclass(frozen=True)
class Allocation:
    """Units taken from one box."""

    box: str
    units: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"code": self.box, "units": len(self.units)}


def is_split(library: Overlay, box: str) -> bool:
    """Whether the box was pre-scanned (its first unit is known to the library)."""
    return library.get(f"{box}{UNIT_MARK}1").seen


def pool(
    library: Overlay,
    prefixes: Iterable[str],
    here: Callable[[str | None], bool],
    limit: int | None = None,
) -> tuple[int, list[str]]:
    """How many units of a product (its trace prefixes) are in stock here, and the first
    ``limit`` of them (all when None) in allocation order: first expiry first (a box
    without one last), then oldest pre-scan, then box and unit."""
    size, units = library.pool(prefixes, here)
    return size, list(itertools.islice(units, limit))


def allocate(units: list[str], quantity: int) -> list[Allocation] | None:
    """The first ``quantity`` units of a pool, by box (None: the pool holds fewer)."""
    if len(units) < quantity:
        return None
    return group(units[:quantity])


def group(units: list[str]) -> list[Allocation]:
    """Units by box, in the order the boxes first appear."""
    boxes: dict[str, list[str]] = {}
    for unit in units:
        boxes.setdefault(box_of(unit) or unit, []).append(unit)
    return [Allocation(box, taken) for box, taken in boxes.items()]


def bound_to_order(library: Overlay, order: str, prefixes: Iterable[str]) -> list[str]:
    """The units of a product bound to an order, last unit first (returned first)."""
    wanted = tuple(prefixes)
    units = [
        code
        for code in library.order_codes(order)
        if box_of(code) is not None
        and product_digits(code).startswith(wanted)
        and library.get(code).state is HospitalState.BOUND
    ]
    return sorted(units, key=lambda c: (box_of(c) or "", unit_number(c)), reverse=True)
