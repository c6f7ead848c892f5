"""A stored event as the ledger gives it back: :class:`StoredEvent`, read from a record's
state (an :class:`~ledger.domain.EventRecord` aggregate, or its decoded event)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class StoredEvent:
    """A captured event as the ledger keeps it."""

    key: str
    position: int
    hash_id: str
    event_id: str
    record_time: str
    capture_id: str
    event: dict[str, Any]
    namespaces: dict[str, str]
    previous_link: str
    link: str
    notification_id: int = 0
    institution: str = ""
    """The institution that captured it ("" in a ledger from before institutions)."""

    def as_epcis(self) -> dict[str, Any]:
        """The event as EPCIS shows it: with its eventID and the ledger's recordTime."""
        out = dict(self.event)
        out["eventID"] = self.event_id
        out["recordTime"] = self.record_time
        return out


_OPTIONAL = ("notification_id", "institution")


def stored_event(state: dict[str, Any], notification_id: int = 0) -> StoredEvent:
    """A record's state (aggregate or decoded event attributes) as a :class:`StoredEvent`."""
    names = [f.name for f in fields(StoredEvent) if f.name not in _OPTIONAL]
    return StoredEvent(
        **{name: state[name] for name in names},
        notification_id=notification_id,
        institution=state.get("institution", ""),
    )


@dataclass(frozen=True)
class SharedEvent:
    """An institution gained sight of a stored event by capturing it too
    (:class:`~ledger.domain.EventShare`), as the read models follow it in the log."""

    key: str
    hash_id: str
    institution: str
    position: int
    notification_id: int = 0
