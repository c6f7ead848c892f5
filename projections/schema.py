"""The view tables, in the ledger's own database (SQLAlchemy Core, names prefixed ``view_``).

* ``view_tracking`` — one row per projection: the notification id of the last event it
  applied. Written in the same transaction as the view rows of that batch, so a batch is
  applied exactly once.
* ``view_code_facts`` — insert-only: one row per (code, event) the code was touched by,
  directly or through a container it was in (``via``). What the event said about the code
  (bizStep, disposition, locations, product/lot/expiry, holder) and the state it implies
  (:func:`projections.code_status.derive_state`). Status "as of" a record time is a query
  over these rows: a row is valid from its ``record_time`` on, and among valid rows the
  latest ``(event_time, position)`` wins.
* ``view_links`` — insert-only parent/child link facts: AggregationEvent ADD / OBSERVE /
  DELETE (``kind`` = ``aggregation``) and TransformationEvent input → output (``kind`` =
  ``transformation``, action ``ADD``).
* ``view_code_state`` — one row per code with facts: its current status (the fold of all
  its facts, :func:`projections.code_status.fold`, without the parent), written with the
  facts in the same batch. ``GET /stock`` without ``as_of`` counts these rows instead of
  folding every fact; anything "as of" still reads the facts.
* ``view_stock`` — the counts of ``view_code_state`` per place × product × lot (in stock,
  in transit, bound), kept with it: ``GET /stock`` without ``as_of`` reads these lines.

Times are stored as fixed-width UTC text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``): text order is
time order on both stores, and the values round-trip exactly (rebuild compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import URL, make_url

from projections.codes import facts_of

metadata = MetaData()

_TIME = String(27)

tracking = Table(
    "view_tracking",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("notification_id", BigInteger, nullable=False),
)

code_facts = Table(
    "view_code_facts",
    metadata,
    Column("code", Text, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("notification_id", BigInteger, nullable=False),
    Column("record_time", _TIME, nullable=False),
    Column("event_time", _TIME, nullable=False),
    Column("hash_id", Text, nullable=False),
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
    Column("state", String(20)),
    Column("via", Text),
    Column("error_declared", Boolean, nullable=False),
)
Index("view_code_facts_time", code_facts.c.code, code_facts.c.event_time)
Index("view_code_facts_product_lot", code_facts.c.product, code_facts.c.lot)
Index("view_code_facts_parent", code_facts.c.parent)
Index("view_code_facts_hash", code_facts.c.hash_id)

links = Table(
    "view_links",
    metadata,
    Column("parent", Text, primary_key=True),
    Column("child", Text, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("notification_id", BigInteger, nullable=False),
    Column("record_time", _TIME, nullable=False),
    Column("event_time", _TIME, nullable=False),
    Column("hash_id", Text, nullable=False),
    Column("action", String(10), nullable=False),  # ADD, OBSERVE, DELETE
    Column("kind", String(20), nullable=False),  # aggregation, transformation
    Column("error_declared", Boolean, nullable=False),
)
Index("view_links_child", links.c.child)
Index("view_links_hash", links.c.hash_id)

code_state = Table(
    "view_code_state",
    metadata,
    Column("code", Text, primary_key=True),
    Column("state", String(20)),
    Column("location", Text),
    Column("destination", Text),
    Column("holder", Text),
    Column("product", Text),
    Column("lot", Text),
    Column("expiry", String(10)),
    Column("last_event", Text, nullable=False),
    Column("last_event_time", _TIME, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Column("place", Text),  # where the code counts in stock: destination in transit, else location
    Column("instance", Boolean, nullable=False),  # names one item (not an EPC class)
    Column("declared", Boolean, nullable=False),  # has facts of error-declared events
)
Index("view_code_state_stock", code_state.c.place, code_state.c.product, code_state.c.lot)

stock_counts = Table(
    "view_stock",
    metadata,
    Column("key", Text, primary_key=True),  # JSON [place, product, lot]: None is a value here
    Column("place", Text),
    Column("product", Text, nullable=False),
    Column("lot", Text),
    Column("in_stock", BigInteger, nullable=False),
    Column("in_transit", BigInteger, nullable=False),
    Column("bound", BigInteger, nullable=False),
)


def sqlalchemy_url(ledger_url: str) -> URL:
    """The SQLAlchemy URL of the ledger's database: SQLite as is, PostgreSQL via psycopg 3."""
    for scheme in ("postgresql://", "postgres://"):
        if ledger_url.startswith(scheme):
            return make_url("postgresql+psycopg://" + ledger_url[len(scheme) :])
    return make_url(ledger_url)


def canonical(raw: str) -> str:
    """The canonical form of an identifier, or the raw string when it does not parse."""
    return facts_of(raw).canonical


def utc_text(timestamp: str | datetime) -> str:
    """A timestamp as the fixed-width UTC text the views store (text order = time order)."""
    moment = timestamp if isinstance(timestamp, datetime) else datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


SCHEMA_VERSION = 2
"""The layout of the view tables. A database whose views were made by another version
(no ``#schema`` row in ``view_tracking``: version 1) has them dropped and projected again
from the log when a runner opens it (:meth:`projections.runner.ProjectionRunner`)."""

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
    Column("failed_at", _TIME, nullable=False),
)
"""Append-only: one row per (projection, event) a runner could not apply and skipped
(quarantined). Cleared for a runner only by its rebuild, which retries those events."""
Index("view_projection_failures_runner", failures.c.runner, failures.c.notification_id)
