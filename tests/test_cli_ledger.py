"""The ledger's command line: capture, verify, checkpoint, export (on a SQLite store)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters.cli import main
from adapters.cli.common import LOCAL_NOTICE
from epcis.document import load
from ledger.verify import CLAIM_TOPIC
from tests.ledger_contract import (
    OBJECT_EVENTS,
    TRANSACTION_XML,
    alter_second_record,
    document,
    event,
)


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
    alter_second_record(store, bizStep="destroying")
    code, out = run("verify")
    assert code == 1
    assert out.startswith("NOT INTACT: first bad record: position 2")
    assert "altered" in out


def test_verify_names_a_removed_event_id_claim(store: Path, tmp_path: Path) -> None:
    claimed = "urn:uuid:6a1e7d5e-4444-4a1a-8a1a-000000000001"
    first = tmp_path / "first.json"
    first.write_bytes(document(event(1, event_id=claimed)))
    run("capture", str(first))
    code, out = run("verify")
    assert code == 0, out
    assert "1 job, named query and subscription entries and 1 eventID claims in 1 commits" in out
    with sqlite3.connect(store) as conn:
        conn.execute("DELETE FROM stored_events WHERE topic = ?", (CLAIM_TOPIC,))
    code, out = run("verify")
    assert code == 1
    assert out.startswith(f"NOT INTACT: first bad record: eventID {claimed}: its claim was removed")
    # a different event now takes the eventID: verify names both events
    second = tmp_path / "second.json"
    second.write_bytes(document(event(2, event_id=claimed)))
    assert run("capture", str(second))[0] == 0
    code, out = run("verify")
    assert code == 1
    assert f"eventID {claimed}: is used by two different events" in out


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
    assert (shown["state"], shown["hospitalState"]) == ("in_stock", "in_stock")
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


def test_trail_of_a_lot_and_of_a_code(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``trail`` on both stores: captured through the CLI, never projected beforehand (the
    command catches the projections up itself)."""
    from epcis.identifiers.facts import canonical
    from projections.recall_trail import CSV_HEADER
    from tests.test_projections_read import BOXES, CASE, GTIN, PHARMACY, scenario

    monkeypatch.setenv("TRACECODE_DATABASE_URL", store_url)
    steps = tmp_path / "scenario.json"
    steps.write_bytes(document(*scenario()))
    assert run("capture", str(steps))[0] == 0

    code, out = run("trail", "--product", GTIN, "--lot", "L1")
    assert code == 0, out
    lines = json.loads(out)
    assert [line["code"] for line in lines] == sorted(canonical(b) for b in BOXES)
    assert {line["location"] for line in lines} == {PHARMACY}
    assert all(len(line["events"]) >= 5 for line in lines)

    code, out = run("trail", "--product", GTIN, "--lot", "L1", "--csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == list(CSV_HEADER)
    assert [row[0] for row in rows[1:]] == [line["code"] for line in lines]
    assert rows[1][-1].split() == lines[0]["events"]

    code, out = run("trail", "--code", BOXES[0])
    assert code == 0
    (box,) = json.loads(out)
    assert box == lines[0]
    code, out = run("trail", "--code", CASE)  # unpacked by now: only the case itself
    assert code == 0 and [line["code"] for line in json.loads(out)] == [canonical(CASE)]

    # before anything was recorded: nothing to show, exit 1 with the reason on stderr
    result = CliRunner().invoke(
        main, ["trail", "--product", GTIN, "--lot", "L1", "--as-of", "2000-01-01T00:00:00Z"]
    )
    assert result.exit_code == 1
    assert "no event has touched a code of this lot" in result.stderr
    result = CliRunner().invoke(main, ["trail", "--code", "urn:epc:id:sgtin:0614141.107346.404"])
    assert result.exit_code == 1 and "no event has touched this code" in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "give --product and --lot, or --code"),
        (("--product", "10614141073464"), "missing --lot"),
        (("--lot", "L1"), "missing --product"),
        (("--code", "x", "--lot", "L1"), "not both"),
        (("--code", "x", "--as-of", "yesterday"), "not an ISO 8601 time"),
    ],
)
def test_trail_says_what_is_missing(store: Path, args: tuple[str, ...], says: str) -> None:
    result = CliRunner().invoke(main, ["trail", *args])
    assert result.exit_code == 2
    assert says in result.stderr


def test_serve_takes_its_port_and_host_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`make run PORT=…` passes --port; TRACECODE_PORT / TRACECODE_HOST work without it."""
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(k))
    monkeypatch.setenv("TRACECODE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("TRACECODE_PORT", "9123")
    monkeypatch.setenv("TRACECODE_HOST", "127.0.0.2")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 0, result.output
    assert (seen["host"], seen["port"]) == ("127.0.0.2", 9123)
    result = CliRunner().invoke(main, ["serve", "--port", "9124"])
    assert seen["port"] == 9124


# --- a value that cannot be a code: exit 2 naming why; a code nothing touched: exit 1 ------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("garbage", "unrecognised identifier 'garbage'"),
        ("https://id.gs1.org/01/09521234000012/21/1", "bad GTIN check digit"),
        ("urn:epc:id:sgtin:952123.4.1", "company prefix + reference must be 13 digits"),
    ],
)
def test_status_and_trail_of_what_cannot_be_a_code_exit_2(
    store: Path, value: str, says: str
) -> None:
    run("capture", str(document_file(store.parent)))
    result = CliRunner().invoke(main, ["status", value])
    assert result.exit_code == 2 and says in result.stderr and "cannot be a code" in result.stderr
    assert result.stdout == ""
    result = CliRunner().invoke(main, ["trail", "--code", value])
    assert result.exit_code == 2 and says in result.stderr and "--code" in result.stderr


def test_status_of_a_private_identifier_nothing_touched_exits_1(store: Path) -> None:
    run("capture", str(document_file(store.parent)))
    result = CliRunner().invoke(main, ["status", "urn:example:item:1"])
    assert result.exit_code == 1 and "no event has touched this code" in result.stderr


def test_trail_takes_a_gtin13_and_refuses_a_bad_check_digit(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from epcis.identifiers.facts import canonical
    from tests.test_http_reads import GTIN13_ITEMS
    from tests.test_projections_read import commission

    monkeypatch.setenv("TRACECODE_DATABASE_URL", store_url)
    steps = tmp_path / "gtin13.json"
    steps.write_bytes(document(commission(8, GTIN13_ITEMS, "L7")))
    assert run("capture", str(steps))[0] == 0
    for product in ("9521234543213", "09521234543213", "https://id.gs1.org/01/09521234543213"):
        code, out = run("trail", "--product", product, "--lot", "L7")
        assert code == 0, out
        assert [line["code"] for line in json.loads(out)] == sorted(
            canonical(c) for c in GTIN13_ITEMS
        )
    result = CliRunner().invoke(main, ["trail", "--product", "9521234543210", "--lot", "L7"])
    assert result.exit_code == 2
    assert "--product" in result.stderr and "bad GTIN check digit" in result.stderr
    # an unknown lot: exit 1 here, 404 over HTTP
    result = CliRunner().invoke(main, ["trail", "--product", "9521234543213", "--lot", "L8"])
    assert result.exit_code == 1 and "no event has touched a code of this lot" in result.stderr


# --- issue 9, item 5: a read-only command never creates a store; each names the one it used


READ_ONLY = [
    ("verify",),
    ("export",),
    ("status", "urn:epc:id:sgtin:0614141.107346.1"),
    ("trail", "--code", "urn:epc:id:sgtin:0614141.107346.1"),
    ("trail", "--product", "10614141073464", "--lot", "L1"),
    ("checkpoint", "--out", "cp.json"),
    ("projections", "failures"),
]


@pytest.mark.parametrize(
    "args",
    READ_ONLY,
    ids=["verify", "export", "status", "trail-code", "trail-lot", "checkpoint", "failures"],
)
def test_a_read_only_command_with_no_store_creates_none_and_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    """Run from a directory without a ledger: the default ``var/tracecode.db`` is not made."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACECODE_DATABASE_URL", raising=False)
    monkeypatch.setenv("TRACECODE_SIGNING_KEY", str(tmp_path / "key.pem"))
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert f"no store at {tmp_path / 'var' / 'tracecode.db'}" in result.stderr
    assert "TRACECODE_DATABASE_URL not set, default sqlite:///var/tracecode.db" in result.stderr
    assert "set TRACECODE_DATABASE_URL to your ledger's store" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no var/, no key, no cp.json

    elsewhere = tmp_path / "sub" / "ledger.db"
    monkeypatch.setenv("TRACECODE_DATABASE_URL", f"sqlite:///{elsewhere}")
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 2
    said = f"no store at {elsewhere} (TRACECODE_DATABASE_URL=sqlite:///{elsewhere})"
    assert said in result.stderr
    assert not (tmp_path / "sub").exists()


def test_a_sqlite_file_without_the_ledger_tables_is_not_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    monkeypatch.setenv("TRACECODE_DATABASE_URL", f"sqlite:///{empty}")
    for args in READ_ONLY[:4]:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 2, args
        assert "not a tracecode store" in result.stderr and "stored_events" in result.stderr
        assert result.stdout == ""
    assert empty.stat().st_size == 0  # nothing was written into it


def _postgres_tables(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return sorted(str(r[0]) for r in rows)


def test_a_read_only_command_on_an_empty_postgres_database_creates_no_tables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.conftest import postgres_database

    with postgres_database() as url:
        monkeypatch.setenv("TRACECODE_DATABASE_URL", url)
        for args in READ_ONLY[:5]:
            result = CliRunner().invoke(main, list(args))
            assert result.exit_code == 2, (args, result.output)
            said = f"not a tracecode store: {url} (TRACECODE_DATABASE_URL={url})"
            assert said in result.stderr
            assert "tracecode_events" in result.stderr
            assert result.stdout == ""
        assert _postgres_tables(url) == []
    # a database that does not exist (any more) is no store either
    result = CliRunner().invoke(main, ["verify"])
    assert result.exit_code == 2
    assert "no store at" in result.stderr and "does not exist" in result.stderr


def test_every_command_names_its_store_on_stderr(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a real store (both kinds): one store line on stderr, the answer alone on stdout."""
    monkeypatch.setenv("TRACECODE_DATABASE_URL", store_url)
    monkeypatch.setenv("TRACECODE_SIGNING_KEY", str(tmp_path / "key.pem"))
    line = f"tracecode: store {store_url}\n"

    def invoke(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(main, list(args))
        assert result.stderr.count("tracecode: store ") == 1, (args, result.stderr)
        assert line in result.stderr
        assert LOCAL_NOTICE in result.stderr  # the command line says it acts with full rights
        return result.exit_code, result.stdout, result.stderr

    code, out, _ = invoke("capture", str(document_file(tmp_path)))
    assert code == 0 and "2 stored" in out
    code, out, _ = invoke("verify")
    assert code == 0 and out.startswith("intact: 2 events")
    code, out, _ = invoke("status", "urn:epc:id:sgtin:0614141.107346.1")
    assert code == 0 and json.loads(out)["state"] == "in_stock"
    code, out, _ = invoke("trail", "--code", "urn:epc:id:sgtin:0614141.107346.1")
    assert code == 0 and len(json.loads(out)) == 1
    code, out, _ = invoke("export")
    assert code == 0 and len(load(out.encode()).events) == 2
    code, out, _ = invoke("checkpoint", "--out", str(tmp_path / "cp.json"))
    assert code == 0 and "position 2" in out
    code, out, err = invoke("projections", "failures")
    assert code == 0 and out == "" and "0 event(s) quarantined" in err
    code, out, _ = invoke("projections", "run", "--once")
    assert code == 0 and out.startswith("caught up")


def test_a_relative_sqlite_store_is_named_with_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writing command still starts a new store (and its directory) where the setting
    points; the store line shows the file a relative path resolved to."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACECODE_DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, ["capture", str(document_file(tmp_path))])
    assert result.exit_code == 0, result.output
    db = tmp_path / "var" / "tracecode.db"
    assert db.is_file()
    assert f"tracecode: store sqlite:///var/tracecode.db (file {db})" in result.stderr
    result = CliRunner().invoke(main, ["verify"])
    assert result.exit_code == 0 and result.stdout.startswith("intact: 2 events")
    assert f"tracecode: store sqlite:///var/tracecode.db (file {db})" in result.stderr


def test_serve_names_its_store_on_stderr_and_prints_nothing_on_stdout(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setenv("TRACECODE_DATABASE_URL", store_url)
    started: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw))
    result = CliRunner().invoke(main, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    # the server names its store once (the projector child's lines come prefixed)
    assert [ln for ln in result.stderr.splitlines() if ln.startswith("tracecode: store ")] == [
        f"tracecode: store {store_url}"
    ]
    assert "http://127.0.0.1:8123" in result.stderr
    assert [kw["port"] for kw in started] == [8123]
