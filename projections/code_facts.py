"""The code-status projection: one fact row per (code, event) and the parent/child links.

Containers pass events on to their contents: when an event names a code that holds
others (live aggregation links, :mod:`projections.hierarchy`), every code inside it,
transitively, gets the fact too, with ``via`` = the code the event named. The contents
are those the ledger had recorded *before* this event (lower log position) with an
eventTime not after this event's: what was in the case when it was shipped, as far as
the log says at that point. The choice keeps facts insert-only and deterministic in log
order, so a rebuild gives exactly the rows the incremental run wrote; a pack event
captured late does not re-derive facts of events recorded before it.

**A batch at a time.** The containment of each event is resolved in memory
(:class:`LinkGraph`): first the link rows the batch can reach are read from
``view_links`` in a few queries (the codes the batch names, and transitively every code
linked under them, with all the links of those codes), then the batch's events are
applied in log order, each adding its own links to the graph before the next one looks.
The graph answers exactly as :func:`projections.hierarchy.current_edges` /
:func:`~projections.hierarchy.contents` would over the table at that event (the same
rules, :func:`~projections.hierarchy.live_edges`, over the same rows), so the rows do not
depend on where batches begin and end. The batch's facts and links are then written in
one go (:func:`projections.bulk.insert_rows`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from sqlalchemy import ColumnElement, Connection, Table, delete, select

from epcis.identifiers.facts import facts_of
from ledger.application import StoredEvent
from ledger.records import SharedEvent
from projections.bulk import any_of, insert_rows, select_in
from projections.code_status import Derived, Fact, Folding, Link, derive_stored, fold
from projections.hierarchy import live_edges, walk
from projections.schema import (
    code_facts,
    code_state,
    links,
    stock_counts,
    value_columns,
    visible_to,
)

CONTAINMENT = ("aggregation",)

_LINK_FIELDS = (
    "position",
    "notification_id",
    "record_time",
    "event_time",
    "hash_id",
    "error_declared",
    "institution",
)
_FACT_ROW = itemgetter(*value_columns(code_facts))  # a fact's __dict__ → row
_LINK_ROW = itemgetter(*value_columns(links))


class LinkRow(NamedTuple):
    """What the containment rules read of one ``view_links`` row."""

    parent: str
    child: str
    position: int
    event_time: str
    hash_id: str
    action: str
    kind: str
    error_declared: bool


_LINK_ROW_COLUMNS = [links.c[name] for name in LinkRow._fields]


class LinkGraph:
    """Link rows by parent and by child, for :meth:`current_edges` and :meth:`contents`.

    Holds every row of the codes it was loaded for (:meth:`load`), plus the rows added
    since (:meth:`add`); answers only about those codes.
    """

    def __init__(self) -> None:
        self.by_parent: dict[str, list[LinkRow]] = {}
        self.by_child: dict[str, list[LinkRow]] = {}
        self._keys: set[tuple[str, str, int]] = set()
        self.loaded_parents: set[str] = set()
        self.loaded_children: set[str] = set()

    def add(self, row: LinkRow) -> None:
        key = (row.parent, row.child, row.position)
        if key in self._keys:
            return
        self._keys.add(key)
        self.by_parent.setdefault(row.parent, []).append(row)
        self.by_child.setdefault(row.child, []).append(row)

    def load(self, conn: Connection, parents: Iterable[str], pending: dict[str, set[str]]) -> None:
        """Read the rows of ``parents`` and, transitively, of every code linked under them
        (in the table or by ``pending``: parent → children the batch will link)."""
        frontier = set(parents) - self.loaded_parents
        while frontier:
            wanted = sorted(frontier)
            self.loaded_parents.update(wanted)
            kids: set[str] = set()
            for row in self._select(conn, links.c.parent, wanted):
                self.add(row)
                kids.add(row.child)
            for parent in wanted:
                kids.update(pending.get(parent, ()))
            new = sorted(kids - self.loaded_children)
            self.loaded_children.update(new)
            for row in self._select(conn, links.c.child, new):
                self.add(row)
            frontier = set(new) - self.loaded_parents

    @staticmethod
    def _select(conn: Connection, column: Any, values: Sequence[str]) -> list[LinkRow]:
        def query(condition: ColumnElement[bool]) -> Any:
            return select(*_LINK_ROW_COLUMNS).where(condition)

        return [LinkRow(*row) for row in select_in(conn, query, column, values)]

    def current_edges(
        self, parents: Sequence[str], before: tuple[int, str], kinds: Sequence[str]
    ) -> list[tuple[str, str]]:
        """As :func:`projections.hierarchy.current_edges` (``parents``, ``before``) over
        the rows held: every row held was recorded before the event asking."""
        candidates: set[str] = set()
        for parent in parents:
            candidates.update(r.child for r in self.by_parent.get(parent, ()))
        rows = [
            r
            for child in candidates
            for r in self.by_child.get(child, ())
            if r.kind in kinds and r.position < before[0] and r.event_time <= before[1]
        ]
        return live_edges(rows, set(parents))

    def contents(
        self, parents: Iterable[str], before: tuple[int, str], kinds: Sequence[str]
    ) -> dict[str, list[str]]:
        """As :func:`projections.hierarchy.contents` (``before``) over the rows held."""

        def edges_of(frontier: list[str]) -> list[tuple[str, str]]:
            if not any(p in self.by_parent for p in frontier):
                return []  # nothing was ever linked under these codes
            return self.current_edges(frontier, before, kinds)

        return walk(parents, edges_of)


def _link_row(link: Link) -> LinkRow:
    return LinkRow(
        link.parent,
        link.child,
        link.position,
        link.event_time,
        link.hash_id,
        link.action,
        link.kind,
        link.error_declared,
    )


def state_row(scope: str, code: str, folding: Folding | None, *, declared: bool) -> tuple[Any, ...]:
    """The ``view_code_state`` row of a code in ``scope`` (``folding`` None: every fact
    withdrawn)."""
    f = folding or Folding()
    place = f.destination if f.state == "in_transit" else f.location
    return (
        scope,
        code,
        f.state,
        f.location,
        f.destination,
        f.holder,
        f.product,
        f.lot,
        f.expiry,
        f.last_event,
        f.last_event_time,
        f.last_position,
        place,
        facts_of(code).is_instance,
        declared,
        f.hospital_state,
        f.order,
    )


EVERYONE = ""
"""The scope of the state and stock every institution's facts make (a regulator's view)."""


def update_states(conn: Connection, facts: Sequence[Fact]) -> None:
    """Bring ``view_code_state`` up to date with ``facts`` (just written to
    ``view_code_facts``), in every scope they touch: everyone's (:data:`EVERYONE`) and the
    institution of each fact's event (what that institution sees). A code whose new facts
    all come after its last one (by ``(event_time, position)``) and that has nothing to do
    with an error declaration is folded on from its row; any other is folded again from all
    its facts (of the scope)."""
    scopes: dict[str, dict[str, list[Fact]]] = {}
    for fact in facts:
        scopes.setdefault(EVERYONE, {}).setdefault(fact.code, []).append(fact)
        if fact.institution:
            scopes.setdefault(fact.institution, {}).setdefault(fact.code, []).append(fact)
    counts: dict[str, list[int]] = {}
    for scope, by_code in sorted(scopes.items()):
        _update_scope(conn, scope, by_code, counts)
    update_stock(conn, counts)


def _update_scope(
    conn: Connection, scope: str, by_code: dict[str, list[Fact]], counts: dict[str, list[int]]
) -> None:
    codes = sorted(by_code)
    old = {
        row.code: row
        for row in select_in(
            conn,
            lambda cond: select(code_state).where(code_state.c.scope == scope, cond),
            code_state.c.code,
            codes,
        )
    }
    rows: list[tuple[Any, ...]] = []
    again: list[str] = []
    for code in codes:
        new = sorted(by_code[code], key=lambda f: (f.event_time, f.position))
        prior = old.get(code)
        if (
            any(f.error_declared for f in new)
            or (prior is not None and prior.declared)
            or (
                prior is not None
                and (new[0].event_time, new[0].position)
                < (prior.last_event_time, prior.last_position)
            )
        ):
            again.append(code)
            continue
        folding = Folding.of_state(prior) if prior is not None else Folding()
        for fact in new:
            folding.add(fact)
        rows.append(state_row(scope, code, folding, declared=False))
    rows.extend(_folded_again(conn, scope, again))
    for condition in any_of(conn, code_state.c.code, sorted(old)):
        conn.execute(delete(code_state).where(code_state.c.scope == scope, condition))
    insert_rows(conn, code_state, rows)
    for row in old.values():
        _count(counts, scope, row.code, row.state, row.product, row.place, row.lot, -1)
    for row in rows:
        _count(counts, scope, row[1], row[2], row[6], row[12], row[7], +1)


def _refold(
    conn: Connection, scope: str, codes: Sequence[str], counts: dict[str, list[int]]
) -> None:
    """Fold ``codes`` again from all their facts ``scope`` sees, replacing their rows."""
    if not codes:
        return
    old = list(
        select_in(
            conn,
            lambda cond: select(code_state).where(code_state.c.scope == scope, cond),
            code_state.c.code,
            list(codes),
        )
    )
    for condition in any_of(conn, code_state.c.code, sorted(row.code for row in old)):
        conn.execute(delete(code_state).where(code_state.c.scope == scope, condition))
    rows = _folded_again(conn, scope, codes)
    insert_rows(conn, code_state, rows)
    for row in old:
        _count(counts, scope, row.code, row.state, row.product, row.place, row.lot, -1)
    for new in rows:
        _count(counts, scope, new[1], new[2], new[6], new[12], new[7], +1)


def _folded_again(conn: Connection, scope: str, codes: Sequence[str]) -> list[tuple[Any, ...]]:
    """The state rows of ``codes`` in ``scope``, folded from all their facts of it."""
    rows = []
    for code, group in _facts_by_code(conn, codes, scope):
        found = fold(code, group, lambda: None)
        rows.append(
            state_row(
                scope,
                code,
                Folding.of_state(found) if found is not None else None,
                declared=any(r.error_declared for r in group),
            )
        )
    return rows


_STOCK_STATES = {"in_stock": 0, "in_transit": 1, "dispensed": 2}  # → in_stock, in_transit, bound


def _count(
    counts: dict[str, list[int]],
    scope: str,
    code: str,
    state: str | None,
    product: str | None,
    place: str | None,
    lot: str | None,
    sign: int,
) -> None:
    """Add a code's contribution to stock (as :func:`projections.stock.stock` counts it)."""
    column = _STOCK_STATES.get(state or "")
    if column is None or product is None or not facts_of(code).is_instance:
        return
    line = counts.setdefault(json.dumps([scope, place, product, lot]), [0, 0, 0])
    line[column] += sign


def update_stock(conn: Connection, deltas: dict[str, list[int]]) -> None:
    """Add ``deltas`` (key → [in_stock, in_transit, bound]) to ``view_stock``; a line that
    counts nothing any more is removed."""
    changed = sorted(k for k, d in deltas.items() if any(d))
    if not changed:
        return
    current = {
        row.key: [row.in_stock, row.in_transit, row.bound]
        for row in select_in(
            conn, lambda cond: select(stock_counts).where(cond), stock_counts.c.key, changed
        )
    }
    rows = []
    for key in changed:
        totals = [a + b for a, b in zip(current.get(key, [0, 0, 0]), deltas[key], strict=True)]
        if any(totals):
            scope, place, product, lot = json.loads(key)
            rows.append((key, scope, place, product, lot, *totals))
    for condition in any_of(conn, stock_counts.c.key, sorted(current)):
        conn.execute(delete(stock_counts).where(condition))
    insert_rows(conn, stock_counts, rows)


def _facts_by_code(
    conn: Connection, codes: Sequence[str], scope: str = EVERYONE
) -> list[tuple[str, list[Any]]]:
    """Every fact of ``codes`` (of the institution ``scope``, or all), grouped by code,
    each group in ``(event_time, position)`` order."""
    groups: dict[str, list[Any]] = {}
    mine = [] if scope == EVERYONE else [visible_to(code_facts, scope)]

    def query(condition: ColumnElement[bool]) -> Any:
        return select(code_facts).where(condition, *mine)

    for row in select_in(conn, query, code_facts.c.code, sorted(codes)):
        groups.setdefault(row.code, []).append(row)
    return [
        (code, sorted(group, key=lambda r: (r.event_time, r.position)))
        for code, group in sorted(groups.items())
    ]


class Containment(Protocol):
    """What :meth:`CodeFacts.resolve` reads of the links recorded before an event."""

    def contents(
        self, parents: Iterable[str], before: tuple[int, str], kinds: Sequence[str]
    ) -> dict[str, list[str]]: ...

    def current_edges(
        self, parents: Sequence[str], before: tuple[int, str], kinds: Sequence[str]
    ) -> list[tuple[str, str]]: ...


class CodeFacts:
    """Writes ``view_code_facts``, ``view_links``, ``view_code_state`` and ``view_stock``."""

    name = "code_facts"
    tables: tuple[Table, ...] = (code_facts, links, code_state, stock_counts)

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        derived = [derive_stored(stored) for stored in batch]
        graph = LinkGraph()
        named: set[str] = set()
        pending: dict[str, set[str]] = {}
        for d in derived:
            named.update(f.code for f in d.facts)
            if d.clears_parent is not None:
                named.add(d.clears_parent)
            for link in d.links:
                pending.setdefault(link.parent, set()).add(link.child)
        graph.load(conn, named, pending)
        fact_rows: list[tuple[Any, ...]] = []
        link_rows: list[tuple[Any, ...]] = []
        all_facts: list[Fact] = []
        for d in derived:
            facts, new_links = self.resolve(graph, d)
            all_facts.extend(facts)
            fact_rows.extend(_FACT_ROW(f.__dict__) for f in facts)
            link_rows.extend(_LINK_ROW(k.__dict__) for k in new_links)
            for link in new_links:
                graph.add(_link_row(link))
        insert_rows(conn, code_facts, fact_rows)
        insert_rows(conn, links, link_rows)
        update_states(conn, all_facts)

    def share(self, conn: Connection, shares: Sequence[SharedEvent]) -> None:
        """Institutions that now see events another stored: fold again, in each such
        institution's scope, every code those events touched (``view_event_shares``
        already holds the shares)."""
        by_scope: dict[str, set[int]] = {}
        for shared in shares:
            by_scope.setdefault(shared.institution, set()).add(shared.position)
        counts: dict[str, list[int]] = {}
        for scope, positions in sorted(by_scope.items()):
            touched = conn.execute(
                select(code_facts.c.code).where(code_facts.c.position.in_(sorted(positions)))
            ).scalars()
            _refold(conn, scope, sorted(set(touched)), counts)
        update_stock(conn, counts)

    def backfill(self, conn: Connection, created: Sequence[Table]) -> None:
        """Fill ``view_code_state`` and ``view_stock`` from the facts already there (they
        were just created beside existing facts: a database projected before they existed)."""
        if code_state in created or stock_counts in created:
            conn.execute(delete(code_state))  # both filled again below, from every code
            conn.execute(delete(stock_counts))
            counts: dict[str, list[int]] = {}
            pairs = conn.execute(select(code_facts.c.institution, code_facts.c.code).distinct())
            scopes: dict[str, list[str]] = {EVERYONE: []}
            for institution, code in pairs:
                scopes[EVERYONE].append(code)
                if institution:
                    scopes.setdefault(institution, []).append(code)
            for scope, codes in sorted(scopes.items()):
                rows = _folded_again(conn, scope, sorted(set(codes)))
                insert_rows(conn, code_state, rows)
                for row in rows:
                    _count(counts, scope, row[1], row[2], row[6], row[12], row[7], +1)
            update_stock(conn, counts)

    @staticmethod
    def resolve(graph: Containment, derived: Derived) -> tuple[list[Fact], list[Link]]:
        """The facts (the event's, and those its containers pass on) and links of one
        event, its containment read from ``graph`` (which holds what came before it: the
        batch's :class:`LinkGraph`, or the tables themselves)."""
        before = (derived.position, derived.event_time)
        facts: list[Fact] = list(derived.facts)
        named = {f.code for f in facts}
        inside = graph.contents([f.code for f in facts], before, CONTAINMENT)
        for fact in derived.facts:
            for code in inside[fact.code]:
                if code not in named:
                    named.add(code)
                    facts.append(fact.through(fact.code, code))
        new_links: list[Link] = list(derived.links)
        if derived.clears_parent is not None:  # AggregationEvent DELETE without children
            template = {k: v for k, v in facts[0].row().items() if k in _LINK_FIELDS}
            for parent, child in graph.current_edges([derived.clears_parent], before, CONTAINMENT):
                new_links.append(
                    Link(
                        parent=parent, child=child, action="DELETE", kind="aggregation", **template
                    )
                )
        return facts, new_links
