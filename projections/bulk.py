"""Writing and reading many view rows at once, inside the runner's transaction.

* :func:`insert_rows` — PostgreSQL: ``COPY … FROM STDIN`` on the connection's psycopg
  connection (same transaction), after making the partitions the rows need
  (:func:`projections.partitions.ensure`); SQLite: one ``executemany`` INSERT.
* :func:`any_of` — ``column IN (values)`` (by index key for a keyed column) for a large
  set: ``= ANY(array)`` on PostgreSQL (one parameter, one plan: the array is sent as JSON
  text, ``ARRAY(SELECT json_array_elements_text(…))``, which psycopg passes on as it is, where
  a ``text[]`` parameter costs it a Python call and a regular expression per element), chunks
  of IN lists on SQLite (its parameter limit).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Table,
    Text,
    any_,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.sql.elements import ColumnClause

from projections import partitions
from projections.schema import SHORT_BYTES, index_key, keyed, keyed_columns, stored_key

_SQLITE_CHUNK = 5000


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_rows(conn: Connection, table: Table, rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` into ``table``: tuples in the order of its columns without the
    ``_key`` ones (:func:`projections.schema.value_columns`), which are filled here
    (:func:`projections.schema.stored_key` of their value columns)."""
    if not rows:
        return
    names = [c.name for c in table.columns]
    rows = _with_keys(table, rows)
    if is_postgres(conn):
        if table.name in partitions.PARTITIONED:
            at = names.index(partitions.KEY)
            positions = [row[at] for row in rows]
            partitions.ensure(conn, table.name, min(positions), max(positions))
        raw: Any = conn.connection.driver_connection
        columns = ", ".join(f'"{n}"' for n in names)
        with (
            raw.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    conn.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])


@cache
def _sources(table: Table) -> tuple[int, ...]:
    return tuple(v for v, _ in keyed_columns(table))


def _with_keys(table: Table, rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """``rows`` with their ``_key`` columns. The hot path: a column whose values are all
    short (checked at C speed, column by column) gets None without a call per value."""
    sources = _sources(table)
    if not sources:
        return rows
    short = SHORT_BYTES // 4  # characters that are short whatever the encoding
    if all(
        max(map(len, filter(None, map(itemgetter(i), rows))), default=0) <= short for i in sources
    ):
        nones = (None,) * len(sources)
        return [tuple(row) + nones for row in rows]
    return [(*row, *[stored_key(row[i]) for i in sources]) for row in rows]


def any_of(
    conn: Connection, column: ColumnClause[Any], values: Sequence[str]
) -> Iterator[ColumnElement[bool]]:
    """Conditions that, OR-ed over separate queries, say ``column IN values``; through its
    index key (:func:`projections.schema.keyed`) when ``column`` is a keyed text column."""
    if not values:
        return
    if _is_keyed(column):
        column = keyed(column)  # type: ignore[assignment]
        values = [index_key(v) for v in values]
    if is_postgres(conn):
        listed = bindparam(None, json.dumps(list(values)), type_=Text).cast(JSON)
        yield column == any_(
            func.array(select(func.json_array_elements_text(listed)).scalar_subquery())
        )
        return
    for start in range(0, len(values), _SQLITE_CHUNK):
        yield column.in_(list(values[start : start + _SQLITE_CHUNK]))


def _is_keyed(column: Any) -> bool:
    table = getattr(column, "table", None)
    columns = getattr(table, "c", None)
    return columns is not None and f"{column.name}_key" in columns


def select_in(
    conn: Connection,
    query: Callable[[ColumnElement[bool]], Any],
    column: ColumnClause[Any],
    values: Sequence[str],
) -> list[Any]:
    """The rows of ``query(condition)`` for every chunk of ``values`` (see :func:`any_of`)."""
    out: list[Any] = []
    for condition in any_of(conn, column, values):
        out.extend(conn.execute(query(condition)).all())
    return out
