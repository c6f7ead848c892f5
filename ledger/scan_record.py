"""A scan the ledger stored: its answer, kept so that the same ``scanId`` answers the same.

One :class:`ScanRecord` per accepted scan (a chained entry: ``tracecode verify`` covers
it), saved with the scan's event. A terminal that resends a scan gets this answer back
and nothing new is stored; a ``cancel`` adds a ``Cancelled`` event with its own answer.
Refused (red) scans store nothing, so they have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event

from ledger.domain import ChainedEntry
from ledger.gate import GroupView

_NAMESPACE = UUID("3c5e2a1d-7b44-4f0e-8d2a-9e61c0b5f7a3")


def scan_ref(institution: str, scan_id: str) -> str:
    """What names a scan: its institution and its ``scanId`` (terminals choose scanIds, so
    two institutions may use the same one)."""
    return f"{institution}/{scan_id}"


@dataclass
class ScanRecord(ChainedEntry, created_event_name="Scanned", kind="scan", key="ref"):
    ref: str
    institution: str
    scan_id: str
    operation: str
    keys: list[str]
    """The record keys of the scan's events."""
    answer: dict[str, Any]
    recorded_at: str

    @staticmethod
    def create_id(ref: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, ref)

    @event("Cancelled")
    def cancel(self, keys: list[str], answer: dict[str, Any], recorded_at: str) -> None:
        self.cancelled_keys = keys
        self.cancel_answer = answer
        self.cancelled_at = recorded_at

    @property
    def cancelled(self) -> bool:
        return hasattr(self, "cancel_answer")


def stored_scan(view: GroupView, aggregate_id: UUID, *, asked: bool = False) -> ScanRecord | None:
    """A scan stored before, or by an earlier request of the group (None: never);
    ``asked``: the gate asked for it in its lookups, so :attr:`GroupView.stored` says
    whether the store holds it."""
    pending = view.pending.get(aggregate_id)
    if isinstance(pending, ScanRecord):
        return pending
    if asked and aggregate_id not in view.stored:
        return None
    try:
        record: ScanRecord = view.ledger.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    return record
