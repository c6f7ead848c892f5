"""Settlements of orders (结算), what the 医保 sale messages need of them, and where each
part is kept (issue 13).

The HIS settles an order and tells the ledger, on the bind that dispenses it
(``settlement`` on ``POST /scans`` operation ``bind``) or later (operation ``settle`` for
the ``order``, seed 003 §三(二)5: asynchronous settlement). The settlement's facts that
name no person (``mdtrt_setl_type``, ``setl_id``, ``mdtrt_sn``, ``psn_cert_type``,
``hi_feesetl_type``, ``insuplc_admdvs``: why, in :data:`ledger.scan_request.SETTLEMENT_FACTS`)
go in that scan's event as ``tc:`` fields under their 医保 names; the personal ones
(``psn_no``, ``certno``, ``psn_name``) into the erasable :mod:`ledger.settlement_persons`
by the patient's pseudonym.

An order is settled once: one :class:`OrderSettlement` per order (a chained entry, so
``verify`` covers it), naming the scan and the event that carry the facts. A second
settlement of a settled order is red ``already_settled``; a settlement given in error is
corrected by cancelling its scan (the ``settle``, or the ``bind`` that carried it: an
``errorDeclaration`` of its event, which the outbox answers with a 3507) and settling
again. :func:`settlement_of` is what the outbox reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event

from ledger.application import Ledger
from ledger.domain import ChainedEntry
from ledger.gate import GroupView
from ledger.scan_events import order_uri
from ledger.scan_record import ScanRecord, stored_scan
from ledger.scan_request import SETTLEMENT_FACTS, Scan
from ledger.settlement_persons import SettlementPersons

_NAMESPACE = UUID("5d0c7a4e-2f61-4b8e-9a3d-1e7f6c2b8d05")
STAFF_TAGS = {
    "prescriber_name": "tc:prescriberName",
    "pharmacist_name": "tc:pharmacistName",
    "pharmacist_cert": "tc:pharmacistCert",
    "receipt": "tc:receipt",
}
"""A bind's staff fields → the event's ``tc:`` fields (3505's ``prsc_dr_name``,
``phar_name``, ``phar_prac_cert_no``, ``rtal_docno``)."""


def sale_fields(scan: Scan) -> dict[str, str]:
    """The ``tc:`` fields of a scan's event for the 医保 sale: the staff and receipt, and
    the settlement's non-personal facts under their 医保 names."""
    found = {STAFF_TAGS[name]: value for name, value in scan.staff.items()}
    if scan.settlement is not None:
        found.update({f"tc:{k}": v for k, v in scan.settlement.facts.items()})
    return found


@dataclass
class OrderSettlement(ChainedEntry, created_event_name="Settled", kind="settlement", key="order"):
    """The settlement of one order (``order``: its bizTransaction URI, which names the
    institution): the scan and the event whose ``tc:`` fields carry it, its non-personal
    facts, the patient's pseudonym (whose personal fields :mod:`ledger.settlement_persons`
    keeps). ``Resettled`` when the scan that settled it was cancelled and another settles."""

    order: str
    institution: str
    scan: str
    hash_id: str
    facts: dict[str, str]
    patient: str | None
    recorded_at: str

    @staticmethod
    def create_id(order: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, order)

    @event("Resettled")
    def resettle(
        self, scan: str, hash_id: str, facts: dict[str, str], patient: str | None, recorded_at: str
    ) -> None:
        self.scan, self.hash_id, self.facts = scan, hash_id, facts
        self.patient, self.recorded_at = patient, recorded_at


def stored_settlement(view: GroupView, order: str, *, asked: bool) -> OrderSettlement | None:
    """The order's settlement entry as the writer's group sees it (None: never settled);
    ``asked``: the gate asked for it in its lookups."""
    aggregate_id = OrderSettlement.create_id(order)
    pending = view.pending.get(aggregate_id)
    if isinstance(pending, OrderSettlement):
        return pending
    if asked and aggregate_id not in view.stored:
        return None
    try:
        found: OrderSettlement = view.ledger.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    return found


def in_force(view: GroupView, entry: OrderSettlement | None) -> bool:
    """Whether the order is settled: its settlement's scan was not cancelled."""
    if entry is None:
        return False
    record = stored_scan(view, ScanRecord.create_id(entry.scan))
    return record is not None and not record.cancelled


@dataclass(frozen=True)
class Settlement:
    """An order's settlement for the 医保 messages: the log's facts (``None`` where the HIS
    gave none) and the personal fields (``None`` once erased, or never given)."""

    institution: str
    order: str
    patient: str | None
    """The patient's pseudonym."""
    event: str
    """The Event Hash ID of the event carrying the facts (the bind's or the settle's)."""
    recorded_at: str
    mdtrt_setl_type: str
    setl_id: str | None
    mdtrt_sn: str | None
    psn_cert_type: str | None
    hi_feesetl_type: str | None
    insuplc_admdvs: str | None
    psn_no: str | None
    certno: str | None
    psn_name: str | None


def settlement_of(ledger: Ledger, institution: str, order: str) -> Settlement | None:
    """The settlement of ``order`` (the HIS's order id) of ``institution`` as the store has
    it now, joined with the personal fields kept for its patient; None when the order is
    not settled (never, or its settlement's scan was cancelled)."""
    try:
        entry: OrderSettlement = ledger.repository.get(
            OrderSettlement.create_id(order_uri(institution, order))
        )
        record: ScanRecord = ledger.repository.get(ScanRecord.create_id(entry.scan))
    except AggregateNotFoundError:
        return None
    if record.cancelled:
        return None
    personal: dict[str, str | None] = {}
    if entry.patient is not None:
        personal = SettlementPersons(ledger).find(entry.patient, institution) or {}
    facts = {name: entry.facts.get(name) for name in SETTLEMENT_FACTS}
    return Settlement(
        institution=institution,
        order=order,
        patient=entry.patient,
        event=entry.hash_id,
        recorded_at=entry.recorded_at,
        mdtrt_setl_type=entry.facts["mdtrt_setl_type"],
        setl_id=facts["setl_id"],
        mdtrt_sn=facts["mdtrt_sn"],
        psn_cert_type=facts["psn_cert_type"],
        hi_feesetl_type=facts["hi_feesetl_type"],
        insuplc_admdvs=facts["insuplc_admdvs"],
        psn_no=personal.get("psn_no"),
        certno=personal.get("certno"),
        psn_name=personal.get("psn_name"),
    )
