"""The EPCIS event an accepted scan becomes (``../shared/DOMAIN.md`` §3).

Every scan is one ObjectEvent (a cancel: the scanned event again, with an
``errorDeclaration``), in the JSON-LD form the ledger stores, with CBV 2.0 words where one
fits and the project's own vocabulary (:mod:`ledger.lifecycle`) where none does:

===================== ======= ====================== ====================================
operation             action  bizStep                disposition
===================== ======= ====================== ====================================
receive               OBSERVE receiving              sellable_not_accessible
transfer              OBSERVE shipping               in_transit (destination: location)
return_to_warehouse   OBSERVE shipping               in_transit (to the warehouse)
accept                OBSERVE receiving              sellable_accessible
pick                  OBSERVE picking                —
bind                  OBSERVE dispensing             dispensed
administer            OBSERVE tracecode administering tracecode consumed
unbind                OBSERVE receiving              returned (quality failed: damaged)
return_to_supplier    OBSERVE shipping               returned
lend                  OBSERVE tracecode lending      reserved
lend_return           OBSERVE receiving              sellable_accessible
freeze                OBSERVE holding                non_sellable_other (failed: damaged)
unfreeze              OBSERVE inspecting             sellable_accessible
recall                OBSERVE holding                recalled
destroy               DELETE  destroying             destroyed
stocktake             OBSERVE cycle_counting         —
settle                OBSERVE tracecode settling     — (the order's bound codes)
commission            ADD     commissioning          active (ILMD: lot, dates)
prescan               —       repackaging            — (TransformationEvent: the box in,
                                                     its units' sub-codes out)
===================== ======= ====================== ====================================

What EPCIS has no field for travels as extension fields in ``urn:tracecode:ext:`` (prefix
``tc``): ``tc:scan`` (the scan's reference, which makes each scan's event unique),
``tc:patient`` (a pseudonym, never the raw identifier), ``tc:department``, ``tc:terminal``
(who scanned), ``tc:operator`` (the operator id the terminal vouches for), ``tc:reason``,
``tc:stocktake`` (the count a stocktake scan belongs to: :mod:`ledger.stocktake`),
``tc:backFilled``, and on ``receive`` the lot and dates a 20-digit code does not carry
(``tc:lotNumber``, ``tc:itemExpirationDate``, ``tc:productionDate``: on ``commission`` they
go in the ILMD, under the CBV master-data names). The 医保 sale's facts (issue 13): on a
bind ``tc:prescriberName``, ``tc:pharmacistName``, ``tc:pharmacistCert``, ``tc:receipt``,
and on a bind or a settle the settlement's non-personal fields under their 医保 names
(``tc:mdtrt_setl_type``, ``tc:setl_id``, ``tc:mdtrt_sn``, ``tc:psn_cert_type``,
``tc:hi_feesetl_type``, ``tc:insuplc_admdvs``; :mod:`ledger.settlements`). Orders and
prescriptions are bizTransactions of the project's types ``urn:tracecode:voc:btt:order`` /
``…:prescription`` (CBV 2.0 has no medication order), valued
``urn:tracecode:order:<institution>:<order>``.

The documents of a delivery (issue 13, for the Beijing platform's receiving and shipping
rows; :data:`ledger.scan_request.DOCUMENT_FIELDS`) are bizTransactions of their CBV 2.0
types, valued ``urn:tracecode:doc:<institution>:<type>:<number>`` (:func:`document_uri`):
the number is as the institution's HIS or WMS records it, so the institution qualifies it,
and the type keeps an invoice and an order of the same number apart.

================== ============================================ ==========================
scan field         on                                           bizTransaction type
================== ============================================ ==========================
``purchase_order`` receive, return_to_supplier, transfer        ``po`` (采购订单)
``invoice``        receive, return_to_supplier, transfer        ``inv`` (发票)
``receipt_note``   receive                                      ``recadv`` (入库单)
``dispatch_note``  return_to_supplier, transfer                 ``desadv`` (出库单)
================== ============================================ ==========================

(stored as the bare CBV words, ``urn:epcglobal:cbv:btt:po`` in URN form).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from epcis.context import EPCIS_CONTEXT_URL
from epcis.timestamps import utc_now
from ledger.code_library import EXTENSION
from ledger.lifecycle import ADMINISTERING, CONSUMED, LENDING, PROJECT_VOCABULARY, SETTLING
from ledger.scan_request import DOCUMENT_FIELDS, Operation

NAMESPACES = {"tc": EXTENSION}
CONTEXT: list[Any] = [EPCIS_CONTEXT_URL, NAMESPACES]
ORDER_TYPE = PROJECT_VOCABULARY + "btt:order"
PRESCRIPTION_TYPE = PROJECT_VOCABULARY + "btt:prescription"

_WORDS: dict[Operation, tuple[str, str, str | None]] = {
    Operation.RECEIVE: ("OBSERVE", "receiving", "sellable_not_accessible"),
    Operation.TRANSFER: ("OBSERVE", "shipping", "in_transit"),
    Operation.RETURN_TO_WAREHOUSE: ("OBSERVE", "shipping", "in_transit"),
    Operation.ACCEPT: ("OBSERVE", "receiving", "sellable_accessible"),
    Operation.PICK: ("OBSERVE", "picking", None),
    Operation.BIND: ("OBSERVE", "dispensing", "dispensed"),
    Operation.ADMINISTER: ("OBSERVE", ADMINISTERING, CONSUMED),
    Operation.UNBIND: ("OBSERVE", "receiving", "returned"),
    Operation.RETURN_TO_SUPPLIER: ("OBSERVE", "shipping", "returned"),
    Operation.LEND: ("OBSERVE", LENDING, "reserved"),
    Operation.LEND_RETURN: ("OBSERVE", "receiving", "sellable_accessible"),
    Operation.FREEZE: ("OBSERVE", "holding", "non_sellable_other"),
    Operation.UNFREEZE: ("OBSERVE", "inspecting", "sellable_accessible"),
    Operation.RECALL: ("OBSERVE", "holding", "recalled"),
    Operation.DESTROY: ("DELETE", "destroying", "destroyed"),
    Operation.STOCKTAKE: ("OBSERVE", "cycle_counting", None),
    Operation.COMMISSION: ("ADD", "commissioning", "active"),
    Operation.PRESCAN: ("", "repackaging", None),
    Operation.SETTLE: ("OBSERVE", SETTLING, None),
}
_AT_LOCATION = {
    Operation.RECEIVE,
    Operation.ACCEPT,
    Operation.UNBIND,
    Operation.LEND,
    Operation.LEND_RETURN,
    Operation.FREEZE,
    Operation.UNFREEZE,
    Operation.DESTROY,
    Operation.COMMISSION,
}
"""Operations after which the codes are at the scan's location (its bizLocation)."""


def order_uri(institution: str, order: str) -> str:
    """The bizTransaction of an order or prescription of an institution."""
    return f"urn:tracecode:order:{quote(institution, safe='')}:{quote(order, safe='')}"


def parse_order_uri(uri: str) -> tuple[str, str] | None:
    """``(institution, order)`` of an :func:`order_uri`; None for any other value."""
    head = "urn:tracecode:order:"
    if not uri.startswith(head) or uri.count(":") != 4:
        return None
    institution, order = uri[len(head) :].split(":")
    return unquote(institution), unquote(order)


def document_uri(institution: str, kind: str, number: str) -> str:
    """The bizTransaction of an institution's document of CBV type ``kind`` (``po``…)."""
    return f"urn:tracecode:doc:{quote(institution, safe='')}:{kind}:{quote(number, safe='')}"


def documents(institution: str, numbers: dict[str, str]) -> dict[str, str]:
    """A scan's documents (by field name: their numbers) as bizTransactions, by type."""
    return {
        DOCUMENT_FIELDS[name]: document_uri(institution, DOCUMENT_FIELDS[name], number)
        for name, number in numbers.items()
    }


@dataclass(frozen=True)
class EventFacts:
    """What a scan's event says besides its codes (URIs already resolved)."""

    operation: Operation
    scan_ref: str
    when: datetime
    location: str
    terminal: str
    source: str | None = None
    destination: str | None = None
    order: str | None = None
    prescription: str | None = None
    patient: str | None = None
    department: str | None = None
    operator: str | None = None
    reason: str | None = None
    quality_failed: bool = False
    back_filled: bool = False
    lot: str | None = None
    manufactured: str | None = None
    expires: str | None = None
    stocktake: str | None = None
    sale: dict[str, str] = field(default_factory=dict)
    """The 医保 sale's facts as ``tc:`` fields (:func:`ledger.settlements.sale_fields`):
    a bind's staff and receipt, a bind's or a settle's settlement without its personal
    fields."""
    documents: dict[str, str] = field(default_factory=dict)
    """The delivery's documents as bizTransactions, by type (:func:`documents`)."""


def scan_event(facts: EventFacts, epcs: list[str]) -> dict[str, Any]:
    """The event of an accepted scan naming ``epcs``."""
    action, step, disposition = _WORDS[facts.operation]
    if facts.quality_failed and facts.operation in (Operation.UNBIND, Operation.FREEZE):
        disposition = "damaged"
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": facts.when.isoformat(timespec="milliseconds"),
        "eventTimeZoneOffset": _offset(facts.when),
        "epcList": epcs,
        "action": action,
        "bizStep": step,
    }
    if disposition is not None:
        event["disposition"] = disposition
    if facts.location:  # a settle may come from the HIS, at no location
        event["readPoint"] = {"id": facts.location}
    if facts.operation in _AT_LOCATION:
        event["bizLocation"] = {"id": facts.location}
    named = [(ORDER_TYPE, facts.order), (PRESCRIPTION_TYPE, facts.prescription)]
    transactions = [
        {"type": kind, "bizTransaction": value}
        for kind, value in [*named, *facts.documents.items()]
        if value is not None
    ]
    if transactions:
        event["bizTransactionList"] = transactions
    _movement(event, facts)
    if facts.operation is Operation.COMMISSION:
        ilmd = _dates(facts, "cbvmda:")
        if ilmd:
            event["ilmd"] = ilmd
    elif facts.operation is Operation.RECEIVE:
        event.update(_dates(facts, "tc:"))
    extension = {
        "tc:scan": facts.scan_ref,
        "tc:terminal": facts.terminal,
        "tc:operator": facts.operator,
        "tc:patient": facts.patient,
        "tc:department": facts.department,
        "tc:reason": facts.reason,
        "tc:stocktake": facts.stocktake,
    }
    event.update({k: v for k, v in extension.items() if v is not None})
    event.update(facts.sale)
    if facts.back_filled:
        event["tc:backFilled"] = True
    return event


def repackaging_event(facts: EventFacts, box: str, units: list[str]) -> dict[str, Any]:
    """A pre-scan (预扫描登记): the box in, its smallest units' sub-codes out."""
    single = scan_event(facts, [box])
    event: dict[str, Any] = {
        "type": "TransformationEvent",
        "eventTime": single["eventTime"],
        "eventTimeZoneOffset": single["eventTimeZoneOffset"],
        "inputEPCList": [box],
        "outputEPCList": units,
        "bizStep": "repackaging",
        "readPoint": single["readPoint"],
        "bizLocation": {"id": facts.location},
    }
    event.update({k: v for k, v in single.items() if k.startswith("tc:")})
    return event


def _movement(event: dict[str, Any], facts: EventFacts) -> None:
    if facts.operation in (Operation.TRANSFER, Operation.RETURN_TO_WAREHOUSE):
        event["sourceList"] = [{"type": "location", "source": facts.location}]
        if facts.destination:
            event["destinationList"] = [{"type": "location", "destination": facts.destination}]
    elif facts.operation is Operation.RECEIVE and facts.source:
        event["sourceList"] = [{"type": "owning_party", "source": facts.source}]
    elif facts.operation is Operation.RETURN_TO_SUPPLIER and facts.destination:
        event["destinationList"] = [{"type": "owning_party", "destination": facts.destination}]


def _dates(facts: EventFacts, prefix: str) -> dict[str, str]:
    values = {
        "lotNumber": facts.lot,
        "itemExpirationDate": facts.expires,
        "productionDate": facts.manufactured,
    }
    return {prefix + k: v for k, v in values.items() if v is not None}


def _offset(moment: datetime) -> str:
    offset = moment.utcoffset()
    if offset is None:
        return "+00:00"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def declaration(event: dict[str, Any], reason: str | None) -> dict[str, Any]:
    """The correction of a stored scan event: the event again, declared in error."""
    declared: dict[str, Any] = {
        "declarationTime": utc_now(),
        "reason": "incorrect_data",
    }
    if reason:
        declared["tc:reason"] = reason
    return {**event, "errorDeclaration": declared}
