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
(:func:`_moved`) — is folded again from its effective facts, in every institution's view
that has a row of it. So the rows do not depend on where batches begin and end, nor on
the order events were recorded in.

Each row keeps the code's parent now (``parent``, as :func:`projections.hierarchy.parents_of`
reads it in the row's scope): read again for every row a batch writes, and for every code
ever put in a container the batch empties (:func:`_parents_again`). Everyone's row of a
code whose facts are all one institution's names it (``sole``) and stands for that
institution's row, which is not written (:func:`_update_scope`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Connection, Table, delete, func, select, update

from epcis.identifiers.facts import facts_of
from ledger.application import StoredEvent
from ledger.records import SharedEvent
from projections import code_first
from projections.bulk import any_of, insert_rows, select_in
from projections.code_status import Derived, Fact, Folding, derive_stored, effective_facts, folded
from projections.hierarchy import CONTAINMENT, WILDCARD, At, LinkSet, parents_of
from projections.schema import (
    code_facts,
    code_state,
    keyed_eq,
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
    scope: str,
    code: str,
    folding: Folding | None,
    *,
    declared: bool,
    history: str = "",
    parent: str | None = None,
    sole: str | None = None,
) -> tuple[Any, ...]:
    """The ``view_code_state`` row of a code in ``scope`` (``folding`` None: every fact
    withdrawn); ``history``: :func:`history_text` of its facts; ``parent``: the code it is
    in now (:func:`projections.hierarchy.parents_of` in ``scope``); ``sole``: everyone's
    row only, the institution all its facts are of (:func:`_update_scope`)."""
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
        parent,
        sole,
    )


EVERYONE = ""
"""The scope of the state and stock every institution's facts make (a regulator's view)."""


def update_states(
    conn: Connection, derived: Sequence[Derived], firsts: code_first.Firsts | None = None
) -> None:
    """Bring ``view_code_state`` up to date with the batch ``derived`` (its facts and
    links already written), in every scope it touches: everyone's (:data:`EVERYONE`) and
    the institution of each fact's event (what that institution sees). ``firsts``: the
    first positions known of the batch's codes (:func:`projections.code_first.record`),
    shared by its lookups."""
    graph = LinkSet(kinds=CONTAINMENT)
    if firsts is not None:
        graph.firsts = firsts
    named = {f.code for d in derived for f in d.facts}
    graph.load_down(conn, named | {k.parent for d in derived for k in d.links})
    updates = passed_facts(graph, derived)
    again = _moved(conn, graph, derived)
    again |= {code for code, facts in updates.items() if any(f.error_declared for f in facts)}
    counts: dict[LineKey, list[int]] = {}
    soles: dict[str, tuple[str | None, str | None]] = {}
    written: set[tuple[str, str]] = set()
    refolded = _update_scope(conn, EVERYONE, updates, again, counts, soles, graph.firsts, written)
    refold: dict[str, set[str]] = {}
    if again:
        # in every institution's view: those with rows of their own (the rows folded from
        # nothing go), and those whose events the codes now inherit (a code moved into a
        # container may inherit the events of an institution it had no row for)
        seen = {i for code in again for i in refolded.get(code, ())}
        for scope in {*own_scopes(conn), *seen}:
            refold[scope] = set(again)
    # folded again for a fact before its last (a late link moving it out of a container
    # whose later events it inherited): so are its rows in every institution's view,
    # whether or not the institution has a fact in the batch
    for scope, code in _rows_elsewhere(conn, sorted(refolded.keys() - again)):
        refold.setdefault(scope, set()).add(code)
    scopes: dict[str, dict[str, list[Fact]]] = {}
    for code, facts in updates.items():
        for fact in facts:
            if fact.institution:
                scopes.setdefault(fact.institution, {}).setdefault(code, []).append(fact)
    for code, (before, now) in soles.items():
        if before is not None and before != now:  # its institution's row is its own again
            refold.setdefault(before, set()).add(code)
    for scope in sorted(scopes.keys() | refold.keys()):
        by_code = scopes.get(scope, {})
        again_here = refold.get(scope, set())
        _update_scope(conn, scope, by_code, again_here, counts, soles, graph.firsts, written)
    update_stock(conn, counts)
    cleared = {k.parent for d in derived for k in d.links if k.child == WILDCARD}
    if cleared:
        inside = {r.child for p in cleared for r in graph.by_parent.get(p, ())} - {WILDCARD}
        _parents_again(conn, sorted(inside), graph.firsts, written)


def own_scopes(conn: Connection) -> list[str]:
    """The institutions with rows of their own in ``view_code_state``: one index probe
    each (a recursive walk of the index on scope; ``SELECT DISTINCT`` reads every row)."""
    walk = (
        select(func.min(code_state.c.scope).label("scope"))
        .where(code_state.c.scope > EVERYONE)
        .cte("scopes", recursive=True)
    )
    following = select(func.min(code_state.c.scope)).where(code_state.c.scope > walk.c.scope)
    walk = walk.union_all(select(following.scalar_subquery()).where(walk.c.scope.is_not(None)))
    return [s for s in conn.execute(select(walk.c.scope)).scalars() if s is not None]


def _rows_elsewhere(conn: Connection, codes: Sequence[str]) -> list[tuple[str, str]]:
    """(scope, code) of the institutions' own rows of ``codes`` (found through the index,
    scope by scope)."""
    scopes = own_scopes(conn) if codes else []
    if not scopes:
        return []
    return [
        (scope, code)
        for scope, code in select_in(
            conn,
            lambda cond: select(code_state.c.scope, code_state.c.code).where(
                code_state.c.scope.in_(scopes), cond
            ),
            code_state.c.code,
            codes,
        )
    ]


def _parents_again(
    conn: Connection,
    codes: Sequence[str],
    firsts: code_first.Firsts | None,
    written: set[tuple[str, str]],
) -> None:
    """Read again the kept parents of ``codes``, every code ever put in a container the
    batch emptied (a DELETE without childEPCs, or its error declaration): the parent
    ends or comes back with the clear, even for a code whose row the batch did not write
    (in the clear's eventTime it was in another container, so the clear passed nothing on
    to it, yet its link to the cleared container was still live). Rows the batch wrote
    (``written``: scope, code) have theirs already."""
    if not codes:
        return
    scopes = [EVERYONE, *own_scopes(conn)]  # through the index, scope by scope
    rows = select_in(
        conn,
        lambda cond: select(code_state.c.scope, code_state.c.code, code_state.c.parent).where(
            code_state.c.scope.in_(scopes), cond
        ),
        code_state.c.code,
        codes,
    )
    by_scope: dict[str, dict[str, str | None]] = {}
    for scope, code, parent in rows:
        if (scope, code) not in written:
            by_scope.setdefault(scope, {})[code] = parent
    for scope, kept in sorted(by_scope.items()):
        now = parents_of(conn, sorted(kept), scope=scope or None, firsts=firsts)
        for code, parent in sorted(kept.items()):
            if now.get(code) != parent:
                conn.execute(
                    update(code_state)
                    .where(code_state.c.scope == scope, keyed_eq(code_state.c.code, code))
                    .values(parent=now.get(code))
                )


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


def _sole(institutions: Iterable[str | None], before: str | None = "") -> str | None:
    """The institution all of ``institutions`` are (None: several, or none), and the
    ``before`` one (""): no facts before)."""
    found = set(institutions)
    if before != "":
        found.add(before)
    if len(found) != 1:
        return None
    (only,) = found
    return only or None


def _update_scope(
    conn: Connection,
    scope: str,
    by_code: dict[str, list[Fact]],
    again: set[str],
    counts: dict[LineKey, list[int]],
    soles: dict[str, tuple[str | None, str | None]] | None = None,
    firsts: code_first.Firsts | None = None,
    written: set[tuple[str, str]] | None = None,
) -> dict[str, set[str]]:
    """Fold on, or again (``again``, and codes whose new facts come before their last),
    the ``view_code_state`` rows of ``scope``, each with its parent now (read from the
    links, the batch's written already).

    Everyone's rows keep ``sole``: the institution all of the code's facts are of; that
    institution keeps no row of its own for the code (it would be the same row), and its
    stock counts the code from everyone's row. ``soles``: code → its ``sole`` before and
    after, filled by everyone's scope, read by the institutions' (codes not in it: read
    from the table); a code whose ``sole`` was this institution and is no more is folded
    again here (it was folded as everyone's). The codes folded again, each with the
    institutions of its effective facts; ``written`` gets (scope, code) of each row
    written."""
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
    everyone = scope == EVERYONE
    if not everyone:
        sole = _soles_now(conn, codes, soles or {})
        codes = [c for c in codes if sole.get(c) != scope]  # counted from everyone's row
    rows: list[tuple[Any, ...]] = []
    refold: list[str] = []
    for code in codes:
        prior = old.get(code)
        if code in again or (prior is not None and prior.declared):
            refold.append(code)
            continue
        facts = by_code[code]
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
        alone = (
            _sole((f.institution for f in new), "" if prior is None else prior.sole)
            if everyone
            else None
        )
        rows.append(state_row(scope, code, folding, declared=False, history=history, sole=alone))
    again_rows, refolded = _folded_again(conn, scope, refold)
    rows.extend(again_rows)
    rows = _with_parents(conn, scope, rows, firsts)
    if soles is not None and everyone:
        for row in rows:
            prior = old.get(row[1])
            soles[row[1]] = (None if prior is None else prior.sole, row[_SOLE])
    for condition in any_of(conn, code_state.c.code, sorted(old)):
        conn.execute(delete(code_state).where(code_state.c.scope == scope, condition))
    insert_rows(conn, code_state, rows)
    if written is not None:
        written.update((scope, row[1]) for row in rows)
    for row in old.values():
        _count(counts, row, -1)
    for row in rows:
        _count(counts, row, +1)
    return {code: refolded.get(code, set()) for code in refold}


def _count(counts: dict[LineKey, list[int]], row: Any, sign: int) -> None:
    """:func:`count_line` of a state row, and for its ``sole`` institution too."""
    count_line(counts, row, sign)
    alone = row[_SOLE]
    if alone is not None:
        count_line(counts, (alone, *row[1:]), sign)


def _soles_now(
    conn: Connection, codes: Sequence[str], soles: dict[str, tuple[str | None, str | None]]
) -> dict[str, str | None]:
    """code → everyone's ``sole`` of it now (from ``soles``, else from the table)."""
    found = {c: soles[c][1] for c in codes if c in soles}
    rest = [c for c in codes if c not in soles]
    if rest:
        for code, alone in select_in(
            conn,
            lambda cond: select(code_state.c.code, code_state.c.sole).where(
                code_state.c.scope == EVERYONE, cond
            ),
            code_state.c.code,
            rest,
        ):
            found[code] = alone
    return found


_PARENT = value_columns(code_state).index("parent")
"""Where a :func:`state_row` holds the parent."""
_SOLE = value_columns(code_state).index("sole")


def _with_parents(
    conn: Connection,
    scope: str,
    rows: list[tuple[Any, ...]],
    firsts: code_first.Firsts | None = None,
) -> list[tuple[Any, ...]]:
    """``rows`` (of :func:`state_row`) with each code's parent now in ``scope``."""
    if not rows:
        return rows
    codes = [r[1] for r in rows]
    found = parents_of(conn, codes, scope=None if scope == EVERYONE else scope, firsts=firsts)
    return [(*r[:_PARENT], found.get(r[1]), *r[_PARENT + 1 :]) for r in rows]


def _folded_again(
    conn: Connection, scope: str, codes: Sequence[str]
) -> tuple[list[tuple[Any, ...]], dict[str, set[str]]]:
    """The state rows of ``codes`` in ``scope``, folded from all their effective facts,
    and the institutions of each code's facts."""
    if not codes:
        return [], {}
    everyone = scope == EVERYONE
    groups = effective_facts(conn, codes, scope=None if everyone else scope)
    rows = []
    institutions = {c: {r.institution for r in g if r.institution} for c, g in groups.items()}
    for code, group in sorted(groups.items()):
        declared = any(r.error_declared for r in group)
        history = history_text(r.position for r in group)
        alone = _sole(r.institution for r in group) if everyone else None
        found = folded(group)
        rows.append(state_row(scope, code, found, declared=declared, history=history, sole=alone))
    return rows, institutions


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
        firsts = code_first.record(conn, [(f.code, f.position) for d in derived for f in d.facts])
        insert_rows(conn, links, [_LINK_ROW(k.__dict__) for d in derived for k in d.links])
        update_states(conn, derived, firsts)

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
