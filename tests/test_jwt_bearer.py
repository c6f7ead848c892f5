"""Bearer JWTs verified against a key set (``adapters.http.bearer_jwt``).

Keys are made here (RSA 2048, EC P-256, Ed25519), published as JWK sets in a file or by a
real HTTP server on 127.0.0.1, and tokens are signed with PyJWT; the hostile ones (``alg:
none``, HS256 keyed with the public key's PEM) are put together by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from adapters.http.bearer_jwt import (
    ENV_ALGORITHMS,
    ENV_AUDIENCE,
    ENV_INSTITUTION_CLAIM,
    ENV_ISSUER,
    ENV_JWKS_FILE,
    ENV_JWKS_URL,
    ENV_ROLE_CLAIM,
    REQUIRED_CLAIMS,
    InvalidToken,
    JwtSettings,
    JwtVerifier,
)
from ledger.access import Principal, Role

ISSUER = "https://id.example.test/realms/ledger"
AUDIENCE = "tracecode"

# -- keys and key sets ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, **extra: str) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, **extra}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid}


def ed_jwk(key: ed25519.Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid}


@pytest.fixture
def key_set(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, ed_key: Any
) -> dict[str, Any]:
    return {"keys": [rsa_jwk(rsa_key, "rsa-1"), ec_jwk(ec_key, "ec-1"), ed_jwk(ed_key, "ed-1")]}


def write_set(path: Path, key_set: dict[str, Any]) -> str:
    path.write_text(json.dumps(key_set), encoding="utf-8")
    return str(path)


def settings_for(*, jwks_file: str | None = None, jwks_url: str | None = None, **kw: Any) -> Any:
    return JwtSettings(
        jwks_url=jwks_url, jwks_file=jwks_file, issuer=ISSUER, audience=AUDIENCE, **kw
    )


@pytest.fixture
def verifier(tmp_path: Path, key_set: dict[str, Any]) -> JwtVerifier:
    return JwtVerifier(settings_for(jwks_file=write_set(tmp_path / "jwks.json", key_set)))


# -- tokens --------------------------------------------------------------------------------


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
        "tracecode_role": "reader",
        "tracecode_institution": "H-0001",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(key: Any, algorithm: str = "RS256", kid: str | None = "rsa-1", **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims(**overrides), key, algorithm=algorithm, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def by_hand(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A compact JWS put together without PyJWT; HMAC-SHA256 with ``key``, or unsigned."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if key is None:
        return signing_input + "."
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def refused(verifier: JwtVerifier, token: str, *words: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.principal(token)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    if len(token) > 40:
        assert token not in message
    return message


# -- valid tokens (file mode) --------------------------------------------------------------


def test_rs256_token_gives_its_principal(verifier: JwtVerifier, rsa_key: Any) -> None:
    principal = verifier.principal(sign(rsa_key))
    assert principal == Principal(
        subject="jwt user-1", role=Role.READER, institution="H-0001", via="jwt"
    )
    assert principal.scope == "H-0001"


def test_es256_token(verifier: JwtVerifier, ec_key: Any) -> None:
    token = sign(ec_key, "ES256", "ec-1", sub="scanner-7", tracecode_role="terminal")
    principal = verifier.principal(token)
    assert (principal.subject, principal.role, principal.institution) == (
        "jwt scanner-7",
        Role.TERMINAL,
        "H-0001",
    )


def test_eddsa_token(verifier: JwtVerifier, ed_key: Any) -> None:
    assert verifier.principal(sign(ed_key, "EdDSA", "ed-1")).role is Role.READER


def test_audience_list_holding_ours(verifier: JwtVerifier, rsa_key: Any) -> None:
    assert verifier.principal(sign(rsa_key, aud=["other", AUDIENCE])).via == "jwt"


def test_clock_skew_within_leeway(verifier: JwtVerifier, rsa_key: Any) -> None:
    now = int(time.time())
    token = sign(rsa_key, exp=now - 10, nbf=now + 10, iat=now + 10)
    assert verifier.principal(token).subject == "jwt user-1"


def test_custom_claim_names(tmp_path: Path, key_set: dict[str, Any], rsa_key: Any) -> None:
    settings = settings_for(
        jwks_file=write_set(tmp_path / "jwks.json", key_set),
        role_claim="roles",
        institution_claim="org",
    )
    token = sign(
        rsa_key, tracecode_role=None, tracecode_institution=None, roles=["auditor"], org="X"
    )
    principal = JwtVerifier(settings).principal(token)
    assert (principal.role, principal.institution) == (Role.AUDITOR, "X")


# -- times, issuer, audience, claims -------------------------------------------------------


def test_expired(verifier: JwtVerifier, rsa_key: Any) -> None:
    now = int(time.time())
    refused(verifier, sign(rsa_key, iat=now - 7200, exp=now - 3600), "expired")


def test_not_yet_valid(verifier: JwtVerifier, rsa_key: Any) -> None:
    refused(verifier, sign(rsa_key, nbf=int(time.time()) + 3600), "not valid yet", "nbf")


def test_issued_in_the_future(verifier: JwtVerifier, rsa_key: Any) -> None:
    refused(verifier, sign(rsa_key, iat=int(time.time()) + 3600), "not valid yet", "iat")


def test_wrong_issuer(verifier: JwtVerifier, rsa_key: Any) -> None:
    refused(verifier, sign(rsa_key, iss="https://elsewhere.test"), "wrong issuer")


def test_wrong_audience(verifier: JwtVerifier, rsa_key: Any) -> None:
    refused(verifier, sign(rsa_key, aud="another-service"), "wrong audience")


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_required_claim_missing(verifier: JwtVerifier, rsa_key: Any, claim: str) -> None:
    refused(verifier, sign(rsa_key, **{claim: None}), "lacks", repr(claim))


def test_empty_subject(verifier: JwtVerifier, rsa_key: Any) -> None:
    refused(verifier, sign(rsa_key, sub=""), "sub")


# -- keys and algorithms -------------------------------------------------------------------


def test_unknown_kid(verifier: JwtVerifier, rsa_key: Any) -> None:
    refused(verifier, sign(rsa_key, kid="nobody"), "unknown key id", "'nobody'")


def test_same_kid_other_key_is_a_bad_signature(verifier: JwtVerifier, other_rsa_key: Any) -> None:
    refused(verifier, sign(other_rsa_key, kid="rsa-1"), "bad signature")


def test_tampered_payload_is_a_bad_signature(verifier: JwtVerifier, rsa_key: Any) -> None:
    header, _, signature = sign(rsa_key).split(".")
    payload = b64(json.dumps(claims(tracecode_role="admin")).encode())
    refused(verifier, f"{header}.{payload}.{signature}", "bad signature")


def test_alg_none(verifier: JwtVerifier) -> None:
    token = by_hand({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims(), None)
    refused(verifier, token, "algorithm not accepted", "'none'")
    no_kid = by_hand({"alg": "none", "typ": "JWT"}, claims(), None)
    refused(verifier, no_kid, "algorithm not accepted")


def test_hs256_keyed_with_the_public_pem(verifier: JwtVerifier, rsa_key: Any) -> None:
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = by_hand({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), pem)
    refused(verifier, token, "algorithm not accepted", "HS256")


def test_pyjwt_binds_the_alg_to_the_jwk(rsa_key: Any) -> None:
    """What the verifier relies on: given a PyJWK, PyJWT verifies with the key's algorithm
    and refuses a token whose header names another one, even one in ``algorithms``."""
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = by_hand({"alg": "HS256", "typ": "JWT"}, claims(), pem)
    key = jwt.PyJWK(rsa_jwk(rsa_key, "rsa-1"))
    assert key.algorithm_name == "RS256"
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, key, algorithms=["HS256", "RS256"], audience=AUDIENCE)


def test_alg_must_fit_the_key(verifier: JwtVerifier, ec_key: Any, rsa_key: Any) -> None:
    # an EC signature presented under the RSA key's kid
    refused(verifier, sign(ec_key, "ES256", kid="rsa-1"), "does not fit", "RS256")
    # an RSA key without "alg" is an RS256 key: RS384/PS256 need the JWK to say so
    refused(verifier, sign(rsa_key, "RS384"), "does not fit")
    refused(verifier, sign(rsa_key, "PS256"), "does not fit")


def test_jwk_alg_selects_the_rsa_algorithm(tmp_path: Path, rsa_key: Any) -> None:
    key_set = {"keys": [rsa_jwk(rsa_key, "rsa-ps", alg="PS256", use="sig")]}
    verifier = JwtVerifier(settings_for(jwks_file=write_set(tmp_path / "jwks.json", key_set)))
    assert verifier.principal(sign(rsa_key, "PS256", "rsa-ps")).role is Role.READER
    refused(verifier, sign(rsa_key, "RS256", "rsa-ps"), "does not fit", "PS256")


def test_algorithm_not_configured(tmp_path: Path, key_set: dict[str, Any], ec_key: Any) -> None:
    settings = settings_for(
        jwks_file=write_set(tmp_path / "jwks.json", key_set), algorithms=("RS256",)
    )
    refused(JwtVerifier(settings), sign(ec_key, "ES256", "ec-1"), "algorithm not accepted")


def test_encryption_keys_are_not_used(tmp_path: Path, rsa_key: Any) -> None:
    key_set = {"keys": [rsa_jwk(rsa_key, "rsa-enc", use="enc"), rsa_jwk(rsa_key, "rsa-1")]}
    verifier = JwtVerifier(settings_for(jwks_file=write_set(tmp_path / "jwks.json", key_set)))
    refused(verifier, sign(rsa_key, kid="rsa-enc"), "unknown key id")
    assert verifier.principal(sign(rsa_key, kid=None)).role is Role.READER  # one signing key


def test_no_kid(tmp_path: Path, verifier: JwtVerifier, rsa_key: Any) -> None:
    refused(verifier, sign(rsa_key, kid=None), "no kid", "3 keys")
    alone = {"keys": [rsa_jwk(rsa_key, "rsa-1")]}
    single = JwtVerifier(settings_for(jwks_file=write_set(tmp_path / "one.json", alone)))
    assert single.principal(sign(rsa_key, kid=None)).subject == "jwt user-1"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "   ",
        "garbage",
        "a.b.c",
        "a.b",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",  # valid shape, no kid, junk signature
        "eyJ.eyJ.sig",
        b64(b"[1,2]") + ".e30.",
        b64(b'{"alg":"RS256","kid":7}') + ".e30.c2ln",
        "x" * 20_000,
        "Bearer " + "a.b.c",
    ],
)
def test_garbage(verifier: JwtVerifier, token: str) -> None:
    refused(verifier, token)


# -- role and institution ------------------------------------------------------------------


def test_role_missing(verifier: JwtVerifier, rsa_key: Any) -> None:
    refused(verifier, sign(rsa_key, tracecode_role=None), "'tracecode_role'", "role")


def test_role_unknown(verifier: JwtVerifier, rsa_key: Any) -> None:
    refused(verifier, sign(rsa_key, tracecode_role="superuser"), "unknown role", "superuser")
    refused(verifier, sign(rsa_key, tracecode_role="ADMIN"), "unknown role")
    refused(verifier, sign(rsa_key, tracecode_role=["superuser", 3]), "no known role")
    refused(verifier, sign(rsa_key, tracecode_role=[]), "no known role")
    refused(verifier, sign(rsa_key, tracecode_role=3), "a role or a list")


@pytest.mark.parametrize(
    ("roles", "taken"),
    [
        (["reader", "admin"], Role.ADMIN),
        (["terminal", "capture"], Role.CAPTURE),
        (["reader", "regulator", "capture"], Role.REGULATOR),
        (["auditor", "regulator"], Role.AUDITOR),
        (["offline_access", "uma_authorization", "terminal"], Role.TERMINAL),
        (["capture", "reader"], Role.READER),
    ],
)
def test_role_list(verifier: JwtVerifier, rsa_key: Any, roles: list[str], taken: Role) -> None:
    assert verifier.principal(sign(rsa_key, tracecode_role=roles)).role is taken


def test_institution_missing(verifier: JwtVerifier, rsa_key: Any) -> None:
    refused(verifier, sign(rsa_key, tracecode_institution=None), "'tracecode_institution'")
    refused(verifier, sign(rsa_key, tracecode_institution=""), "institution")
    refused(verifier, sign(rsa_key, tracecode_institution=42), "non-empty string")
    refused(verifier, sign(rsa_key, tracecode_institution="  "), "non-empty string")


def test_regulator_needs_no_institution(verifier: JwtVerifier, rsa_key: Any) -> None:
    principal = verifier.principal(
        sign(rsa_key, tracecode_role="regulator", tracecode_institution=None)
    )
    assert (principal.role, principal.institution, principal.scope) == (Role.REGULATOR, "", None)
    listed = sign(rsa_key, tracecode_role=["reader", "regulator"], tracecode_institution=None)
    assert verifier.principal(listed).role is Role.REGULATOR


# -- URL mode: a real HTTP server ------------------------------------------------------------


@dataclass
class JwksServer:
    key_set: dict[str, Any]
    hits: int = 0
    status: int = 200
    body: bytes | None = None
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def jwks_server(key_set: dict[str, Any]) -> Iterator[JwksServer]:
    state = JwksServer(key_set=key_set)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.hits += 1
                body = state.body if state.body is not None else json.dumps(state.key_set).encode()
                status = state.status
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_url_mode_fetches_once_and_caches(
    jwks_server: JwksServer, rsa_key: Any, ec_key: Any
) -> None:
    verifier = JwtVerifier(settings_for(jwks_url=jwks_server.url))
    assert jwks_server.hits == 0  # nothing fetched before the first token
    assert verifier.principal(sign(rsa_key)).subject == "jwt user-1"
    assert verifier.principal(sign(ec_key, "ES256", "ec-1")).role is Role.READER
    assert verifier.principal(sign(rsa_key, sub="user-2")).subject == "jwt user-2"
    assert jwks_server.hits == 1


def test_url_mode_key_rotation(jwks_server: JwksServer, rsa_key: Any, other_rsa_key: Any) -> None:
    verifier = JwtVerifier(settings_for(jwks_url=jwks_server.url, jwks_refetch_cooldown=0))
    assert verifier.principal(sign(rsa_key)).role is Role.READER
    assert jwks_server.hits == 1
    with jwks_server.lock:  # the provider rotates: a new key, the old one withdrawn
        jwks_server.key_set = {"keys": [rsa_jwk(other_rsa_key, "rsa-2")]}
    rotated = verifier.principal(sign(other_rsa_key, kid="rsa-2", sub="user-9"))
    assert rotated.subject == "jwt user-9"
    assert jwks_server.hits == 2  # the unseen kid made PyJWKClient fetch the set again
    # the old key is gone from the refreshed set
    refused(verifier, sign(rsa_key), "unknown key id", "rsa-1")
    assert jwks_server.hits == 3  # an unknown kid refetches (no cooldown here) …
    refused(verifier, sign(rsa_key, kid="made-up"), "unknown key id")
    assert jwks_server.hits == 4


def test_url_mode_refetch_cooldown(
    jwks_server: JwksServer, rsa_key: Any, other_rsa_key: Any
) -> None:
    verifier = JwtVerifier(settings_for(jwks_url=jwks_server.url))  # default cooldown: 30 s
    assert verifier.principal(sign(rsa_key)).role is Role.READER
    with jwks_server.lock:
        jwks_server.key_set = {"keys": [rsa_jwk(other_rsa_key, "rsa-2")]}
    for kid in ("made-up-1", "made-up-2", "rsa-2"):
        refused(verifier, sign(other_rsa_key, kid=kid), "unknown key id")
    assert jwks_server.hits == 1  # … but within the cooldown, made-up kids fetch nothing


def test_url_mode_bad_signature_and_no_kid(
    jwks_server: JwksServer, rsa_key: Any, other_rsa_key: Any
) -> None:
    verifier = JwtVerifier(settings_for(jwks_url=jwks_server.url))
    refused(verifier, sign(other_rsa_key, kid="rsa-1"), "bad signature")
    refused(verifier, sign(rsa_key, kid=None), "no kid", "3 keys")
    with jwks_server.lock:
        jwks_server.key_set = {"keys": [rsa_jwk(rsa_key, "rsa-1")]}
    single = JwtVerifier(settings_for(jwks_url=jwks_server.url))
    assert single.principal(sign(rsa_key, kid=None)).role is Role.READER


def test_url_mode_server_error(jwks_server: JwksServer, rsa_key: Any) -> None:
    jwks_server.status = 500
    verifier = JwtVerifier(settings_for(jwks_url=jwks_server.url))
    refused(verifier, sign(rsa_key), "cannot be fetched", jwks_server.url)


def test_url_mode_not_a_key_set(jwks_server: JwksServer, rsa_key: Any) -> None:
    verifier = JwtVerifier(settings_for(jwks_url=jwks_server.url))
    jwks_server.body = b"<html>not json</html>"
    refused(verifier, sign(rsa_key), "cannot be used", jwks_server.url)
    jwks_server.body = b'{"keys": []}'
    refused(verifier, sign(rsa_key), "cannot be used")
    jwks_server.body = b"[1, 2]"
    refused(verifier, sign(rsa_key), "cannot be used")


def test_url_mode_nobody_listening(rsa_key: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/jwks.json"
    refused(JwtVerifier(settings_for(jwks_url=url)), sign(rsa_key), "cannot be fetched", url)


# -- settings ------------------------------------------------------------------------------


def env(**values: str) -> dict[str, str]:
    return {f"TRACECODE_JWT_{name.upper()}": value for name, value in values.items()}


def test_from_env_unset() -> None:
    assert JwtSettings.from_env({}) is None
    assert JwtSettings.from_env(env(issuer=ISSUER, audience=AUDIENCE, jwks_url="  ")) is None


def test_from_env_reads_every_setting() -> None:
    settings = JwtSettings.from_env(
        env(
            jwks_url="https://id.example.test/certs",
            issuer=ISSUER,
            audience=AUDIENCE,
            role_claim="roles",
            institution_claim="org",
            algorithms=" RS256, ES256 ,",
        )
    )
    assert settings == JwtSettings(
        jwks_url="https://id.example.test/certs",
        jwks_file=None,
        issuer=ISSUER,
        audience=AUDIENCE,
        role_claim="roles",
        institution_claim="org",
        algorithms=("RS256", "ES256"),
    )
    defaults = JwtSettings.from_env(env(jwks_file="/etc/jwks.json", issuer=ISSUER, audience="a"))
    assert defaults is not None
    assert (defaults.role_claim, defaults.institution_claim, defaults.leeway) == (
        "tracecode_role",
        "tracecode_institution",
        30,
    )
    assert defaults.algorithms == ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


@pytest.mark.parametrize(
    ("values", "named", "word"),
    [
        (
            {"jwks_url": "https://id.test/certs", "jwks_file": "/k.json"},
            ENV_JWKS_URL,
            "not both",
        ),
        (
            {"jwks_url": "https://id.test/certs", "audience": AUDIENCE, "issuer": ""},
            ENV_ISSUER,
            "required",
        ),
        ({"audience": ""}, ENV_AUDIENCE, "required"),
        ({"jwks_url": "", "jwks_file": "/k.json", "audience": " "}, ENV_AUDIENCE, "required"),
        ({"algorithms": "RS256,HS256"}, ENV_ALGORITHMS, "symmetric"),
        ({"algorithms": "HS512"}, ENV_ALGORITHMS, "symmetric"),
        ({"algorithms": "none"}, ENV_ALGORITHMS, "'none'"),
        ({"algorithms": "RS256,XS999"}, ENV_ALGORITHMS, "unknown"),
        ({"algorithms": " , "}, ENV_ALGORITHMS, "at least one"),
        ({"jwks_url": "file:///etc/passwd"}, ENV_JWKS_URL, "http"),
    ],
)
def test_from_env_errors(values: dict[str, str], named: str, word: str) -> None:
    base = {"jwks_url": "https://id.test/certs", "issuer": ISSUER, "audience": AUDIENCE}
    with pytest.raises(ValueError) as caught:
        JwtSettings.from_env(env(**{**base, **values}))
    assert named in str(caught.value)
    assert word in str(caught.value)


def test_settings_checked_when_built_directly(tmp_path: Path) -> None:
    good = settings_for(jwks_file=str(tmp_path / "k.json"))
    with pytest.raises(ValueError, match=ENV_ALGORITHMS):
        replace(good, algorithms=("RS256", "HS256"))
    with pytest.raises(ValueError, match=ENV_AUDIENCE):
        replace(good, audience=None)
    with pytest.raises(ValueError, match=ENV_JWKS_FILE):
        replace(good, jwks_file=None)
    with pytest.raises(ValueError, match="leeway"):
        replace(good, leeway=-1)


def test_key_file_problems(tmp_path: Path, rsa_key: Any) -> None:
    with pytest.raises(ValueError, match=ENV_JWKS_FILE):
        JwtVerifier(settings_for(jwks_file=str(tmp_path / "absent.json")))
    for content in ("not json", "[]", '{"keys": []}', '{"keys": [{"kty": "XX"}]}'):
        path = tmp_path / "bad.json"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=ENV_JWKS_FILE):
            JwtVerifier(settings_for(jwks_file=str(path)))
    only_enc = {"keys": [rsa_jwk(rsa_key, "rsa-enc", use="enc")]}
    with pytest.raises(ValueError, match="no signing key"):
        JwtVerifier(settings_for(jwks_file=write_set(tmp_path / "enc.json", only_enc)))


def test_role_claim_and_institution_claim_env_names() -> None:
    assert ENV_ROLE_CLAIM == "TRACECODE_JWT_ROLE_CLAIM"
    assert ENV_INSTITUTION_CLAIM == "TRACECODE_JWT_INSTITUTION_CLAIM"
