"""Stocktake sessions (盘点): a count of one location, opened, scanned into, closed.

A pharmacist opens a count of a location (:func:`open_stocktake`), scans shelf after shelf
(``stocktake`` scans naming the session: :func:`scan_problems` is the gate's check), then
closes it (:func:`close_stocktake`) and gets the reconciliation of that location over the
count back. Each session is one :class:`Stocktake` (a chained entry: ``tracecode verify``
covers it): ``Opened``; ``Closed`` when it is closed (from then on its scans are red); then
``Reported`` with the report as it was answered, JSON and CSV. The report is stored, not
recomputed: a later back-filled scan or cancel changes the books of the period, never what
the count said when it closed, so a second close (or ``GET``) answers exactly the same.

Closing takes two commits so that the writer is never held up while the report is made:
the ``Closed`` commit is what scans race against (the writer's head lock decides which came
first), and the report is made from the read models caught up past it. A close that stopped
between the two is finished by the next close.

Who: terminals and admins open and close (the PDA counts; the manager can close a count a
PDA left open); terminals and readers see sessions (a PDA rejoins a count, a manager reads
its report). Open counts may not overlap: a location, a location within it or one holding
it being counted already is a conflict naming that count (join it, or close it first).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event

from epcis.timestamps import utc_text
from ledger.access import Forbidden, Permission, Principal
from ledger.application import Ledger
from ledger.domain import ChainedEntry
from ledger.gate import GroupView
from ledger.master_data import current_master_data, moment
from ledger.scan_request import MAX_TEXT, FieldError
from ledger.scan_rules import Found, Reason, found

_NAMESPACE = UUID("9a3e6c12-4b7d-4e25-8f1a-2d6b0c9e7f54")
STATES = ("open", "closed")


@dataclass
class Stocktake(ChainedEntry, created_event_name="Opened", kind="stocktake", key="stocktake_id"):
    """One count of ``location`` (a master-data id of ``institution``)."""

    stocktake_id: str
    institution: str
    location: str
    note: str | None
    opened_at: str
    opened_by: str
    closed_at: str | None = field(default=None, init=False)
    closed_by: str | None = field(default=None, init=False)
    report: dict[str, Any] | None = field(default=None, init=False)
    csv: str | None = field(default=None, init=False)
    scans: int | None = field(default=None, init=False)
    codes: int | None = field(default=None, init=False)

    @staticmethod
    def create_id(stocktake_id: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, stocktake_id)

    @event("Closed")
    def close(self, closed_at: str, closed_by: str) -> None:
        self.closed_at = closed_at
        self.closed_by = closed_by

    @event("Reported")
    def reported(self, report: dict[str, Any], csv: str, scans: int, codes: int) -> None:
        self.report, self.csv, self.scans, self.codes = report, csv, scans, codes


_BASE = f"{Stocktake.__module__}:{Stocktake.__qualname__}"
TOPICS = [f"{_BASE}.Opened", f"{_BASE}.Closed", f"{_BASE}.Reported"]


@dataclass(frozen=True)
class Session:
    """A stocktake as it is read: its state, and once closed, its report."""

    id: str
    institution: str
    location: str
    note: str | None
    opened_at: str
    opened_by: str
    closed_at: str | None = None
    closed_by: str | None = None
    scans: int | None = None
    codes: int | None = None
    report: dict[str, Any] | None = None
    csv: str | None = None

    @classmethod
    def of(cls, state: Mapping[str, Any]) -> Session:
        """From a :class:`Stocktake`'s attributes, or its events' folded together."""
        return cls(
            id=state["stocktake_id"],
            institution=state["institution"],
            location=state["location"],
            note=state.get("note"),
            opened_at=state["opened_at"],
            opened_by=state["opened_by"],
            closed_at=state.get("closed_at"),
            closed_by=state.get("closed_by"),
            scans=state.get("scans"),
            codes=state.get("codes"),
            report=state.get("report"),
            csv=state.get("csv"),
        )

    @property
    def state(self) -> str:
        return "open" if self.closed_at is None else "closed"

    def as_json(self, *, with_report: bool = True) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id,
            "institution": self.institution,
            "location": self.location,
            "note": self.note,
            "state": self.state,
            "openedAt": self.opened_at,
            "openedBy": self.opened_by,
            "closedAt": self.closed_at,
            "closedBy": self.closed_by,
            "scans": self.scans,
            "codes": self.codes,
        }
        if with_report and self.closed_at is not None:
            shown["report"] = self.report
        return shown


@dataclass(frozen=True)
class Counted:
    """What closing a count stores: its report (JSON and CSV), how many scans it had and
    how many codes they named."""

    report: dict[str, Any]
    csv: str
    scans: int
    codes: int


Reckoner = Callable[[Session], Counted]
"""Makes a closed session's report (from the read models: :mod:`projections.stocktakes`)."""


class StocktakeInvalid(ValueError):
    """Bad input, named by ``where`` (``{"pointer": "/location"}``, ``{"query": "state"}``)."""

    def __init__(self, message: str, **where: str) -> None:
        super().__init__(message)
        self.where = where


class StocktakeConflict(Exception):
    """The ledger's state refuses it (an overlapping open count; no report while open)."""

    def __init__(self, message: str, **where: str) -> None:
        super().__init__(message)
        self.where = where


class StocktakeNotFound(LookupError):
    """No stocktake of that id the asker sees."""


def _now() -> str:
    return utc_text(datetime.now(UTC))


def _require(who: Principal, *permissions: Permission) -> None:
    if not any(who.may(p) for p in permissions):
        raise Forbidden(who, permissions[0])


# -- reading a body ---------------------------------------------------------------------


@dataclass(frozen=True)
class OpenRequest:
    location: str
    institution: str | None = None
    note: str | None = None


def read_open(body: Any) -> OpenRequest:
    """``POST /stocktakes``'s body: ``location`` (required), ``institution``, ``note``."""
    if not isinstance(body, dict):
        raise StocktakeInvalid("the body is a JSON object {location, institution?, note?}")
    for name in body:
        if name not in ("location", "institution", "note"):
            escaped = name.replace("~", "~0").replace("/", "~1")
            raise StocktakeInvalid(f"unknown field {name!r}", pointer=f"/{escaped}")
    texts: dict[str, str | None] = {}
    for name in ("location", "institution", "note"):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise StocktakeInvalid(f"{name} is a non-empty string", pointer=f"/{name}")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise StocktakeInvalid(f"{name} is longer than {MAX_TEXT}", pointer=f"/{name}")
        texts[name] = value.strip() if isinstance(value, str) else None
    location = texts["location"]
    if location is None:
        raise StocktakeInvalid("location is required: the id to count", pointer="/location")
    return OpenRequest(location, texts["institution"], texts["note"])


# -- where ------------------------------------------------------------------------------


def within(rows: Mapping[str, Mapping[str, Any]], inner: str, outer: str) -> bool:
    """Whether location ``inner`` is ``outer`` or within it (its ``parent`` chain)."""
    seen: set[str] = set()
    current: str | None = inner
    while current and current not in seen:
        if current == outer:
            return True
        seen.add(current)
        row = rows.get(current)
        current = (row.get("parent") or None) if row is not None else None
    return False


def _owner(who: Principal, ledger: Ledger, location: str, institution: str | None) -> str:
    """Whose location is counted: the asker's institution; with every institution in sight,
    ``institution``, or the one institution that has such a location."""
    scope = who.scope if who.scope is not None else (who.institution or None)
    if scope is not None and institution not in (None, scope):
        raise StocktakeInvalid(
            f"institution {institution!r}: this key is of {scope!r}", pointer="/institution"
        )
    _, data = current_master_data(ledger)
    owners = sorted(owner for owner, key in data.locations if key == location)
    wanted = scope or institution
    if wanted is None and len(owners) > 1:
        raise StocktakeInvalid(
            f"{', '.join(owners)} each have a location {location!r}: name the institution",
            pointer="/institution",
        )
    wanted = wanted or (owners[0] if owners else "")
    if wanted not in owners:
        whose = f"of institution {wanted!r}" if wanted else "of any institution"
        raise StocktakeInvalid(f"{location!r} is not a location {whose}", pointer="/location")
    return wanted


def _rows(ledger: Ledger, institution: str) -> dict[str, dict[str, Any]]:
    _, data = current_master_data(ledger)
    return {key: row for (owner, key), row in data.locations.items() if owner == institution}


# -- the use cases ----------------------------------------------------------------------


def open_stocktake(ledger: Ledger, who: Principal, request: OpenRequest) -> Session:
    """Open a count of ``request.location``: :class:`StocktakeInvalid` for a location or
    institution that is not there, :class:`StocktakeConflict` when an open count covers
    any of it (or it covers an open count's)."""
    _require(who, Permission.SCAN, Permission.ADMIN)
    owner = _owner(who, ledger, request.location, request.institution)
    rows = _rows(ledger, owner)
    made: list[Stocktake] = []

    def build() -> list[Stocktake]:
        for other in sessions(ledger, reports=False):
            if other.institution != owner or other.closed_at is not None:
                continue
            a, b = request.location, other.location
            if within(rows, a, b) or within(rows, b, a):
                raise StocktakeConflict(
                    f"stocktake {other.id} of {other.location} (opened {other.opened_at}) "
                    f"is open and overlaps {request.location}: scan into it, or close it first",
                    pointer="/location",
                )
        made[:] = [
            Stocktake(
                stocktake_id=str(uuid.uuid4()),
                institution=owner,
                location=request.location,
                note=request.note,
                opened_at=_now(),
                opened_by=who.subject,
            )
        ]
        return made

    ledger.save_entries(build)
    return Session.of(made[0].__dict__)


def _load(ledger: Ledger, stocktake_id: str) -> Stocktake | None:
    try:
        found: Stocktake = ledger.repository.get(Stocktake.create_id(stocktake_id))
    except AggregateNotFoundError:
        return None
    return found


def get_stocktake(ledger: Ledger, who: Principal, stocktake_id: str) -> Session:
    """A session ``who`` sees (its institution's), or :class:`StocktakeNotFound`."""
    _require(who, Permission.READ, Permission.SCAN)
    loaded = _load(ledger, stocktake_id)
    if loaded is None or not who.sees(loaded.institution):
        raise StocktakeNotFound(f"no stocktake {stocktake_id!r}")
    return Session.of(loaded.__dict__)


def close_stocktake(ledger: Ledger, who: Principal, stocktake_id: str, reckon: Reckoner) -> Session:
    """Close a count (from then on its scans are red) and store its report; a closed one
    answers the report it stored. :class:`StocktakeNotFound` for one ``who`` does not see."""
    _require(who, Permission.SCAN, Permission.ADMIN)

    def seen() -> Stocktake:
        loaded = _load(ledger, stocktake_id)
        if loaded is None or not who.sees(loaded.institution):
            raise StocktakeNotFound(f"no stocktake {stocktake_id!r}")
        return loaded

    def closing() -> list[Stocktake]:
        loaded = seen()
        if loaded.closed_at is not None:
            return []
        loaded.close(_now(), who.subject)
        return [loaded]

    ledger.save_entries(closing)
    session = Session.of(seen().__dict__)
    if session.report is not None:
        return session
    counted = reckon(session)

    def reporting() -> list[Stocktake]:
        loaded = seen()
        if loaded.report is not None:
            return []
        loaded.reported(counted.report, counted.csv, counted.scans, counted.codes)
        return [loaded]

    ledger.save_entries(reporting)
    return Session.of(seen().__dict__)


def sessions(ledger: Ledger, *, reports: bool = True) -> list[Session]:
    """Every stocktake, in the order they were opened (one pass over their entries);
    without ``reports``, their reports (and counts) are not read."""
    states: dict[UUID, dict[str, Any]] = {}
    for notification in ledger.notifications(TOPICS if reports else TOPICS[:2]):
        state = ledger.mapper.to_domain_event(notification).__dict__
        states.setdefault(state["originator_id"], {}).update(state)
    return [Session.of(s) for s in states.values() if "stocktake_id" in s]


def list_stocktakes(
    ledger: Ledger,
    who: Principal,
    *,
    location: str | None = None,
    state: str | None = None,
    institution: str | None = None,
) -> list[Session]:
    """The sessions ``who`` sees, of ``location`` (an id), in ``state`` (open, closed),
    of ``institution``, the latest opened first."""
    _require(who, Permission.READ, Permission.SCAN)
    if state is not None and state not in STATES:
        raise StocktakeInvalid(f"state is one of {', '.join(STATES)}", query="state")
    found = [
        s
        for s in sessions(ledger)
        if who.sees(s.institution)
        and location in (None, s.location)
        and state in (None, s.state)
        and institution in (None, s.institution)
    ]
    return sorted(found, key=lambda s: (s.opened_at, s.id), reverse=True)


# -- the gate's check -------------------------------------------------------------------


def scan_problems(
    view: GroupView,
    stocktake_id: str,
    institution: str,
    rows: Mapping[str, Mapping[str, Any]],
    location: str,
    when: datetime,
) -> tuple[list[FieldError], list[Found]]:
    """What stops a stocktake scan at ``location`` (an id of ``institution``, whose
    location ``rows`` these are) at ``when`` joining count ``stocktake_id``: bad input
    (400), or a closed count (a red reason). Decided in the writer, so a scan and a close
    racing are ordered: the scan is in the count, or red."""
    loaded = _load(view.ledger, stocktake_id)
    if loaded is None or loaded.institution != institution:
        why = f"no stocktake {stocktake_id!r} at {institution or 'this institution'}"
        return [FieldError("/stocktake", why)], []
    if not within(rows, location, loaded.location):
        return [
            FieldError(
                "/stocktake",
                f"stocktake {stocktake_id} counts {loaded.location}; {location} is not within it",
            )
        ], []
    if loaded.closed_at is not None:
        return [], [found(Reason.STOCKTAKE_CLOSED, f"stocktake {stocktake_id}, {loaded.closed_at}")]
    if when < moment(loaded.opened_at):
        return [
            FieldError(
                "/eventTime",
                f"before stocktake {stocktake_id} was opened ({loaded.opened_at}): "
                "a count holds only what was scanned while it was open",
            )
        ], []
    return [], []
