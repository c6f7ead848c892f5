"""Master data (products, locations and operators) kept with its history in the ledger's store.

Each product row (one packaging level of a product), each location and each operator of an
institution is
a :class:`MasterEntry` (a :class:`ledger.domain.ChainedEntry`): registered once, then one
``Changed`` event per change, each carrying the whole row and the time it was recorded, so
the master data as of any time is a fold of the log up to then, and ``tracecode verify``
covers every change. Nothing is deleted: a row a later file leaves out stays as it was.

The time an entry was recorded is part of its events (and so of the chain), not the
eventsourcing timestamp, which commits leave out.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from ledger.access import Permission, Principal, require
from ledger.application import Ledger
from ledger.domain import ChainedEntry
from ledger.master_data_rows import level_rank, product_key

_NAMESPACE = UUID("0b8f6f0e-6a3e-4d2b-9a55-7c2f5d1e8a41")


@dataclass
class MasterEntry(ChainedEntry, created_event_name="Registered", kind="master data", key="ref"):
    """One product row (one packaging level), one location or one operator of one
    institution; ``ref`` is ``product INST YB/LEVEL``, ``location INST ID`` or ``operator
    INST ID``."""

    ref: str
    kind: str
    institution: str
    row: dict[str, Any]
    recorded_at: str

    @staticmethod
    def create_id(ref: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, ref)

    @event("Changed")
    def change(self, row: dict[str, Any], recorded_at: str) -> None:
        self.row = row
        self.recorded_at = recorded_at


def _topics(cls: type) -> list[str]:
    base = f"{cls.__module__}:{cls.__qualname__}"
    return [f"{base}.Registered", f"{base}.Changed"]


TOPICS = _topics(MasterEntry)


def ref_of(kind: str, institution: str, key: str) -> str:
    return f"{kind} {institution} {key}"


def moment(timestamp: str) -> datetime:
    """An ISO 8601 time as an aware datetime (UTC when it names no offset); ValueError."""
    found = datetime.fromisoformat(timestamp.strip())
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


@dataclass
class MasterData:
    """An institution's (or every institution's) master data at one time: rows by
    ``(institution, key)``; a product's key is ``YB/LEVEL``, a location's and an
    operator's its id."""

    products: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    locations: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    recorded: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """When each row got its values: ``(kind, institution, key)`` -> time."""
    operators: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def rows_of(self, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
        """The rows of a kind of entry (``product``, ``location``, ``operator``)."""
        return {"product": self.products, "location": self.locations}.get(kind, self.operators)

    def product_rows(self) -> list[dict[str, Any]]:
        """By institution, product, then level (smallest first)."""
        ordered = sorted(
            self.products.items(),
            key=lambda item: (item[0][0], item[1]["yb_code"], level_rank(item[1]["level"])),
        )
        return [self._shown("product", k, v) for k, v in ordered]

    def location_rows(self) -> list[dict[str, Any]]:
        return [self._shown("location", k, v) for k, v in sorted(self.locations.items())]

    def operator_rows(self) -> list[dict[str, Any]]:
        return [self._shown("operator", k, v) for k, v in sorted(self.operators.items())]

    def _shown(self, kind: str, key: tuple[str, str], row: dict[str, Any]) -> dict[str, Any]:
        return {"institution": key[0], **row, "recordedAt": self.recorded[(kind, *key)]}


class MasterDataFold:
    """Master data folded one stored entry event at a time, in log order: what
    :func:`master_data` does over the whole log, and the code library over what is new."""

    def __init__(
        self, institutions: Iterable[str] | None = None, until: datetime | None = None
    ) -> None:
        self.wanted = None if institutions is None else set(institutions)
        self.until = until
        self.data = MasterData()
        self.version = 0
        """How many changes were folded."""
        self._owners: dict[UUID, tuple[str, str, str]] = {}
        self.position = 0
        """The notification id of the last entry event taken (:meth:`take`)."""
        self.snapshot: tuple[int, MasterData] | None = None

    def take(self, ledger: Ledger, notification: Any) -> None:
        """Fold one notification of the log (an entry event of :data:`TOPICS`)."""
        self.position = notification.id
        self.follow(notification.topic, ledger.mapper.to_domain_event(notification).__dict__)

    def follow(self, topic: str, state: dict[str, Any]) -> None:
        if self.until is not None and moment(state["recorded_at"]) > self.until:
            return
        originator = state["originator_id"]
        if topic.endswith(".Registered"):
            kind = state["kind"]
            key = product_key(state["row"]) if kind == "product" else state["row"]["id"]
            self._owners[originator] = (kind, state["institution"], key)
        if originator not in self._owners:
            return
        kind, institution, key = self._owners[originator]
        if self.wanted is not None and institution not in self.wanted:
            return
        self.data.rows_of(kind)[(institution, key)] = state["row"]
        self.data.recorded[(kind, institution, key)] = state["recorded_at"]
        self.version += 1


def master_data(
    ledger: Ledger, institutions: Iterable[str] | None = None, as_of: str | None = None
) -> MasterData:
    """The master data as recorded up to ``as_of`` (default: everything), of these
    institutions (default: every one). Reads the whole log: for the master data as it is
    now, :func:`current_master_data` reads only what was added since it last did."""
    fold = MasterDataFold(institutions, None if as_of is None else moment(as_of))
    for notification in ledger.notifications(TOPICS):
        fold.take(ledger, notification)
    return fold.data


_CURRENT: weakref.WeakKeyDictionary[Ledger, MasterDataFold] = weakref.WeakKeyDictionary()
_CURRENT_LOCK = threading.Lock()


def current_master_data(ledger: Ledger) -> tuple[int, MasterData]:
    """Every institution's master data as the store has it now, and the log position it
    was read up to (a cache key): kept per ledger and brought up to date by reading only
    the master-data entries recorded after the last call. What it returns is not changed
    by later calls (and must not be changed by the caller)."""
    with _CURRENT_LOCK:
        fold = _CURRENT.get(ledger)
        if fold is None:
            fold = _CURRENT[ledger] = MasterDataFold()
        for notification in ledger.notifications(TOPICS, after=fold.position):
            fold.take(ledger, notification)
        if fold.snapshot is None or fold.snapshot[0] != fold.position:
            found = fold.data
            copy = MasterData(
                dict(found.products),
                dict(found.locations),
                dict(found.recorded),
                dict(found.operators),
            )
            fold.snapshot = (fold.position, copy)
        return fold.snapshot


def visible_master_data(ledger: Ledger, who: Principal, as_of: str | None = None) -> MasterData:
    """The master data ``who`` may read (its institution's; every one for a regulator and
    the command line), as recorded up to ``as_of``."""
    require(who, Permission.READ)
    scope = who.scope
    return master_data(ledger, None if scope is None else [scope], as_of)
