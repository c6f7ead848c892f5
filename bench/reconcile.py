"""``python -m bench reconcile``: stock reconciliation by code of one location holding
100,000 codes (issue 12).

For each store (``BENCH_STORES``: a fresh PostgreSQL database, then a fresh SQLite file) a
real ``tracecode serve`` gets a hospital's master data (institution ``BH``: warehouse
``WH``, outpatient pharmacy ``OP`` with its window ``OP-1``, a ward ``W01``, a supplier)
and then its scans through ``POST /scans``, each as a terminal sends it, with its
``eventTime`` (back-filled: the log is built in minutes, the hospital's months are not):

* **before the period** ``BENCH_RECON_OTHER`` (as many) boxes are received at the
  warehouse and stay there (the table holds more than the location's facts), and
  ``BENCH_RECON_CODES`` (100,000) boxes of two products in four
  lots are received at the warehouse, transferred to ``OP`` and accepted there, a fifth
  of them then transferred on to the window ``OP-1`` and accepted there — scans of up to
  1,000 codes each (:data:`ledger.scan_request.MAX_CODES`, a pallet's worth), the fastest
  honest way the ledger offers: every code still goes through the scan gate, one event
  per scan, as in a hospital that scans pallets;
* **in the period** (28 days), each day: new stock received and brought to ``OP``
  (transferred in), dispensing at ``OP-1`` (one to four boxes a prescription, one scan
  each; a few returned by the patient the same day), transfers out to the ward, returns
  to the warehouse, a destruction, a lend and its return, and a weekly restock of the
  window from ``OP`` (an internal transfer: out while in transit, in when accepted);
  the shares of ``BENCH_RECON_CODES`` are in :class:`Shares`;
* **the count** on the last day: stocktake scans (up to 1,000 codes each) at ``OP-1``
  and ``OP`` of every code on the books, but ``BENCH_RECON_MISSING`` (5) left out, plus
  three extra: one the ledger has on the ward (``elsewhere``), one dispensed, one it
  never saw.

Scans whose codes do not depend on each other go ``BENCH_RECON_CLIENTS`` (4) at a time.
Then the projections catch up in this process (as the server's background runner would;
on PostgreSQL the views are ANALYZEd after, what autovacuum does soon after a bulk load),
and it measures:

* :func:`projections.reconciliation.reconcile` in this process (best of
  ``BENCH_RECON_REPEAT``, 3), with the codes and fact rows its queries select;
* ``GET /reconciliation`` through the server with a reader key, JSON and CSV (best of 2;
  the first read after the scans also catches the server's projections up, so one read is
  made and not counted first);

and checks the answer against a model the bench keeps of every code: the codes missing
and extra exactly, the ward code among ``elsewhere``, and the sums of the lines (opening,
each in and out column, theoretical closing, books at the count, counted). A wrong answer
is printed as such. ``BENCH_PROFILE=1`` prints a cProfile of one in-process reconcile;
``BENCH_RECON_DATABASE_URL`` reuses a store built before with the same settings (the
model is built again, the log is not; a server is started on it for the HTTP figures), and
``BENCH_RECON_KEEP=1`` keeps the store it builds (its URL is printed): measure a change to
the read side without building the log again.
Figures are reported, never asserted.
"""

from __future__ import annotations

import cProfile
import os
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.http_load import HOST, capture_key, create_tables, running_server
from bench.ledger import env_int, env_stores, fresh_store, machine_line, profile_text
from bench.scans import bearer, load_master_data, patient_key_env, scan_or_fail

INSTITUTION = "BH"
HERE = ("OP", "OP-1")
PRODUCTS = ("8300001", "8300002")
LOTS = (("8300001", "A1"), ("8300001", "A2"), ("8300002", "B1"), ("8300002", "B2"))
WAREHOUSE_LOTS = (("8300001", "W1"), ("8300002", "W2"))
"""Stock that stays in the warehouse: facts of codes that never were at the location."""
CHUNK = 1000
PERIOD_DAYS = 28
SETUP_DAYS = 30
START = datetime(2026, 1, 1, tzinfo=UTC)
"""When the stock arrives (the period opens ``SETUP_DAYS`` later): fixed, so that a store
built before (``BENCH_RECON_DATABASE_URL``) is asked about the same period."""


def hospital_csv() -> tuple[str, str]:
    products = (
        "yb_code,gtin,trace_prefix,level,units,name,spec,form,manufacturer,approval_no,"
        "must_scan,split\n"
        "BX01,,8300001,box,10,头孢克肟片,0.1g*10片,片剂,某药业,国药准字H9,1,0\n"
        "BX02,,8300002,box,24,阿莫西林胶囊,0.25g*24粒,胶囊剂,某药业,国药准字H8,1,0\n"
    )
    places = [
        (INSTITUTION, "第一医院", "institution", ""),
        ("WH", "药库", "warehouse", INSTITUTION),
        ("SUP", "某医药公司", "supplier", ""),
        ("OP", "门诊药房", "pharmacy", INSTITUTION),
        ("OP-1", "门诊药房一号窗口", "pharmacy", "OP"),
        ("W01", "一病区", "ward", INSTITUTION),
    ]
    rows = [f"{i},{name},{kind},{parent},{INSTITUTION}" for i, name, kind, parent in places]
    return products, "id,name,kind,parent,institution_code\n" + "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Shares:
    """What happens in the period, as shares of the codes at ``OP`` when it opens."""

    received: float = 0.05  # new stock brought to OP (transferredIn)
    dispensed: float = 0.05  # bound at OP-1, one to four a prescription
    unbound: float = 0.05  # of the dispensed: returned by the patient (returnedIn)
    to_ward: float = 0.02  # transferred out to W01
    to_warehouse: float = 0.01  # returned to the warehouse
    destroyed: float = 0.002
    lent: float = 0.002  # lent, half returned
    restock: float = 0.02  # OP → OP-1 (out and in again)


# -- the hospital and its model ------------------------------------------------------------


@dataclass
class Pack:
    line: tuple[str, str]
    state: str = "in_stock"  # in_stock, in_transit, bound, lent, destroyed
    place: str = "WH"


@dataclass
class Scan:
    operation: str
    location: str
    codes: list[str]
    extra: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None

    def body(self) -> dict[str, Any]:
        assert self.at is not None
        return {
            "operation": self.operation,
            "location": self.location,
            "codes": self.codes,
            "eventTime": self.at.isoformat(),
            **self.extra,
        }


@dataclass
class Hospital:
    """The scans to send, phase by phase (the scans of a phase touch distinct codes), and
    where the model has each pack."""

    rng: random.Random
    packs: dict[str, Pack] = field(default_factory=dict)
    phases: list[list[Scan]] = field(default_factory=list)
    in_period: bool = False
    moves: Counter[str] = field(default_factory=Counter)
    serials: Counter[str] = field(default_factory=Counter)
    clock: datetime = START
    patients: int = 0

    def phase(self, scans: list[Scan]) -> None:
        scans = [s for s in scans if s.codes]
        for scan in scans:
            self.clock += timedelta(seconds=1)
            scan.at = self.clock
        if scans:
            self.phases.append(scans)

    def on_books(self, code: str) -> bool:
        pack = self.packs[code]
        return pack.state == "in_stock" and pack.place in HERE

    def _set(self, codes: Sequence[str], state: str, place: str | None, kind: str) -> None:
        for c in codes:
            before = self.on_books(c)
            pack = self.packs[c]
            pack.state = state
            if place is not None:
                pack.place = place
            if self.in_period and before != self.on_books(c):
                self.moves[kind] += 1

    def shelf(self, place: str) -> list[str]:
        return [c for c, p in self.packs.items() if p.state == "in_stock" and p.place == place]

    def take(self, place: str, count: int) -> list[str]:
        free = self.shelf(place)
        return self.rng.sample(free, min(count, len(free)))

    # -- operations (each a phase or more; the model follows) ------------------------------

    def receive(self, line: tuple[str, str], count: int) -> list[str]:
        prefix = line[0]
        made = []
        for _ in range(count):
            self.serials[prefix] += 1
            made.append(f"{prefix}{self.serials[prefix]:013d}")
        for c in made:
            self.packs[c] = Pack(line)
        return made

    def bring(self, chunks: list[list[str]], to: str) -> None:
        """Move the chunks (each the codes of one scan) from where they are to ``to``."""
        scans = []
        for chunk in chunks:
            source = self.packs[chunk[0]].place
            if to == "WH":
                scans.append(Scan("return_to_warehouse", source, chunk))
            else:
                scans.append(Scan("transfer", source, chunk, {"destination": to}))
            self._set(chunk, "in_transit", None, "transferredOut")
        self.phase(scans)
        self.phase([Scan("accept", to, chunk) for chunk in chunks])
        for chunk in chunks:
            self._set(chunk, "in_stock", to, "transferredIn")

    def receive_only(self, lines: Sequence[tuple[str, str]], count: int) -> None:
        """Receive ``count`` codes of each line at the warehouse, where they stay."""
        chunks = []
        for line in lines:
            made = self.receive(line, count)
            chunks += [made[n : n + CHUNK] for n in range(0, len(made), CHUNK)]
        self.phase([self._receiving(c) for c in chunks])

    def _receiving(self, chunk: list[str]) -> Scan:
        lot = self.packs[chunk[0]].line[1]
        return Scan("receive", "WH", chunk, {"source": "SUP", "lot": lot, "expires": "2099-12-31"})

    def arrive(self, lines: Sequence[tuple[str, str]], count: int, to: str) -> list[str]:
        """Receive ``count`` codes of each line at the warehouse and bring them to ``to``."""
        chunks = []
        for line in lines:
            made = self.receive(line, count)
            chunks += [made[n : n + CHUNK] for n in range(0, len(made), CHUNK)]
        self.phase([self._receiving(c) for c in chunks])
        self.bring(chunks, to)
        return [c for chunk in chunks for c in chunk]

    def dispense(self, count: int) -> list[str]:
        codes = self.take("OP-1", count)
        scans = []
        n = 0
        while n < len(codes):
            size = self.rng.randint(1, 4)
            self.patients += 1
            body = {"patient": f"P-{self.patients}", "order": f"RX-{self.patients}"}
            scans.append(Scan("bind", "OP-1", codes[n : n + size], body))
            n += size
        self.phase(scans)
        self._set(codes, "bound", None, "dispensed")
        return codes

    def leave(self, operation: str, codes: list[str], state: str, kind: str) -> None:
        self.phase([Scan(operation, "OP", [c]) for c in codes])
        self._set(codes, state, None, kind)


def build(codes: int, shares: Shares, seed: int = 12) -> tuple[Hospital, Plan]:
    """The whole log as phases of scans, and what the answer must be."""
    start = START
    hospital = Hospital(random.Random(seed), clock=start)
    per_line = codes // len(LOTS)
    hospital.receive_only(WAREHOUSE_LOTS, env_int("BENCH_RECON_OTHER", codes) // 2)
    everything = hospital.arrive(LOTS, per_line, "OP")
    window = [
        everything[n : n + CHUNK] for n in range(0, len(everything), CHUNK) if n // CHUNK % 5 == 0
    ]
    hospital.bring(window, "OP-1")
    period_start = start + timedelta(days=SETUP_DAYS)
    opening = sum(hospital.on_books(c) for c in hospital.packs)
    hospital.in_period = True
    per_day = opening / PERIOD_DAYS
    rng = hospital.rng
    for day in range(PERIOD_DAYS):
        hospital.clock = period_start + timedelta(days=day, hours=8)
        hospital.arrive([rng.choice(LOTS)], round(per_day * shares.received), "OP")
        bound = hospital.dispense(round(per_day * shares.dispensed))
        back = rng.sample(bound, round(len(bound) * shares.unbound))
        hospital.phase([Scan("unbind", "OP-1", [c]) for c in back])
        hospital._set(back, "in_stock", "OP-1", "returnedIn")
        ward = hospital.take("OP", max(1, round(per_day * shares.to_ward)))
        home = [c for c in hospital.take("OP", round(per_day * shares.to_warehouse) * 2)]
        home = [c for c in home if c not in set(ward)][: round(per_day * shares.to_warehouse)]
        hospital.bring([ward[n : n + 100] for n in range(0, len(ward), 100)], "W01")
        hospital.bring([home[n : n + 100] for n in range(0, len(home), 100)], "WH")
        hospital.leave(
            "destroy",
            hospital.take("OP", round(per_day * shares.destroyed)),
            "destroyed",
            "destroyed",
        )
        lent = hospital.take("OP", round(per_day * shares.lent))
        hospital.leave("lend", lent, "lent", "lent")
        returned = lent[: len(lent) // 2]
        hospital.phase([Scan("lend_return", "OP", [c]) for c in returned])
        hospital._set(returned, "in_stock", "OP", "returnedIn")
        if day % 7 == 6:
            moved = hospital.take("OP", round(per_day * 7 * shares.restock))
            hospital.bring([moved[n : n + CHUNK] for n in range(0, len(moved), CHUNK)], "OP-1")
    # the count, on the last day: everything on the books but a few, and three extra
    hospital.clock = period_start + timedelta(days=PERIOD_DAYS, hours=20)
    books = sorted(c for c in hospital.packs if hospital.on_books(c))
    missing = sorted(rng.sample(books, min(len(books), env_int("BENCH_RECON_MISSING", 5))))
    on_ward = hospital.shelf("W01")[0]
    with_patient = next(c for c, p in hospital.packs.items() if p.state == "bound")
    unknown = f"{PRODUCTS[0]}{9_999_999_999:013d}"
    skip = set(missing)
    found = {
        place: [c for c in books if c not in skip and hospital.packs[c].place == place]
        for place in HERE
    }
    found["OP"] += [on_ward, with_patient, unknown]
    hospital.phase(
        [
            Scan("stocktake", place, seen[n : n + CHUNK])
            for place, seen in found.items()
            for n in range(0, len(seen), CHUNK)
        ]
    )
    end = period_start + timedelta(days=PERIOD_DAYS + 1)
    plan = Plan(
        start=period_start,
        end=end,
        opening=opening,
        closing=len(books),
        moves=hospital.moves,
        missing=missing,
        extra=sorted([on_ward, with_patient, unknown]),
        elsewhere=on_ward,
    )
    return hospital, plan


@dataclass(frozen=True)
class Plan:
    """What the reconciliation must answer."""

    start: datetime
    end: datetime
    opening: int
    closing: int
    moves: Counter[str]
    missing: list[str]
    extra: list[str]
    elsewhere: str

    def query(self) -> dict[str, str]:
        return {
            "location": "OP",
            "from": self.start.isoformat().replace("+00:00", "Z"),
            "to": self.end.isoformat().replace("+00:00", "Z"),
        }


# -- sending -------------------------------------------------------------------------------


@dataclass
class Built:
    scans: int = 0
    codes_scanned: int = 0
    seconds: float = 0.0
    by_operation: Counter[str] = field(default_factory=Counter)


def send(port: int, terminal: str, hospital: Hospital, clients: int) -> Built:
    built = Built()
    started = time.perf_counter()
    total = sum(len(p) for p in hospital.phases)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    with (
        httpx.Client(base_url=f"http://{HOST}:{port}", timeout=600, limits=limits) as http,
        ThreadPoolExecutor(clients) as pool,
    ):
        for phase in hospital.phases:
            list(pool.map(lambda s: scan_or_fail(http, terminal, s.body()), phase))
            built.scans += len(phase)
            for scan in phase:
                built.codes_scanned += len(scan.codes)
                built.by_operation[scan.operation] += 1
            if built.scans // 500 != (built.scans - len(phase)) // 500:
                print(f"    … {built.scans:,} of {total:,} scans", flush=True)
    built.seconds = time.perf_counter() - started
    return built


# -- measuring -----------------------------------------------------------------------------


@dataclass
class Result:
    store: str
    built: Built | None = None
    catch_up_s: float = 0.0
    caught_up: int = 0
    fact_rows: int = 0
    codes: int = 0
    rows_read: int = 0
    reconcile_s: list[float] = field(default_factory=list)
    json_s: list[float] = field(default_factory=list)
    csv_s: list[float] = field(default_factory=list)
    json_bytes: int = 0
    csv_bytes: int = 0
    problems: list[str] = field(default_factory=list)
    checked: bool = False
    profile: str = ""


def catch_up(url: str, result: Result) -> None:
    from sqlalchemy import func, select

    from ledger.application import Ledger
    from ledger.settings import store_settings
    from projections.runner import ReadModelRunner
    from projections.schema import code_facts

    ledger = Ledger(store_settings(url))
    runner = ReadModelRunner(ledger)
    try:
        started = time.perf_counter()
        result.caught_up = runner.run_until_caught_up()
        if runner.engine.dialect.name == "postgresql":
            from bench.projections import analyze_views

            analyze_views(runner.engine)
        result.catch_up_s = time.perf_counter() - started
        with runner.connect() as conn:
            result.fact_rows = conn.execute(
                select(func.count()).select_from(code_facts)
            ).scalar_one()
    finally:
        runner.close()
        ledger.close()


def _places() -> list[str]:
    from ledger.locations import location_uri

    return [location_uri(INSTITUTION, p) for p in HERE]


def _units(product: str | None) -> int | None:
    return {"8300001": 10, "8300002": 24}.get(product or "")


def in_process(
    url: str, plan_query: dict[str, str], result: Result, repeat: int, profile: bool
) -> Any:
    from sqlalchemy import func, or_, select

    from projections.reconciliation import STOCKTAKE_STEP, reconcile
    from projections.runner import make_engine
    from projections.schema import code_facts, utc_text

    start, end = utc_text(plan_query["from"]), utc_text(plan_query["to"])
    places = _places()
    engine = make_engine(url)
    found = None
    try:
        with engine.connect() as conn:
            for _ in range(repeat):
                started = time.perf_counter()
                found = reconcile(
                    conn, places=places, start=start, end=end, scope=INSTITUTION, units=_units
                )
                result.reconcile_s.append(time.perf_counter() - started)
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
                reconcile(
                    conn, places=places, start=start, end=end, scope=INSTITUTION, units=_units
                )
                profiler.disable()
                result.profile = profile_text(
                    profiler, "cProfile of one reconcile, by own time:", 25
                )
            touched = (
                select(code_facts.c.code)
                .where(
                    or_(
                        code_facts.c.biz_location.in_(places),
                        code_facts.c.read_point.in_(places)
                        & (code_facts.c.biz_step == STOCKTAKE_STEP),
                    ),
                    code_facts.c.event_time < end,
                )
                .distinct()
                .subquery()
            )
            result.codes = conn.execute(select(func.count()).select_from(touched)).scalar_one()
            result.rows_read = conn.execute(
                select(func.count()).where(code_facts.c.code.in_(select(touched.c.code)))
            ).scalar_one()
    finally:
        engine.dispose()
    return found


def reader_key(url: str) -> str:
    return capture_key(url, "reader", INSTITUTION)


def over_http(port: int, key: str, query: dict[str, str], result: Result) -> dict[str, Any]:
    body: dict[str, Any] = {}
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=1800, headers=bearer(key)) as http:
        warm = http.get("/reconciliation", params=query)  # catches the server's views up
        if warm.status_code != 200:
            raise RuntimeError(f"GET /reconciliation: {warm.status_code} {warm.text[:500]}")
        for _ in range(2):
            started = time.perf_counter()
            answer = http.get("/reconciliation", params=query)
            result.json_s.append(time.perf_counter() - started)
            body = answer.json()
            result.json_bytes = len(answer.content)
            started = time.perf_counter()
            as_csv = http.get("/reconciliation", params=query, headers={"Accept": "text/csv"})
            result.csv_s.append(time.perf_counter() - started)
            result.csv_bytes = len(as_csv.content)
            if as_csv.status_code != 200:
                result.problems.append(f"CSV: {as_csv.status_code}")
    return body


def check(body: dict[str, Any], plan: Plan, result: Result, how: str) -> None:
    """The answer against the model: ``result.problems`` says what differs."""
    from epcis.identifiers.facts import canonical

    result.checked = True
    wrong = result.problems

    def same(name: str, got: object, want: object) -> None:
        if got != want:
            wrong.append(f"{how}: {name}: answered {str(got)[:200]}, expected {str(want)[:200]}")

    same(
        "missing", sorted(m["code"] for m in body["missing"]), [canonical(c) for c in plan.missing]
    )
    same(
        "extra", sorted(e["code"] for e in body["extra"]), sorted(canonical(c) for c in plan.extra)
    )
    if canonical(plan.elsewhere) not in {e["code"] for e in body["elsewhere"]}:
        wrong.append(f"{how}: elsewhere: the ward's code {plan.elsewhere} is not named")
    lines = body["lines"]

    def total(name: str) -> int:
        return sum(int(line[name]) for line in lines)

    same("opening", total("opening"), plan.opening)
    same("theoreticalClosing", total("theoreticalClosing"), plan.closing)
    same("booksAtCount", total("booksAtCount"), plan.closing)
    same("counted", total("counted"), plan.closing - len(plan.missing) + len(plan.extra))
    for kind in (
        "received",
        "transferredIn",
        "returnedIn",
        "otherIn",
        "dispensed",
        "transferredOut",
        "returnedToSupplier",
        "destroyed",
        "lent",
        "otherOut",
    ):
        same(kind, total(kind), plan.moves[kind])


def as_body(found: Any) -> dict[str, Any]:
    """An in-process :class:`projections.reconciliation.Reconciliation` as the fields
    :func:`check` reads of the HTTP answer."""
    return {
        "missing": [p.as_json() for p in found.missing],
        "extra": [p.as_json() for p in found.extra],
        "elsewhere": [p.as_json() for p in found.elsewhere],
        "lines": [line.as_json(lambda _: {}) for line in found.sorted_lines()],
    }


@contextmanager
def store(kind: str) -> Iterator[str]:
    """A fresh store; with ``BENCH_RECON_KEEP=1`` left behind (its URL printed)."""
    if os.environ.get("BENCH_RECON_KEEP") != "1":
        with fresh_store(kind) as url:
            yield url
        return
    if kind == "postgresql":
        from bench.ledger import make_postgres_database

        url = make_postgres_database("tracecode_bench_recon")
    else:
        import tempfile

        url = f"sqlite:///{tempfile.mkdtemp(prefix='tracecode-bench-recon-')}/ledger.db"
    yield url
    print(f"  kept: {url}")


def run_store(kind: str, codes: int, clients: int, repeat: int, profile: bool) -> Result:
    result = Result(kind)
    hospital, plan = build(codes, Shares())
    with store(kind) as url:
        create_tables(url)
        admin = capture_key(url, "admin", INSTITUTION)
        terminal = capture_key(url, "terminal", INSTITUTION)
        reader = reader_key(url)
        with running_server(url, "tracecode", 1, patient_key_env()) as server:
            with httpx.Client(base_url=f"http://{HOST}:{server.port}", timeout=120) as http:
                load_master_data(http, admin, *hospital_csv())
            print(f"  {kind}: sending {sum(len(p) for p in hospital.phases):,} scans …", flush=True)
            result.built = send(server.port, terminal, hospital, clients)
            print(
                f"  {kind}: {result.built.scans:,} scans ({result.built.codes_scanned:,} codes) "
                f"in {result.built.seconds:.0f} s",
                flush=True,
            )
            catch_up(url, result)
            found = in_process(url, plan.query(), result, repeat, profile)
            check(as_body(found), plan, result, "in process")
            body = over_http(server.port, reader, plan.query(), result)
            check(body, plan, result, "HTTP")
    return result


def run_reused(url: str, codes: int, repeat: int, profile: bool) -> Result:
    result = Result("sqlite" if url.startswith("sqlite") else "postgresql")
    _, plan = build(codes, Shares())
    catch_up(url, result)
    found = in_process(url, plan.query(), result, repeat, profile)
    check(as_body(found), plan, result, "in process")
    reader = reader_key(url)
    with running_server(url, "tracecode", 1, patient_key_env()) as server:
        check(over_http(server.port, reader, plan.query(), result), plan, result, "HTTP")
    return result


# -- reporting -----------------------------------------------------------------------------


def report(r: Result, codes: int) -> str:
    b = r.built
    if b is not None:
        ops = ", ".join(f"{op} {n:,}" for op, n in sorted(b.by_operation.items()))
        print(
            f"  {r.store}: log built through POST /scans (tracecode serve, scans of up to "
            f"{CHUNK:,} codes): {b.scans:,} scans, {b.codes_scanned:,} codes scanned in "
            f"{b.seconds:.0f} s ({ops})"
        )
    print(
        f"  {r.store}: projections caught up {r.caught_up:,} events in {r.catch_up_s:.1f} s; "
        f"{r.fact_rows:,} fact rows; the location's codes {r.codes:,}, their fact rows "
        f"{r.rows_read:,}"
    )
    verdict = (
        "answer checked: right"
        if r.checked and not r.problems
        else ("answer WRONG: " + "; ".join(r.problems[:6]) if r.problems else "answer not checked")
    )
    served = (
        f"GET /reconciliation JSON {min(r.json_s):.2f} s ({r.json_bytes / 1e3:,.0f} kB), "
        f"CSV {min(r.csv_s):.2f} s"
    )
    line = (
        f"reconcile {r.store} ({codes:,} codes at OP): reconcile() {min(r.reconcile_s):.2f} s "
        f"(best of {len(r.reconcile_s)}; all: {', '.join(f'{s:.2f}' for s in r.reconcile_s)}), "
        f"{served}; {r.rows_read:,} fact rows of {r.codes:,} codes; {verdict}"
    )
    print("  " + line)
    if r.profile:
        print(r.profile)
    return line


def main() -> list[str]:
    codes = env_int("BENCH_RECON_CODES", 100_000)
    clients = env_int("BENCH_RECON_CLIENTS", 4)
    repeat = env_int("BENCH_RECON_REPEAT", 3)
    profile = env_int("BENCH_PROFILE", 0) == 1
    print(f"== reconcile: one location holding {codes:,} codes, a month, a stocktake ==")
    print(machine_line())
    summary = []
    reuse = os.environ.get("BENCH_RECON_DATABASE_URL")
    if reuse:
        return [report(run_reused(reuse, codes, repeat, profile), codes)]
    for kind in env_stores():
        summary.append(report(run_store(kind, codes, clients, repeat, profile), codes))
    return summary


if __name__ == "__main__":
    main()
