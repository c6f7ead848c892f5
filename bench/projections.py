"""``python -m bench projections``: the read models over a big ledger on PostgreSQL.

For each size in ``BENCH_PROJ_EVENTS`` (default ``100000,1000000``; ``10000000`` for the
10-million catch-up) a fresh PostgreSQL database gets a realistic stream, one document of
``BENCH_PROJ_DOC_EVENTS`` (1,000) events per capture, by the loader
``BENCH_PROJ_LOADER`` (default: ``capture`` up to 1,000,000 events, ``bulk`` above):

* ``capture``: the ledger's bulk append (:meth:`ledger.application.Ledger.append`; the
  documents are read and hashed as a capture does, but not schema-validated: this part
  times the projections, not the EPCIS core), about 3,000 events/s here;
* ``bulk``: :func:`bench.bulk_log.bulk_load`, the same rows written with ``COPY`` straight
  into the log tables; figures over such a log are marked "bulk-loaded: not a captured
  ledger" (``tracecode verify`` passes on it, but no capture made it).

The stream:

* lot after lot of ``BENCH_PROJ_LOT`` boxes (100,000 codes; product and lot in the ILMD),
  commissioned ``BENCH_PROJ_COMMISSION`` (100) boxes per ObjectEvent at the factory;
* per case of ``BENCH_PROJ_CASE`` (20) boxes: packing (AggregationEvent ADD), shipping to
  one of 20 pharmacies (in transit, destination), receiving there, unpacking
  (AggregationEvent DELETE), then dispensing ``BENCH_PROJ_DISPENSE`` (0.5) of its boxes,
  one ObjectEvent per box, each to a patient.

The stream is the hospital H1's (every document captured for that institution), so the
read models keep its view beside everyone's, and the reads are H1's: a reader key of H1,
answered in its scope. The stream stops at the size asked for (the last case may be half
way). Then it measures:

* **catch-up from zero**: :meth:`projections.runner.ReadModelRunner.run_once` until caught
  up, in this process, events/s (and fact rows/s); ``BENCH_PROJ_CATCHUP_LIMIT_S`` stops it
  after the batch that passes that many seconds, and the rate so far is reported as
  partial (the reads are then skipped);
* **the same catch-up as set operations** in PostgreSQL (``BENCH_PROJ_SET_BASED``, 1;
  ``0``: not measured): :mod:`bench.set_based` over the same log, each step timed, its
  states compared with the views the catch-up wrote (when it reached the end);
* **a writer's start** (``BENCH_PROJ_WRITER``, 1; ``0``: not measured): its code library
  folded from the log alone (any snapshot removed first), the snapshot written after it,
  and a second writer's start restored from that snapshot
  (:mod:`ledger.library_snapshot`);
* **GET /codes/{code}**: ``BENCH_PROJ_SAMPLES`` (2,000) requests, one at a time on one
  keep-alive connection, for random boxes, against a real ``tracecode serve`` process
  (uvicorn) on 127.0.0.1: the latency a client sees, including the read-your-writes
  catch-up check each read does (nothing left to apply);
* **recall trail** of the first lot (``BENCH_PROJ_LOT`` codes):
  :func:`projections.recall_trail.trail` in this process (seconds, best of 2), and
  ``GET /trails`` once through the server;
* **GET /stock** (no ``as_of``; the maintained current-state table) and, for comparison,
  ``GET /stock?as_of=…`` (the fact query) in this process and through the server (up to
  ``BENCH_PROJ_AS_OF_STOCK_MAX`` events, default 1,000,000).

The reads are measured up to 1,000,000 events unless ``BENCH_PROJ_READS`` says (``0``:
catch-up only, ``1``: at every size). The figures are printed, then the issue-14 table:
each measure per size against its goal, ``met`` or ``NOT met``, the growth from one size
to the next (catch-up time per event, trail time, each <= x1.3), and the HTTP capture rate
of ``python -m bench http`` if that part ran in the same process (``python -m bench``).

Settings (environment): the ones above, ``BENCH_PROJ_BATCH`` (the runner's batch size,
default: the runner's), ``BENCH_PROFILE`` (1: cProfile of the catch-up, top costs
printed), ``BENCH_PG_ADMIN_URL``. Figures are reported, never asserted.
"""

from __future__ import annotations

import cProfile
import http.client
import itertools
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from bench.generate import (
    COMPANY,
    commissioning,
    dispensing,
    envelope,
    packing,
    receiving,
    sgtin,
    shipping,
    sscc,
    unpacking,
)
from bench.ledger import (
    env_float,
    env_int,
    fresh_store,
    machine_line,
    print_table,
    profile_text,
)
from bench.set_based import SetBased, measure
from ledger.application import StoredEvent
from projections.read_model import ReadModel

GOAL_CATCH_UP = 50_000.0  # events/s
GOAL_STATUS_P99 = 0.010  # s
GOAL_TRAIL = 1.0  # s
GOAL_STOCK_AS_OF = 0.5  # s
GOAL_GROWTH = 1.3  # catch-up time per event, and trail time, from one size to the next
GOAL_HTTP_CAPTURE = 2000.0  # one-event captures/s, 100 clients, PostgreSQL
CAPTURE_MAX = 1_000_000
"""Up to this many events the stream is captured and the reads measured, by default."""

_START = datetime(2026, 1, 1, tzinfo=UTC)
_FACTORY = f"urn:epc:id:sgln:{COMPANY}.00001.0"
_PHARMACIES = 20


def pharmacy(n: int) -> str:
    return f"urn:epc:id:sgln:{COMPANY}.00002.{n}"


@dataclass(frozen=True)
class StreamConfig:
    events: int = 1_000_000
    lot: int = 100_000
    case: int = 20
    commission: int = 100
    dispense: float = 0.5

    def item(self, lot: int) -> int:
        return 100 + lot % 7

    def box(self, lot: int, n: int) -> str:
        return sgtin(self.item(lot), lot * self.lot + n + 1)

    @property
    def first_lot(self) -> tuple[str, str]:
        """(product GTIN, lot number) of lot 0, as the views store them."""
        from epcis.identifiers import parse_identifier

        product = parse_identifier(self.box(0, 0)).product_key
        assert product is not None
        return product, "L0"


def stream(cfg: StreamConfig) -> Iterator[dict[str, Any]]:
    """The events, in capture order (eventTime one second apart), ``cfg.events`` of them."""
    count = 0

    def at(**fields: Any) -> dict[str, Any]:
        nonlocal count
        moment = _START + timedelta(seconds=count)
        count += 1
        return {
            "eventTime": moment.isoformat().replace("+00:00", "Z"),
            "eventTimeZoneOffset": "+00:00",
            **fields,
        }

    lot = 0
    cases = 0
    while True:
        boxes = [cfg.box(lot, n) for n in range(cfg.lot)]
        for start in range(0, cfg.lot, cfg.commission):
            made = boxes[start : start + cfg.commission]
            yield at(**commissioning(made, _FACTORY, f"L{lot}", "2029-06-30"))
            if count >= cfg.events:
                return
        for start in range(0, cfg.lot, cfg.case):
            case_boxes = boxes[start : start + cfg.case]
            case = sscc(cases)
            where = pharmacy(cases % _PHARMACIES)
            cases += 1
            steps = [
                packing(case, case_boxes, _FACTORY),
                shipping(case, _FACTORY, where),
                receiving(case, where),
                unpacking(case, case_boxes, where),
            ]
            steps += [
                dispensing(box, where, f"pseudonym:{lot}-{start + k}")
                for k, box in enumerate(case_boxes[: round(len(case_boxes) * cfg.dispense)])
            ]
            for step in steps:
                yield at(**step)
                if count >= cfg.events:
                    return
        lot += 1


def documents(cfg: StreamConfig, size: int) -> Iterator[bytes]:
    """The stream as JSON-LD documents of ``size`` events."""
    batch: list[dict[str, Any]] = []
    for event in stream(cfg):
        batch.append(event)
        if len(batch) == size:
            yield _document(batch)
            batch = []
    if batch:
        yield _document(batch)


def _document(events: list[dict[str, Any]]) -> bytes:
    from epcis.jsonld import write_json

    body: bytes = write_json(envelope(events, "2026-01-01T00:00:00.000Z"), indent=None)
    return body


def load_stream(
    url: str,
    cfg: StreamConfig,
    doc_events: int,
    capture_ids: Callable[[int], str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, float]:
    """Capture the stream into the ledger at ``url``, document ``n`` with the capture id
    ``capture_ids(n)`` (default: a new one); (events stored, seconds)."""
    from epcis.document import load
    from ledger.application import Ledger
    from ledger.capture import CaptureRequest, new_capture_id, prepare_loaded
    from ledger.outcomes import Status
    from ledger.settings import store_settings

    ledger = Ledger(store_settings(url))
    stored = 0
    started = time.perf_counter()
    try:
        for n, payload in enumerate(documents(cfg, doc_events)):
            capture_id = capture_ids(n) if capture_ids else new_capture_id()
            request = CaptureRequest(
                capture_id, f"bench-{n}.jsonld", "rollback", institution=INSTITUTION
            )
            request = prepare_loaded(load(payload, validate=False), request)
            (result,) = ledger.append([request])
            if not result.success:
                raise RuntimeError(f"document {n} was not captured: {result.outcomes[:3]}")
            stored += result.count(Status.STORED)
            if progress is not None and n % 100 == 99:
                progress(stored)
    finally:
        ledger.close()
    return stored, time.perf_counter() - started


# -- the measurements ----------------------------------------------------------------------


class Timed:
    """A projection that adds up the seconds its ``apply`` takes."""

    def __init__(self, inner: ReadModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.tables = inner.tables
        self.seconds = 0.0

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        started = time.perf_counter()
        self.inner.apply(conn, batch)
        self.seconds += time.perf_counter() - started


@dataclass
class SizeResult:
    events: int
    load_s: float = 0.0
    catch_up_s: float = 0.0
    analyze_s: float = 0.0
    caught_up: int = 0
    fact_rows: int = 0
    link_rows: int = 0
    codes: int = 0
    per_projection: dict[str, float] = field(default_factory=dict)
    status_ms: list[float] = field(default_factory=list)
    status_errors: int = 0
    match_ms: list[float] = field(default_factory=list)
    match_errors: int = 0
    match_events: int = 0
    trail_codes: int = 0
    trail_s: float = 0.0
    trail_http_s: float | None = None
    stock_ms: list[float] = field(default_factory=list)
    stock_lines: int = 0
    stock_as_of_s: float | None = None
    stock_as_of_http_s: float | None = None
    profile: str = ""
    loader: str = "capture"
    """How the log was made: ``capture`` (Ledger.append) or ``bulk`` (bench.bulk_log)."""
    partial: bool = False
    """The catch-up stopped at ``BENCH_PROJ_CATCHUP_LIMIT_S`` before the end of the log."""
    reads: bool = True
    bulk_checked: int = 0
    writer: WriterStart | None = None
    marks: list[tuple[int, float]] = field(default_factory=list)
    """(events caught up, seconds since the catch-up began) after each batch."""
    set_based: SetBased | None = None
    """The same log applied as set operations in PostgreSQL (:mod:`bench.set_based`)."""

    @property
    def load_rate(self) -> float:
        return self.events / self.load_s if self.load_s else 0.0

    @property
    def events_per_s(self) -> float:
        return self.caught_up / self.catch_up_s if self.catch_up_s else 0.0

    def status_p(self, q: float) -> float:
        return _quantile(self.status_ms, q)

    def stretches(self, parts: int = 10) -> list[tuple[int, int, float]]:
        """The catch-up cut into ``parts`` stretches of about as many events (at batch
        ends): (first event, last event, events/s) each, so a rate that falls as the views
        grow shows within one run."""
        if not self.marks:
            return []
        step = max(1, self.marks[-1][0] // parts)
        out: list[tuple[int, int, float]] = []
        begin, began = 0, 0.0
        for events, seconds in self.marks:
            if events - begin >= step or (events, seconds) == self.marks[-1]:
                if seconds > began and events > begin:
                    out.append((begin, events, (events - begin) / (seconds - began)))
                begin, began = events, seconds
        return out

    def stretch_text(self) -> str:
        parts = self.stretches()
        if len(parts) < 2:
            return ""
        first, last = parts[0][2], parts[-1][2]
        rates = ", ".join(f"{a:,}-{b:,} {r:,.0f}/s" for a, b, r in parts)
        return (
            f"catch-up by stretch: {rates}; time per event, last stretch / first: "
            f"x{first / last:.2f}"
        )

    def match_p(self, q: float) -> float:
        return _quantile(self.match_ms, q)


@dataclass(frozen=True)
class WriterStart:
    """A writer's start on the log (its code library, :mod:`ledger.library_snapshot`)."""

    codes: int
    fold_s: float
    """From the log alone (no snapshot), the snapshot written after it not included."""
    write_s: float
    restore_s: float
    """From that snapshot (then nothing left to fold)."""
    snapshot_mb: float

    def line(self) -> str:
        return (
            f"writer start (code library, {self.codes:,} codes): fold of the log "
            f"{self.fold_s:.1f} s, snapshot written {self.write_s:.1f} s "
            f"({self.snapshot_mb:.1f} MB), restored from it {self.restore_s:.1f} s "
            f"(x{self.fold_s / self.restore_s if self.restore_s else 0:.1f})"
        )


def writer_start(url: str) -> WriterStart:
    """Start a writer twice: from the log alone (any snapshot removed first), which writes
    a snapshot; then from that snapshot."""
    from ledger.application import Ledger
    from ledger.library_snapshot import LibrarySnapshots
    from ledger.settings import store_settings

    ledger = Ledger(store_settings(url))
    try:
        table = LibrarySnapshots(ledger)
        with table._cursor() as cursor:
            cursor.execute(table._sql("DELETE FROM {table}"))
        started = time.perf_counter()
        first = ledger.warm_library()
        elapsed = time.perf_counter() - started
        written = first.written or ledger.snapshot_library()
        assert written is not None
    finally:
        ledger.close()
    ledger = Ledger(store_settings(url))
    try:
        started = time.perf_counter()
        again = ledger.warm_library()
        restore_s = time.perf_counter() - started
        if again.restored is None:
            raise RuntimeError("the snapshot just written was not restored")
    finally:
        ledger.close()
    return WriterStart(
        codes=written.codes,
        fold_s=elapsed - (first.written.seconds if first.written else 0.0),
        write_s=written.seconds,
        restore_s=restore_s,
        snapshot_mb=written.size / 1e6,
    )


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def catch_up(
    url: str, result: SizeResult, batch: int | None, profile: bool, limit_s: float = 0.0
) -> None:
    """Project the whole log from zero with the server's projections, timed; with
    ``limit_s``, stop after the batch that passes that many seconds (``result.partial``)."""
    from sqlalchemy import func, select

    from ledger.application import Ledger
    from ledger.settings import store_settings
    from projections.runner import ReadModelRunner, default_projections
    from projections.schema import code_facts, code_state, links

    ledger = Ledger(store_settings(url))
    timed = [Timed(p) for p in default_projections()]
    options: dict[str, Any] = {} if batch is None else {"batch_size": batch}
    runner = ReadModelRunner(ledger, projections=timed, **options)  # creates the tables
    profiler = cProfile.Profile() if profile else None
    try:
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        result.caught_up = 0
        while count := runner.run_once():
            result.caught_up += count
            result.marks.append((result.caught_up, time.perf_counter() - started))
            if limit_s and time.perf_counter() - started >= limit_s:
                result.partial = result.caught_up < result.events
                break
        if profiler is not None:
            profiler.disable()
        result.catch_up_s = time.perf_counter() - started
        result.per_projection = {t.name: t.seconds for t in timed}
        # what autovacuum does soon after a bulk load; without statistics the planner
        # scans whole view tables for the reads below
        started = time.perf_counter()
        analyze_views(runner.engine)
        result.analyze_s = time.perf_counter() - started
        with runner.connect() as conn:
            for table, attr in ((code_facts, "fact_rows"), (links, "link_rows")):
                setattr(
                    result, attr, conn.execute(select(func.count()).select_from(table)).scalar()
                )
            result.codes = conn.execute(select(func.count()).select_from(code_state)).scalar() or 0
    finally:
        runner.close()
        ledger.close()
    if profiler is not None:
        result.profile = profile_text(profiler, "cProfile of the catch-up, by own time:", 30)


def analyze_views(engine: Any) -> None:
    """ANALYZE every view table (PostgreSQL; a partitioned one with its partitions, each
    once: not again on its own)."""
    with engine.begin() as conn:
        names = conn.exec_driver_sql(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition"
            " AND relnamespace = current_schema()::regnamespace AND starts_with(relname, 'view_')"
        ).scalars()
        for name in list(names):
            conn.exec_driver_sql(f'ANALYZE "{name}"')


def sample_codes(url: str, count: int, seed: int = 11) -> list[str]:
    """Random codes with facts (boxes and cases), in the form a scanner reads (EPC URN
    or Digital Link, as the views store it)."""
    from sqlalchemy import create_engine, text

    from projections.schema import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            every = list(conn.execute(text("SELECT code FROM view_code_state")).scalars())
    finally:
        engine.dispose()
    rng = random.Random(seed)
    codes = [str(c) for c in rng.sample(every, min(count, len(every)))]
    rng.shuffle(codes)
    return codes


def _get(conn: http.client.HTTPConnection, path: str, key: str) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    headers = {"Accept": "application/json", "Authorization": f"Bearer {key}"}
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    return response.status, body, time.perf_counter() - started


INSTITUTION = "H1"
"""Whose the stream is: the reads are the hospital's (a reader key of H1), scoped to it."""


def reader_key(url: str) -> str:
    """A reader API key of :data:`INSTITUTION` in the store at ``url``."""
    from ledger.access import Role
    from ledger.api_keys import KeyRing
    from ledger.application import Ledger
    from ledger.settings import store_settings

    ledger = Ledger(store_settings(url))
    try:
        return KeyRing(ledger).create(Role.READER, INSTITUTION, "make bench")[1]
    finally:
        ledger.close()


def http_reads(url: str, cfg: StreamConfig, result: SizeResult, samples: int) -> None:
    """GET /codes/{code}, /stock (and /trails of the first lot) against ``tracecode serve``."""
    from bench.http_load import HOST, running_server

    codes = sample_codes(url, samples)
    product, lot = cfg.first_lot
    key = reader_key(url)
    # over a big ledger on a busy machine the server took over a minute to answer
    with running_server(url, "tracecode", ready_timeout=900) as server:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=600)
        try:
            for code in codes[:20]:  # warm-up: connections, plans, caches
                _get(conn, f"/codes/{quote(code, safe='')}", key)
            for code in codes:
                status, _, seconds = _get(conn, f"/codes/{quote(code, safe='')}", key)
                if status != 200:
                    result.status_errors += 1
                result.status_ms.append(seconds * 1000)
            for code in codes[: max(1, len(codes) // 2)]:  # the EPCIS query of one code
                status, body, seconds = _get(conn, f"/events?MATCH_epc={quote(code, safe='')}", key)
                if status != 200:
                    result.match_errors += 1
                else:
                    found = json.loads(body)["epcisBody"]["queryResults"]["resultsBody"]
                    result.match_events += len(found["eventList"])
                result.match_ms.append(seconds * 1000)
            for _ in range(5):
                status, body, seconds = _get(conn, "/stock", key)
                result.stock_ms.append(seconds * 1000)
                result.stock_lines = len(json.loads(body)) if status == 200 else -1
            if result.stock_as_of_s is not None and result.stock_as_of_s < 60:
                status, _, seconds = _get(conn, "/stock?as_of=2999-01-01T00:00:00Z", key)
                result.stock_as_of_http_s = seconds if status == 200 else None
            if result.trail_s < 30:
                status, body, seconds = _get(
                    conn, f"/trails?product={quote(product)}&lot={quote(lot)}", key
                )
                result.trail_http_s = seconds if status == 200 else None
        finally:
            conn.close()


def trail_in_process(url: str, cfg: StreamConfig, result: SizeResult, as_of_stock: bool) -> None:
    from projections.recall_trail import trail
    from projections.runner import make_engine
    from projections.stock import stock

    product, lot = cfg.first_lot
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            best = None
            for _ in range(2):  # best of 2: the first also compiles the statements
                started = time.perf_counter()
                lines = trail(conn, product=product, lot=lot, scope=INSTITUTION)
                seconds = time.perf_counter() - started
                best = seconds if best is None else min(best, seconds)
                conn.rollback()  # each in a transaction of its own, as a request's
            result.trail_s = best or 0.0
            result.trail_codes = len(lines)
            if as_of_stock:
                started = time.perf_counter()
                stock(conn, as_of="2999-01-01T00:00:00Z", scope=INSTITUTION)
                result.stock_as_of_s = time.perf_counter() - started
    finally:
        engine.dispose()


def _progress(events: int) -> None:
    print(f"    … {events:,} events stored", flush=True)


def load(url: str, cfg: StreamConfig, settings: BenchSettings, result: SizeResult) -> None:
    """Fill the new ledger at ``url`` with the stream, by the loader of its size."""
    result.loader = settings.loader_for(cfg.events)
    print(f"  loading {cfg.events:,} events ({result.loader}) …", flush=True)
    if result.loader == "capture":
        stored, result.load_s = load_stream(url, cfg, settings.doc_events, progress=_progress)
    else:
        from bench.bulk_log import bulk_load, document_prefixes

        every = max(1, 100_000 // settings.doc_events)
        loaded = bulk_load(
            url,
            stream(cfg),
            prefixes=document_prefixes(envelope([], "2026-01-01T00:00:00.000Z")),
            doc_events=settings.doc_events,
            institution=INSTITUTION,
            commit_every=every,
            progress=_progress,
        )
        stored, result.load_s, result.bulk_checked = loaded.events, loaded.seconds, loaded.checked
    print(
        f"  loaded {stored:,} events in {result.load_s:.0f} s = {result.load_rate:,.0f} events/s",
        flush=True,
    )


def run_size(cfg: StreamConfig, settings: BenchSettings) -> SizeResult:
    result = SizeResult(events=cfg.events, reads=settings.reads_for(cfg.events))
    reuse = settings.database_url
    with fresh_store("postgresql") if reuse is None else _existing(reuse) as url:
        if reuse is None:
            load(url, cfg, settings, result)
        else:
            result.loader = "reused"
        catch_up(url, result, settings.batch, settings.profile, settings.catch_up_limit_s)
        print(
            f"  catch-up: {result.caught_up:,} events in {result.catch_up_s:.1f} s "
            f"= {result.events_per_s:,.0f} events/s"
            + (" (partial: BENCH_PROJ_CATCHUP_LIMIT_S)" if result.partial else ""),
            flush=True,
        )
        if settings.set_based:
            # compared with the views only when the Python catch-up reached the end
            result.set_based = measure(url, compare=not result.partial)
            print(f"  {result.set_based.line()}", flush=True)
        if settings.writer:
            result.writer = writer_start(url)
            print(f"  {result.writer.line()}", flush=True)
        if result.reads and not result.partial:
            trail_in_process(url, cfg, result, cfg.events <= settings.as_of_stock_max)
            print(f"  trail: {result.trail_codes:,} codes in {result.trail_s:.2f} s", flush=True)
            http_reads(url, cfg, result, settings.samples)
    return result


@dataclass(frozen=True)
class BenchSettings:
    sizes: tuple[int, ...]
    doc_events: int
    samples: int
    batch: int | None
    profile: bool
    database_url: str | None
    as_of_stock_max: int
    loader: str = ""
    """``capture``, ``bulk``, or "" (capture up to :data:`CAPTURE_MAX` events, bulk above)."""
    reads: bool | None = None
    """Measure the reads (None: up to :data:`CAPTURE_MAX` events)."""
    catch_up_limit_s: float = 0.0
    writer: bool = True
    """Measure a writer's start (``BENCH_PROJ_WRITER``, 0: not)."""
    set_based: bool = True
    """Measure the set-based catch-up beside (``BENCH_PROJ_SET_BASED``, 0: not)."""

    def loader_for(self, events: int) -> str:
        return self.loader or ("capture" if events <= CAPTURE_MAX else "bulk")

    def reads_for(self, events: int) -> bool:
        return self.reads if self.reads is not None else events <= CAPTURE_MAX

    @classmethod
    def from_env(cls) -> BenchSettings:
        raw = os.environ.get("BENCH_PROJ_EVENTS", "").strip() or "100000,1000000"
        batch = env_int("BENCH_PROJ_BATCH", 0)
        loader = os.environ.get("BENCH_PROJ_LOADER", "").strip()
        if loader not in ("", "capture", "bulk"):
            raise SystemExit(f"BENCH_PROJ_LOADER={loader!r}: capture or bulk")
        reads = os.environ.get("BENCH_PROJ_READS", "").strip()
        if reads not in ("", "0", "1"):
            raise SystemExit(f"BENCH_PROJ_READS={reads!r}: 0 or 1")
        return cls(
            loader=loader,
            reads=None if not reads else reads == "1",
            catch_up_limit_s=env_float("BENCH_PROJ_CATCHUP_LIMIT_S", 0.0),
            sizes=tuple(int(s.replace("_", "")) for s in raw.split(",") if s.strip()),
            doc_events=env_int("BENCH_PROJ_DOC_EVENTS", 1000),
            samples=env_int("BENCH_PROJ_SAMPLES", 2000),
            batch=batch or None,
            profile=env_int("BENCH_PROFILE", 0) == 1,
            database_url=os.environ.get("BENCH_PROJ_DATABASE_URL") or None,
            as_of_stock_max=env_int("BENCH_PROJ_AS_OF_STOCK_MAX", CAPTURE_MAX),
            writer=env_int("BENCH_PROJ_WRITER", 1) == 1,
            set_based=env_int("BENCH_PROJ_SET_BASED", 1) == 1,
        )


class _existing:
    """A database already loaded with the stream (``BENCH_PROJ_DATABASE_URL``): its views
    are dropped first, so the catch-up starts from zero; the database is kept."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            names = conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'view\\_%'"
            ).fetchall()
            for (name,) in names:
                conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')  # partitions go with parents
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None


def stream_config(events: int) -> StreamConfig:
    return StreamConfig(
        events=events,
        lot=env_int("BENCH_PROJ_LOT", StreamConfig.lot),
        case=env_int("BENCH_PROJ_CASE", StreamConfig.case),
        commission=env_int("BENCH_PROJ_COMMISSION", StreamConfig.commission),
        dispense=env_float("BENCH_PROJ_DISPENSE", StreamConfig.dispense),
    )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_results(results: list[SizeResult], cfg: StreamConfig) -> list[str]:
    print()
    print(
        f"stream: lots of {cfg.lot:,} boxes, commissioned {cfg.commission} per event, "
        f"cases of {cfg.case}, pack/ship/receive/unpack per case, "
        f"{cfg.dispense:.0%} of the boxes dispensed one per event"
    )
    headers = [
        "events",
        "codes",
        "fact rows",
        "load s",
        "catch-up s",
        "events/s",
        "facts/s",
        "status p50 ms",
        "p99 ms",
        "max ms",
        "MATCH_epc p50 ms",
        "p99 ms",
        "trail codes",
        "trail s",
        "trail HTTP s",
        "stock ms",
        "stock as_of s",
    ]
    rows = []
    for r in results:
        rows.append(
            [
                f"{r.events:,}",
                f"{r.codes:,}",
                f"{r.fact_rows:,}",
                f"{r.load_s:.0f} {r.loader}" if r.load_s else r.loader,
                f"{r.catch_up_s:.1f}",
                f"{r.events_per_s:,.0f}",
                f"{r.fact_rows / r.catch_up_s:,.0f}" if r.catch_up_s else "-",
                f"{r.status_p(0.5):.2f}",
                f"{r.status_p(0.99):.2f}",
                f"{max(r.status_ms, default=0):.1f}",
                f"{r.match_p(0.5):.2f}",
                f"{r.match_p(0.99):.2f}",
                f"{r.trail_codes:,}",
                f"{r.trail_s:.2f}",
                f"{r.trail_http_s:.2f}" if r.trail_http_s is not None else "-",
                f"{statistics.median(r.stock_ms):.1f}" if r.stock_ms else "-",
                f"{r.stock_as_of_s:.2f}" if r.stock_as_of_s is not None else "-",
            ]
        )
    print_table(headers, rows)
    print(
        "  catch-up: ReadModelRunner.run_once until caught up, from zero, this process, the "
        "server's projections; status: GET /codes/{code} for random codes, one at a time on "
        "one keep-alive connection to `tracecode serve` (uvicorn) on 127.0.0.1, client time; "
        "MATCH_epc: GET /events?MATCH_epc=<code> the same way, for half as many codes; "
        "trail: recall_trail.trail of lot L0 in this process (HTTP: GET /trails once); "
        "stock: GET /stock (no as_of, view_code_state), median of 5; stock as_of: the "
        "fact query in this process."
    )
    for r in results:
        split = ", ".join(f"{name} {s:.1f} s" for name, s in r.per_projection.items())
        rest = r.catch_up_s - sum(r.per_projection.values())
        print(
            f"  {r.events:,} events: apply per projection: {split}; reading + decoding the "
            f"log and tracking: {rest:.1f} s; ANALYZE of the views after: {r.analyze_s:.1f} s; "
            f"{r.status_errors} status errors; {r.match_errors} MATCH_epc errors, "
            f"{r.match_events:,} events returned; "
            f"{r.stock_lines} stock lines"
        )
        if r.stretch_text():
            print(f"  {r.events:,} events: {r.stretch_text()}")
        if r.profile:
            print(r.profile)
    lines = []
    for r in results:
        lines.append(
            f"projections {r.events:,} events ({_loaded(r)}): catch-up "
            f"{r.events_per_s:,.0f} events/s{' (partial)' if r.partial else ''} "
            f"({r.fact_rows:,} fact rows)"
            + (
                f", GET /codes p99 {r.status_p(0.99):.1f} ms, "
                f"GET /events?MATCH_epc p99 {r.match_p(0.99):.1f} ms, trail of "
                f"{r.trail_codes:,} codes {r.trail_s:.2f} s, GET /stock "
                f"{statistics.median(r.stock_ms) if r.stock_ms else 0:.0f} ms"
                if r.status_ms
                else ""
            )
            + ("" if r.writer is None else f"; {r.writer.line()}")
            + (f"; {r.stretch_text()}" if r.stretch_text() else "")
            + ("" if r.set_based is None else f"; {r.set_based.line()}")
        )
    return lines + print_goals(results, cfg.lot)


def _loaded(r: SizeResult) -> str:
    from bench.bulk_log import MARK

    return MARK if r.loader == "bulk" else r.loader + "d" if r.loader == "capture" else r.loader


def _verdict(value: float | None, ok: bool, text: str) -> str:
    return "-" if value is None else f"{text} {_met(ok)}"


def _growth(a: SizeResult, b: SizeResult) -> tuple[float | None, float | None]:
    """From ``a`` to ``b``: catch-up time per event, and the trail's time, as ratios."""
    per_event = None
    if a.caught_up and b.caught_up and a.catch_up_s and b.catch_up_s:
        per_event = (b.catch_up_s / b.caught_up) / (a.catch_up_s / a.caught_up)
    trail = b.trail_s / a.trail_s if a.trail_codes and b.trail_codes and a.trail_s else None
    return per_event, trail


def http_capture() -> Any:
    """The PostgreSQL result of ``python -m bench http`` if it ran in this process."""
    from bench import http_load

    found = [r for r in http_load.MEASURED if r.store == "postgresql"]
    return found[-1] if found else None


def print_goals(results: list[SizeResult], lot: int) -> list[str]:
    """The issue's table: each measure per size against its goal, met or NOT met."""
    sizes = [f"{r.events:,} {'bulk' if r.loader == 'bulk' else r.loader}" for r in results]
    rows: list[list[str]] = []

    def row(measure: str, goal: str, cells: list[str]) -> None:
        rows.append([measure, goal, *cells])

    row(
        "catch-up from zero, events/s",
        f">= {GOAL_CATCH_UP:,.0f}",
        [
            _verdict(r.events_per_s, r.events_per_s >= GOAL_CATCH_UP, f"{r.events_per_s:,.0f}")
            + (f" (partial, {r.caught_up:,} in {r.catch_up_s:.0f} s)" if r.partial else "")
            for r in results
        ],
    )
    if any(r.set_based for r in results):
        row(
            "catch-up, set-based in PostgreSQL (bench.set_based), events/s",
            f">= {GOAL_CATCH_UP:,.0f}",
            [
                "-"
                if r.set_based is None
                else _verdict(
                    r.set_based.events_per_s,
                    r.set_based.events_per_s >= GOAL_CATCH_UP,
                    f"{r.set_based.events_per_s:,.0f}",
                )
                for r in results
            ],
        )
    row(
        "GET /codes/{code} p99 ms (p50)",
        f"<= {GOAL_STATUS_P99 * 1000:g}",
        [
            _verdict(
                r.status_p(0.99) if r.status_ms else None,
                r.status_p(0.99) <= GOAL_STATUS_P99 * 1000,
                f"{r.status_p(0.99):.1f} ({r.status_p(0.5):.1f})",
            )
            for r in results
        ],
    )
    row(
        f"trail of lot L0 ({lot:,} codes), s, in process",
        f"<= {GOAL_TRAIL:g}",
        [
            _verdict(
                r.trail_s if r.trail_codes else None, r.trail_s <= GOAL_TRAIL, f"{r.trail_s:.2f}"
            )
            for r in results
        ],
    )
    row(
        "trail of lot L0, s, GET /trails",
        f"<= {GOAL_TRAIL:g}",
        [
            _verdict(r.trail_http_s, (r.trail_http_s or 0) <= GOAL_TRAIL, f"{r.trail_http_s:.2f}")
            if r.trail_http_s is not None
            else "-"
            for r in results
        ],
    )
    as_of = [r.stock_as_of_http_s or r.stock_as_of_s for r in results]
    row(
        "GET /stock?as_of=… s (in process)"
        if not any(r.stock_as_of_http_s for r in results)
        else "GET /stock?as_of=… s, HTTP (in process)",
        f"<= {GOAL_STOCK_AS_OF:g}",
        [
            _verdict(
                seconds,
                (seconds or 0) <= GOAL_STOCK_AS_OF,
                f"{seconds or 0:.2f} ({r.stock_as_of_s or 0:.2f})",
            )
            for r, seconds in zip(results, as_of, strict=True)
        ],
    )
    for a, b in itertools.pairwise(results):
        per_event, trail = _growth(a, b)
        label = f"{a.events:,} -> {b.events:,}"
        cells = ["-"] * len(results)
        cells[results.index(b)] = (
            _verdict(per_event, (per_event or 0) <= GOAL_GROWTH, f"x{per_event or 0:.2f}")
            + " / "
            + _verdict(trail, (trail or 0) <= GOAL_GROWTH, f"trail x{trail or 0:.2f}")
        )
        row(f"growth {label}: catch-up time per event / trail", f"<= x{GOAL_GROWTH:g}", cells)
    http = http_capture()
    if http is None:
        capture = "not run here: BENCH_HTTP_SECONDS=10 python -m bench http"
    else:
        capture = (
            f"{http.events_per_s:,.0f}/s back to back (p99 {http.percentile(99):.0f} ms, "
            f"{http.clients} clients, closed loop) "
            f"{_met(http.events_per_s >= GOAL_HTTP_CAPTURE)}; open-loop p99 not measured"
        )
    print()
    print("against the goals of issue 14 (PostgreSQL):")
    print_table(["measure", "goal", *sizes], rows)
    print(
        f"  100 HTTP clients, one-event captures, PostgreSQL (goal >= {GOAL_HTTP_CAPTURE:,.0f}/s "
        f"back to back; p99 <= 50 ms at an offered open-loop 1,500/s): {capture}"
    )
    print(
        "  sizes: 'capture' logs were captured through Ledger.append; 'bulk' logs were "
        "written by bench.bulk_log (COPY into the log tables, the rows a capture writes; "
        "tracecode verify passes on them, but no client sent them): bulk-loaded, not a "
        "captured ledger. '-': not measured (BENCH_PROJ_READS, BENCH_PROJ_AS_OF_STOCK_MAX; "
        "the HTTP trail and as_of stock are skipped when in process they took over 30 s "
        "and 60 s)."
    )
    lines = [f"goal {r[0]} {r[1]}: " + "; ".join(r[2:]) for r in rows]
    return [*lines, f"goal HTTP captures >= {GOAL_HTTP_CAPTURE:,.0f}/s: {capture}"]


def main() -> list[str]:
    """Run the projection benchmarks; return the summary lines."""
    settings = BenchSettings.from_env()
    print("== projections: catch-up and reads over a big ledger (PostgreSQL) ==")
    print(machine_line())
    results = []
    for size in settings.sizes:
        cfg = stream_config(size)
        print(f"{size:,} events:", flush=True)
        results.append(run_size(cfg, settings))
    lines = print_results(results, stream_config(settings.sizes[-1]))
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    main()
