"""The read side of stocktake sessions (:mod:`ledger.stocktake`): which scans a count
holds, and the report it closes with.

A session's scans are the stocktake scans whose event carries its id (``tc:stocktake``),
found in the event index (``view_events``: the stored events as shown, with their
extension fields) among the institution's stocktake events since the count was opened; a
cancelled one (error-declared) is not among them. The report is
:func:`projections.reads.reconciliation` of the session's location over the count, with
only those scans found (``counted_by``): a stocktake scan without the session, or another
session's, does not count in it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, select

from ledger.access import Principal, Role
from ledger.master_data import moment
from ledger.stocktake import (
    Counted,
    Reckoner,
    Session,
    StocktakeConflict,
    get_stocktake,
    list_stocktakes,
)
from projections import reads
from projections.event_index import events
from projections.freshness import catch_up
from projections.reconciliation import STOCKTAKE_STEP
from projections.runner import ReadModelRunner
from projections.schema import utc_text

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class SessionScan:
    hash_id: str
    event_time: str
    epcs: tuple[str, ...]


def session_scans(conn: Connection, session: Session) -> list[SessionScan]:
    """The scans of ``session`` the read models hold, in log order (cancelled ones left
    out)."""
    mark = f'"tc:stocktake":{json.dumps(session.id)}'
    rows = conn.execute(
        select(events.c.hash_id, events.c.event_time, events.c.error_declared, events.c.body)
        .where(
            events.c.event_time >= session.opened_at,
            events.c.institution == session.institution,
            events.c.biz_step == STOCKTAKE_STEP,
            events.c.body.contains(mark, autoescape=True),
        )
        .order_by(events.c.position)
    ).all()
    found: dict[str, SessionScan] = {}
    declared: set[str] = set()
    for row in rows:
        event = json.loads(row.body)["event"]
        if event.get("tc:stocktake") != session.id:
            continue
        if row.error_declared:
            declared.add(row.hash_id)
            continue
        found[row.hash_id] = SessionScan(
            row.hash_id, row.event_time, tuple(event.get("epcList") or ())
        )
    return [scan for key, scan in found.items() if key not in declared]


def _progress(conn: Connection, session: Session) -> Session:
    """An open session with its scans and codes so far (a closed one has them stored)."""
    if session.report is not None:
        return session
    scans = session_scans(conn, session)
    codes = {epc for scan in scans for epc in scan.epcs}
    return dataclasses.replace(session, scans=len(scans), codes=len(codes))


def show_stocktake(runner: ReadModelRunner, who: Principal, stocktake_id: str) -> Session:
    """A session (:func:`ledger.stocktake.get_stocktake`), with its progress while open."""
    session = get_stocktake(runner.ledger, who, stocktake_id)
    with runner.connect() as conn:
        return _progress(conn, session)


def stocktake_list(
    runner: ReadModelRunner,
    who: Principal,
    *,
    location: str | None = None,
    state: str | None = None,
    institution: str | None = None,
) -> list[Session]:
    """The sessions ``who`` sees (:func:`ledger.stocktake.list_stocktakes`), each open one
    with its progress."""
    found = list_stocktakes(
        runner.ledger, who, location=location, state=state, institution=institution
    )
    with runner.connect() as conn:
        return [_progress(conn, session) for session in found]


def reckoner(runner: ReadModelRunner) -> Reckoner:
    """What closing a session asks for its report: the read models caught up with the log
    (past the close), then the reconciliation of its location from its opening to its
    close, both included (and to its last scan, if a terminal's clock put one later)."""

    def reckon(session: Session) -> Counted:
        catch_up(runner)
        with runner.connect() as conn:
            scans = session_scans(conn, session)
        last = max([session.closed_at or session.opened_at, *(s.event_time for s in scans)])
        end = utc_text(moment(last) + _TICK)
        # the count reads as a reader of its institution: whoever may close it gets its report
        reader = Principal(f"stocktake {session.id}", Role.READER, session.institution, "stocktake")
        try:
            answer = reads.reconciliation(
                runner,
                reader,
                location=session.location,
                start=session.opened_at,
                end=end,
                institution=session.institution,
                counted_by={scan.hash_id for scan in scans},
            )
        except reads.ReconciliationError as exc:
            raise StocktakeConflict(f"the report cannot be made: {exc}") from None
        codes = {epc for scan in scans for epc in scan.epcs}
        return Counted(answer.as_json(), answer.csv(), len(scans), len(codes))

    return reckon
