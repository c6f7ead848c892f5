"""Package hierarchy: what was inside what, and when, from the link facts in ``view_links``.

A link (parent, child) is *live* at an eventTime ``t`` when its latest fact with an
eventTime not after ``t`` — by ``(event_time, position)``, among those recorded up to
``as_of`` — is ADD or OBSERVE, not DELETE, and no *clear* of the parent (an
AggregationEvent DELETE without childEPCs: a link row to :data:`WILDCARD`) came after
it. A child with live links to two parents (packed into B without being taken out of A)
is in the one linked last. Facts of an event that was later declared erroneous
(``errorDeclaration``) are ignored. Kinds: ``aggregation`` (containment: case → box) and
``transformation`` (lineage: box → the unit codes made from it); both by default.

**Record order does not matter.** Containment at ``t`` reads every link fact with an
eventTime up to ``t``, whenever it was recorded: an AggregationEvent captured late (an
offline PDA back-filling, seed 000 §2.2.6) counts from the time it happened, exactly as a
replay of the log in eventTime order would. What an event does to a container it also
does to what is inside at its eventTime, the event's own link facts aside: an unpacking
event (a DELETE) still reaches the codes it takes out, a packing event (an ADD) not yet
the codes it puts in (it names them itself). :class:`LinkSet` holds the rows and answers
(:meth:`LinkSet.contents` downward, :meth:`LinkSet.ancestry` upward, as spans of
eventTime); the functions below read them from the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, select

from epcis.identifiers.facts import canonical
from projections.bulk import select_in
from projections.code_first import Firsts
from projections.schema import links, utc_text, visible_to

ALL_KINDS = ("aggregation", "transformation")
CONTAINMENT = ("aggregation",)
"""The kinds of link whose parent passes its events on to its children."""

WILDCARD = "*"
"""The child of a link row that empties its parent: an AggregationEvent DELETE without
childEPCs takes out whatever was inside at its eventTime (not only what the ledger knew
when it was recorded)."""


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


class At(NamedTuple):
    """A moment in eventTime for containment: the link facts up to ``time`` count, except
    those of the event at ``position`` (the event asking: its own links act after it)."""

    time: str
    position: int = -1


@dataclass(frozen=True)
class Span:
    """``ancestor`` held the code from ``start`` to ``end`` (eventTime; ``end`` None:
    still): an event of the ancestor at ``t`` reaches the code when ``start`` < ``t``
    < ``end``; at ``start`` unless it is one of the events that put it in (``start_by``);
    at ``end`` only if it is one the code is still in without its own links (``end_by``:
    the event taking it out) — as :meth:`LinkSet.contents` answers at ``At(t, event)``."""

    ancestor: str
    start: str
    start_by: frozenset[int]
    end: str | None
    end_by: frozenset[int]

    def covers(self, event_time: str, position: int) -> bool:
        if event_time < self.start or (event_time == self.start and position in self.start_by):
            return False
        if self.end is None or event_time < self.end:
            return True
        return event_time == self.end and position in self.end_by


@dataclass(frozen=True)
class Reach:
    """A container a code was in through others (``spans``: its own span in its direct
    container, then that container's in the next, … up to ``ancestor``): an event of the
    ancestor reaches the code when every span covers it."""

    ancestor: str
    spans: tuple[Span, ...]

    def covers(self, event_time: str, position: int) -> bool:
        return all(span.covers(event_time, position) for span in self.spans)


def _visible(row: LinkRow, at: At | None) -> bool:
    return at is None or (row.event_time <= at.time and row.position != at.position)


class LinkSet:
    """Link rows by parent and by child (clears by parent), loaded from ``view_links``
    for the codes asked about (:meth:`load_down`, :meth:`load_up`) and added to
    (:meth:`add`); answers only about the codes loaded."""

    def __init__(
        self,
        *,
        as_of: str | datetime | None = None,
        kinds: Sequence[str] = ALL_KINDS,
        scope: str | None = None,
    ) -> None:
        self.by_parent: dict[str, list[LinkRow]] = {}
        self.by_child: dict[str, list[LinkRow]] = {}
        self.clears: dict[str, list[LinkRow]] = {}
        self.kinds = tuple(kinds)
        self._conds: list[ColumnElement[bool]] = [links.c.kind.in_(list(self.kinds))]
        if as_of is not None:
            self._conds.append(links.c.record_time <= utc_text(as_of))
        if scope is not None:
            self._conds.append(visible_to(links, scope))
        self._keys: set[tuple[str, str, int]] = set()
        self._parents: set[str] = set()  # loaded: rows by parent
        self._children: set[str] = set()  # loaded: rows by child
        self._cleared: set[str] = set()  # loaded: clears
        self.firsts = Firsts()
        """The first positions of the codes loaded (their lookups' lower bounds), for
        whoever reads their facts next (:func:`projections.code_status.effective_facts`)."""

    def add(self, row: LinkRow) -> None:
        key = (row.parent, row.child, row.position)
        if key in self._keys or row.kind not in self.kinds:
            return
        self._keys.add(key)
        if row.child == WILDCARD:
            self.clears.setdefault(row.parent, []).append(row)
            return
        self.by_parent.setdefault(row.parent, []).append(row)
        self.by_child.setdefault(row.child, []).append(row)

    # -- loading ----------------------------------------------------------------------

    def _fetch(self, conn: Connection, column: Any, values: Iterable[str]) -> None:
        """The rows whose ``column`` (parent or child) is one of ``values``: by groups of
        codes, each from its codes' first position on (:mod:`projections.code_first`:
        on PostgreSQL, the older partitions are not read)."""
        for since, group in self.firsts.groups(conn, set(values)):

            def query(condition: ColumnElement[bool], since: int = since) -> Any:
                return select(*_LINK_ROW_COLUMNS).where(
                    condition, links.c.position >= since, *self._conds
                )

            for row in select_in(conn, query, column, group):
                self.add(LinkRow(*row))

    def _load_children(self, conn: Connection, codes: Iterable[str]) -> list[str]:
        """Every row of ``codes`` as children, and the clears of their parents; the
        parents newly seen."""
        new = set(codes) - self._children
        self._children |= new
        self._fetch(conn, links.c.child, new)
        parents = {r.parent for c in new for r in self.by_child.get(c, ())}
        cleared = parents - self._cleared - self._parents
        self._cleared |= cleared
        if cleared:
            self._fetch_clears(conn, cleared)
        return sorted(parents)

    def _fetch_clears(self, conn: Connection, parents: set[str]) -> None:
        for since, group in self.firsts.groups(conn, parents):

            def query(condition: ColumnElement[bool], since: int = since) -> Any:
                return select(*_LINK_ROW_COLUMNS).where(
                    condition, links.c.child == WILDCARD, links.c.position >= since, *self._conds
                )

            for row in select_in(conn, query, links.c.parent, group):
                self.add(LinkRow(*row))

    def load_down(self, conn: Connection, parents: Iterable[str]) -> None:
        """The rows under ``parents``, transitively, with every row of the codes under
        them (their other parents too) and those parents' clears."""
        frontier = set(parents) - self._parents
        while frontier:
            self._parents |= frontier
            self._cleared |= frontier
            self._fetch(conn, links.c.parent, frontier)  # clears included
            kids = {r.child for p in frontier for r in self.by_parent.get(p, ())}
            self._load_children(conn, kids)
            frontier = kids - self._parents

    def load_up(self, conn: Connection, codes: Iterable[str], *, depth: int = 64) -> None:
        """The rows of ``codes`` as children and, transitively, of their parents as
        children (with the parents' clears): what :meth:`ancestry` reads."""
        frontier = list(codes)
        for _ in range(depth):
            parents = self._load_children(conn, frontier)
            frontier = [p for p in parents if p not in self._children]
            if not frontier:
                return

    # -- answers ----------------------------------------------------------------------

    def live(self, children: Iterable[str], at: At | None = None) -> dict[str, str]:
        """child → the parent it is in at ``at`` (now: None), for ``children`` in one."""
        out: dict[str, str] = {}
        for child in children:
            rows = [r for r in self.by_child.get(child, ()) if _visible(r, at)]
            if not rows:
                continue
            if len(rows) == 1 and not any(
                _visible(c, at) for c in self.clears.get(rows[0].parent, ())
            ):
                # one link fact and no clear (the usual case): live_edges' answer, quickly
                only = rows[0]
                if not only.error_declared and only.action != "DELETE":
                    out[child] = only.parent
                continue
            clears = {
                p: [r for r in self.clears.get(p, ()) if _visible(r, at)]
                for p in {r.parent for r in rows}
            }
            edges = live_edges(rows, None, clears)
            if edges:
                out[child] = edges[0][0]
        return out

    def edges(self, parents: Sequence[str], at: At | None = None) -> list[tuple[str, str]]:
        """The live (parent, child) links under ``parents`` at ``at``."""
        wanted = set(parents)
        candidates = {r.child for p in parents for r in self.by_parent.get(p, ())}
        found = self.live(sorted(candidates), at)
        return sorted((p, c) for c, p in found.items() if p in wanted)

    def contents(self, parents: Iterable[str], at: At | None = None) -> dict[str, list[str]]:
        """For each parent, every code inside it at ``at``, transitively (nearest first)."""

        def edges_of(frontier: list[str]) -> list[tuple[str, str]]:
            if not any(p in self.by_parent for p in frontier):
                return []  # nothing was ever linked under these codes
            return self.edges(frontier, at)

        return walk(parents, edges_of)

    def ever_inside(self, parents: Iterable[str]) -> set[str]:
        """Every code ever linked under ``parents``, transitively (live or not)."""
        seen: set[str] = set()
        frontier = [p for p in parents]
        while frontier:
            kids = {r.child for p in frontier for r in self.by_parent.get(p, ())} - seen
            seen |= kids
            frontier = sorted(kids)
        return seen

    def spans(self, child: str) -> list[Span]:
        """The parents ``child`` was in, each with when (its direct containers only)."""
        rows = self.by_child.get(child, ())
        if not rows:
            return []
        parents = {r.parent for r in rows}
        moments: dict[str, set[int]] = {}
        for r in [*rows, *(c for p in parents for c in self.clears.get(p, ()))]:
            moments.setdefault(r.event_time, set()).add(r.position)
        out: list[Span] = []
        current: str | None = None
        start, start_by = "", frozenset[int]()
        for time in sorted(moments):
            now = self.live([child], At(time)).get(child)
            # where each event of this moment finds the code, without its own links
            without = {p: self.live([child], At(time, p)).get(child) for p in moments[time]}
            for parent in sorted({q for q in without.values() if q not in (None, current, now)}):
                # in it only for the events that take it out at this very moment (packed
                # and emptied at one eventTime)
                only = frozenset(p for p, q in without.items() if q == parent)
                out.append(Span(parent, time, frozenset(), time, only))
            if now == current:
                continue
            if current is not None:
                end_by = frozenset(p for p, parent in without.items() if parent == current)
                out.append(Span(current, start, start_by, time, end_by))
            current, start = now, time
            start_by = frozenset(p for p, parent in without.items() if parent != now)
        if current is not None:
            out.append(Span(current, start, start_by, None, frozenset()))
        return out

    def ancestry(self, code: str) -> list[Reach]:
        """Every container ``code`` was in, directly or through others, with when: the
        direct ones first."""
        out: list[Reach] = []

        def climb(of: str, below: tuple[Span, ...], path: frozenset[str]) -> None:
            for span in self.spans(of):
                if span.ancestor in path:
                    continue  # a cycle in the links: never inside itself
                chain = (*below, span)
                if not _overlap(chain):
                    continue
                out.append(Reach(span.ancestor, chain))
                climb(span.ancestor, chain, path | {span.ancestor})

        climb(code, (), frozenset([code]))
        return out


def _overlap(chain: Sequence[Span]) -> bool:
    """Whether the spans of a chain can cover a common moment."""
    start = max(s.start for s in chain)
    ends = [s.end for s in chain if s.end is not None]
    return not ends or min(ends) >= start


def live_edges(
    rows: Sequence[Any], wanted: set[str] | None, clears: dict[str, list[Any]] | None = None
) -> list[tuple[str, str]]:
    """The live (parent, child) links among ``rows`` (see the module), only under
    ``wanted`` parents when given; sorted. ``rows`` are link facts (``view_links`` rows or
    anything with their parent, child, action, event_time, position, hash_id and
    error_declared); ``clears``: the clears of their parents, by parent."""
    every = [*rows, *(c for group in (clears or {}).values() for c in group)]
    declared = {r.hash_id for r in every if r.error_declared}
    latest: dict[tuple[str, str], Any] = {}
    for r in rows:
        if r.hash_id in declared:
            continue
        key = (r.parent, r.child)
        if key not in latest or (r.event_time, r.position) > (
            latest[key].event_time,
            latest[key].position,
        ):
            latest[key] = r
    last_clear: dict[str, tuple[str, int]] = {}
    for parent, group in (clears or {}).items():
        moments = [(c.event_time, c.position) for c in group if c.hash_id not in declared]
        if moments:
            last_clear[parent] = max(moments)
    current: dict[str, Any] = {}
    for r in sorted(latest.values(), key=lambda r: r.parent):
        if r.action == "DELETE":
            continue
        cleared = last_clear.get(r.parent)
        if cleared is not None and r.kind == "aggregation" and cleared > (r.event_time, r.position):
            continue
        held = current.get(r.child)  # on a tie the smallest parent stays
        if held is None or (r.event_time, r.position) > (held.event_time, held.position):
            current[r.child] = r
    return sorted(
        (r.parent, r.child) for r in current.values() if wanted is None or r.parent in wanted
    )


def walk(
    parents: Iterable[str], edges_of: Callable[[list[str]], Sequence[tuple[str, str]]]
) -> dict[str, list[str]]:
    """For each parent, every code inside it, transitively (nearest first), ``edges_of``
    giving the live (parent, child) links under a frontier of codes."""
    out: dict[str, list[str]] = {}
    top_of: dict[str, str] = {}
    frontier = []
    for parent in parents:
        out[parent] = []
        top_of[parent] = parent
        frontier.append(parent)
    seen = set(frontier)
    while frontier:
        edges = edges_of(frontier)
        frontier = []
        for parent, child in edges:
            if child in seen:
                continue
            seen.add(child)
            top_of[child] = top_of[parent]
            out[top_of[parent]].append(child)
            frontier.append(child)
    return out


# -- queries over the table ----------------------------------------------------------------


def contents(
    conn: Connection,
    parents: Iterable[str],
    *,
    as_of: str | datetime | None = None,
    kinds: Sequence[str] = ALL_KINDS,
    scope: str | None = None,
) -> dict[str, list[str]]:
    """For each parent, every code inside it now, transitively (nearest first)."""
    wanted = list(parents)
    found = LinkSet(as_of=as_of, kinds=kinds, scope=scope)
    found.load_down(conn, wanted)
    return found.contents(wanted)


def children(
    conn: Connection,
    parent: str,
    as_of: str | datetime | None = None,
    transitive: bool = False,
    kinds: Sequence[str] = ALL_KINDS,
    scope: str | None = None,
) -> list[str]:
    """The codes in ``parent`` (sorted); with ``transitive``, also those in them."""
    parent = canonical(parent)
    found = LinkSet(as_of=as_of, kinds=kinds, scope=scope)
    found.load_down(conn, [parent])
    if transitive:
        return sorted(found.contents([parent])[parent])
    return [c for _, c in found.edges([parent])]


def parents_of(
    conn: Connection,
    codes: Iterable[str],
    as_of: str | datetime | None = None,
    kinds: Sequence[str] = ALL_KINDS,
    scope: str | None = None,
    firsts: Firsts | None = None,
) -> dict[str, str]:
    """:func:`parent_of` of many (canonical) codes, in a few queries: code → parent, for
    those that have one (``firsts``: the codes' first positions known already)."""
    wanted = sorted(set(codes))
    found = LinkSet(as_of=as_of, kinds=kinds, scope=scope)
    if firsts is not None:
        found.firsts = firsts
    found.load_up(conn, wanted, depth=1)
    return found.live(wanted)


def parent_of(
    conn: Connection,
    code: str,
    as_of: str | datetime | None = None,
    kinds: Sequence[str] = ALL_KINDS,
    scope: str | None = None,
) -> str | None:
    """The code ``code`` is in (or was made from), or None."""
    code = canonical(code)
    return parents_of(conn, [code], as_of, kinds, scope).get(code)
