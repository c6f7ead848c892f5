"""``python -m bench http``: many concurrent single-event captures over HTTP.

For each store (a fresh PostgreSQL database, a fresh SQLite file) this starts the server in
a subprocess (``tracecode serve --host 127.0.0.1 --port <free port>`` with
``TRACECODE_DATABASE_URL`` set), waits until it answers, then lets ``BENCH_HTTP_CLIENTS``
concurrent clients POST one-event JSON-LD documents (every event distinct) to
``/capture`` until ``BENCH_HTTP_REQUESTS`` requests are done or ``BENCH_HTTP_SECONDS``
have passed, whichever comes first. It reports events/s, latency percentiles and errors
(anything but 202), then stops the server. All traffic goes to 127.0.0.1.

Settings (environment): ``BENCH_HTTP_CLIENTS`` (100), ``BENCH_HTTP_REQUESTS`` (20000),
``BENCH_HTTP_SECONDS`` (20), ``BENCH_HTTP_WARMUP`` (200 requests, not counted),
``BENCH_HTTP_CLIENT`` (``raw``, the default: a minimal asyncio HTTP/1.1 client, one
keep-alive connection per client; ``httpx``: one httpx.AsyncClient with a pool of
``BENCH_HTTP_CLIENTS`` connections — measured here at ~250 requests/s for a whole core
with 100 connections, so it measures itself more than the server),
``BENCH_HTTP_SERVER`` (``tracecode``: the ``tracecode serve`` command; ``uvicorn``:
uvicorn on ``adapters.bootstrap:http_app`` directly, without access log),
``BENCH_HTTP_WORKERS`` (1: server processes, ``--workers``), ``BENCH_STORES``
(``postgresql,sqlite``).

Client and server share the machine's cores: the client's own CPU use is reported so the
figures can be read with that in mind.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from bench.generate import COMPANY, sgtin
from bench.ledger import (
    env_float,
    env_int,
    env_stores,
    fresh_store,
    machine_line,
    print_table,
)
from epcis.context import make_context

HOST = "127.0.0.1"  # never anything else
CAPTURE_PATH = "/capture"
CONTENT_TYPE = "application/ld+json"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class HttpConfig:
    clients: int = 100
    requests: int = 20_000
    seconds: float = 20.0
    warmup: int = 200
    client: str = "raw"
    server: str = "tracecode"
    stores: tuple[str, ...] = ("postgresql", "sqlite")
    workers: int = 1

    @classmethod
    def from_env(cls) -> HttpConfig:
        client = os.environ.get("BENCH_HTTP_CLIENT", cls.client).strip() or cls.client
        server = os.environ.get("BENCH_HTTP_SERVER", cls.server).strip() or cls.server
        if client not in ("httpx", "raw"):
            raise SystemExit(f"BENCH_HTTP_CLIENT={client!r}: use httpx or raw")
        if server not in ("tracecode", "uvicorn"):
            raise SystemExit(f"BENCH_HTTP_SERVER={server!r}: use tracecode or uvicorn")
        return cls(
            clients=max(1, env_int("BENCH_HTTP_CLIENTS", cls.clients)),
            requests=max(1, env_int("BENCH_HTTP_REQUESTS", cls.requests)),
            seconds=max(0.1, env_float("BENCH_HTTP_SECONDS", cls.seconds)),
            warmup=max(0, env_int("BENCH_HTTP_WARMUP", cls.warmup)),
            client=client,
            server=server,
            stores=env_stores(),
            workers=max(1, env_int("BENCH_HTTP_WORKERS", cls.workers)),
        )


# -- the documents -------------------------------------------------------------------------

_CONTEXT = make_context({"example": "https://ns.example.com/epcis/"})


def single_event_document(i: int, tag: int) -> bytes:
    """A one-event EPCISDocument: a dispensing scan of one unique box."""
    ms = i % 1000
    seconds = (i // 1000) % 60
    minutes = (i // 60_000) % 60
    event = {
        "type": "ObjectEvent",
        "eventTime": f"2026-03-02T10:{minutes:02d}:{seconds:02d}.{ms:03d}+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [sgtin(200 + tag % 100, tag * 10_000_000 + i)],
        "action": "OBSERVE",
        "bizStep": "dispensing",
        "disposition": "dispensed",
        "readPoint": {"id": f"urn:epc:id:sgln:{COMPANY}.00002.{i % 40}"},
        "bizLocation": {"id": f"urn:epc:id:sgln:{COMPANY}.00002.0"},
        "example:ward": f"W{i % 30}",
    }
    doc = {
        "@context": _CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-02T00:00:00.000+08:00",
        "epcisBody": {"eventList": [event]},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


# -- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _bin(name: str) -> Path:
    return Path(sys.executable).parent / name


def server_command(kind: str, port: int) -> list[str]:
    if kind == "tracecode":
        return [str(_bin("tracecode")), "serve", "--host", HOST, "--port", str(port)]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "adapters.bootstrap:http_app",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
    ]


def tracecode_serve_available() -> bool:
    """Whether ``tracecode serve`` exists and its app module is there to import."""
    if not _bin("tracecode").exists():
        return False
    try:
        done = subprocess.run(
            [str(_bin("tracecode")), "serve", "--help"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    if done.returncode != 0:
        return False
    try:
        return importlib.util.find_spec("adapters.bootstrap") is not None
    except ImportError:
        return False


def _answers(port: int) -> bool:
    """Whether something answers HTTP on the port (any status will do)."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.sendall(
                f"GET /openapi.json HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
            )
            return s.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class ServerFailed(RuntimeError):
    pass


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    key: str
    """A capture key (made in the store before the server starts)."""

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.log_path, lines)

    def cpu_seconds(self) -> float | None:
        """CPU seconds of the server and its worker processes so far."""
        return tree_cpu_seconds(self.process.pid)


def capture_key(database_url: str, role: str = "capture", institution: str = "bench") -> str:
    """A new API key in the store (which it creates if need be), a capture key unless
    ``role`` says otherwise: every request carries one, as every client of a real server
    must."""
    from ledger.access import Role
    from ledger.api_keys import KeyRing
    from ledger.application import Ledger
    from ledger.settings import store_settings

    ledger = Ledger(store_settings(database_url))
    try:
        return KeyRing(ledger).create(Role(role), institution, "make bench")[1]
    finally:
        ledger.close()


@contextmanager
def running_server(
    database_url: str,
    kind: str,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> Iterator[Server]:
    """The server on a free port of 127.0.0.1 (``env``: settings beside the store's),
    answering within ``ready_timeout`` seconds; stopped (and waited for) on the way out."""
    port = free_port()
    env = {**os.environ, **(env or {}), "TRACECODE_DATABASE_URL": database_url}
    key = capture_key(database_url)
    command = server_command(kind, port)
    if workers > 1:
        command += ["--workers", str(workers)]
    with tempfile.TemporaryDirectory(prefix="tracecode-bench-http-") as tmp:
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches us, we stop it
            )
            try:
                deadline = time.monotonic() + ready_timeout
                while not _answers(port):
                    if process.poll() is not None:
                        raise ServerFailed(
                            f"the server exited with {process.returncode}:\n{_tail(log_path)}"
                        )
                    if time.monotonic() > deadline:
                        raise ServerFailed(
                            f"the server did not answer within {ready_timeout:.0f} s:\n"
                            f"{_tail(log_path)}"
                        )
                    time.sleep(0.2)
                yield Server(process, port, log_path, key)
            finally:
                stop_process(process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down gracefully), then SIGKILL to the server's process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
    # Worker processes of a server that died badly: the group is the one we created.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores have spent not idle since boot (Linux /proc/stat), or None."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out.extend(int(c) for c in (task / "children").read_text().split())
    except (OSError, ValueError):
        pass
    return out


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of a process and of its living descendants."""
    total = cpu_seconds(pid)
    if total is None:
        return None
    for child in _children(pid):
        total += tree_cpu_seconds(child) or 0.0
    return total


# -- the clients ---------------------------------------------------------------------------

Post = Callable[[bytes], Awaitable[int]]


class RawConnection:
    """One keep-alive HTTP/1.1 connection: POST a body to ``path``, read the status and
    the body."""

    def __init__(
        self, port: int, key: str, path: str = CAPTURE_PATH, content_type: str = CONTENT_TYPE
    ) -> None:
        self.port = port
        self.key = key
        self.path = path
        self.content_type = content_type
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        return (await self.exchange(body))[0]

    async def exchange(self, body: bytes) -> tuple[int, bytes]:
        """The answer's status and body."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Content-Type: {self.content_type}\r\nAuthorization: Bearer {self.key}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            self.writer.write(head + body)
            await self.writer.drain()
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionError("the server closed the connection")
            status = int(status_line.split()[1])
            length, chunked, close = 0, False, False
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value:
                    chunked = True
                elif name == "connection" and value == "close":
                    close = True
            answer = b""
            if chunked:
                while True:
                    size = int((await self.reader.readline()).split(b";")[0], 16)
                    answer += (await self.reader.readexactly(size + 2))[:size]
                    if size == 0:
                        break
            elif length:
                answer = await self.reader.readexactly(length)
            if close:
                await self.close()
            return status, answer
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()


@dataclass
class LoadResult:
    store: str
    client: str
    clients: int
    requests: int = 0
    ok: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: Counter[str] = field(default_factory=Counter)
    client_cpu: float = 0.0  # CPU seconds this process used during the load
    server_cpu: float | None = None
    machine_cpu: float | None = None  # CPU seconds of every process on the machine
    server: str = ""
    log_tail: str = ""

    @property
    def events_per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in ms (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[rank] * 1000

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


async def run_load(
    server: Server, cfg: HttpConfig, bodies: list[bytes], result: LoadResult
) -> None:
    import httpx

    port = server.port

    clients: list[Post] = []
    raw: list[RawConnection] = []
    client: httpx.AsyncClient | None = None
    if cfg.client == "httpx":
        client = httpx.AsyncClient(
            base_url=f"http://{HOST}:{port}",
            limits=httpx.Limits(max_connections=cfg.clients, max_keepalive_connections=cfg.clients),
            timeout=REQUEST_TIMEOUT,
            trust_env=False,  # no proxy: 127.0.0.1 only
        )
        headers = {"Content-Type": CONTENT_TYPE, "Authorization": f"Bearer {server.key}"}

        async def post_httpx(body: bytes, c: httpx.AsyncClient = client) -> int:
            response = await c.post(CAPTURE_PATH, content=body, headers=headers)
            return response.status_code

        clients = [post_httpx] * cfg.clients
    else:
        raw = [RawConnection(port, server.key) for _ in range(cfg.clients)]

        def bind(conn: RawConnection) -> Post:
            async def post(body: bytes) -> int:
                return await asyncio.wait_for(conn.post(body), REQUEST_TIMEOUT)

            return post

        clients = [bind(c) for c in raw]

    next_index = 0
    warmup = min(cfg.warmup, len(bodies))

    def take(limit: int) -> int | None:
        nonlocal next_index
        if next_index >= limit:
            return None
        next_index += 1
        return next_index - 1

    async def worker(post: Post, limit: int, deadline: float, record: bool) -> None:
        while time.perf_counter() < deadline:
            i = take(limit)
            if i is None:
                return
            t0 = time.perf_counter()
            try:
                status = await post(bodies[i])
            except Exception as exc:
                if record:
                    result.requests += 1
                    result.errors[exc.__class__.__name__] += 1
                continue
            if not record:
                continue
            result.requests += 1
            if status == 202:
                result.ok += 1
                result.latencies.append(time.perf_counter() - t0)
            else:
                result.errors[f"HTTP {status}"] += 1

    try:
        # Warm up: open the connections, let the server settle; not counted.
        await asyncio.gather(*(worker(p, warmup, time.perf_counter() + 60, False) for p in clients))
        server_cpu0 = server.cpu_seconds()
        machine0 = machine_busy_seconds()
        cpu0 = time.process_time()
        start = time.perf_counter()
        deadline = start + cfg.seconds
        limit = min(len(bodies), warmup + cfg.requests)
        await asyncio.gather(*(worker(p, limit, deadline, True) for p in clients))
        result.seconds = time.perf_counter() - start
        result.client_cpu = time.process_time() - cpu0
        server_cpu1 = server.cpu_seconds()
        machine1 = machine_busy_seconds()
        if machine0 is not None and machine1 is not None:
            result.machine_cpu = machine1 - machine0
        if server_cpu0 is not None and server_cpu1 is not None:
            result.server_cpu = server_cpu1 - server_cpu0
    finally:
        if client is not None:
            await client.aclose()
        for conn in raw:
            await conn.close()


def create_tables(url: str) -> None:
    """Open the ledger once, as a deployed store would have been: its tables exist.

    (Several server workers starting on an empty PostgreSQL database race to create the
    tables, and the loser fails to start.)
    """
    from ledger.application import Ledger
    from ledger.settings import store_settings

    Ledger(store_settings(url)).close()


def run_store(kind: str, cfg: HttpConfig, server_kind: str) -> LoadResult:
    tag = uuid.uuid4().int % 100_000
    bodies = [single_event_document(i, tag) for i in range(cfg.warmup + cfg.requests)]
    label = server_kind if cfg.workers == 1 else f"{server_kind} x{cfg.workers}"
    result = LoadResult(store=kind, client=cfg.client, clients=cfg.clients, server=label)
    with fresh_store(kind) as url:
        create_tables(url)
        with running_server(url, server_kind, cfg.workers) as server:
            asyncio.run(run_load(server, cfg, bodies, result))
            if server.process.poll() is not None:
                result.errors["server exited during the run"] += 1
        if result.errors:
            result.log_tail = server.log_tail(20)
    return result


# -- reporting -----------------------------------------------------------------------------


def summary_lines(results: list[LoadResult]) -> list[str]:
    lines = []
    for r in results:
        met = "met" if r.events_per_s >= 2000 and r.percentile(99) <= 50 else "NOT met"
        lines.append(
            f"http {r.store} ({r.server}, {r.clients} clients, {r.client} client): "
            f"{r.events_per_s:,.0f} events/s, "
            f"p50 {r.percentile(50):.1f} ms, p95 {r.percentile(95):.1f} ms, "
            f"p99 {r.percentile(99):.1f} ms, {r.error_count} errors of {r.requests}; "
            f"goal >= 2,000 events/s with p99 <= 50 ms: {met}"
        )
    return lines


def print_results(results: list[LoadResult], cfg: HttpConfig) -> None:
    print()
    print(
        f"concurrent single-event captures: {cfg.clients} clients ({cfg.client}), "
        f"up to {cfg.requests} requests or {cfg.seconds:g} s per store, "
        f"{cfg.warmup} warm-up requests not counted"
    )
    headers = [
        "store",
        "server",
        "requests",
        "202",
        "errors",
        "seconds",
        "events/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "client CPU",
        "server CPU",
        "machine CPU",
    ]
    rows = []
    for r in results:
        rows.append(
            [
                r.store,
                r.server,
                str(r.requests),
                str(r.ok),
                str(r.error_count),
                f"{r.seconds:.1f}",
                f"{r.events_per_s:,.0f}",
                f"{r.percentile(50):.1f}",
                f"{r.percentile(95):.1f}",
                f"{r.percentile(99):.1f}",
                f"{r.percentile(100):.1f}",
                f"{r.client_cpu / r.seconds:.2f} cores" if r.seconds else "-",
                f"{r.server_cpu / r.seconds:.2f} cores"
                if r.server_cpu is not None and r.seconds
                else "-",
                f"{r.machine_cpu / r.seconds:.2f} cores"
                if r.machine_cpu is not None and r.seconds
                else "-",
            ]
        )
    print_table(headers, rows)
    print(
        f"  CPU in cores of the {os.cpu_count()} (busy seconds / wall seconds): client = this "
        "process, server = the server and its workers, machine = everything (PostgreSQL and "
        "any other load included)"
    )
    for r in results:
        if r.errors:
            kinds = ", ".join(f"{k}: {n}" for k, n in r.errors.most_common())
            print(f"  errors on {r.store}: {kinds}")
            if r.log_tail:
                print(f"  the server's log ends with:\n{r.log_tail}")


MEASURED: list[LoadResult] = []
"""Every result of :func:`main` in this process (``python -m bench`` prints the PostgreSQL
one again in the projections' table against the goals)."""


def main() -> list[str]:
    """Run the HTTP load on each store; return the summary lines."""
    cfg = HttpConfig.from_env()
    print("== ledger: concurrent single events over HTTP ==")
    print(machine_line())
    server = cfg.server
    if server == "tracecode" and not tracecode_serve_available():
        print("  `tracecode serve` is not usable yet: starting uvicorn on the app factory instead")
        server = "uvicorn"
    results: list[LoadResult] = []
    lines: list[str] = []
    for kind in cfg.stores:
        try:
            result = run_store(kind, cfg, server)
        except ServerFailed as exc:
            print(f"  {kind}: {exc}")
            lines.append(f"http {kind}: server failed to start")
            continue
        results.append(result)
        MEASURED.append(result)
        print(
            f"  {kind:<10} {result.events_per_s:8,.0f} events/s  p99 {result.percentile(99):.1f} ms"
            f"  {result.error_count} errors",
            flush=True,
        )
    if results:
        print_results(results, cfg)
    return summary_lines(results) + lines


if __name__ == "__main__":
    for summary_line in main():
        print(summary_line)
