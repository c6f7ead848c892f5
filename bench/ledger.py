"""``python -m bench ledger``: bulk capture into the ledger, on PostgreSQL and on SQLite.

Each document mixes ObjectEvents of ``BENCH_LEDGER_EPCS`` EPCs and AggregationEvents of
``BENCH_LEDGER_CHILDREN`` children (every ``BENCH_LEDGER_AGG_EVERY``-th event), all codes
unique. Documents go through :func:`ledger.capture.prepare` (parse + validate + hash) and
:meth:`ledger.application.Ledger.append`, one request per document as ``tracecode capture
FILE`` does it, then in groups of several documents per ``append`` as the group committer
does it. A *code* is one EPC of an ``epcList`` or ``childEPCs``, or a ``parentID``.

The physical reference is the same events' JSON, one row per event, written with
``COPY`` into a bare PostgreSQL table (and, for SQLite, one ``executemany`` INSERT into a
bare table) in one transaction. Every run gets a fresh database (or file), dropped
afterwards. Figures are reported, never asserted.

Settings (environment): ``BENCH_LEDGER_DOCS`` (50), ``BENCH_LEDGER_EVENTS`` (events per
document, 100), ``BENCH_LEDGER_EPCS`` (10), ``BENCH_LEDGER_CHILDREN`` (100),
``BENCH_LEDGER_AGG_EVERY`` (3), ``BENCH_LEDGER_GROUPS`` (documents per ``append``,
``1,10``), ``BENCH_LEDGER_EVENT_IDS`` (1: events carry a client eventID, 0 by default),
``BENCH_STORES`` (``postgresql,sqlite``), ``BENCH_PG_ADMIN_URL``
(``postgresql://postgres@127.0.0.1:5432/postgres``), ``BENCH_PROFILE`` (1: profile the
bulk path on the first store with cProfile and print the top costs),
``BENCH_LEDGER_RUN_TIMEOUT`` (120 s per run).

A run that has not finished within its time limit is abandoned and reported as hung: on
PostgreSQL one ``append`` of more than about 4 MB of events (e.g. 25 of these documents)
never returns — psycopg's pipeline mode, which ``eventsourcing`` uses for its INSERT,
waits on a server that waits for the rest of the query.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import platform
import pstats
import signal
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from bench.generate import COMPANY, sgtin, sscc
from epcis.context import make_context
from epcis.jsonld import write_json

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
STORES = ("postgresql", "sqlite")

# -- settings ------------------------------------------------------------------------------


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def env_stores() -> tuple[str, ...]:
    raw = os.environ.get("BENCH_STORES", "").strip()
    if not raw:
        return STORES
    stores = tuple(s.strip() for s in raw.split(",") if s.strip())
    unknown = [s for s in stores if s not in STORES]
    if unknown:
        raise SystemExit(f"BENCH_STORES: unknown store {unknown}; use {','.join(STORES)}")
    return stores


@dataclass(frozen=True)
class BulkConfig:
    docs: int = 50
    events: int = 100
    epcs: int = 10
    children: int = 100
    aggregation_every: int = 3
    groups: tuple[int, ...] = (1, 10)
    event_ids: bool = False
    stores: tuple[str, ...] = STORES
    profile: bool = False
    run_timeout: float = 120.0

    @classmethod
    def from_env(cls) -> BulkConfig:
        groups = os.environ.get("BENCH_LEDGER_GROUPS", "").strip()
        return cls(
            docs=env_int("BENCH_LEDGER_DOCS", cls.docs),
            events=env_int("BENCH_LEDGER_EVENTS", cls.events),
            epcs=env_int("BENCH_LEDGER_EPCS", cls.epcs),
            children=env_int("BENCH_LEDGER_CHILDREN", cls.children),
            aggregation_every=max(0, env_int("BENCH_LEDGER_AGG_EVERY", cls.aggregation_every)),
            groups=tuple(int(g) for g in groups.split(",") if g.strip()) if groups else cls.groups,
            event_ids=env_int("BENCH_LEDGER_EVENT_IDS", 0) == 1,
            stores=env_stores(),
            profile=env_int("BENCH_PROFILE", 0) == 1,
            run_timeout=env_float("BENCH_LEDGER_RUN_TIMEOUT", cls.run_timeout),
        )


# -- machine and stores --------------------------------------------------------------------


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


def postgres_version() -> str:
    try:
        with _pg_admin() as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return f"PostgreSQL {row[0]}" if row else "PostgreSQL ?"
    except Exception as exc:  # reported, not fatal: the SQLite runs can still go ahead
        return f"PostgreSQL unreachable at {PG_ADMIN_URL} ({exc.__class__.__name__})"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def machine_line() -> str:
    """Cores, Python, PostgreSQL, SQLite and library versions, on one line."""
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {postgres_version()}, "
        f"SQLite {sqlite3.sqlite_version}, eventsourcing {_version('eventsourcing')}, "
        f"psycopg {_version('psycopg')}, load average {_load()}"
    )


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def make_postgres_database(prefix: str = "tracecode_bench") -> str:
    """A new, empty PostgreSQL database; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlsplit(PG_ADMIN_URL)._replace(path="/" + name).geturl()


def drop_postgres_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_store(kind: str) -> Iterator[str]:
    """The URL of a new, empty store of this kind; removed on the way out, whatever happens."""
    if kind == "postgresql":
        url = make_postgres_database()
        try:
            yield url
        finally:
            drop_postgres_database(url)
        return
    with tempfile.TemporaryDirectory(prefix="tracecode-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'ledger.db'}"


class RunTimeout(Exception):
    """A run took longer than its time limit (a hang, not a slow run)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`RunTimeout` in the main thread after ``seconds`` (SIGALRM)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise RunTimeout(f"no result within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- the workload --------------------------------------------------------------------------


def codes_of(event: dict[str, Any]) -> int:
    """The trace codes an event names: its EPCs, its children and its parent."""
    count = len(event.get("epcList", ())) + len(event.get("childEPCs", ()))
    return count + (1 if event.get("parentID") else 0)


class Serials:
    """Unique serial numbers, so that every code and every event of a run is new."""

    def __init__(self, start: int = 1) -> None:
        self.next = start

    def take(self, n: int) -> range:
        out = range(self.next, self.next + n)
        self.next += n
        return out


def bulk_event(i: int, serials: Serials, cfg: BulkConfig, tag: str) -> dict[str, Any]:
    clock = f"{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}"
    base: dict[str, Any] = {
        "eventTime": f"2026-03-{1 + i % 28:02d}T{clock}+08:00",
        "eventTimeZoneOffset": "+08:00",
        "readPoint": {"id": f"urn:epc:id:sgln:{COMPANY}.00001.{i % 50}"},
        "bizLocation": {"id": f"urn:epc:id:sgln:{COMPANY}.00001.0"},
    }
    if cfg.event_ids:
        base["eventID"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{tag}/{i}')}"
    item = 100 + i % 7
    if cfg.aggregation_every and i % cfg.aggregation_every == 0:
        return {
            "type": "AggregationEvent",
            **base,
            "parentID": sscc(serials.take(1)[0]),
            "childEPCs": [sgtin(item, s) for s in serials.take(cfg.children)],
            "action": "ADD",
            "bizStep": "packing",
            "disposition": "in_progress",
        }
    return {
        "type": "ObjectEvent",
        **base,
        "epcList": [sgtin(item, s) for s in serials.take(cfg.epcs)],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "example:ward": f"W{i % 30}",
    }


def epcis_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": make_context({"example": "https://ns.example.com/epcis/"}),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T00:00:00.000+08:00",
        "epcisBody": {"eventList": events},
    }


@dataclass
class Workload:
    payloads: list[bytes]  # one JSON-LD document each
    event_json: list[str]  # every event alone, for the physical reference
    events: int
    codes: int

    @property
    def megabytes(self) -> float:
        return sum(len(p) for p in self.payloads) / 1e6


def make_workload(cfg: BulkConfig, serials: Serials) -> Workload:
    tag = uuid.uuid4().hex
    payloads: list[bytes] = []
    event_json: list[str] = []
    events = codes = 0
    for d in range(cfg.docs):
        batch = [bulk_event(d * cfg.events + k, serials, cfg, tag) for k in range(cfg.events)]
        payloads.append(write_json(epcis_document(batch), indent=None))
        event_json.extend(json.dumps(e, separators=(",", ":")) for e in batch)
        events += len(batch)
        codes += sum(codes_of(e) for e in batch)
    return Workload(payloads, event_json, events, codes)


# -- the runs ------------------------------------------------------------------------------


@dataclass
class BulkResult:
    store: str
    group: int  # documents per append
    docs: int
    events: int
    codes: int
    prepare_s: float
    append_s: float
    appends: int
    stored: int
    failures: int

    @property
    def total_s(self) -> float:
        return self.prepare_s + self.append_s

    @property
    def codes_per_s(self) -> float:
        return self.codes / self.total_s

    @property
    def events_per_s(self) -> float:
        return self.events / self.total_s

    @property
    def label(self) -> str:
        return "1 doc/append" if self.group == 1 else f"{self.group} docs/append"


@dataclass
class ReferenceResult:
    store: str
    method: str
    events: int
    codes: int
    seconds: float

    @property
    def codes_per_s(self) -> float:
        return self.codes / self.seconds

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds


def warm_up() -> None:
    """Compile the schemas and load the validators before anything is timed."""
    from ledger.capture import prepare

    cfg = BulkConfig(docs=1, events=3)
    prepare(make_workload(cfg, Serials(10**9)).payloads[0])


def run_bulk(
    kind: str,
    url: str,
    workload: Workload,
    group: int,
    profiler: cProfile.Profile | None = None,
) -> BulkResult:
    """Capture the workload's documents, ``group`` documents per ``append``."""
    from ledger.application import Ledger
    from ledger.capture import prepare
    from ledger.outcomes import Status
    from ledger.settings import store_settings

    ledger = Ledger(store_settings(url))  # creates the tables: not timed
    prepare_s = append_s = 0.0
    stored = failures = appends = 0
    try:
        if profiler is not None:
            profiler.enable()
        for start in range(0, len(workload.payloads), group):
            batch = workload.payloads[start : start + group]
            t0 = time.perf_counter()
            requests = [
                prepare(payload, origin=f"bench-{start + n}.jsonld")
                for n, payload in enumerate(batch)
            ]
            t1 = time.perf_counter()
            results = ledger.append(requests)
            t2 = time.perf_counter()
            prepare_s += t1 - t0
            append_s += t2 - t1
            appends += 1
            stored += sum(r.count(Status.STORED) for r in results)
            failures += sum(1 for r in results if not r.success)
    finally:
        if profiler is not None:
            profiler.disable()
        ledger.close()
    return BulkResult(
        store=kind,
        group=group,
        docs=len(workload.payloads),
        events=workload.events,
        codes=workload.codes,
        prepare_s=prepare_s,
        append_s=append_s,
        appends=appends,
        stored=stored,
        failures=failures,
    )


def run_copy_reference(url: str, workload: Workload, column: str) -> ReferenceResult:
    """``COPY`` the events' JSON, one row per event, into a bare table; one transaction."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.execute(f"CREATE TABLE copy_reference (event {column} NOT NULL)")
        conn.commit()
        t0 = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY copy_reference (event) FROM STDIN") as copy,
        ):
            for text in workload.event_json:
                copy.write_row((text,))
        conn.commit()
        seconds = time.perf_counter() - t0
        row = conn.execute("SELECT count(*) FROM copy_reference").fetchone()
        assert row is not None and row[0] == workload.events, row  # a broken run, not a timing
    return ReferenceResult("postgresql", f"COPY {column}", workload.events, workload.codes, seconds)


def run_sqlite_reference(url: str, workload: Workload) -> ReferenceResult:
    """One ``executemany`` INSERT of the events' JSON into a bare table, WAL, one transaction."""
    path = urlsplit(url).path[1:]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE reference (event TEXT NOT NULL)")
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO reference (event) VALUES (?)", ((t,) for t in workload.event_json)
        )
        conn.execute("COMMIT")
        seconds = time.perf_counter() - t0
    finally:
        conn.close()
    return ReferenceResult("sqlite", "INSERT text", workload.events, workload.codes, seconds)


# -- reporting -----------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Two left-aligned label columns, then right-aligned figures."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print("  " + line(headers))
    print("  " + line(["-" * w for w in widths]))
    for row in rows:
        print("  " + line(row))


@dataclass
class LedgerReport:
    bulk: list[BulkResult] = field(default_factory=list)
    references: list[ReferenceResult] = field(default_factory=list)
    hung: list[str] = field(default_factory=list)
    profile: str = ""

    def reference(self, store: str) -> ReferenceResult | None:
        """The store's physical reference: the first bare write run (COPY jsonb on PG)."""
        return next((r for r in self.references if r.store == store), None)

    def best(self, store: str) -> BulkResult | None:
        runs = [r for r in self.bulk if r.store == store]
        return max(runs, key=lambda r: r.codes_per_s) if runs else None

    def summary(self) -> list[str]:
        lines = []
        for store in STORES:
            refs = [r for r in self.references if r.store == store]
            for run in (r for r in self.bulk if r.store == store):
                ratio = "".join(
                    f", {run.codes_per_s / ref.codes_per_s:.3f} x {ref.method}" for ref in refs
                )
                lines.append(
                    f"bulk {store} {run.label}: {_rate(run.codes_per_s)} codes/s, "
                    f"{_rate(run.events_per_s)} events/s (prepare {run.prepare_s:.1f} s, "
                    f"append {run.append_s:.1f} s){ratio}"
                )
            for ref in (r for r in self.references if r.store == store):
                lines.append(
                    f"reference {store} {ref.method}: {_rate(ref.codes_per_s)} codes/s, "
                    f"{_rate(ref.events_per_s)} events/s"
                )
        lines.extend(f"HUNG bulk {note}" for note in self.hung)
        best, primary = self.best("postgresql"), self.reference("postgresql")
        if best is not None:
            met = "met" if best.codes_per_s >= 20_000 else "NOT met"
            lines.append(
                f"goal bulk >= 20,000 codes/s on PostgreSQL: {met} "
                f"({_rate(best.codes_per_s)}, {best.label})"
            )
            if primary is not None:
                share = best.codes_per_s / primary.codes_per_s
                met = "met" if share >= 0.25 else "NOT met"
                lines.append(f"goal bulk >= 0.25 x {primary.method}: {met} ({share:.3f})")
        return lines


def print_report(report: LedgerReport, cfg: BulkConfig, workload_mb: float) -> None:
    agg = (
        f"1 event in {cfg.aggregation_every} is an AggregationEvent of {cfg.children} "
        "children + parent"
        if cfg.aggregation_every
        else "no AggregationEvents"
    )
    print()
    print(
        f"bulk capture: {cfg.docs} documents x {cfg.events} events "
        f"(ObjectEvents of {cfg.epcs} EPCs; {agg}; "
        f"client eventIDs {'yes' if cfg.event_ids else 'no'}), {workload_mb:.1f} MB JSON-LD"
    )
    headers = [
        "store",
        "mode",
        "events",
        "codes",
        "prepare s",
        "append s",
        "total s",
        "events/s",
        "codes/s",
        "append codes/s",
        "x ref",
    ]
    rows = []
    for run in report.bulk:
        ref = report.reference(run.store)
        rows.append(
            [
                run.store,
                run.label,
                str(run.events),
                str(run.codes),
                f"{run.prepare_s:.2f}",
                f"{run.append_s:.2f}",
                f"{run.total_s:.2f}",
                _rate(run.events_per_s),
                _rate(run.codes_per_s),
                _rate(run.codes / run.append_s),
                f"{run.codes_per_s / ref.codes_per_s:.3f}" if ref else "-",
            ]
        )
    for ref in report.references:
        rows.append(
            [
                ref.store,
                f"ref: {ref.method}",
                str(ref.events),
                str(ref.codes),
                "-",
                f"{ref.seconds:.2f}",
                f"{ref.seconds:.2f}",
                _rate(ref.events_per_s),
                _rate(ref.codes_per_s),
                _rate(ref.codes_per_s),
                "1.000" if ref is report.reference(ref.store) else "-",
            ]
        )
    print_table(headers, rows)
    print(
        "  prepare = parse + validate + hash (epcis core); append = Ledger.append (store); "
        "x ref = codes/s (prepare + append) / codes/s of the store's reference "
        "(PostgreSQL: COPY jsonb; SQLite: INSERT text)"
    )
    bad = [r for r in report.bulk if r.stored != r.events or r.failures]
    for run in bad:
        print(
            f"  WARNING {run.store} {run.label}: {run.stored} of {run.events} events stored, "
            f"{run.failures} failed requests"
        )
    if report.profile:
        print()
        print(report.profile)


def profile_text(profiler: cProfile.Profile, title: str, top: int = 25) -> str:
    out = io.StringIO()
    out.write(f"{title}\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> list[str]:
    """Run the ledger benchmarks; return the summary lines."""
    cfg = BulkConfig.from_env()
    print("== ledger: bulk capture ==")
    print(machine_line())
    warm_up()
    serials = Serials()
    report = LedgerReport()
    workload_mb = 0.0
    profiled = False
    for kind in cfg.stores:
        for group in cfg.groups:
            workload = make_workload(cfg, serials)
            workload_mb = workload.megabytes
            profiler = cProfile.Profile() if cfg.profile and not profiled else None
            try:
                with fresh_store(kind) as url, time_limit(cfg.run_timeout):
                    result = run_bulk(kind, url, workload, group, profiler)
            except RunTimeout:
                mb = max(
                    sum(len(p) for p in workload.payloads[i : i + group])
                    for i in range(0, len(workload.payloads), group)
                )
                note = (
                    f"{kind} {group} docs/append: no answer within {cfg.run_timeout:g} s, "
                    f"abandoned (largest append {mb / 1e6:.1f} MB of JSON-LD)"
                )
                print(f"  HUNG: {note}", flush=True)
                report.hung.append(note)
                continue
            report.bulk.append(result)
            print(
                f"  {kind:<10} {result.label:<15} {_rate(result.codes_per_s):>8} codes/s  "
                f"(prepare {result.prepare_s:.2f} s, append {result.append_s:.2f} s)",
                flush=True,
            )
            if profiler is not None:
                profiled = True
                report.profile = profile_text(
                    profiler, f"cProfile of the bulk path ({kind}, {result.label}), by own time:"
                )
        workload = make_workload(cfg, serials)
        if kind == "postgresql":
            for column in ("jsonb", "text"):
                with fresh_store(kind) as url:
                    report.references.append(run_copy_reference(url, workload, column))
        else:
            with fresh_store(kind) as url:
                report.references.append(run_sqlite_reference(url, workload))
    print_report(report, cfg, workload_mb)
    return report.summary()


if __name__ == "__main__":
    for line in main():
        print(line)
