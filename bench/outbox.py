"""``python -m bench outbox``: the 医保 outbox's throughput, and how far it lags the log
under the scan benchmark's load (issue 13).

For each store (``BENCH_STORES``) a real ``tracecode serve`` on a fresh store, a hospital
with a 12-character 医保 code and the 医保 master-data columns, and the stand-in 医保
platform as its own process (``tracecode standin nhsa``) on localhost. The terminals are
:mod:`bench.scans`' (each code through accept → bind → unbind → transfer between two of
the hospital's own locations), with each bind carrying its settlement: a bind owes a 3505,
an unbind a 3506, the internal moves nothing; the codes' receipt a 3502 each hundred.

* **derive / deliver** — the server does not derive (``TRACECODE_OUTBOX_DELIVERY=separate``)
  while the terminals scan back to back for ``BENCH_OUTBOX_SECONDS``; then this process
  derives the outbox from the start of the log (events/s, messages/s), then delivers every
  message to the stand-in, one process sending them one after another as the outbox does
  (messages/s, each: 'sent' committed, the request, 'acknowledged' committed).
* **lag** — the server started again deriving and delivering in the background (the
  default ``serve``, the default poll of 0.5 s unless ``BENCH_OUTBOX_POLL`` says) while the
  terminals offer ``BENCH_OUTBOX_RATE`` scans/s (open loop, 400) for
  ``BENCH_OUTBOX_SECONDS``. Sampled every 0.1 s: the log's events the outbox has not derived
  yet and the age of the oldest of them; the messages owed and not yet acknowledged. Then
  the time to drain what was left once the load stopped, and per message of the load:
  seconds from its event's record time to the platform's acknowledgement (the drain
  included). The sampler is a thread of this process, beside the terminals' event loop.

Settings: ``BENCH_OUTBOX_TERMINALS`` (100), ``BENCH_OUTBOX_CODES`` (codes per terminal,
4), ``BENCH_OUTBOX_SECONDS`` (10), ``BENCH_OUTBOX_RATE`` (400), ``BENCH_OUTBOX_POLL``
(0.5), ``BENCH_STORES``; ``BENCH_OUTBOX_PROFILE=1`` prints the deriving's profile (cProfile,
by cumulative time) to stderr. Figures are reported, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx

from bench.http_load import (
    HOST,
    LoadResult,
    RawConnection,
    Server,
    capture_key,
    create_tables,
    free_port,
    running_server,
    stop_process,
)
from bench.ledger import env_float, env_int, env_stores, fresh_store, machine_line
from bench.scans import (
    AREAS,
    CHUNK,
    PREFIX,
    SCAN_TYPE,
    SETUP_TIMEOUT,
    SUPPLIER,
    WAREHOUSE,
    Run,
    ScanTerminal,
    load_master_data,
    measured,
    patient_key_env,
    scan_or_fail,
)

INSTITUTION = "H11010500123"
"""A 医保 fixmedins_code is 12 characters (the msgid starts with it)."""
REPO = Path(__file__).resolve().parent.parent
SAMPLE_EVERY = 0.1
DRAIN_PATIENCE = 600.0
OPERATOR = {"operatorId": "OP-07"}
STAFF = {
    "prescriber_name": "李医生",
    "pharmacist_name": "王药师",
    "pharmacist_cert": "ZY-20260001",
    **OPERATOR,
}
"""Said on a bind."""


def hospital_csv() -> tuple[str, str]:
    """Products and locations CSV with the 医保 columns (``bench.scans``' places)."""
    products = (
        "yb_code,gtin,trace_prefix,level,units,name,spec,form,manufacturer,approval_no,"
        "must_scan,split,his_code,his_name,rx_flag,price\n"
        f"BX01,,{PREFIX},box,10,头孢克肟片,0.1g*10片,片剂,某药业,国药准字H9,1,0,"
        "H-BX01,头孢克肟片(院内),1,12.5\n"
    )
    places = [
        (INSTITUTION, "第一医院", "institution", "", "620102"),
        (WAREHOUSE, "药库", "warehouse", INSTITUTION, ""),
        (SUPPLIER, "某医药公司", "supplier", "", ""),
        *((a, a, "pharmacy" if a.endswith("P") else "ward", INSTITUTION, "") for a in AREAS),
    ]
    rows = [f"{i},{name},{kind},{up},{INSTITUTION},{ad}" for i, name, kind, up, ad in places]
    return products, "id,name,kind,parent,institution_code,admdvs\n" + "\n".join(rows) + "\n"


@dataclass
class SettledTerminal(ScanTerminal):
    """A :class:`bench.scans.ScanTerminal` whose binds carry their settlement, staff and
    an order of their own: each owes a complete 3505, each unbind a 3506."""

    def _next(self) -> bytes:
        scan = json.loads(super()._next())
        if scan["operation"] == "bind":
            order = f"RX{self.number}-{self.sent}"
            scan["order"] = order
            scan["settlement"] = {
                "mdtrt_setl_type": "1",
                "setl_id": f"S{order}",
                "mdtrt_sn": f"M{order}",
                "psn_no": f"PSN{self.number:06d}",
                "psn_cert_type": "01",
                "hi_feesetl_type": "1",
                "insuplc_admdvs": "620100",
            }
            scan |= STAFF | {"receipt": f"R{order}"}
        return json.dumps(scan, separators=(",", ":"), ensure_ascii=False).encode()


def terminals(count: int, codes: int) -> list[SettledTerminal]:
    made = []
    for t in range(count):
        mine = [f"{PREFIX}{t * codes + j + 1:013d}" for j in range(codes)]
        made.append(SettledTerminal(t, mine, (AREAS[t % len(AREAS)], AREAS[(t + 1) % len(AREAS)])))
    return made


def set_up(port: int, admin: str, terminal: str, terms: list[SettledTerminal]) -> None:
    """Master data, then every terminal's codes received from the supplier (a 3502 per
    hundred) and in transit to its first location."""
    places: dict[str, list[str]] = {}
    for term in terms:
        places.setdefault(term.homes[0], []).extend(term.codes)
    with httpx.Client(
        base_url=f"http://{HOST}:{port}", timeout=SETUP_TIMEOUT, trust_env=False
    ) as http:
        load_master_data(http, admin, *hospital_csv())
        for place, codes in places.items():
            for n in range(0, len(codes), CHUNK):
                chunk = codes[n : n + CHUNK]
                receive = {"operation": "receive", "location": WAREHOUSE, "codes": chunk}
                receive |= {"source": SUPPLIER, "lot": f"B{n}", "manufactured": "2025-03-01"}
                scan_or_fail(http, terminal, receive | {"expires": "2099-12-31", **OPERATOR})
                moved = {"operation": "transfer", "location": WAREHOUSE, "destination": place}
                scan_or_fail(http, terminal, moved | {"codes": chunk})


# -- the stand-in as its own process -------------------------------------------------------


def standin(port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from adapters.cli import main; main()"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "standin", "nhsa", "--port", str(port)],
            cwd=REPO,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://{HOST}:{port}/faults", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"the stand-in did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)


# -- measuring -----------------------------------------------------------------------------


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


@dataclass
class Throughput:
    events: int = 0
    messages: int = 0
    incomplete: int = 0
    derive_seconds: float = 0.0
    delivered: int = 0
    deliver_seconds: float = 0.0
    scans: int = 0


@dataclass
class Lag:
    scans: int = 0
    offered: float = 0.0
    seconds: float = 0.0
    events: list[float] = field(default_factory=list)
    ages: list[float] = field(default_factory=list)
    unacknowledged: list[float] = field(default_factory=list)
    to_acknowledged: list[float] = field(default_factory=list)
    drain: float = 0.0
    messages: int = 0
    left: int = 0


class Watch:
    """The outbox as another process keeps it: its position, what it owes."""

    def __init__(self, url: str) -> None:
        from adapters.nhsa.owed import NhsaOwes
        from ledger.application import Ledger
        from ledger.settings import store_settings
        from projections.outbox import outbox_runner

        self.ledger = Ledger(store_settings(url))
        self.owes = cast(Any, NhsaOwes(self.ledger))  # an Owes; mypy: its tables are a pair
        self.runner = outbox_runner(self.ledger, [self.owes])

    def close(self) -> None:
        self.runner.close()
        self.ledger.close()

    def behind(self) -> tuple[int, float]:
        """Log events (and shares) the outbox has not derived, and the age in seconds of
        the oldest of them."""
        from ledger.reading import RECORD_TOPIC, SHARE_TOPIC

        after = self.runner.position()
        count, oldest = 0, 0.0
        for notification in self.ledger.notifications([RECORD_TOPIC, SHARE_TOPIC], after):
            if count == 0:
                first = next(self.ledger.log_items(after_notification=notification.id - 1))
                recorded = getattr(first, "record_time", None)
                if recorded:
                    oldest = (datetime.now(UTC) - _moment(str(recorded))).total_seconds()
            count += 1
        return count, max(oldest, 0.0)

    def states(self) -> dict[str, int]:
        from projections.outbox import counts

        return counts(self.runner).get("nhsa", {})

    def open(self) -> int:
        from projections.outbox import FAILED, PENDING, SENT

        found = self.states()
        return sum(found.get(s, 0) for s in (PENDING, SENT, FAILED))


def derive_and_deliver(url: str, standin_url: str, result: Throughput) -> None:
    """Derive the outbox from the start of the log, then deliver every message, timed."""
    from adapters.nhsa.delivery import NhsaSettings, NhsaTransport
    from ledger.settlement_persons import SettlementPersons
    from projections.outbox import INCOMPLETE, OutboxDelivery

    watch = Watch(url)
    try:
        profile = None
        if os.environ.get("BENCH_OUTBOX_PROFILE"):
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        start = time.perf_counter()
        result.events = watch.runner.run_until_caught_up()
        result.derive_seconds = time.perf_counter() - start
        if profile is not None:
            import pstats

            profile.disable()
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
        states = watch.states()
        result.messages = sum(states.values())
        result.incomplete = states.get(INCOMPLETE, 0)
        persons = SettlementPersons(watch.ledger)
        transport = NhsaTransport(NhsaSettings(url=standin_url + "/"), persons.find)
        delivery = OutboxDelivery(
            watch.runner,
            watch.owes,
            transport,
            base_backoff=0.05,
            max_backoff=1.0,
            event_of=watch.ledger.get_event,
        )
        try:
            start = time.perf_counter()
            deadline = time.monotonic() + DRAIN_PATIENCE
            while watch.open() and time.monotonic() < deadline:
                result.delivered += delivery.deliver()
            result.deliver_seconds = time.perf_counter() - start
        finally:
            delivery.close()  # gives the lease up: the server delivers next
    finally:
        watch.close()


def sample(url: str, lag: Lag, stop: threading.Event) -> None:
    watch = Watch(url)
    try:
        while not stop.wait(SAMPLE_EVERY):
            events, age = watch.behind()
            lag.events.append(events)
            lag.ages.append(age)
            lag.unacknowledged.append(watch.open())
    finally:
        watch.close()


def drain(url: str, lag: Lag, since: str) -> None:
    """Wait until the outbox derived and delivered everything; then each message's seconds
    from its event's record time to its acknowledgement (those recorded since ``since``)."""
    from projections.outbox import ACKNOWLEDGED, listed

    watch = Watch(url)
    try:
        start = time.monotonic()
        while time.monotonic() - start < DRAIN_PATIENCE:
            if watch.behind()[0] == 0 and watch.open() == 0:
                break
            time.sleep(SAMPLE_EVERY)
        lag.drain = time.monotonic() - start
        after = 0
        while True:
            batch = listed(watch.runner, platform="nhsa", after=after, limit=5000)
            if not batch:
                break
            after = batch[-1].seq
            for m in batch:
                if m.recorded < since:
                    continue
                lag.messages += 1
                if m.state == ACKNOWLEDGED and m.acknowledged_at:
                    seconds = (_moment(m.acknowledged_at) - _moment(m.recorded)).total_seconds()
                    lag.to_acknowledged.append(seconds)
                elif m.state != "incomplete":
                    lag.left += 1
    finally:
        watch.close()


# -- one store -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxConfig:
    terminals: int = 100
    codes: int = 4
    seconds: float = 10.0
    rate: float = 400.0
    poll: float = 0.5

    @classmethod
    def from_env(cls) -> OutboxConfig:
        return cls(
            terminals=max(1, env_int("BENCH_OUTBOX_TERMINALS", cls.terminals)),
            codes=max(1, env_int("BENCH_OUTBOX_CODES", cls.codes)),
            seconds=max(1.0, env_float("BENCH_OUTBOX_SECONDS", cls.seconds)),
            rate=max(1.0, env_float("BENCH_OUTBOX_RATE", cls.rate)),
            poll=max(0.01, env_float("BENCH_OUTBOX_POLL", cls.poll)),
        )


async def _load(
    server: Server, key: str, terms: list[SettledTerminal], run: Run, seconds: float
) -> Run:
    conns = [RawConnection(server.port, key, "/scans", SCAN_TYPE) for _ in terms]
    try:
        return await measured(server, run, conns, terms, seconds)
    finally:
        for conn in conns:
            await conn.close()


def run_store(kind: str, cfg: OutboxConfig) -> tuple[Throughput, Lag]:
    result, lag = Throughput(), Lag(offered=cfg.rate)
    terms = terminals(cfg.terminals, cfg.codes)
    with fresh_store(kind) as url, tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        create_tables(url)
        admin = capture_key(url, "admin", INSTITUTION)
        terminal = capture_key(url, "terminal", INSTITUTION)
        port = free_port()
        platform = standin(port, Path(tmp) / "standin.log")
        standin_url = f"http://{HOST}:{port}"
        patient = patient_key_env()
        try:
            apart = {**patient, "TRACECODE_OUTBOX_DELIVERY": "separate"}
            with running_server(url, "tracecode", 1, apart) as server:
                set_up(server.port, admin, terminal, terms)
                run = Run("POST /scans", "closed loop", LoadResult(kind, "raw", len(terms)))
                asyncio.run(_load(server, terminal, terms, run, cfg.seconds))
                result.scans = run.result.ok
            derive_and_deliver(url, standin_url, result)
            serve = {
                **patient,
                "TRACECODE_OUTBOX_DELIVERY": "serve",
                "TRACECODE_OUTBOX_PLATFORMS": "nhsa",
                "TRACECODE_OUTBOX_POLL_SECONDS": str(cfg.poll),
                "TRACECODE_NHSA_URL": standin_url + "/",
            }
            with running_server(url, "tracecode", 1, serve) as server:
                since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
                stop = threading.Event()
                sampler = threading.Thread(target=sample, args=(url, lag, stop), daemon=True)
                sampler.start()
                run = Run(
                    "POST /scans",
                    "open loop",
                    LoadResult(kind, "raw", len(terms)),
                    offered=cfg.rate,
                )
                try:
                    asyncio.run(_load(server, terminal, terms, run, cfg.seconds))
                finally:
                    stop.set()
                    sampler.join()
                lag.scans, lag.seconds = run.result.ok, run.result.seconds
                drain(url, lag, since)
        finally:
            stop_process(platform)
    return result, lag


# -- reporting -----------------------------------------------------------------------------


def report(kind: str, cfg: OutboxConfig, t: Throughput, lag: Lag) -> list[str]:
    derived = t.messages / t.derive_seconds if t.derive_seconds else 0.0
    sent = t.delivered / t.deliver_seconds if t.deliver_seconds else 0.0
    lines = [
        f"outbox {kind}: derived {t.events:,} events ({t.scans:,} scans) into {t.messages:,} "
        f"messages in {t.derive_seconds:.2f} s: {t.events / max(t.derive_seconds, 1e-9):,.0f} "
        f"events/s, {derived:,.0f} messages/s ({t.incomplete} incomplete)",
        f"outbox {kind}: delivered {t.delivered:,} messages to the stand-in in "
        f"{t.deliver_seconds:.2f} s: {sent:,.0f} messages/s (one sender, in order)",
        f"outbox {kind} lag at {lag.scans / max(lag.seconds, 1e-9):,.0f} scans/s done "
        f"({lag.offered:,.0f} offered, poll {cfg.poll:g} s): underived events p50 "
        f"{percentile(lag.events, 0.5):.0f} p99 {percentile(lag.events, 0.99):.0f} max "
        f"{max(lag.events, default=0):.0f}; oldest underived p50 "
        f"{percentile(lag.ages, 0.5):.2f} s p99 {percentile(lag.ages, 0.99):.2f} s; "
        f"unacknowledged p50 {percentile(lag.unacknowledged, 0.5):.0f} p99 "
        f"{percentile(lag.unacknowledged, 0.99):.0f}",
        f"outbox {kind} lag: record -> acknowledged p50 "
        f"{percentile(lag.to_acknowledged, 0.5):.2f} s p99 "
        f"{percentile(lag.to_acknowledged, 0.99):.2f} s over {len(lag.to_acknowledged):,} "
        f"messages; drained {lag.drain:.2f} s after the load; {lag.left} not acknowledged",
    ]
    for line in lines:
        print("  " + line, flush=True)
    return lines


def main() -> list[str]:
    cfg = OutboxConfig.from_env()
    print(
        f"== outbox: 医保 messages from {cfg.terminals} terminals x {cfg.codes} codes "
        f"(accept, settled bind, unbind, transfer), {cfg.seconds:g} s a run; the stand-in "
        "医保 platform on localhost"
    )
    print(machine_line())
    print(f"  ({os.cpu_count()} cores shared by the server, the stand-in, this client, the store)")
    summary = []
    for kind in env_stores():
        throughput, lag = run_store(kind, cfg)
        summary += report(kind, cfg, throughput, lag)
    return summary


if __name__ == "__main__":
    main()
