"""Recall trail: a lot or one code → every code it covers → every event → where it is now.

* From a **lot** (``product`` + ``lot``; ``product`` alone: every lot of it): every
  instance-level code with a fact naming that product and lot (lot-level EPC classes are
  not codes of the trail), plus everything made from or packed in them, transitively.
* From a **code**: the code and, when it is a container (or was split), every code inside
  it / made from it, transitively (:func:`projections.hierarchy.contents`).

Each :class:`TrailLine` has the hash ids of every event that touched the code, in
``(eventTime, position)`` order (error-declared events included: this is an audit trail;
the status ignores them), and its status (:func:`projections.code_status.statuses`):
state, hospital state (``hospitalState`` in answers), location, destination, holder,
parent. ``via`` is the lot member or container through which a code was reached (None
for the lot's own codes and the code asked for).
``as_of`` works as for :func:`~projections.code_status.status`: only facts and links
recorded up to that record time. Without it the statuses are read from
``view_code_state`` (kept with the facts) rather than folded from every fact.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, select

from epcis.identifiers.facts import canonical
from projections.bulk import select_in
from projections.code_status import (
    HOSPITAL_STATE,
    CodeStatus,
    Folding,
    answer_names,
    effective_facts,
    fold_groups,
    seen_by,
)
from projections.hierarchy import contents, parents_of
from projections.schema import code_facts, code_state, keyed_eq, utc_text
from projections.stock import is_instance


@dataclass(frozen=True)
class TrailLine:
    code: str
    via: str | None
    product: str | None
    lot: str | None
    expiry: str | None
    state: str | None
    hospital_state: str | None
    location: str | None
    destination: str | None
    holder: str | None
    parent: str | None
    events: tuple[str, ...]

    def row(self) -> dict[str, Any]:
        """The line under the names answers give its fields (JSON, CSV header)."""
        return answer_names(dataclasses.asdict(self))


CSV_HEADER = (
    "code",
    "via",
    "product",
    "lot",
    "expiry",
    "state",
    HOSPITAL_STATE,
    "location",
    "destination",
    "holder",
    "parent",
    "events",
)


def trail(
    conn: Connection,
    *,
    product: str | None = None,
    lot: str | None = None,
    code: str | None = None,
    as_of: str | datetime | None = None,
    scope: str | None = None,
) -> list[TrailLine]:
    """The trail of a lot (``product`` [+ ``lot``]) or of one ``code``, sorted by code;
    from what the institution ``scope`` captured only, when given (a regulator's trail,
    None, crosses institutions)."""
    if (code is None) == (product is None):
        raise ValueError("give either a code or a product (and lot)")
    recorded: list[ColumnElement[bool]] = []
    if as_of is not None:
        recorded.append(code_facts.c.record_time <= utc_text(as_of))
    recorded += seen_by(scope)
    if code is not None:
        roots = [canonical(code)]
    else:
        conds = [keyed_eq(code_facts.c.product, product or ""), *recorded]
        if lot is not None:
            conds.append(keyed_eq(code_facts.c.lot, lot))
        found = conn.execute(select(code_facts.c.code).where(*conds).distinct()).scalars()
        roots = sorted(c for c in found if is_instance(c))
    via: dict[str, str | None] = dict.fromkeys(roots)
    for root, inside in contents(conn, roots, as_of=as_of, scope=scope).items():
        for child in inside:
            via.setdefault(child, root)
    if not via:
        return []
    members = sorted(via)
    groups = effective_facts(conn, members, as_of=as_of, scope=scope)
    events = {c: list(dict.fromkeys(r.hash_id for r in groups.get(c, ()))) for c in members}
    found_status = (
        fold_groups(conn, groups, as_of, parents=True, scope=scope)
        if as_of is not None
        else current_statuses(conn, members, scope)
    )
    lines = []
    for member in members:
        s = found_status.get(member)
        lines.append(
            TrailLine(
                code=member,
                via=via[member],
                product=s.product if s else None,
                lot=s.lot if s else None,
                expiry=s.expiry if s else None,
                state=s.state if s else None,
                hospital_state=s.hospital_state if s else None,
                location=s.location if s else None,
                destination=s.destination if s else None,
                holder=s.holder if s else None,
                parent=s.parent if s else None,
                events=tuple(events[member]),
            )
        )
    return lines


def current_statuses(
    conn: Connection, codes: Sequence[str], scope: str | None = None
) -> dict[str, CodeStatus]:
    """:func:`projections.code_status.statuses` of ``codes`` now (with parents), read from
    ``view_code_state`` (the rows of the institution ``scope``, or everyone's) instead of
    folding their facts."""
    parent = parents_of(conn, codes, scope=scope)
    kept = code_state.c.scope == (scope or "")
    out: dict[str, CodeStatus] = {}
    for row in select_in(
        conn, lambda cond: select(code_state).where(kept, cond), code_state.c.code, sorted(codes)
    ):
        if not row.last_event:  # every fact of the code was withdrawn: no status
            continue
        out[row.code] = Folding.of_state(row).status(row.code, parent.get(row.code))
    return out


def trail_csv(lines: Sequence[TrailLine]) -> str:
    """The trail as CSV: a header row, then one row per code (events space-separated)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for line in lines:
        row = line.row()
        values = [row[name] for name in CSV_HEADER[:-1]]
        writer.writerow([*("" if v is None else v for v in values), " ".join(line.events)])
    return out.getvalue()
