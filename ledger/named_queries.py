"""Named queries (``POST /queries``): saved EPCIS queries that clients run by name and
subscribe to. Kept in the ledger's store as ``eventsourcing`` aggregates, so they survive
restarts and are backed up with the events. They are not EPCIS events (they take no
position), but they decide answers, so each change is saved with a commit of the chain
(:meth:`ledger.application.Ledger.save_entries`) and ``tracecode verify`` covers them.

A name, once deleted, can be defined again: the aggregate (its id derives from the name)
is reused and records ``Redefined``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event

from ledger.application import Ledger
from ledger.domain import ChainedEntry

_NAMESPACE = UUID("0b8f3d4e-5d4a-4f0e-9a77-8e2f6c1d9a31")
TOPICS = [
    "ledger.named_queries:NamedQuery.Defined",
    "ledger.named_queries:NamedQuery.Redefined",
    "ledger.named_queries:NamedQuery.Deleted",
]


@dataclass
class NamedQuery(ChainedEntry, created_event_name="Defined", kind="named query", key="name"):
    name: str
    query: dict[str, Any]
    created_at: str
    institution: str = ""
    deleted: bool = field(default=False, init=False)

    @staticmethod
    def create_id(name: str, institution: str = "", **_: Any) -> UUID:
        """Each institution has its own names (a query of no institution keeps the id it
        had before institutions)."""
        scoped = f"{institution}\n{name}" if institution else name
        return uuid5(_NAMESPACE, "query:" + scoped)

    @event("Redefined")
    def redefine(self, query: dict[str, Any], created_at: str) -> None:
        self.query = query
        self.created_at = created_at
        self.deleted = False

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True


@dataclass(frozen=True)
class QueryDefinition:
    name: str
    query: dict[str, Any]
    created_at: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "query": self.query, "createdAt": self.created_at}


class QueryExistsError(Exception):
    pass


class NamedQueries:
    """Define, read, list and delete the named queries of one institution (each has its own
    names; "" is the namespace of no institution in particular)."""

    def __init__(self, app: Ledger, institution: str = "") -> None:
        self.app = app
        self.institution = institution

    def _id(self, name: str) -> UUID:
        return NamedQuery.create_id(name, self.institution)

    def define(self, name: str, query: dict[str, Any], created_at: str) -> QueryDefinition:
        """Save a new named query; :class:`QueryExistsError` if the name is taken."""

        def build() -> list[NamedQuery]:
            # again after a collision: defined by someone else a moment ago is taken
            try:
                found: NamedQuery = self.app.repository.get(self._id(name))
            except AggregateNotFoundError:
                return [NamedQuery(name, query, created_at, **self._who())]
            if not found.deleted:
                raise QueryExistsError(name)
            found.redefine(query, created_at)
            return [found]

        self.app.save_entries(build)
        return QueryDefinition(name, query, created_at)

    def _who(self) -> dict[str, str]:
        # left out when empty: a query of no institution is stored as before institutions
        return {"institution": self.institution} if self.institution else {}

    def get(self, name: str) -> QueryDefinition | None:
        try:
            found: NamedQuery = self.app.repository.get(self._id(name))
        except AggregateNotFoundError:
            return None
        if found.deleted:
            return None
        return QueryDefinition(found.name, found.query, found.created_at)

    def delete(self, name: str) -> bool:
        """Delete a named query; False when there is none by that name."""

        def build() -> list[NamedQuery]:
            # again after a collision: changed concurrently, look again
            try:
                found: NamedQuery = self.app.repository.get(self._id(name))
            except AggregateNotFoundError:
                return []
            if found.deleted:
                return []
            found.delete()
            return [found]

        return bool(self.app.save_entries(build))

    def all(self) -> list[QueryDefinition]:
        """Every live named query, in the order they were (last) defined."""
        names: dict[str, None] = {}
        for notification in self.app.notifications(TOPICS):
            state = self.app.mapper.to_domain_event(notification)
            name = getattr(state, "name", None)
            if name is not None and getattr(state, "institution", "") == self.institution:
                names.pop(name, None)
                names[name] = None
        found = [self.get(name) for name in names]
        live = [q for q in found if q is not None]
        return sorted(live, key=lambda q: q.created_at)
