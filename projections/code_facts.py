"""The code-status projection: one fact row per (code, event that names it), the
parent/child links, and each code's current status and the stock it makes.

**Facts are stored once, where they happen**: an event that names a case gives the case
a fact row, not each box inside (``view_code_facts``). What a container passes on to its
contents is resolved when read (:func:`projections.code_status.effective_facts`, from the
containment spans of :mod:`projections.hierarchy`), so a packing event captured late (an
offline PDA back-filling) changes what the case's earlier-recorded events did to the
boxes, as a replay in eventTime order would.

**The current status** (``view_code_state``, per institution and everyone's) is kept a
batch at a time. Each event's facts go to the codes it names and, through the
containment at its eventTime (:class:`projections.hierarchy.LinkSet`, loaded for the
codes the batch reaches), to the codes inside them: a code whose new facts all come
after its last one is folded on from its row; any other — an event recorded late, an
error declaration, or a link recorded after events of its container that it changes
(:func:`_moved`) — is folded again from its effective facts. So the rows do not depend on
where batches begin and end, nor on the order events were recorded in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Connection, Table, delete, select

from epcis.identifiers.facts import facts_of
from ledger.application import StoredEvent
from ledger.records import SharedEvent
from projections import code_first
from projections.bulk import any_of, insert_rows, select_in
from projections.code_status import Derived, Fact, Folding, derive_stored, effective_facts, folded
from projections.hierarchy import CONTAINMENT, WILDCARD, At, LinkSet
from projections.schema import (
    code_facts,
    code_state,
    links,
    stock_counts,
    value_columns,
)
from projections.stock_lines import LineKey, count_line, update_stock

_FACT_ROW = itemgetter(*value_columns(code_facts))  # a fact's __dict__ → row
_LINK_ROW = itemgetter(*value_columns(links))
_IN_TIME = attrgetter("event_time", "position")  # the order facts are folded in


def history_text(positions: Iterable[int], before: str = "") -> str:
    """The ``history`` column: ``before`` followed by ``positions``, space-separated."""
    added = " ".join(map(str, positions))
    return f"{before} {added}" if before and added else before or added


def history_positions(text: str | None) -> list[int]:
    """The positions a ``history`` column holds, in order."""
    return [int(p) for p in text.split()] if text else []


def state_row(
    scope: str, code: str, folding: Folding | None, *, declared: bool, history: str = ""
) -> tuple[Any, ...]:
    """The ``view_code_state`` row of a code in ``scope`` (``folding`` None: every fact
    withdrawn); ``history``: :func:`history_text` of its facts."""
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
        f.moved,
        f.held,
        history,
    )


EVERYONE = ""
"""The scope of the state and stock every institution's facts make (a regulator's view)."""


def update_states(conn: Connection, derived: Sequence[Derived]) -> None:
    """Bring ``view_code_state`` up to date with the batch ``derived`` (its facts and
    links already written), in every scope it touches: everyone's (:data:`EVERYONE`) and
    the institution of each fact's event (what that institution sees)."""
    graph = LinkSet(kinds=CONTAINMENT)
    named = {f.code for d in derived for f in d.facts}
    graph.load_down(conn, named | {k.parent for d in derived for k in d.links})
    updates = passed_facts(graph, derived)
    again = _moved(conn, graph, derived)
    again |= {code for code, facts in updates.items() if any(f.error_declared for f in facts)}
    scopes: dict[str, dict[str, list[Fact]]] = {EVERYONE: updates}
    for code, facts in updates.items():
        for fact in facts:
            if fact.institution:
                scopes.setdefault(fact.institution, {}).setdefault(code, []).append(fact)
    refold: dict[str, set[str]] = {}
    if again:
        # in every institution's view: a code moved into a container may now inherit the
        # events of an institution it had no row for (the rows folded from nothing go)
        kept = conn.execute(select(code_state.c.scope).distinct()).scalars()
        for scope in {EVERYONE, *kept, *scopes}:
            refold[scope] = set(again)
    counts: dict[LineKey, list[int]] = {}
    everyones: dict[str, FoldedOn] = {}
    for scope in sorted(scopes.keys() | refold.keys()):  # EVERYONE first
        by_code = scopes.get(scope, {})
        _update_scope(conn, scope, by_code, refold.get(scope, set()), counts, everyones)
    update_stock(conn, counts)


FoldedOn = tuple[tuple[Any, ...] | None, int, tuple[Any, ...]]
"""A code folded on in everyone's scope: its old row (without the scope; None: none), how
many new facts, its new row."""


def passed_facts(graph: LinkSet, derived: Sequence[Derived]) -> dict[str, list[Fact]]:
    """code → the batch's facts about it: those of the events naming it, and those the
    containers it was in at each event's eventTime pass on (:meth:`LinkSet.contents`)."""
    updates: dict[str, list[Fact]] = {}
    for d in derived:
        mine = {f.code for f in d.facts}
        inside = graph.contents([f.code for f in d.facts], At(d.event_time, d.position))
        for fact in d.facts:
            updates.setdefault(fact.code, []).append(fact)
            for code in inside.get(fact.code, ()):
                if code not in mine:
                    mine.add(code)
                    updates.setdefault(code, []).append(fact.through(fact.code, code))
    return updates


def _moved(conn: Connection, graph: LinkSet, derived: Sequence[Derived]) -> set[str]:
    """The codes whose containers changed under events applied before this batch: a link
    (or a clear, or an error declaration of one) at ``t`` on a parent whose state already
    holds facts at ``t`` or later changes what those passed on to the child and to
    everything ever inside it. (The batch's own events were passed on with every link
    of the batch known: :func:`passed_facts`.) A packing at the end of the parent's
    history, the usual case, moves nothing."""
    changes = [k for d in derived for k in d.links]
    if not changes:
        return set()
    latest = {
        row.code: (row.last_event_time, row.declared)
        for row in select_in(
            conn,
            lambda cond: select(
                code_state.c.code, code_state.c.last_event_time, code_state.c.declared
            ).where(code_state.c.scope == EVERYONE, cond),
            code_state.c.code,
            sorted({k.parent for k in changes}),
        )
    }
    moved: set[str] = set()
    for link in changes:
        before = latest.get(link.parent)
        # a parent with facts of error-declared events: its last_event_time leaves them out
        # (the fold drops them), but they pass on to what it holds (history, declared)
        if not link.error_declared and (
            before is None or (before[0] < link.event_time and not before[1])
        ):
            continue
        under = [link.parent] if link.child == WILDCARD else [link.child]
        moved |= graph.ever_inside(under) | ({link.child} - {WILDCARD})
    return moved


def _update_scope(
    conn: Connection,
    scope: str,
    by_code: dict[str, list[Fact]],
    again: set[str],
    counts: dict[LineKey, list[int]],
    everyones: dict[str, FoldedOn] | None = None,
) -> None:
    """Fold on, or again (``again``, and codes whose new facts come before their last),
    the ``view_code_state`` rows of ``scope``. ``everyones``: the codes folded on in
    everyone's scope, filled when ``scope`` is :data:`EVERYONE`, else read: a code whose
    old row here is everyone's and whose new facts are all of them (the usual case: one
    institution's codes) is folded as everyone's was, so it takes that row."""
    codes = sorted(by_code.keys() | again)
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
    refold: list[str] = []
    for code in codes:
        prior = old.get(code)
        if code in again or (prior is not None and prior.declared):
            refold.append(code)
            continue
        facts = by_code[code]
        before = None if prior is None else tuple(prior)[1:]
        if everyones is not None and scope != EVERYONE:
            same = everyones.get(code)  # this scope's new facts: a sub-list of everyone's
            if same is not None and same[0] == before and same[1] == len(facts):
                rows.append((scope, *same[2][1:]))
                continue
        new = facts if len(facts) == 1 else sorted(facts, key=_IN_TIME)
        if prior is not None and (new[0].event_time, new[0].position) < (
            prior.last_event_time,
            prior.last_position,
        ):
            refold.append(code)
            continue
        folding = Folding.of_state(prior) if prior is not None else Folding()
        for fact in new:
            folding.add(fact)
        history = history_text((f.position for f in new), "" if prior is None else prior.history)
        rows.append(state_row(scope, code, folding, declared=False, history=history))
        if everyones is not None and scope == EVERYONE:
            everyones[code] = (before, len(facts), rows[-1])
    rows.extend(_folded_again(conn, scope, refold))
    for condition in any_of(conn, code_state.c.code, sorted(old)):
        conn.execute(delete(code_state).where(code_state.c.scope == scope, condition))
    insert_rows(conn, code_state, rows)
    for row in old.values():
        count_line(counts, row, -1)
    for row in rows:
        count_line(counts, row, +1)


def _folded_again(conn: Connection, scope: str, codes: Sequence[str]) -> list[tuple[Any, ...]]:
    """The state rows of ``codes`` in ``scope``, folded from all their effective facts."""
    if not codes:
        return []
    groups = effective_facts(conn, codes, scope=None if scope == EVERYONE else scope)
    rows = []
    for code, group in sorted(groups.items()):
        declared = any(r.error_declared for r in group)
        history = history_text(r.position for r in group)
        rows.append(state_row(scope, code, folded(group), declared=declared, history=history))
    return rows


class CodeFacts:
    """Writes ``view_code_facts``, ``view_links``, ``view_code_state``, ``view_stock``
    and ``view_code_first``."""

    name = "code_facts"
    tables: tuple[Table, ...] = (
        code_facts,
        links,
        code_state,
        stock_counts,
        code_first.code_first,
    )

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        derived = [derive_stored(stored) for stored in batch]
        insert_rows(conn, code_facts, [_FACT_ROW(f.__dict__) for d in derived for f in d.facts])
        code_first.record(conn, [(f.code, f.position) for d in derived for f in d.facts])
        insert_rows(conn, links, [_LINK_ROW(k.__dict__) for d in derived for k in d.links])
        update_states(conn, derived)

    def share(self, conn: Connection, shares: Sequence[SharedEvent]) -> None:
        """Institutions that now see events another stored: fold again, in each such
        institution's scope, every code those events touched, and everything ever inside
        them (``view_event_shares`` already holds the shares)."""
        by_scope: dict[str, set[int]] = {}
        for shared in shares:
            by_scope.setdefault(shared.institution, set()).add(shared.position)
        counts: dict[LineKey, list[int]] = {}
        for scope, positions in sorted(by_scope.items()):
            touched = set(
                conn.execute(
                    select(code_facts.c.code).where(code_facts.c.position.in_(sorted(positions)))
                ).scalars()
            )
            graph = LinkSet(kinds=CONTAINMENT)
            graph.load_down(conn, touched)
            codes = touched | graph.ever_inside(touched)
            _update_scope(conn, scope, {}, codes, counts)
        update_stock(conn, counts)

    def backfill(self, conn: Connection, created: Sequence[Table]) -> None:
        """Fill ``view_code_state`` and ``view_stock`` from the facts already there (they
        were just created beside existing facts: a database projected before they existed);
        ``view_code_first`` likewise."""
        if code_first.code_first in created:
            code_first.backfill(conn)
        if code_state in created or stock_counts in created:
            conn.execute(delete(code_state))  # both filled again below, from every code
            conn.execute(delete(stock_counts))
            counts: dict[LineKey, list[int]] = {}
            pairs = conn.execute(select(code_facts.c.institution, code_facts.c.code).distinct())
            scopes: dict[str, set[str]] = {EVERYONE: set()}
            for institution, code in pairs:
                scopes[EVERYONE].add(code)
                if institution:
                    scopes.setdefault(institution, set()).add(code)
            for scope, codes in sorted(scopes.items()):
                _update_scope(conn, scope, {}, codes, counts)
            update_stock(conn, counts)
