"""The life of a trace code: which state each event puts it in, read from its CBV words.

One module for the rules, because two sides apply them: the read models
(:mod:`projections.code_status`) fold each code's events into its status, and the
hospital write side checks a scan against the same rules before it appends (a code
``dispensed`` cannot be dispensed again).

**State mapping** (:func:`derive_state`; CBV words, URN and ``https://ref.gs1.org/cbv/``
forms alike; the first matching line wins; no match means "no change of state"):

=====================================* no state (the event changes none): unchanged;
* ``destroyed`` → destroyed; ``consumed`` → consumed; ``recalled`` → recalled; ``frozen``
  → frozen; ``dispensed`` → bound; ``lent`` → lent; ``split`` → in_stock (the box's units
  are in the pool where it is);
* ``returned`` → in_stock after bizStep receiving / accepting / arriving / storing /
  stocking (a patient's return), else exited (shipped back to the supplier);
* ``expected`` / ``in_transit`` → unchanged while the code is not in the hospital
  (not_received, exited: the supplier's delivery note and shipment), else in_transit (a
  transfer);
* ``in_stock`` → unchanged while not in the hospital when it is a commissioning (bizStep
  commissioning, or an ADD without a bizStep), else in_stock (a receipt, an acceptance, a
  sub-code made here).
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Any

# -- normalising -----------------------------------------------------------------------


_VOCAB_PREFIXES = (
    "urn:epcglobal:cbv:bizstep:",
    "urn:epcglobal:cbv:disp:",
    "https://ref.gs1.org/cbv/BizStep-",
    "https://ref.gs1.org/cbv/Disp-",
)


def word(value: Any) -> str | None:
    """A CBV value as its bare word (other URIs as they are)."""
    if not isinstance(value, str) or not value:
        return None
    for prefix in _VOCAB_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


@lru_cache(maxsize=4096)
def local_name(name: str) -> str:
    """The last segment of a URI or a prefixed name (``ex:patient`` → ``patient``)."""
    for sep in ("/", "#", ":", "-"):
        name = name.rsplit(sep, 1)[-1]
    return name


# -- the project's vocabulary -----------------------------------------------------------

PROJECT_VOCABULARY = "urn:tracecode:voc:"
"""The namespace of the words the project adds where CBV 2.0 has none."""
ADMINISTERING = PROJECT_VOCABULARY + "bizstep:administering"
"""bizStep: a nurse gives a bound drug to its patient (the code is used up)."""
LENDING = PROJECT_VOCABULARY + "bizstep:lending"
"""bizStep: a drug lent for an emergency before its order exists (disposition CBV
``reserved``)."""
CONSUMED = PROJECT_VOCABULARY + "disp:consumed"
"""disposition: administered to its patient, used up."""
SETTLING = PROJECT_VOCABULARY + "bizstep:settling"
"""bizStep: the HIS's settlement (结算) of an order whose codes were bound, recorded after
the binding (seed 003 §三(二)5, asynchronous settlement); no disposition, no change of
state: the event carries the settlement's facts (``tc:setl_id``…) for the 医保 sale."""

# -- the state mapping -----------------------------------------------------------------

_DESTROYED = {"destroyed", "disposed", "inactive"}
_FROZEN = {
    "damaged",
    "non_sellable_other",
    "expired",
    "stolen",
    "nonconformant",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
}
_DISPENSED = {"dispensed", "retail_sold", "partially_dispensed"}
_IN_STOCK_DISPOSITIONS = {
    "sellable_accessible",
    "sellable_not_accessible",
    "active",
    "available",
    "in_progress",
    "container_closed",
    "container_open",
}
_IN_STOCK_STEPS = {"commissioning", "receiving", "accepting", "storing", "stocking"}


def derive_state(
    event_type: str,
    action: str | None,
    biz_step: str | None,
    disposition: str | None,
    role: str,
    *,
    error_declared: bool = False,
) -> str | None:
    """The state an event puts a code in (see the module's table), or None for no change."""
    step = local_name(biz_step) if biz_step else None
    disp = local_name(disposition) if disposition else None
    if error_declared or event_type == "AssociationEvent":
        return None
    if (
        (event_type == "ObjectEvent" and action == "DELETE")
        or step in ("destroying", "decommissioning")
        or disp in _DESTROYED
    ):
        return "destroyed"
    if role == "input":
        return "split" if step == "repackaging" or disp == "partially_dispensed" else "consumed"
    if disp == "recalled":
        return "recalled"
    if disp in _FROZEN or (step == "holding" and disp is None):
        return "frozen"
    if step == "administering" or disp == "consumed":
        return "consumed"
    if disp in _DISPENSED or step == "dispensing":
        return "dispensed"
    if disp == "reserved" or step in ("lending", "reserving"):
        return "lent"
    if disp == "returned":
        return "returned"
    if disp == "in_transit":
        return "expected" if step == "packing" else "in_transit"
    if step in ("shipping", "departing"):
        return "in_transit"
    if (
        disp in _IN_STOCK_DISPOSITIONS
        or step in _IN_STOCK_STEPS
        or (event_type == "ObjectEvent" and action == "ADD")
        or role == "output"
    ):
        return "in_stock"
    return None


# -- the hospital state ----------------------------------------------------------------


class HospitalState(StrEnum):
    """A code's state in the words of a hospital (seed 000 §3.1); :attr:`chinese` says it
    as the seed does."""

    NOT_RECEIVED = "not_received"
    IN_STOCK = "in_stock"
    IN_TRANSIT = "in_transit"
    BOUND = "bound"
    CONSUMED = "consumed"
    EXITED = "exited"
    LENT = "lent"
    FROZEN = "frozen"
    RECALLED = "recalled"
    DESTROYED = "destroyed"

    @property
    def chinese(self) -> str:
        return _CHINESE[self]


_CHINESE = {
    HospitalState.NOT_RECEIVED: "未入库",
    HospitalState.IN_STOCK: "在库",
    HospitalState.IN_TRANSIT: "在途",
    HospitalState.BOUND: "已赋码",
    HospitalState.CONSUMED: "已消耗",
    HospitalState.EXITED: "已退出",
    HospitalState.LENT: "借出",
    HospitalState.FROZEN: "冻结",
    HospitalState.RECALLED: "召回",
    HospitalState.DESTROYED: "销毁",
}

_OUTSIDE = {HospitalState.NOT_RECEIVED, HospitalState.EXITED}
"""Hospital states of a code that is not in the hospital's custody."""
RECEIVING_STEPS = frozenset({"receiving", "accepting", "arriving", "storing", "stocking"})
"""bizSteps that take a code in where they happen."""
_SETTLED = {
    "destroyed": HospitalState.DESTROYED,
    "consumed": HospitalState.CONSUMED,
    "split": HospitalState.IN_STOCK,
    "recalled": HospitalState.RECALLED,
    "frozen": HospitalState.FROZEN,
    "dispensed": HospitalState.BOUND,
    "lent": HospitalState.LENT,
}
"""The states that put a code in one hospital state, whatever came before."""


def next_hospital_state(
    previous: HospitalState, state: str | None, biz_step: str | None, action: str | None
) -> HospitalState:
    """The hospital state after an event that put the code in ``state``
    (:func:`derive_state`), with its bizStep and action (see the module's second table)."""
    if state is None:
        return previous
    settled = _SETTLED.get(state)
    if settled is not None:
        return settled
    step = local_name(biz_step) if biz_step else None
    if state == "returned":
        return HospitalState.IN_STOCK if step in RECEIVING_STEPS else HospitalState.EXITED
    outside = previous in _OUTSIDE  # stays so through shipments to it and commissioning
    if state in ("expected", "in_transit"):
        return previous if outside else HospitalState.IN_TRANSIT
    if state == "in_stock":
        commissioning = step == "commissioning" or (step is None and action == "ADD")
        return previous if outside and commissioning else HospitalState.IN_STOCK
    return previous


def hospital_state_after(
    previous: HospitalState,
    event_type: str,
    action: str | None,
    biz_step: str | None,
    disposition: str | None,
    role: str = "epc",
    *,
    error_declared: bool = False,
) -> HospitalState:
    """The hospital state after one event, from its CBV words (:func:`derive_state`, then
    :func:`next_hospital_state`)."""
    state = derive_state(
        event_type, action, biz_step, disposition, role, error_declared=error_declared
    )
    return next_hospital_state(previous, state, biz_step, action)
