"""Recall trail: a lot or one code → every code it covers → every event → where it is now.

* From a **lot** (``product`` + ``lot``; ``product`` alone: every lot of it): every
  instance-level code with a fact naming that product and lot (lot-level EPC classes are
  not codes of the trail), plus everything made from or packed in them, transitively.
* From a **code**: the code and, when it is a container (or was split), every code inside
  it / made from it, transitively (:func:`projections.hierarchy.contents`).

Each :class:`TrailLine` has the hash ids of every event that touched the code, in
``(eventTime, position)`` order (error-declared events included: this is an audit trail;
the status ignores them), and its status (:func:`projections.code_status.statuses`):
state, hospital state (``hospitalState`` in answers), location, destination, holder,
parent. ``via`` is the lot member or container through which a code was reached (None
for the lot's own codes and the code asked for).
``as_of`` works as for :func:`~projections.code_status.status`: only facts and links
recorded up to that record time. Without it the statuses and the events are read from
``view_code_state`` (kept with the facts: its ``history`` and ``parent``) rather than
folded and resolved through the containers from every fact and link.
"""

from __future__ import annotations

import csv
import io
import json
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from epcis.gc_pause import collector_paused
from epcis.identifiers.facts import canonical
from projections.bulk import is_postgres, select_in
from projections.code_facts import history_positions
from projections.code_first import Firsts, code_first
from projections.code_status import (
    HOSPITAL_STATE,
    CodeStatus,
    Folding,
    answer_names,
    fold,
    passed_on,
    seen_by,
)
from projections.event_index import hash_ids
from projections.hierarchy import (
    CONTAINMENT,
    LinkRow,
    LinkSet,
    Reach,
    contents,
)
from projections.schema import (
    code_facts,
    code_state,
    in_scope,
    index_key,
    keyed,
    keyed_eq,
    links,
    utc_text,
    visible_to,
)
from projections.stock import is_instance


class TrailLine(NamedTuple):
    """One code of a trail (a named tuple: a 100,000-code trail builds as many)."""

    code: str
    via: str | None
    product: str | None
    lot: str | None
    expiry: str | None
    state: str | None
    hospital_state: str | None
    location: str | None
    destination: str | None
    holder: str | None
    parent: str | None
    events: tuple[str, ...]

    def row(self) -> dict[str, Any]:
        """The line under the names answers give its fields (JSON, CSV header)."""
        return dict(zip(_ANSWER_NAMES, self, strict=True))


_ANSWER_NAMES = tuple(answer_names(dict.fromkeys(TrailLine._fields)))


CSV_HEADER = (
    "code",
    "via",
    "product",
    "lot",
    "expiry",
    "state",
    HOSPITAL_STATE,
    "location",
    "destination",
    "holder",
    "parent",
    "events",
)


CHUNK = 10_000
"""Codes per step of :func:`trail_lines`: each step reads the rows of this many codes."""


def trail(
    conn: Connection,
    *,
    product: str | None = None,
    lot: str | None = None,
    code: str | None = None,
    as_of: str | datetime | None = None,
    scope: str | None = None,
) -> list[TrailLine]:
    """The trail of a lot (``product`` [+ ``lot``]) or of one ``code``, sorted by code;
    from what the institution ``scope`` captured only, when given (a regulator's trail,
    None, crosses institutions). :func:`trail_lines`, all at once."""
    return list(trail_lines(conn, product=product, lot=lot, code=code, as_of=as_of, scope=scope))


def trail_lines(
    conn: Connection,
    *,
    product: str | None = None,
    lot: str | None = None,
    code: str | None = None,
    as_of: str | datetime | None = None,
    scope: str | None = None,
) -> Iterator[TrailLine]:
    """The lines of :func:`trail`, in code order: the members are found at once (one query
    for the lot's codes, :func:`projections.hierarchy.contents` for those that have codes
    under them), the lines read :data:`CHUNK` codes at a time, as the caller takes them."""
    if (code is None) == (product is None):
        raise ValueError("give either a code or a product (and lot)")
    if product is not None and as_of is None:
        return _lot_now(conn, product, lot, scope)
    via = _members(conn, product=product, lot=lot, code=code, as_of=as_of, scope=scope)
    return _Reader(conn, as_of, scope).lines(via)


def _recorded(as_of: str | datetime | None, scope: str | None) -> list[ColumnElement[bool]]:
    """The conditions on facts recorded up to ``as_of`` that ``scope`` sees."""
    out = [] if as_of is None else [code_facts.c.record_time <= utc_text(as_of)]
    return out + seen_by(scope)


def _lot_facts(
    product: str, lot: str | None, as_of: str | datetime | None, scope: str | None
) -> list[ColumnElement[bool]]:
    """The conditions on the facts that make a code a member of the lot (of every lot of
    ``product`` when ``lot`` is None), recorded up to ``as_of``, that ``scope`` sees."""
    conds = [keyed_eq(code_facts.c.product, product), *_recorded(as_of, scope)]
    if lot is not None:
        conds.append(keyed_eq(code_facts.c.lot, lot))
    return conds


def _lot_now(
    conn: Connection, product: str, lot: str | None, scope: str | None
) -> Iterator[TrailLine]:
    """The lines of a lot's trail now, in code order, from one streamed query over the
    lot's codes (their facts naming the lot, each once): first those that have ever been
    parents (an index probe each), then each code with its row of ``view_code_state``
    where that row names the lot too (an index range of the lot's rows, hashed against the
    codes: no probe per code), :data:`CHUNK` rows a fetch. The codes inside the lot's
    containers, and a code whose row names another lot (its facts name two), are read
    code by code as :meth:`_Reader._current` reads them and merged in."""
    if is_postgres(conn):
        # the lot's codes and rows hashed and sorted in memory, not spilled to disk (the
        # transaction's setting: the reads go on in it); no JIT, 30 ms to compile
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")
    found = (
        select(code_facts.c.code, keyed(code_facts.c.code).label("key"))
        .where(*_lot_facts(product, lot, None, scope))
        .distinct()
        .cte("found")
    )
    same_lot = [keyed_eq(code_state.c.product, product)]
    if lot is not None:
        same_lot.append(keyed_eq(code_state.c.lot, lot))
    rows = (
        select(*_LOT_ROW).where(in_scope(scope), *same_lot).subquery()  # product: the lot's
    )
    codes = select(literal(1).label("part"), found.c.code, *(rows.c[c.name] for c in _LOT_ROW[1:]))
    codes = codes.select_from(found.outerjoin(rows, rows.c.code == found.c.code))
    # one index probe per code: on PostgreSQL a LATERAL … LIMIT 1 (an EXISTS became a scan
    # of every link), SQLite (no LATERAL) runs a correlated EXISTS per row
    a_link = select(links.c.parent).where(
        keyed(links.c.parent) == found.c.key, links.c.parent == found.c.code
    )
    nothing = [null() for _ in _LOT_ROW[1:]]
    if is_postgres(conn):
        once = a_link.limit(1).lateral()
        parents = select(literal(0), once.c.parent, *nothing).select_from(found.join(once, true()))
    else:
        parents = select(literal(0), found.c.code, *nothing).where(a_link.exists())
    both = union_all(codes, parents).subquery()
    # code point order, as Python sorts (PostgreSQL's default collation may differ)
    order = both.c.code.collate("C") if is_postgres(conn) else both.c.code
    query = select(both).order_by(both.c.part, order)
    reader = _Reader(conn, None, scope, product)
    with _hash_joined(conn):
        streamed = conn.execute(query, execution_options={"yield_per": CHUNK})
    try:
        parts = streamed.tuples().partitions()
        containers: list[str] = []
        first: Sequence[Any] = ()
        for part in parts:
            heads = bisect_right(part, 0, key=_part_of)
            containers.extend(r[1] for r in part[:heads])
            if heads < len(part):
                first = part[heads:]
                break
        inside: dict[str, str] = {}
        found_in = contents(conn, sorted(filter(is_instance, containers)), scope=scope)
        for root, codes_in in found_in.items():
            for child in codes_in:
                inside.setdefault(child, root)
        pending = sorted(inside)
        for part in chain([first] if first else [], parts):
            taken = bisect_right(pending, part[-1][1])
            extra, pending = pending[:taken], pending[taken:]
            with collector_paused():
                built = reader.from_rows([r[1:] for r in part], extra, inside)
            yield from built
        if pending:
            with collector_paused():
                built = reader.from_rows([], pending, inside)
            yield from built
    finally:
        streamed.close()


@contextmanager
def _hash_joined(conn: Connection) -> Iterator[None]:
    """No nested loops but those that must be (the LATERAL probes) while PostgreSQL plans
    the statement run inside (the cursor is declared: its plan is made). The planner
    multiplies the selectivities of a keyed column's two conditions (index key and value:
    the same for a short value) and of product and lot, so it expects a few dozen of a
    lot's 100,000 codes, and at 1,000,000 events it nested-looped the lot's codes over its
    rows: 10^10 comparisons, minutes. A hash join is right for a lot of any size; the
    queries after it (Event Hash IDs by position, contents) need their nested loops back."""
    if not is_postgres(conn):
        yield
        return
    before = conn.exec_driver_sql("SELECT current_setting('enable_nestloop')").scalar_one()
    conn.exec_driver_sql("SELECT set_config('enable_nestloop', 'off', true)").close()
    try:
        yield
    finally:  # back to what the session had
        conn.exec_driver_sql("SELECT set_config('enable_nestloop', %s, true)", (before,)).close()


_LOT_ROW = [
    code_state.c.code,
    code_state.c.lot,
    code_state.c.expiry,
    code_state.c.state,
    code_state.c.hospital_state,
    code_state.c.location,
    code_state.c.destination,
    code_state.c.holder,
    (code_state.c.last_event != "").label("live"),  # not its Event Hash ID: a flag
    code_state.c.parent,
    code_state.c.history,
    code_state.c.instance,
]
"""What :func:`_lot_now` reads of a lot's row of ``view_code_state`` (its product is the
lot's; :meth:`_Reader.from_rows` takes them in this order)."""


def _part_of(row: Sequence[Any]) -> int:
    return int(row[0])


def _members(
    conn: Connection,
    *,
    product: str | None,
    lot: str | None,
    code: str | None,
    as_of: str | datetime | None,
    scope: str | None,
) -> dict[str, str | None]:
    """Every code of the trail → the lot member or container it was reached through (None
    for the lot's own codes and the code asked for), sorted by code."""
    if code is not None:
        roots = [canonical(code)]
        start = Firsts().since(conn, roots) or 0
    else:
        conds = _lot_facts(product or "", lot, as_of, scope)
        # each with its first position (view_code_first), joined in the database: the
        # links below are read from the smallest on (see _Reader._since)
        found = (
            select(code_facts.c.code, keyed(code_facts.c.code).label("key"))
            .where(*conds)
            .distinct()
            .subquery()
        )
        same = and_(keyed(code_first.c.code) == found.c.key, code_first.c.code == found.c.code)
        rows = conn.execute(
            select(found.c.code, code_first.c.position).select_from(
                found.outerjoin(code_first, same)
            )
        ).all()
        roots = sorted(c for c, _ in rows if is_instance(c))
        start = min((int(p) for c, p in rows if p is not None and is_instance(c)), default=0)
    via: dict[str, str | None] = dict.fromkeys(roots)
    # only the roots with a link under them can have contents (most lots: none)
    since = links.c.position >= start  # see _Reader._since
    query = (
        select(links.c.parent)
        .select_from(with_keys(conn, links.c.parent, roots))
        .where(since)
        .distinct()
    )
    containers = sorted(set(conn.execute(query).scalars()) & via.keys()) if roots else []
    for root, inside in contents(conn, containers, as_of=as_of, scope=scope).items():
        for child in inside:
            via.setdefault(child, root)
    return {member: via[member] for member in sorted(via)}


def with_keys(conn: Connection, column: Any, codes: Sequence[str]) -> Any:
    """``column``'s table joined to ``codes`` (each once) through its index key
    (:func:`projections.schema.keyed`): the rows whose ``column`` is one of them. The keys
    go as one JSON text read as a table (``json_array_elements_text`` / ``json_each``):
    one parameter however many codes, dumped at C speed, and an index probe per code. A
    long code's key is not the code: the caller checks the rows' codes."""
    keys = bindparam(None, json.dumps(sorted({index_key(c) for c in codes})), type_=Text)
    if is_postgres(conn):
        table = func.json_array_elements_text(cast(keys, JSON)).table_valued("value")
    else:
        table = func.json_each(keys).table_valued("value")
    return table.join(column.table, keyed(column) == table.c.value)


_STATUS = [
    code_state.c[name]
    for name in (
        "code",
        "product",
        "lot",
        "expiry",
        "state",
        "hospital_state",
        "location",
        "destination",
        "holder",
        "last_event",
    )
]
"""What a line reads of ``view_code_state``: the fields of its status
(:meth:`projections.code_status.Folding.status` takes them as they are)."""
_SIGNED = tuple(name for name in (*LinkRow._fields, "seen") if name != "child")
"""What a signature says of each link row of a code (:meth:`_Reader._signatures`)."""


class _Inherited:
    """What a code's containers pass on to it: their spans over the code
    (:meth:`~projections.hierarchy.LinkSet.ancestry`) and, once their facts are read, the
    facts those spans cover, each with its container, in the order
    :func:`~projections.code_status.effective_facts` takes them; and the code's parent."""

    def __init__(self, spans: list[Reach], met: frozenset[str], parent: str | None) -> None:
        self.spans = spans
        self.met = met
        """Every code the climb looked at as a container: a code among them does not
        share these spans (a cycle in the links would be cut at another place)."""
        self.parent = parent
        self.facts: list[tuple[Any, str]] | None = None

    def cover(self, facts_of: dict[str, list[Any]]) -> list[tuple[Any, str]]:
        if self.facts is None:
            taken: set[int] = set()
            self.facts = []
            for span in self.spans:
                for r in facts_of[span.ancestor]:
                    if r.position not in taken and span.covers(r.event_time, r.position):
                        taken.add(r.position)
                        self.facts.append((r, span.ancestor))
        return self.facts


_NOTHING = _Inherited([], frozenset(), None)


class _Reader:
    """The lines of a trail, :data:`CHUNK` members at a time, each exactly as
    :func:`~projections.code_status.effective_facts` and the statuses say, from a few
    set queries per chunk, each giving one row per member: its row of ``view_code_state``
    with its kept history (now) or its own facts (``as_of``), and its link rows as a child
    (one JSON text: its *signature*). Members with the same signature were in the same
    containers at the same times (the boxes of a case): the parent and, as of a time, what
    the containers pass on are worked out once per signature, from one of them
    (:class:`~projections.hierarchy.LinkSet` loaded for that one only)."""

    def __init__(
        self,
        conn: Connection,
        as_of: str | datetime | None,
        scope: str | None,
        product: str | None = None,
    ):
        self.conn, self.as_of, self.scope = conn, as_of, scope
        self.product = product
        """The lot's product (:meth:`from_rows`: the rows leave it out)."""
        self.recorded = _recorded(as_of, scope)
        self.link_conds = [] if as_of is None else [links.c.record_time <= utc_text(as_of)]
        self.contain = LinkSet(as_of=as_of, kinds=CONTAINMENT)  # as effective_facts reads
        self.parental = LinkSet(as_of=as_of, scope=scope)  # as parents_of reads
        self.container_facts: dict[str, list[Any]] = {}
        self.inherited: dict[str, _Inherited] = {}
        self.firsts = Firsts()

    def _since(self, codes: Sequence[str]) -> int:
        """The smallest first position of ``codes``: their facts and links are from there
        on (:mod:`projections.code_first`; on PostgreSQL older partitions are not read).
        The members of a lot, and the cases they were packed in, begin about together."""
        return self.firsts.since(self.conn, codes) or 0

    def lines(self, via: dict[str, str | None]) -> Iterator[TrailLine]:
        members = list(via)
        for start in range(0, len(members), CHUNK):
            chunk = members[start : start + CHUNK]
            # a chunk's rows, histories and lines are many short-lived objects in no cycle:
            # the collector paused while they are built (100,000-code trail: 2.2-2.3 s
            # with it running, 1.5-1.6 s without), not while the caller takes them
            with collector_paused():
                built = list(self._chunk(chunk, via))
            yield from built

    def _chunk(self, chunk: list[str], via: dict[str, str | None]) -> Iterator[TrailLine]:
        if self.as_of is None:
            yield from self._current(chunk, via)
            return
        signatures = self._signatures(chunk)
        self._load_reps(chunk, signatures)
        inherited = {m: self._inherited(m, signatures.get(m)) for m in chunk}
        self._load_container_facts({s.ancestor for i in inherited.values() for s in i.spans})
        own = self._own_facts(chunk)
        for member in chunk:
            facts = own.get(member, [])
            taken = {r.position for r in facts}
            passed = inherited[member].cover(self.container_facts)
            group = facts + [
                passed_on(r, by, member) for r, by in passed if r.position not in taken
            ]
            group.sort(key=_in_time)
            found = fold(member, group, lambda m=member: inherited[m].parent)  # type: ignore[misc]
            status = None if found is None else _values(found)
            yield _line(member, via[member], status, [r.hash_id for r in group])

    def from_rows(
        self, rows: Sequence[tuple[Any, ...]], extra: list[str], inside: dict[str, str]
    ) -> list[TrailLine]:
        """The lines of a part of :func:`_lot_now`'s rows (the lot's codes: their
        :data:`_LOT_ROW`, or None where the row names another lot)
        and of ``extra`` (codes inside the lot's containers, before the part's last code
        and after the part before's), in code order."""
        lines: list[TrailLine] = []
        elsewhere: list[str] = []
        roots: set[str] = set()  # the part's instance-level codes: reached through no one
        events_of = _events(self.conn, {r[0]: r[-2] for r in rows if r[-1] is not None})
        nothing = (None,) * 9
        for row in rows:
            code, instance = row[0], row[-1]
            if instance is None:  # no row naming the lot: read as the containers' codes
                if is_instance(code):
                    elsewhere.append(code)
                    roots.add(code)
                continue
            if not instance:
                continue
            roots.add(code)
            events = events_of[code]
            # _LOT_ROW: every fact withdrawn (no last event, not live): no status
            status = (self.product, *row[1:-4], row[-3]) if row[-4] else nothing
            lines.append(TrailLine._make((code, None, *status, events)))
        if elsewhere or (extra and not roots.issuperset(extra)):
            via: dict[str, str | None] = dict.fromkeys(elsewhere)
            for code in extra:
                if code not in roots:
                    via.setdefault(code, inside[code])
            lines.extend(self._current(sorted(via), via))
            lines.sort(key=_code_of)
        return lines

    def _current(self, chunk: list[str], via: dict[str, str | None]) -> Iterator[TrailLine]:
        """Lines now: statuses, parents and histories as ``view_code_state`` keeps them
        (the history's positions named by their Event Hash IDs)."""
        wanted = set(chunk)
        query = (
            select(*_STATUS, code_state.c.parent, code_state.c.history)
            .select_from(with_keys(self.conn, code_state.c.code, chunk))
            .where(in_scope(self.scope))
        )
        states = {r[0]: r for r in self.conn.execute(query).tuples().all() if r[0] in wanted}
        events_of = _events(self.conn, {code: r[-1] for code, r in states.items()})
        nothing = (None,) * 9
        for member in chunk:
            state = states.get(member)
            events = events_of[member] if state else ()
            # the row: code, the status's fields, last_event, parent, history (_STATUS);
            # every fact withdrawn (no last event): no status
            status = (*state[1:-3], state[-2]) if state and state[-3] else nothing
            yield TrailLine._make((member, via[member], *status, events))

    def _own_facts(self, chunk: list[str]) -> dict[str, list[Any]]:
        wanted = set(chunk)
        own: dict[str, list[Any]] = {}
        query = select(code_facts).select_from(with_keys(self.conn, code_facts.c.code, chunk))
        since = code_facts.c.position >= self._since(chunk)
        for fact in self.conn.execute(query.where(since, *self.recorded)):
            if fact.code in wanted:
                own.setdefault(fact.code, []).append(_plain(fact))
        return own

    def _signatures(self, chunk: list[str]) -> dict[str, str]:
        """member → its link rows as a child (every kind, seen by the institution or not,
        recorded up to ``as_of``) as one JSON text, ordered: equal texts, equal rows."""
        seen = visible_to(links, self.scope) if self.scope is not None else true()
        rows = (
            select(*(links.c[name] for name in LinkRow._fields), seen.label("seen"))
            .select_from(with_keys(self.conn, links.c.child, chunk))
            .where(links.c.position >= self._since(chunk), *self.link_conds)
            .subquery()
        )
        if is_postgres(self.conn):
            row = func.json_build_array(*(rows.c[name] for name in _SIGNED))
            signature = cast(
                func.json_agg(aggregate_order_by(row, rows.c.position, rows.c.parent)), Text
            )
            query = select(rows.c.child, signature).group_by(rows.c.child)
        else:  # no ORDER BY in its aggregates: from rows in order (equal texts, equal rows)
            ordered = select(rows).order_by(rows.c.child, rows.c.position, rows.c.parent).subquery()
            row = func.json_array(*(ordered.c[name] for name in _SIGNED))
            query = select(ordered.c.child, func.json_group_array(row)).group_by(ordered.c.child)
        wanted = set(chunk)
        return {c: s for c, s in self.conn.execute(query).tuples().all() if c in wanted}

    def _load_reps(self, chunk: list[str], signatures: dict[str, str]) -> None:
        """The link rows of one member of each signature not met before (and of the
        containers above it), in a few queries for the chunk."""
        reps: dict[str, str] = {}
        for member in chunk:
            signature = signatures.get(member)
            if signature is not None and signature not in self.inherited:
                reps.setdefault(signature, member)
        codes = sorted(reps.values())
        self.contain.load_up(self.conn, codes)
        self.parental.load_up(self.conn, codes, depth=1)

    def _inherited(self, code: str, signature: str | None) -> _Inherited:
        if signature is None:  # in nothing, ever
            return _NOTHING
        found = self.inherited.get(signature)
        if found is not None and code not in found.met:
            return found
        self.contain.load_up(self.conn, [code])  # loaded already, unless a cycle met it
        self.parental.load_up(self.conn, [code], depth=1)
        spans = self.contain.ancestry(code)
        met = frozenset(
            r.parent
            for c in (code, *(s.ancestor for s in spans))
            for r in self.contain.by_child.get(c, ())
        )
        mine = _Inherited(spans, met, self.parental.live([code]).get(code))
        if found is None and code not in met:  # a climb that meets the code is its own
            self.inherited[signature] = mine
        return mine

    def _load_container_facts(self, containers: set[str]) -> None:
        new = sorted(containers - self.container_facts.keys())
        if not new:
            return
        for container in new:
            self.container_facts[container] = []
        query = (
            select(code_facts)
            .select_from(with_keys(self.conn, code_facts.c.code, new))
            .where(code_facts.c.position >= self._since(new), *self.recorded)
        )
        for row in self.conn.execute(query):
            if row.code in self.container_facts:
                self.container_facts[row.code].append(_plain(row))


def _plain(row: Any) -> Any:
    """A row whose fields are read fast (a full fact, folded and passed on by field)."""
    return SimpleNamespace(**row._asdict())


def _events(conn: Connection, histories: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """code → the Event Hash IDs of its kept history (``view_code_state.history``), each
    once, in order. The positions are taken as the histories' words: a chunk's histories
    name far fewer events than they have words (a case's boxes share its events), each
    parsed once and named in one query."""
    words = {code: history.split() for code, history in histories.items()}
    named = set().union(*words.values())
    hashes = {str(p): h for p, h in hash_ids(conn, {int(w) for w in named}).items()}
    return {code: tuple(dict.fromkeys([hashes[w] for w in ws])) for code, ws in words.items()}


def _code_of(line: TrailLine) -> str:
    return line.code


def _in_time(row: Any) -> tuple[str, int]:
    return (row.event_time, row.position)


StatusValues = tuple[Any, ...]
"""A line's product, lot, expiry, state, hospital state, location, destination, holder
and parent."""


def _line(code: str, via: str | None, status: StatusValues | None, hashes: list[str]) -> TrailLine:
    product, lot, expiry, state, hospital, location, destination, holder, parent = (
        status if status is not None else (None,) * 9
    )
    return TrailLine(
        code=code,
        via=via,
        product=product,
        lot=lot,
        expiry=expiry,
        state=state,
        hospital_state=hospital,
        location=location,
        destination=destination,
        holder=holder,
        parent=parent,
        events=tuple(dict.fromkeys(hashes)),
    )


def _values(s: CodeStatus) -> StatusValues:
    return (
        s.product,
        s.lot,
        s.expiry,
        s.state,
        s.hospital_state,
        s.location,
        s.destination,
        s.holder,
        s.parent,
    )


def current_statuses(
    conn: Connection, codes: Sequence[str], scope: str | None = None
) -> dict[str, tuple[CodeStatus, list[str]]]:
    """:func:`projections.code_status.statuses` of ``codes`` now (with parents), each with
    its history (the Event Hash IDs of every event that touched it, in eventTime order),
    read from ``view_code_state`` (the rows of the institution ``scope``, or everyone's:
    status, parent and history kept there) instead of folding their facts."""
    kept = in_scope(scope)
    rows = select_in(
        conn, lambda cond: select(code_state).where(kept, cond), code_state.c.code, sorted(codes)
    )
    found = [r for r in rows if r.last_event]  # every fact withdrawn: no status
    histories = {r.code: history_positions(r.history) for r in found}
    hashes = hash_ids(conn, {p for h in histories.values() for p in h})
    return {
        r.code: (
            Folding.of_state(r).status(r.code, r.parent),
            list(dict.fromkeys(hashes[p] for p in histories[r.code])),
        )
        for r in found
    }


def trail_csv(lines: Iterable[TrailLine]) -> str:
    """The trail as CSV: a header row, then one row per code (events space-separated)."""
    return csv_rows(lines, header=True)


def csv_rows(lines: Iterable[TrailLine], *, header: bool = False) -> str:
    """Rows of :func:`trail_csv` (with its header row first, when asked)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(CSV_HEADER)
    for line in lines:
        row = line.row()
        values = [row[name] for name in CSV_HEADER[:-1]]
        writer.writerow([*("" if v is None else v for v in values), " ".join(line.events)])
    return out.getvalue()
