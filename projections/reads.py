"""The read use cases every entry point calls: a code's status and hierarchy, stock, a
recall trail. Each takes who asks (:class:`~ledger.access.Principal`), checks that its
role may, and answers from what its institution may see (a regulator's and the command
line's: every institution's).

The HTTP routes (:mod:`adapters.http.reads`) and the command line (``tracecode status``,
``tracecode trail``) render these results; neither queries the read models itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from epcis.identifiers.facts import canonical
from ledger.access import Permission, Principal, require
from projections import hierarchy
from projections.code_status import answer_names, status
from projections.recall_trail import TrailLine, trail
from projections.runner import ReadModelRunner
from projections.stock import StockLine, stock


def code_status(
    runner: ReadModelRunner, who: Principal, code: str, as_of: str | None = None
) -> dict[str, Any] | None:
    """A code's status with ``asOf`` and ``history`` (the Event Hash IDs of every event
    that touched it, in event-time order); None when nothing visible touched it."""
    require(who, Permission.READ_CODES)
    with runner.connect() as conn:
        found = status(conn, code, as_of, who.scope)
        if found is None:
            return None
        lines = trail(conn, code=code, as_of=as_of, scope=who.scope)
    own = [line for line in lines if line.code == found.code]
    body = answer_names(dataclasses.asdict(found))
    body["asOf"] = as_of
    body["history"] = list(own[0].events) if own else []
    return body


def code_hierarchy(
    runner: ReadModelRunner, who: Principal, code: str, as_of: str | None = None
) -> dict[str, Any] | None:
    """The code it is packed in (or made from) and every code inside it, transitively;
    None when nothing visible is recorded about it."""
    require(who, Permission.READ_CODES)
    scope = who.scope
    with runner.connect() as conn:
        parent = hierarchy.parent_of(conn, code, as_of, scope=scope)
        inside = hierarchy.children(conn, code, as_of, transitive=True, scope=scope)
        if parent is None and not inside and status(conn, code, as_of, scope) is None:
            return None
    return {"code": canonical(code), "asOf": as_of, "parent": parent, "children": inside}


def stock_lines(
    runner: ReadModelRunner, who: Principal, location: str | None = None, as_of: str | None = None
) -> list[StockLine]:
    """Stock per location × product × lot (only at ``location`` when given)."""
    require(who, Permission.READ)
    with runner.connect() as conn:
        return stock(conn, location=location, as_of=as_of, scope=who.scope)


def recall_trail(
    runner: ReadModelRunner,
    who: Principal,
    *,
    product: str | None = None,
    lot: str | None = None,
    code: str | None = None,
    as_of: str | None = None,
) -> list[TrailLine]:
    """The recall trail of a lot (``product`` and ``lot``) or of one ``code``."""
    require(who, Permission.READ)
    with runner.connect() as conn:
        return trail(conn, product=product, lot=lot, code=code, as_of=as_of, scope=who.scope)
