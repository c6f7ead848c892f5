"""``/patients/{pseudonym}`` and ``tracecode patients``: the same use cases through HTTP
(problem+json 400 / 403 / 404) and the command line (exit codes), on SQLite and PostgreSQL;
and the key's settings, refused at start-up naming the setting."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.bootstrap import Settings, SettingsError
from adapters.cli import main
from ledger.access import Role
from ledger.api_keys import KeyRing
from ledger.application import Ledger
from ledger.patient_key import KEY_BYTES, PatientKeyError, patient_key
from ledger.patient_register import remember
from ledger.patients import PREFIX, pseudonym
from tests.http_support import http_client
from tests.patient_support import H1_TERMINAL, KEY, KEY_HEX, PATIENT, tables_holding

PROBLEM = "application/problem+json"


def test_http_reveal_and_erase(ledger: Ledger) -> None:
    named = remember(ledger, H1_TERMINAL, PATIENT, KEY)
    h2_admin = KeyRing(ledger).create(Role.ADMIN, "H2")[1]
    with http_client(ledger) as client:
        keys = client.auth.keys  # type: ignore[union-attr]
        for role in (Role.ADMIN, Role.AUDITOR):
            answer = client.get(f"/patients/{named}", headers=_bearer(keys[role]))
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"pseudonym": named, "patient": PATIENT}
            assert answer.headers["cache-control"] == "no-store"
        for role in (Role.REGULATOR, Role.READER, Role.TERMINAL):
            refused = client.get(f"/patients/{named}", headers=_bearer(keys[role]))
            assert refused.status_code == 403
            assert set(refused.json()["requiredRoles"]) == {"auditor", "admin"}
        other = client.get(f"/patients/{named}", headers=_bearer(h2_admin))
        assert other.status_code == 404
        assert client.delete(f"/patients/{named}", headers=_bearer(h2_admin)).status_code == 404
        auditor = client.delete(f"/patients/{named}", headers=_bearer(keys[Role.AUDITOR]))
        assert auditor.status_code == 403
        erased = client.delete(f"/patients/{named}", headers=_bearer(keys[Role.ADMIN]))
        assert erased.status_code == 204
        for method in ("GET", "DELETE"):
            gone = client.request(method, f"/patients/{named}", headers=_bearer(keys[Role.ADMIN]))
            assert gone.status_code == 404
            assert gone.headers["content-type"].startswith(PROBLEM)
            assert named in gone.json()["detail"]
    assert tables_holding(ledger, PATIENT) == []


@pytest.mark.parametrize("bad", [PATIENT, PREFIX + "x", "urn:other:1"])
def test_http_takes_pseudonyms_only_and_does_not_quote_the_value(ledger: Ledger, bad: str) -> None:
    with http_client(ledger) as client:
        keys = client.auth.keys  # type: ignore[union-attr]
        for method in ("GET", "DELETE"):
            answer = client.request(method, f"/patients/{bad}", headers=_bearer(keys[Role.ADMIN]))
            assert answer.status_code == 400
            assert answer.headers["content-type"].startswith(PROBLEM)
            assert bad not in answer.text


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _cli(url: str, *args: str, **env: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["patients", *args],
        env={"TRACECODE_DATABASE_URL": url, "TRACECODE_PATIENT_KEY": KEY_HEX, **env},
    )
    return result.exit_code, result.stdout, result.stderr


def test_command_line(ledger: Ledger) -> None:
    url = ledger.settings.url
    named = pseudonym(PATIENT, KEY)
    assert _cli(url, "pseudonym", "11010119900307123x")[:2] == (0, named + "\n")
    remember(ledger, H1_TERMINAL, PATIENT, KEY)
    code, out, err = _cli(url, "reveal", named)
    assert (code, out) == (0, PATIENT + "\n")
    assert "acting locally" in err
    assert _cli(url, "erase", PATIENT)[:2] == (0, f"erased 1 mapping of {named}\n")
    code, _, err = _cli(url, "reveal", named)
    assert code == 1 and "erased" in err
    assert _cli(url, "erase", named)[:2] == (1, f"no mapping of {named}\n")
    assert tables_holding(ledger, PATIENT) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("pseudonym", " "), "empty"),
        (("reveal", PATIENT), "not a patient pseudonym"),
        (("erase", "x" * 65), "at most 64"),
    ],
)
def test_command_line_refuses_bad_values(tmp_path: Path, args: tuple[str, str], says: str) -> None:
    code, _, err = _cli(f"sqlite:///{tmp_path}/none.db", *args)
    assert code == 2 and says in err
    assert not (tmp_path / "none.db").exists()


# -- the key's settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"TRACECODE_PATIENT_KEY": "not hex"}, "TRACECODE_PATIENT_KEY: not hexadecimal"),
        ({"TRACECODE_PATIENT_KEY": "ab" * 16}, "TRACECODE_PATIENT_KEY: 16 bytes"),
        (
            {"TRACECODE_PATIENT_KEY": KEY_HEX, "TRACECODE_PATIENT_KEY_FILE": "k"},
            "both set",
        ),
    ],
)
def test_a_bad_key_setting_stops_start_up_naming_it(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        Settings.from_env(env)
    with pytest.raises(PatientKeyError, match=says):
        patient_key(env)
    code, _, err = _cli("sqlite:///unused.db", "pseudonym", PATIENT, **env)
    assert code == 1 and says in err


def test_the_key_file_is_made_on_first_use_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "patient-key"
    env = {"TRACECODE_PATIENT_KEY_FILE": str(path)}
    Settings.from_env(env)  # start-up checks, makes nothing
    assert not path.exists()
    key = patient_key(env)
    assert len(key) == KEY_BYTES and path.read_bytes() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert patient_key(env) == key
    Settings.from_env(env)


def test_a_short_key_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "short-key"
    path.write_bytes(b"too short")
    env = {"TRACECODE_PATIENT_KEY_FILE": str(path)}
    with pytest.raises(SettingsError, match=r"TRACECODE_PATIENT_KEY_FILE=.*9 bytes"):
        Settings.from_env(env)
