"""Named queries and their subscriptions as use cases for a principal
(``ledger.standing_queries``): the role each needs, and every institution kept to its own
names, on SQLite and PostgreSQL (the ``ledger`` fixture)."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from epcis.query import QueryParameterError
from ledger import standing_queries as sq
from ledger.access import LOCAL, Forbidden, Permission, Principal, Role
from ledger.application import Ledger
from ledger.named_queries import QueryExistsError
from ledger.subscriptions import SubscriptionInfo, Subscriptions
from tests.ledger_contract import subscription

H1_ADMIN = Principal("k1", Role.ADMIN, "H1")
H2_ADMIN = Principal("k2", Role.ADMIN, "H2")
H1_READER = Principal("k3", Role.READER, "H1")
QUERY = {"eventType": ["ObjectEvent"]}


def _terms(name: str, **changes: object) -> SubscriptionInfo:
    return replace(subscription(str(uuid.uuid4())), query_name=name, **changes)  # type: ignore[arg-type]


def test_each_institution_has_its_own_names(ledger: Ledger) -> None:
    sq.define_query(ledger, H1_ADMIN, "recalls", QUERY)
    sq.define_query(ledger, H2_ADMIN, "recalls", {"eventType": ["AggregationEvent"]})
    assert sq.get_query(ledger, H1_ADMIN, "recalls").query == QUERY
    assert [q.name for q in sq.list_queries(ledger, H1_READER)] == ["recalls"]
    with pytest.raises(QueryExistsError):
        sq.define_query(ledger, H1_ADMIN, "recalls", QUERY)
    with pytest.raises(sq.NoSuchQuery):
        sq.get_query(ledger, LOCAL, "recalls")  # the command line's namespace is ""


def test_roles(ledger: Ledger) -> None:
    with pytest.raises(Forbidden) as refused:
        sq.define_query(ledger, H1_READER, "mine", QUERY)
    assert refused.value.permission == Permission.ADMIN
    assert Role.ADMIN in refused.value.roles
    sq.define_query(ledger, H1_ADMIN, "mine", QUERY)
    for call in (
        lambda: sq.delete_query(ledger, H1_READER, "mine"),
        lambda: sq.subscribe(ledger, H1_READER, _terms("mine")),
        lambda: sq.subscriptions_of(ledger, H1_READER, "mine"),
        lambda: sq.get_subscription(ledger, H1_READER, "mine", "x"),
        lambda: sq.unsubscribe(ledger, H1_READER, "mine", "x"),
    ):
        with pytest.raises(Forbidden):
            call()
    terminal = Principal("t", Role.TERMINAL, "H1")
    with pytest.raises(Forbidden):
        sq.list_queries(ledger, terminal)
    assert sq.get_query(ledger, H1_READER, "mine").name == "mine"


def test_a_bad_query_is_refused_and_nothing_saved(ledger: Ledger) -> None:
    with pytest.raises(QueryParameterError) as bad:
        sq.define_query(ledger, H1_ADMIN, "bad", {"EQ_noSuchParameter": ["x"]})
    assert bad.value.parameter == "EQ_noSuchParameter"
    assert sq.list_queries(ledger, H1_ADMIN) == []


def test_subscriptions_are_the_institutions_own(ledger: Ledger) -> None:
    sq.define_query(ledger, H1_ADMIN, "q", QUERY)
    sq.define_query(ledger, H2_ADMIN, "q", QUERY)
    # what the terms say of institution and scope does not count: the principal's do
    mine = sq.subscribe(ledger, H1_ADMIN, _terms("q", institution="H2", scope=None))
    assert (mine.institution, mine.scope) == ("H1", "H1")
    assert sq.subscriptions_of(ledger, H1_ADMIN, "q") == [mine]
    assert sq.subscriptions_of(ledger, H2_ADMIN, "q") == []
    assert sq.get_subscription(ledger, H2_ADMIN, "q", mine.subscription_id) is None
    assert not sq.unsubscribe(ledger, H2_ADMIN, "q", mine.subscription_id)
    assert Subscriptions(ledger).get(mine.subscription_id) == mine
    assert sq.get_subscription(ledger, H1_ADMIN, "other", mine.subscription_id) is None
    with pytest.raises(sq.NoSuchQuery):
        sq.subscribe(ledger, H1_ADMIN, _terms("missing"))
    assert sq.unsubscribe(ledger, H1_ADMIN, "q", mine.subscription_id)
    assert sq.subscriptions_of(ledger, H1_ADMIN, "q") == []


def test_deleting_a_query_ends_its_subscriptions(ledger: Ledger) -> None:
    sq.define_query(ledger, H1_ADMIN, "q", QUERY)
    sq.define_query(ledger, H2_ADMIN, "q", QUERY)
    first = sq.subscribe(ledger, H1_ADMIN, _terms("q"))
    sq.subscribe(ledger, H1_ADMIN, _terms("q"))
    theirs = sq.subscribe(ledger, H2_ADMIN, _terms("q"))
    assert sq.delete_query(ledger, H1_ADMIN, "q") == 2
    assert Subscriptions(ledger).get(first.subscription_id) is None
    assert sq.subscriptions_of(ledger, H2_ADMIN, "q") == [theirs]
    with pytest.raises(sq.NoSuchQuery):
        sq.delete_query(ledger, H1_ADMIN, "q")
    with pytest.raises(sq.NoSuchQuery):
        sq.subscriptions_of(ledger, H1_ADMIN, "q")


def test_a_regulator_subscription_sees_every_institution(ledger: Ledger) -> None:
    regulator = Principal("r", Role.REGULATOR, "")
    with pytest.raises(Forbidden):  # a regulator reads across institutions; it manages nothing
        sq.define_query(ledger, regulator, "q", QUERY)
    sq.define_query(ledger, LOCAL, "q", QUERY)
    everything = sq.subscribe(ledger, LOCAL, _terms("q", scope="H1"))
    assert everything.scope is None
