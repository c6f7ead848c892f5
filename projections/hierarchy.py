"""Package hierarchy: queries over the link facts in ``view_links``.

A link (parent, child) is *live* when its latest fact — by ``(event_time, position)``
among those recorded up to ``as_of`` — is ADD or OBSERVE, not DELETE. A child with live
links to two parents (packed into B without being taken out of A) is in the one linked
last. Facts of an event that was later declared erroneous (``errorDeclaration``) are
ignored. Kinds: ``aggregation`` (containment: case → box) and ``transformation`` (lineage:
box → the unit codes made from it); both by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import ColumnElement, Connection, and_, select

from epcis.identifiers.facts import canonical
from projections.bulk import any_of
from projections.schema import keyed, keyed_in, links, utc_text, visible_to

ALL_KINDS = ("aggregation", "transformation")


class LinkQuery(TypedDict, total=False):
    """Which link facts a query reads; a key left out or None restricts nothing
    (``kinds`` left out: :data:`ALL_KINDS`).

    ``parents`` / ``children``: those of the given parents or children; ``as_of``: those
    recorded by then; ``before`` = (position, event_time): those the ledger knew before the
    event at that position and that had happened by its eventTime (used while projecting);
    ``scope``: those of the events the institution sees (:func:`projections.schema.visible_to`).
    """

    parents: Sequence[str] | None
    children: Sequence[str] | None
    as_of: str | datetime | None
    before: tuple[int, str] | None
    kinds: Sequence[str]
    scope: str | None


def current_edges(conn: Connection, **query: Unpack[LinkQuery]) -> list[tuple[str, str]]:
    """(parent, child) of every live link among the link facts ``query`` selects."""
    parents = query.get("parents")
    return live_edges(_link_rows(conn, **query), None if parents is None else set(parents))


def parents_of(
    conn: Connection,
    codes: Iterable[str],
    as_of: str | datetime | None = None,
    kinds: Sequence[str] = ALL_KINDS,
    scope: str | None = None,
) -> dict[str, str]:
    """:func:`parent_of` of many (canonical) codes, in a few queries: code → parent, for
    those that have one."""
    wanted = sorted(set(codes))
    by_child: dict[str, list[Any]] = {}
    for row in _link_rows(conn, children=wanted, as_of=as_of, kinds=kinds, scope=scope):
        by_child.setdefault(row.child, []).append(row)
    out = {}
    for child, rows in by_child.items():
        edges = live_edges(rows, None)  # exactly the rows parent_of(child) reads
        if edges:
            out[child] = edges[0][0]
    return out


def _link_rows(conn: Connection, **query: Unpack[LinkQuery]) -> list[Any]:
    """The link facts ``query`` selects: with ``parents``, every link fact of the candidate
    children (those linked under them, ever); a large set is asked for in parts
    (:func:`projections.bulk.any_of`)."""
    lk = links
    parents, children = query.get("parents"), query.get("children")
    as_of, before, scope = query.get("as_of"), query.get("before"), query.get("scope")
    conds: list[ColumnElement[bool]] = [lk.c.kind.in_(list(query.get("kinds", ALL_KINDS)))]
    if as_of is not None:
        conds.append(lk.c.record_time <= utc_text(as_of))
    if before is not None:
        conds += [lk.c.position < before[0], lk.c.event_time <= before[1]]
    if scope is not None:
        conds.append(visible_to(lk, scope))
    columns = (
        lk.c.parent,
        lk.c.child,
        lk.c.action,
        lk.c.event_time,
        lk.c.position,
        lk.c.hash_id,
        lk.c.error_declared,
    )
    if parents is not None:
        wanted = sorted(set(parents))
        if children is not None:
            conds.append(keyed_in(lk.c.child, list(children)))
        # Every link fact of the candidate children (an index lookup on child), ranked in
        # Python rather than with window functions: a container holds few codes. A row
        # fetched twice (its child under parents of two parts) changes nothing.
        return [
            row
            for condition in any_of(conn, lk.c.parent, wanted)
            for row in conn.execute(
                select(*columns).where(
                    and_(*conds),
                    keyed(lk.c.child).in_(select(keyed(lk.c.child)).where(condition)),
                )
            )
        ]
    if children is not None:
        return [
            row
            for condition in any_of(conn, lk.c.child, sorted(set(children)))
            for row in conn.execute(select(*columns).where(and_(*conds), condition))
        ]
    return list(conn.execute(select(*columns).where(and_(*conds))))


def live_edges(rows: Sequence[Any], wanted: set[str] | None) -> list[tuple[str, str]]:
    """The live (parent, child) links among ``rows`` (see the module), only under
    ``wanted`` parents when given; sorted. ``rows`` are link facts (``view_links`` rows or
    anything with their parent, child, action, event_time, position, hash_id and
    error_declared), such as the projector's in-memory graph holds."""
    declared = {r.hash_id for r in rows if r.error_declared}
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
    current: dict[str, Any] = {}
    for r in sorted(latest.values(), key=lambda r: r.parent):
        if r.action == "DELETE":
            continue
        held = current.get(r.child)  # on a tie the smallest parent stays
        if held is None or (r.event_time, r.position) > (held.event_time, held.position):
            current[r.child] = r
    return sorted(
        (r.parent, r.child) for r in current.values() if wanted is None or r.parent in wanted
    )


def contents(
    conn: Connection,
    parents: Iterable[str],
    *,
    as_of: str | datetime | None = None,
    before: tuple[int, str] | None = None,
    kinds: Sequence[str] = ALL_KINDS,
    scope: str | None = None,
) -> dict[str, list[str]]:
    """For each parent, every code inside it, transitively (nearest first)."""
    return walk(
        parents,
        lambda frontier: current_edges(
            conn, parents=frontier, as_of=as_of, before=before, kinds=kinds, scope=scope
        ),
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
    if transitive:
        return sorted(contents(conn, [parent], as_of=as_of, kinds=kinds, scope=scope)[parent])
    edges = current_edges(conn, parents=[parent], as_of=as_of, kinds=kinds, scope=scope)
    return [c for _, c in edges]


def parent_of(
    conn: Connection,
    code: str,
    as_of: str | datetime | None = None,
    kinds: Sequence[str] = ALL_KINDS,
    scope: str | None = None,
) -> str | None:
    """The code ``code`` is in (or was made from), or None."""
    edges = current_edges(conn, children=[canonical(code)], as_of=as_of, kinds=kinds, scope=scope)
    return edges[0][0] if edges else None
