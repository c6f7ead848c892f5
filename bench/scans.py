"""``python -m bench scans``: hospital terminals scanning single codes through ``POST /scans``.

For each store (a fresh PostgreSQL database, then a fresh SQLite file) this starts a real
``tracecode serve`` (:func:`bench.http_load.running_server`), imports a small hospital's
master data, receives ``BENCH_SCAN_TERMINALS`` × ``BENCH_SCAN_CODES`` box codes at the
warehouse and transfers them to the terminals' pharmacies and wards (multi-code scans, not
measured). Then every terminal cycles its own codes, one code a scan, each code through
**accept → bind → unbind → transfer** (to the terminal's other location, where the next
round accepts it): a realistic mix that is green when all is well and in which no two
terminals ever touch one code, so a red answer is a finding, not the workload. Each scan
carries a ``scanId``; a request that fails is sent again as it was (retries are safe).

Two figures, as the issue asks:

* **closed loop** — each terminal sends its next scan as soon as the last one is answered:
  the most scans/s the server sustains (p50/p99 too; closed-loop latency is just terminals
  ÷ throughput);
* **open loop** — an offered load of ``BENCH_SCAN_RATE`` scans/s (2,000) spread evenly over
  the terminals, each on its own schedule; latency is measured from the *scheduled* send
  time, so time spent waiting behind a slow answer counts.

The same two loads then go through ``POST /events`` (one-event EPCIS documents,
:func:`bench.http_load.single_event_document`) on the same server, for comparison.

Each terminal is one keep-alive connection of :class:`bench.http_load.RawConnection`, all
in this process's event loop, which shares the machine's cores with the server and
PostgreSQL: the client's CPU is reported beside the server's.

With ``py-spy`` on ``PATH`` (or ``BENCH_SCAN_PYSPY`` naming it) the server is sampled
during the closed-loop scans and the busiest threads and functions are printed: what
limits it.

Settings (environment): ``BENCH_SCAN_TERMINALS`` (200), ``BENCH_SCAN_CODES`` (codes per
terminal, 8), ``BENCH_SCAN_SECONDS`` (10, each measured run), ``BENCH_SCAN_WARMUP`` (2
seconds of closed loop before the first run, not counted), ``BENCH_SCAN_RATE`` (2000),
``BENCH_SCAN_WORKERS`` (1, ``tracecode serve --workers``), ``BENCH_STORES``
(``postgresql,sqlite``).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from bench.http_load import (
    HOST,
    LoadResult,
    RawConnection,
    Server,
    ServerFailed,
    capture_key,
    create_tables,
    machine_busy_seconds,
    running_server,
    single_event_document,
)
from bench.ledger import env_float, env_int, env_stores, fresh_store, machine_line, print_table

INSTITUTION = "BH"
WAREHOUSE = "WH"
SUPPLIER = "SUP"
AREAS = ("OP", "EP", *(f"W{n:02d}" for n in range(1, 11)))
"""The pharmacies and wards terminals scan at; each terminal works at two of them."""
PREFIX = "8300001"
SCAN_TYPE = "application/json"
CHUNK = 100
"""Codes per setup scan."""
SETUP_TIMEOUT = 120.0
LATE = 2.0
"""An open-loop run stops this many seconds after its last scheduled send."""


def hospital_csv() -> tuple[str, str]:
    """The bench hospital's products and locations CSV (master data)."""
    products = (
        "yb_code,gtin,trace_prefix,level,units,name,spec,form,manufacturer,approval_no,"
        f"must_scan,split\nBX01,,{PREFIX},box,10,头孢克肟片,0.1g*10片,片剂,某药业,国药准字H9,1,0\n"
    )
    places = [
        (INSTITUTION, "第一医院", "institution", ""),
        (WAREHOUSE, "药库", "warehouse", INSTITUTION),
        (SUPPLIER, "某医药公司", "supplier", ""),
        *((a, a, "pharmacy" if a.endswith("P") else "ward", INSTITUTION) for a in AREAS),
    ]
    rows = [f"{i},{name},{kind},{parent},{INSTITUTION}" for i, name, kind, parent in places]
    return products, "id,name,kind,parent,institution_code\n" + "\n".join(rows) + "\n"


# -- setting the hospital up over HTTP (the race test uses these too) ------------------------


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def load_master_data(http: httpx.Client, admin_key: str, *csv_texts: str) -> None:
    """``POST /masterdata`` each CSV (products before locations); raises unless 201."""
    for text in csv_texts:
        headers = {"Content-Type": "text/csv", **bearer(admin_key)}
        answer = http.post("/masterdata", content=text.encode(), headers=headers)
        if answer.status_code != 201:
            raise RuntimeError(f"POST /masterdata: {answer.status_code} {answer.text[:500]}")


def scan_or_fail(http: httpx.Client, key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /scans`` that must be stored (201); its answer."""
    answer = http.post("/scans", json=body, headers=bearer(key))
    if answer.status_code != 201:
        raise RuntimeError(f"POST /scans {body['operation']}: {answer.status_code} {answer.text}")
    shown: dict[str, Any] = answer.json()
    return shown


def stock(
    http: httpx.Client,
    key: str,
    places: Mapping[str, Sequence[str]],
    *,
    warehouse: str = WAREHOUSE,
    supplier: str = SUPPLIER,
    accept: bool = True,
) -> None:
    """Receive every code of ``places`` (location id → codes) at the warehouse, transfer
    each to its location and (``accept``) accept it there: it is then in stock there;
    otherwise in transit to it. ``CHUNK`` codes a scan."""
    for place, codes in places.items():
        for n in range(0, len(codes), CHUNK):
            chunk = list(codes[n : n + CHUNK])
            receive = {"operation": "receive", "location": warehouse, "codes": chunk}
            receive |= {"source": supplier, "lot": "B1", "expires": "2099-12-31"}
            scan_or_fail(http, key, receive)
            moved = {"operation": "transfer", "location": warehouse, "destination": place}
            scan_or_fail(http, key, moved | {"codes": chunk})
            if accept:
                scan_or_fail(http, key, {"operation": "accept", "location": place, "codes": chunk})


def patient_key_env() -> dict[str, str]:
    """A patient key for a server started on a fresh store (no key file left behind)."""
    return {"TRACECODE_PATIENT_KEY": secrets.token_hex(32)}


# -- the terminals -----------------------------------------------------------------------


class Terminal(Protocol):
    def body(self) -> bytes:
        """The request to send next (the same again until :meth:`answered`)."""

    def answered(self, status: int, answer: bytes) -> str:
        """Take the answer; the outcome's label (``green``, ``red: already_bound``…)."""


STEPS = ("accept", "bind", "unbind", "transfer")


@dataclass
class ScanTerminal:
    """One terminal cycling its own codes: accept, bind, unbind, transfer to its other
    location; the k-th scan acts on code k mod n."""

    number: int
    codes: list[str]
    homes: tuple[str, str]
    steps: list[int] = field(default_factory=list)
    where: list[int] = field(default_factory=list)
    sent: int = 0
    pending: bytes | None = None
    operations: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.steps = [0] * len(self.codes)
        self.where = [0] * len(self.codes)

    def body(self) -> bytes:
        if self.pending is None:
            self.pending = self._next()
        return self.pending

    def _next(self) -> bytes:
        i = self.sent % len(self.codes)
        step = STEPS[self.steps[i]]
        here = self.homes[self.where[i]]
        scan: dict[str, Any] = {
            "operation": step,
            "location": here,
            "codes": [self.codes[i]],
            "scanId": f"t{self.number}-{self.sent}",
        }
        if step == "bind":
            scan |= {"patient": f"P{self.number}-{self.sent}", "order": f"RX{self.sent}"}
        elif step == "transfer":
            scan["destination"] = self.homes[1 - self.where[i]]
        return json.dumps(scan, separators=(",", ":")).encode()

    def answered(self, status: int, answer: bytes) -> str:
        i = self.sent % len(self.codes)
        if status == 201:
            self.operations[STEPS[self.steps[i]]] += 1
            self.steps[i] = (self.steps[i] + 1) % len(STEPS)
            if self.steps[i] == 0:
                self.where[i] = 1 - self.where[i]
            self.sent += 1
            self.pending = None
            return str(json.loads(answer).get("colour", "?"))
        if status == 409:
            codes = json.loads(answer).get("codes") or [{}]
            words = [r.get("reason", "?") for r in codes[0].get("reasons", [])]
            self.sent += 1  # not retried: a red scan stays red
            self.pending = None
            return f"red: {','.join(words)}"
        return f"HTTP {status}"


@dataclass
class EventTerminal:
    """One client posting one-event EPCIS documents to ``POST /events``, each new."""

    feed: Iterator[int]
    tag: int
    pending: bytes | None = None

    def body(self) -> bytes:
        if self.pending is None:
            self.pending = single_event_document(next(self.feed), self.tag)
        return self.pending

    def answered(self, status: int, answer: bytes) -> str:
        if status in (200, 201):
            self.pending = None
            return "stored" if status == 201 else "already stored"
        return f"HTTP {status}"


# -- the loads ---------------------------------------------------------------------------


@dataclass
class Run:
    api: str
    mode: str
    result: LoadResult
    outcomes: Counter[str] = field(default_factory=Counter)
    offered: float | None = None
    missed: int = 0
    """Open loop: scheduled requests not sent by ``LATE`` seconds after the end."""

    @property
    def not_ok(self) -> int:
        return self.result.error_count + self.missed


OK_OUTCOMES = ("green", "yellow", "stored", "already stored")


async def _one(
    conn: RawConnection, terminal: Terminal, run: Run, since: float, timeout: float
) -> None:
    """Send the terminal's next request; record its latency (from ``since``) and outcome."""
    try:
        status, answer = await asyncio.wait_for(conn.exchange(terminal.body()), timeout)
    except Exception as exc:  # the terminal sends it again
        run.result.requests += 1
        run.result.errors[exc.__class__.__name__] += 1
        return
    outcome = terminal.answered(status, answer)
    run.result.requests += 1
    run.outcomes[outcome] += 1
    if outcome in OK_OUTCOMES:
        run.result.ok += 1
        run.result.latencies.append(time.perf_counter() - since)
    else:
        run.result.errors[outcome] += 1


async def closed_loop(
    conns: Sequence[RawConnection], terminals: Sequence[Terminal], run: Run | None, seconds: float
) -> None:
    """Every terminal back to back for ``seconds`` (``run`` None: a warm-up)."""
    scratch = run or Run("", "", LoadResult("", "", 0))
    deadline = time.perf_counter() + seconds

    async def terminal(conn: RawConnection, term: Terminal) -> None:
        while time.perf_counter() < deadline:
            await _one(conn, term, scratch, time.perf_counter(), 30.0)

    await asyncio.gather(*(terminal(c, t) for c, t in zip(conns, terminals, strict=True)))


async def open_loop(
    conns: Sequence[RawConnection],
    terminals: Sequence[Terminal],
    run: Run,
    seconds: float,
    rate: float,
) -> None:
    """``rate`` requests/s spread evenly over the terminals, each on its own schedule
    (terminal t sends at start + (t + k·n) / rate); latency from the scheduled time. What
    is still unsent ``LATE`` seconds after the end is counted in ``run.missed``."""
    n = len(terminals)
    period = n / rate
    start = time.perf_counter() + 0.05
    end = start + seconds

    async def terminal(t: int, conn: RawConnection, term: Terminal) -> None:
        due = start + t / rate
        while due < end:
            now = time.perf_counter()
            if now > end + LATE:  # the server fell behind: what is left is not sent
                run.missed += math.ceil((end - due) / period)
                return
            if due > now:
                await asyncio.sleep(due - now)
            await _one(conn, term, run, due, 30.0)
            due += period

    await asyncio.gather(
        *(terminal(t, c, term) for t, (c, term) in enumerate(zip(conns, terminals, strict=True)))
    )


async def measured(
    server: Server,
    run: Run,
    conns: Sequence[RawConnection],
    terminals: Sequence[Terminal],
    seconds: float,
) -> Run:
    """One run, closed loop (``run.offered`` None) or open loop, with CPU accounted; on
    new connections (the server closes idle ones after a few seconds)."""
    for conn in conns:
        await conn.close()
    server0, machine0, cpu0 = server.cpu_seconds(), machine_busy_seconds(), time.process_time()
    started = time.perf_counter()
    if run.offered is None:
        await closed_loop(conns, terminals, run, seconds)
    else:
        await open_loop(conns, terminals, run, seconds, run.offered)
    result = run.result
    result.seconds = time.perf_counter() - started
    result.client_cpu = time.process_time() - cpu0
    server1, machine1 = server.cpu_seconds(), machine_busy_seconds()
    if server0 is not None and server1 is not None:
        result.server_cpu = server1 - server0
    if machine0 is not None and machine1 is not None:
        result.machine_cpu = machine1 - machine0
    return run


# -- profiling ---------------------------------------------------------------------------


SAMPLES_PER_S = 100


def py_spy() -> str | None:
    return os.environ.get("BENCH_SCAN_PYSPY") or shutil.which("py-spy")


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server's threads (raw collapsed stacks) for ``seconds``."""
    spy = py_spy()
    if spy is None:
        return None
    command = [spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds)))]
    command += ["--rate", str(SAMPLES_PER_S), "--nonblocking", "--threads"]
    command += ["--format", "raw", "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile_lines(path: Path, seconds: float, top: int = 12) -> list[str]:
    """Per thread: the share of samples where it ran; then the functions that ran most."""
    threads: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    frames: Counter[str] = Counter()
    total = 0
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ["  (no profile was written)"]
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        parts = stack.split(";")
        total += count
        threads[_thread_of(parts)] += count
        leaves[_short(parts[-1])] += count
        for frame in set(map(_short, parts[1:])):
            frames[frame] += count
    if not total:
        return ["  (py-spy saw no running Python code)"]
    rate = total / seconds
    lines = [
        f"  {total} samples of running threads ({rate / SAMPLES_PER_S:.2f} threads busy on average)"
    ]
    lines += [f"    {n / total:6.1%}  thread {name}" for name, n in threads.most_common(6)]
    lines.append("  where the time goes (inclusive, share of all samples):")
    lines += [f"    {n / total:6.1%}  {name}" for name, n in frames.most_common(top)]
    lines.append("  innermost functions (self time):")
    lines += [f"    {n / total:6.1%}  {name}" for name, n in leaves.most_common(top)]
    return lines


_ROLES = (
    ("ledger/writer.py", "writer (group commit)"),
    ("projections/", "projection runner"),
    ("uvicorn", "event loop (HTTP)"),
    ("asyncio", "event loop (HTTP)"),
)


def _thread_of(parts: list[str]) -> str:
    """A thread's role from what its stack holds."""
    joined = ";".join(parts)
    for marker, role in _ROLES:
        if marker in joined:
            return role
    return parts[0][:60]


def _short(frame: str) -> str:
    """``function (path/file.py:12)`` → ``function (package/file.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    return f"{name} ({'/'.join(parts[-2:])})" if parts else name


# -- one store ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanConfig:
    terminals: int = 200
    """Terminals, one keep-alive connection each (``BENCH_SCAN_TERMINALS``)."""
    codes: int = 8
    """Codes each terminal cycles (``BENCH_SCAN_CODES``)."""
    seconds: float = 10.0
    """Each measured run (``BENCH_SCAN_SECONDS``)."""
    warmup: float = 2.0
    """Closed loop before the runs, not counted (``BENCH_SCAN_WARMUP``)."""
    rate: float = 2000.0
    """The open loop's offered requests/s (``BENCH_SCAN_RATE``)."""
    workers: int = 1
    """``tracecode serve --workers`` (``BENCH_SCAN_WORKERS``)."""
    stores: tuple[str, ...] = ("postgresql", "sqlite")

    @classmethod
    def from_env(cls) -> ScanConfig:
        return cls(
            terminals=max(1, env_int("BENCH_SCAN_TERMINALS", cls.terminals)),
            codes=max(1, env_int("BENCH_SCAN_CODES", cls.codes)),
            seconds=max(0.5, env_float("BENCH_SCAN_SECONDS", cls.seconds)),
            warmup=max(0.0, env_float("BENCH_SCAN_WARMUP", cls.warmup)),
            rate=max(1.0, env_float("BENCH_SCAN_RATE", cls.rate)),
            workers=max(1, env_int("BENCH_SCAN_WORKERS", cls.workers)),
            stores=env_stores(),
        )


@dataclass
class StoreReport:
    store: str
    runs: list[Run] = field(default_factory=list)
    mix: Counter[str] = field(default_factory=Counter)
    profile: list[str] = field(default_factory=list)
    log_tail: str = ""


def scan_terminals(cfg: ScanConfig) -> list[ScanTerminal]:
    terminals = []
    for t in range(cfg.terminals):
        codes = [f"{PREFIX}{t * cfg.codes + j + 1:013d}" for j in range(cfg.codes)]
        homes = (AREAS[t % len(AREAS)], AREAS[(t + 1) % len(AREAS)])
        terminals.append(ScanTerminal(t, codes, homes))
    return terminals


def set_up(server: Server, admin: str, terminal: str, terminals: list[ScanTerminal]) -> None:
    """Master data, then every terminal's codes in transit to its first location."""
    places: dict[str, list[str]] = {}
    for term in terminals:
        places.setdefault(term.homes[0], []).extend(term.codes)
    base = f"http://{HOST}:{server.port}"
    with httpx.Client(base_url=base, timeout=SETUP_TIMEOUT, trust_env=False) as http:
        load_master_data(http, admin, *hospital_csv())
        stock(http, terminal, places, accept=False)


async def run_all(
    server: Server, cfg: ScanConfig, keys: tuple[str, str], report: StoreReport, tmp: Path
) -> None:
    """Set up, warm up, then the four runs; ``keys``: an admin's and a terminal's."""
    admin_key, terminal_key = keys
    terminals = scan_terminals(cfg)
    set_up(server, admin_key, terminal_key, terminals)
    scans = [RawConnection(server.port, terminal_key, "/scans", SCAN_TYPE) for _ in terminals]
    feed = iter(range(10**9))
    tag = uuid.uuid4().int % 100_000
    events = [EventTerminal(feed, tag) for _ in terminals]
    posts = [RawConnection(server.port, server.key, "/events") for _ in terminals]
    try:
        await closed_loop(scans, terminals, None, cfg.warmup)
        await closed_loop(posts, events, None, min(cfg.warmup, 1.0))
        for api, conns, terms in (
            ("POST /scans", scans, terminals),
            ("POST /events", posts, events),
        ):
            for offered in (None, cfg.rate):
                mode = "closed loop" if offered is None else "open loop"
                run = Run(
                    api, mode, LoadResult(report.store, "raw", cfg.terminals), offered=offered
                )
                report.runs.append(await measured(server, run, conns, terms, cfg.seconds))
        profile_out = tmp / "profile.txt"
        spy = start_profile(server.process.pid, cfg.seconds, profile_out)
        if spy is not None:  # a run of its own: sampling slows the server down
            await closed_loop(scans, terminals, None, cfg.seconds)
            _, err = await asyncio.to_thread(spy.communicate)
            report.profile = profile_lines(profile_out, cfg.seconds)
            if spy.returncode:
                report.profile.append(f"  py-spy: {err.decode(errors='replace')[-300:]}")
    finally:
        for conn in (*scans, *posts):
            await conn.close()
    for term in terminals:
        report.mix.update(term.operations)


def run_store(kind: str, cfg: ScanConfig) -> StoreReport:
    report = StoreReport(kind)
    with fresh_store(kind) as url, tempfile.TemporaryDirectory(prefix="bench-scans-") as tmp:
        create_tables(url)
        admin = capture_key(url, "admin", INSTITUTION)
        terminal = capture_key(url, "terminal", INSTITUTION)
        with running_server(url, "tracecode", cfg.workers, patient_key_env()) as server:
            asyncio.run(run_all(server, cfg, (admin, terminal), report, Path(tmp)))
            if server.process.poll() is not None:
                report.log_tail = "the server exited during the run:\n" + server.log_tail(20)
            elif any(r.result.errors for r in report.runs):
                report.log_tail = server.log_tail(20)
    return report


# -- reporting -----------------------------------------------------------------------------


def _ms(r: LoadResult, p: float) -> str:
    return f"{r.percentile(p):.1f}"


def _cores(value: float | None, seconds: float) -> str:
    return f"{value / seconds:.2f}" if value is not None and seconds else "-"


def print_report(reports: list[StoreReport], cfg: ScanConfig) -> None:
    print()
    print(
        f"{cfg.terminals} terminals, {cfg.codes} codes each (accept, bind, unbind, transfer), "
        f"{cfg.seconds:g} s a run, open loop offered {cfg.rate:,.0f}/s; "
        f"server: tracecode serve x{cfg.workers}"
    )
    headers = ["store", "load", "sent", "ok", "not ok", "ok/s", "p50 ms", "p99 ms", "max ms"]
    headers += ["client", "server", "machine"]
    rows = []
    for report in reports:
        for run in report.runs:
            r = run.result
            mode = run.mode if run.offered is None else f"open {run.offered:,.0f}/s"
            rows.append(
                [
                    report.store,
                    f"{run.api} {mode}",
                    str(r.requests),
                    str(r.ok),
                    str(run.not_ok),
                    f"{r.events_per_s:,.0f}",
                    _ms(r, 50),
                    _ms(r, 99),
                    _ms(r, 100),
                    _cores(r.client_cpu, r.seconds),
                    _cores(r.server_cpu, r.seconds),
                    _cores(r.machine_cpu, r.seconds),
                ]
            )
    print_table(headers, rows)
    print(
        f"  client / server / machine: CPU in cores of the {os.cpu_count()} (this process; the "
        "server; everything, PostgreSQL included); open-loop latency counts from the "
        "scheduled send time"
    )
    for report in reports:
        mix = ", ".join(f"{op} {n}" for op, n in report.mix.most_common())
        print(f"  {report.store}: scans stored by operation: {mix}")
        for run in report.runs:
            shown = ", ".join(f"{k} {n}" for k, n in run.outcomes.most_common())
            print(f"    {run.api} {run.mode}: {shown}")
            if run.result.errors:
                kinds = ", ".join(f"{k}: {n}" for k, n in run.result.errors.most_common())
                print(f"    not ok: {kinds}")
            if run.missed:
                print(
                    f"    not sent by {LATE:g} s after the end (the server fell behind): "
                    f"{run.missed}"
                )
        if report.profile:
            print(f"  {report.store}: py-spy of the server during the closed-loop scans")
            for line in report.profile:
                print(line)
        if report.log_tail:
            print(f"  the server's log ends with:\n{report.log_tail}")


def summary_lines(reports: list[StoreReport], cfg: ScanConfig) -> list[str]:
    lines = []
    for report in reports:
        for run in report.runs:
            r = run.result
            scans = run.api == "POST /scans"
            line = f"{run.api} {report.store} "
            if run.offered is None:
                line += f"closed loop ({cfg.terminals} terminals): {r.events_per_s:,.0f}/s"
                met = r.events_per_s >= 3000 and not run.not_ok
                goal = f"; goal >= 3,000 scans/s: {'met' if met else 'NOT met'}"
            else:
                line += f"open loop {run.offered:,.0f}/s offered: {r.events_per_s:,.0f}/s done"
                met = r.percentile(99) <= 50 and not run.not_ok
                goal = f"; goal p99 <= 50 ms: {'met' if met else 'NOT met'}"
            line += f", p50 {_ms(r, 50)} ms, p99 {_ms(r, 99)} ms, {run.not_ok} not ok"
            lines.append(line + (goal if scans else ""))
    return lines


def main() -> list[str]:
    """Scans (and one-event captures) from many terminals, on each store; the summary lines."""
    cfg = ScanConfig.from_env()
    print("== hospital scans over HTTP ==")
    print(machine_line())
    if py_spy() is None:
        print("  (py-spy not found: no profile; BENCH_SCAN_PYSPY names it)")
    reports: list[StoreReport] = []
    lines: list[str] = []
    for kind in cfg.stores:
        try:
            report = run_store(kind, cfg)
        except ServerFailed as exc:
            print(f"  {kind}: {exc}")
            lines.append(f"scans {kind}: server failed to start")
            continue
        reports.append(report)
        for run in report.runs:
            r = run.result
            print(
                f"  {kind:<10} {run.api:<12} {run.mode:<11} {r.events_per_s:8,.0f}/s  "
                f"p50 {_ms(r, 50)} ms  p99 {_ms(r, 99)} ms  {run.not_ok} not ok",
                flush=True,
            )
    if reports:
        print_report(reports, cfg)
    return summary_lines(reports, cfg) + lines


if __name__ == "__main__":
    for summary_line in main():
        print(summary_line)
