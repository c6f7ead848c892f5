"""What the ledger records, as ``eventsourcing`` aggregates.

* :class:`EventRecord` — one captured EPCIS event, created once and never changed. Its id
  derives from the Event Hash ID, so the same event can never be stored twice.
* :class:`EventIdClaim` — binds a client's ``eventID`` to the Event Hash ID it was first
  used for; a different event reusing that eventID collides with it.
* :class:`Declarations` — the error declarations (corrections) stored for one event; a
  declaration is a record of its own beside the original, never an edit of it.
* :class:`ChainHead` — the single head of the tamper-evidence chain: its version moves with
  every append, so two writers that extend the same head cannot both commit.
* :class:`CaptureJob` — a capture request and what became of it.
* :class:`EventShare` — an institution captured an event another had stored: it sees it
  from then on (the record is not stored twice).

Every record carries its position in the one global order and a link: the SHA-256 of the
previous link and of the record's content. Altering, removing, inserting or reordering a
record breaks the chain from that record on.

Records are not all that decides the ledger's answers. Jobs, shares, named queries,
subscriptions and API keys do too, and nothing can re-derive them: they are *chained entries*. Every
transaction that writes records or entries holds one ``Committed`` event of the chain head
(logged first): a *commit*, numbered, naming each entry it saves (kind, key, aggregate,
version and :func:`entry_digest` of its content), the record chain's end after it, and
the eventIDs it claims for events no record of it carries under that eventID (a stored
event re-sent under a new eventID). Commits are chained like records: each link covers
the previous commit's link. Claims and the declarations index are *derived*: verify
rebuilds them from the records and the commits and compares (:mod:`ledger.verify`).

Why commits, rather than a link in every entry or entries folded into the record chain:
positions and record links stay exactly what they were (positions count events; clients,
checkpoints and the read models rely on that); a commit still names an entry whose row
was deleted, so verify says *which* job, query or subscription is gone; the hot capture
path pays one digest per job and one link per transaction, not one per claim; and the
entry aggregates keep their schemas. The head already is the lock every writer takes, so
one more chain costs no more coordination.

Deliberately outside: the eventsourcing timestamps of entries (no answer reads them),
delivery positions of subscriptions (operational state, not answers), and, later, what
the law requires to be erasable (patient mappings, personal settlement fields), which
stays out of the log by design.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

_NAMESPACE = UUID("6f1c1a52-8a57-4a8b-9f5e-3a4f2d1c0b7e")
GENESIS_LINK = "0" * 64


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def _plain(value: Any) -> Any:
    """JSON for what the transcoder round-trips but ``json`` does not know (UUID, datetime)."""
    return str(value)


def entry_digest(topic: str, state: dict[str, Any]) -> str:
    """The SHA-256 a commit holds for one stored aggregate event (a job, a named query's or a
    subscription's): over its topic, aggregate id, version and every attribute but its
    timestamp. ``state`` is the event's ``__dict__``, before saving or decoded after."""
    content = {k: v for k, v in state.items() if k != "timestamp"}
    content["topic"] = topic
    data = json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    )
    return hashlib.sha256(data.encode()).hexdigest()


def chain_link(previous: str, content: dict[str, Any]) -> str:
    """The link of a record: SHA-256 over the previous link and the record's content."""
    return hashlib.sha256(previous.encode() + b"\n" + canonical_json(content)).hexdigest()


def record_key(hash_id: str, event: dict[str, Any]) -> str:
    """What makes a record unique: its Event Hash ID, and its error declaration if it has one.

    An error declaration is the original event again with an ``errorDeclaration`` added;
    the Event Hash ID leaves that field out, so without the declaration in the key the
    ledger would take a correction for a retry of the original and drop it.
    """
    declaration = event.get("errorDeclaration")
    if declaration is None:
        return hash_id
    return f"{hash_id}#declaration-{record_digest({'d': declaration})[:32]}"


class ChainedEntry(Aggregate):
    """An aggregate that decides answers but is not an EPCIS event (a job, a share, a named
    query, a subscription, a key): every commit names each of its changes (``kind`` and
    the attribute ``key`` that identifies it), so ``verify`` covers them. A subclass says
    so in its header: ``class CaptureJob(ChainedEntry, kind="capture job", key="capture_id")``.
    """

    chain_kind: ClassVar[str]
    chain_key: ClassVar[str]

    def __init_subclass__(cls, *, kind: str = "", key: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind:
            cls.chain_kind, cls.chain_key = kind, key


@dataclass
class EventRecord(Aggregate, created_event_name="Captured"):
    """One captured EPCIS event, as received (JSON-LD internal form), with its place in the log."""

    key: str
    hash_id: str
    event_id: str
    position: int
    record_time: str
    capture_id: str
    event: dict[str, Any]
    namespaces: dict[str, str]
    previous_link: str
    link: str
    institution: str = ""

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, "event:" + key)


def record_content(
    *,
    key: str,
    hash_id: str,
    event_id: str,
    position: int,
    record_time: str,
    capture_id: str,
    event: dict[str, Any],
    namespaces: dict[str, str],
    institution: str = "",
) -> dict[str, Any]:
    """What a record's link covers: the institution that captured it too, when it is known
    (records of a ledger from before institutions have none, and keep their links)."""
    content = {
        "key": key,
        "hash_id": hash_id,
        "event_id": event_id,
        "position": position,
        "record_time": record_time,
        "capture_id": capture_id,
        "event": event,
        "namespaces": namespaces,
    }
    if institution:
        content["institution"] = institution
    return content


class EventIdClaim(Aggregate):
    """A client's eventID, bound to the Event Hash ID of the event it named first."""

    @staticmethod
    def create_id(event_id: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, "event-id:" + event_id)

    @event("Claimed")
    def __init__(self, event_id: str, hash_id: str) -> None:
        self.event_id = event_id
        self.hash_id = hash_id


class Declarations(Aggregate):
    """The error declarations stored for one event (by its Event Hash ID), in order."""

    @staticmethod
    def create_id(hash_id: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, "declarations:" + hash_id)

    @event("Started")
    def __init__(self, hash_id: str) -> None:
        self.hash_id = hash_id
        self.keys: list[str] = []

    @event("Declared")
    def declare(self, key: str) -> None:
        self.keys.append(key)


class ChainHead(Aggregate):
    """The end of the chain: last position and link. There is exactly one."""

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return uuid5(_NAMESPACE, "chain-head")

    @event("Started")
    def __init__(self) -> None:
        self.position = 0
        self.link = GENESIS_LINK

    @event("Extended")
    def extend(self, position: int, link: str, record_time: str) -> None:
        """Only read now (stores from before commits); appends record :meth:`commit`."""
        self.position = position
        self.link = link
        self.record_time = record_time

    @event("Committed")
    def commit(
        self,
        number: int,
        position: int,
        link: str,
        record_time: str,
        entries: list[list[Any]],
        claims: dict[str, str],
        previous_commit: str,
        commit_link: str,
    ) -> None:
        self.position = position
        self.link = link
        self.record_time = record_time
        self.commit_number = number
        self.commit_link = commit_link

    @property
    def commits(self) -> tuple[int, str]:
        """The last commit's number and link (0 and the genesis link before any)."""
        return getattr(self, "commit_number", 0), getattr(self, "commit_link", GENESIS_LINK)


def commit_content(
    *,
    number: int,
    position: int,
    link: str,
    record_time: str,
    entries: list[list[Any]],
    claims: dict[str, str],
) -> dict[str, Any]:
    """What a commit's link covers. ``entries``: ``[kind, key, aggregate id, version,
    digest]`` per chained entry; ``claims``: eventID -> Event Hash ID claimed without a
    record of this commit carrying that eventID."""
    return {
        "number": number,
        "position": position,
        "link": link,
        "record_time": record_time,
        "entries": entries,
        "claims": claims,
    }


def chained_entries(aggregates: Iterable[Any]) -> list[list[Any]]:
    """What a commit names of these aggregates' pending events: ``[kind, key, aggregate id,
    version, digest]`` for those of chained kinds (jobs, named queries, subscriptions)."""
    entries: list[list[Any]] = []
    for aggregate in aggregates:
        kind = getattr(type(aggregate), "chain_kind", None)
        if kind is None:
            continue
        key = str(getattr(aggregate, type(aggregate).chain_key))
        for pending in aggregate.pending_events:
            digest = entry_digest(get_topic(type(pending)), pending.__dict__)
            entries.append(
                [kind, key, str(pending.originator_id), pending.originator_version, digest]
            )
    return entries


def commit_on(
    head: ChainHead,
    aggregates: Sequence[Any],
    *,
    position: int,
    link: str,
    now: str,
    claims: dict[str, str] | None = None,
) -> None:
    """Record on the head the commit of a transaction that saves ``aggregates``."""
    number, previous = head.commits
    content = commit_content(
        number=number + 1,
        position=position,
        link=link,
        record_time=now,
        entries=chained_entries(aggregates),
        claims=claims or {},
    )
    head.commit(**content, previous_commit=previous, commit_link=chain_link(previous, content))


@dataclass
class EventShare(ChainedEntry, created_event_name="Shared", kind="event share", key="share"):
    """An institution captured an event another institution had stored: from then on it
    sees that event too (the record stays one; this is the institution's claim to it)."""

    share: str
    key: str
    hash_id: str
    institution: str
    position: int

    @staticmethod
    def create_id(key: str, institution: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, f"share:{institution}\n{key}")


@dataclass
class CaptureJob(ChainedEntry, created_event_name="Finished", kind="capture job", key="capture_id"):
    """A capture (one posted document) and its outcome; written with its events, atomically."""

    capture_id: str
    created: str
    finished: str
    source: str
    error_behaviour: str
    success: bool
    outcomes: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    institution: str = ""
    captured_by: str = ""

    @staticmethod
    def create_id(capture_id: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, "capture:" + capture_id)
