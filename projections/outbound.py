"""Following the log outward: the one small interface every outbound adapter implements
(webhooks now; the 医保 and Beijing messages next), the durable position each keeps per
destination, and the retry they share.

An outbound adapter is an :class:`Outbound`: :meth:`~Outbound.deliver` does one round —
for each of its destinations, what the log holds after that destination's
:class:`Position`, sent in order; the position moves on only once the destination took it
(at least once: a receiver deduplicates), and a failure is retried after a pause that
doubles each time, with jitter (:meth:`Position.failed`). :class:`Following` runs the
outbound adapters on one thread of the server. Positions are kept in
``view_outbound_positions`` of the read models' database: operational state, outside the
tamper-evidence chain (a changed position re-sends or skips messages but changes no answer).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import BigInteger, Column, Connection, Integer, MetaData, String, Table, select

from projections.runner import ReadModelRunner

log = logging.getLogger("tracecode.outbound")

metadata = MetaData()
"""Apart from the views' metadata: positions are not rebuilt from the log, so a new view
schema (which drops and projects the views again) must not drop them."""
positions = Table(
    "view_outbound_positions",
    metadata,
    Column("outbound", String(40), primary_key=True),  # webhooks, nhsa, beijing…
    Column("key", String(200), primary_key=True),  # a subscription, an institution…
    Column("position", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("next_attempt", String(32)),
    Column("last_delivered", String(32)),
    Column("last_run", String(32)),
)


@dataclass
class Position:
    """How far one destination of an outbound adapter has been delivered, and its retry."""

    position: int
    """The log position (the event index's) delivered up to."""
    failures: int = 0
    """Failed attempts since the last success."""
    next_attempt: str | None = None
    """No attempt before this time (ISO 8601), after a failure."""
    last_delivered: str | None = None
    last_run: str | None = None
    """A scheduled delivery's last run."""

    def due(self, now: datetime) -> bool:
        return self.next_attempt is None or datetime.fromisoformat(self.next_attempt) <= now

    def delivered(self, now: datetime) -> None:
        self.failures = 0
        self.next_attempt = None
        self.last_delivered = now.isoformat()

    def failed(self, now: datetime, base: float, most: float) -> float:
        """Count a failure; the pause before the next attempt (``base`` doubled per failure
        in a row, at most ``most``, with jitter so that many do not retry at once)."""
        self.failures += 1
        pause = min(most, base * 2.0 ** (self.failures - 1)) * random.uniform(0.5, 1.0)
        self.next_attempt = (now + timedelta(seconds=pause)).isoformat()
        return pause


class Positions:
    """The durable :class:`Position` of each destination of one outbound adapter."""

    def __init__(self, runner: ReadModelRunner, outbound: str) -> None:
        self.runner = runner
        self.outbound = outbound
        metadata.create_all(runner.engine, tables=[positions], checkfirst=True)

    def load(self, key: str, start: int = 0) -> Position:
        """The position of ``key`` (``start`` when it has none yet)."""
        with self.runner.connect() as conn:
            row = conn.execute(select(positions).where(*self._of(key))).first()
        if row is None:
            return Position(start)
        return Position(
            int(row.position), int(row.failures), row.next_attempt, row.last_delivered, row.last_run
        )

    def save(self, key: str, position: Position) -> None:
        values = {
            "position": position.position,
            "failures": position.failures,
            "next_attempt": position.next_attempt,
            "last_delivered": position.last_delivered,
            "last_run": position.last_run,
        }
        with self.runner.engine.begin() as conn:
            self._upsert(conn, key, values)

    def last_delivered(self, key: str) -> str | None:
        with self.runner.connect() as conn:
            value = conn.execute(select(positions.c.last_delivered).where(*self._of(key))).scalar()
        return str(value) if value is not None else None

    def _of(self, key: str) -> tuple[Any, ...]:
        return (positions.c.outbound == self.outbound, positions.c.key == key)

    def _upsert(self, conn: Connection, key: str, values: Mapping[str, Any]) -> None:
        moved = conn.execute(positions.update().where(*self._of(key)).values(**values))
        if moved.rowcount == 0:
            conn.execute(positions.insert().values(outbound=self.outbound, key=key, **values))


class Outbound(Protocol):
    """What tracecode drives by following the log."""

    name: str

    def deliver(self) -> int:
        """One round over the destinations: send what is due (new since each position, or
        a retry whose pause is over); how many messages the destinations took."""
        ...

    def close(self) -> None:
        """Release connections (after the last round)."""
        ...


class Following:
    """Runs outbound adapters on one thread: a round of each every ``interval`` seconds."""

    def __init__(self, outbounds: Sequence[Outbound], interval: float) -> None:
        self.outbounds = list(outbounds)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="outbound", daemon=True)

    def start(self) -> Following:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for outbound in self.outbounds:
            outbound.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for outbound in self.outbounds:
                try:
                    outbound.deliver()
                except Exception:  # keep following; the positions did not move
                    log.exception("%s: delivery failed; retrying", outbound.name)
            self._stop.wait(self.interval)
