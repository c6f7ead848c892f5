"""``tracecode outbox list|show|retry|run --once|rebuild`` over a store with owed 医保
messages and a stand-in platform (issue 13), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from adapters.cli import main
from ledger.application import Ledger
from tests.nhsa_outbox_support import INSURED, PATIENT, STAFF, World, box, world


@pytest.fixture
def w(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.patient_support import KEY_HEX

    monkeypatch.setenv("TRACECODE_PATIENT_KEY", KEY_HEX)
    with world(ledger) as opened:
        yield opened


def run(w: World, *args: str, **env: str) -> Any:
    settings = {
        "TRACECODE_DATABASE_URL": w.ledger.settings.url,
        "TRACECODE_OUTBOX_PLATFORMS": "nhsa",
        **env,
    }
    return CliRunner().invoke(main, ["outbox", *args], env=settings)


def test_list_show_run_retry_and_rebuild(w: World) -> None:
    w.at_pharmacy(box(1))
    bound = {"location": "OP", "codes": [box(1)], "patient": PATIENT, "order": "RX1"}
    w.scan(operation="bind", **bound, **STAFF)  # not settled: its 3505 waits

    listed = run(w, "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert [line.split()[1:4] for line in lines] == [
        ["nhsa", "3502", "pending"],
        ["nhsa", "3505", "incomplete"],
    ]
    assert "/input/selinfo/mdtrt_setl_type" in lines[1]
    as_json = run(w, "list", "--state", "incomplete", "--json")
    (waiting,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert waiting["kind"] == "3505" and "body" not in waiting

    shown = run(w, "show", waiting["msgid"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["body"]["input"]["selinfo"]
    assert run(w, "show", "H000000000000").exit_code == 1

    sent = run(w, "run", "--once", TRACECODE_NHSA_URL=w.url + "/")
    assert sent.exit_code == 0 and sent.stdout.strip() == "sent: 1"
    assert [m["infno"] for m in w.received()] == ["3502"]

    w.scan(operation="settle", order="RX1", settlement=INSURED)
    again = run(w, "run", "--once", TRACECODE_NHSA_URL=w.url + "/")
    assert again.stdout.strip() == "sent: 1"  # the settlement completed the sale
    assert [m["infno"] for m in w.received()] == ["3502", "3505"]

    assert run(w, "retry").stdout.strip() == "retried: 0"  # nothing failed
    rebuilt = run(w, "rebuild")
    assert rebuilt.exit_code == 0 and rebuilt.stdout.startswith("events derived again:")
    states = [line.split()[3] for line in run(w, "list").stdout.splitlines()]
    assert states == ["acknowledged", "acknowledged"]
    assert len(httpx.get(w.url + "/messages").json()) == 2  # nothing sent again


def test_bad_options_are_named(w: World) -> None:
    bad = run(w, "list", "--state", "lost")
    assert bad.exit_code == 2 and "--state" in bad.output
    unknown = run(w, "list", TRACECODE_OUTBOX_PLATFORMS="nhsa,elsewhere")
    assert unknown.exit_code == 2 and "TRACECODE_OUTBOX_PLATFORMS" in unknown.output
    batching = run(w, "list", TRACECODE_NHSA_BATCH_SIZE="many")
    assert batching.exit_code == 2 and "TRACECODE_NHSA_BATCH_SIZE" in batching.output
