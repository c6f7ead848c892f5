"""An institution's must-scan rules, kept with their history in the ledger's store.

Each institution's rules are one :class:`RuleBook` (a chained entry: ``tracecode verify``
covers it): registered with the first file imported, then one ``Changed`` event per file
that changes them, each carrying every rule and the time it was recorded, so the rules as
of any time are a fold of the log up to then. Re-importing the same rules stores nothing;
a file with any error stores nothing (:class:`~ledger.must_scan_file.RulesInvalid`).

The writer follows the books in its pass over the log, as it does master data
(:func:`writer_books`), so scans are checked against the rules as they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from epcis.timestamps import utc_now
from ledger.access import Permission, Principal, require
from ledger.application import Ledger
from ledger.domain import ChainedEntry
from ledger.gate import GroupView
from ledger.master_data import master_data, moment
from ledger.master_data_import import institution_for
from ledger.master_data_rows import RowError
from ledger.must_scan_file import Rule, RulesInvalid, parse_rules

_NAMESPACE = UUID("5d0b7c43-2f1e-4a8b-9c6d-81e2f4a7b390")
_WRITER = "must-scan rules"


@dataclass
class RuleBook(ChainedEntry, created_event_name="Registered", kind="must-scan rules", key="ref"):
    """The must-scan rules of one institution, in priority order; ``ref`` is ``rules INST``."""

    ref: str
    institution: str
    rules: list[dict[str, Any]]
    recorded_at: str

    @staticmethod
    def create_id(ref: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, ref)

    @event("Changed")
    def change(self, rules: list[dict[str, Any]], recorded_at: str) -> None:
        self.rules = rules
        self.recorded_at = recorded_at


_BASE = f"{RuleBook.__module__}:{RuleBook.__qualname__}"
TOPICS = [f"{_BASE}.Registered", f"{_BASE}.Changed"]


def book_ref(institution: str) -> str:
    return f"rules {institution}"


@dataclass(frozen=True)
class Book:
    """One institution's rules as they were at some time (``version``: how many files)."""

    institution: str
    rules: list[dict[str, Any]]
    recorded_at: str
    version: int

    def as_json(self) -> dict[str, Any]:
        return {
            "institution": self.institution,
            "version": self.version,
            "recordedAt": self.recorded_at,
            "rules": self.rules,
        }


@dataclass
class BookFold:
    """The books folded one stored entry event at a time, in log order (up to ``until``)."""

    until: datetime | None = None
    books: dict[str, Book] = field(default_factory=dict)
    _owners: dict[UUID, str] = field(default_factory=dict)

    def follow(self, topic: str, state: dict[str, Any]) -> None:
        if self.until is not None and moment(state["recorded_at"]) > self.until:
            return
        if topic.endswith(".Registered"):
            self._owners[state["originator_id"]] = state["institution"]
        institution = self._owners.get(state["originator_id"])
        if institution is None:
            return
        version = state["originator_version"]
        self.books[institution] = Book(institution, state["rules"], state["recorded_at"], version)


def rule_books(ledger: Ledger, as_of: str | None = None) -> dict[str, Book]:
    """Every institution's rules as recorded up to ``as_of`` (default: now)."""
    fold = BookFold(None if as_of is None else moment(as_of))
    for notification in ledger.notifications(TOPICS):
        fold.follow(notification.topic, ledger.mapper.to_domain_event(notification).__dict__)
    return fold.books


def visible_books(ledger: Ledger, who: Principal, as_of: str | None = None) -> list[Book]:
    """The rules ``who`` may read: its institution's (every one for a regulator and the
    command line), as recorded up to ``as_of``."""
    require(who, Permission.READ)
    books = rule_books(ledger, as_of)
    return [books[k] for k in sorted(books) if who.sees(k)]


def writer_books(view: GroupView) -> BookFold:
    """The books the writer keeps current with the code library: read whole on first use,
    then followed in the library's pass over the log (its watchers)."""
    extras = view.ledger.library.extras
    fold: BookFold | None = extras.get(_WRITER)
    if fold is not None:
        return fold
    made = BookFold()
    last = 0
    for notification in view.ledger.notifications(TOPICS):
        made.follow(notification.topic, view.ledger.mapper.to_domain_event(notification).__dict__)
        last = notification.id

    def watch(notification_id: int, topic: str, state: dict[str, Any]) -> None:
        if notification_id > last:
            made.follow(topic, state)

    extras[_WRITER] = made
    view.ledger.library.watchers.update(dict.fromkeys(TOPICS, watch))
    return made


@dataclass
class RulesSummary:
    institution: str
    rules: int
    changed: bool
    version: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _naming_errors(rules: list[Rule], ledger: Ledger, institution: str) -> list[RowError]:
    """Products and locations a rule names that the institution's master data lacks."""
    data = master_data(ledger, [institution])
    products: set[str] = set()
    for row in data.products.values():
        products.update(str(row[k]) for k in ("yb_code", "trace_prefix", "gtin") if row[k])
    locations = {key for (_, key) in data.locations}
    errors: list[RowError] = []
    for rule in rules:
        for name, known, what in (
            ("product", products, "a product (医保 code, trace prefix or GTIN)"),
            ("location", locations, "a location id"),
        ):
            for value in rule.when.get(name, ()):
                if value not in known:
                    errors.append(
                        RowError(
                            rule.lines[name],
                            "",
                            f"{value!r} is not {what} in the master data of {institution}",
                            f"{rule.pointer}/when/{name}",
                        )
                    )
    return errors


def import_rules(
    ledger: Ledger, who: Principal, data: bytes, institution: str | None = None
) -> RulesSummary:
    """Import a rules file for ``institution`` (default: the admin's own; the command line
    names it): :class:`RulesInvalid` with every error, nothing stored;
    :class:`~ledger.master_data_import.MasterDataRefused` for another institution's."""
    require(who, Permission.ADMIN)
    owner = institution_for(who, institution)
    if not owner:
        raise RulesInvalid([RowError(0, "", "name the institution the rules are for")])
    rules = parse_rules(data)
    stored = [rule.as_json() for rule in rules]
    summary = RulesSummary(owner, len(rules), False, 0)

    def build() -> list[Any]:
        errors = _naming_errors(rules, ledger, owner)
        if errors:
            raise RulesInvalid(errors)
        ref = book_ref(owner)
        before = rule_books(ledger).get(owner)
        summary.changed, summary.version = False, 0 if before is None else before.version
        if before is not None and before.rules == stored:
            return []
        summary.changed = True
        if before is None:
            summary.version = 1
            return [RuleBook(ref=ref, institution=owner, rules=stored, recorded_at=utc_now())]
        loaded: Any = ledger.repository.get(RuleBook.create_id(ref))
        loaded.change(stored, utc_now())
        summary.version = loaded.version
        return [loaded]

    ledger.save_entries(build)
    return summary
