"""The central code library (中央码库): each code's current state, as the write side sees it.

Scans are checked against this library, never against a read model that may lag. It is
folded from the stored events themselves — a scan's own events and whatever arrives
through the EPCIS capture interface (a supplier's packing and shipping, another system's
scans) — so both ways into the ledger agree.

The library lives in the writer's process and is brought up to the end of the log before
a group that holds a scan is decided (:meth:`CodeLibrary.catch_up`); the group then folds
its own events into an :class:`Overlay`, which becomes the library only once the group's
transaction has committed. Another process that appended meanwhile moves the chain head,
so the group's save fails, and the retry catches up first: a check and its event are one
atomic step per code.

**What it keeps per code** (:class:`CodeState`): the hospital state
(:func:`ledger.lifecycle.hospital_state_after`), where the code is (bizLocation) or where it
is going (destination), the patient and order it is bound to and where and when, its lot
and expiry, its container, the event that last touched it, and the states before that
event and the few before it (:data:`UNDO_DEPTH`), so that a correction of the last event
restores the state before it, and a correction of the event before that, then, the state
before that one. A container passes each event on to its contents (a shipped case ships
its boxes), as the read models do.

Events are folded in log order. A correction (``errorDeclaration``) of a code's last event
restores the code's state before it; a correction of an older event is left to the read
models, which replay without it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from epcis.identifiers.cn_drug_code import UNIT_MARK, URN_PREFIX
from epcis.identifiers.facts import canonical, facts_of
from epcis.timestamps import utc_text
from ledger.lifecycle import HospitalState, derive_state, local_name, next_hospital_state, word
from ledger.pool_index import Entry, PoolIndex, box_key, box_of, free_at, unit_number
from ledger.reading import RECORD_TOPIC
from ledger.records import StoredEvent, stored_event

if TYPE_CHECKING:
    from ledger.reading import LedgerLog

EXTENSION = "urn:tracecode:ext:"
"""The namespace of the extension fields tracecode writes into its scans' events (prefix
``tc``): ``patient``, ``department``, ``scan``, ``operator``, ``lotNumber``…"""


@dataclass(slots=True)
class CodeState:
    """One code in the library."""

    code: str
    state: HospitalState = HospitalState.NOT_RECEIVED
    seen: bool = False
    """Whether any stored event names the code."""
    location: str | None = None
    destination: str | None = None
    patient: str | None = None
    order: str | None = None
    bound_at: str | None = None
    """The location (or department) that bound the code to its patient."""
    bound_time: str | None = None
    lot: str | None = None
    expires: str | None = None
    parent: str | None = None
    event_time: str = ""
    last_key: str = ""
    last_hash: str = ""
    scan: str | None = None
    """The scan (its reference) whose event last touched the code."""
    held: HospitalState | None = None
    """A recall or a freeze that still holds the code after it was moved: a recalled pack
    returned to the warehouse is in transit, then in stock there, and still may not be
    used (:data:`ledger.scan_rules.HOLD_ALLOWED`). Cleared when the code leaves (exited,
    destroyed, consumed), and for a freeze by an inspection that releases it."""
    previous: CodeState | None = None

    def copy(self) -> CodeState:
        # by its fields, not copy.copy: a slotted dataclass goes through __reduce_ex__
        # there, several times slower, and every event folded copies a few states
        return CodeState(*_every_field(self))


_every_field = attrgetter(*(f.name for f in fields(CodeState)))


@dataclass(frozen=True)
class EventView:
    """What the library reads of one stored event."""

    key: str
    hash_id: str
    event_type: str
    action: str | None
    biz_step: str | None
    disposition: str | None
    event_time: str
    location: str | None
    read_point: str | None
    destination: str | None
    patient: str | None
    order: str | None
    department: str | None
    lot: str | None
    expires: str | None
    scan: str | None
    declared: bool


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _first(items: Any, key: str) -> str | None:
    for item in items or ():
        if isinstance(item, dict) and isinstance(item.get(key), str):
            return str(item[key])
    return None


_PATIENT_KEYS = {"patient", "patientPseudonym", "patientRef", "holder"}
_ORDER_TYPES = {"order", "prescription", "patient"}


def read_event(key: str, hash_id: str, event: dict[str, Any]) -> EventView:
    """The fields the library folds, from an event in its stored (JSON-LD) form."""
    extension: dict[str, str] = {}
    for name, value in event.items():
        if ":" in name and isinstance(value, str | bool):
            extension.setdefault(local_name(name), str(value))
    ilmd = event.get("ilmd")
    if isinstance(ilmd, dict):
        for name, value in ilmd.items():
            if isinstance(value, str):
                extension.setdefault(local_name(name), value)
    order = None
    for transaction in event.get("bizTransactionList") or ():
        if isinstance(transaction, dict) and local_name(str(transaction.get("type", ""))) in (
            _ORDER_TYPES
        ):
            order = str(transaction.get("bizTransaction"))
            break
    patient = next((extension[k] for k in _PATIENT_KEYS if k in extension), None)
    expires = extension.get("itemExpirationDate")
    action = event.get("action")
    return EventView(
        key=key,
        hash_id=hash_id,
        event_type=str(event.get("type", "")),
        action=action if isinstance(action, str) else None,
        biz_step=word(event.get("bizStep")),
        disposition=word(event.get("disposition")),
        event_time=_utc(event.get("eventTime")),
        location=_id_of(event.get("bizLocation")),
        read_point=_id_of(event.get("readPoint")),
        destination=_first(event.get("destinationList"), "destination"),
        patient=patient,
        order=order,
        department=extension.get("department"),
        lot=extension.get("lotNumber"),
        expires=expires[:10] if expires else None,
        scan=extension.get("scan"),
        declared="errorDeclaration" in event,
    )


_HOLDS = (HospitalState.FROZEN, HospitalState.RECALLED)
_GONE = (HospitalState.DESTROYED, HospitalState.EXITED, HospitalState.CONSUMED)


def _held_after(
    before: CodeState, state: HospitalState, biz_step: str | None
) -> HospitalState | None:
    """What holds the code after an event that put it in ``state``."""
    if state in _HOLDS:
        return HospitalState.RECALLED if HospitalState.RECALLED in (state, before.held) else state
    if state in _GONE or state is HospitalState.NOT_RECEIVED:
        return None
    released = before.held is HospitalState.FROZEN and biz_step == "inspecting"
    return None if released else before.held


def _utc(value: Any) -> str:
    try:
        return utc_text(str(value))
    except ValueError:
        return ""


def _codes(values: Any) -> list[str]:
    return list(dict.fromkeys(canonical(v) for v in values or () if isinstance(v, str)))


@dataclass
class CodeLibrary:
    """Every code the log names, by canonical code, with the containers' contents."""

    codes: dict[str, CodeState] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=dict)
    orders: dict[str, set[str]] = field(default_factory=dict)
    """Order reference -> the codes whose current order it is."""
    by_scan: dict[str, list[str]] = field(default_factory=dict)
    """Scan reference -> the codes its event named (for a cancel)."""
    pool_index: PoolIndex = field(default_factory=PoolIndex)
    """The split-unit units free per product and location, in allocation order."""
    after: int = 0
    """The notification id of the last stored event folded (0: none)."""
    saved: int = 0
    """The :attr:`after` of the last snapshot of this library written or restored
    (:mod:`ledger.library_snapshot`; 0: none)."""
    watchers: dict[str, Callable[[int, str, dict[str, Any]], None]] = field(default_factory=dict)
    """Other things the writer follows in the same pass over the log (master data): topic
    -> what to call with the notification id, the topic and the decoded event's attributes."""
    extras: dict[str, Any] = field(default_factory=dict)
    """What the watchers keep (by name)."""

    def get(self, code: str) -> CodeState:
        return self.codes.get(code) or CodeState(code)

    def catch_up(self, log: LedgerLog) -> int:
        """Fold what the log holds after :attr:`after` (stored events, and what the
        watchers follow); how many notifications."""
        folded = 0
        overlay = Overlay(self)
        for notification in log.notifications([RECORD_TOPIC, *self.watchers], self.after):
            state = log.mapper.to_domain_event(notification).__dict__
            if notification.topic == RECORD_TOPIC:
                overlay.follow(stored_event(state, notification.id))
            else:
                self.watchers[notification.topic](notification.id, notification.topic, state)
            self.after = max(self.after, notification.id)
            folded += 1
        overlay.commit()
        return folded


UNDO_DEPTH = 4
"""How many earlier states of a code the library keeps: so many of the code's last scans
can be cancelled one after another (each cancel restores the state before its scan)."""


def _kept(state: CodeState) -> CodeState:
    """A copy of ``state`` keeping at most ``UNDO_DEPTH - 1`` states before it (the chain is
    copied: the states themselves are the library's earlier states, and stay whole)."""
    head = state.copy()
    node = head
    for _ in range(UNDO_DEPTH - 1):
        if node.previous is None:
            return head
        node.previous = node.previous.copy()
        node = node.previous
    node.previous = None
    return head


def product_digits(code: str) -> str:
    """What a product prefix is compared with: the 20 digits of a trace code (a sub-code's
    box's), the GTIN of a GS1 code, the code itself otherwise."""
    if code.startswith(URN_PREFIX):
        return code[len(URN_PREFIX) :].partition(":")[0]
    product = facts_of(code).product
    return product or code


class Overlay:
    """Changes to a :class:`CodeLibrary` not yet committed: reads see them, the library does
    not until :meth:`commit`."""

    def __init__(self, library: CodeLibrary) -> None:
        self.library = library
        self.codes: dict[str, CodeState] = {}
        self.children: dict[str, set[str]] = {}
        self.orders: dict[str, set[str]] = {}
        self.by_scan: dict[str, list[str]] = {}
        self.units: dict[str, set[str]] = {}
        """Trace prefix -> the split units this overlay changed."""
        self.boxes: dict[str, set[str]] = {}
        """Trace prefix -> the boxes with units in the pool index this overlay changed."""

    # -- reading -----------------------------------------------------------------------

    def get(self, code: str) -> CodeState:
        found = self.codes.get(code)
        return found if found is not None else self.library.get(code)

    def children_of(self, code: str) -> set[str]:
        found = self.children.get(code)
        return found if found is not None else self.library.children.get(code, set())

    def contents(self, code: str) -> list[str]:
        """Every code inside ``code``, transitively, depth first."""
        found: list[str] = []
        stack = sorted(self.children_of(code), reverse=True)
        seen = {code}
        while stack:
            child = stack.pop()
            if child not in seen:
                seen.add(child)
                found.append(child)
                stack.extend(sorted(self.children_of(child), reverse=True))
        return found

    def pool(
        self, prefixes: Iterable[str], here: Callable[[str | None], bool]
    ) -> tuple[int, Iterator[str]]:
        """How many units of a product (its trace prefixes) are free here, and those units
        in allocation order (:mod:`ledger.pool_index`; lazily: take what you need): the
        library's index, with what this overlay changed laid over it."""
        index = self.library.pool_index
        size, streams, mine = 0, [], []
        for prefix in dict.fromkeys(p[:7] for p in prefixes):
            units, boxes = self.units.get(prefix, set()), self.boxes.get(prefix, set())
            for location, slot in index.slots.get(prefix, {}).items():
                if here(location):
                    size += slot.size
                    streams.append(slot.entries(units, boxes))
            for unit in units.union(*(index.free_units(box) for box in boxes)):
                placed = index.placed.get(unit)
                if placed is not None and here(placed[1]):
                    size -= 1  # counted in its slot, but its state here decides
                if here(free_at(self.get(unit))):
                    size += 1
                    name = box_of(unit) or unit
                    mine.append((*box_key(name, self.get(name)), unit_number(unit), unit))
        mine.sort()
        merged: Iterator[Entry] = heapq.merge(*streams, mine)
        return size, (entry[-1] for entry in merged)

    def order_codes(self, order: str) -> set[str]:
        found = self.orders.get(order)
        return found if found is not None else self.library.orders.get(order, set())

    def scan_codes(self, scan: str) -> list[str]:
        found = self.by_scan.get(scan)
        return found if found is not None else self.library.by_scan.get(scan, [])

    def codes_of_lot(self, lot: str, prefixes: Iterable[str]) -> list[str]:
        wanted = tuple(prefixes)
        known = {
            c for c in [*self.library.codes, *self.codes] if product_digits(c).startswith(wanted)
        }
        return sorted(c for c in known if self.get(c).lot == lot)

    # -- folding -----------------------------------------------------------------------

    def follow(self, stored: StoredEvent) -> None:
        """Fold one stored event."""
        self.follow_event(stored.key, stored.hash_id, stored.event)

    def follow_event(self, key: str, hash_id: str, event: dict[str, Any]) -> None:
        view = read_event(key, hash_id, event)
        if view.declared:
            self._restore(view)
            return
        if view.event_type in ("AggregationEvent", "AssociationEvent"):
            self._aggregate(view, event)
            return
        if view.event_type == "TransformationEvent":
            for code in _codes(event.get("inputEPCList")):
                self._apply(code, view, "input")
            for code in _codes(event.get("outputEPCList")):
                self._apply(code, view, "output")
            return
        named = _codes(event.get("epcList"))
        for code in named:
            self._apply(code, view, "epc")
            for inside in self.contents(code):
                if inside not in named:
                    self._apply(inside, view, "epc")
        if view.scan:
            self.by_scan[view.scan] = named

    def _aggregate(self, view: EventView, event: dict[str, Any]) -> None:
        parent_id = event.get("parentID")
        parent = canonical(parent_id) if isinstance(parent_id, str) else None
        children = _codes(event.get("childEPCs"))
        if view.event_type == "AggregationEvent" and parent is not None:
            inside = set(self.children_of(parent))
            if view.action in ("ADD", "OBSERVE"):
                inside.update(c for c in children if c != parent)
            elif view.action == "DELETE":
                inside.difference_update(children or inside)
            self.children[parent] = inside
            for child in children:
                state = self._writable(child)
                state.parent = parent if view.action in ("ADD", "OBSERVE") else None
        for code in [*([parent] if parent else []), *children]:
            self._apply(code, view, "parent" if code == parent else "child")

    def _writable(self, code: str) -> CodeState:
        if code not in self.codes:
            self._changing(code)
            self.codes[code] = self.library.get(code).copy()
        return self.codes[code]

    def _changing(self, code: str) -> None:
        """Note a code whose state this overlay is about to change, for the pool."""
        if UNIT_MARK in code:
            self.units.setdefault(product_digits(code)[:7], set()).add(code)
        elif code in self.library.pool_index.boxes:
            prefix = self.library.pool_index.boxes[code][0]
            self.boxes.setdefault(prefix, set()).add(code)

    def _apply(self, code: str, view: EventView, role: str) -> None:
        before = _kept(self.get(code))
        state = self._writable(code)
        state.previous = before
        state.seen = True
        moved = derive_state(view.event_type, view.action, view.biz_step, view.disposition, role)
        state.state = next_hospital_state(before.state, moved, view.biz_step, view.action)
        state.held = _held_after(before, state.state, view.biz_step)
        if view.location is not None:
            state.location = view.location
        if state.state is HospitalState.IN_TRANSIT:
            # as the read models do: an event that changes no state (a stocktake of a code
            # on its way) leaves where it is going as it was
            if moved is not None or view.destination is not None:
                state.destination = view.destination
            if moved is not None and view.location is None:
                state.location = None
        elif before.state is HospitalState.IN_TRANSIT:
            state.destination = None
        if state.state is HospitalState.BOUND and before.state is not HospitalState.BOUND:
            state.patient = view.patient
            state.bound_at = view.department or view.location or view.read_point
            state.bound_time = view.event_time
        if state.state not in (HospitalState.BOUND, HospitalState.CONSUMED):
            state.patient = state.bound_at = state.bound_time = None
        order = view.order if state.state in (HospitalState.BOUND, HospitalState.CONSUMED) else None
        if view.order is not None and state.state is HospitalState.IN_STOCK:
            order = view.order  # picked for an order (摆药核码), not yet bound
        self._move_order(code, state.order, order)
        state.order = order
        if view.lot is not None:
            state.lot = view.lot
        if view.expires is not None:
            state.expires = view.expires
        if view.event_time > state.event_time:
            state.event_time = view.event_time
        state.last_key, state.last_hash, state.scan = view.key, view.hash_id, view.scan

    def _move_order(self, code: str, old: str | None, new: str | None) -> None:
        if old == new:
            return
        if old is not None:
            self.orders[old] = set(self.order_codes(old)) - {code}
        if new is not None:
            self.orders[new] = set(self.order_codes(new)) | {code}

    def _restore(self, view: EventView) -> None:
        """A correction of an event: codes whose last event it was go back to before it."""
        codes = self.scan_codes(view.scan) if view.scan else []
        candidates = codes or [c for c, s in self.codes.items() if s.last_hash == view.hash_id]
        if not codes:
            candidates += [c for c, s in self.library.codes.items() if s.last_hash == view.hash_id]
        for code in dict.fromkeys(candidates):
            for target in [code, *self.contents(code)]:
                current = self.get(target)
                if current.last_hash != view.hash_id or current.previous is None:
                    continue
                restored = current.previous.copy()
                self._move_order(target, current.order, restored.order)
                self._changing(target)
                self.codes[target] = restored
        if view.scan:
            self.by_scan[view.scan] = []

    def commit(self) -> None:
        """Make the changes the library's."""
        library = self.library
        library.codes.update(self.codes)
        library.children.update(self.children)
        for order, codes in self.orders.items():
            if codes:
                library.orders[order] = codes
            else:
                library.orders.pop(order, None)
        library.by_scan.update(self.by_scan)
        index = library.pool_index
        for boxes in self.boxes.values():
            for box in boxes:
                index.rekey(box, library.get(box))
        for prefix, units in self.units.items():
            for unit in units:
                index.place(prefix, unit, library.get(unit), library.get(box_of(unit) or unit))
        self.codes, self.children, self.orders, self.by_scan = {}, {}, {}, {}
        self.units, self.boxes = {}, {}
