"""What the writer does with a settlement (:mod:`ledger.settlements`): the codes a
``settle`` covers, whether the order is settled already, and what a settled scan stores
besides its event (the order's :class:`~ledger.settlements.OrderSettlement`, and the
personal fields for the erasable table, kept before the group's transaction as the
patient mappings are)."""

from __future__ import annotations

from typing import Any

from epcis.timestamps import utc_now
from ledger.code_library import Overlay
from ledger.gate import GroupView
from ledger.lifecycle import HospitalState
from ledger.scan_request import Scan
from ledger.scan_rules import Found, Reason, found
from ledger.settlement_persons import Row, SettlementPersons, row_of
from ledger.settlements import OrderSettlement, in_force, stored_settlement

_SETTLED_STATES = (HospitalState.BOUND, HospitalState.CONSUMED)


def settled_codes(library: Overlay, order: str) -> list[str]:
    """The codes bound to the order (or given to its patient since): what a ``settle``
    of it covers."""
    return sorted(
        code for code in library.order_codes(order) if library.get(code).state in _SETTLED_STATES
    )


def already_settled(view: GroupView, order: str, *, asked: bool) -> Found | None:
    """Red ``already_settled`` when the order has a settlement in force."""
    entry = stored_settlement(view, order, asked=asked)
    if not in_force(view, entry):
        return None
    assert entry is not None
    said = entry.facts.get("setl_id") or f"mdtrt_setl_type {entry.facts['mdtrt_setl_type']}"
    return found(Reason.ALREADY_SETTLED, f"{said}, by scan {entry.scan}")


def settlement_entries(
    view: GroupView,
    scan: Scan,
    *,
    order: str,
    institution: str,
    ref: str,
    event_hash: str,
    patient: str | None,
    asked: bool,
) -> list[Any]:
    """The order's settlement entry to save with the scan (none when it is already among
    the group's pending entries: saved with them), and its personal fields kept by the
    writer before the group's transaction."""
    settlement = scan.settlement
    if settlement is None:
        return []
    now = utc_now()
    if settlement.personal and patient is not None:
        rows: list[Row] = view.extras.setdefault("settlement persons", [])
        rows.append(row_of(patient, institution, settlement.personal, now))
        view.before_save.setdefault(
            "settlement persons", lambda: SettlementPersons(view.ledger).remember_many(rows)
        )
    entry = stored_settlement(view, order, asked=asked)
    if entry is None:
        made = OrderSettlement(
            order=order,
            institution=institution,
            scan=ref,
            hash_id=event_hash,
            facts=dict(settlement.facts),
            patient=patient,
            recorded_at=now,
        )
        return [made]
    entry.resettle(ref, event_hash, dict(settlement.facts), patient, now)
    return [] if entry.id in view.pending else [entry]
