"""The gate of a hospital scan: decided in the writer, against the code library.

:class:`ScanGate` resolves the locations in the institution's master data (kept current by
the writer's pass over the log, :func:`master_fold`); answers a ``scanId`` seen before
with its first answer; expands a container to the codes inside it; checks every code
(:mod:`ledger.scan_rules`) and the order's expected lines; and, unless something is red,
stores the scan's event (:mod:`ledger.scan_events`) and its
:class:`~ledger.scan_record.ScanRecord`. A cancel is :mod:`ledger.scan_cancel`'s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from epcis.event_hash import EventHasher
from epcis.timestamps import utc_now
from ledger.capture import PreparedEvent
from ledger.code_pool import allocate, bound_to_order, box_of, is_split, pool, unit_codes
from ledger.gate import GateDecision, GroupView
from ledger.locations import parse_location_uri
from ledger.master_data import MasterData
from ledger.must_scan import must_scan_reasons
from ledger.patient_mappings import PatientMappings
from ledger.product_lookup import Catalogue, ProductMatch
from ledger.scan_answer import CodeAnswer, ScanAnswer, replayed
from ledger.scan_cancel import Cancel
from ledger.scan_events import (
    NAMESPACES,
    EventFacts,
    documents,
    order_uri,
    repackaging_event,
    scan_event,
)
from ledger.scan_places import Places, master_fold
from ledger.scan_record import ScanRecord, scan_ref, stored_scan
from ledger.scan_request import FieldError, Operation, Scan
from ledger.scan_rules import (
    Circumstances,
    Colour,
    Found,
    Reason,
    ScanSettings,
    check,
    colour_of,
    found,
)
from ledger.scan_settle import already_settled, settled_codes, settlement_entries
from ledger.settlements import OrderSettlement, sale_fields
from ledger.stocktake import scan_problems

_HASHER = EventHasher(NAMESPACES)


@dataclass
class ScanGate:
    """Decides one scan in the writer (:class:`ledger.gate.Gate`)."""

    scan: Scan
    institution: str
    terminal: str
    patient: str | None
    when: datetime
    back_filled: bool
    settings: ScanSettings
    patient_id: str | None = None
    """The patient's identifier as normalised (its mapping to :attr:`patient` is kept by
    the writer, with the group); None when the scan named a pseudonym or no patient."""

    def lookups(self) -> list[UUID]:
        """The scan's own record, when the terminal named the scan and its institution is
        known: whether it was stored before is asked for the whole group at once."""
        found = []
        if self.asks_settlement():
            found.append(
                OrderSettlement.create_id(order_uri(self.institution, self.scan.order or ""))
            )
        if not self.scan.scan_id or not self.institution:
            return found
        if self.scan.operation is Operation.CANCEL:
            return found
        return [*found, ScanRecord.create_id(scan_ref(self.institution, self.scan.scan_id))]

    def asks_settlement(self) -> bool:
        """Whether the group asks the store for the order's settlement entry (a settlement
        given, its institution known)."""
        return self.scan.settlement is not None and bool(self.institution and self.scan.order)

    def decide(self, view: GroupView) -> GateDecision:
        fold = master_fold(view)
        institution = self.institution or only_owner(fold.data, self.scan.location)
        places = Places(fold.data, institution)
        errors: list[FieldError] = []
        scan_id = self.scan.scan_id or str(uuid.uuid4())
        ref = scan_ref(institution, scan_id)
        answer = ScanAnswer(
            Colour.GREEN, self.scan.operation.value, scan_id, institution=institution
        )
        if self.scan.operation is Operation.CANCEL:
            return Cancel(self, view, places, answer).decide()
        uris = self._locations(places, errors, answer)
        if errors or answer.forbidden:
            answer.invalid = errors
            return GateDecision(answer, store=False)
        stored = (  # a scan id made up here was never stored: no lookup for it
            stored_scan(view, ScanRecord.create_id(ref), asked=bool(self.lookups()))
            if self.scan.scan_id
            else None
        )
        if stored is not None:
            return GateDecision(replayed(stored.answer), store=False)
        if self.scan.stocktake is not None:
            location = parse_location_uri(uris["location"] or "")
            errors, closed = scan_problems(
                view,
                self.scan.stocktake,
                places.institution,
                places.rows,
                location[1] if location else "",
                self.when,
            )
            if errors:
                answer.invalid = errors
                return GateDecision(answer, store=False)
            answer.reasons.extend(closed)  # red: the count was closed
        return _Decision(self, view, places, uris, ref, answer).decide()

    def _locations(
        self, places: Places, errors: list[FieldError], answer: ScanAnswer
    ) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for name, value in (
            ("location", self.scan.location),
            ("destination", self.scan.destination),
            ("source", self.scan.source),
            ("department", self.scan.department),
        ):
            if value is None:
                found[name] = None
                continue
            parsed = parse_location_uri(value)
            if parsed is not None and parsed[0] != places.institution and name == "location":
                answer.forbidden = (
                    f"{value} is a location of another institution: a terminal scans only "
                    "at its own institution's locations"
                )
                return found
            key = parsed[1] if parsed is not None else value
            if key not in places.rows:
                errors.append(
                    FieldError(
                        f"/{name}",
                        f"{value!r} is not a location in the master data of "
                        f"{places.institution or 'any institution'}",
                    )
                )
                continue
            found[name] = places.uri(key)
        if (
            self.scan.operation is Operation.RETURN_TO_WAREHOUSE
            and found.get("destination") is None
            and not errors
        ):
            warehouse = places.warehouse()
            if warehouse is None:
                errors.append(
                    FieldError("/destination", "name the warehouse: the institution has not one")
                )
            else:
                found["destination"] = places.uri(warehouse)
        return found


class _Decision:
    """Checking one scan's codes and building what it stores."""

    def __init__(
        self,
        gate: ScanGate,
        view: GroupView,
        places: Places,
        uris: dict[str, str | None],
        ref: str,
        answer: ScanAnswer,
    ) -> None:
        self.gate, self.scan, self.view, self.places = gate, gate.scan, view, places
        self.uris, self.ref, self.answer = uris, ref, answer
        self.library = view.library
        self.catalogue = Catalogue(master_fold(view).data, places.institution)
        location = uris["location"] or ""
        self.order = order_uri(places.institution, self.scan.order) if self.scan.order else None
        self.patient = gate.patient
        """The patient the event names: a settle's is its order's."""
        self.at = Circumstances(
            operation=self.scan.operation,
            here=places.related(location),
            when=gate.when,
            back_filled=gate.back_filled,
            near_expiry=gate.settings.near_expiry,
            unbind_window=gate.settings.unbind_window,
            binder=uris["department"] or location,
            patient=gate.patient,
            quality_failed=self.scan.quality == "failed",
        )

    def decide(self) -> GateDecision:
        scan, answer = self.scan, self.answer
        if scan.operation is Operation.PRESCAN:
            return self._prescan()
        if scan.operation is Operation.SETTLE:
            return self._settle()
        if not scan.codes and scan.quantity is not None and scan.product is not None:
            return self._split(scan.quantity, scan.product)
        epcs: list[str] = []
        if scan.operation is Operation.RECALL and not scan.codes:
            epcs = self._lot()
        for scanned in scan.codes:
            code = scanned.canonical
            inside = self._inside(code)
            # the code's own expiry wins (a GS1 code's); else the one the scan brings (a
            # receive of 20-digit codes), else the library's
            expires = scanned.identifier.expiry or scan.expires
            reasons = check(self.library.get(code), expires, self.at)
            for content in inside:
                for reason in check(self.library.get(content), None, self.at):
                    if reason.reason is not Reason.BACK_FILLED:
                        reasons.append(Found(reason.reason, f"{content}: {reason.message}"))
            match = self.catalogue.product_for_code(scanned.raw)
            answer.codes.append(
                CodeAnswer(
                    scanned.raw,
                    code,
                    colour_of(reasons),
                    reasons,
                    inside,
                    None if match is None else str(match.product["yb_code"]),
                )
            )
            epcs.append(scanned.epc)
            epcs.extend(inside)
        self._order()
        answer.reasons += must_scan_reasons(  # the must-scan rules' codes per order line
            self.view, master_fold(self.view).data, self.places.institution, scan, self.order
        )
        self._split_sale()
        self._settled_before()
        if self._colour() is Colour.RED:
            return GateDecision(answer, store=False)
        return self._store(epcs)

    def _colour(self) -> Colour:
        """The answer's colour from its codes' and its own reasons."""
        answer = self.answer
        answer.back_filled = self.gate.back_filled
        colours = [c.colour for c in answer.codes] + [colour_of(answer.reasons)]
        answer.colour = (
            Colour.RED
            if Colour.RED in colours
            else Colour.YELLOW
            if Colour.YELLOW in colours
            else Colour.GREEN
        )
        return answer.colour

    def _split_sale(self) -> None:
        """A bind naming codes with a quantity (the order's, when it names one): never
        more units than those codes, and the order's codes bound before, hold (seed 003
        §三(二)2)."""
        scan = self.scan
        if scan.operation is not Operation.BIND or scan.quantity is None or not scan.codes:
            return
        if any(r.reason is Reason.SHORT_OF_CODES for r in self.answer.reasons):
            return  # the rules say more codes are to come: nothing is reported against these yet
        named = {s.canonical for s in scan.codes}
        earlier = self.library.order_codes(self.order) - named if self.order else set()
        held = 0
        for code in [*named, *earlier]:
            match = self.catalogue.product_for_code(code)
            held += 1 if box_of(code) else (match.units if match else 1)
        if scan.quantity > held:
            self.answer.reasons.append(
                found(Reason.OVER_BOX_UNITS, f"{scan.quantity} units asked, {held} scanned")
            )

    def _settled_before(self) -> None:
        """A settlement of an order that has one in force: red ``already_settled``."""
        if self.scan.settlement is None or self.order is None:
            return
        taken = already_settled(self.view, self.order, asked=self.gate.asks_settlement())
        if taken is not None:
            self.answer.reasons.append(taken)

    def _settle(self) -> GateDecision:
        """The order's settlement, after its codes were bound: one event naming them."""
        answer, order = self.answer, self.order or ""
        if not self.places.institution:
            answer.invalid = [
                FieldError(
                    "/order",
                    "whose order? a settle from the command line names the institution "
                    "(--institution) or a location",
                )
            ]
            return GateDecision(answer, store=False)
        codes = settled_codes(self.library, order)
        if not codes:
            answer.reasons.append(found(Reason.ORDER_NOT_FOUND, self.scan.order or ""))
            self._colour()
            return GateDecision(answer, store=False)
        patients = sorted({p for c in codes if (p := self.library.get(c).patient) is not None})
        settlement = self.scan.settlement
        if len(patients) > 1:
            answer.invalid = [
                FieldError("/order", "the order's codes are bound to several patients")
            ]
        elif not patients and settlement is not None and settlement.personal:
            answer.invalid = [
                FieldError(
                    "/settlement",
                    "the order's codes name no patient to keep psn_no, certno, psn_name for",
                )
            ]
        if answer.invalid:
            return GateDecision(answer, store=False)
        self.patient = patients[0] if patients else None
        answer.codes = [CodeAnswer(code, code, Colour.GREEN, []) for code in codes]
        self._settled_before()
        if self._colour() is Colour.RED:
            return GateDecision(answer, store=False)
        return self._store(codes)

    def _prescan(self) -> GateDecision:
        """Boxes into the pool: one repackaging event each."""
        answer, boxes = self.answer, []
        for scanned in self.scan.codes:
            code = scanned.canonical
            reasons = check(self.library.get(code), scanned.identifier.expiry, self.at)
            match = self.catalogue.product_for_code(scanned.raw)
            if match is None or box_of(code) is not None:
                reasons.append(found(Reason.UNKNOWN_PRODUCT))
            elif is_split(self.library, code):
                reasons.append(found(Reason.ALREADY_SPLIT))
            product = None if match is None else str(match.product["yb_code"])
            answer.codes.append(
                CodeAnswer(scanned.raw, code, colour_of(reasons), reasons, [], product)
            )
            boxes.append((scanned.epc, unit_codes(code, match.units if match else 0)))
        if self._colour() is Colour.RED:
            return GateDecision(answer, store=False)
        facts = self._facts()
        return self._keep([repackaging_event(facts, box, units) for box, units in boxes])

    def _split(self, quantity: int, product: str) -> GateDecision:
        """A bind or a return of split units: the pool allocates, or the order gives back."""
        answer = self.answer
        prefixes = [
            row["trace_prefix"]
            for row in self.catalogue.by_prefix.values()
            if product in (row["yb_code"], row["trace_prefix"], row["gtin"])
        ]
        if not prefixes:
            answer.invalid = [
                FieldError("/product", f"{product!r} is not a product in the master data")
            ]
            return GateDecision(answer, store=False)
        if self.scan.operation is Operation.BIND:
            size, units = pool(self.library, prefixes, self.at.here, quantity)
            short = f"{size} of {quantity} units in the pool here"
        else:
            units = bound_to_order(self.library, self.order or "", prefixes)
            short = f"{len(units)} of {quantity} units bound to the order"
        taken = allocate(units, quantity)
        if taken is None:
            reason = (
                Reason.POOL_SHORT if self.scan.operation is Operation.BIND else Reason.NOT_BOUND
            )
            answer.reasons.append(found(reason, short))
            self._colour()
            return GateDecision(answer, store=False)
        epcs = []
        for allocation in taken:
            expires = self.library.get(allocation.box).expires
            for unit in allocation.units:
                reasons = check(self.library.get(unit), expires, self.at)
                answer.codes.append(CodeAnswer(unit, unit, colour_of(reasons), reasons))
                epcs.append(unit)
        answer.allocations = [allocation.as_json() for allocation in taken]
        self._settled_before()
        if self._colour() is Colour.RED:
            return GateDecision(answer, store=False)
        return self._store(epcs)

    def _inside(self, code: str) -> list[str]:
        """The codes inside a container the operation acts on as a whole (none for a
        binding or an administration: those are of single packs)."""
        if self.scan.operation in (Operation.BIND, Operation.ADMINISTER, Operation.UNBIND):
            return []
        return self.library.contents(code)

    def _lot(self) -> list[str]:
        """A recall by product and lot: every code of that lot the library knows."""
        wanted = self.scan.product or ""
        rows = [
            row
            for row in self.catalogue.by_prefix.values()
            if wanted in (row["yb_code"], row["trace_prefix"], row["gtin"])
        ]
        prefixes = [row["trace_prefix"] for row in rows] + [r["gtin"] for r in rows if r["gtin"]]
        codes = self.library.codes_of_lot(self.scan.lot or "", prefixes or [wanted])
        gone = {Reason.RECALLED, Reason.DESTROYED, Reason.EXITED, Reason.CONSUMED}
        live = []
        for code in codes:  # those recalled already or gone are left out; others answer
            reasons = check(self.library.get(code), None, self.at)
            if not gone & {r.reason for r in reasons}:
                live.append(code)
                self.answer.codes.append(CodeAnswer(code, code, colour_of(reasons), reasons))
        if not live:
            self.answer.reasons.append(
                found(Reason.LOT_NOT_FOUND, f"product {wanted}, lot {self.scan.lot}")
            )
        return live

    def _order(self) -> None:
        """The expected lines: wrong product, over the order, short of it."""
        expected = self.scan.expected
        if expected is None:
            return
        wanted = {line.product: line.quantity for line in expected}
        counted: dict[str, int] = dict.fromkeys(wanted, 0)
        mine = {c.canonical for c in self.answer.codes}
        for code in sorted(self.library.order_codes(self.order) if self.order else ()):
            if code in mine:
                continue
            line = _line_of(self.catalogue.product_for_code(code), wanted)
            if line is not None:
                counted[line] += _units(self.catalogue.product_for_code(code))
        for code_answer in self.answer.codes:
            match = self.catalogue.product_for_code(code_answer.code)
            if match is None:
                code_answer.reasons.append(found(Reason.UNKNOWN_PRODUCT))
            else:
                line = _line_of(match, wanted)
                if line is None:
                    code_answer.reasons.append(
                        found(Reason.WRONG_PRODUCT, f"{match.product['yb_code']}")
                    )
                else:
                    counted[line] += match.units
                    if counted[line] > wanted[line]:
                        code_answer.reasons.append(
                            found(Reason.OVER_ORDER, f"{counted[line]} of {wanted[line]} units")
                        )
            code_answer.colour = colour_of(code_answer.reasons)
        if not self.scan.partial:
            for line, quantity in wanted.items():
                if counted[line] < quantity:
                    self.answer.reasons.append(
                        found(Reason.SHORT_OF_ORDER, f"{line}: {counted[line]} of {quantity}")
                    )

    def _store(self, epcs: list[str]) -> GateDecision:
        return self._keep([scan_event(self._facts(), list(dict.fromkeys(epcs)))])

    def _facts(self) -> EventFacts:
        scan, gate = self.scan, self.gate
        return EventFacts(
            operation=scan.operation,
            scan_ref=self.ref,
            when=gate.when,
            location=self.uris["location"] or "",
            terminal=gate.terminal,
            source=self.uris["source"],
            destination=self.uris["destination"],
            order=self.order,
            prescription=(
                order_uri(self.places.institution, scan.prescription) if scan.prescription else None
            ),
            patient=self.patient,
            department=self.uris["department"],
            operator=scan.operator_id,
            reason=scan.reason,
            quality_failed=scan.quality == "failed",
            back_filled=gate.back_filled,
            lot=scan.lot,
            manufactured=scan.manufactured,
            expires=scan.expires,
            stocktake=scan.stocktake,
            sale=sale_fields(scan),
            documents=documents(self.places.institution, scan.documents),
        )

    def _keep(self, events: list[dict[str, Any]]) -> GateDecision:
        """Store the scan's events and its record."""
        scan, gate = self.scan, self.gate
        prepared = [
            PreparedEvent(i, event, _HASHER.hash_id(event), None, dict(NAMESPACES))
            for i, event in enumerate(events)
        ]
        self.answer.event_ids = [p.hash_id for p in prepared]
        if gate.patient_id is not None and gate.patient is not None:
            _keep_mapping(self.view, gate.patient, self.places.institution, gate.patient_id)
        self.answer.stored = True
        entries: list[Any] = []
        if self.order is not None:
            entries = settlement_entries(
                self.view,
                scan,
                order=self.order,
                institution=self.places.institution,
                ref=self.ref,
                event_hash=prepared[0].hash_id,
                patient=self.patient,
                asked=gate.asks_settlement(),
            )
        record = ScanRecord(
            ref=self.ref,
            institution=self.places.institution,
            scan_id=self.answer.scan_id,
            operation=scan.operation.value,
            keys=[p.key for p in prepared],
            answer=self.answer.as_json(),
            recorded_at=utc_now(),
        )
        return GateDecision(
            self.answer, store=True, events=prepared, entries=[record, *entries], anchor=record.id
        )


def _keep_mapping(view: GroupView, named: str, institution: str, patient_id: str) -> None:
    """Have the writer keep the patient's mapping before the group's transaction, with
    every other mapping of the group in one statement."""
    rows: list[tuple[str, str, str, str]] = view.extras.setdefault("patient mappings", [])
    rows.append((named, institution, patient_id, utc_now()))
    view.before_save.setdefault(
        "patient mappings", lambda: PatientMappings(view.ledger).remember_many(rows)
    )


def _line_of(match: ProductMatch | None, wanted: dict[str, int]) -> str | None:
    if match is None:
        return None
    row = match.product
    for key in (row["yb_code"], row["trace_prefix"], row["gtin"]):
        if key and key in wanted:
            return str(key)
    return None


def _units(match: ProductMatch | None) -> int:
    return 0 if match is None else match.units


def only_owner(data: MasterData, location: str | None) -> str:
    """The institution of a location id, when only one institution has a location of that
    id ("": none or several). The command line scans without an institution."""
    owners = sorted({owner for owner, key in data.locations if key == location})
    return owners[0] if len(owners) == 1 else ""
