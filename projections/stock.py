"""Stock per location × product × lot: what each place has on hand, by state, and what is
on its way to it, bound or lent from it.

A code counts in one figure at one place (:mod:`projections.stock_lines` says which, by
its state, its last movement and what holds it). A line's figures:

* ``in_stock`` — sellable stock on the shelf here (state ``in_stock``, nothing holding it;
  expired or not);
* ``in_transit`` — on its way here (state ``in_transit``, counted at the destination);
* ``bound`` — dispensed here, to a patient (recalled or frozen since: still with them);
* ``on_hand`` — every code physically on the shelf here, whatever may be done with it:
  what a stocktake (盘点) should find. ``by_state`` splits it: ``sellable`` and ``expired``
  (``in_stock`` by its expiry date: ``expired`` when the date is before ``today``),
  ``recalled``, ``frozen`` (异常冻结: damaged, suspect, non-sellable), ``returned`` (a
  patient's return awaiting its check). ``on_hand`` is their sum;
* ``lent_out`` — lent from here (借出) and not back: not on the shelf, not bound yet.

A code recalled or frozen stays held when it is moved (back to the warehouse: it counts
there as ``recalled`` / ``frozen``, as the scans treat it). Only **instance-level** codes
that carry a product (serialised items such as SGTINs or Chinese drug trace codes) are
counted: lot-level quantity facts (EPC classes from ``quantityList`` …) and logistic units
without a product (SSCC cases, pallets) are not, nor is a box split into its pool (its
units are, each its own code). A code with no known location (or destination, in transit)
counts under location None.

``as_of`` works as for :func:`~projections.code_status.status`: only facts recorded up to
that record time, each code folded (:func:`projections.code_status.foldings`). Without it
the lines are read from ``view_stock``: the counts of each code's current state
(``view_code_state``), kept with the facts batch by batch and per expiry date, so the
answer costs one small query rather than a fold of every fact; it is the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Connection, select

from epcis.identifiers.facts import canonical, facts_of
from projections.code_status import foldings
from projections.schema import keyed_eq, stock_counts, utc_text
from projections.stock_lines import FIGURES, figure

BY_STATE = ("sellable", "expired", "recalled", "frozen", "returned")
"""The keys of :attr:`StockLine.by_state`, always all present."""


@dataclass(frozen=True)
class StockLine:
    location: str | None
    product: str
    lot: str | None
    in_stock: int = 0
    in_transit: int = 0
    bound: int = 0
    on_hand: int = 0
    lent_out: int = 0
    by_state: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BY_STATE, 0))


def is_instance(code: str) -> bool:
    """Whether a code names one item (not an EPC class / lot)."""
    return facts_of(code).is_instance


LineKey = tuple[str | None, str, str | None]
"""(place, product, lot)."""
Counts = dict[LineKey, dict[str, int]]
"""Per line, the figures (:data:`projections.stock_lines.FIGURES`) and ``expired``."""


def stock(
    conn: Connection,
    *,
    location: str | None = None,
    as_of: str | datetime | None = None,
    scope: str | None = None,
    today: date | None = None,
) -> list[StockLine]:
    """Counts per (location, product, lot), sorted; only at ``location`` when given; of
    the codes as the institution ``scope`` recorded them, when given (else everyone's).
    ``today``: the day expiry is judged on (a code expiring that day is not expired yet);
    by default the day of ``as_of``, else the current UTC date."""
    where = canonical(location) if location is not None else None
    if today is None:
        today = _day_of(as_of)
    counts: Counts = {}
    if as_of is None:
        _current_counts(conn, where, scope or "", today, counts)
        return _lines(counts)
    for code, found in foldings(conn, as_of=as_of, scope=scope).items():
        name = figure(found.state, found.moved, found.held)
        if name is None or found.product is None or not is_instance(code):
            continue
        place = found.destination if found.state == "in_transit" else found.location
        if where is not None and place != where:
            continue
        _add(counts, (place, found.product, found.lot), name, 1, found.expiry, today)
    return _lines(counts)


def _day_of(as_of: str | datetime | None) -> date:
    if as_of is None:
        return datetime.now(UTC).date()
    return date.fromisoformat(utc_text(as_of)[:10])


def expired(expiry: str | None, today: date) -> bool:
    """Whether an expiry date (``YYYY-MM-DD``; anything else never expires) is before
    ``today``."""
    if not expiry:
        return False
    try:
        return date.fromisoformat(expiry[:10]) < today
    except ValueError:
        return False


def _add(counts: Counts, key: LineKey, name: str, n: int, expiry: str | None, today: date) -> None:
    line = counts.setdefault(key, dict.fromkeys((*FIGURES, "expired"), 0))
    line[name] += n
    if name == "in_stock" and expired(expiry, today):
        line["expired"] += n


def _lines(counts: Counts) -> list[StockLine]:
    out = []
    for place, product, lot in sorted(counts, key=lambda k: (k[0] or "", k[1], k[2] or "")):
        c = counts[(place, product, lot)]
        by_state = {
            "sellable": c["in_stock"] - c["expired"],
            "expired": c["expired"],
            "recalled": c["recalled"],
            "frozen": c["frozen"],
            "returned": c["returned"],
        }
        out.append(
            StockLine(
                location=place,
                product=product,
                lot=lot,
                in_stock=c["in_stock"],
                in_transit=c["in_transit"],
                bound=c["bound"],
                on_hand=sum(by_state.values()),
                lent_out=c["lent_out"],
                by_state=by_state,
            )
        )
    return out


def _current_counts(
    conn: Connection, where: str | None, scope: str, today: date, counts: Counts
) -> None:
    """:func:`stock` now, from ``view_stock`` (kept with ``view_code_state``, per scope
    and expiry date): the lines of one place × product × lot summed over their dates."""
    query = select(stock_counts).where(stock_counts.c.scope == scope)
    if where is not None:
        query = query.where(keyed_eq(stock_counts.c.place, where))
    for row in conn.execute(query):
        key = (row.place, row.product, row.lot)
        for name in FIGURES:
            n = int(getattr(row, name))
            if n:
                _add(counts, key, name, n, row.expiry, today)
