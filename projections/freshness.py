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

from ledger.application import Ledger
from projections.runner import ProjectionRunner


def reached(ledger: Ledger, runner: ProjectionRunner) -> int:
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
