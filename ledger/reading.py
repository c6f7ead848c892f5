"""Reading the ledger's log: stored events, shares, jobs, and the one pager over the log.

:class:`LedgerLog` is the reading half of :class:`ledger.application.Ledger` (which adds
the writing): what the read models follow (:meth:`~LedgerLog.log_items`), what the HTTP API
and the command line read back (an event by its eventID, a capture job), and what verify
and export walk (:meth:`~LedgerLog.raw_log`, :meth:`~LedgerLog.stored_events`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import Notification

from ledger.domain import CaptureJob, Declarations, EventIdClaim, EventRecord, EventShare
from ledger.outcomes import CaptureResult, Outcome
from ledger.records import SharedEvent, StoredEvent, stored_event

# The topics eventsourcing gives the events that @event("Captured") and the like declare:
# the log is filtered by them.
RECORD_TOPIC = "ledger.domain:EventRecord.Captured"
JOB_TOPIC = "ledger.domain:CaptureJob.Finished"
COMMIT_TOPIC = "ledger.domain:ChainHead.Committed"
SHARE_TOPIC = "ledger.domain:EventShare.Shared"
_PAGE = 1000


class LedgerLog(Application[UUID]):
    """The reading half of the ledger."""

    _notification_ids: Callable[[Any, Sequence[UUID]], dict[UUID, int]]

    def log_position(self) -> int:
        """The notification id of the last thing the log holds (0: empty)."""
        return int(self.recorder.max_notification_id() or 0)

    def first_record_after(self, after: int, up_to: int | None = None) -> int | None:
        """The notification id of the first stored event after ``after`` (and at most
        ``up_to``), or None: the log holds other things too (jobs, the chain head, eventID
        claims), which the read models do not follow."""
        page = self.recorder.select_notifications(
            after + 1, 1, stop=up_to, topics=[RECORD_TOPIC, SHARE_TOPIC]
        )
        return page[0].id if page else None

    def get_event(self, event_id: str) -> StoredEvent | None:
        """A stored event by its eventID (the client's, or its Event Hash ID)."""
        hash_id = event_id
        try:
            claim: EventIdClaim = self.repository.get(EventIdClaim.create_id(event_id))
            hash_id = claim.hash_id
        except AggregateNotFoundError:
            pass
        try:
            record: EventRecord = self.repository.get(EventRecord.create_id(hash_id))
        except AggregateNotFoundError:
            declared = self.declarations(hash_id)  # only a correction of it was captured
            return declared[0] if declared else None
        return stored_event(record.__dict__)

    def declarations(self, hash_id: str) -> list[StoredEvent]:
        """The error declarations stored for an event, oldest first."""
        try:
            index: Declarations = self.repository.get(Declarations.create_id(hash_id))
        except AggregateNotFoundError:
            return []
        records: list[EventRecord] = [
            self.repository.get(EventRecord.create_id(key)) for key in index.keys
        ]
        return [stored_event(r.__dict__) for r in records]

    def stored_events(self, *, after_notification: int = 0) -> Iterator[StoredEvent]:
        """Every stored event in log order (the order positions were given in)."""
        for notification_id, state in self._notifications(RECORD_TOPIC, after_notification):
            yield stored_event(state, notification_id)

    def log_items(self, *, after_notification: int = 0) -> Iterator[StoredEvent | SharedEvent]:
        """Every stored event and every share of one (an institution that captured an event
        another had stored), in log order: what the read models follow."""
        for notification in self.notifications([RECORD_TOPIC, SHARE_TOPIC], after_notification):
            state = self.mapper.to_domain_event(notification).__dict__
            if notification.topic == SHARE_TOPIC:
                yield SharedEvent(
                    state["key"],
                    state["hash_id"],
                    state["institution"],
                    int(state["position"]),
                    notification.id,
                )
            else:
                yield stored_event(state, notification.id)

    def sees(self, institution: str | None, stored: StoredEvent) -> bool:
        """Whether what ``institution`` may see (None: every institution's) holds
        ``stored``: it captured it first, or too."""
        if institution is None or stored.institution == institution:
            return True
        return EventShare.create_id(stored.key, institution) in self.repository

    def shared_with(self, institution: str) -> set[str]:
        """The record keys of the events ``institution`` captured after another had."""
        keys = set()
        for notification in self.notifications([SHARE_TOPIC]):
            state = self.mapper.to_domain_event(notification).__dict__
            if state["institution"] == institution:
                keys.add(str(state["key"]))
        return keys

    def raw_records(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """(notification id, decoded record state or None if undecodable), in log order."""
        for notification_id, _, state in self.raw_log([RECORD_TOPIC]):
            yield notification_id, state

    def raw_log(
        self, topics: Sequence[str] = ()
    ) -> Iterator[tuple[int, str, dict[str, Any] | None]]:
        """(notification id, topic, decoded state or None if undecodable) of everything in
        the log (or of these topics), in log order."""
        for notification in self.notifications(topics):
            try:
                state = self.mapper.to_domain_event(notification).__dict__
            except Exception:  # an altered row may not even decode
                state = None
            yield notification.id, notification.topic, state

    def notifications(self, topics: Sequence[str] = (), after: int = 0) -> Iterator[Notification]:
        """The log's notifications (of these topics, or all) after ``after``, in log order,
        read a page at a time: the one pager every walk over the log uses."""
        start = after + 1
        while True:
            page = self.recorder.select_notifications(start, _PAGE, topics=topics)
            if not page:
                return
            yield from page
            start = page[-1].id + 1

    def jobs(self) -> Iterator[CaptureResult]:
        for notification_id, state in self._notifications(JOB_TOPIC, 0):
            yield _job(state, notification_id)

    def job(self, capture_id: str) -> CaptureResult | None:
        job_id = CaptureJob.create_id(capture_id)
        try:
            job: CaptureJob = self.repository.get(job_id)
        except AggregateNotFoundError:
            return None
        logged = self._notification_ids(self.recorder, [job_id])
        return _job(job.__dict__, logged.get(job_id, 0))

    def _notifications(self, topic: str, after: int) -> Iterator[tuple[int, dict[str, Any]]]:
        for notification in self.notifications([topic], after):
            yield notification.id, self.mapper.to_domain_event(notification).__dict__


_OPTIONAL = ("institution", "captured_by", "log_position")


def _job(state: dict[str, Any], log_position: int = 0) -> CaptureResult:
    """A job's state as a :class:`CaptureResult`."""
    skipped = (*_OPTIONAL, "outcomes", "answer")
    names = [f.name for f in fields(CaptureResult) if f.name not in skipped]
    return CaptureResult(
        **{name: state[name] for name in names},
        outcomes=[Outcome.from_stored(o) for o in state["outcomes"]],
        log_position=log_position,
        institution=state.get("institution", ""),
        captured_by=state.get("captured_by", ""),
    )
