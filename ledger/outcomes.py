"""What became of a capture and of each of its events: typed results.

A capture job keeps its outcomes in the store as plain dicts (:meth:`Outcome.stored`: the
form its chained digest covers, unchanged since jobs were first stored); everywhere else
they are :class:`Outcome` objects with a :class:`Status`, and the HTTP API renders them
(:meth:`Outcome.as_json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    STORED = "stored"
    ALREADY_STORED = "already-stored"
    CONFLICT = "conflict"
    """Its eventID belongs to a different event."""
    INVALID = "invalid"
    NOT_STORED = "not-stored"
    """Valid, but the capture rolled back."""


@dataclass
class Outcome:
    """What became of one event of a capture (``index``: its place in the document)."""

    index: int
    status: Status
    event_id: str | None
    """The eventID that reads it back (the client's, or the stored event's)."""
    hash_id: str | None
    position: int | None = None
    """Its place in the ledger, when this capture stored it."""
    message: str | None = None
    existing_hash_id: str | None = None
    """A conflict: the Event Hash ID of the event that has the eventID."""
    notes: tuple[str, ...] = ()

    def stored(self) -> dict[str, Any]:
        """The form a capture job keeps in the store."""
        out: dict[str, Any] = {
            "index": self.index,
            "status": self.status.value,
            "eventID": self.event_id,
            "hashID": self.hash_id,
        }
        if self.message is not None:
            out["message"] = self.message
        if self.existing_hash_id is not None:
            out["existing_hash_id"] = self.existing_hash_id
        if self.position is not None:
            out["position"] = self.position
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> Outcome:
        return cls(
            index=int(values["index"]),
            status=Status(values["status"]),
            event_id=values.get("eventID"),
            hash_id=values.get("hashID"),
            position=values.get("position"),
            message=values.get("message"),
            existing_hash_id=values.get("existing_hash_id"),
            notes=tuple(values.get("notes") or ()),
        )

    def as_json(self) -> dict[str, Any]:
        """The outcome as the API shows it (camelCase, nothing unknown)."""
        out = {
            "index": self.index,
            "status": self.status.value,
            "eventID": self.event_id,
            "hashID": self.hash_id,
            "position": self.position,
            "message": self.message,
            "existingHashID": self.existing_hash_id,
            "notes": list(self.notes) or None,
        }
        return {key: value for key, value in out.items() if value is not None}


@dataclass
class CaptureResult:
    """What became of one capture request."""

    capture_id: str
    success: bool
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    created: str = ""
    finished: str = ""
    source: str = ""
    error_behaviour: str = "rollback"
    institution: str = ""
    """The institution of whoever captured."""
    captured_by: str = ""
    """Who captured: a key id, a token's subject, the command line."""
    log_position: int = 0
    """The notification id of the capture's job in the ledger's log: every event the
    capture stored (or found already stored) is at or before it, so the read models include
    the capture once they have reached it (0: not known)."""
    answer: Any = None
    """A gated request's answer (a hospital scan's), from its gate."""

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def job_fields(self) -> dict[str, Any]:
        """What the capture's job (:class:`~ledger.domain.CaptureJob`) stores of it. The
        institution and who captured are left out when unknown, as in the jobs of a ledger
        from before institutions."""
        who = {"institution": self.institution, "captured_by": self.captured_by}
        return {k: v for k, v in who.items() if v} | {
            "capture_id": self.capture_id,
            "created": self.created,
            "finished": self.finished,
            "source": self.source,
            "error_behaviour": self.error_behaviour,
            "success": self.success,
            "outcomes": [o.stored() for o in self.outcomes],
            "errors": self.errors,
        }

    @property
    def conflicts(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == Status.CONFLICT]

    @property
    def rejected(self) -> int:
        """Invalid events and eventID conflicts."""
        return self.count(Status.INVALID) + self.count(Status.CONFLICT)
