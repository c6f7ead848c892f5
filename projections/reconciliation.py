"""Stock reconciliation by code (账-物-码): the books of one location over a period, from the
codes, against what a stocktake found there.

**Where.** A location and every location within it (master data's ``parent``: a pharmacy
and its windows), never the locations that hold it: a count of ``OP-1`` is not a count of
``OP``. :func:`reconcile` takes the location URIs (:func:`places_within`).

**On the books here** (a code physically on a shelf here): its last *movement* left it
``in_stock`` and its location is here. A hold — ``frozen`` or ``recalled`` — moves
nothing: a pack held on the shelf is still on the books (until it is returned or
destroyed), and a pack recalled after it was bound is still with the patient, not back on
the shelf. Not on the books: ``in_transit`` to here (not accepted yet), ``lent`` from here
(it left the shelf with the nurse), ``bound`` (dispensed), and the rest. Only
instance-level codes (one pack each) count. A box pre-scanned for split dispensing (its
units ``…:unit:n`` in the code pool) stays on the books while one of its units is: the
last unit dispensed takes the box off (``dispensed``), a unit returned puts it back
(``returnedIn``), and the ``…Units`` figures count the units it has left.

**When.** Event time, not record time: a back-filled scan counts when it happened. The
period is half-open, ``from`` ≤ eventTime < ``to``, so consecutive periods chain (one's
closing is the next one's opening). Error-declared (cancelled) events count nowhere.

**The books.** Per location × product × lot, each code folded over its facts
(:class:`projections.code_status.Folding`) in ``(eventTime, position)`` order: *opening*
(on the books at ``from``); every time a code comes onto the books here during the period
it counts in one *in* column by what it was before — ``received`` (not received, or back
from the supplier), ``transferredIn`` (in transit, or moved from another location),
``returnedIn`` (a patient's return, a lend return), ``otherIn``; every time it leaves, in
one *out* column by what it became — ``dispensed`` (bound), ``transferredOut`` (in
transit, or moved elsewhere), ``returnedToSupplier`` (exited), ``destroyed``, ``lent``,
``otherOut`` (consumed, …); *theoretical closing* = opening + ins − outs (on the books at
``to``). A code's line is its product and lot as the ledger knows them at ``to``.

**The count.** The stocktake is every ``stocktake`` scan (ObjectEvent OBSERVE
``cycle_counting``) whose readPoint is here, in the period; its codes are *found*. They
are compared with the books at the count's end (``countedAt``: the last such scan's
eventTime): **missing** — on the books then, not found; **extra** — found, not on the
books then; **elsewhere** — the extras the ledger places at another location (in transit:
its destination), with that location and their state. So per line ``counted`` =
``booksAtCount`` − ``missing`` + ``extra``. Movements during a count blur it (a pack
dispensed after its shelf was counted is extra): freeze a location while counting it.
Without stocktake scans in the period there is no comparison (``countedAt`` is None). A
stocktake session (:mod:`ledger.stocktake`) passes its own scans (``counted_by``): only
they are found, and without any the count is still compared, at ``to``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, or_, select

from epcis.identifiers.cn_drug_code import UNIT_MARK
from ledger.lifecycle import HospitalState
from projections.code_status import Folding, effective_facts, seen_by
from projections.hierarchy import CONTAINMENT, LinkSet
from projections.schema import code_facts
from projections.stock import is_instance

HOLDS = frozenset({HospitalState.FROZEN, HospitalState.RECALLED})
"""Hospital states that hold a pack where it is (no movement)."""
STOCKTAKE_STEP = "cycle_counting"

INS = ("received", "transferredIn", "returnedIn", "otherIn")
OUTS = ("dispensed", "transferredOut", "returnedToSupplier", "destroyed", "lent", "otherOut")

_IN_FROM = {
    HospitalState.NOT_RECEIVED: "received",
    HospitalState.EXITED: "received",
    HospitalState.IN_TRANSIT: "transferredIn",
    HospitalState.IN_STOCK: "transferredIn",
    HospitalState.BOUND: "returnedIn",
    HospitalState.LENT: "returnedIn",
}
_OUT_TO = {
    HospitalState.BOUND: "dispensed",
    HospitalState.IN_TRANSIT: "transferredOut",
    HospitalState.IN_STOCK: "transferredOut",
    HospitalState.EXITED: "returnedToSupplier",
    HospitalState.DESTROYED: "destroyed",
    HospitalState.LENT: "lent",
}

LineKey = tuple[str | None, str | None]
"""(product, lot)."""


def places_within(locations: Mapping[str, Mapping[str, Any]], location_id: str) -> list[str]:
    """``location_id`` and the ids of every location within it, transitively, among one
    institution's location rows (by id, each with its ``parent``), sorted."""
    children: dict[str, list[str]] = {}
    for key, row in locations.items():
        parent = row.get("parent") or ""
        if parent and parent != key:
            children.setdefault(parent, []).append(key)
    found = {location_id}
    todo = [location_id]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return sorted(found)


@dataclass
class Line:
    """One location × product × lot of a reconciliation (codes; ``units`` each when the
    master data knows the product). The ``…_units`` figures count smallest units: a whole
    pack its ``units``, a split one the units it has left (None: the product's unknown)."""

    product: str | None
    lot: str | None
    units: int | None = None
    opening: int = 0
    moves: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INS + OUTS, 0))
    closing: int = 0
    books_at_count: int = 0
    counted: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    opening_units: int | None = 0
    closing_units: int | None = 0
    counted_units: int | None = 0

    def theoretical_closing(self) -> int:
        return self.opening + sum(self.moves[k] for k in INS) - sum(self.moves[k] for k in OUTS)

    def as_json(self, describe: Callable[[str | None], dict[str, Any]]) -> dict[str, Any]:
        theoretical = self.theoretical_closing()
        return {
            "product": self.product,
            **describe(self.product),
            "lot": self.lot,
            "unitsPerCode": self.units,
            "opening": self.opening,
            **self.moves,
            "theoreticalClosing": theoretical,
            "booksAtCount": self.books_at_count,
            "counted": self.counted,
            "missing": len(self.missing),
            "extra": len(self.extra),
            "openingUnits": self.opening_units,
            "theoreticalClosingUnits": self.closing_units,
            "countedUnits": self.counted_units,
        }


@dataclass(frozen=True)
class Placed:
    """A code of the count, with the ledger's word on it at the count's end."""

    code: str
    product: str | None
    lot: str | None
    hospital_state: str
    location: str | None
    """Where the ledger has it (in transit: where it is going)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "product": self.product,
            "lot": self.lot,
            "hospitalState": self.hospital_state,
            "location": self.location,
        }


@dataclass
class Reconciliation:
    places: list[str]
    start: str
    end: str
    lines: dict[LineKey, Line]
    counted_at: str | None
    stocktake_scans: int
    missing: list[Placed]
    extra: list[Placed]
    elsewhere: list[Placed]

    def sorted_lines(self) -> list[Line]:
        return [self.lines[k] for k in sorted(self.lines, key=lambda k: (k[0] or "", k[1] or ""))]


class Shelf:
    """A code's fold (:class:`Folding`) and where its last movement left it."""

    def __init__(self) -> None:
        self.folding = Folding()
        self.moved = HospitalState.NOT_RECEIVED
        """The hospital state of its last movement (holds left out)."""

    def add(self, row: Any) -> None:
        self.folding.add(row)
        state = _STATES[self.folding.hospital_state]
        if state not in HOLDS:
            self.moved = state

    def on_books(self, places: Collection[str]) -> bool:
        return self.moved is HospitalState.IN_STOCK and self.folding.location in places

    def copy(self) -> Shelf:
        other = Shelf()
        other.folding = Folding(**self.folding.__dict__)
        other.moved = self.moved
        return other


class Pack:
    """A pack code's :class:`Shelf` and, once it is pre-scanned (split), its units'.

    A split box stays on the books while one of its units is on them: its last unit
    dispensed takes it off (``dispensed``), a unit returned to it puts it back."""

    def __init__(self) -> None:
        self.box = Shelf()
        self.units: dict[str, Shelf] = {}

    def add(self, row: Any, unit: str | None) -> Shelf:
        shelf = self.box if unit is None else self.units.setdefault(unit, Shelf())
        shelf.add(row)
        return shelf

    def on_books(self, places: Collection[str]) -> bool:
        if not self.units:
            return self.box.on_books(places)
        if not self.box.on_books(places):
            return False
        return any(u.on_books(places) for u in self.units.values())

    def units_left(self, places: Collection[str]) -> int | None:
        """Of a split box, its units on the books here (0 when it is not); None for a whole
        pack (its product's units)."""
        if not self.units:
            return None
        if not self.box.on_books(places):
            return 0
        return sum(u.on_books(places) for u in self.units.values())

    def copy(self) -> Pack:
        other = Pack()
        other.box = self.box.copy()
        other.units = {k: u.copy() for k, u in self.units.items()}
        return other


_STATES: dict[str, HospitalState] = {s.value: s for s in HospitalState}
"""A hospital state by its value, without an enum call per fact."""


class _Fact(NamedTuple):
    """The columns of a fact the fold and the count read, as a tuple whose
    fields are read at C speed (a row's attribute lookups cost more than the fold itself)."""

    code: str
    event_time: str
    position: int
    hash_id: str
    error_declared: bool
    biz_step: str | None
    read_point: str | None
    state: str | None
    holder: str | None
    order: str | None
    action: str | None
    biz_location: str | None
    destination: str | None
    product: str | None
    lot: str | None
    expiry: str | None


_IN_TIME = itemgetter(1, 2)
"""A fact's (event_time, position): the order a code's facts are folded in."""


def _where(folding: Folding) -> str | None:
    if folding.hospital_state == HospitalState.IN_TRANSIT:
        return folding.destination
    return folding.location


def _is_count(
    row: Any, places: Collection[str], start: str, end: str, only: Collection[str] | None
) -> bool:
    return (
        row.biz_step == STOCKTAKE_STEP
        and row.read_point in places
        and start <= row.event_time < end
        and (only is None or row.hash_id in only)
    )


def reconcile(
    conn: Connection,
    *,
    places: Sequence[str],
    start: str,
    end: str,
    scope: str | None = None,
    units: Callable[[str | None], int | None] = lambda _: None,
    counted_by: Collection[str] | None = None,
) -> Reconciliation:
    """The books of the location URIs ``places`` over ``start`` ≤ eventTime < ``end``
    (fixed-width UTC text, :func:`projections.schema.utc_text`) against the stocktake
    scans there in it, from the facts the institution ``scope`` sees (every fact: None).
    ``units`` gives the smallest units of one code of a product (None: unknown).
    ``counted_by``: a stocktake session's scans (Event Hash IDs): only they count, and the
    count happened even without one (then at ``end``: everything on the books is missing)."""
    here = frozenset(places)
    touched_codes = (
        select(code_facts.c.code)
        .where(
            or_(
                code_facts.c.biz_location.in_(sorted(here)),
                (code_facts.c.read_point.in_(sorted(here)))
                & (code_facts.c.biz_step == STOCKTAKE_STEP),
            ),
            code_facts.c.event_time < end,
            *seen_by(scope),
        )
        .distinct()
    )
    # the codes named here, and every code ever inside them (a case received here brings
    # its boxes: their facts are the case's, passed on when read)
    named = set(conn.execute(touched_codes).scalars())
    graph = LinkSet(kinds=CONTAINMENT)
    graph.load_down(conn, named)
    groups = effective_facts(conn, named | graph.ever_inside(named), scope=scope)
    by_code: dict[str, list[_Fact]] = {
        code: [_Fact(*[getattr(r, name) for name in _Fact._fields]) for r in group]
        for code, group in groups.items()
    }
    members: dict[str, list[tuple[str | None, list[_Fact], bool]]] = {}
    counted_at: str | None = None
    scans: set[str] = set()
    for code in sorted(by_code):
        if not is_instance(code):
            continue
        facts = sorted(by_code[code], key=_IN_TIME)
        if any(r.error_declared for r in facts):
            declared = {r.hash_id for r in facts if r.error_declared}
            facts = [r for r in facts if r.hash_id not in declared]
        if facts and facts[-1].event_time >= end:
            facts = [r for r in facts if r.event_time < end]
        found = False
        for r in facts:
            if _is_count(r, here, start, end, counted_by):
                found = True
                scans.add(r.hash_id)
                counted_at = max(counted_at or r.event_time, r.event_time)
        box, mark, _ = code.partition(UNIT_MARK)
        members.setdefault(box, []).append((code if mark else None, facts, found))
    if counted_by is not None and counted_at is None:
        counted_at = end
    lines: dict[LineKey, Line] = {}
    missing: list[Placed] = []
    extra: list[Placed] = []
    for box, parts in members.items():
        if all(unit is not None for unit, _, _ in parts):
            continue  # units of a box the place never held
        found = any(counted for unit, _, counted in parts if unit is None)
        if len(parts) == 1:
            merged: list[tuple[_Fact, str | None]] = [(r, None) for r in parts[0][1]]
        else:
            merged = sorted(
                ((r, unit) for unit, facts, _ in parts for r in facts),
                key=lambda pair: (pair[0].event_time, pair[0].position, pair[1] is not None),
            )
        _account(box, merged, found, here, start, counted_at, lines, missing, extra, units)
    elsewhere = [p for p in extra if p.location is not None and p.location not in here]
    return Reconciliation(
        places=sorted(here),
        start=start,
        end=end,
        lines=lines,
        counted_at=counted_at,
        stocktake_scans=len(scans),
        missing=missing,
        extra=extra,
        elsewhere=elsewhere,
    )


def _account(
    code: str,
    facts: Iterable[tuple[Any, str | None]],
    found: bool,
    here: frozenset[str],
    start: str,
    counted_at: str | None,
    lines: dict[LineKey, Line],
    missing: list[Placed],
    extra: list[Placed],
    units: Callable[[str | None], int | None],
) -> None:
    """Fold one pack's facts and its units' (before the period's end, each with the unit it
    is of: None for the pack's own; ``found``: by the count) and add it to its line."""
    pack = Pack()
    opening: tuple[bool, int | None] | None = None
    at_count: Pack | None = None
    moves: list[str] = []
    before = False  # on the books here so far
    for r, unit in facts:
        moment = r.event_time
        if opening is None and moment >= start:
            opening = (before, pack.units_left(here))
        if counted_at is not None and at_count is None and moment > counted_at:
            at_count = pack.copy()
        was = (pack.box if unit is None else pack.units.get(unit, Shelf())).moved
        shelf = pack.add(r, unit)
        after = pack.on_books(here)
        if before != after and moment >= start:
            moves.append(
                _IN_FROM.get(was, "otherIn") if after else _OUT_TO.get(shelf.moved, "otherOut")
            )
        before = after
    opened, opening_left = opening or (before, pack.units_left(here))
    at_count = at_count or pack
    on_books_at_count = counted_at is not None and at_count.on_books(here)
    if not (opened or before or moves or found or on_books_at_count):
        return
    folding, counted = pack.box.folding, at_count.box.folding
    key = (folding.product, folding.lot)
    line = lines.get(key)
    if line is None:
        line = lines[key] = Line(product=key[0], lot=key[1], units=units(key[0]))

    def in_units(on_books: bool, left: int | None) -> int | None:
        return 0 if not on_books else line.units if left is None else left

    line.opening += opened
    line.closing += before
    for move in moves:
        line.moves[move] += 1
    line.books_at_count += on_books_at_count
    line.counted += found
    line.opening_units = _plus(line.opening_units, in_units(opened, opening_left))
    line.closing_units = _plus(line.closing_units, in_units(before, pack.units_left(here)))
    if found:
        left = at_count.units_left(here) if on_books_at_count else None
        line.counted_units = _plus(line.counted_units, in_units(True, left))
    placed = Placed(code, key[0], key[1], counted.hospital_state, _where(counted))
    if on_books_at_count and not found:
        line.missing.append(code)
        missing.append(placed)
    elif found and not on_books_at_count:
        line.extra.append(code)
        extra.append(placed)


def _plus(total: int | None, more: int | None) -> int | None:
    return None if total is None or more is None else total + more


CSV_HEADER = (
    "product",
    "lot",
    "unitsPerCode",
    "opening",
    *INS,
    *OUTS,
    "theoreticalClosing",
    "booksAtCount",
    "counted",
    "missing",
    "extra",
    "openingUnits",
    "theoreticalClosingUnits",
    "countedUnits",
    "missingCodes",
    "extraCodes",
)


def reconciliation_csv(
    found: Reconciliation,
    location: str,
    more: Sequence[str] = (),
    values_of: Callable[[Line], Mapping[str, Any]] = lambda _: {},
) -> str:
    """One row per product × lot at ``location`` (as the caller names it); the missing
    and extra codes space-separated; then the columns ``more``, from ``values_of``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("location", *CSV_HEADER, *more))
    for line in found.sorted_lines():
        row = line.as_json(lambda _: {})
        values = [row[name] for name in CSV_HEADER[:-2]]
        added = values_of(line)
        writer.writerow(
            [
                location,
                *("" if v is None else v for v in values),
                " ".join(line.missing),
                " ".join(line.extra),
                *("" if added[name] is None else added[name] for name in more),
            ]
        )
    return out.getvalue()
