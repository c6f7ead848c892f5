"""Code status: what each event says about each code, and the status query over those facts.

The derivation is pure (an event in, a list of :class:`Fact` and :class:`Link` out; no
SQL). The runner adds the facts a container passes on to its contents and writes them to
``view_code_facts`` / ``view_links``; :func:`status` answers from those rows.

**Which codes an event touches** (each canonicalised with
:func:`epcis.identifiers.parse_identifier`, or kept raw when it does not parse):
``epcList``; ``parentID`` and ``childEPCs``; ``inputEPCList`` and ``outputEPCList``; and the
EPC classes of ``quantityList`` / ``childQuantityList`` / ``input…`` / ``outputQuantityList``
(lot-level facts keyed by the class, with quantity and unit).

**State mapping**: :func:`ledger.lifecycle.derive_state` (the table is there), shared with
the write side, which decides a scan's answer by the same rules before it appends.

**Error declarations.** A stored event carrying ``errorDeclaration`` has the Event Hash ID
of the event it corrects; its facts are flagged ``error_declared`` and :func:`status`
ignores every fact of that hash recorded up to ``as_of`` (the original and the
declaration alike). Corrective events then count as any other event.

**Status** (:func:`status`) is a query, not a replay: the facts of one code recorded up to
``as_of`` (all, when not given), folded in ``(event_time, position)`` order, so an event
captured late with an earlier eventTime slots in where it happened. Each field is the
latest non-empty value; a new state resets the holder and moves the hospital state
(:func:`ledger.lifecycle.next_hospital_state`, from ``not_received``); a fact
``in_transit`` without a bizLocation clears the location. The parent is
:func:`projections.hierarchy.parent_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, select

from epcis.identifiers.facts import canonical, facts_of
from ledger.lifecycle import (
    RECEIVING_STEPS,
    HospitalState,
    derive_state,
    local_name,
    next_hospital_state,
    word,
)
from ledger.records import StoredEvent
from projections import hierarchy
from projections.bulk import select_in
from projections.schema import code_facts, links, utc_text, visible_to

# -- facts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One row of ``view_code_facts``."""

    code: str
    position: int
    notification_id: int
    record_time: str
    event_time: str
    hash_id: str
    event_type: str
    action: str | None
    role: str
    biz_step: str | None
    disposition: str | None
    read_point: str | None
    biz_location: str | None
    destination: str | None
    product: str | None
    lot: str | None
    expiry: str | None
    quantity: float | None
    uom: str | None
    parent: str | None
    holder: str | None
    order: str | None
    """The order (or prescription) the event names: its bizTransaction (:func:`order_of`)."""
    state: str | None
    via: str | None
    error_declared: bool
    institution: str
    """The institution that captured the event (who may see this fact)."""

    def row(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def through(self, container_code: str, code: str) -> Fact:
        """The fact a container passes on to a code inside it."""
        return passed_on(self, container_code, code)


def passed_on(fact: Any, container_code: str, code: str) -> Fact:
    """The fact ``fact`` (a :class:`Fact` or a ``view_code_facts`` row) of a container
    passes on to ``code`` inside it: the event's words, the code's own product and lot."""
    product, lot, expiry = _own_attributes(code)
    if type(fact) is Fact:
        values = fact.__dict__.copy()  # every field (the usual case: a batch's own fact)
    else:
        values = {name: getattr(fact, name, None) for name in _FACT_FIELDS}
    values.update(
        code=code,
        role="contained",
        product=product,
        lot=lot,
        expiry=expiry,
        quantity=None,
        uom=None,
        parent=None,
        via=container_code,
    )
    return _fact(values)


def _fact(values: dict[str, Any]) -> Fact:
    """A :class:`Fact` from all its field values, without the frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field: a catch-up makes millions)."""
    fact = object.__new__(Fact)
    fact.__dict__.update(values)
    return fact


_FACT_FIELDS = tuple(f.name for f in fields(Fact))


@dataclass(frozen=True)
class Link:
    """One row of ``view_links``."""

    parent: str
    child: str
    position: int
    notification_id: int
    record_time: str
    event_time: str
    hash_id: str
    action: str
    kind: str
    error_declared: bool
    institution: str

    def row(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Derived:
    """What one event says: facts about the codes it names, and links between them."""

    facts: list[Fact] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    position: int = 0
    event_time: str = ""


def _own_attributes(code: str) -> tuple[str | None, str | None, str | None]:
    """(product, lot, expiry) the identifier itself carries."""
    found = facts_of(code)
    return found.product, found.lot, found.expiry


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return canonical(value["id"])
    return None


def _ilmd(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """Lot and expiry from the ILMD, else from event-level extension fields of the same
    local names (a hospital's receiving scan carries them there: ILMD is for ADD only)."""
    lot = expiry = None
    ilmd = event.get("ilmd")
    for fields_ in (ilmd if isinstance(ilmd, dict) else {}, event):
        for key, value in fields_.items():
            if not isinstance(value, str) or (fields_ is event and ":" not in key):
                continue
            if local_name(key) == "lotNumber":
                lot = lot or value
            elif local_name(key) == "itemExpirationDate":
                expiry = expiry or value[:10]
    return lot, expiry


_HOLDER_KEYS = {"holder", "patient", "patientPseudonym", "patientRef"}
_HOLDER_TRANSACTIONS = {"prescription", "patient", "order"}


def holder_of(event: dict[str, Any]) -> str | None:
    """Who holds the code after the event: an extension field whose local name is
    holder / patient / patientPseudonym / patientRef, else a bizTransaction whose type's
    local name is prescription / patient / order; None otherwise."""
    for key, value in event.items():
        if ":" in key and local_name(key) in _HOLDER_KEYS and isinstance(value, str):
            return value
    for transaction in event.get("bizTransactionList") or ():
        if (
            isinstance(transaction, dict)
            and local_name(str(transaction.get("type", ""))) in _HOLDER_TRANSACTIONS
            and isinstance(transaction.get("bizTransaction"), str)
        ):
            return str(transaction["bizTransaction"])
    return None


_ORDER_TRANSACTIONS = ("order", "prescription")


def order_of(event: dict[str, Any]) -> str | None:
    """The order an event is for: its first bizTransaction whose type's local name is
    order, else prescription (a scan's ``urn:tracecode:order:<institution>:<order>``,
    :func:`ledger.scan_events.order_uri`); None otherwise."""
    found: dict[str, str] = {}
    for transaction in event.get("bizTransactionList") or ():
        if isinstance(transaction, dict) and isinstance(transaction.get("bizTransaction"), str):
            kind = local_name(str(transaction.get("type", "")))
            if kind in _ORDER_TRANSACTIONS:
                found.setdefault(kind, str(transaction["bizTransaction"]))
    return next((found[kind] for kind in _ORDER_TRANSACTIONS if kind in found), None)


def _destination(event: dict[str, Any]) -> str | None:
    for item in event.get("destinationList") or ():
        if isinstance(item, dict) and isinstance(item.get("destination"), str):
            return canonical(item["destination"])
    return None


def _codes(values: Any) -> list[str]:
    """Canonical codes, each once (a URN and the Digital Link of one item are one code)."""
    return list(dict.fromkeys(canonical(v) for v in values or () if isinstance(v, str)))


def derive_stored(stored: StoredEvent) -> Derived:
    """The facts and links of a stored event, where the ledger keeps it."""
    return derive(
        stored.event,
        position=stored.position,
        notification_id=stored.notification_id,
        record_time=stored.record_time,
        hash_id=stored.hash_id,
        institution=stored.institution,
    )


def derive(
    event: dict[str, Any],
    *,
    position: int,
    notification_id: int,
    record_time: str,
    hash_id: str,
    institution: str = "",
) -> Derived:
    """The facts and links of one stored event (pure)."""
    event_type = str(event.get("type", ""))
    action = event.get("action") if isinstance(event.get("action"), str) else None
    biz_step = word(event.get("bizStep"))
    disposition = word(event.get("disposition"))
    declared = "errorDeclaration" in event
    event_time = utc_text(str(event["eventTime"]))
    common: dict[str, Any] = {
        "position": position,
        "notification_id": notification_id,
        "record_time": utc_text(record_time),
        "event_time": event_time,
        "hash_id": hash_id,
        "event_type": event_type,
        "action": action,
        "biz_step": biz_step,
        "disposition": disposition,
        "read_point": _id_of(event.get("readPoint")),
        "biz_location": _id_of(event.get("bizLocation")),
        "destination": _destination(event),
        "holder": holder_of(event),
        "order": order_of(event),
        "error_declared": declared,
        "institution": institution,
    }
    ilmd_lot, ilmd_expiry = _ilmd(event)
    facts: dict[str, Fact] = {}
    base = dict.fromkeys(_FACT_FIELDS)  # every field, in order
    base.update(common)
    states: dict[str, str | None] = {}  # by role: the state depends on nothing else here

    def state_of(role: str) -> str | None:
        if role not in states:
            states[role] = derive_state(
                event_type, action, biz_step, disposition, role, error_declared=declared
            )
        return states[role]

    def add(code: str, role: str, *, parent: str | None = None, qty: Any = None) -> None:
        if code in facts:  # named twice in one event: the first mention counts
            return
        product, lot, expiry = _own_attributes(code)
        if role in ("epc", "output", "quantity"):
            lot, expiry = lot or ilmd_lot, expiry or ilmd_expiry
        quantity = qty.get("quantity") if isinstance(qty, dict) else None
        uom = qty.get("uom") if isinstance(qty, dict) else None
        values = base.copy()
        values.update(
            code=code,
            role=role,
            product=product,
            lot=lot,
            expiry=expiry,
            quantity=float(quantity) if isinstance(quantity, int | float) else None,
            uom=uom if isinstance(uom, str) else None,
            parent=parent,
            state=state_of(role),
            via=None,
        )
        facts[code] = _fact(values)

    def add_quantities(key: str, role: str) -> None:
        for element in event.get(key) or ():
            if isinstance(element, dict) and isinstance(element.get("epcClass"), str):
                add(canonical(element["epcClass"]), role, qty=element)

    links: list[Link] = []
    link_common: dict[str, Any] = {
        "position": position,
        "notification_id": notification_id,
        "record_time": common["record_time"],
        "event_time": event_time,
        "hash_id": hash_id,
        "error_declared": declared,
        "institution": institution,
    }

    def link(parent: str, child: str, action: str, kind: str) -> None:
        if child != parent:  # a code is never linked to itself
            links.append(Link(parent=parent, child=child, action=action, kind=kind, **link_common))

    if event_type in ("AggregationEvent", "AssociationEvent"):
        parent = canonical(event["parentID"]) if isinstance(event.get("parentID"), str) else None
        if parent is not None:
            add(parent, "parent")
        children = _codes(event.get("childEPCs"))
        sets_parent = event_type == "AggregationEvent" and action in ("ADD", "OBSERVE")
        for child in children:
            add(child, "child", parent=parent if sets_parent else None)
        add_quantities("childQuantityList", "quantity")
        if event_type == "AggregationEvent" and parent is not None and action:
            for child in children:
                link(parent, child, action, "aggregation")
            if action == "DELETE" and not children:  # empties the parent, whatever is in it
                link(parent, hierarchy.WILDCARD, action, "aggregation")
    elif event_type == "TransformationEvent":
        inputs = _codes(event.get("inputEPCList"))
        outputs = _codes(event.get("outputEPCList"))
        for code in inputs:
            add(code, "input")
        add_quantities("inputQuantityList", "input")
        for code in outputs:
            add(code, "output", parent=inputs[0] if len(inputs) == 1 else None)
        add_quantities("outputQuantityList", "output")
        for source in inputs:
            for target in outputs:
                link(source, target, "ADD", "transformation")
    else:  # ObjectEvent, TransactionEvent
        for code in _codes(event.get("epcList")):
            add(code, "epc")
        add_quantities("quantityList", "quantity")
    return Derived(
        facts=list(facts.values()),
        links=links,
        position=position,
        event_time=event_time,
    )


# -- the status query ------------------------------------------------------------------


@dataclass(frozen=True)
class CodeStatus:
    code: str
    state: str | None
    hospital_state: str
    """:class:`ledger.lifecycle.HospitalState` (its value)."""
    location: str | None
    destination: str | None
    holder: str | None
    order: str | None
    """The order the code was bound (or dispensed) for, as :attr:`holder` is kept: set by
    an event that changes the state, else by one that names an order."""
    product: str | None
    lot: str | None
    expiry: str | None
    parent: str | None
    last_event: str
    last_event_time: str
    last_position: int


HOSPITAL_STATE = "hospitalState"
"""The name answers give :attr:`CodeStatus.hospital_state` (the contract's word)."""


def answer_names(values: dict[str, Any]) -> dict[str, Any]:
    """A status's (or a trail line's) fields under the names answers give them, in order."""
    return {HOSPITAL_STATE if k == "hospital_state" else k: v for k, v in values.items()}


def status(
    conn: Connection,
    code: str,
    as_of: str | datetime | None = None,
    scope: str | None = None,
) -> CodeStatus | None:
    """The status of a code from the facts recorded up to ``as_of`` (None: no facts); only
    from what the institution ``scope`` captured, when given."""
    code = canonical(code)
    rows = effective_facts(conn, [code], as_of=as_of, scope=scope).get(code, [])
    return fold(code, rows, lambda: hierarchy.parent_of(conn, code, as_of, scope=scope))


def seen_by(scope: str | None) -> list[ColumnElement[bool]]:
    """The condition on facts an institution ``scope`` sees: those of events it captured
    (every fact when None)."""
    return [] if scope is None else [visible_to(code_facts, scope)]


def effective_facts(
    conn: Connection,
    codes: Iterable[str] | None,
    *,
    as_of: str | datetime | None = None,
    scope: str | None = None,
) -> dict[str, list[Any]]:
    """code → the facts its status folds, in ``(event_time, position)`` order: its own
    (``view_code_facts`` rows) and those the containers it was in pass on to it
    (:func:`passed_on`), each container's events while it held the code
    (:meth:`projections.hierarchy.LinkSet.ancestry`, from every link recorded up to
    ``as_of``); of the events the institution ``scope`` sees, when given. ``codes`` None:
    every code with facts of its own. Codes with no fact are left out."""
    recorded = [] if as_of is None else [code_facts.c.record_time <= utc_text(as_of)]
    recorded += seen_by(scope)
    by_code: dict[str, list[Any]] = {}
    if codes is None:
        for row in conn.execute(select(code_facts).where(*recorded)):
            by_code.setdefault(row.code, []).append(row)
        inside = select(links.c.child).where(
            links.c.kind.in_(hierarchy.CONTAINMENT), links.c.child != hierarchy.WILDCARD
        )
        if as_of is not None:
            inside = inside.where(links.c.record_time <= utc_text(as_of))
        wanted = sorted(by_code.keys() | set(conn.execute(inside.distinct()).scalars()))
    else:
        wanted = sorted({canonical(c) for c in codes})
    found = hierarchy.LinkSet(as_of=as_of, kinds=hierarchy.CONTAINMENT)
    found.load_up(conn, wanted)
    spans = {code: found.ancestry(code) for code in wanted}
    if codes is not None:
        ancestors = {s.ancestor for group in spans.values() for s in group}
        for since, alike in found.firsts.groups(conn, ancestors | set(wanted)):
            for row in select_in(
                conn,
                lambda cond, since=since: select(code_facts).where(  # type: ignore[misc]
                    cond, code_facts.c.position >= since, *recorded
                ),
                code_facts.c.code,
                alike,
            ):
                by_code.setdefault(row.code, []).append(row)
    out: dict[str, list[Any]] = {}
    for code in wanted:
        group = list(by_code.get(code, ()))
        taken = {r.position for r in group}
        for span in spans[code]:
            for r in by_code.get(span.ancestor, ()):
                if r.position not in taken and span.covers(r.event_time, r.position):
                    taken.add(r.position)
                    group.append(passed_on(r, span.ancestor, code))
        if group:
            out[code] = sorted(group, key=_IN_TIME)
    return out


def _IN_TIME(row: Any) -> tuple[str, int]:
    return (row.event_time, row.position)


def statuses(
    conn: Connection,
    codes: Iterable[str] | None = None,
    as_of: str | datetime | None = None,
    *,
    parents: bool = False,
    scope: str | None = None,
) -> dict[str, CodeStatus]:
    """The status of many codes (all with facts, when ``codes`` is None) in a few
    queries, each folded exactly as :func:`status` folds it. ``parent`` is filled only
    with ``parents`` (:func:`projections.hierarchy.parents_of`); otherwise it is None."""
    groups = effective_facts(conn, codes, as_of=as_of, scope=scope)
    return fold_groups(conn, groups, as_of, parents=parents, scope=scope)


def foldings(
    conn: Connection, as_of: str | datetime | None = None, scope: str | None = None
) -> dict[str, Folding]:
    """The :class:`Folding` of every code with facts (recorded up to ``as_of``, of those
    ``scope`` sees), each folded as :func:`statuses` folds it."""
    out: dict[str, Folding] = {}
    for code, group in effective_facts(conn, None, as_of=as_of, scope=scope).items():
        found = folded(group)
        if found is not None:
            out[code] = found
    return out


def fold_groups(
    conn: Connection,
    groups: dict[str, list[Any]],
    as_of: str | datetime | None = None,
    *,
    parents: bool = False,
    scope: str | None = None,
) -> dict[str, CodeStatus]:
    """:func:`statuses` of facts grouped by code (:func:`effective_facts`)."""
    parent = hierarchy.parents_of(conn, list(groups), as_of, scope=scope) if parents else {}
    out: dict[str, CodeStatus] = {}
    for code, group in groups.items():
        found = fold(code, group, lambda code=code: parent.get(code))  # type: ignore[misc]
        if found is not None:
            out[code] = found
    return out


def fold(code: str, rows: Sequence[Any], parent_of: Callable[[], str | None]) -> CodeStatus | None:
    """Fold the facts of one code, in ``(event_time, position)`` order, into its status
    (None: no facts left once error-declared events are dropped)."""
    folding = folded(rows)
    return None if folding is None else folding.status(code, parent_of())


def folded(rows: Sequence[Any]) -> Folding | None:
    """The :class:`Folding` of one code's facts, as :func:`fold` folds them."""
    declared = {r.hash_id for r in rows if r.error_declared}
    rows = [r for r in rows if r.hash_id not in declared]
    if not rows:
        return None
    folding = Folding()
    for r in rows:
        folding.add(r)
    return folding


@dataclass
class Folding:
    """The running fold of a code's facts (:func:`fold`): add them in ``(event_time,
    position)`` order; facts of error-declared events must be left out by the caller."""

    state: str | None = None
    hospital_state: str = HospitalState.NOT_RECEIVED.value
    location: str | None = None
    destination: str | None = None
    holder: str | None = None
    order: str | None = None
    product: str | None = None
    lot: str | None = None
    expiry: str | None = None
    last_event: str = ""
    last_event_time: str = ""
    last_position: int = 0
    moved: str | None = None
    """The state of the code's last movement: its last state that is not a hold
    (:data:`HOLDS`), ``returned`` shipped back to the supplier said ``exited``. Where a held
    code physically is: a pack recalled on the shelf is on the shelf, one recalled after it
    was dispensed is with its patient."""
    held: str | None = None
    """A recall or a freeze that still holds the code (``recalled`` over ``frozen``), kept
    through movements as the write side keeps it (:attr:`ledger.code_library.CodeState.held`):
    a recalled pack returned to the warehouse is still recalled there. Cleared when the code
    leaves (destroyed, consumed, exited), and for a freeze by an inspection."""

    @classmethod
    def of_state(cls, row: Any) -> Folding:
        """The fold a ``view_code_state`` row keeps (its columns of these names)."""
        return cls(**{name: getattr(row, name) for name in _FOLDING_FIELDS})

    def add(self, r: Any) -> None:
        if r.state is not None:
            self.state, self.holder, self.order = r.state, r.holder, r.order
            previous = _HOSPITAL_STATES.get(self.hospital_state) or HospitalState(
                self.hospital_state
            )
            self.hospital_state = next_hospital_state(previous, r.state, r.biz_step, r.action)
            self._move_or_hold(r.state, r.biz_step)
        else:
            if r.holder is not None:
                self.holder = r.holder
            if r.order is not None:
                self.order = r.order
        if r.biz_location is not None:
            self.location = r.biz_location
        elif r.state == "in_transit":
            self.location = None
        if r.destination is not None or r.state is not None:
            self.destination = r.destination
        self.product = r.product or self.product
        self.lot = r.lot or self.lot
        self.expiry = r.expiry or self.expiry
        self.last_event, self.last_event_time = r.hash_id, r.event_time
        self.last_position = r.position

    def _move_or_hold(self, state: str, biz_step: str | None) -> None:
        step = local_name(biz_step) if biz_step else None
        if state in HOLDS:
            self.held = RECALLED if RECALLED in (state, self.held) else state
            if step in RECEIVING_STEPS:  # taken in and held at once (a damaged return)
                self.moved = "in_stock"
            return
        exited = state == "returned" and self.hospital_state == HospitalState.EXITED.value
        self.moved = "exited" if exited else state
        released = self.held == "frozen" and step == "inspecting"
        if exited or state in _GONE or released:
            self.held = None

    def status(self, code: str, parent: str | None) -> CodeStatus:
        return CodeStatus(
            code=code,
            state=self.state,
            hospital_state=self.hospital_state,
            location=self.location,
            destination=self.destination,
            holder=self.holder,
            order=self.order,
            product=self.product,
            lot=self.lot,
            expiry=self.expiry,
            parent=parent,
            last_event=self.last_event,
            last_event_time=self.last_event_time,
            last_position=self.last_position,
        )


RECALLED = "recalled"
HOLDS = frozenset({RECALLED, "frozen"})
"""States that hold a code where it is: no movement (:attr:`Folding.moved`)."""
_GONE = frozenset({"destroyed", "consumed"})
"""States after which nothing holds a code any more (nor does ``exited``)."""

_FOLDING_FIELDS = tuple(f.name for f in fields(Folding))
_HOSPITAL_STATES = {s.value: s for s in HospitalState}
"""Value → member without the enum's call (a fold makes one per fact)."""
