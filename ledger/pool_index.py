"""The split-unit pool's index, kept by the code library (write side).

A split bind takes the first K units of a product's pool here in allocation order: first
expiry first (a box without one last), then the oldest pre-scan (the box's last event
time), then box and unit. Walking every unit of the product and sorting them on each bind
costs O(units in the pool) in the single writer; this index keeps, per (trace prefix,
location), the boxes that have units free there (:class:`Slot`), sorted by that key, each
with its free unit numbers, so a bind reads only the boxes it takes from.

"Free" is a unit's own state: in stock, not held (a recall or freeze), at a location. The
library refreshes a unit's place here from its committed state whenever a group commits
(:meth:`ledger.code_library.Overlay.commit`), whichever way the state changed (an event
folded, a correction restoring the state before it), and re-sorts a box whose key changed
(its expiry or last event time). What a group has not committed yet is laid over the
index when the pool is read (:meth:`ledger.code_library.Overlay.pool`).

A slot's boxes are a sorted Python list (``bisect``): a slot is one product at one
location, so it holds tens to thousands of boxes, where a list insert is a short memmove.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from epcis.identifiers.cn_drug_code import UNIT_MARK
from ledger.lifecycle import HospitalState

NO_EXPIRY = "9999-12-31"
"""Where a box without an expiry sorts: last."""

BoxKey = tuple[str, str, str]
"""A box's place in allocation order: (expiry, its last event time, the box)."""
Entry = tuple[str, str, str, int, str]
"""A unit's place in allocation order: its box's key, its number, the unit itself."""


class Known(Protocol):
    """What the index reads of a code's state (:class:`ledger.code_library.CodeState`)."""

    @property
    def state(self) -> HospitalState: ...
    @property
    def held(self) -> HospitalState | None: ...
    @property
    def location(self) -> str | None: ...
    @property
    def expires(self) -> str | None: ...
    @property
    def event_time(self) -> str: ...


def box_of(code: str) -> str | None:
    """The box a sub-code was split from (None for any other code)."""
    box, mark, _ = code.partition(UNIT_MARK)
    return box if mark else None


def unit_number(code: str) -> int:
    return int(code.rpartition(UNIT_MARK)[2])


def box_key(box: str, state: Known) -> BoxKey:
    return (state.expires or NO_EXPIRY, state.event_time, box)


def free_at(state: Known) -> str | None:
    """Where a unit is in the pool (None: it is not: bound, held, gone, moving)."""
    if state.state is HospitalState.IN_STOCK and state.held is None:
        return state.location
    return None


@dataclass
class Slot:
    """The free units of one product at one location, by box in allocation order."""

    order: list[BoxKey] = field(default_factory=list)
    keys: dict[str, BoxKey] = field(default_factory=dict)
    free: dict[str, list[int]] = field(default_factory=dict)
    """Box -> its free unit numbers here, ascending."""
    size: int = 0

    def add(self, key: BoxKey, number: int) -> None:
        box = key[2]
        numbers = self.free.get(box)
        if numbers is None:
            self.free[box], self.keys[box] = [number], key
            bisect.insort(self.order, key)
        else:
            bisect.insort(numbers, number)
        self.size += 1

    def remove(self, box: str, number: int) -> None:
        numbers = self.free[box]
        numbers.remove(number)
        self.size -= 1
        if not numbers:
            del self.free[box]
            key = self.keys.pop(box)
            del self.order[bisect.bisect_left(self.order, key)]

    def rekey(self, key: BoxKey) -> None:
        box = key[2]
        old = self.keys[box]
        if old != key:
            del self.order[bisect.bisect_left(self.order, old)]
            self.keys[box] = key
            bisect.insort(self.order, key)

    def entries(self, skip_units: set[str], skip_boxes: set[str]) -> Iterator[Entry]:
        """The free units in allocation order, but those named and those of the boxes
        named (read before anything changes the slot)."""
        for key in self.order:
            box = key[2]
            if box in skip_boxes:
                continue
            for number in self.free[box]:
                unit = f"{box}{UNIT_MARK}{number}"
                if unit not in skip_units:
                    yield (*key, number, unit)


@dataclass
class PoolIndex:
    """The free units of every product (trace prefix) at every location."""

    slots: dict[str, dict[str, Slot]] = field(default_factory=dict)
    """Trace prefix -> location -> its slot (only slots with free units)."""
    placed: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Unit -> (trace prefix, location) of the slot it is free in."""
    boxes: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    """Box -> its units' trace prefix and the locations where it has free units."""

    def place(self, prefix: str, unit: str, state: Known, box: Known) -> None:
        """Put a unit where its (committed) state says, its box's state giving its key
        (:meth:`rekey` first when the box's state changed)."""
        where = free_at(state)
        new = None if where is None else (prefix, where)
        old = self.placed.get(unit)
        if old == new:
            return
        name, number = unit.rpartition(UNIT_MARK)[0], unit_number(unit)
        if old is not None:
            del self.placed[unit]
            slot = self.slots[old[0]][old[1]]
            slot.remove(name, number)
            if name not in slot.free:
                locations = self.boxes[name][1]
                locations.discard(old[1])
                if not locations:
                    del self.boxes[name]
            if not slot.size:
                del self.slots[old[0]][old[1]]
                if not self.slots[old[0]]:
                    del self.slots[old[0]]
        if new is not None:
            self.placed[unit] = new
            slot = self.slots.setdefault(prefix, {}).setdefault(new[1], Slot())
            slot.add(box_key(name, box), number)
            self.boxes.setdefault(name, (prefix, set()))[1].add(new[1])

    def rekey(self, name: str, box: Known) -> None:
        """A box's state changed: its free units move to their place in allocation order."""
        prefix, locations = self.boxes.get(name, ("", set()))
        key = box_key(name, box)
        for location in locations:
            self.slots[prefix][location].rekey(key)

    def free_units(self, name: str) -> list[str]:
        """The units of a box free anywhere."""
        prefix, locations = self.boxes.get(name, ("", set()))
        return [
            f"{name}{UNIT_MARK}{number}"
            for location in locations
            for number in self.slots[prefix][location].free[name]
        ]
