"""The webhook adapter passes the outbound contract (:mod:`tests.outbound_contract`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from adapters.webhooks import DestinationPolicy, WebhookDelivery
from ledger.application import Ledger
from ledger.named_queries import NamedQueries
from ledger.subscriptions import SubscriptionInfo, Subscriptions
from projections.runner import ReadModelRunner
from tests.outbound_contract import OutboundContract
from tests.test_subscriptions import SECRET, Receiver

SUBSCRIPTION = "every-event"


class TestWebhooks(OutboundContract):
    @pytest.fixture(autouse=True)
    def _receiver(self) -> Iterator[None]:
        self.receiver = Receiver()
        yield
        self.receiver.close()

    def make(
        self, ledger: Ledger, runner: ReadModelRunner, clock: Callable[[], datetime]
    ) -> WebhookDelivery:
        if NamedQueries(ledger).get("all") is None:
            NamedQueries(ledger).define("all", {}, "2026-01-01T00:00:00Z")
            info = SubscriptionInfo(
                SUBSCRIPTION, "all", self.receiver.url, SECRET, True, None, False, None, 0, "x"
            )
            Subscriptions(ledger).create(info)
        policy = DestinationPolicy.from_entries(["127.0.0.1"])
        return WebhookDelivery(
            ledger, runner, clock=clock, policy=policy, base_backoff=60, max_backoff=600
        )

    def received(self) -> list[int]:
        return self.receiver.serials()

    def fail_next(self, count: int) -> None:
        self.receiver.fail_next = count

    def key(self) -> str:
        return SUBSCRIPTION


def test_positions_kept_before_the_outbound_table_are_taken_over(
    ledger: Ledger, runner: ReadModelRunner
) -> None:
    from sqlalchemy import inspect, text

    with runner.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE view_subscription_positions (subscription_id VARCHAR(100) "
                "PRIMARY KEY, position BIGINT NOT NULL, failures INTEGER NOT NULL, "
                "next_attempt VARCHAR(32), last_notified VARCHAR(32), last_run VARCHAR(32))"
            )
        )
        conn.execute(
            text(
                "INSERT INTO view_subscription_positions VALUES "
                "('old-one', 41, 2, NULL, '2026-01-02T00:00:00+00:00', NULL)"
            )
        )
    WebhookDelivery(ledger, runner, policy=DestinationPolicy()).close()
    from projections.outbound import Positions

    taken = Positions(runner, "webhooks").load("old-one")
    assert (taken.position, taken.failures) == (41, 2)
    assert taken.last_delivered == "2026-01-02T00:00:00+00:00"
    with runner.engine.connect() as conn:
        assert "view_subscription_positions" not in inspect(conn).get_table_names()
