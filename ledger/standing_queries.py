"""What an entry point may do with named queries and their subscriptions, for a principal:
one function per use case, each checking the principal's role and keeping it to its
institution's names (every institution has its own; the command line acts for "", the
namespace of no institution in particular). The HTTP API calls these; so would any other
entry point.

A subscription of another institution is answered as not found, never as forbidden: an
institution does not learn what another has.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from epcis.query import from_json
from epcis.timestamps import utc_now
from ledger.access import Permission, Principal, require
from ledger.application import Ledger
from ledger.master_data_vocabulary import check_query
from ledger.named_queries import NamedQueries, QueryDefinition
from ledger.subscriptions import SubscriptionInfo, Subscriptions, cancel_all


class NoSuchQuery(LookupError):
    """The principal's institution has no named query by that name."""


def _queries(ledger: Ledger, who: Principal) -> NamedQueries:
    return NamedQueries(ledger, who.institution)


def define_query(
    ledger: Ledger, who: Principal, name: str, query: dict[str, Any]
) -> QueryDefinition:
    """Save a named query for the principal's institution. The query's parameters are
    checked first (:class:`epcis.query.QueryParameterError`, nothing saved; master-data
    attributes by name, not against the master data, which may change);
    :class:`~ledger.named_queries.QueryExistsError` when the name is taken."""
    require(who, Permission.ADMIN)
    check_query(from_json(query))
    return _queries(ledger, who).define(name, query, utc_now())


def list_queries(ledger: Ledger, who: Principal) -> list[QueryDefinition]:
    require(who, Permission.READ)
    return _queries(ledger, who).all()


def get_query(ledger: Ledger, who: Principal, name: str) -> QueryDefinition:
    """One of the institution's named queries (:class:`NoSuchQuery`)."""
    require(who, Permission.READ)
    found = _queries(ledger, who).get(name)
    if found is None:
        raise NoSuchQuery(name)
    return found


def delete_query(ledger: Ledger, who: Principal, name: str) -> int:
    """Delete a named query and cancel its subscriptions (they end with it); how many were
    cancelled. :class:`NoSuchQuery` when there was none by that name."""
    require(who, Permission.ADMIN)
    if not _queries(ledger, who).delete(name):
        raise NoSuchQuery(name)
    return cancel_all(ledger, name, who.institution)


def subscribe(ledger: Ledger, who: Principal, terms: SubscriptionInfo) -> SubscriptionInfo:
    """Save a subscription to one of the institution's named queries. It belongs to the
    principal's institution and delivers what the principal sees (every institution's events
    for a regulator), whatever ``terms`` says of either. :class:`NoSuchQuery`."""
    require(who, Permission.ADMIN)
    if _queries(ledger, who).get(terms.query_name) is None:
        raise NoSuchQuery(terms.query_name)
    info = replace(terms, institution=who.institution, scope=who.scope)
    return Subscriptions(ledger).create(info)


def subscriptions_of(ledger: Ledger, who: Principal, name: str) -> list[SubscriptionInfo]:
    """The live subscriptions of one of the institution's named queries (:class:`NoSuchQuery`)."""
    require(who, Permission.ADMIN)
    if _queries(ledger, who).get(name) is None:
        raise NoSuchQuery(name)
    return Subscriptions(ledger).active(name, who.institution)


def get_subscription(
    ledger: Ledger, who: Principal, name: str, subscription_id: str
) -> SubscriptionInfo | None:
    """A live subscription of the institution's query ``name``; None for any other."""
    require(who, Permission.ADMIN)
    found = Subscriptions(ledger).get(subscription_id)
    if found is None or found.query_name != name or found.institution != who.institution:
        return None
    return found


def unsubscribe(ledger: Ledger, who: Principal, name: str, subscription_id: str) -> bool:
    """Cancel a subscription of the institution's query ``name``; False when there is no
    such live subscription (of this institution)."""
    if get_subscription(ledger, who, name, subscription_id) is None:
        return False
    return Subscriptions(ledger).cancel(subscription_id)
