"""The projections bench's bulk loader (:mod:`bench.bulk_log`) writes what a capture of the
same stream writes: the log read back, the chain verify checks, and the views a runner
builds from it are the captured ledger's. PostgreSQL only (the loader uses ``COPY``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

import ledger.application
from bench.bulk_log import BulkLoadError, StreamHasher, bulk_load, document_prefixes
from bench.generate import envelope
from bench.projections import INSTITUTION, StreamConfig, load_stream, stream
from epcis.event_hash import EventHasher
from ledger.application import Ledger
from ledger.settings import store_settings
from ledger.verify import verify_chain
from projections.runner import ReadModelRunner
from tests.conftest import postgres_database

# Small lots and documents: several lots, cases and a chain head snapshot (every 100
# versions: 120 documents make 121) in 3,000 events.
CONFIG = StreamConfig(events=3000, lot=400, case=20, commission=50)
DOC_EVENTS = 25
PREFIXES = document_prefixes(envelope([], "2026-01-01T00:00:00.000Z"))


def capture_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def record_time(n: int) -> str:
    return f"2026-02-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z"


@pytest.fixture(scope="module")
def captured() -> Iterator[str]:
    """The stream captured through ``Ledger.append``, document ``n`` at ``record_time(n)``."""
    times = (record_time(n) for n in range(10**6))
    with pytest.MonkeyPatch.context() as patch, postgres_database() as url:
        patch.setattr(ledger.application, "utc_now", lambda: next(times))
        stored, _ = load_stream(url, CONFIG, DOC_EVENTS, capture_ids=capture_id)
        assert stored == CONFIG.events
        yield url


@pytest.fixture(scope="module")
def bulk() -> Iterator[str]:
    with postgres_database() as url:
        result = bulk_load(
            url,
            stream(CONFIG),
            prefixes=PREFIXES,
            doc_events=DOC_EVENTS,
            institution=INSTITUTION,
            capture_ids=capture_id,
            record_times=record_time,
            check_every=101,
            commit_every=7,
        )
        assert (result.events, result.documents) == (CONFIG.events, 120)
        assert result.checked >= CONFIG.events // 101
        yield url


def rows(url: str, table: str) -> list[tuple[Any, ...]]:
    """(originator id, version, topic, notification id or None, decoded state without the
    eventsourcing timestamps) of every row of a log table, in order."""
    led = Ledger(store_settings(url))
    try:
        decode = led.mapper.transcoder.decode
        with psycopg.connect(url) as conn:
            found = conn.execute(
                f"SELECT originator_id, originator_version, topic, state, "
                f"{'notification_id' if table == 'events' else 'NULL'} "
                f"FROM tracecode_{table} ORDER BY 5, 1, 2"
            ).fetchall()
    finally:
        led.close()
    out = []
    for originator, version, topic, state, notification in found:
        values = decode(bytes(state))
        for holder in (values, values.get("state") or {}):  # a snapshot holds a state
            for clock in ("timestamp", "_created_on", "_modified_on"):
                holder.pop(clock, None)
        out.append((originator, version, topic, notification, values))
    return out


def test_the_log_rows_are_the_captured_ones(captured: str, bulk: str) -> None:
    captured_rows, bulk_rows = rows(captured, "events"), rows(bulk, "events")
    # the head started; per document: its commit, its records, its job
    assert len(bulk_rows) == 1 + 120 * (1 + DOC_EVENTS + 1)
    assert bulk_rows == captured_rows
    snapshots = rows(bulk, "snapshots")
    assert [(s[1], s[2]) for s in snapshots] == [(100, "eventsourcing.domain:Snapshot")]
    assert snapshots == rows(captured, "snapshots")


def test_log_items_are_the_captured_ones(captured: str, bulk: str) -> None:
    items = {}
    for url in (captured, bulk):
        led = Ledger(store_settings(url))
        try:
            items[url] = list(led.log_items())
            head = led.current_head(), led.current_commit()
        finally:
            led.close()
    assert len(items[bulk]) == CONFIG.events
    assert items[bulk] == items[captured]  # events, hashes, positions, links, notification ids
    assert head[0][0] == CONFIG.events and head[1][0] == 120


def test_verify_passes_on_the_bulk_loaded_log(bulk: str) -> None:
    led = Ledger(store_settings(bulk))
    try:
        report = verify_chain(led)
    finally:
        led.close()
    assert report.findings == []
    assert (report.checked, report.commits, report.entries) == (CONFIG.events, 120, 120)


def view_contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    led = Ledger(store_settings(url))
    runner = ReadModelRunner(led)
    try:
        assert runner.run_until_caught_up() == CONFIG.events
        with runner.connect() as conn:
            names = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'view\\_%'")
            ).scalars()
            return {
                name: sorted(conn.execute(text(f'SELECT * FROM "{name}"')).tuples(), key=repr)
                for name in names
            }
    finally:
        runner.close()
        led.close()


def test_a_runner_builds_the_same_views(captured: str, bulk: str) -> None:
    bulk_views = view_contents(bulk)
    assert bulk_views["view_code_state"] and bulk_views["view_stock"]
    assert bulk_views == view_contents(captured)


def test_the_stream_hasher_is_the_cores() -> None:
    prefixes = {**PREFIXES}
    core, fast = EventHasher(prefixes), StreamHasher(prefixes)
    events = list(stream(StreamConfig(events=1500, lot=300, case=20, commission=30)))
    odd = {
        "type": "ObjectEvent",
        "eventTime": "2026-01-01T08:00:00.1234+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": ["urn:epc:id:sgtin:0614141.000100.A%2F1", "urn:epc:id:sscc:0614141.0000000007"],
        "action": "OBSERVE",
        "bizStep": "urn:epcglobal:cbv:bizstep:receiving",
        "example:n": {"example:m": "1.50"},
    }
    for event in [*events, odd]:
        assert fast.fast_hash_id(event) == core.hash_id(event), event


def test_it_refuses_a_ledger_that_is_not_empty(captured: str) -> None:
    with pytest.raises(BulkLoadError, match="new ledger only"):
        bulk_load(captured, stream(CONFIG), prefixes=PREFIXES, institution=INSTITUTION)


def test_it_refuses_events_a_capture_would_claim() -> None:
    with postgres_database() as url, pytest.raises(BulkLoadError, match="no eventID"):
        event = next(stream(CONFIG))
        bulk_load(url, [{**event, "eventID": "urn:uuid:1"}], prefixes=PREFIXES)
