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

Without ``as_of`` the lines are read from ``view_stock``: the counts of each code's current
state (``view_code_state``), kept with the facts batch by batch and per expiry date, so the
answer costs one small query rather than a fold of every fact; it is the same answer.

``as_of`` works as for :func:`~projections.code_status.status`: only the facts and links
recorded up to that record time. The answer is the fold of every code as of then
(:func:`stock_by_folding`), computed from what changed since instead: a code's status as
of ``as_of`` differs from its status now only if it was touched by what was recorded
after — a fact of its own or of a container it was ever in (transitively), or a link
recorded after to it or to one of its containers, or a clear of one
(:func:`changed_since`). So stock as of ``as_of`` is the maintained lines, minus what
those codes count in now (their ``view_code_state`` rows), plus what they count in
folded as of ``as_of`` (:func:`projections.code_status.effective_facts`): a cost that
grows with what was recorded since, not with the history. When more than three
quarters of the codes changed (:data:`FOLD_ALL_SHARE`), every code is folded instead
(:func:`stock_by_folding`: cheaper then, there being fewer facts as of then).
On PostgreSQL the queries read one snapshot (``REPEATABLE READ``) when the connection is
not already in a transaction, so a batch committed meanwhile cannot count twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Connection, func, select

from epcis.identifiers.facts import canonical, facts_of
from projections.bulk import is_postgres, select_in
from projections.code_facts import state_row
from projections.code_first import Firsts
from projections.code_status import effective_facts, folded, foldings, seen_by
from projections.hierarchy import CONTAINMENT, WILDCARD
from projections.schema import (
    code_facts,
    code_state,
    in_scope,
    keyed_eq,
    links,
    stock_counts,
    utc_text,
)
from projections.stock_lines import FIGURES, count_line, figure
from projections.stock_lines import LineKey as KeptKey

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


FOLD_ALL_SHARE: float | None = 0.75
"""The share of the codes that, when more changed since ``as_of``, makes :func:`stock` fold
every code instead (:func:`stock_by_folding`); None: never."""

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
    where, today = _asked(location, as_of, today)
    if as_of is None:
        lines = _kept_lines(conn, scope or "", where)
    else:
        with _one_snapshot(conn):
            found = _lines_as_of(conn, where, as_of, scope)
        if found is None:  # most codes changed since: folding them all is cheaper
            return stock_by_folding(conn, as_of, location=location, scope=scope, today=today)
        lines = found
    counts: Counts = {}
    for key, figures in lines.items():
        _, place, product, lot, expiry = key
        if where is None or place == where:
            for name, n in zip(FIGURES, figures, strict=True):
                if n:
                    _add(counts, (place, product, lot), name, n, expiry, today)
    return _lines(counts)


def stock_by_folding(
    conn: Connection,
    as_of: str | datetime | None,
    location: str | None = None,
    scope: str | None = None,
    today: date | None = None,
) -> list[StockLine]:
    """:func:`stock` as of ``as_of`` (None: now) by folding every code's facts
    (:func:`projections.code_status.foldings`): what :func:`stock` answers, at a cost
    that grows with the whole history."""
    where, today = _asked(location, as_of, today)
    counts: Counts = {}
    for code, found in foldings(conn, as_of=as_of, scope=scope).items():
        name = figure(found.state, found.moved, found.held)
        if name is None or found.product is None or not is_instance(code):
            continue
        place = found.destination if found.state == "in_transit" else found.location
        if where is not None and place != where:
            continue
        _add(counts, (place, found.product, found.lot), name, 1, found.expiry, today)
    return _lines(counts)


def changed_since(
    conn: Connection, as_of: str | datetime, scope: str | None = None, limit: int | None = None
) -> set[str] | None:
    """The codes whose status (of the facts ``scope`` sees) may differ between now and
    ``as_of``: those with facts recorded after it, the children of links recorded after
    it, and every code ever inside either (all links, transitively); a clear (a DELETE
    without childEPCs) recorded after it: every code ever inside its parent. Any other
    code folds the same facts, passed on through the same containment, then and now.
    None as soon as they are more than ``limit``."""
    after = utc_text(as_of)
    found = set(
        conn.execute(
            select(code_facts.c.code)
            .where(code_facts.c.record_time > after, *seen_by(scope))
            .distinct()
        ).scalars()
    )
    recorded = select(links.c.parent, links.c.child).where(
        links.c.record_time > after, links.c.kind.in_(CONTAINMENT)
    )
    for parent, child in conn.execute(recorded.distinct()):
        found.add(parent if child == WILDCARD else child)
    # every code ever linked under them (every link recorded), transitively
    frontier = sorted(found)
    firsts = Firsts()  # each parent's links from its first position (older partitions unread)
    while frontier and (limit is None or len(found) <= limit):
        kids: set[str] = set()
        for since, parents in firsts.groups(conn, frontier):
            kids.update(
                child
                for (child,) in select_in(
                    conn,
                    lambda cond, since=since: select(links.c.child).where(  # type: ignore[misc]
                        cond, links.c.position >= since, links.c.kind.in_(CONTAINMENT)
                    ),
                    links.c.parent,
                    parents,
                )
            )
        frontier = sorted(kids - found - {WILDCARD})
        found.update(frontier)
    return None if limit is not None and len(found) > limit else found


def _lines_as_of(
    conn: Connection, where: str | None, as_of: str | datetime, scope: str | None
) -> dict[KeptKey, list[int]] | None:
    """The stock lines as of ``as_of`` (``view_stock`` keys → :data:`FIGURES`, at
    ``where`` and anywhere else the changed codes count), from the maintained lines and
    the codes changed since (:func:`changed_since`); None when more than
    :data:`FOLD_ALL_SHARE` of the codes changed."""
    kept = scope or ""
    limit = None
    if FOLD_ALL_SHARE is not None:
        # everyone's codes: as many as any institution sees, or more (an institution's own
        # are not counted apart: most are on everyone's rows, ``sole``)
        total = conn.execute(
            select(func.count()).select_from(code_state).where(code_state.c.scope == "")
        ).scalar_one()
        limit = int(total * FOLD_ALL_SHARE)
    found = changed_since(conn, as_of, scope, limit=limit)
    if found is None:
        return None
    changed = sorted(found)
    lines = _kept_lines(conn, kept, where)
    if not changed:
        return lines
    for row in select_in(
        conn,
        lambda cond: select(code_state).where(in_scope(kept), cond),
        code_state.c.code,
        changed,
    ):
        count_line(lines, (kept, *row[1:]), -1)  # everyone's row of a code of ``kept`` alone
    for code, group in effective_facts(conn, changed, as_of=as_of, scope=scope).items():
        found_then = folded(group)
        if found_then is not None:
            count_line(lines, state_row(kept, code, found_then, declared=False), +1)
    return lines


@contextmanager
def _one_snapshot(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, a ``REPEATABLE READ`` transaction around the queries when the
    connection is not in one already (SQLite: the connection's transaction is one
    snapshot)."""
    if not is_postgres(conn) or conn.in_transaction():
        yield
        return
    with conn.begin():
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _asked(
    location: str | None, as_of: str | datetime | None, today: date | None
) -> tuple[str | None, date]:
    """The place asked about (canonical; None: everywhere) and the day expiry is judged on."""
    where = canonical(location) if location is not None else None
    return where, _day_of(as_of) if today is None else today


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


def _kept_key(key: str) -> KeptKey:
    scope, place, product, lot, expiry = json.loads(key)
    return (scope, place, product, lot, expiry)


def _kept_lines(conn: Connection, scope: str, where: str | None) -> dict[KeptKey, list[int]]:
    """The maintained lines of ``scope`` (at ``where`` when given): ``view_stock`` keys →
    :data:`FIGURES`, kept with ``view_code_state`` per expiry date."""
    query = select(stock_counts.c.key, *(stock_counts.c[name] for name in FIGURES)).where(
        stock_counts.c.scope == scope
    )
    if where is not None:
        query = query.where(keyed_eq(stock_counts.c.place, where))
    return {_kept_key(row.key): list(row[1:]) for row in conn.execute(query)}
