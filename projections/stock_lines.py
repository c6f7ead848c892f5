"""What each code adds to stock, and the maintained lines ``view_stock``.

One rule for both ways of answering :func:`projections.stock.stock`: the maintained lines
(counted here from each code's ``view_code_state`` row as the code facts change it) and
the fold "as of" a record time (counted from each code's :class:`Folding`). A code counts
in one figure (:data:`FIGURES`) at one place, by its state, its last movement
(:attr:`Folding.moved`) and what holds it (:attr:`Folding.held`):

* ``in_transit`` — state ``in_transit``: at its destination (where it is going);
* ``bound`` — its last movement was a dispensing (bound to a patient), at the place it was
  dispensed: a pack recalled or frozen since is still with its patient;
* ``lent_out`` — its last movement was a lending (借出): at the place that lent it, which
  no longer has it on its shelf;
* on hand, at its location — its last movement left it on the shelf there (received,
  accepted, a patient's return, a lend return; a recall or a freeze does not move it): by
  what holds it, ``recalled`` or ``frozen`` (damaged, suspect, non-sellable and expired
  dispositions are all the ledger's ``frozen``); else ``returned`` (a patient's return
  awaiting its check) or ``in_stock`` (sellable, expired or not: which are expired is asked
  at read time, so lines are kept per expiry).

Nothing else counts: expected, consumed, destroyed, exited (returned to the supplier), a
box split into its pool (its units count, each its own code), codes held while in transit.
Only instance-level codes with a product count (serialised items, not lot-level classes
nor logistic units without a product).
"""

from __future__ import annotations

import json
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, delete, select

from projections.bulk import any_of, insert_rows, select_in
from projections.schema import code_state, stock_counts, value_columns

FIGURES = ("in_stock", "in_transit", "bound", "lent_out", "recalled", "frozen", "returned")
"""The counts of a ``view_stock`` line, in its column order."""
ON_SHELF = ("in_stock", "recalled", "frozen", "returned")
"""The figures of codes physically on hand where they count."""
_ON_SHELF_MOVES = {"in_stock": "in_stock", "returned": "returned"}
"""A last movement that leaves a code on the shelf → its figure when nothing holds it."""
_AWAY = {"dispensed": "bound", "lent": "lent_out"}
_COLUMN = {name: n for n, name in enumerate(FIGURES)}

_STATE_ROW = itemgetter(
    *(
        value_columns(code_state).index(name)
        for name in ("scope", "state", "product", "place", "lot", "expiry", "moved", "held")
    )
)
_INSTANCE = value_columns(code_state).index("instance")


def figure(state: str | None, moved: str | None, held: str | None) -> str | None:
    """The figure (:data:`FIGURES`) a code counts in (None: none), by its state, its last
    movement and what holds it."""
    if state == "in_transit":
        return "in_transit"
    away = _AWAY.get(moved or "")
    if away is not None:
        return away
    shelf = _ON_SHELF_MOVES.get(moved or "")
    if shelf is None:
        return None
    return held or shelf


LineKey = tuple[str, str | None, str, str | None, str | None]
"""(scope, place, product, lot, expiry)."""


def count_line(counts: dict[LineKey, list[int]], state_row: Any, sign: int) -> None:
    """Add (``sign`` +1) or take away (-1) a code's contribution to its stock line in
    ``counts`` (:data:`LineKey` → :data:`FIGURES`), from its ``view_code_state`` row (a
    tuple as :func:`projections.code_facts.state_row` builds it, or a row read from the
    table)."""
    if not state_row[_INSTANCE]:
        return
    scope, state, product, place, lot, expiry, moved, held = _STATE_ROW(state_row)
    name = figure(state, moved, held)
    if name is None or product is None:
        return
    line = counts.get((scope, place, product, lot, expiry))
    if line is None:
        line = counts[scope, place, product, lot, expiry] = [0] * len(FIGURES)
    line[_COLUMN[name]] += sign


def update_stock(conn: Connection, deltas: dict[LineKey, list[int]]) -> None:
    """Add ``deltas`` (:data:`LineKey` → :data:`FIGURES`) to ``view_stock``; a line that
    counts nothing any more is removed."""
    changed = sorted((line_key(k), k) for k, d in deltas.items() if any(d))
    if not changed:
        return
    columns = [stock_counts.c[name] for name in FIGURES]
    current = {
        row.key: list(row[1:])
        for row in select_in(
            conn,
            lambda cond: select(stock_counts.c.key, *columns).where(cond),
            stock_counts.c.key,
            [key for key, _ in changed],
        )
    }
    empty = [0] * len(FIGURES)
    rows = []
    for key, line in changed:
        totals = [a + b for a, b in zip(current.get(key, empty), deltas[line], strict=True)]
        if any(totals):
            rows.append((key, *line, *totals))
    for condition in any_of(conn, stock_counts.c.key, sorted(current)):
        conn.execute(delete(stock_counts).where(condition))
    insert_rows(conn, stock_counts, rows)


def line_key(line: LineKey) -> str:
    """The ``key`` of a ``view_stock`` line: JSON ``[scope, place, product, lot, expiry]``."""
    return json.dumps(list(line))
