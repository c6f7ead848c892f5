"""The view tables, in the ledger's own database (SQLAlchemy Core, names prefixed ``view_``).

* ``view_tracking`` — one row per projection: the notification id of the last event it
  applied. Written in the same transaction as the view rows of that batch, so a batch is
  applied exactly once.
* ``view_code_facts`` — insert-only: one row per (code, event) that names the code. What
  the event said about the code (bizStep, disposition, locations, product/lot/expiry,
  holder) and the state it implies (:func:`ledger.lifecycle.derive_state`). What a
  container's events do to its contents is not stored: it is resolved when read, from
  the links (:func:`projections.code_status.effective_facts`). Status "as of" a record
  time is a query over these rows: a row is valid from its ``record_time`` on, and among
  valid rows the latest ``(event_time, position)`` wins.
* ``view_links`` — insert-only parent/child link facts: AggregationEvent ADD / OBSERVE /
  DELETE (``kind`` = ``aggregation``; a DELETE without childEPCs is one row to the child
  ``*``, :data:`projections.hierarchy.WILDCARD`) and TransformationEvent input → output
  (``kind`` = ``transformation``, action ``ADD``).
* ``view_code_state`` — one row per code with facts: its current status (the fold of all
  its facts, :func:`projections.code_status.fold`, without the parent), written with the
  facts in the same batch. ``GET /stock`` without ``as_of`` counts these rows instead of
  folding every fact; with ``as_of`` it folds only the codes changed since
  (:func:`projections.stock.changed_since`, by the ``record_time`` indexes) and takes the
  others from here; anything else "as of" still reads the facts.
* ``view_stock`` — the counts of ``view_code_state`` per place × product × lot × expiry
  (:mod:`projections.stock_lines`: in stock, in transit, bound, lent out, and on hand
  recalled, frozen or returned), kept with it: ``GET /stock`` without ``as_of`` reads
  these lines (and splits off the expired ones at read time).

**Partitions.** On PostgreSQL ``view_code_facts`` and ``view_links`` (and the event index's
tables) are partitioned by ``position`` range (:mod:`projections.partitions`), and per-code
lookups say ``position >= `` the code's first (:mod:`projections.code_first`), so that they
read only the partitions from there on.

**Bounded index keys.** A PostgreSQL btree entry must stay under ~2.7 kB, and the ledger
holds identifiers (codes, locations, lots, bizSteps, eventIDs…) of any length. So no text
column a view indexes is indexed as it is: each has a companion ``<name>_key`` column,
NULL while the value is short (up to :data:`SHORT_BYTES` UTF-8 bytes: every real
identifier) and otherwise :func:`index_key` of it (its first 160 bytes, then a SHA-256 of
the whole). The indexes (primary keys included, as unique indexes) are on
``coalesce(<name>_key, <name>)`` (:func:`keyed`): the value itself for short values, as
cheap as before, and at most 232 bytes for any value. Lookups compare that expression with
:func:`index_key` of what they look for (:func:`keyed_eq`, :func:`keyed_in`), so they stay
exact (distinct values have distinct keys, SHA-256 collisions aside; an equality lookup
also compares the full value) and use the index; a key keeps the value's first 160 bytes,
so a ``LIKE 'prefix%'`` on the key is right for prefixes up to that length.

Times are stored as fixed-width UTC text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``): text order is
time order on both stores, and the values round-trip exactly (rebuild compares them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.engine import URL, make_url

from epcis.timestamps import utc_text as utc_text
from projections import partitions as partitions  # its CREATE TABLE: partitioned on PostgreSQL

metadata = MetaData()

SHORT_BYTES = 200
"""Values up to this many UTF-8 bytes are their own index key."""
KEY_PREFIX_BYTES = 156
"""A key begins with at least this many bytes of its value (the head is cut at a
character boundary): ``LIKE 'p%'`` on keys is exact for prefixes up to this long."""
_KEY_HEAD = 160
_KEY_MARK = "#sha256="


def index_key(value: str) -> str:
    """The index key of a value: the value while short; else its first 160 bytes, a mark
    and the SHA-256 hex of the whole (229–232 bytes, longer than any short value, so a
    short value is never the key of a long one)."""
    if len(value) <= SHORT_BYTES // 4:
        return value
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) <= SHORT_BYTES:
        return value
    head = raw[:_KEY_HEAD].decode("utf-8", "ignore")
    return head + _KEY_MARK + hashlib.sha256(raw).hexdigest()


def stored_key(value: str | None) -> str | None:
    """What the ``<name>_key`` column holds: None for a short value (or None)."""
    if value is None or len(value) <= SHORT_BYTES // 4:
        return None
    key = index_key(value)
    return None if key is value else key


def keyed_text(name: str, *, nullable: bool = True) -> tuple[Column[Any], Column[Any]]:
    """A text column and its ``<name>_key`` companion (see the module)."""
    return Column(name, Text, nullable=nullable), Column(f"{name}_key", Text)


def keyed(column: Any) -> ColumnElement[Any]:
    """The indexed expression of a keyed text column: ``coalesce(<name>_key, <name>)``."""
    companion = column.table.c[f"{column.name}_key"]
    return func.coalesce(companion, column)


def keyed_eq(column: Any, value: str) -> ColumnElement[bool]:
    """``column = value``, through the index (and then on the full value)."""
    return and_(keyed(column) == index_key(value), column == value)


def keyed_in(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN values``, through the index."""
    return keyed(column).in_([index_key(v) for v in values])


def keyed_columns(table: Table) -> list[tuple[int, int]]:
    """(value column index, key column index) of each keyed column of ``table``."""
    names = [c.name for c in table.columns]
    return [
        (names.index(name[: -len("_key")]), i)
        for i, name in enumerate(names)
        if name.endswith("_key") and name[: -len("_key")] in names
    ]


def value_columns(table: Table) -> list[str]:
    """The names of the columns of ``table`` a writer gives (all but the ``_key`` ones,
    which :func:`projections.bulk.insert_rows` fills)."""
    keys = {table.c[i].name for _, i in keyed_columns(table)}
    return [c.name for c in table.columns if c.name not in keys]


TIME_COLUMN = String(27)
"""The type of a time column: fixed-width UTC text (:func:`utc_text`)."""

tracking = Table(
    "view_tracking",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("notification_id", BigInteger, nullable=False),
)


def event_columns() -> list[Column[Any]]:
    """The columns naming the event a fact comes from, in ``view_code_facts`` and
    ``view_links`` alike (new Column objects for each table): its log position and
    notification id, record and event times, and Event Hash ID (bounded)."""
    return [
        Column("position", BigInteger, nullable=False),
        Column("notification_id", BigInteger, nullable=False),
        Column("record_time", TIME_COLUMN, nullable=False),
        Column("event_time", TIME_COLUMN, nullable=False),
        Column("hash_id", Text, nullable=False),
    ]


code_facts = Table(
    "view_code_facts",
    metadata,
    Column("code", Text, nullable=False),
    *event_columns(),
    Column("event_type", String(40), nullable=False),
    Column("action", String(10)),
    Column("role", String(10), nullable=False),  # epc, parent, child, input, output, quantity
    Column("biz_step", Text),
    Column("disposition", Text),
    Column("read_point", Text),
    Column("biz_location", Text),
    Column("destination", Text),
    Column("product", Text),
    Column("lot", Text),
    Column("expiry", String(10)),
    Column("quantity", Float),
    Column("uom", String(10)),
    Column("parent", Text),
    Column("holder", Text),
    Column("order", Text),
    Column("state", String(20)),
    Column("error_declared", Boolean, nullable=False),
    Column("institution", Text, nullable=False),  # that captured the event
    Column("code_key", Text),
    Column("product_key", Text),
    Column("lot_key", Text),
    Column("parent_key", Text),
)
Index("view_code_facts_code", keyed(code_facts.c.code), code_facts.c.position, unique=True)
Index("view_code_facts_product_lot", keyed(code_facts.c.product), keyed(code_facts.c.lot))
Index("view_code_facts_recorded", code_facts.c.record_time)

links = Table(
    "view_links",
    metadata,
    Column("parent", Text, nullable=False),
    Column("child", Text, nullable=False),
    *event_columns(),
    Column("action", String(10), nullable=False),  # ADD, OBSERVE, DELETE
    Column("kind", String(20), nullable=False),  # aggregation, transformation
    Column("error_declared", Boolean, nullable=False),
    Column("institution", Text, nullable=False),
    Column("parent_key", Text),
    Column("child_key", Text),
)
Index(
    "view_links_link",
    keyed(links.c.parent),
    keyed(links.c.child),
    links.c.position,
    unique=True,
)
Index("view_links_child", keyed(links.c.child))
Index("view_links_recorded", links.c.record_time)

event_shares = Table(
    "view_event_shares",
    metadata,
    Column("institution", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
)
"""The events an institution sees although another stored them (it captured them too):
written by the runner from the log's shares, read by every scoped query."""
Index("view_event_shares_institution", event_shares.c.institution, event_shares.c.position)


def shared_with(scope: str) -> Any:
    """The positions of the events ``scope`` sees through shares (a subquery)."""
    return select(event_shares.c.position).where(event_shares.c.institution == scope)


def visible_to(table: Table, scope: str) -> ColumnElement[bool]:
    """The rows of ``table`` (one with ``institution`` and ``position``) of the events the
    institution ``scope`` sees: those it captured first, and those it captured too."""
    return or_(table.c.institution == scope, table.c.position.in_(shared_with(scope)))


code_state = Table(
    "view_code_state",
    metadata,
    Column("scope", Text, nullable=False),  # "": every institution's facts; else one's
    Column("code", Text, nullable=False),
    Column("state", String(20)),
    Column("location", Text),
    Column("destination", Text),
    Column("holder", Text),
    Column("product", Text),
    Column("lot", Text),
    Column("expiry", String(10)),
    Column("last_event", Text, nullable=False),
    Column("last_event_time", TIME_COLUMN, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Column("place", Text),  # where the code counts in stock: destination in transit, else location
    Column("instance", Boolean, nullable=False),  # names one item (not an EPC class)
    Column("declared", Boolean, nullable=False),  # has facts of error-declared events
    Column("hospital_state", String(20), nullable=False),  # ledger.lifecycle.HospitalState
    Column("order", Text),  # the order the code is bound for (:attr:`CodeStatus.order`)
    Column("moved", String(20)),  # the state of its last movement (:attr:`Folding.moved`)
    Column("held", String(20)),  # recalled / frozen: what holds it (:attr:`Folding.held`)
    # the positions of every event that touched the code, its own and its containers',
    # error-declared ones too, in (eventTime, position) order, space-separated: its recall
    # trail line and ``history`` without a fold (:func:`projections.code_facts.history_text`)
    Column("history", Text, nullable=False),
    # the code it is in now (or was made from), as the links the scope sees say
    # (:func:`projections.hierarchy.parents_of`): a status without a query of the links
    Column("parent", Text),
    # everyone's rows: the institution all of the code's facts are of (None: several, or
    # none); that institution keeps no row of its own for the code, it would be the same
    # (:func:`in_scope` reads an institution's rows)
    Column("sole", Text),
    Column("code_key", Text),
    Column("product_key", Text),
    Column("lot_key", Text),
    Column("place_key", Text),
)
Index("view_code_state_code", code_state.c.scope, keyed(code_state.c.code), unique=True)
# a lot's rows as one index range: the recall trail of a lot now hashes them against the
# lot's codes (:func:`projections.recall_trail.trail_lines`) rather than probe per code
Index(
    "view_code_state_lot",
    code_state.c.scope,
    keyed(code_state.c.product),
    keyed(code_state.c.lot),
)


def in_scope(scope: str | None) -> ColumnElement[bool]:
    """The ``view_code_state`` rows of ``scope`` (None or "": everyone's): an institution's
    own rows, and everyone's rows made by its events alone (``sole``: it keeps no row of
    its own for those, it would be the same)."""
    if not scope:
        return code_state.c.scope == ""
    # scope IN (…) first: the index on (scope, code) probes both per code (an OR of the
    # two was a sequential scan of the table when joined to many codes)
    return and_(
        code_state.c.scope.in_([scope, ""]),
        or_(code_state.c.scope == scope, code_state.c.sole == scope),
    )


stock_counts = Table(
    "view_stock",
    metadata,
    # JSON [scope, place, product, lot, expiry]: None is a value
    Column("key", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("place", Text),
    Column("product", Text, nullable=False),
    Column("lot", Text),
    Column("expiry", String(10)),  # the codes' expiry: which are expired is asked at read time
    # the figures (:data:`projections.stock_lines.FIGURES`)
    Column("in_stock", BigInteger, nullable=False),
    Column("in_transit", BigInteger, nullable=False),
    Column("bound", BigInteger, nullable=False),
    Column("lent_out", BigInteger, nullable=False),
    Column("recalled", BigInteger, nullable=False),
    Column("frozen", BigInteger, nullable=False),
    Column("returned", BigInteger, nullable=False),
    Column("key_key", Text),
    Column("place_key", Text),
)
Index("view_stock_key", keyed(stock_counts.c.key), unique=True)
Index("view_stock_place", stock_counts.c.scope, keyed(stock_counts.c.place))


def sqlalchemy_url(ledger_url: str) -> URL:
    """The SQLAlchemy URL of the ledger's database: SQLite as is, PostgreSQL via psycopg 3."""
    for scheme in ("postgresql://", "postgres://"):
        if ledger_url.startswith(scheme):
            return make_url("postgresql+psycopg://" + ledger_url[len(scheme) :])
    return make_url(ledger_url)


SCHEMA_VERSION = 10
"""The layout of the view tables. A database whose views were made by another version
(no ``#schema`` row in ``view_tracking``: version 1) has them dropped and projected again
from the log when a runner opens it (:meth:`projections.runner.ReadModelRunner`). Version 3:
the events index, facts and links record the institution that captured each event, and the
current state and stock are kept per institution (``scope``) beside everyone's. Version 4:
a Chinese drug trace code's canonical form is its URN ``urn:tracecode:cn-drug:…`` (XML
capture let bare codes in before), the current state keeps the hospital state
(``hospital_state``), and the facts of the project's administering and lending words say
``consumed`` and ``lent``. Version 5: facts and the current state keep the order a code is
bound for (``order``: the event's order bizTransaction), for the pool's units per order.
Version 6: facts are stored only for the codes an event names (no ``via`` rows for the
contents of a container: they are resolved when read, whatever order the events were
recorded in), a DELETE without childEPCs is a link row to ``*``; the current state keeps a
code's last movement and what holds it (``moved``, ``held``), and ``view_stock`` counts
what is on hand by state, per expiry (issue 14). Version 7: facts and links are indexed by
record time, for stock as of a time from what was recorded since
(:func:`projections.stock.changed_since`); and no index nothing reads (facts by code and
eventTime, by parent, by Event Hash ID; links by Event Hash ID; the current state by
place): each cost the catch-up its upkeep on every row. Version 8: the current state keeps
each code's history (``history``: the positions of every event that touched it), so a
recall trail and ``GET /codes/{code}`` read it rather than resolve containment; each code's
first position is kept (``view_code_first``), and on PostgreSQL the facts, links and event
index are partitioned by position range (:mod:`projections.partitions`). Version 9: the
current state keeps each code's parent (``parent``), so ``GET /codes/{code}`` and a trail
read it with the status rather than resolve it from the links; and an institution keeps no
row of its own for a code whose facts are all its events (everyone's row says so: ``sole``),
which halved the rows a one-institution ledger writes. Version 10: the current state is
indexed by product and lot (``view_code_state_lot``), for a lot's trail now."""

SCHEMA_ROW = "#schema"
"""The ``view_tracking`` row whose ``notification_id`` holds :data:`SCHEMA_VERSION`."""

ERROR_TEXT_LIMIT = 2000

failures = Table(
    "view_projection_failures",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("runner", String(100), nullable=False),  # the tracking row's name
    Column("projection", String(100), nullable=False),  # the projection that failed
    Column("notification_id", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("hash_id", Text, nullable=False),
    Column("error_type", String(200), nullable=False),
    Column("error", Text, nullable=False),  # truncated to ERROR_TEXT_LIMIT characters
    Column("failed_at", TIME_COLUMN, nullable=False),
)
"""Append-only: one row per (projection, event) a runner could not apply and skipped
(quarantined). Cleared for a runner only by its rebuild, which retries those events."""
Index("view_projection_failures_runner", failures.c.runner, failures.c.notification_id)
