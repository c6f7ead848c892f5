"""The projector apart from the request workers (``TRACECODE_PROJECTOR``).

``tracecode serve`` runs the followers of the log (the views, webhook delivery, the outbox)
in one child process by default; the request workers only serve HTTP and capture, and a
read that asks for its own write waits for the projector (or, when none comes in time,
applies the missing batches itself). One projector follows a store at a time; another
waits as a stand-by. Nothing here asserts how fast: only what was done and by whom.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from adapters.bootstrap import SettingsError, projector_layout
from adapters.cli import main
from adapters.http import freshness as http_freshness
from adapters.projector import ChildProjector, ProjectorLock, run_projector
from epcis.identifiers.facts import canonical
from ledger.access import Role
from ledger.application import Ledger
from ledger.capture import prepare
from ledger.settings import store_settings
from projections import freshness
from projections.freshness import reached
from projections.runner import BackgroundRunner, ReadModelRunner
from tests.conftest import STORES, empty_store
from tests.http_support import INSTITUTION, bearer, make_key
from tests.ledger_contract import document
from tests.test_http_capture import open_api
from tests.test_http_reads import code_url
from tests.test_projections_read import BOXES, CASE, scenario
from tests.test_server_hardening import HOST, TRACECODE, _free_port

PATIENCE = 60.0
"""How long a test waits for a process to do something (a loaded machine is slow)."""


def _until(check: Callable[[], Any], what: str, log: Path | None = None) -> Any:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    said = log.read_text(errors="replace")[-3000:] if log is not None else ""
    pytest.fail(f"{what}: not in time. {said}")


def _no_catch_up(runner: ReadModelRunner) -> None:
    raise AssertionError("the request worker applied batches: the projector should have")


# -- the setting ----------------------------------------------------------------------------


def test_the_setting_names_where_the_followers_run() -> None:
    assert projector_layout({}) == "inline"  # the app factory run alone
    assert projector_layout({}, default="process") == "process"  # tracecode serve
    assert projector_layout({"TRACECODE_PROJECTOR": " None "}, default="process") == "none"
    assert projector_layout({"TRACECODE_PROJECTOR": "process"}) == "process"
    with pytest.raises(SettingsError) as refused:
        projector_layout({"TRACECODE_PROJECTOR": "threads"})
    assert "TRACECODE_PROJECTOR='threads'" in str(refused.value)
    for choice in ("process", "inline", "none"):
        assert choice in str(refused.value)


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["project"]])
def test_the_commands_refuse_a_bad_setting(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "ledger.db"
    monkeypatch.setenv("TRACECODE_DATABASE_URL", f"sqlite:///{store}")
    monkeypatch.setenv("TRACECODE_PROJECTOR", "sideways")
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1, result.output
    assert "TRACECODE_PROJECTOR='sideways': use process" in result.output
    assert not store.exists(), "refused before the store was opened"


def test_serve_refuses_a_projector_process_on_an_in_memory_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", "sqlite:///:memory:")
    monkeypatch.delenv("TRACECODE_PROJECTOR", raising=False)
    result = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert result.exit_code == 1, result.output
    assert "in-memory SQLite store is not shared" in result.output
    assert "TRACECODE_PROJECTOR=inline" in result.output


# -- reads in the request workers, the views kept apart -------------------------------------


def test_without_a_projector_a_read_applies_what_it_waits_for(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``TRACECODE_PROJECTOR=none`` and nobody running ``tracecode project``: the worker
    follows nothing, and a read applies the missing batches itself once it has waited."""
    monkeypatch.setenv("TRACECODE_PROJECTOR", "none")
    monkeypatch.setattr(http_freshness, "APPLY_AFTER_SECONDS", 0.05)
    with open_api(store_url) as api:
        runner = api.client.app.state.tracecode.projection  # type: ignore[attr-defined]
        first = api.post(document(scenario()[0]))
        packed = api.post(document(scenario()[1]))
        assert first.status_code == packed.status_code == 202, packed.text
        time.sleep(0.3)  # a follower in this process would have applied them by now
        assert runner.position() == 0, "the worker follows the log itself"
        position = int(packed.headers["TraceCode-Log-Position"])
        seen = api.client.get(code_url(BOXES[0]), params={"wait_for": str(position)})
        assert seen.status_code == 200, seen.text
        assert seen.json()["parent"] == canonical(CASE)
        assert int(seen.headers["TraceCode-Log-Position"]) >= position
        shipped = api.post(document(scenario()[2]))
        assert runner.position() < int(shipped.headers["TraceCode-Log-Position"])
        # without wait_for: the log's end when the read starts, no time limit
        unwaited = api.client.get(code_url(CASE))
        assert unwaited.status_code == 200, unwaited.text
        assert int(unwaited.headers["TraceCode-Log-Position"]) >= int(
            shipped.headers["TraceCode-Log-Position"]
        )
        # Prefer: wait=0 does not make a visible write a 503: the read applies at once
        received = api.post(document(scenario()[3]))
        at = received.headers["TraceCode-Log-Position"]
        now = api.client.get(code_url(CASE), params={"wait_for": at}, headers={"Prefer": "wait=0"})
        assert now.status_code == 200, now.text


def test_a_read_waits_for_the_projector_and_applies_nothing_itself(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The projector (here a follower on its own ledger and runner, as the projector
    process has) applies; the request worker only looks at the tracking position."""
    monkeypatch.setenv("TRACECODE_PROJECTOR", "process")
    monkeypatch.setattr(http_freshness, "APPLY_AFTER_SECONDS", PATIENCE)
    monkeypatch.setattr(freshness, "catch_up", _no_catch_up)
    with ExitStack() as stack:
        api = stack.enter_context(open_api(store_url))
        ledger = Ledger(store_settings(store_url))
        stack.callback(ledger.close)
        runner = ReadModelRunner(ledger)
        stack.callback(runner.close)
        follower = BackgroundRunner(runner, interval=0.02, log_end=ledger.log_position).start()
        stack.callback(follower.stop)
        for step in scenario()[:2]:
            captured = api.post(document(step))
            assert captured.status_code == 202, captured.text
        position = captured.headers["TraceCode-Log-Position"]
        seen = api.client.get(code_url(BOXES[1]), params={"wait_for": position})
        assert seen.status_code == 200, seen.text
        assert seen.json()["parent"] == canonical(CASE)
        shipped = api.post(document(scenario()[2]))
        hierarchy = api.client.get(code_url(CASE, "/hierarchy"))
        assert hierarchy.status_code == 200, hierarchy.text
        assert int(hierarchy.headers["TraceCode-Log-Position"]) >= int(
            shipped.headers["TraceCode-Log-Position"]
        )
        assert runner.position() > 0


# -- one projector at a time ------------------------------------------------------------


@pytest.mark.parametrize("kind", STORES)
def test_the_projector_lock_is_held_by_one_at_a_time(kind: str, tmp_path: Path) -> None:
    with empty_store(kind, tmp_path / "ledger.db") as url:
        ledgers = [Ledger(store_settings(url)) for _ in range(2)]
        first, second = (ProjectorLock(ledger) for ledger in ledgers)
        try:
            assert first.take() and first.held()
            assert not second.take() and not second.held()
            assert first.take(), "taking a lock held already is a no-op"
            first.release()
            assert not first.held()
            assert second.take() and second.held()
            assert not first.take()
        finally:
            first.release()
            second.release()
            for ledger in ledgers:
                ledger.close()


@dataclass
class _Followers:
    """What a projector under test started and stopped."""

    name: str
    log: list[str]

    def start(self) -> list[Callable[[], None]]:
        self.log.append(f"{self.name} started")
        return [lambda: self.log.append(f"{self.name} stopped")]


def test_a_stand_by_projector_takes_over_when_the_first_stops(ledger: Ledger) -> None:
    happened: list[str] = []
    said: list[str] = []
    stops = {name: threading.Event() for name in ("a", "b")}
    threads = {
        name: threading.Thread(
            target=run_projector,
            args=(ProjectorLock(ledger), _Followers(name, happened).start, stops[name]),
            kwargs={"say": said.append, "check": 0.02},
        )
        for name in ("a", "b")
    }
    threads["a"].start()
    _until(lambda: happened == ["a started"], "the first projector's start")
    threads["b"].start()
    _until(lambda: any("stand-by" in line for line in said), "the second one waiting")
    assert happened == ["a started"]
    stops["a"].set()
    threads["a"].join(PATIENCE)
    _until(lambda: "b started" in happened, "the take-over")
    assert happened == ["a started", "a stopped", "b started"]
    stops["b"].set()
    threads["b"].join(PATIENCE)
    assert happened[-1] == "b stopped"


def test_the_child_projector_is_started_again_when_it_dies() -> None:
    out = io.StringIO()
    child = ChildProjector(
        [sys.executable, "-c", "print('up', flush=True); raise SystemExit(3)"],
        prefix="p: ",
        pause=0.01,
        most_pause=0.02,
        out=out,
    ).start()
    try:
        _until(lambda: child.started >= 3, "two restarts")
    finally:
        child.stop()
    lines = out.getvalue().splitlines()
    assert lines.count("p: up") >= 2
    assert "p: the projector exited (code 3)" in lines
    assert all(line.startswith("p: ") for line in lines)
    started = child.started
    time.sleep(0.1)
    assert child.started == started, "a stopped supervisor starts nothing"


# -- real processes ----------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise


def _environment(url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TRACECODE_PROJECTOR"}
    return {**env, "TRACECODE_DATABASE_URL": url, **settings}


@contextmanager
def _tracecode(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen([str(TRACECODE), *args], env=env, stdout=out, stderr=out)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _views_reach(ledger: Ledger, runner: ReadModelRunner, position: int) -> Callable[[], bool]:
    return lambda: reached(ledger, runner) >= position


@pytest.mark.parametrize("kind", STORES)
def test_serve_runs_the_projector_as_its_child(kind: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        url = stack.enter_context(empty_store(kind, tmp_path / "ledger.db"))
        capture_key = make_key(url, Role.CAPTURE)
        reader = bearer(make_key(url, Role.READER))
        log = tmp_path / "server.log"
        port = _free_port()
        server = stack.enter_context(
            _tracecode(["serve", "--port", str(port)], _environment(url), log)
        )
        base = f"http://{HOST}:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _until(up, "the server's start", log)
        child = _until(lambda: _children(server.pid), "the projector child", log)[0]
        ledger = Ledger(store_settings(url))
        stack.callback(ledger.close)
        runner = ReadModelRunner(ledger)  # to look at the tracking position; never run here
        stack.callback(runner.close)

        def capture(step: dict[str, Any]) -> int:
            answer = httpx.post(
                f"{base}/capture",
                content=document(step),
                headers={**bearer(capture_key), "Content-Type": "application/ld+json"},
                timeout=PATIENCE,
            )
            assert answer.status_code == 202, answer.text
            return int(answer.headers["TraceCode-Log-Position"])

        steps = iter(scenario())
        position = capture(next(steps))
        position = capture(next(steps))
        # no read was made: the projector process applied them
        _until(_views_reach(ledger, runner, position), "the views, by the projector", log)
        seen = httpx.get(
            base + code_url(BOXES[0]), params={"wait_for": position}, headers=reader, timeout=30
        )
        assert seen.status_code == 200, seen.text
        assert seen.json()["parent"] == canonical(CASE)
        assert "projector: tracecode: holding the projector lock" in log.read_text()

        os.kill(child, signal.SIGKILL)
        _until(lambda: [p for p in _children(server.pid) if p != child], "a new child", log)
        assert "projector: the projector exited (code -9)" in log.read_text()
        position = capture(next(steps))
        _until(_views_reach(ledger, runner, position), "the views, by the new projector", log)

        children = _children(server.pid)
        _stop(server)  # uvicorn ends by raising the SIGTERM it caught again: no exit code 0
        _until(lambda: not any(_alive(p) for p in children), "the projector's stop with the server")


def test_tracecode_project_follows_the_log_one_at_a_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with ExitStack() as stack:
        ledger = Ledger(store_settings(url))
        stack.callback(ledger.close)
        runner = ReadModelRunner(ledger)
        stack.callback(runner.close)
        steps = iter(scenario())

        def capture() -> int:
            done = ledger.capture(prepare(document(next(steps)), institution=INSTITUTION))
            assert done.success
            return done.log_position

        position = capture()
        env = _environment(url)
        first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
        first = stack.enter_context(_tracecode(["project"], env, first_log))
        _until(_views_reach(ledger, runner, position), "the views, by tracecode project", first_log)
        second = stack.enter_context(_tracecode(["project"], env, second_log))
        _until(lambda: "stand-by" in second_log.read_text(), "the stand-by", second_log)
        assert _stop(first) == 0
        assert "projector stopped" in first_log.read_text()
        _until(lambda: "holding the projector lock" in second_log.read_text(), "the take-over")
        position = capture()
        _until(_views_reach(ledger, runner, position), "the views, by the second", second_log)
        assert _stop(second) == 0
