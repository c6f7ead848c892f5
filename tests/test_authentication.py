"""Authentication end to end: an OAuth2 JWT through the HTTP API, the development setting
that turns authentication off, the first admin key ``tracecode serve`` prints once, and
the command line acting locally for an institution."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from adapters.bootstrap import SettingsError, http_app
from adapters.cli import main
from ledger.access import Role
from ledger.api_keys import KeyRing
from ledger.application import Ledger
from ledger.settings import store_settings
from tests.ledger_contract import OBJECT_EVENTS, document, event

ISSUER, AUDIENCE = "https://idp.example.com", "tracecode"
JSONLD = {"Content-Type": "application/ld+json"}


@pytest.fixture
def signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk["kid"] = "k1"
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    monkeypatch.setenv("TRACECODE_JWT_JWKS_FILE", str(path))
    monkeypatch.setenv("TRACECODE_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("TRACECODE_JWT_AUDIENCE", AUDIENCE)
    return key


def token(key: Any, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "engine-1", "iat": now, "exp": now + 300}
    return jwt.encode({**body, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


def test_a_jwt_from_the_identity_provider_captures_and_reads_for_its_institution(
    store_url: str, signing_key: Any
) -> None:
    ledger = Ledger(store_settings(store_url))
    try:
        with TestClient(http_app(ledger)) as client:
            engine = token(signing_key, tracecode_role="capture", tracecode_institution="H1")
            capture = {"Authorization": f"Bearer {engine}"}
            posted = client.post(
                "/capture", content=document(event(1)), headers={**JSONLD, **capture}
            )
            assert posted.status_code == 202, posted.text
            reader = token(
                signing_key, tracecode_role=["reader", "someone-else"], tracecode_institution="H1"
            )
            read = client.get("/events", headers={"Authorization": f"Bearer {reader}"})
            assert read.status_code == 200, read.text
            results = read.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            assert len(results) == 1
            other = token(signing_key, tracecode_role="reader", tracecode_institution="H2")
            elsewhere = client.get("/events", headers={"Authorization": f"Bearer {other}"})
            assert elsewhere.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []
            expired = token(signing_key, tracecode_role="reader", tracecode_institution="H1", exp=1)
            refused = client.get("/events", headers={"Authorization": f"Bearer {expired}"})
            assert refused.status_code == 401
            assert "expired" in refused.json()["detail"]
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
            stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            forged = token(stranger, tracecode_role="admin", tracecode_institution="H1")
            assert (
                client.get("/events", headers={"Authorization": f"Bearer {forged}"}).status_code
                == 401
            )
            jobs = list(ledger.jobs())
            assert [(j.institution, j.captured_by) for j in jobs] == [("H1", "jwt engine-1")]
    finally:
        ledger.close()


def test_authentication_off_lets_anyone_do_everything(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACECODE_AUTH", "off")
    ledger = Ledger(store_settings(store_url))
    try:
        with TestClient(http_app(ledger)) as client:
            posted = client.post("/capture", content=document(event(1)), headers=JSONLD)
            assert posted.status_code == 202, posted.text
            assert client.get("/capture").status_code == 200
            assert client.post("/queries", json={"name": "q", "query": {}}).status_code == 201
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("variable", "value"), [("TRACECODE_AUTH", "maybe"), ("TRACECODE_KEY_CACHE_SECONDS", "soon")]
)
def test_a_bad_setting_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        http_app()


def test_serve_prints_the_first_admin_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("TRACECODE_DATABASE_URL", url)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    first = CliRunner().invoke(main, ["serve"])
    assert first.exit_code == 0, first.output
    assert first.stdout == ""
    key = next(w for w in first.stderr.split() if w.startswith("tck_"))
    ledger = Ledger(store_settings(url))
    try:
        principal = KeyRing(ledger).authenticate(key)
        assert principal is not None and principal.role == Role.ADMIN
    finally:
        ledger.close()
    again = CliRunner().invoke(main, ["serve"])
    assert again.exit_code == 0 and "tck_" not in again.stderr
    monkeypatch.setenv("TRACECODE_AUTH", "off")
    off = CliRunner().invoke(main, ["serve"])
    assert "authentication is OFF" in off.stderr


def test_the_command_line_captures_for_the_institution_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("TRACECODE_DATABASE_URL", url)
    done = CliRunner().invoke(main, ["capture", str(OBJECT_EVENTS), "--institution", "H7"])
    assert done.exit_code == 0, done.output
    assert "acting locally with full rights" in done.stderr
    ledger = Ledger(store_settings(url))
    try:
        assert {e.institution for e in ledger.stored_events()} == {"H7"}
        assert [(j.institution, j.captured_by) for j in ledger.jobs()] == [("H7", "command line")]
    finally:
        ledger.close()


class Counting:
    """A key lookup that counts how often the store is asked."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring, self.asked = ring, 0

    def authenticate(self, key: str) -> Any:
        self.asked += 1
        return self.ring.authenticate(key)


def test_good_keys_are_checked_once_a_second_and_a_revoked_one_stops_within_it(
    ledger: Ledger,
) -> None:
    from adapters.http.authentication import RecentKeys

    now = [100.0]
    ring = KeyRing(ledger)
    store = Counting(ring)
    keys = RecentKeys(store, 1.0, clock=lambda: now[0])
    info, key = ring.create(Role.READER, "H1")
    assert keys.authenticate(key) is not None and store.asked == 1
    for _ in range(5):
        assert keys.authenticate(key) is not None
    assert store.asked == 1  # remembered
    ring.revoke(info.key_id)
    now[0] += 0.5
    assert keys.authenticate(key) is not None  # within the second
    now[0] += 0.6
    assert keys.authenticate(key) is None and store.asked == 2  # stopped
    _, fresh = ring.create(Role.READER, "H1")
    assert keys.authenticate(fresh) is not None  # a new key works at once
    assert keys.authenticate("tck_0000000000000000_" + "a" * 43) is None
    assert keys.authenticate("tck_0000000000000000_" + "a" * 43) is None
    assert store.asked == 5  # unknown keys are never remembered
    every_time = RecentKeys(store, 0, clock=lambda: now[0])
    every_time.authenticate(fresh)
    every_time.authenticate(fresh)
    assert store.asked == 7


def test_an_admin_manages_its_institutions_keys_over_http(store_url: str) -> None:
    ledger = Ledger(store_settings(store_url))
    ring = KeyRing(ledger)
    h1_admin = {"Authorization": f"Bearer {ring.create(Role.ADMIN, 'H1')[1]}"}
    h2_admin = {"Authorization": f"Bearer {ring.create(Role.ADMIN, 'H2')[1]}"}
    try:
        with TestClient(http_app(ledger)) as client:
            made = client.post(
                "/keys", json={"role": "capture", "label": "PDA 3"}, headers=h1_admin
            )
            assert made.status_code == 201, made.text
            body = made.json()
            assert (body["role"], body["institution"], body["label"]) == ("capture", "H1", "PDA 3")
            assert made.headers["Location"] == f"/keys/{body['keyId']}"
            key = {"Authorization": f"Bearer {body['key']}"}
            posted = client.post("/capture", content=document(event(1)), headers={**JSONLD, **key})
            assert posted.status_code == 202, posted.text
            listed = client.get("/keys", headers=h1_admin).json()
            assert "key" not in json.dumps(listed).replace('"keyId"', "")
            assert {k["institution"] for k in listed} == {"H1"}
            assert body["keyId"] not in [
                k["keyId"] for k in client.get("/keys", headers=h2_admin).json()
            ]
            for refused in ({"role": "regulator"}, {"role": "reader", "institution": "H2"}):
                answer = client.post("/keys", json=refused, headers=h1_admin)
                assert answer.status_code == 403, answer.text
            for bad in (
                {"role": "boss"},
                {"role": "reader", "colour": "red"},
                {"role": "reader", "label": 3},
            ):
                assert client.post("/keys", json=bad, headers=h1_admin).status_code == 400
            assert client.delete(f"/keys/{body['keyId']}", headers=h2_admin).status_code == 404
            assert client.delete(f"/keys/{body['keyId']}", headers=h1_admin).status_code == 204
            assert ring.authenticate(body["key"]) is None
    finally:
        ledger.close()
