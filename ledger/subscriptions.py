"""Query subscriptions (``POST /queries/{name}/subscriptions``), kept in the ledger's store
as ``eventsourcing`` aggregates so that they survive restarts. Like named queries they
are not EPCIS events but decide what the ledger sends, so each change is saved with a
commit of the chain (:meth:`ledger.application.Ledger.save_entries`). How far each has
been delivered (``view_subscription_positions``, :mod:`adapters.webhooks`) is operational
state, not an answer: it is not chained (a tampered position re-sends or skips callbacks,
which receivers deduplicate by eventID, and never changes what a query answers).

A subscription says where to send a named query's new results (``dest``), the secret
that signs each callback, and when: ``stream`` (as events arrive) or a ``schedule``
(cron-like fields, see :mod:`adapters.webhooks`). ``start_after`` is the event-index
position it starts after: the index's end when it was made, or 0 when the client gave an
``initialRecordTime`` (then that time filters instead).

Where a ``dest`` may point is checked before a subscription is made
(:mod:`adapters.webhooks.destinations`); ``dest`` URLs with credentials are refused, and any
stored before that was so are shown with the credentials replaced by ``***``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event

from epcis.query import Query, from_json, from_query_string
from ledger.application import Ledger
from ledger.domain import ChainedEntry
from ledger.master_data_vocabulary import with_master_data
from ledger.named_queries import NamedQueries

_NAMESPACE = UUID("9e3c2b61-7a0d-4c55-b0f4-21d6f8a0c4e2")
CREATED_TOPIC = "ledger.subscriptions:Subscription.Created"


def redact_dest(dest: str) -> str:
    """``dest`` with any credentials (``user:password@``) shown as ``***@``."""
    try:
        parts = urlsplit(dest)
    except ValueError:
        return "***" if "@" in dest else dest
    if "@" not in parts.netloc:
        return dest
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


@dataclass
class Subscription(
    ChainedEntry, created_event_name="Created", kind="subscription", key="subscription_id"
):
    subscription_id: str
    query_name: str
    dest: str
    secret: str
    stream: bool
    schedule: dict[str, str] | None
    report_if_empty: bool
    initial_record_time: str | None
    start_after: int
    created_at: str
    institution: str = ""
    scope: str | None = None
    cancelled: bool = field(default=False, init=False)

    @staticmethod
    def create_id(subscription_id: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, "subscription:" + subscription_id)

    @event("Cancelled")
    def cancel(self) -> None:
        self.cancelled = True


@dataclass(frozen=True)
class SubscriptionInfo:
    subscription_id: str
    query_name: str
    dest: str
    secret: str
    stream: bool
    schedule: dict[str, str] | None
    report_if_empty: bool
    initial_record_time: str | None
    start_after: int
    created_at: str
    institution: str = ""
    """The institution whose named query it follows (and which sees it)."""
    scope: str | None = None
    """Whose events it delivers: one institution's, or (None) every one's (a regulator's)."""

    def as_json(self) -> dict[str, Any]:
        """What the API shows: everything but the secret (and credentials in ``dest``)."""
        out: dict[str, Any] = {
            "subscriptionID": self.subscription_id,
            "dest": redact_dest(self.dest),
            "createdAt": self.created_at,
        }
        if self.stream:
            out["stream"] = True
        if self.schedule is not None:
            out["schedule"] = self.schedule
            out["reportIfEmpty"] = self.report_if_empty
        if self.initial_record_time is not None:
            out["initialRecordTime"] = self.initial_record_time
        return out


def _terms(source: Subscription | SubscriptionInfo) -> dict[str, Any]:
    """The fields a subscription is saved with and read back as: every field of the info is
    one of the aggregate's (those it gained later have class-level defaults, so old
    subscriptions read as they were)."""
    return {f.name: getattr(source, f.name) for f in fields(SubscriptionInfo)}


class Subscriptions:
    """Create, read, list and cancel subscriptions in an application's store."""

    def __init__(self, app: Ledger) -> None:
        self.app = app

    def create(self, info: SubscriptionInfo) -> SubscriptionInfo:
        """Save a new subscription; ValueError if its id is taken (ids are UUIDs: never)."""

        def build() -> list[Subscription]:
            if Subscription.create_id(info.subscription_id) in self.app.repository:
                raise ValueError(f"subscription {info.subscription_id} exists")
            return [Subscription(**_terms(info))]

        self.app.save_entries(build)
        return info

    def get(self, subscription_id: str) -> SubscriptionInfo | None:
        try:
            found: Subscription = self.app.repository.get(Subscription.create_id(subscription_id))
        except AggregateNotFoundError:
            return None
        return None if found.cancelled else SubscriptionInfo(**_terms(found))

    def cancel(self, subscription_id: str) -> bool:

        def build() -> list[Subscription]:
            try:
                found: Subscription = self.app.repository.get(
                    Subscription.create_id(subscription_id)
                )
            except AggregateNotFoundError:
                return []
            if found.cancelled:
                return []
            found.cancel()
            return [found]

        return bool(self.app.save_entries(build))

    def active(
        self, query_name: str | None = None, institution: str | None = None
    ) -> list[SubscriptionInfo]:
        """Live subscriptions (of one query of one institution, or all), oldest first."""
        out: list[SubscriptionInfo] = []
        for notification in self.app.notifications([CREATED_TOPIC]):
            created = self.app.mapper.to_domain_event(notification)
            if query_name is not None and getattr(created, "query_name", None) != query_name:
                continue
            if institution is not None and getattr(created, "institution", "") != institution:
                continue
            info = self.get(str(getattr(created, "subscription_id", "")))
            if info is not None:
                out.append(info)
        return out


def cancel_all(app: Ledger, query_name: str, institution: str = "") -> int:
    """Cancel every subscription of an institution's query (when it is deleted); how many."""
    subscriptions = Subscriptions(app)
    found = subscriptions.active(query_name, institution)
    return sum(subscriptions.cancel(s.subscription_id) for s in found)


def subscription_query(ledger: Ledger, info: SubscriptionInfo) -> Query | None:
    """The query a subscription runs (None once its named query is gone), its ``WD_``,
    ``HASATTR_`` and ``EQ_ATTR_`` answered from the master data of the subscription's scope
    as it is at each call: a location added under a ``WD_`` location after the
    subscription was made is followed from then on."""
    definition = NamedQueries(ledger, info.institution).get(info.query_name)
    if definition is None:
        return None
    query = from_json(definition.query)
    if info.initial_record_time is not None:
        since = from_query_string([("GE_recordTime", info.initial_record_time)])
        query = Query(
            query.conditions + since.conditions,
            query.order_by,
            query.order_direction,
            query.event_count_limit,
            query.max_event_count,
            query.namespaces,
        )
    return with_master_data(ledger, query, info.scope)
