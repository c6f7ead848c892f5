"""What every platform's transport must do (:class:`projections.outbox.Transport`), as
abstract test cases each platform's tests subclass, as the store tests subclass
:class:`tests.ledger_contract.LedgerContract`: over real sockets against the platform's
stand-in, a message is taken, taken again as "already received" (the acknowledgement a
crash hid), refused with the platform's reason, or the platform is unreachable — down,
failing, too slow after it committed, cut off, or not there — and then the same message is
taken (or found taken before) when it is sent again with the same id."""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from projections.outbox import Message, Reply, Transport, Unreachable


class TransportContract(ABC):
    """Subclass with the platform's stand-in, transport and a message of it."""

    @abstractmethod
    def standin(self) -> AbstractContextManager[str]:
        """The platform's stand-in running; its base URL."""

    @abstractmethod
    def make(self, url: str | None, timeout: float) -> Transport:
        """A transport sending to ``url`` (None: nowhere)."""

    @abstractmethod
    def message(self, serial: int, *, good: bool = True) -> Message:
        """A message the platform takes (``good``) or refuses, its id made of ``serial``."""

    @abstractmethod
    def taken_before(self, reply: Reply) -> bool:
        """Whether an answer says the message had been taken before."""

    # -- fixtures -----------------------------------------------------------------------

    @pytest.fixture(scope="class")
    def stand(self) -> Iterator[str]:
        with self.standin() as url:
            yield url

    @pytest.fixture
    def url(self, stand: str) -> Iterator[str]:
        with httpx.Client() as http:
            http.delete(stand + "/messages").raise_for_status()
            http.post(stand + "/faults", json={}).raise_for_status()
        yield stand

    @pytest.fixture
    def transport(self, url: str) -> Iterator[Transport]:
        made = self.make(url + "/", 1.0)
        yield made
        made.close()

    def faults(self, url: str, **given: Any) -> None:
        httpx.post(url + "/faults", json=given).raise_for_status()

    # -- the contract ---------------------------------------------------------------------

    def test_taken_then_taken_before(self, transport: Transport, url: str) -> None:
        first = transport.send(self.message(1))
        assert first.taken and first.answer is not None and not self.taken_before(first)
        again = transport.send(self.message(1))
        assert again.taken and self.taken_before(again)
        assert len(httpx.get(url + "/messages").json()) == 2

    def test_refused_with_the_platforms_reason(self, transport: Transport) -> None:
        reply = transport.send(self.message(2, good=False))
        assert not reply.taken and reply.error and reply.answer is not None

    @pytest.mark.parametrize(
        "fault",
        [{"down_for": 60}, {"error_rate": 1}, {"timeout_after_commit": 1, "hang": 5}],
        ids=["down", "failing", "too-slow"],
    )
    def test_a_platform_not_answering_is_unreachable_then_takes_it(
        self, transport: Transport, url: str, fault: dict[str, Any]
    ) -> None:
        self.faults(url, **fault)
        with pytest.raises(Unreachable):
            transport.send(self.message(3))
        self.faults(url)
        reply = transport.send(self.message(3))
        assert reply.taken
        assert self.taken_before(reply) == ("timeout_after_commit" in fault)

    def test_a_cut_connection_and_no_server_are_unreachable(
        self, transport: Transport, url: str
    ) -> None:
        self.faults(url, drop_responses=1)
        with pytest.raises(Unreachable):
            transport.send(self.message(4))
        assert self.taken_before(transport.send(self.message(4)))
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            nobody = f"http://127.0.0.1:{free.getsockname()[1]}/"
        gone = self.make(nobody, 1.0)
        try:
            with pytest.raises(Unreachable):
                gone.send(self.message(5))
        finally:
            gone.close()

    def test_without_an_endpoint_it_is_not_configured(self) -> None:
        nowhere = self.make(None, 1.0)
        try:
            assert not nowhere.configured()
        finally:
            nowhere.close()
