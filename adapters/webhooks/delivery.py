"""Delivering subscriptions to their webhooks: at least once, in order, across restarts.

:class:`WebhookDelivery` runs in the server (a thread). For each live subscription it
reads the named query's matches in the event index after the subscription's durable
position (``view_subscription_positions``), POSTs them as an EPCISQueryDocument to
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
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpcore
import httpx
from sqlalchemy import BigInteger, Column, Connection, Integer, MetaData, String, Table, select

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

metadata = MetaData()
positions = Table(
    "view_subscription_positions",
    metadata,
    Column("subscription_id", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("next_attempt", String(32)),
    Column("last_notified", String(32)),
    Column("last_run", String(32)),
)


def sign(secret: str, body: bytes) -> str:
    """The ``GS1-Signature`` value of a callback body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class _State:
    position: int
    failures: int = 0
    next_attempt: str | None = None
    last_notified: str | None = None
    last_run: str | None = None


def _env_seconds(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


class WebhookDelivery:
    """Settings (environment): ``TRACECODE_WEBHOOK_POLL_SECONDS`` (0.5), how often to look
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
        metadata.create_all(runner.engine, checkfirst=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)

    def start(self) -> WebhookDelivery:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.pool.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep delivering; the position did not move
                log.exception("webhook delivery failed; retrying")
            self._stop.wait(self.interval)

    def run_once(self) -> int:
        """One round over the live subscriptions; how many callbacks succeeded."""
        delivered = 0
        for info in Subscriptions(self.ledger).active():
            if info.dest.startswith(("http://", "https://")):
                delivered += self._serve(info)
        return delivered

    # -- one subscription ------------------------------------------------------------------

    def _serve(self, info: SubscriptionInfo) -> int:
        now = self.clock()
        state = self._load(info)
        if state.next_attempt is not None and datetime.fromisoformat(state.next_attempt) > now:
            return 0
        query = subscription_query(self.ledger, info)
        if query is None:
            return 0
        if info.schedule is not None:
            return self._scheduled(info, query, state, now)
        sent = 0
        while not self._stop.is_set():
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
            self._save(info, state)
        return sent

    def _scheduled(self, info: SubscriptionInfo, query: Query, state: _State, now: datetime) -> int:
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
        self._save(info, state)
        return 1 if (found or info.report_if_empty) else 0

    def _post(
        self, info: SubscriptionInfo, found: list[Found], state: _State, now: datetime
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
            state.failures = 0
            state.next_attempt = None
            state.last_notified = now.isoformat()
            return True
        state.failures += 1
        pause = min(self.max_backoff, self.base_backoff * 2 ** (state.failures - 1))
        pause *= random.uniform(0.5, 1.0)
        state.next_attempt = (now + timedelta(seconds=pause)).isoformat()
        self._save(info, state)
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

    # -- durable state ---------------------------------------------------------------------

    def _load(self, info: SubscriptionInfo) -> _State:
        with self.runner.connect() as conn:
            row = conn.execute(
                select(positions).where(positions.c.subscription_id == info.subscription_id)
            ).first()
        if row is None:
            return _State(position=info.start_after)
        return _State(
            int(row.position), int(row.failures), row.next_attempt, row.last_notified, row.last_run
        )

    def _save(self, info: SubscriptionInfo, state: _State) -> None:
        values = {
            "position": state.position,
            "failures": state.failures,
            "next_attempt": state.next_attempt,
            "last_notified": state.last_notified,
            "last_run": state.last_run,
        }
        with self.runner.engine.begin() as conn:
            _upsert(conn, info.subscription_id, values)


def _upsert(conn: Connection, subscription_id: str, values: Mapping[str, Any]) -> None:
    moved = conn.execute(
        positions.update().where(positions.c.subscription_id == subscription_id).values(**values)
    )
    if moved.rowcount == 0:
        conn.execute(positions.insert().values(subscription_id=subscription_id, **values))


def last_notified(runner: ReadModelRunner, subscription_id: str) -> str | None:
    with runner.connect() as conn:
        value = conn.execute(
            select(positions.c.last_notified).where(positions.c.subscription_id == subscription_id)
        ).scalar()
    return str(value) if value is not None else None


class WebhookTargets:
    """What the subscription routes ask of webhooks: whether a destination may be called
    (:class:`~adapters.webhooks.destinations.DestinationPolicy`, raising
    :class:`~adapters.webhooks.destinations.ForbiddenDestination`, a ``ValueError``) and when
    a subscription was last notified."""

    def __init__(self, policy: DestinationPolicy, runner: ReadModelRunner) -> None:
        self.policy = policy
        self.runner = runner

    def parse(self, dest: str) -> None:
        """Refuse a destination by its spelling alone (no DNS)."""
        self.policy.parse(dest)

    def check(self, dest: str) -> None:
        """Refuse a destination that is, or resolves to, an address not to call."""
        self.policy.check(dest)

    def last_notified(self, subscription_id: str) -> str | None:
        return last_notified(self.runner, subscription_id)
