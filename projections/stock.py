"""Stock per location × product × lot: a query over ``view_code_facts``, never stored.

Every code's current state is :func:`projections.code_status.statuses` — the same fold as
:func:`projections.code_status.status`, over all facts in one query — and a code counts:

* ``in_stock`` at its location;
* ``in_transit`` at its destination (where it is going);
* ``bound`` (state ``dispensed``) at its location (where it was dispensed).

Only **instance-level** codes that carry a product (serialised items such as SGTINs or
Chinese drug trace codes) are counted: lot-level quantity facts (EPC classes from
``quantityList`` …) and logistic units without a product (SSCC cases, pallets) are not.
Other states (expected, recalled, frozen, destroyed, …) are not stock. A code with no
known location (or destination, in transit) counts under location None.

``as_of`` works as for :func:`~projections.code_status.status`: only facts recorded up to
that record time. Without it the lines are read from ``view_stock``: the counts of each
code's current status (``view_code_state``), kept with the facts batch by batch, so the
answer costs one small query rather than a fold of every fact; it is the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from epcis.identifiers.facts import canonical, facts_of
from projections.code_status import CodeStatus, statuses
from projections.schema import keyed_eq, stock_counts

_COLUMNS = {"in_stock": "in_stock", "in_transit": "in_transit", "dispensed": "bound"}


@dataclass(frozen=True)
class StockLine:
    location: str | None
    product: str
    lot: str | None
    in_stock: int = 0
    in_transit: int = 0
    bound: int = 0


def is_instance(code: str) -> bool:
    """Whether a code names one item (not an EPC class / lot)."""
    return facts_of(code).is_instance


def place_of(found: CodeStatus) -> str | None:
    """Where a code counts: its destination in transit, its location otherwise."""
    return found.destination if found.state == "in_transit" else found.location


def stock(
    conn: Connection,
    *,
    location: str | None = None,
    as_of: str | datetime | None = None,
    scope: str | None = None,
) -> list[StockLine]:
    """Counts per (location, product, lot), sorted; only at ``location`` when given; of
    the codes as the institution ``scope`` recorded them, when given (else everyone's)."""
    where = canonical(location) if location is not None else None
    if as_of is None:
        return _current_stock(conn, where, scope or "")
    counts: dict[tuple[str | None, str, str | None], dict[str, int]] = {}
    for code, found in statuses(conn, as_of=as_of, scope=scope).items():
        column = _COLUMNS.get(found.state or "")
        if column is None or found.product is None or not is_instance(code):
            continue
        place = place_of(found)
        if where is not None and place != where:
            continue
        key = (place, found.product, found.lot)
        line = counts.setdefault(key, {"in_stock": 0, "in_transit": 0, "bound": 0})
        line[column] += 1
    return _lines(counts)


def _lines(counts: dict[tuple[str | None, str, str | None], dict[str, int]]) -> list[StockLine]:
    return [
        StockLine(location=place, product=product, lot=lot, **counts[(place, product, lot)])
        for place, product, lot in sorted(counts, key=lambda k: (k[0] or "", k[1], k[2] or ""))
    ]


def _current_stock(conn: Connection, where: str | None, scope: str) -> list[StockLine]:
    """:func:`stock` now, from ``view_stock`` (kept with ``view_code_state``, per scope)."""
    query = select(stock_counts).where(stock_counts.c.scope == scope)
    if where is not None:
        query = query.where(keyed_eq(stock_counts.c.place, where))
    counts = {
        (row.place, row.product, row.lot): {
            "in_stock": int(row.in_stock),
            "in_transit": int(row.in_transit),
            "bound": int(row.bound),
        }
        for row in conn.execute(query)
    }
    return _lines(counts)
