"""Where in the log each code begins: the lower bound that prunes its lookups.

``view_code_first`` — one row per code with facts: the position of the first event that
named it. Every fact of a code has a position from there on (an event recorded late, a
back-filled packing, still gets a new, later position), and so has every link row naming
it as parent or child (an event that links two codes names both: each gets a fact at the
link's position, :func:`projections.code_status.derive`). So a lookup of a code's facts or
links may say ``position >= first`` without changing its answer, and on PostgreSQL, where
those tables are partitioned by position range (:mod:`projections.partitions`), that
bound prunes every partition older than the code: a lookup of a live code reads the
indexes of the recent partitions only, however long the history behind them.

:class:`Firsts` answers for many codes at once, grouped by the partition their first
position falls in (:meth:`Firsts.groups`): one query per group, each bounded by its own
first, so an old code in a batch of new ones does not widen the lookups of the new ones.
A code without a row has no facts and no links: it is left out of the lookups.

Written by :class:`projections.code_facts.CodeFacts` with the facts of each batch
(:func:`record`): the batch's codes not yet there, at their smallest position in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import BigInteger, Column, Connection, Index, Table, Text, func, select

from projections.bulk import insert_rows, select_in
from projections.partitions import partition_size
from projections.schema import code_facts, keyed, metadata

code_first = Table(
    "view_code_first",
    metadata,
    Column("code", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("code_key", Text),
)
Index("view_code_first_code", keyed(code_first.c.code), unique=True)


def lookup(conn: Connection, codes: Sequence[str]) -> dict[str, int]:
    """code → its first position, for those of ``codes`` with one."""
    wanted = set(codes)
    rows = select_in(
        conn,
        lambda cond: select(code_first.c.code, code_first.c.position).where(cond),
        code_first.c.code,
        sorted(wanted),
    )
    return {code: int(position) for code, position in rows if code in wanted}


def record(conn: Connection, firsts: Iterable[tuple[str, int]]) -> Firsts:
    """Keep the first position of each code of a batch's facts (``(code, position)``
    pairs) that has none yet (in the batch's transaction); the first positions of all of
    them, for the batch's lookups."""
    smallest: dict[str, int] = {}
    for code, position in firsts:
        if code not in smallest or position < smallest[code]:
            smallest[code] = position
    found = Firsts()
    if not smallest:
        return found
    known = lookup(conn, sorted(smallest))
    insert_rows(conn, code_first, [(c, p) for c, p in sorted(smallest.items()) if c not in known])
    found.known.update(smallest)
    found.known.update(known)
    return found


def backfill(conn: Connection) -> None:
    """Fill ``view_code_first`` from the facts already there (created beside them)."""
    first = select(code_facts.c.code, func.min(code_facts.c.position)).group_by(code_facts.c.code)
    insert_rows(conn, code_first, [(code, int(p)) for code, p in conn.execute(first)])


class Firsts:
    """First positions of codes, looked up once each (for one reader or one batch: a
    code first recorded later is looked up again, a code's first never changes)."""

    def __init__(self) -> None:
        self.known: dict[str, int | None] = {}

    def of(self, conn: Connection, codes: Iterable[str]) -> dict[str, int | None]:
        """code → its first position (None: no facts), for ``codes``."""
        wanted = set(codes)
        missing = sorted(c for c in wanted if self.known.get(c) is None)
        if missing:
            self.known.update(dict.fromkeys(missing))
            self.known.update(lookup(conn, missing))
        return {c: self.known[c] for c in wanted}

    def since(self, conn: Connection, codes: Iterable[str]) -> int | None:
        """The smallest first position of ``codes`` (None: none has facts)."""
        found = [p for p in self.of(conn, codes).values() if p is not None]
        return min(found) if found else None

    def groups(self, conn: Connection, codes: Iterable[str]) -> list[tuple[int, list[str]]]:
        """``codes`` with facts, grouped by the partition of their first position: (the
        group's smallest first position, its codes sorted), oldest group first."""
        size = partition_size()
        by_part: dict[int, list[str]] = {}
        for code, position in self.of(conn, codes).items():
            if position is not None:
                by_part.setdefault(position // size if size > 0 else 0, []).append(code)
        firsts = self.known
        out = []
        for part in sorted(by_part):
            members = sorted(by_part[part])
            out.append((min(int(firsts[c] or 0) for c in members), members))
        return out
