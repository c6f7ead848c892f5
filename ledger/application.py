"""The ledger: an ``eventsourcing`` application that appends captured EPCIS events.

All captures go through :meth:`Ledger.append`, which takes a *group* of capture requests
and commits them in one transaction: the chain head's commit (see :mod:`ledger.domain`), every
new :class:`EventRecord` and :class:`EventIdClaim`, and one :class:`CaptureJob` per
request, which the commit names. A request is all or nothing; a group is
one fsync. Named queries and subscriptions are saved with a commit too
(:meth:`Ledger.save_entries`). Two writers (two processes on one database) that extend
the same chain head collide on the head's version; the loser reloads the head and tries
again, so the chain stays one line.

Later commands that must check a code's state before appending (bind, unbind…) add the
code's aggregate to the same ``save``: its version is the lock that lets only one of two
racing terminals succeed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Recording

from epcis.problems import excerpt
from epcis.timestamps import utc_now
from ledger import postgres as postgres_store
from ledger import sqlite as sqlite_store
from ledger.capture import CaptureRequest, PreparedEvent, event_index
from ledger.code_library import CodeLibrary, Overlay
from ledger.domain import (
    CaptureJob,
    ChainHead,
    Declarations,
    EventIdClaim,
    EventRecord,
    EventShare,
    chain_link,
    commit_on,
    record_content,
)
from ledger.gate import GroupView
from ledger.outcomes import CaptureResult, Outcome, Status
from ledger.reading import COMMIT_TOPIC as COMMIT_TOPIC
from ledger.reading import JOB_TOPIC as JOB_TOPIC
from ledger.reading import RECORD_TOPIC as RECORD_TOPIC
from ledger.reading import SHARE_TOPIC as SHARE_TOPIC
from ledger.reading import LedgerLog
from ledger.records import StoredEvent as StoredEvent
from ledger.settings import StoreSettings, check_store, store_settings

if TYPE_CHECKING:
    from ledger.library_snapshot import Snapshot, Warmed

_ATTEMPTS = 40


class Ledger(LedgerLog):
    """The append-only EPCIS event store."""

    name = "tracecode"  # pinned: the PostgreSQL table names derive from it
    snapshotting_intervals = {ChainHead: 100}  # noqa: RUF012  (eventsourcing's class attribute)

    def __init__(self, settings: StoreSettings | None = None, *, read_only: bool = False) -> None:
        """``read_only``: open a store that must already be there (else
        :class:`~ledger.settings.StoreMissing`) and never write to it: no tables are
        created, no chain head is saved. The writing methods must not be called then."""
        self.settings = settings or store_settings(create=not read_only)
        self.read_only = read_only
        env = self.settings.env
        if read_only:
            sqlite = self.settings.kind == "sqlite"
            check_store(
                self.settings,
                events_table="stored_events" if sqlite else f"{self.name.lower()}_events",
            )
            env = {**env, "CREATE_TABLE": "no"}
        super().__init__(env=env)
        postgres = self.settings.kind == "postgresql"
        self._existing: Callable[[Any, Sequence[UUID]], set[UUID]] = (
            postgres_store.existing_originators if postgres else sqlite_store.existing_originators
        )
        self._notification_ids: Callable[[Any, Sequence[UUID]], dict[UUID, int]] = (
            postgres_store.notification_ids if postgres else sqlite_store.notification_ids
        )
        self._write_lock = threading.Lock()
        self._head = self._load_head()
        self.library = CodeLibrary()
        """The central code library, as of the last gated group (:mod:`ledger.code_library`)."""

    # -- writing ----------------------------------------------------------------------

    def append(self, requests: Sequence[CaptureRequest]) -> list[CaptureResult]:
        """Store a group of capture requests in one transaction; each is all or nothing."""
        self._writable()
        with self._write_lock:
            for attempt in range(_ATTEMPTS):
                try:
                    return self._append_once(requests)
                except IntegrityError:
                    # Another writer extended the chain (or stored one of these events)
                    # since we last looked: reload the head and decide again, after a
                    # random pause that grows, so that two busy writers stop colliding.
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                    self._head = self._load_head()
            raise RuntimeError(
                f"could not append after {_ATTEMPTS} attempts: the store is too busy"
            )

    def capture(self, request: CaptureRequest) -> CaptureResult:
        """Store one capture request (its own transaction)."""
        return self.append([request])[0]

    def _append_once(self, requests: Sequence[CaptureRequest]) -> list[CaptureResult]:
        now = utc_now()
        head = self._head
        view = self._group_view(requests)
        record_ids = [EventRecord.create_id(e.key) for r in requests for e in r.events]
        declared = {e.hash_id for r in requests for e in r.events if e.key != e.hash_id}
        declaration_ids = [Declarations.create_id(h) for h in declared]
        claim_ids = [
            EventIdClaim.create_id(e.client_event_id)
            for r in requests
            for e in r.events
            if e.client_event_id
        ]
        share_ids = [
            EventShare.create_id(e.key, r.institution)
            for r in requests
            if r.institution
            for e in r.events
        ]
        existing = self._existing(
            self.recorder, [*record_ids, *claim_ids, *declaration_ids, *share_ids]
        )
        shared: set[tuple[str, str]] = set()  # (record key, institution) shared in this group
        positions: dict[str, int] = {}  # record key -> position, for the records of this group
        declarations: dict[str, Declarations] = {}
        claimed: dict[str, str] = {}  # eventID -> hash, from the store and from this group
        unrecorded: dict[str, str] = {}  # claims no record of this group carries (aliases)
        stored_hashes: set[str] = set()  # hashes this group stores
        position, link = head.position, head.link
        aggregates: list[Any] = []
        results: list[CaptureResult] = []
        group_ids: dict[str, tuple[str, str]] = {}  # record key -> eventID, institution
        anchors: dict[str, UUID] = {}
        for request in requests:
            decision = None
            if request.gate is not None and view is not None:
                decision = request.gate.decide(view)
                request.events = decision.events
                if decision.anchor is not None:
                    anchors[request.capture_id] = decision.anchor
                if not decision.store:
                    results.append(_undecided(request, decision.answer, now))
                    continue
                aggregates.extend(decision.entries)
                view.pending.update((e.id, e) for e in decision.entries)
            outcomes = self._rejected_outcomes(request)
            new: list[PreparedEvent] = []
            new_keys: set[str] = set()
            stored_outcomes: dict[int, Outcome] = {}
            pending_claims: dict[str, str] = {}
            found: list[PreparedEvent] = []  # stored before this request: maybe shared
            for event in request.events:
                owner = self._claim_owner(event, existing, claimed, pending_claims)
                if owner is not None and owner != event.hash_id:
                    seen = owner in pending_claims.values() or self._owner_seen(
                        owner, request.institution, group_ids, shared
                    )
                    outcomes.append(_conflict(event, owner if seen else None))
                    continue
                if event.client_event_id and owner is None:
                    # also for an event already stored under another eventID: the client
                    # can then read it back by the eventID it used
                    pending_claims[event.client_event_id] = event.hash_id
                if (
                    EventRecord.create_id(event.key) in existing
                    or event.key in stored_hashes
                    or event.key in new_keys
                ):
                    outcomes.append(
                        _outcome(
                            event,
                            Status.ALREADY_STORED,
                            event_id=self._stored_id(event, group_ids, new, request.institution),
                        )
                    )
                    if event.key not in new_keys:
                        found.append(event)
                    continue
                new.append(event)
                new_keys.add(event.key)
                stored_outcomes[event.index] = _outcome(event, Status.STORED)
                outcomes.append(stored_outcomes[event.index])
            failed = any(o.status in (Status.CONFLICT, Status.INVALID) for o in outcomes)
            stores = request.can_store_anything and not (
                failed and request.error_behaviour == "rollback"
            )
            if not stores:
                for outcome in outcomes:
                    if outcome.status == Status.STORED:
                        outcome.status = Status.NOT_STORED
                new = []
            for event in new:
                position += 1
                content = record_content(
                    key=event.key,
                    hash_id=event.hash_id,
                    event_id=event.event_id,
                    position=position,
                    record_time=now,
                    capture_id=request.capture_id,
                    event=event.event,
                    namespaces=event.namespaces,
                    institution=request.institution,
                )
                previous, link = link, chain_link(link, content)
                aggregates.append(EventRecord(**content, previous_link=previous, link=link))
                stored_hashes.add(event.key)
                group_ids[event.key] = (event.event_id, request.institution)
                positions[event.key] = position
                if event.key != event.hash_id:
                    self._declarations(event.hash_id, existing, declarations).declare(event.key)
                stored_outcomes[event.index].position = position
                if view is not None:
                    view.library.follow_event(event.key, event.hash_id, event.event)
            for event in found if stores and request.institution else ():
                share = self._share(
                    event, request.institution, existing, shared, group_ids, positions
                )
                if share is not None:
                    aggregates.append(share)
            recorded = {(e.event_id, e.hash_id) for e in new}
            for event_id, hash_id in pending_claims.items() if stores else ():
                if EventIdClaim.create_id(event_id) not in existing:
                    aggregates.append(EventIdClaim(event_id=event_id, hash_id=hash_id))
                    if (event_id, hash_id) not in recorded:
                        unrecorded[event_id] = hash_id
                claimed[event_id] = hash_id
            result = CaptureResult(
                answer=None if decision is None else decision.answer,
                capture_id=request.capture_id,
                success=stores and not failed and not request.document_errors,
                outcomes=sorted(outcomes, key=lambda o: o.index),
                errors=request.kept_problems(),
                created=now,
                finished=now,
                source=request.source,
                error_behaviour=request.error_behaviour,
                institution=request.institution,
                captured_by=request.captured_by,
            )
            if decision is None:  # a scan's entry is its record, not a capture job
                aggregates.append(CaptureJob(**result.job_fields()))
            results.append(result)
        aggregates.extend(declarations.values())
        if aggregates:
            commit_on(head, aggregates, position=position, link=link, now=now, claims=unrecorded)
        for action in view.before_save.values() if view is not None else ():
            action()
        recordings = self.save(head, *aggregates)
        logged = {r.notification.originator_id: r.notification.id for r in recordings}
        if view is not None:
            view.library.commit()
            self.library.after = max([self.library.after, *logged.values()])
        for result in results:
            # Each job is saved after its request's records, and events found already
            # stored were committed earlier: the job's notification id covers them all.
            job_id = anchors.get(result.capture_id) or CaptureJob.create_id(result.capture_id)
            result.log_position = logged.get(job_id) or self.log_position()
        return results

    def _group_view(self, requests: Sequence[CaptureRequest]) -> GroupView | None:
        """For a group holding a gated request: the code library caught up with the log
        (whatever any writer stored), to fold the group's events into as they are decided."""
        if all(request.gate is None for request in requests):
            return None
        self._catch_up_library()
        asked = [i for r in requests if r.gate is not None for i in r.gate.lookups()]
        return GroupView(Overlay(self.library), self, stored=self._existing(self.recorder, asked))

    def warm_library(self) -> Warmed:
        """Bring the code library to the end of the log now, rather than at the first scan:
        from its last snapshot, if one is usable (:mod:`ledger.library_snapshot`)."""
        with self._write_lock:
            return self._catch_up_library()

    def _catch_up_library(self) -> Warmed:
        from ledger.library_snapshot import warm  # its table is a side table of a ledger

        return warm(self)

    def snapshot_library(self, *, every: int = 0) -> Snapshot | None:
        """Bring the code library to the end of the log and write a snapshot of it; with
        ``every``, only when the library has moved on by so many notifications since the
        last snapshot written or restored. None: nothing written (nothing folded yet, or
        a read-only ledger)."""
        from ledger.library_snapshot import LibrarySnapshots

        if self.read_only:
            return None
        with self._write_lock:
            warmed = self._catch_up_library()
            if warmed.written is not None:
                return warmed.written
            if self.library.after - self.library.saved < every:
                return None
            return LibrarySnapshots(self).save()

    def save_entries(self, build: Callable[[], Sequence[Any]]) -> list[Recording[UUID]]:
        """Save what ``build`` returns (named queries, subscriptions: aggregates with pending
        events) with the chain head's commit naming them, in one transaction.

        ``build`` runs again after a collision (another writer moved the head, or saved one
        of these aggregates meanwhile), so it must load what it changes each time; it may
        raise to refuse, and returns nothing when there is nothing to save.
        """
        self._writable()
        with self._write_lock:
            for attempt in range(_ATTEMPTS):
                aggregates = list(build())
                if not aggregates:
                    return []
                head = self._head
                commit_on(head, aggregates, position=head.position, link=head.link, now=utc_now())
                try:
                    return self.save(head, *aggregates)
                except IntegrityError:
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                    self._head = self._load_head()
            raise RuntimeError(f"could not save after {_ATTEMPTS} attempts: the store is too busy")

    def _declarations(
        self, hash_id: str, existing: set[UUID], loaded: dict[str, Declarations]
    ) -> Declarations:
        if hash_id not in loaded:
            aggregate_id = Declarations.create_id(hash_id)
            loaded[hash_id] = (
                self.repository.get(aggregate_id)
                if aggregate_id in existing
                else Declarations(hash_id=hash_id)
            )
        return loaded[hash_id]

    def _stored_id(
        self,
        event: PreparedEvent,
        group_ids: dict[str, tuple[str, str]],
        new: list[PreparedEvent],
        institution: str,
    ) -> str:
        """The eventID an already-stored event answers to: the client's when it sent one
        (claimed for it, so it reads the event back), else the stored event's own, when
        the same institution stored it (another's eventID is not shown: the Event Hash ID
        then)."""
        if event.client_event_id:
            return event.client_event_id
        for earlier in new:  # the same event earlier in this document
            if earlier.key == event.key:
                return earlier.event_id
        if event.key in group_ids:  # stored by an earlier document of this group
            event_id, owner = group_ids[event.key]
            return event_id if owner == institution else event.event_id
        try:
            record: EventRecord = self.repository.get(EventRecord.create_id(event.key))
        except AggregateNotFoundError:
            return event.event_id
        if getattr(record, "institution", "") != institution:
            return event.event_id
        return str(record.event_id)

    def _share(
        self,
        event: PreparedEvent,
        institution: str,
        existing: set[UUID],
        shared: set[tuple[str, str]],
        group_ids: dict[str, tuple[str, str]],
        positions: dict[str, int],
    ) -> EventShare | None:
        """The share an institution gains by capturing an event another institution stored
        (None when it stored it itself, or has its share already)."""
        if (event.key, institution) in shared:
            return None
        if EventShare.create_id(event.key, institution) in existing:
            return None
        if event.key in group_ids:  # stored by an earlier request of this group
            owner, position = group_ids[event.key][1], positions[event.key]
        else:
            try:
                record: EventRecord = self.repository.get(EventRecord.create_id(event.key))
            except AggregateNotFoundError:
                return None
            owner, position = getattr(record, "institution", ""), int(record.position)
        if owner == institution:
            return None
        shared.add((event.key, institution))
        return EventShare(
            share=f"{institution} {event.key}",
            key=event.key,
            hash_id=event.hash_id,
            institution=institution,
            position=position,
        )

    def _claim_owner(
        self,
        event: PreparedEvent,
        existing: set[UUID],
        claimed: dict[str, str],
        pending: dict[str, str],
    ) -> str | None:
        """The hash of the event that already uses this event's client eventID, if any."""
        event_id = event.client_event_id
        if event_id is None:
            return None
        if event_id in pending:
            return pending[event_id]
        if event_id not in claimed and EventIdClaim.create_id(event_id) in existing:
            claim: EventIdClaim = self.repository.get(EventIdClaim.create_id(event_id))
            claimed[event_id] = claim.hash_id
        return claimed.get(event_id)

    def _owner_seen(
        self,
        owner: str,
        institution: str,
        group_ids: dict[str, tuple[str, str]],
        shared: set[tuple[str, str]],
    ) -> bool:
        """Whether ``institution`` (""; the command line: every one) may be told which event
        owns an eventID: one it captured or shares, not another institution's."""
        if not institution or (owner, institution) in shared:
            return True
        if owner in group_ids:  # stored by this group, for one of its earlier requests
            return group_ids[owner][1] == institution
        try:
            record: EventRecord = self.repository.get(EventRecord.create_id(owner))
        except AggregateNotFoundError:  # pragma: no cover - a claim names a stored event
            return False
        if record.institution == institution:
            return True
        return EventShare.create_id(owner, institution) in self.repository

    @staticmethod
    def _rejected_outcomes(request: CaptureRequest) -> list[Outcome]:
        by_index: dict[int, list[str]] = {}
        for problem in request.problems:
            index = event_index(problem)
            if problem.is_error and index is not None:
                by_index.setdefault(index, []).append(str(problem))
        return [
            Outcome(
                index,
                Status.INVALID,
                None,
                None,
                message="; ".join(by_index.get(index, [])) or "invalid event",
            )
            for index in sorted(request.rejected_indexes)
        ]

    def _writable(self) -> None:
        if self.read_only:
            raise RuntimeError("this ledger was opened read-only")

    def _load_head(self) -> ChainHead:
        head_id = ChainHead.create_id()
        try:
            head: ChainHead = self.repository.get(head_id)
            return head
        except AggregateNotFoundError:
            head = ChainHead()
            if self.read_only:
                return head  # nothing stored yet: the empty chain, not saved
            try:
                self.save(head)
            except IntegrityError:
                head = self.repository.get(head_id)
            return head

    # -- reading ----------------------------------------------------------------------

    @property
    def head(self) -> tuple[int, str]:
        """The position and link of the last stored event, as this process last saw them."""
        return self._head.position, self._head.link

    def current_head(self) -> tuple[int, str]:
        """The chain head as the store has it now (another process may have appended)."""
        with self._write_lock:
            self._head = self._load_head()
            return self.head

    def current_commit(self) -> tuple[int, str]:
        """The number and link of the last commit, as the store has it now."""
        with self._write_lock:
            self._head = self._load_head()
            return self._head.commits


def _undecided(request: CaptureRequest, answer: Any, now: str) -> CaptureResult:
    """The result of a gated request its gate refused: nothing stored, no job."""
    return CaptureResult(
        capture_id=request.capture_id,
        success=False,
        created=now,
        finished=now,
        source=request.source,
        institution=request.institution,
        captured_by=request.captured_by,
        answer=answer,
    )


def _conflict(event: PreparedEvent, owner: str | None) -> Outcome:
    """An eventID already used by another event: which one only when the asking
    institution may see it (``owner`` None: one of another institution)."""
    used_by = f"the event {owner}" if owner is not None else "an event of another institution"
    return _outcome(
        event,
        Status.CONFLICT,
        message=(
            f"eventID {excerpt(event.event_id)} is already used by {used_by}; "
            f"this is a different event, {event.hash_id}"
        ),
        existing_hash_id=owner,
    )


def _outcome(event: PreparedEvent, status: Status, **extra: Any) -> Outcome:
    values = {"event_id": event.event_id, **extra}
    return Outcome(event.index, status, hash_id=event.hash_id, notes=event.notes, **values)
