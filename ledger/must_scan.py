"""Must-scan decisions: for a product at a location and an order's quantity, must it be
scanned, whole pack or split, and how many codes the terminal should expect.

The institution's rules (:mod:`ledger.must_scan_book`) are tried in order; the first whose
``when`` matches decides what its ``then`` says, and what it leaves out comes from master
data: ``must_scan`` from the product's must-scan flag (the national must-scan list),
``mode`` ``split`` when the product is split-dispensed (拆零), else ``whole``. No rule
matching: master data alone decides. Expected codes: none when it need not be scanned;
``ceil(quantity / units per box)`` box codes when whole; 0 when split (the code pool
allocates the units from pre-scanned boxes; which boxes it touches is the pool's answer).

:func:`rule_reasons` is what a scan asks (:mod:`ledger.scan_gate`): per line of the order,
the codes scanned against the codes expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ledger.access import Forbidden, Permission, Principal
from ledger.application import Ledger
from ledger.gate import GroupView
from ledger.master_data import MasterData, master_data
from ledger.master_data_import import MasterDataRefused
from ledger.master_data_rows import level_rank
from ledger.must_scan_book import rule_books, writer_books
from ledger.product_lookup import Catalogue
from ledger.scan_request import Operation, Scan
from ledger.scan_rules import Found, Reason, found

FLAGS = ("must_scan", "split", "preparation")


class DecideInvalid(ValueError):
    """A decision asked of what master data does not know: names the parameter."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter}: {message}")


@dataclass(frozen=True)
class ProductFacts:
    """What rules match on, of one product (every packaging level of its 医保 code)."""

    yb_code: str
    keys: frozenset[str]
    """Its 医保 code, trace prefixes and GTINs."""
    flags: dict[str, bool]
    form: str
    units_per_box: int


@dataclass(frozen=True)
class PlaceFacts:
    """A location and every location it is within (ids and kinds)."""

    ids: tuple[str, ...]
    kinds: frozenset[str]


@dataclass
class Decision:
    product: str
    location: str
    quantity: int | None
    must_scan: bool
    mode: str
    expected_codes: int | None
    units_per_box: int
    rule: dict[str, Any] | None
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "location": self.location,
            "quantity": self.quantity,
            "mustScan": self.must_scan,
            "mode": self.mode,
            "expectedCodes": self.expected_codes,
            "unitsPerBox": self.units_per_box,
            "rule": self.rule,
            "reasons": self.reasons,
        }


def product_facts(data: MasterData, institution: str, wanted: str) -> ProductFacts | None:
    """The product ``wanted`` names (医保 code, trace prefix or GTIN of any level)."""
    mine = [row for (owner, _), row in data.products.items() if owner == institution]
    named = {
        str(row["yb_code"])
        for row in mine
        if wanted in (row["yb_code"], row["trace_prefix"], row["gtin"])
    }
    if len(named) != 1:
        return None
    yb_code = named.pop()
    rows = sorted(
        (row for row in mine if row["yb_code"] == yb_code), key=lambda r: level_rank(r["level"])
    )
    keys = {yb_code} | {str(r[k]) for r in rows for k in ("trace_prefix", "gtin") if r[k]}
    boxes = [r for r in rows if r["level"] == "box"] or [r for r in rows if r["units"] > 1] or rows
    return ProductFacts(
        yb_code,
        frozenset(keys),
        {flag: any(bool(r.get(flag)) for r in rows) for flag in FLAGS},
        next((str(r["form"]) for r in reversed(rows) if r.get("form")), ""),
        int(boxes[0]["units"]),
    )


def place_facts(data: MasterData, institution: str, location: str) -> PlaceFacts | None:
    rows = {key: row for (owner, key), row in data.locations.items() if owner == institution}
    if location not in rows:
        return None
    ids: list[str] = []
    current: str | None = location
    while current and current in rows and current not in ids:
        ids.append(current)
        current = rows[current].get("parent") or None
    return PlaceFacts(tuple(ids), frozenset(rows[i]["kind"] for i in ids))


def _matches(
    when: dict[str, Any], product: ProductFacts, place: PlaceFacts, quantity: int | None
) -> bool:
    for name, wanted in when.items():
        if name in FLAGS:
            ok = product.flags[name] == wanted
        elif name == "product":
            ok = bool(product.keys & set(wanted))
        elif name == "form":
            ok = product.form in wanted
        elif name == "location":
            ok = bool(set(place.ids) & set(wanted))
        elif name == "location_kind":
            ok = bool(place.kinds & set(wanted))
        elif name == "min_quantity":
            ok = quantity is not None and quantity >= wanted
        else:  # max_quantity
            ok = quantity is not None and quantity <= wanted
        if not ok:
            return False
    return True


def decide_for(
    rules: list[dict[str, Any]],
    product: ProductFacts,
    place: PlaceFacts,
    quantity: int | None,
) -> Decision:
    """The first matching rule's decision, master data filling in what it leaves out."""
    matched: dict[str, Any] | None = None
    for index, rule in enumerate(rules):
        if _matches(rule.get("when", {}), product, place, quantity):
            matched = {"index": index, **rule}
            break
    then = matched["then"] if matched is not None else {}
    reasons: list[str] = []
    if matched is not None:
        reasons.append(f"rule {matched['index'] + 1} {matched['name']!r} matched")
    else:
        reasons.append("no rule matched: master data decides")
    must_scan = then.get("must_scan", product.flags["must_scan"])
    if "must_scan" not in then:
        listed = "on" if must_scan else "not on"
        reasons.append(f"{product.yb_code} is {listed} the must-scan list (master data)")
    mode = then.get("mode", "split" if product.flags["split"] else "whole")
    if "mode" not in then:
        reasons.append(f"{product.yb_code} is {'' if mode == 'split' else 'not '}split-dispensed")
    expected: int | None
    if not must_scan:
        expected = 0
        reasons.append("not scanned: no codes expected")
    elif quantity is None:
        expected = None
        reasons.append("no quantity: the codes expected are not known")
    elif mode == "split":
        expected = 0
        reasons.append("split: the code pool allocates the units from pre-scanned boxes")
    else:
        expected = math.ceil(quantity / product.units_per_box)
        reasons.append(f"whole packs: {quantity} units in boxes of {product.units_per_box}")
    return Decision(
        product.yb_code,
        place.ids[0],
        quantity,
        must_scan,
        mode,
        expected,
        product.units_per_box,
        matched,
        reasons,
    )


def decide(
    rules: list[dict[str, Any]],
    data: MasterData,
    institution: str,
    product: str,
    location: str,
    quantity: int | None = None,
) -> Decision:
    """The decision for ``product`` at ``location``; :class:`DecideInvalid` naming the
    parameter master data does not know."""
    facts = product_facts(data, institution, product)
    if facts is None:
        raise DecideInvalid(
            "product", f"{product!r} is not a product in the master data of {institution}"
        )
    place = place_facts(data, institution, location)
    if place is None:
        raise DecideInvalid(
            "location", f"{location!r} is not a location in the master data of {institution}"
        )
    return decide_for(rules, facts, place, quantity)


SCANNED_LINES = (Operation.BIND, Operation.PICK)
"""Operations whose ``product`` + ``quantity`` is an order line (others need ``expected``)."""


def rule_reasons(
    scan: Scan,
    rules: list[dict[str, Any]] | None,
    data: MasterData,
    institution: str,
    codes: list[str],
    on_order: Iterable[str] = (),
) -> list[Found]:
    """A scan's codes per order line against the codes the rules expect: ``short_of_codes``
    (yellow; not when ``partial``), ``over_codes`` (red). ``codes``: the scan's, canonical;
    ``on_order``: those already bound to its order (they count too). Nothing without rules,
    and nothing for a line that need not be scanned or is split (the pool's)."""
    if not rules:
        return []
    lines = [(line.product, line.quantity) for line in scan.expected or ()]
    if not lines and scan.product and scan.quantity and scan.operation in SCANNED_LINES:
        lines = [(scan.product, scan.quantity)]
    place = place_facts(data, institution, scan.location or "")
    if not lines or place is None:
        return []
    catalogue = Catalogue(data, institution)
    counted = list(dict.fromkeys([*codes, *on_order]))
    reasons: list[Found] = []
    for wanted, quantity in lines:
        product = product_facts(data, institution, wanted)
        if product is None:
            continue
        decision = decide_for(rules, product, place, quantity)
        if not decision.must_scan or decision.mode != "whole" or not decision.expected_codes:
            continue
        boxes = 0
        for code in counted:
            match = catalogue.product_for_code(code)
            if match is not None and match.product["yb_code"] == product.yb_code:
                boxes += max(1, match.units // product.units_per_box)
        detail = f"{wanted}: {boxes} of {decision.expected_codes} codes"
        rule = decision.rule["name"] if decision.rule else "master data"
        if boxes > decision.expected_codes:
            reasons.append(found(Reason.OVER_CODES, f"{detail}, {rule}"))
        elif boxes < decision.expected_codes and not scan.partial:
            reasons.append(found(Reason.SHORT_OF_CODES, f"{detail}, {rule}"))
    return reasons


def must_scan_reasons(
    view: GroupView, data: MasterData, institution: str, scan: Scan, order: str | None
) -> list[Found]:
    """:func:`rule_reasons` in the writer: the institution's rules as the writer follows
    them, the codes the scan's answer holds so far, and those already bound to its order."""
    book = writer_books(view).books.get(institution)
    codes = [scanned.canonical for scanned in scan.codes]
    on_order = view.library.order_codes(order) if order else set()
    rules = None if book is None else book.rules
    return rule_reasons(scan, rules, data, institution, codes, on_order)


def asked_decision(
    ledger: Ledger,
    who: Principal,
    product: str,
    location: str,
    quantity: int | None = None,
    as_of: str | None = None,
    institution: str | None = None,
) -> Decision:
    """The decision ``who`` asks for (a reader, or a terminal about to scan), from the rules
    and master data of its institution (``institution``: a regulator's or the command
    line's choice) as recorded up to ``as_of``; :class:`DecideInvalid` naming the
    parameter, :class:`~ledger.access.Forbidden`, ``MasterDataRefused`` for another
    institution's."""
    if not (who.may(Permission.READ) or who.may(Permission.SCAN)):
        raise Forbidden(who, Permission.READ)
    owner = institution or who.institution
    if who.scope is not None and owner != who.scope:
        raise MasterDataRefused(f"{who.subject} reads the rules of {who.scope} only")
    if not owner:
        raise DecideInvalid("institution", "name the institution whose rules decide")
    book = rule_books(ledger, as_of).get(owner)
    data = master_data(ledger, [owner], as_of)
    return decide([] if book is None else book.rules, data, owner, product, location, quantity)
