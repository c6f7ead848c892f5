"""PostgreSQL: the view tables that grow with the log, partitioned by log position.

``view_code_facts``, ``view_links``, ``view_events`` and ``view_event_epcs`` (:data:`PARTITIONED`)
get a row per event (or per code an event names) and are never updated: they grow with
the history. On PostgreSQL each is ``PARTITION BY RANGE (position)``, one partition per
:func:`partition_size` positions (``TRACECODE_PARTITION_EVENTS``, default
:data:`DEFAULT_SIZE`; ``0``: not partitioned). A partition is written only while the log
crosses its range, then only read; a lookup bounded below by a position (a code's first,
:mod:`projections.code_first`) is pruned to the partitions from there on, so the indexes it
reads are those of the recent partitions, which the catch-up keeps in memory anyway.

**Partitions are made on demand** by whoever writes the rows (:func:`ensure`, called by
:func:`projections.bulk.insert_rows` before each ``COPY``), in the writer's transaction and
in the schema the table is found in: the live one, or a rebuild's shadow
(:mod:`projections.shadow` moves the partitions with their table). The partitions cover
one contiguous range of positions, from the first row's partition to the last; there is
no ``DEFAULT`` partition (a catch-all would grow with the history, and a new range could
not be split off it without scanning it). A partition is made as a table of its own and
then ``ATTACH``-ed: that takes a ``SHARE UPDATE EXCLUSIVE`` lock on the table, which
readers and writers pass, where ``CREATE TABLE … PARTITION OF`` would take an ``ACCESS
EXCLUSIVE`` one and hold every reader of the table until the batch commits; its indexes
are made first, named after the table's (``<index>_p<from>``: a plan says which index a
partition is read by), and the ``ATTACH`` takes them as the partitions of the table's
indexes. Nothing is
cached: a batch rolled back takes its partitions with it, and the next attempt looks again
(one catalogue query per table per batch).

**The setting takes effect when a table is created** (a new database, a schema version
change, or a rebuild, whose shadow tables are new): tables made unpartitioned stay so until
then, and a changed size applies to the partitions made from then on (the range stays
contiguous: new partitions start where the last one ends).

SQLite is never partitioned: the same statements, on one table each.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable

SETTING = "TRACECODE_PARTITION_EVENTS"
DEFAULT_SIZE = 10_000_000
"""Positions per partition: at a few facts per event, a partition of ``view_code_facts``
holds some tens of millions of rows and its code index a few GB, the size a database
keeps the recent ones of in memory."""

PARTITIONED = frozenset({"view_code_facts", "view_links", "view_events", "view_event_epcs"})
"""The tables partitioned by ``position`` range on PostgreSQL."""

KEY = "position"

_BOUND = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


def partition_size(env: Mapping[str, str] = os.environ) -> int:
    """Positions per partition (:data:`SETTING`); 0: the tables are not partitioned.
    ``ValueError`` for anything but a whole number from 0 on (the server and the projector
    check it at start, :class:`adapters.bootstrap.Settings`)."""
    raw = env.get(SETTING, "").strip()
    if not raw:
        return DEFAULT_SIZE
    try:
        size = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError(f"{SETTING}={raw!r} is not a whole number of positions") from None
    if size < 0:
        raise ValueError(f"{SETTING}={raw!r} is negative (0: no partitions)")
    return size


@compiles(CreateTable, "postgresql")
def _create_partitioned(element: CreateTable, compiler: Any, **kw: Any) -> str:
    """``CREATE TABLE`` of a :data:`PARTITIONED` table, partitioned when a size is set.
    (DDL is compiled each time it runs, so the setting is read at creation.)"""
    statement = str(compiler.visit_create_table(element, **kw))
    if element.element.name in PARTITIONED and partition_size() > 0:
        statement = f"{statement.rstrip()} PARTITION BY RANGE ({KEY})"
    return statement


def partition_name(table: str, low: int) -> str:
    """The name of ``table``'s partition starting at position ``low``."""
    return f"{table}_p{low:012d}"


def partitions(conn: Connection, table: str) -> tuple[str, list[tuple[int, int, str]]] | None:
    """The schema ``table`` is found in (by the connection's ``search_path``) and its
    partitions, as (from, to, name) in position order; None when it is not a partitioned
    table there (SQLite, an unpartitioned table, no table)."""
    if conn.dialect.name != "postgresql" or table not in PARTITIONED:
        return None
    rows = conn.execute(
        text(
            "SELECT c.relkind, n.nspname, p.relname, pg_get_expr(p.relpartbound, p.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_inherits i ON i.inhparent = c.oid "
            "LEFT JOIN pg_class p ON p.oid = i.inhrelid "
            "WHERE c.oid = to_regclass(:name)"
        ),
        {"name": f'"{table}"'},
    ).all()
    if not rows or rows[0][0] != "p":
        return None
    found = []
    for _, _, name, bound in rows:
        if name is None:
            continue
        match = _BOUND.search(bound or "")
        if match is None:
            raise RuntimeError(f"partition {name} of {table}: unexpected bound {bound!r}")
        found.append((int(match[1]), int(match[2]), str(name)))
    return str(rows[0][1]), sorted(found)


def ensure(conn: Connection, table: str, low: int, high: int) -> list[str]:
    """Make the partitions of ``table`` that rows with positions from ``low`` to ``high``
    (inclusive) need, in the writer's transaction; the names of those made. Nothing on
    SQLite or for a table not partitioned."""
    found = partitions(conn, table)  # None on SQLite: the setting is not read there
    if found is None:
        return []
    size = partition_size()
    if size <= 0:
        return []
    schema, existing = found
    if existing:
        first, top = existing[0][0], existing[-1][1]
    else:
        first = top = low - low % size
    made: list[tuple[int, int]] = []
    if low < first:  # rows before the first partition (never in log order): one to cover them
        made.append((low - low % size, first))
    while high >= top:
        made.append((top, top + size))
        top += size
    quote = conn.dialect.identifier_preparer.quote
    parent = f"{quote(schema)}.{quote(table)}"
    indexes = [] if not made else _indexes(conn, parent)
    names = []
    for start, end in made:
        name = partition_name(table, start)
        child = f"{quote(schema)}.{quote(name)}"
        conn.exec_driver_sql(f"CREATE TABLE {child} (LIKE {parent} INCLUDING DEFAULTS)")
        for index, unique, method in indexes:  # named after the table's: plans say which
            own = quote(f"{index}_p{start:012d}")
            conn.exec_driver_sql(f"CREATE {unique}INDEX {own} ON {child} USING {method}")
        conn.exec_driver_sql(  # takes the indexes above as the partitions of the table's
            f"ALTER TABLE {parent} ATTACH PARTITION {child} FOR VALUES FROM ({start}) TO ({end})"
        )
        names.append(name)
    return names


def _indexes(conn: Connection, parent: str) -> list[tuple[str, str, str]]:
    """The indexes of the (quoted, schema-qualified) table ``parent``: (name, ``"UNIQUE "``
    or ``""``, what follows ``USING`` in its definition)."""
    rows = conn.execute(
        text(
            "SELECT c.relname, i.indisunique, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = CAST(:t AS regclass) "
            "ORDER BY c.relname"
        ),
        {"t": parent},
    ).all()
    return [
        (str(name), "UNIQUE " if unique else "", str(definition).split(" USING ", 1)[1])
        for name, unique, definition in rows
    ]
