"""The split-unit pool as the read side sees it: per box pre-scanned at a location, how many
of its units are left, how many are bound (per patient pseudonym and per order), and its
expiry — as of any time.

Units are the outputs of repackaging TransformationEvents (a pre-scan: the box in, its
sub-codes ``…:unit:n`` out), so each unit's fact row names its box as ``parent``; their
statuses are folded as every status is (:func:`projections.code_status.statuses`); a bound
unit's status keeps the order its bind named (``order``: the bind event's order
bizTransaction, ``urn:tracecode:order:<institution>:<order>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select

from epcis.identifiers.cn_drug_code import UNIT_MARK
from projections.code_status import statuses
from projections.schema import code_facts, utc_text, visible_to


@dataclass
class PoolBox:
    """One pre-scanned box: its units left in the pool here, bound (to whom: pseudonyms;
    for which order: its bizTransaction), and gone otherwise (consumed, destroyed, moved)."""

    box: str
    product: str | None
    lot: str | None
    expiry: str | None
    units: int
    left: int = 0
    bound: int = 0
    bound_to: dict[str, int] = field(default_factory=dict)
    bound_to_order: dict[str, int] = field(default_factory=dict)


def pool(
    conn: Connection,
    *,
    location: str,
    products: Sequence[str] | None = None,
    as_of: str | datetime | None = None,
    scope: str | None = None,
) -> list[PoolBox]:
    """The boxes pre-scanned at ``location`` (a URI) whose product (trace prefix or GTIN)
    is one of ``products`` (all when None), first expiry first."""
    query = select(code_facts.c.code, code_facts.c.parent).where(
        code_facts.c.role == "output",
        code_facts.c.biz_step == "repackaging",
        code_facts.c.biz_location == location,
        code_facts.c.parent.is_not(None),
    )
    if as_of is not None:
        query = query.where(code_facts.c.record_time <= utc_text(as_of))
    if scope is not None:
        query = query.where(visible_to(code_facts, scope))
    boxes: dict[str, list[str]] = {}
    for code, parent in conn.execute(query):
        if UNIT_MARK in code:
            boxes.setdefault(str(parent), []).append(str(code))
    if not boxes:
        return []
    found = statuses(
        conn, [*boxes, *(u for units in boxes.values() for u in units)], as_of, scope=scope
    )
    out = []
    for box, units in boxes.items():
        status = found.get(box)
        product = status.product if status is not None else None
        if products is not None and not (product or "").startswith(tuple(products)):
            continue
        line = PoolBox(
            box,
            product,
            status.lot if status is not None else None,
            status.expiry if status is not None else None,
            len(set(units)),
        )
        for unit in set(units):
            unit_status = found.get(unit)
            if unit_status is None:
                continue
            if unit_status.hospital_state == "in_stock" and unit_status.location == location:
                line.left += 1
            elif unit_status.hospital_state == "bound":
                line.bound += 1
                holder, order = unit_status.holder or "", unit_status.order or ""
                line.bound_to[holder] = line.bound_to.get(holder, 0) + 1
                line.bound_to_order[order] = line.bound_to_order.get(order, 0) + 1
        out.append(line)
    return sorted(out, key=lambda b: (b.expiry or "9999-12-31", b.box))
