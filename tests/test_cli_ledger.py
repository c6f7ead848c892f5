"""The ledger's command line: capture, verify, checkpoint, export (on a SQLite store)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.cli import main
from epcis.document import load
from ledger.application import RECORD_TOPIC
from tests.ledger_contract import OBJECT_EVENTS, TRANSACTION_XML, document, event


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("TRACECODE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("TRACECODE_SIGNING_KEY", str(tmp_path / "key.pem"))
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout


def test_capture_reports_what_was_stored(store: Path) -> None:
    code, out = run("capture", str(OBJECT_EVENTS), str(TRANSACTION_XML))
    assert code == 0
    assert f"{OBJECT_EVENTS}: 2 stored, 0 already there, 0 rejected" in out
    assert f"{TRANSACTION_XML}: 2 stored" in out
    code, out = run("capture", str(OBJECT_EVENTS))
    assert code == 0
    assert "0 stored, 2 already there" in out


def test_capture_of_a_bad_file_stores_nothing_and_says_why(store: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    broken = event(2)
    broken["action"] = "MOVE"
    bad.write_bytes(document(event(1), broken))
    code, out = run("capture", str(bad))
    assert code == 1
    assert f"{bad}:/epcisBody/eventList/1/action" in out
    assert "0 stored" in out
    code, out = run("capture", "--error-behaviour", "proceed", str(bad))
    assert code == 1
    assert "1 stored" in out and "1 rejected" in out


def test_verify_names_the_first_altered_event(store: Path) -> None:
    run("capture", str(OBJECT_EVENTS), str(TRANSACTION_XML))
    code, out = run("verify")
    assert code == 0 and out.startswith("intact: 4 events, head at position 4")
    with sqlite3.connect(store) as conn:
        rowid, state = conn.execute(
            "SELECT rowid, state FROM stored_events WHERE topic = ? "
            "ORDER BY rowid LIMIT 1 OFFSET 1",
            (RECORD_TOPIC,),
        ).fetchone()
        record = json.loads(state)
        record["event"]["bizStep"] = "destroying"
        conn.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?",
            (json.dumps(record).encode(), rowid),
        )
    code, out = run("verify")
    assert code == 1
    assert out.startswith("NOT INTACT: first bad record: position 2")
    assert "altered" in out


def test_checkpoint_then_verify_against_it(store: Path, tmp_path: Path) -> None:
    run("capture", str(OBJECT_EVENTS))
    checkpoint = tmp_path / "cp.json"
    code, out = run("checkpoint", "--out", str(checkpoint))
    assert code == 0 and "position 2" in out
    run("capture", str(TRANSACTION_XML))
    code, out = run("verify", "--checkpoint", str(checkpoint))
    assert code == 0 and "extends checkpoint at position 2" in out
    forged = json.loads(checkpoint.read_text())
    forged["link"] = "0" * 64
    checkpoint.write_text(json.dumps(forged))
    result = CliRunner().invoke(main, ["verify", "--checkpoint", str(checkpoint)])
    assert result.exit_code == 1 and "signature is not valid" in result.stderr


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_export_writes_the_log_as_one_document(store: Path, fmt: str) -> None:
    run("capture", str(OBJECT_EVENTS), str(TRANSACTION_XML))
    code, out = run("export", "--format", fmt)
    assert code == 0
    exported = load(out.encode(), validate=True)
    assert exported.errors == []
    assert (
        exported.hash_ids()
        == load(OBJECT_EVENTS.read_bytes()).hash_ids()
        + load(TRANSACTION_XML.read_bytes()).hash_ids()
    )


def test_export_refuses_a_bad_until(store: Path) -> None:
    code, _ = run("export", "--until", "yesterday")
    assert code == 2


def test_a_bad_database_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", "mysql://x/y")
    result = CliRunner().invoke(main, ["verify"])
    assert result.exit_code == 1
    assert "unsupported database URL" in result.output


def test_status_of_a_code_in_any_identifier_form(store: Path) -> None:
    run("capture", str(document_file(store.parent)))
    code, out = run("projections", "run", "--once")
    assert code == 0 and "caught up: 2 events applied" in out
    code, out = run("status", "urn:epc:id:sgtin:0614141.107346.1")
    assert code == 0
    shown = json.loads(out)
    assert shown["state"] == "in_stock"
    assert shown["location"] == "https://id.gs1.org/414/0614141000012"  # canonical form
    code, again = run("status", "https://id.gs1.org/01/10614141073464/21/1")
    assert json.loads(again) == shown
    code, out = run("projections", "rebuild")
    assert code == 0 and "rebuilt: 2 events applied" in out
    result = CliRunner().invoke(main, ["status", "urn:epc:id:sgtin:0614141.107346.999"])
    assert result.exit_code == 1 and "no event has touched this code" in result.stderr


def document_file(folder: Path) -> Path:
    path = folder / "received.json"
    received = [event(1), event(2)]
    for e in received:
        e["bizLocation"] = {"id": "urn:epc:id:sgln:0614141.00001.0"}
    path.write_bytes(document(*received))
    return path
