"""Importing master data: a file checked as a whole, then only what changed is stored.

An admin imports its own institution's master data; the command line any institution's.
Re-importing an unchanged row stores nothing; a changed row stores one ``Changed`` event;
a file with any error stores nothing at all. The checks against what is stored run again
if another writer saved meanwhile (:meth:`ledger.application.Ledger.save_entries`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from epcis.timestamps import utc_now
from ledger.access import Permission, Principal, require
from ledger.application import Ledger
from ledger.master_data import MasterEntry, master_data, ref_of
from ledger.master_data_csv import ParsedFile, parse
from ledger.master_data_rows import MasterDataInvalid, RowError, product_key
from ledger.master_data_rules import (
    Lined,
    Where,
    location_errors,
    on_line,
    operator_errors,
    product_errors,
)

_CHECKS = {"product": product_errors, "location": location_errors, "operator": operator_errors}


class MasterDataRefused(Exception):
    """Master data this principal may not import (another institution's), or a file whose
    institution is not said."""


@dataclass
class ImportSummary:
    """What an import did: the keys (``YB/LEVEL``, a location's or an operator's id) added,
    changed and unchanged, per the file's order."""

    kind: str
    institutions: list[str]
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _full_rights(who: Principal) -> bool:
    return who.via in ("local", "open")


def institution_for(who: Principal, asked: str | None) -> str | None:
    """The institution ``who`` imports for: the one asked (the command line: any; an
    admin: its own only, :class:`MasterDataRefused`), else the admin's own."""
    if _full_rights(who):
        return asked or None
    if asked is not None and asked != who.institution:
        raise MasterDataRefused(
            f"an admin of {who.institution!r} imports its own institution's master data only"
        )
    return who.institution


def _by_institution(parsed: ParsedFile, institution: str | None) -> dict[str, Lined]:
    grouped: dict[str, Lined] = defaultdict(list)
    errors: list[RowError] = []
    for line, row in parsed.rows:
        if parsed.kind == "products":
            if institution is None:
                raise MasterDataRefused(
                    "a products file needs the institution it belongs to (--institution)"
                )
            grouped[institution].append((line, row))
        elif institution is not None and row["institution_code"] != institution:
            errors.append(
                RowError(
                    line,
                    "institution_code",
                    f"{row['institution_code']} is not the institution imported for "
                    f"({institution})",
                )
            )
        else:
            grouped[row["institution_code"]].append((line, row))
    if errors:
        raise MasterDataInvalid(errors)
    return grouped


@dataclass
class Part:
    """Rows of one kind (``product``, ``location``, ``operator``) to import, grouped by
    institution, with how an error found by the rules names where it is (the CSV's line as
    it is; an EPCIS element's pointer)."""

    kind: str
    grouped: dict[str, Lined]
    summary: ImportSummary
    locate: Callable[[RowError], RowError] = lambda error: error
    where: Where = on_line


def import_master_data(
    ledger: Ledger, who: Principal, data: bytes, institution: str | None = None
) -> ImportSummary:
    """Import a products, locations or operators CSV for ``institution`` (default: the
    admin's own); :class:`MasterDataInvalid` with every error, :class:`MasterDataRefused`
    when ``who`` may not, :class:`ledger.access.Forbidden` for a role other than admin."""
    require(who, Permission.ADMIN)
    wanted = institution_for(who, institution)
    parsed = parse(data)
    grouped = _by_institution(parsed, wanted)
    summary = ImportSummary(parsed.kind, sorted(grouped))
    save_parts(ledger, [Part(parsed.kind.removesuffix("s"), grouped, summary)])
    return summary


def save_parts(ledger: Ledger, parts: list[Part]) -> None:
    """Check every part against what is stored and save what changed, all in one commit
    (:class:`MasterDataInvalid` with every error: nothing saved)."""

    def build() -> list[Any]:
        now = master_data(ledger, {owner for part in parts for owner in part.grouped})
        errors: list[RowError] = []
        changes: list[Any] = []
        for part in parts:
            part.summary.added.clear()
            part.summary.changed.clear()
            part.summary.unchanged.clear()
            for owner, rows in part.grouped.items():
                stored_rows = now.rows_of(part.kind)
                stored = {key: row for (inst, key), row in stored_rows.items() if inst == owner}
                check = _CHECKS[part.kind]
                errors += [part.locate(e) for e in check(rows, stored, part.where)]
                changes += _changes(ledger, owner, rows, stored, part.summary, part.kind)
        if errors:
            raise MasterDataInvalid(sorted(errors, key=lambda e: (e.line, e.pointer)))
        return changes

    ledger.save_entries(build)


def _changes(
    ledger: Ledger,
    owner: str,
    rows: Lined,
    stored: dict[str, dict[str, Any]],
    summary: ImportSummary,
    kind: str,
) -> list[Any]:
    recorded_at = utc_now()
    changes: list[Any] = []
    for _, row in rows:
        key = product_key(row) if kind == "product" else row["id"]
        ref = ref_of(kind, owner, key)
        before = stored.get(key)
        if before is None:
            changes.append(
                MasterEntry(ref=ref, kind=kind, institution=owner, row=row, recorded_at=recorded_at)
            )
            summary.added.append(key)
        elif before != row:
            loaded: Any = ledger.repository.get(MasterEntry.create_id(ref))
            loaded.change(row, recorded_at)
            changes.append(loaded)
            summary.changed.append(key)
        else:
            summary.unchanged.append(key)
    return changes
