"""API keys: made, checked, listed and revoked in the ledger's store (``ledger.api_keys``),
and the ``tracecode keys`` commands. Through the public interfaces only; the store-crossing
cases run on SQLite and PostgreSQL, the rest on SQLite."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from adapters.cli import main
from adapters.cli.common import LOCAL_NOTICE
from adapters.cli.keys import ROLES
from ledger.access import Principal, Role
from ledger.api_keys import CREATED_TOPIC, REVOKED_TOPIC, KeyRing, UnknownKey
from ledger.application import Ledger
from ledger.settings import store_settings
from ledger.verify import verify_chain
from tests.conftest import open_ledger


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def sqlite_ledger(sqlite_url: str) -> Iterator[Ledger]:
    with open_ledger(sqlite_url) as app:
        yield app


def _secret(key: str) -> str:
    return key.split("_", 2)[2]


# -- behind the ledger's back: the log rows of one topic, and rewriting one -----------------


def _sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return list(conn.execute(statement, params).fetchall())
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement.replace("?", "%s").encode(), params)
        return list(cursor.fetchall()) if cursor.description else []


def _rows(url: str, topic: str) -> list[tuple[int, dict[str, Any]]]:
    sql = (
        "SELECT rowid, state FROM stored_events WHERE topic = ? ORDER BY rowid"
        if url.startswith("sqlite:")
        else "SELECT notification_id, state FROM tracecode_events WHERE topic = ? "
        "ORDER BY notification_id"
    )
    return [(row, json.loads(bytes(state))) for row, state in _sql(url, sql, (topic,))]


def _set_state(url: str, row: int, state: dict[str, Any]) -> None:
    sql = (
        "UPDATE stored_events SET state = ? WHERE rowid = ?"
        if url.startswith("sqlite:")
        else "UPDATE tracecode_events SET state = ? WHERE notification_id = ?"
    )
    _sql(url, sql, (json.dumps(state).encode(), row))


def _delete(url: str, row: int) -> None:
    sql = (
        "DELETE FROM stored_events WHERE rowid = ?"
        if url.startswith("sqlite:")
        else "DELETE FROM tracecode_events WHERE notification_id = ?"
    )
    _sql(url, sql, (row,))


# -- on both stores ----------------------------------------------------------------------


def test_a_key_authenticates_as_its_principal_and_nothing_else_does(ledger: Ledger) -> None:
    ring = KeyRing(ledger)
    info, key = ring.create(Role.READER, "H1", "ward 3 reader")
    assert key.startswith(f"tck_{info.key_id}_")
    assert len(info.key_id) == 16 and int(info.key_id, 16) >= 0
    assert info.key_id == info.key_id.lower()
    assert ring.authenticate(key) == Principal(
        subject=f"key {info.key_id}", role=Role.READER, institution="H1", via="api-key"
    )
    other_secret = secrets.token_urlsafe(32)
    assert ring.authenticate(f"tck_{info.key_id}_{other_secret}") is None  # wrong secret
    assert ring.authenticate(f"tck_{secrets.token_hex(8)}_{_secret(key)}") is None  # unknown id
    for malformed in (
        "",
        "tck_",
        f"tck_{info.key_id}",
        f"tck_{info.key_id}_",
        f"Bearer {key}",
        f"{key}\n",
        f" {key}",
        key.upper(),
        key.replace("tck_", "tcK_"),
        f"tck_{info.key_id[:-1]}_{_secret(key)}",
        f"tck_{info.key_id}x_{_secret(key)}",
        f"{key}é",
        f"{key}\x00",
        key + "A" * 10_000,
        "tck_" + "é" * 16 + "_" + _secret(key),
        "\ud800",
    ):
        assert ring.authenticate(malformed) is None, malformed
    assert ring.authenticate(None) is None  # type: ignore[arg-type]
    regulator, regulator_key = ring.create(Role.REGULATOR, "")
    principal = ring.authenticate(regulator_key)
    assert principal is not None and principal.role is Role.REGULATOR
    assert principal.scope is None and regulator.institution == ""


def test_a_revoked_key_is_refused_at_once_in_every_process(store_url: str, ledger: Ledger) -> None:
    ring = KeyRing(ledger)
    info, key = ring.create(Role.CAPTURE, "H1")
    other = Ledger(store_settings(store_url))  # another server process on the same store
    try:
        other_ring = KeyRing(other)
        assert other_ring.authenticate(key) is not None  # made elsewhere: known at once
        revoked = ring.revoke(info.key_id)
        assert revoked.revoked_at is not None and revoked.key_id == info.key_id
        assert ring.authenticate(key) is None
        assert other_ring.authenticate(key) is None
        # revoked from the other process: counts here too
        second, second_key = ring.create(Role.AUDITOR, "H2")
        assert ring.authenticate(second_key) is not None
        other_ring.revoke(second.key_id)
        assert ring.authenticate(second_key) is None
    finally:
        other.close()


def test_verify_covers_keys(store_url: str, ledger: Ledger) -> None:
    ring = KeyRing(ledger)
    info, key = ring.create(Role.READER, "H1")
    gone, _ = ring.create(Role.TERMINAL, "H1")
    ring.revoke(gone.key_id)
    report = verify_chain(ledger)
    assert report.intact, [str(f) for f in report.findings]
    assert report.entries == 3 and report.commits == 3
    # a reader key made admin behind the ledger's back: it works, and verify says so
    (row, state), _ = _rows(store_url, CREATED_TOPIC)
    assert state["key_id"] == info.key_id
    _set_state(store_url, row, {**state, "role": "admin"})
    principal = ring.authenticate(key)
    assert principal is not None and principal.role is Role.ADMIN
    report = verify_chain(ledger)
    assert not report.intact
    assert any(
        "was altered" in f.message and f"api key {info.key_id!r}" in str(f) for f in report.findings
    ), [str(f) for f in report.findings]


# -- SQLite only -------------------------------------------------------------------------


def test_a_removed_revocation_is_named(sqlite_url: str, sqlite_ledger: Ledger) -> None:
    ring = KeyRing(sqlite_ledger)
    info, key = ring.create(Role.READER, "H1")
    ring.revoke(info.key_id)
    ((row, _),) = _rows(sqlite_url, REVOKED_TOPIC)
    _delete(sqlite_url, row)
    assert ring.authenticate(key) is not None  # it works again, but not unnoticed
    report = verify_chain(sqlite_ledger)
    assert any(
        "(version 2, named by commit" in f.message and f"api key {info.key_id!r}" in str(f)
        for f in report.findings
    ), [str(f) for f in report.findings]


def test_the_store_never_holds_a_key(sqlite_url: str, sqlite_ledger: Ledger) -> None:
    ring = KeyRing(sqlite_ledger)
    made = [ring.create(role, "H1", f"key {n}") for n, role in enumerate(Role)]
    first = ring.first_admin_key()
    assert first is None  # there are keys already
    ring.revoke(made[0][0].key_id)
    logged = json.dumps([state for _, _, state in sqlite_ledger.raw_log()], default=str)
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    for _, key in made:
        assert _secret(key) not in logged and key not in logged
        assert _secret(key).encode() not in raw
    assert made[0][0].key_id in logged  # the log is what was searched


def test_list_shows_every_key_in_order_without_digests(sqlite_ledger: Ledger) -> None:
    ring = KeyRing(sqlite_ledger)
    assert ring.list() == []
    a, _ = ring.create(Role.READER, "H1", "first")
    b, _ = ring.create(Role.REGULATOR, "", "NMPA")
    c, _ = ring.create(Role.CAPTURE, "医保-110105", "scanner")
    revoked = ring.revoke(b.key_id)
    listed = ring.list()
    assert [i.key_id for i in listed] == [a.key_id, b.key_id, c.key_id]
    assert listed[1] == revoked and listed[1].revoked_at is not None
    assert listed[0] == a and listed[2] == c and listed[2].institution == "医保-110105"
    shown = listed[1].as_json()
    assert shown == {
        "keyId": b.key_id,
        "role": "regulator",
        "institution": "",
        "label": "NMPA",
        "createdAt": b.created_at,
        "revokedAt": revoked.revoked_at,
    }
    assert not any("digest" in vars(i) for i in listed)


def test_revoking_twice_changes_nothing_and_an_unknown_key_is_refused(
    sqlite_ledger: Ledger,
) -> None:
    ring = KeyRing(sqlite_ledger)
    info, _ = ring.create(Role.READER, "H1")
    first = ring.revoke(info.key_id)
    position = sqlite_ledger.log_position()
    assert ring.revoke(info.key_id) == first
    assert sqlite_ledger.log_position() == position  # no new event, no new commit
    with pytest.raises(UnknownKey) as raised:
        ring.revoke("0123456789abcdef")
    assert isinstance(raised.value, KeyError)
    assert "0123456789abcdef" in str(raised.value)


def test_the_first_admin_key_is_made_once(sqlite_url: str, sqlite_ledger: Ledger) -> None:
    ring = KeyRing(sqlite_ledger)
    assert not ring.has_keys()
    key = ring.first_admin_key()
    assert key is not None
    principal = ring.authenticate(key)
    assert principal is not None
    assert (principal.role, principal.institution) == (Role.ADMIN, "local")
    assert [i.label for i in ring.list()] == ["first admin key"]
    assert ring.has_keys()
    assert ring.first_admin_key() is None
    other = Ledger(store_settings(sqlite_url))
    try:
        assert KeyRing(other).first_admin_key() is None
    finally:
        other.close()
    ring.revoke(principal.subject.removeprefix("key "))
    assert ring.has_keys()  # a revoked key still counts: no second first key
    assert ring.first_admin_key() is None
    assert len(ring.list()) == 1


@pytest.mark.parametrize(
    ("role", "institution", "label", "says"),
    [
        (Role.READER, "", "", "needs an institution"),
        (Role.ADMIN, "", "", "needs an institution"),
        (Role.CAPTURE, "   ", "", "blank"),
        (Role.CAPTURE, " H1", "", "white space"),
        (Role.CAPTURE, "H1\n", "", "white space"),
        (Role.CAPTURE, "H\x001", "", "control characters"),
        (Role.CAPTURE, "H\u20281", "", "control characters"),
        (Role.CAPTURE, "H" * 201, "", "longer than 200"),
        (Role.CAPTURE, "H1", "two\nlines", "control characters"),
        (Role.CAPTURE, "H1", "x" * 201, "longer than 200"),
        ("root", "H1", "", "not a role"),
    ],
)
def test_a_key_that_is_not_valid_is_refused(
    sqlite_ledger: Ledger, role: Any, institution: str, label: str, says: str
) -> None:
    ring = KeyRing(sqlite_ledger)
    with pytest.raises(ValueError, match=says):
        ring.create(role, institution, label)
    assert not ring.has_keys()


def test_the_longest_institution_is_accepted(sqlite_ledger: Ledger) -> None:
    info, key = KeyRing(sqlite_ledger).create(Role.READER, "H" * 200)
    principal = KeyRing(sqlite_ledger).authenticate(key)
    assert principal is not None and principal.institution == "H" * 200 == info.institution


# -- the command line --------------------------------------------------------------------


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, ["keys", *args])


@pytest.fixture
def cli_store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", store_url)
    return store_url


def test_the_cli_roles_are_the_roles() -> None:
    assert tuple(role.value for role in Role) == ROLES


def test_keys_create_list_revoke(cli_store: str) -> None:
    made = _run("create", "--role", "reader", "--institution", "H1", "--label", "ward 3")
    assert made.exit_code == 0, made.output
    lines = made.stdout.splitlines()
    key = lines[-1]
    assert key.startswith("tck_") and " " not in key
    key_id = key.split("_")[1]
    assert lines[-2] == (f"key {key_id}: role reader, institution H1 (shown once: keep it now)")
    assert LOCAL_NOTICE in made.stderr and "tracecode: store " in made.stderr
    ledger = Ledger(store_settings(cli_store))
    try:
        ring = KeyRing(ledger)
        principal = ring.authenticate(key)
        assert principal is not None
        assert (principal.role, principal.institution) == (Role.READER, "H1")

        listed = _run("list", "--json")
        assert listed.exit_code == 0, listed.output
        assert LOCAL_NOTICE in listed.stderr
        (shown,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert shown["keyId"] == key_id and shown["role"] == "reader"
        assert shown["institution"] == "H1" and shown["label"] == "ward 3"
        assert shown["revokedAt"] is None
        assert key not in listed.output and _secret(key) not in listed.output

        revoked = _run("revoke", key_id)
        assert revoked.exit_code == 0, revoked.output
        assert revoked.stdout.strip() == f"revoked {key_id}"
        assert LOCAL_NOTICE in revoked.stderr
        assert ring.authenticate(key) is None

        listed = _run("list")
        assert listed.exit_code == 0, listed.output
        (line,) = listed.stdout.splitlines()
        assert line.startswith(f'{key_id} reader H1 "ward 3" created ')
        assert " revoked " in line

        unknown = _run("revoke", "0123456789abcdef")
        assert unknown.exit_code == 1
        assert "no API key has the id '0123456789abcdef'" in unknown.stderr
        assert unknown.stdout == ""
    finally:
        ledger.close()


def test_keys_create_of_a_regulator_key_needs_no_institution(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", sqlite_url)
    made = _run("create", "--role", "regulator")
    assert made.exit_code == 0, made.output
    assert "role regulator, every institution" in made.stdout
    ledger = Ledger(store_settings(sqlite_url))
    try:
        principal = KeyRing(ledger).authenticate(made.stdout.splitlines()[-1])
        assert principal is not None and principal.role is Role.REGULATOR
    finally:
        ledger.close()


@pytest.mark.parametrize(
    "args",
    [
        ("--role", "root", "--institution", "H1"),
        ("--role", "reader"),
        ("--institution", "H1"),
        ("--role", "reader", "--institution", ""),
        ("--role", "reader", "--institution", "H\x1b1"),
        ("--role", "reader", "--institution", "H1", "--label", "a\nb"),
    ],
)
def test_keys_create_refuses_what_is_not_valid_and_stores_nothing(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", sqlite_url)
    refused = _run("create", *args)
    assert refused.exit_code == 2, refused.output
    assert "tck_" not in refused.output
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # not even a store


def test_keys_create_refused_on_an_existing_store_stores_nothing(
    sqlite_url: str, sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", sqlite_url)
    position = sqlite_ledger.log_position()
    assert _run("create", "--role", "admin").exit_code == 2
    assert _run("create", "--role", "nobody", "--institution", "H1").exit_code == 2
    assert KeyRing(sqlite_ledger).list() == []
    assert sqlite_ledger.log_position() == position


def test_keys_list_and_revoke_create_no_store(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACECODE_DATABASE_URL", sqlite_url)
    assert _run("list").exit_code == 2
    assert _run("revoke", "0123456789abcdef").exit_code == 2
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()
