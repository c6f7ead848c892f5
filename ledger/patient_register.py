"""What an entry point may do with patient mappings, for a principal: one function per use
case (the hospital scans call :func:`remember`; ``tracecode patients`` and ``/patients``
call :func:`reveal` and :func:`erase`).

* :func:`remember` — a scan that names a patient (``terminal``): keep pseudonym → identifier
  for the principal's institution, answer the pseudonym the log will hold.
* :func:`reveal` — ``admin`` and ``auditor`` of the institution that recorded the patient
  (never a regulator, never another institution: to it the pseudonym is unknown).
* :func:`erase` — ``admin``: delete the institution's mapping, and the personal fields of
  the patient's settlements (:mod:`ledger.settlement_persons`); the log keeps the
  pseudonym, which then reveals nothing.

Every reveal and erase, found or not, leaves a :class:`PatientAccess` line: a chained entry,
so it is in the log's order, covered by ``tracecode verify`` and cannot be deleted or
altered unnoticed, which an access log of personal data needs (a plain table could be
cleaned by whoever revealed). It names who, when, what and the pseudonym, never the
identifier, so it stays in the log after an erasure without linking anything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from epcis.timestamps import utc_now
from ledger.access import Permission, Principal, require
from ledger.application import Ledger
from ledger.domain import ChainedEntry
from ledger.patient_mappings import PatientMappings
from ledger.patients import is_pseudonym, normalise, parse_pseudonym, pseudonym
from ledger.settlement_persons import SettlementPersons

_NAMESPACE = UUID("0b7e3c1d-52a4-4f7e-9d6a-3c8f1e2b7a90")
ACCESS_TOPIC = "ledger.patient_register:PatientAccess.Logged"


@dataclass
class PatientAccess(
    ChainedEntry, created_event_name="Logged", kind="patient access", key="access_id"
):
    """One reveal or erase of a patient mapping: who, when, which pseudonym, what came of
    it (``found``: the mappings revealed or erased, 0 when there were none)."""

    access_id: str
    action: str  # "reveal" or "erase"
    pseudonym: str
    subject: str
    role: str
    institution: str
    at: str
    found: int

    @staticmethod
    def create_id(access_id: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, "patient access:" + access_id)


class UnknownPatient(LookupError):
    """No mapping of this pseudonym that the principal may see (never made, erased, or
    another institution's)."""

    def __init__(self, pseudonym: str) -> None:
        super().__init__(pseudonym)
        self.pseudonym = pseudonym

    def __str__(self) -> str:
        return f"no patient is known by {self.pseudonym} (never recorded here, or erased)"


def remember(ledger: Ledger, who: Principal, patient_id: str, key: bytes | None = None) -> str:
    """The patient's pseudonym, its mapping kept for the principal's institution
    (:class:`~ledger.patients.BadPatientId` for a value that cannot be an identifier)."""
    require(who, Permission.SCAN)
    value = normalise(patient_id)
    named = pseudonym(value, key)
    PatientMappings(ledger).remember(named, who.institution, value, utc_now())
    return named


def reveal(ledger: Ledger, who: Principal, pseudonym_: str) -> str:
    """The identifier behind a pseudonym recorded by the principal's institution
    (:class:`UnknownPatient` otherwise); logged either way."""
    require(who, Permission.REVEAL_PATIENTS)
    named = parse_pseudonym(pseudonym_)
    found = PatientMappings(ledger).find(named, who.scope)
    _log(ledger, who, "reveal", named, 0 if found is None else 1)
    if found is None:
        raise UnknownPatient(named)
    return found


def erase(
    ledger: Ledger, who: Principal, patient: str, key: bytes | None = None
) -> tuple[str, int]:
    """Delete the mapping of a patient (its identifier or pseudonym) recorded by the
    principal's institution (by any, for the command line), and the personal fields of its
    settlements kept there: the pseudonym and how many rows were erased (0: there was
    none). Logged either way, after the erasure."""
    require(who, Permission.ADMIN)
    named = patient.strip() if is_pseudonym(patient) else pseudonym(patient, key)
    erased = PatientMappings(ledger).erase(named, who.scope)
    erased += SettlementPersons(ledger).erase(named, who.scope)
    _log(ledger, who, "erase", named, erased)
    return named, erased


def _log(ledger: Ledger, who: Principal, action: str, named: str, found: int) -> None:
    ledger.save_entries(
        lambda: [
            PatientAccess(
                access_id=uuid.uuid4().hex,
                action=action,
                pseudonym=named,
                subject=who.subject,
                role=who.role.value,
                institution=who.institution,
                at=utc_now(),
                found=found,
            )
        ]
    )
