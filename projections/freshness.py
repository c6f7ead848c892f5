"""How far the read models are: the *log position* they reflect.

A log position is a notification id of the ledger's log (what ``view_tracking`` holds).
The log holds more than the stored events (capture jobs, the chain head, eventID claims),
and the runner only follows the stored events, so its tracking row stops at the last event
it applied even when the log goes further. The position the views *reflect* is therefore
the largest ``P`` such that every stored event at or before ``P`` is applied: a capture
answered with position ``N`` (its job's notification id, after all of its events) is in
the views once ``reached(...) >= N``.
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy.exc import IntegrityError

from ledger.application import Ledger
from projections.runner import ConcurrentRunError, ReadModelRunner

_CATCH_UP_ATTEMPTS = 3


def reached(ledger: Ledger, runner: ReadModelRunner) -> int:
    """The log position the runner's views reflect now (0: nothing yet).

    The log's end is read first: everything at or before it was committed then (the
    PostgreSQL recorder inserts under a table lock, SQLite has one writer), so when no
    stored event lies between the tracking row and that end, the views reflect the end.
    """
    end = ledger.log_position()
    applied = runner.position()
    pending = ledger.first_record_after(applied, up_to=end)
    if pending is not None:
        return pending - 1
    return max(end, applied)


_LOST_RACE = (ConcurrentRunError, IntegrityError, psycopg.IntegrityError, sqlite3.IntegrityError)
"""What the loser of two runners applying one batch gets: the tracking row moved, or (first
batch, no tracking row to lock yet) the other's view rows or tracking row were there first;
through SQLAlchemy, or from the driver when a projection writes with it (``COPY``)."""


def catch_up(runner: ReadModelRunner) -> None:
    """Apply what the log holds beyond the views. The background runner may be applying
    the same batch: then one of the two loses (and retries, finding nothing left)."""
    for attempt in range(_CATCH_UP_ATTEMPTS):
        try:
            runner.run_until_caught_up()
            return
        except _LOST_RACE:
            if attempt == _CATCH_UP_ATTEMPTS - 1:
                raise


def advance(ledger: Ledger, runner: ReadModelRunner, known: int = 0) -> int:
    """The log position the views reflect, after catching them up with the log's end as it
    is now when stored events lie beyond them (``known``: a position already reached)."""
    end = ledger.log_position()
    if known >= end:
        return known
    now = reached(ledger, runner)
    if now >= end:
        return now
    catch_up(runner)
    return end  # everything up to the end read above is applied now
