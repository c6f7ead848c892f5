"""The outbox under faults, over the real network against the stand-in 医保 platform (issue
13): the platform down for a while, 30 % errors, answers lost after the platform committed
(timeouts, dropped connections), and the delivering process SIGKILLed mid-delivery and
started again. Each ends with the same check (:func:`check_delivered`): every owed message
taken exactly once by msgid, per code in log order, nothing for internal moves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.nhsa.answers import already_received
from adapters.nhsa.delivery import NhsaSettings, NhsaTransport
from ledger.application import Ledger
from ledger.settlement_persons import SettlementPersons
from projections.outbox import ACKNOWLEDGED, PENDING, SENT, SUPERSEDED
from tests.nhsa_outbox_support import World, box, world
from tests.outbox_fault_support import (
    Day,
    cancel_sales,
    check_delivered,
    deliver_all,
    hospital_day,
    owed,
    retaken,
    set_faults,
    taken,
)

ROOT = Path(__file__).resolve().parent.parent
GROUPS = 3


@pytest.fixture
def w(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from tests.patient_support import KEY_HEX

    monkeypatch.setenv("TRACECODE_PATIENT_KEY", KEY_HEX)
    with world(ledger) as opened:
        yield opened


def short_timeout(w: World, seconds: float) -> None:
    """Send with a transport timeout of ``seconds`` (the setting's)."""
    settings = NhsaSettings.from_env(
        {"TRACECODE_NHSA_URL": w.url + "/", "TRACECODE_NHSA_TIMEOUT_SECONDS": str(seconds)}
    )
    w.delivery.transport.close()
    w.delivery.transport = NhsaTransport(settings, SettlementPersons(w.ledger).find)


def test_a_platform_down_for_a_while_gets_each_message_once_when_back(w: World) -> None:
    day = hospital_day(w, GROUPS)
    set_faults(w, down_for=0.5)
    deliver_all(w)
    assert max(m.attempts for m in owed(w)) > 1  # it was down when first tried
    cancel_sales(w, day)
    set_faults(w, down_for=0.3)
    deliver_all(w)
    kinds = sorted(m.kind for m in check_delivered(w, day) if m.state != SUPERSEDED)
    assert kinds == sorted(["3502", "3505", "3505", "3506", "3507"] * GROUPS)


def test_thirty_percent_errors_are_tried_again_until_each_message_is_taken(w: World) -> None:
    day = hospital_day(w, GROUPS)
    set_faults(w, error_rate=0.3, seed=13)
    deliver_all(w)
    cancel_sales(w, day)
    deliver_all(w)
    check_delivered(w, day)
    failed = [m for m in w.received() if m["answer"]["infcode"] == -1]
    assert failed and all("stand-in fault" in m["answer"]["err_msg"] for m in failed)


def test_timeouts_after_the_platform_committed_are_acknowledged_by_already_received(
    w: World,
) -> None:
    short_timeout(w, 0.2)
    day = hospital_day(w, GROUPS)
    set_faults(w, timeout_after_commit=3, hang=1.0)
    deliver_all(w)
    cancel_sales(w, day)
    set_faults(w, timeout_after_commit=2, hang=1.0)
    deliver_all(w)
    check_delivered(w, day)
    assert retaken(w) >= 5  # each late answer's message was sent again, same msgid


def test_dropped_responses_are_acknowledged_by_already_received(w: World) -> None:
    day = hospital_day(w, GROUPS)
    set_faults(w, drop_responses=4)
    deliver_all(w)
    cancel_sales(w, day)
    set_faults(w, drop_responses=2)
    deliver_all(w)
    check_delivered(w, day)
    assert retaken(w) >= 6


def test_a_message_whose_answer_was_lost_is_reversed_when_cancelled_not_forgotten(
    w: World,
) -> None:
    """The platform took it but the answer never came: cancelling the scan then must
    send the 3507, since the platform has the 3502."""
    short_timeout(w, 0.2)
    w.scan(
        operation="receive",
        location="WH",
        codes=[box(1)],
        lot="L1",
        manufactured="2025-03-01",
        scanId="r1",
    )
    set_faults(w, timeout_after_commit=1, hang=1.0)
    w.deliver()
    (message,) = owed(w)
    assert (message.state, taken(w.received())) == (PENDING, [message.msgid])
    w.scan(operation="cancel", scanId="r1")
    deliver_all(w)
    sent = check_delivered(w, Day())
    assert [(m.kind, m.state) for m in sent] == [("3502", ACKNOWLEDGED), ("3507", ACKNOWLEDGED)]


# -- the delivering process killed --------------------------------------------------------


def _outbox_run(store_url: str, standin: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRACECODE_DATABASE_URL": store_url,
        "TRACECODE_NHSA_URL": standin + "/",
        "TRACECODE_NHSA_TIMEOUT_SECONDS": "120",
        "TRACECODE_OUTBOX_PLATFORMS": "nhsa",
        "TRACECODE_OUTBOX_DELIVERY": "separate",
        "TRACECODE_OUTBOX_POLL_SECONDS": "0.05",
        "TRACECODE_OUTBOX_LEASE_SECONDS": "1",
        "TRACECODE_OUTBOX_BACKOFF_SECONDS": "0.05",
        "TRACECODE_OUTBOX_MAX_BACKOFF_SECONDS": "0.2",
    }
    command = [sys.executable, "-c", "from adapters.cli import main; main()", "outbox", "run"]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


def _acknowledged(w: World) -> int:
    return sum(1 for m in owed(w) if m.state == ACKNOWLEDGED)


def _in_flight(w: World) -> list[str]:
    """Messages the platform took whose answer the outbox has not had yet."""
    took = set(taken(w.received()))
    return [m.msgid for m in owed(w) if m.state == SENT and m.msgid in took]


def _wait_for(process: subprocess.Popen[bytes], log: Path, done: Callable[[], object]) -> None:
    deadline = time.monotonic() + 90
    while not done():
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.02)


def test_the_delivering_process_sigkilled_mid_delivery_and_started_again(
    w: World, store_url: str, tmp_path: Path
) -> None:
    day = hospital_day(w, 2)
    deliver_all(w)
    cancel_sales(w, day)  # reversals owed
    hospital_day(w, 6, first=2, day=day)
    w.runner.run_until_caught_up()
    w.delivery.release()  # this process delivers no more: the commands do
    due = sum(1 for m in owed(w) if m.state != SUPERSEDED)
    set_faults(w, slow=0.02)
    log = tmp_path / "outbox.log"
    first = _outbox_run(store_url, w.url, log)
    try:
        took = len(taken(w.received()))
        _wait_for(first, log, lambda: len(taken(w.received())) >= took + 5)
        # the next message is taken and its answer held back: killed before it comes (the
        # outbox records its chunk's answers together: those taken before are unanswered too)
        heard = len(w.received())
        set_faults(w, slow=0.02, timeout_after_commit=1, hang=60)
        _wait_for(first, log, lambda: len(w.received()) > heard and _in_flight(w))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    unanswered = _in_flight(w)
    assert unanswered
    assert _acknowledged(w) < due - 1
    set_faults(w, slow=0.02)
    again = _outbox_run(store_url, w.url, log)
    try:
        _wait_for(again, log, lambda: _acknowledged(w) == due)
    finally:
        again.terminate()
        again.wait(timeout=30)
    check_delivered(w, day)
    for msgid in unanswered:
        answers = [m["answer"] for m in w.received() if m["msgid"] == msgid]
        assert [already_received(a) for a in answers] == [False, True], msgid
