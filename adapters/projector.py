"""The projector: what follows the log (the views, webhook delivery, the outbox), run apart
from the request workers, one at a time.

``tracecode serve`` starts it as a child process (:class:`ChildProjector`) unless
``TRACECODE_PROJECTOR`` says otherwise; ``tracecode project`` runs it in the foreground
(:func:`run_projector`). What it follows is given by the composition root
(:mod:`adapters.bootstrap`) as a function that starts the followers and returns how to stop
them; this module knows how to run them, not what they are.

**One projector at a time.** A projector runs its followers only while it holds the
:class:`ProjectorLock` of the store: on PostgreSQL a session advisory lock on a connection of
its own, on SQLite an exclusive ``flock`` on ``<file>.projector.lock`` beside the database.
Both are released by the operating system or the database when the process dies, so a
second projector (another ``tracecode project``, a restarted child) waits as a stand-by and
takes over at once. The views' batches are serialised by their tracking row anyway and the
outbox's delivery by its leases; the lock is what keeps two projectors from both sending a
subscription's webhooks.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from ledger.application import Ledger
from projections.schema import sqlalchemy_url

log = logging.getLogger("tracecode.projector")

Stops = list[Callable[[], None]]
"""How to stop what was started, in the order of starting (stopped in reverse)."""

ADVISORY_KEY = 7316002216
"""The PostgreSQL advisory lock of the projector (the views' schema lock is ...215)."""
CHECK_SECONDS = 2.0
"""How often a projector checks it still holds the lock (PostgreSQL: its connection is up),
and a stand-by tries to take it."""
VIEWS_POLL_SECONDS = 0.05
"""How often the views' runner looks at the log's end (a read, no lock) for events it has
not applied: a read asking for its own write waits about this long for the projector."""


class ProjectorLock:
    """Held by the one projector of a store (see the module)."""

    def __init__(self, ledger: Ledger) -> None:
        self.kind = ledger.settings.kind
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None
        self._url = ledger.settings.url
        path = ledger.settings.env.get("SQLITE_DBNAME", "")
        self.where = (
            f"PostgreSQL advisory lock {ADVISORY_KEY}"
            if self.kind == "postgresql"
            else f"{path}.projector.lock"
        )
        self._path = Path(f"{path}.projector.lock") if self.kind != "postgresql" else None

    def take(self) -> bool:
        """Take the lock if nobody holds it; whether this process holds it now."""
        if self.held():
            return True
        if self._path is None:
            engine = create_engine(sqlalchemy_url(self._url), poolclass=NullPool)
            conn = engine.connect()
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({ADVISORY_KEY})").scalar()
            conn.commit()
            if got:
                self._conn = conn
                return True
            conn.close()
            return False
        stream = self._path.open("ab")
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.close()
            return False
        self._file = stream
        return True

    def held(self) -> bool:
        """Whether this process still holds the lock (PostgreSQL: its connection answers)."""
        if self._file is not None:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.exec_driver_sql("SELECT 1").scalar()
            self._conn.commit()
            return True
        except Exception:  # the connection is gone, and the lock with it
            self.release()
            return False

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # closing the session releases its advisory lock
            self._conn = None


def run_projector(
    lock: ProjectorLock,
    start: Callable[[], Stops],
    stop: threading.Event,
    *,
    say: Callable[[str], None],
    parent: int | None = None,
    check: float = CHECK_SECONDS,
) -> None:
    """Run the followers ``start`` starts while holding ``lock``, until ``stop`` is set
    (or the process ``parent`` is no longer this one's parent: the server died without
    stopping it). Without the lock, wait as a stand-by; when the lock is lost (the
    database connection dropped), stop the followers and try again."""
    running: Stops = []
    waiting_said = False
    try:
        while not stop.is_set():
            if parent is not None and os.getppid() != parent:
                say("the server that started this projector is gone: stopping")
                break
            if running and not lock.held():
                say(f"lost the projector lock ({lock.where}): stopping the followers")
                _stop_all(running)
            if not running:
                if lock.take():
                    say(f"holding the projector lock ({lock.where}): following the log")
                    running = start()
                    waiting_said = False
                elif not waiting_said:
                    say(f"another projector holds {lock.where}: waiting as a stand-by")
                    waiting_said = True
            stop.wait(check if parent is None else min(check, 0.5))
    finally:
        _stop_all(running)
        lock.release()


def _stop_all(stops: Stops) -> None:
    for stop in reversed(stops):
        try:
            stop()
        except Exception:
            log.exception("stopping a follower failed")
    stops.clear()


class ChildProjector:
    """The projector as a child process of the server: started with the server, stopped
    with it, started again when it dies (after a pause that doubles, up to
    ``most_pause``; back to ``pause`` after a child that ran a minute). Each line it writes
    goes to the server's stderr behind ``prefix``."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        prefix: str = "projector: ",
        pause: float = 1.0,
        most_pause: float = 30.0,
        out: IO[str] | None = None,
    ) -> None:
        self.command = list(command)
        self.env = env
        self.prefix = prefix
        self.pause = pause
        self.most_pause = most_pause
        self.out = out or sys.stderr
        self.started = 0
        """How many times a child was started (1 + the restarts)."""
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._starting = threading.Lock()  # stop() and a start never cross: no child left
        self._thread = threading.Thread(target=self._supervise, name="projector-child", daemon=True)

    def start(self) -> ChildProjector:
        self._thread.start()
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the child (SIGTERM, then SIGKILL after ``timeout``) and do not restart it."""
        with self._starting:
            self._stopping.set()
            process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        self._thread.join(timeout)

    def _say(self, line: str) -> None:
        try:
            self.out.write(f"{self.prefix}{line}\n")
            self.out.flush()
        except (OSError, ValueError):  # the server's stderr is gone: nothing to tell
            pass

    def _supervise(self) -> None:
        pause = self.pause
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                with self._starting:
                    if self._stopping.is_set():
                        break  # stopped before the child was started: start none
                    self.process = subprocess.Popen(
                        self.command,
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # the server stops it; Ctrl-C: the server's
                    )
            except OSError as exc:
                self._say(f"cannot start the projector: {exc}")
            else:
                self.started += 1
                self._pump(self.process)
                code = self.process.wait()
                if self._stopping.is_set():
                    break
                self._say(f"the projector exited (code {code})")
            if time.monotonic() - began > 60:
                pause = self.pause
            self._say(f"starting the projector again in {pause:g} s")
            if self._stopping.wait(pause):
                break
            pause = min(self.most_pause, pause * 2)

    def _pump(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self._say(raw.decode(errors="replace").rstrip("\n"))
        process.stdout.close()


def projector_command(python: str = sys.executable) -> list[str]:
    """How the server starts its child projector: ``tracecode project`` tied to this
    process (it stops when this process is no longer its parent)."""
    return [python, "-m", "adapters.cli", "project", "--parent", str(os.getpid())]


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (the foreground projector then stops its followers
    and releases the lock)."""

    def handler(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
