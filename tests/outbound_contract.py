"""What every outbound adapter must do (webhooks now; the 医保 and Beijing messages next),
as abstract test cases each adapter's tests subclass, as the store tests subclass
:class:`tests.ledger_contract.LedgerContract`.

An adapter follows the log from a durable position per destination: it delivers every event
after that position once, in log order; a destination that fails keeps its position and is
tried again only after a pause; a new adapter over the same store (a restart) goes on from
the stored position. What a destination received is told by :meth:`received` (the serials
of ``tests.ledger_contract.event``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ledger.application import Ledger
from ledger.capture import prepare
from projections.outbound import Outbound, Positions
from projections.runner import ReadModelRunner
from tests.ledger_contract import document, event


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class OutboundContract(ABC):
    """Subclass with a fixture-free way to make the adapter and to watch its destination."""

    @abstractmethod
    def make(
        self, ledger: Ledger, runner: ReadModelRunner, clock: Callable[[], datetime]
    ) -> Outbound:
        """The adapter, with one destination that takes every event (set up here)."""

    @abstractmethod
    def received(self) -> list[int]:
        """The serials the destination has taken, in the order it took them."""

    @abstractmethod
    def fail_next(self, count: int) -> None:
        """Make the destination refuse the next ``count`` deliveries."""

    def capture(self, ledger: Ledger, runner: ReadModelRunner, *serials: int) -> None:
        assert ledger.capture(prepare(document(*(event(s) for s in serials)))).success
        runner.run_until_caught_up()

    def test_every_event_is_delivered_once_in_log_order(
        self, ledger: Ledger, runner: ReadModelRunner
    ) -> None:
        outbound = self.make(ledger, runner, Clock())
        try:
            self.capture(ledger, runner, 1, 2)
            self.capture(ledger, runner, 3)
            assert outbound.deliver() >= 1
            assert self.received() == [1, 2, 3]
            assert outbound.deliver() == 0  # nothing new: nothing sent again
            self.capture(ledger, runner, 4)
            outbound.deliver()
            assert self.received() == [1, 2, 3, 4]
        finally:
            outbound.close()

    def test_a_failing_destination_keeps_its_position_and_backs_off(
        self, ledger: Ledger, runner: ReadModelRunner
    ) -> None:
        clock = Clock()
        outbound = self.make(ledger, runner, clock)
        try:
            self.capture(ledger, runner, 1)
            self.fail_next(2)
            assert outbound.deliver() == 0
            assert outbound.deliver() == 0  # too early: not even tried
            assert self.received() == []
            clock.advance(3600)
            assert outbound.deliver() == 0  # tried again: refused again
            clock.advance(3600)
            assert outbound.deliver() == 1
            assert self.received() == [1]
        finally:
            outbound.close()

    def test_a_restart_goes_on_from_the_stored_position(
        self, ledger: Ledger, runner: ReadModelRunner
    ) -> None:
        first = self.make(ledger, runner, Clock())
        self.capture(ledger, runner, 1)
        first.deliver()
        first.close()
        self.capture(ledger, runner, 2)
        again = self.make(ledger, runner, Clock())
        try:
            again.deliver()
            assert self.received() == [1, 2]
            assert Positions(runner, again.name).load(self.key()).position == ledger.head[0]
        finally:
            again.close()

    @abstractmethod
    def key(self) -> str:
        """The destination's key in the outbound positions."""
