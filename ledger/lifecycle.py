"""The life of a trace code: which state each event puts it in, read from its CBV words.

One module for the rules, because two sides apply them: the read models
(:mod:`projections.code_status`) fold each code's events into its status, and the
hospital write side checks a scan against the same rules before it appends (a code
``dispensed`` cannot be dispensed again).

**State mapping** (:func:`derive_state`; CBV words, URN and ``https://ref.gs1.org/cbv/``
forms alike; the first matching line wins; no match means "no change of state"):

===============================================================  =====================
event                                                            state
===============================================================  =====================
errorDeclaration present                                         (none; see below)
AssociationEvent (any)                                           (none)
ObjectEvent DELETE; bizStep destroying / decommissioning;        ``destroyed``
disposition destroyed / disposed / inactive
TransformationEvent input, bizStep repackaging or disposition    ``split`` (code pool)
partially_dispensed
TransformationEvent input, otherwise                             ``consumed``
disposition recalled                                             ``recalled``
disposition damaged / non_sellable_other / expired / stolen /    ``frozen``
nonconformant / mismatch_*; bizStep holding (no disposition)
disposition dispensed / retail_sold / partially_dispensed;       ``dispensed`` (bound)
bizStep dispensing
disposition reserved; bizStep reserving (project vocabulary)     ``lent``
disposition returned                                             ``returned``
bizStep packing + disposition in_transit (delivery note)         ``expected``
disposition in_transit; bizStep shipping / departing             ``in_transit``
disposition sellable_accessible / sellable_not_accessible /      ``in_stock``
active / available / in_progress / container_closed /
container_open; bizStep commissioning / receiving / accepting /
storing / stocking; ObjectEvent ADD; TransformationEvent output
anything else (inspecting, picking, cycle_counting, unpacking…)  (none)
===============================================================  =====================
"""

from __future__ import annotations

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
    if disp in _DISPENSED or step == "dispensing":
        return "dispensed"
    if disp == "reserved" or step == "reserving":
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
