"""``GET /metrics``: the running server's operational figures in the Prometheus text
exposition format, through the standard client library (``prometheus_client``).

Each app has its own :class:`~prometheus_client.CollectorRegistry` (:class:`Metrics`, on
``app.state.metrics``), never the library's global one, so several apps in one process (the
tests) do not collide. With ``tracecode serve --workers N`` each worker answers for itself.

* ``tracecode_events_stored_total{way}`` — events stored, by way in (``POST /capture``,
  ``POST /events``, ``POST /scans``);
* ``tracecode_scans_total{operation,colour}`` — scans answered, by operation and colour;
* ``tracecode_writer_groups_total``, ``tracecode_writer_requests_total`` (their ratio is
  the mean group size), ``tracecode_writer_largest_group``, ``tracecode_writer_queue_depth``
  — the group committer (:class:`ledger.writer.GroupCommitter`);
* ``tracecode_log_position``, ``tracecode_projection_position``,
  ``tracecode_projection_lag`` — the log's end, the position the read models reflect, and
  the difference (read at scrape time);
* ``tracecode_request_duration_seconds{method,route}`` — a latency histogram of every
  HTTP request by route template (:class:`RequestTimer`).

Readers (``reader``, ``auditor``, ``regulator``, ``admin``) may read it: a scraper is given
a reader key (Prometheus ``authorization`` in its scrape config).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.http.authentication import READ
from adapters.http.state import HttpState, in_thread
from ledger.outcomes import CaptureResult, Status
from projections.freshness import reached

router = APIRouter()


class _Live(Collector):
    """What is read when scraped: the writer's counts and the read models' lag."""

    def __init__(self, state: HttpState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        committer = self.state.committer
        if committer is not None:
            yield CounterMetricFamily(
                "tracecode_writer_groups", "Transactions the writer committed.", committer.groups
            )
            yield CounterMetricFamily(
                "tracecode_writer_requests",
                "Requests the writer committed (groups of them share a transaction).",
                committer.requests,
            )
            yield GaugeMetricFamily(
                "tracecode_writer_largest_group",
                "The most requests one transaction held.",
                committer.largest,
            )
            yield GaugeMetricFamily(
                "tracecode_writer_queue_depth",
                "Requests waiting for the writer.",
                committer.depth,
            )
        ledger, runner = self.state.ledger, self.state.projection
        if ledger is not None and runner is not None:
            end = ledger.log_position()
            now = reached(ledger, runner)
            yield GaugeMetricFamily("tracecode_log_position", "The log's last position.", end)
            yield GaugeMetricFamily(
                "tracecode_projection_position",
                "The log position the read models reflect.",
                now,
            )
            yield GaugeMetricFamily(
                "tracecode_projection_lag",
                "Log positions the read models are behind the log.",
                max(0, end - now),
            )


class Metrics:
    """One app's figures and their registry."""

    def __init__(self, state: HttpState) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.stored = Counter(
            "tracecode_events_stored",
            "Events stored, by way in.",
            ["way"],
            registry=self.registry,
        )
        self.scans = Counter(
            "tracecode_scans",
            "Scans answered, by operation and colour.",
            ["operation", "colour"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tracecode_request_duration_seconds",
            "HTTP request duration, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(_Live(state))

    def captured(self, result: CaptureResult) -> None:
        stored = result.count(Status.STORED)
        if stored:
            self.stored.labels(way=result.source or "unknown").inc(stored)

    def scanned(self, operation: str, colour: str) -> None:
        self.scans.labels(operation=operation, colour=colour).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def metrics_of(app: Any) -> Metrics | None:
    found: Metrics | None = getattr(app.state, "metrics", None)
    return found


class RequestTimer:
    """Times every HTTP request into :attr:`Metrics.latency` by its route template
    (``/codes/{code:path}``, never the code itself: bounded labels); unmatched paths are
    ``unmatched``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(method=scope["method"], route=template).observe(
                time.perf_counter() - started
            )


@router.get(
    "/metrics",
    tags=["Health"],
    summary="Operational figures in the Prometheus text format.",
    description=(
        "Events stored by way in, scans by operation and colour, the writer's groups and "
        "queue depth, the read models' lag behind the log, and request latency histograms "
        "by route. For readers (a scraper is given a reader key)."
    ),
    response_class=Response,
    responses={200: {"description": "The figures.", "content": {CONTENT_TYPE_LATEST: {}}}},
    dependencies=[READ],
)
async def get_metrics(request: Request) -> Response:
    metrics = metrics_of(request.app)
    if metrics is None:
        raise RuntimeError("the app has no metrics: it was not made by create_app")
    body = await in_thread(metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
