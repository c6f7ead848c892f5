"""Delivering subscriptions to their webhooks: at least once, in order, across restarts.

:class:`WebhookDelivery` is an outbound adapter (:class:`projections.outbound.Outbound`),
run by the server's :class:`~projections.outbound.Following` thread. For each live
subscription it reads the named query's matches in the event index after the subscription's
durable :class:`~projections.outbound.Position`, POSTs them as an EPCISQueryDocument to
``dest``, and moves the position on only after a 2xx answer. A callback that fails
(network error or any other status) is retried after a pause that doubles each time, with
jitter, up to ``max_backoff``; nothing is skipped, and a restart resumes from the stored
position, so every matching event is delivered at least once (a callback that succeeded
but whose answer was lost is sent again: receivers deduplicate by eventID).

Each callback carries ``GS1-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact body
bytes under the subscription's secret; a receiver recomputes it and compares in constant
time. Stream subscriptions send as events arrive (at most ``batch`` events a callback);
scheduled ones send what matched since the last run, at each time the schedule matches
(also when nothing matched if ``reportIfEmpty``).

Each callback goes only where the destination policy allows
(:mod:`adapters.webhooks.destinations`): the connection pool's network backend resolves the
host once, checks every address and connects to the checked addresses. A refused callback
counts as a failure (retried with backoff, the position does not move) and is logged with
the reason. Redirects are not followed; proxies from the environment are not used.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import httpcore
import httpx
from sqlalchemy import MetaData, Table, inspect, select

from adapters.webhooks.destinations import CheckedBackend, DestinationPolicy, ForbiddenDestination
from epcis.document import convert
from epcis.query import Query
from epcis.query.document import query_document
from epcis.query.schedule import parse_schedule
from ledger.application import Ledger
from ledger.subscriptions import (
    SubscriptionInfo,
    Subscriptions,
    redact_dest,
    subscription_query,
)
from projections.event_query import Found, events_after
from projections.outbound import Position, Positions, positions
from projections.runner import ReadModelRunner

log = logging.getLogger("tracecode.webhooks")

SIGNATURE_HEADER = "GS1-Signature"
_HTTP_ERRORS = (
    httpcore.NetworkError,
    httpcore.TimeoutException,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)

OLD_POSITIONS = "view_subscription_positions"
"""Where positions were kept before :mod:`projections.outbound` (taken over once)."""


def sign(secret: str, body: bytes) -> str:
    """The ``GS1-Signature`` value of a callback body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _env_seconds(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


class WebhookDelivery:
    """The webhooks of subscriptions, an :class:`~projections.outbound.Outbound`.

    Settings (environment): ``TRACECODE_WEBHOOK_POLL_SECONDS`` (0.5), how often to look
    for new matches; ``TRACECODE_WEBHOOK_BACKOFF_SECONDS`` (1), the first pause after a
    failed callback; ``TRACECODE_WEBHOOK_MAX_BACKOFF_SECONDS`` (300), the longest;
    ``TRACECODE_WEBHOOK_ALLOW_HOSTS`` (empty), the internal hosts callbacks may go to
    (:class:`~adapters.webhooks.destinations.DestinationPolicy`; or give ``policy``)."""

    def __init__(
        self,
        ledger: Ledger,
        runner: ReadModelRunner,
        *,
        interval: float | None = None,
        batch: int = 100,
        timeout: float = 10.0,
        base_backoff: float | None = None,
        max_backoff: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        policy: DestinationPolicy | None = None,
    ) -> None:
        self.name = "webhooks"
        self.ledger = ledger
        self.runner = runner
        self.interval = interval or _env_seconds("TRACECODE_WEBHOOK_POLL_SECONDS", 0.5)
        self.batch = batch
        self.base_backoff = base_backoff or _env_seconds("TRACECODE_WEBHOOK_BACKOFF_SECONDS", 1.0)
        self.max_backoff = max_backoff or _env_seconds(
            "TRACECODE_WEBHOOK_MAX_BACKOFF_SECONDS", 300.0
        )
        self.clock = clock
        self.policy = policy or DestinationPolicy.from_env()
        self.timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        self.pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            network_backend=CheckedBackend(self.policy),
        )
        self.positions = Positions(runner, self.name)
        _take_over_old_positions(runner, self.name)
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()
        self.pool.close()

    def deliver(self) -> int:
        """One round over the live subscriptions; how many callbacks succeeded."""
        delivered = 0
        for info in Subscriptions(self.ledger).active():
            if info.dest.startswith(("http://", "https://")):
                delivered += self._serve(info)
        return delivered

    # -- one subscription ------------------------------------------------------------------

    def _serve(self, info: SubscriptionInfo) -> int:
        now = self.clock()
        state = self.positions.load(info.subscription_id, info.start_after)
        if not state.due(now):
            return 0
        query = subscription_query(self.ledger, info)
        if query is None:
            return 0
        if info.schedule is not None:
            return self._scheduled(info, query, state, now)
        sent = 0
        while not self._closed.is_set():
            with self.runner.connect() as conn:
                found, upto = events_after(
                    conn, query, state.position, limit=self.batch, scope=info.scope
                )
            if upto == state.position:
                return sent
            if found and not self._post(info, [item for _, item in found], state, now):
                return sent
            sent += bool(found)
            state.position = upto
            self.positions.save(info.subscription_id, state)
        return sent

    def _scheduled(
        self, info: SubscriptionInfo, query: Query, state: Position, now: datetime
    ) -> int:
        schedule = parse_schedule(info.schedule)
        last = datetime.fromisoformat(state.last_run or info.created_at.replace("Z", "+00:00"))
        due = schedule.next_after(last)
        if due is None or due > now:
            return 0
        found: list[Found] = []
        position = state.position
        with self.runner.connect() as conn:
            while True:
                matches, upto = events_after(conn, query, position, limit=1000, scope=info.scope)
                found += [item for _, item in matches]
                if upto == position:
                    break
                position = upto
        if (found or info.report_if_empty) and not self._post(info, found, state, now):
            return 0
        state.position = position
        state.last_run = now.isoformat()
        self.positions.save(info.subscription_id, state)
        return 1 if (found or info.report_if_empty) else 0

    def _post(
        self, info: SubscriptionInfo, found: list[Found], state: Position, now: datetime
    ) -> bool:
        document = query_document(found, info.query_name, subscription_id=info.subscription_id)
        body = convert(document, "json")
        try:
            ok, why = self._send(info, body)
        except ForbiddenDestination as exc:
            ok, why = False, f"refused: {exc}"
        except _HTTP_ERRORS as exc:
            ok, why = False, f"failed: {type(exc).__name__}: {exc}"
        if ok:
            state.delivered(now)
            return True
        pause = state.failed(now, self.base_backoff, self.max_backoff)
        self.positions.save(info.subscription_id, state)
        log.warning(
            "subscription %s: callback to %s %s; retry %d in %.1f s",
            info.subscription_id,
            redact_dest(info.dest),
            why,
            state.failures,
            pause,
        )
        return False

    def _send(self, info: SubscriptionInfo, body: bytes) -> tuple[bool, str]:
        """POST one callback; the policy is checked here (no DNS) and at each connection
        the pool opens (:class:`~adapters.webhooks.destinations.CheckedBackend`)."""
        dest = self.policy.parse(info.dest)
        url = httpcore.URL(
            scheme=dest.scheme.encode(), host=dest.host.encode(), port=dest.port, target=dest.target
        )
        headers = [
            (b"Host", dest.host_header),
            (b"Content-Type", b"application/ld+json"),
            (SIGNATURE_HEADER.encode(), sign(info.secret, body).encode()),
        ]
        with self.pool.stream(  # the answer's body is never read: only its status counts
            "POST", url, headers=headers, content=body, extensions={"timeout": self.timeouts}
        ) as response:
            return 200 <= response.status < 300, f"answered {response.status}"


def _take_over_old_positions(runner: ReadModelRunner, outbound: str) -> None:
    """Move the positions a ledger kept in ``view_subscription_positions`` (before the
    outbound positions) into :mod:`projections.outbound`'s table, once."""
    with runner.engine.begin() as conn:
        if OLD_POSITIONS not in inspect(conn).get_table_names():
            return
        old = Table(OLD_POSITIONS, MetaData(), autoload_with=conn)
        for row in conn.execute(select(old)).mappings():
            exists = conn.execute(
                select(positions.c.key).where(
                    positions.c.outbound == outbound, positions.c.key == row["subscription_id"]
                )
            ).first()
            if exists is None:
                conn.execute(
                    positions.insert().values(
                        outbound=outbound,
                        key=row["subscription_id"],
                        position=row["position"],
                        failures=row["failures"],
                        next_attempt=row["next_attempt"],
                        last_delivered=row["last_notified"],
                        last_run=row["last_run"],
                    )
                )
        old.drop(conn)


class WebhookTargets:
    """What the subscription routes ask of webhooks: whether a destination may be called
    (:class:`~adapters.webhooks.destinations.DestinationPolicy`, raising
    :class:`~adapters.webhooks.destinations.ForbiddenDestination`, a ``ValueError``) and when
    a subscription was last notified."""

    def __init__(self, policy: DestinationPolicy, runner: ReadModelRunner) -> None:
        self.policy = policy
        self.positions = Positions(runner, "webhooks")

    def parse(self, dest: str) -> None:
        """Refuse a destination by its spelling alone (no DNS)."""
        self.policy.parse(dest)

    def check(self, dest: str) -> None:
        """Refuse a destination that is, or resolves to, an address not to call."""
        self.policy.check(dest)

    def last_notified(self, subscription_id: str) -> str | None:
        return self.positions.last_delivered(subscription_id)
