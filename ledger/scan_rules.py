"""Whether a code may undergo a scan's operation: green, yellow (accepted, look) or red.

Pure: a code's state in the library (:class:`~ledger.code_library.CodeState`) and the
scan's circumstances (:class:`Circumstances`) in, the reasons out. The reason words are a
contract (terminals switch on them); each has a colour and a sentence for a person.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from epcis.timestamps import utc_text
from ledger.code_library import CodeState
from ledger.lifecycle import HospitalState
from ledger.scan_request import Operation


class Colour(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class Reason(StrEnum):
    # red: refused, nothing stored
    ALREADY_BOUND = "already_bound"
    RECALLED = "recalled"
    FROZEN = "frozen"
    DESTROYED = "destroyed"
    EXPIRED = "expired"
    EXITED = "exited"
    CONSUMED = "consumed"
    LENT = "lent"
    NOT_IN_STOCK_HERE = "not_in_stock_here"
    IN_TRANSIT_ELSEWHERE = "in_transit_elsewhere"
    NOT_IN_TRANSIT_HERE = "not_in_transit_here"
    NOT_ACCEPTED = "not_accepted"
    ALREADY_RECEIVED = "already_received"
    ALREADY_COMMISSIONED = "already_commissioned"
    WRONG_PRODUCT = "wrong_product"
    UNKNOWN_PRODUCT = "unknown_product"
    OVER_ORDER = "over_order"
    NOT_BOUND = "not_bound"
    NOT_BOUND_HERE = "not_bound_here"
    WRONG_PATIENT = "wrong_patient"
    UNBIND_WINDOW_PASSED = "unbind_window_passed"
    NOT_LENT = "not_lent"
    NOT_FROZEN = "not_frozen"
    LATER_SCANS = "later_scans"
    CANCEL_NOT_LAST = "cancel_not_last"
    CANCEL_TOO_OLD = "cancel_too_old"
    ALREADY_CANCELLED = "already_cancelled"
    NO_SUCH_SCAN = "no_such_scan"
    LOT_NOT_FOUND = "lot_not_found"
    POOL_SHORT = "pool_short"
    ALREADY_SPLIT = "already_split"
    OVER_BOX_UNITS = "over_box_units"
    OVER_CODES = "over_codes"
    STOCKTAKE_CLOSED = "stocktake_closed"
    ORDER_NOT_FOUND = "order_not_found"
    ALREADY_SETTLED = "already_settled"
    # yellow: accepted, needs attention
    UNKNOWN_TO_LIBRARY = "unknown_to_library"
    NEAR_EXPIRY = "near_expiry"
    BACK_FILLED = "back_filled"
    SHORT_OF_ORDER = "short_of_order"
    NOT_ON_BOOKS_HERE = "not_on_books_here"
    SHORT_OF_CODES = "short_of_codes"

    @property
    def colour(self) -> Colour:
        return Colour.YELLOW if self in _YELLOW else Colour.RED


_YELLOW = {
    Reason.UNKNOWN_TO_LIBRARY,
    Reason.NEAR_EXPIRY,
    Reason.BACK_FILLED,
    Reason.SHORT_OF_ORDER,
    Reason.NOT_ON_BOOKS_HERE,
    Reason.SHORT_OF_CODES,
}

YELLOW_WORDS = frozenset(r.value for r in _YELLOW)

MESSAGES = {
    Reason.ALREADY_BOUND: "already bound to a patient (赋码): it cannot be bound or moved again",
    Reason.RECALLED: "recalled (召回): it may not be used",
    Reason.FROZEN: "frozen (冻结) pending a quality decision",
    Reason.DESTROYED: "destroyed (销毁)",
    Reason.EXPIRED: "expired",
    Reason.EXITED: "has left the hospital (已退出)",
    Reason.CONSUMED: "already given to its patient (已消耗)",
    Reason.LENT: "lent out (借出): return it first",
    Reason.NOT_IN_STOCK_HERE: "not in stock at this location",
    Reason.IN_TRANSIT_ELSEWHERE: "in transit to another location",
    Reason.NOT_IN_TRANSIT_HERE: "not in transit to this location",
    Reason.NOT_ACCEPTED: "in transit to this location: accept it first",
    Reason.ALREADY_RECEIVED: "already received into the hospital",
    Reason.ALREADY_COMMISSIONED: "already known to the library: it was commissioned before",
    Reason.WRONG_PRODUCT: "not a product the order expects",
    Reason.UNKNOWN_PRODUCT: "its product is not in master data, so the order cannot be checked",
    Reason.OVER_ORDER: "more than the order expects of this product",
    Reason.NOT_BOUND: "not bound to a patient",
    Reason.NOT_BOUND_HERE: "bound by another department: whoever bound it unbinds it",
    Reason.WRONG_PATIENT: "bound to another patient",
    Reason.UNBIND_WINDOW_PASSED: "bound too long ago to be returned",
    Reason.NOT_LENT: "not lent out",
    Reason.NOT_FROZEN: "not frozen",
    Reason.LATER_SCANS: "later scans of this code are recorded: a back-fill here would "
    "contradict them",
    Reason.CANCEL_NOT_LAST: "a later scan depends on the scan to cancel: cancel that first",
    Reason.CANCEL_TOO_OLD: "the code's state before the scan to cancel is no longer kept: "
    "cancels undo only a code's last few scans",
    Reason.ALREADY_CANCELLED: "the scan was cancelled already",
    Reason.NO_SUCH_SCAN: "no scan of this institution has that scanId or eventID",
    Reason.LOT_NOT_FOUND: "no code of that product and lot is known to the library",
    Reason.POOL_SHORT: "the pool here holds fewer units of the product than asked",
    Reason.ALREADY_SPLIT: "already pre-scanned into the pool",
    Reason.OVER_BOX_UNITS: "more units than the boxes named hold (the split-sale rule)",
    Reason.STOCKTAKE_CLOSED: "the stocktake was closed: open a new count to go on",
    Reason.ORDER_NOT_FOUND: "no code is bound to the order: bind its codes, then settle",
    Reason.ALREADY_SETTLED: "the order is settled already: cancel that settlement's scan "
    "to correct it, then settle again",
    Reason.UNKNOWN_TO_LIBRARY: "never received by the central code library: accepted, "
    "check the delivery",
    Reason.NEAR_EXPIRY: "expires soon",
    Reason.BACK_FILLED: "back-filled: recorded with its original time",
    Reason.SHORT_OF_ORDER: "fewer than the order expects",
    Reason.NOT_ON_BOOKS_HERE: "found here, but the books do not have it here",
    Reason.OVER_CODES: "more codes than the must-scan rules expect for the order",
    Reason.SHORT_OF_CODES: "fewer codes than the must-scan rules expect for the order",
}


@dataclass(frozen=True)
class Found:
    """One reason for one code, with the sentence a person reads."""

    reason: Reason
    message: str

    def as_json(self) -> dict[str, str]:
        return {"reason": self.reason.value, "message": self.message}


def found(reason: Reason, detail: str = "") -> Found:
    return Found(reason, MESSAGES[reason] + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class Circumstances:
    """What a check needs to know of the scan besides the code."""

    operation: Operation
    here: Callable[[str | None], bool]
    """Whether a location URI is the scan's location (or within it, or it within)."""
    when: datetime
    """The scan's event time."""
    back_filled: bool
    near_expiry: timedelta
    unbind_window: timedelta
    binder: str
    """Who binds or unbinds: the department's location URI, else the scan's location."""
    patient: str | None = None
    quality_failed: bool = False


@dataclass(frozen=True)
class ScanSettings:
    """The times the checks use: a scan older than ``back_fill_after`` is a back-fill
    (``TRACECODE_BACK_FILL_MINUTES``, 10); a pack expiring within ``near_expiry`` is
    yellow (``TRACECODE_NEAR_EXPIRY_DAYS``, 90); a bound code may be returned within
    ``unbind_window`` of its binding (``TRACECODE_UNBIND_WINDOW_DAYS``, 10, as the EU's
    Delegated Regulation 2016/161 Art. 13 allows for reverting a decommissioning)."""

    back_fill_after: timedelta = timedelta(minutes=10)
    near_expiry: timedelta = timedelta(days=90)
    unbind_window: timedelta = timedelta(days=10)
    future_skew: timedelta = timedelta(minutes=5)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ScanSettings:
        def number(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None
            if value < 0:
                raise ValueError(f"{name}={raw!r} is negative")
            return value

        return cls(
            back_fill_after=timedelta(minutes=number("TRACECODE_BACK_FILL_MINUTES", 10)),
            near_expiry=timedelta(days=number("TRACECODE_NEAR_EXPIRY_DAYS", 90)),
            unbind_window=timedelta(days=number("TRACECODE_UNBIND_WINDOW_DAYS", 10)),
        )


_GONE = {
    HospitalState.DESTROYED: Reason.DESTROYED,
    HospitalState.EXITED: Reason.EXITED,
    HospitalState.CONSUMED: Reason.CONSUMED,
}
_HELD = {
    HospitalState.BOUND: Reason.ALREADY_BOUND,
    HospitalState.RECALLED: Reason.RECALLED,
    HospitalState.FROZEN: Reason.FROZEN,
    HospitalState.LENT: Reason.LENT,
    **_GONE,
}
_EXPIRY_MATTERS = {
    Operation.RECEIVE,
    Operation.TRANSFER,
    Operation.ACCEPT,
    Operation.PICK,
    Operation.BIND,
    Operation.ADMINISTER,
    Operation.UNBIND,
    Operation.LEND,
    Operation.LEND_RETURN,
    Operation.UNFREEZE,
}
STATELESS = {Operation.PICK, Operation.STOCKTAKE}
"""Operations that change no code's state (a back-fill of one cannot contradict later scans)."""


HOLD_ALLOWED = {
    Operation.RETURN_TO_WAREHOUSE,
    Operation.ACCEPT,
    Operation.RETURN_TO_SUPPLIER,
    Operation.DESTROY,
    Operation.STOCKTAKE,
    Operation.RECALL,
    Operation.CANCEL,
}
"""What may be done to a recalled or frozen code that was moved (back to the warehouse):
take it back, send it to the supplier, destroy it, count it, recall it; and unfreeze a
frozen one."""


def check(state: CodeState, expires: str | None, at: Circumstances) -> list[Found]:
    """The reasons for one code (none: green)."""
    rule = _RULES[at.operation]
    reasons = _still_held(state, at) or rule(state, at)
    if at.operation in _EXPIRY_MATTERS:
        reasons += _expiry(expires or state.expires, at)
    if at.back_filled:
        if (
            at.operation not in STATELESS
            and state.event_time
            and state.event_time > utc_text(at.when)
        ):
            reasons.append(found(Reason.LATER_SCANS))
        reasons.append(found(Reason.BACK_FILLED))
    return reasons


def _still_held(state: CodeState, at: Circumstances) -> list[Found]:
    """A recall or a freeze that holds a code moved since (its state says in stock or in
    transit): refused but for :data:`HOLD_ALLOWED`."""
    held = state.held
    if held is None or state.state not in (HospitalState.IN_STOCK, HospitalState.IN_TRANSIT):
        return []
    allowed = at.operation in HOLD_ALLOWED or (
        held is HospitalState.FROZEN and at.operation is Operation.UNFREEZE
    )
    return [] if allowed else [found(_HELD[held], "held since it was moved")]


def colour_of(reasons: list[Found]) -> Colour:
    colours = {r.reason.colour for r in reasons}
    if Colour.RED in colours:
        return Colour.RED
    return Colour.YELLOW if colours else Colour.GREEN


def _expiry(expires: str | None, at: Circumstances) -> list[Found]:
    if not expires:
        return []
    try:
        ends = date.fromisoformat(expires[:10])
    except ValueError:
        return []
    today = at.when.date()
    if ends < today:
        return [found(Reason.EXPIRED, f"expired {ends.isoformat()}")]
    if ends - today <= at.near_expiry:
        return [found(Reason.NEAR_EXPIRY, f"expires {ends.isoformat()}")]
    return []


def _held(state: CodeState, allowed: set[HospitalState] = frozenset()) -> list[Found]:  # type: ignore[assignment]
    reason = _HELD.get(state.state)
    return [found(reason)] if reason is not None and state.state not in allowed else []


def _in_stock_here(state: CodeState, at: Circumstances, allowed: set[HospitalState]) -> list[Found]:
    """A code that must be on the shelf here (in one of the ``allowed`` states)."""
    if state.state in allowed:
        return [] if at.here(state.location) else [found(Reason.NOT_IN_STOCK_HERE)]
    held = _held(state, allowed)
    if held:
        return held
    if state.state is HospitalState.IN_TRANSIT:
        if at.here(state.destination):
            return [found(Reason.NOT_ACCEPTED)]
        return [found(Reason.IN_TRANSIT_ELSEWHERE)]
    return [found(Reason.NOT_IN_STOCK_HERE)]


_STOCK = {HospitalState.IN_STOCK}


def _receive(state: CodeState, at: Circumstances) -> list[Found]:
    if state.state in (HospitalState.NOT_RECEIVED, HospitalState.EXITED):
        return []
    if state.state in (HospitalState.RECALLED, *_GONE):
        return _held(state)
    return [found(Reason.ALREADY_RECEIVED)]


def _moving(state: CodeState, at: Circumstances) -> list[Found]:
    return _in_stock_here(state, at, _STOCK)


def _return_to_warehouse(state: CodeState, at: Circumstances) -> list[Found]:
    problem = {HospitalState.IN_STOCK, HospitalState.FROZEN, HospitalState.RECALLED}
    return _in_stock_here(state, at, problem)


def _accept(state: CodeState, at: Circumstances) -> list[Found]:
    if state.state is HospitalState.IN_TRANSIT:
        return [] if at.here(state.destination) else [found(Reason.IN_TRANSIT_ELSEWHERE)]
    if state.state is HospitalState.IN_STOCK and at.here(state.location):
        return [found(Reason.ALREADY_RECEIVED)]
    return _held(state) or [found(Reason.NOT_IN_TRANSIT_HERE)]


def _bind(state: CodeState, at: Circumstances) -> list[Found]:
    if state.state is HospitalState.NOT_RECEIVED:
        return [found(Reason.UNKNOWN_TO_LIBRARY)]
    return _in_stock_here(state, at, {HospitalState.IN_STOCK, HospitalState.LENT})


def _administer(state: CodeState, at: Circumstances) -> list[Found]:
    if state.state is not HospitalState.BOUND:
        return _held(state) or [found(Reason.NOT_BOUND)]
    if at.patient is not None and state.patient not in (None, at.patient):
        return [found(Reason.WRONG_PATIENT)]
    return []


def _unbind(state: CodeState, at: Circumstances) -> list[Found]:
    if state.state is not HospitalState.BOUND:
        return _held(state) or [found(Reason.NOT_BOUND)]
    reasons = []
    if state.bound_at is not None and not at.here(state.bound_at) and state.bound_at != at.binder:
        reasons.append(found(Reason.NOT_BOUND_HERE))
    if at.patient is not None and state.patient not in (None, at.patient):
        reasons.append(found(Reason.WRONG_PATIENT))
    if state.bound_time and utc_text(at.when) > utc_text(
        datetime.fromisoformat(state.bound_time.replace("Z", "+00:00")) + at.unbind_window
    ):
        reasons.append(found(Reason.UNBIND_WINDOW_PASSED, f"bound {state.bound_time[:19]}Z"))
    return reasons


def _return_to_supplier(state: CodeState, at: Circumstances) -> list[Found]:
    allowed = {HospitalState.IN_STOCK, HospitalState.FROZEN, HospitalState.RECALLED}
    return _in_stock_here(state, at, allowed)


def _lend_return(state: CodeState, at: Circumstances) -> list[Found]:
    if state.state is not HospitalState.LENT:
        return _held(state) or [found(Reason.NOT_LENT)]
    return [] if at.here(state.location) else [found(Reason.NOT_IN_STOCK_HERE)]


def _freeze(state: CodeState, at: Circumstances) -> list[Found]:
    return _in_stock_here(state, at, {HospitalState.IN_STOCK, HospitalState.LENT})


def _unfreeze(state: CodeState, at: Circumstances) -> list[Found]:
    returned = state.held is HospitalState.FROZEN and state.state is HospitalState.IN_STOCK
    if state.state is not HospitalState.FROZEN and not returned:
        return _held(state) or [found(Reason.NOT_FROZEN)]
    return [] if at.here(state.location) else [found(Reason.NOT_IN_STOCK_HERE)]


def _recall(state: CodeState, at: Circumstances) -> list[Found]:
    if state.state is HospitalState.RECALLED or state.state in _GONE:
        return _held(state)
    return []


def _destroy(state: CodeState, at: Circumstances) -> list[Found]:
    allowed = {HospitalState.IN_STOCK, HospitalState.FROZEN, HospitalState.RECALLED}
    return _in_stock_here(state, at, allowed)


def _stocktake(state: CodeState, at: Circumstances) -> list[Found]:
    on_shelf = {HospitalState.IN_STOCK, HospitalState.FROZEN, HospitalState.RECALLED}
    if state.state in on_shelf and at.here(state.location):
        return []
    return [found(Reason.NOT_ON_BOOKS_HERE, f"the books say {state.state.value}")]


def _commission(state: CodeState, at: Circumstances) -> list[Found]:
    return [found(Reason.ALREADY_COMMISSIONED)] if state.seen else []


def _cancel(state: CodeState, at: Circumstances) -> list[Found]:
    return []


_RULES: dict[Operation, Callable[[CodeState, Circumstances], list[Found]]] = {
    Operation.RECEIVE: _receive,
    Operation.TRANSFER: _moving,
    Operation.ACCEPT: _accept,
    Operation.PICK: _moving,
    Operation.BIND: _bind,
    Operation.ADMINISTER: _administer,
    Operation.UNBIND: _unbind,
    Operation.RETURN_TO_WAREHOUSE: _return_to_warehouse,
    Operation.RETURN_TO_SUPPLIER: _return_to_supplier,
    Operation.LEND: _moving,
    Operation.LEND_RETURN: _lend_return,
    Operation.FREEZE: _freeze,
    Operation.UNFREEZE: _unfreeze,
    Operation.RECALL: _recall,
    Operation.DESTROY: _destroy,
    Operation.STOCKTAKE: _stocktake,
    Operation.COMMISSION: _commission,
    Operation.CANCEL: _cancel,
    Operation.PRESCAN: _moving,
}
