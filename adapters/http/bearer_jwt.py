"""OAuth2 bearer tokens: JWTs signed by an identity provider, verified against its key set.

A client that holds an access token from the institution's identity provider (Keycloak, an
OIDC provider, …) sends it as ``Authorization: Bearer <jwt>``. :class:`JwtVerifier` checks
the token with PyJWT and gives the :class:`~ledger.access.Principal` it stands for; any
failure is an :class:`InvalidToken` saying what is wrong (the caller answers 401).

What is checked:

* the signature, with the key of the provider's JSON Web Key Set (JWKS) named by the token
  header's ``kid``. The set comes from a URL (``PyJWKClient``: cached for
  ``jwks_lifespan`` seconds; a ``kid`` not in the cached set makes it fetch the set again,
  at most once per ``jwks_refetch_cooldown`` seconds, so rotated keys are picked up and
  tokens with made-up ``kid`` values cannot make us hammer the provider) or from a file
  (read once, when the verifier is built). A token without ``kid`` is taken only when the
  set holds exactly one signing key;
* the algorithm: the header's ``alg`` must be one of the configured algorithms, all of them
  asymmetric, and must be the algorithm of the key (a JWK without ``alg`` is taken as its
  type's default: RSA → RS256, EC P-256 → ES256, P-384 → ES384, Ed25519 → EdDSA; a key for
  RS384, RS512, PS256… must say so in its ``alg``);
* the claims ``exp``, ``iat``, ``sub``, ``iss`` and ``aud`` are required; ``exp``, ``nbf``
  and ``iat`` are checked with ``leeway`` seconds of clock skew; ``iss`` must be the
  configured issuer and ``aud`` must hold the configured audience (both are mandatory
  settings: without them a token the provider issued for another service would do);
* the role, from the ``role_claim`` claim: a :class:`~ledger.access.Role` value, or a list
  of values (other entries are ignored) of which the one with most rights is taken, in this
  order of preference: admin, auditor, regulator, reader, capture, terminal;
* the institution, from the ``institution_claim`` claim: a non-empty string, required unless
  the role is regulator (a regulator reads across institutions; it gets ``""`` without it).

The principal is ``Principal(subject=f"jwt {sub}", role, institution, via="jwt")``.

Settings (environment, read by :meth:`JwtSettings.from_env`):

* ``TRACECODE_JWT_JWKS_URL`` — the provider's JWKS URL (http or https), or
* ``TRACECODE_JWT_JWKS_FILE`` — a JWKS JSON file; one of the two, never both. Without
  either, JWTs are not accepted at all;
* ``TRACECODE_JWT_ISSUER``, ``TRACECODE_JWT_AUDIENCE`` — required with a JWKS;
* ``TRACECODE_JWT_ROLE_CLAIM`` (default ``tracecode_role``),
  ``TRACECODE_JWT_INSTITUTION_CLAIM`` (default ``tracecode_institution``);
* ``TRACECODE_JWT_ALGORITHMS`` — comma-separated, default
  ``RS256,RS384,RS512,PS256,ES256,ES384,EdDSA``.

Why asymmetric algorithms only: with a JWKS, the verifier holds public keys that anyone may
have. An HMAC (``HS256``…) algorithm would make the verifying key the signing key, and the
classic confusion attack signs a token with HMAC using the provider's *public* key as the
secret; ``none`` means no signature. Neither can be configured, and the ``alg`` of every
token must match the key it is verified with.

:meth:`JwtVerifier.principal` does blocking I/O when the key set has to be fetched; call it
from a worker thread (FastAPI's threadpool), not on the event loop.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from ledger.access import Principal, Role

ENV_JWKS_URL = "TRACECODE_JWT_JWKS_URL"
ENV_JWKS_FILE = "TRACECODE_JWT_JWKS_FILE"
ENV_ISSUER = "TRACECODE_JWT_ISSUER"
ENV_AUDIENCE = "TRACECODE_JWT_AUDIENCE"
ENV_ROLE_CLAIM = "TRACECODE_JWT_ROLE_CLAIM"
ENV_INSTITUTION_CLAIM = "TRACECODE_JWT_INSTITUTION_CLAIM"
ENV_ALGORITHMS = "TRACECODE_JWT_ALGORITHMS"

ASYMMETRIC_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES256K",
        "ES384",
        "ES512",
        "EdDSA",
    }
)
"""The algorithms that may be configured: signatures with a public verifying key."""

DEFAULT_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "ES256",
    "ES384",
    "EdDSA",
)

ROLE_PREFERENCE: tuple[Role, ...] = (
    Role.ADMIN,
    Role.AUDITOR,
    Role.REGULATOR,
    Role.READER,
    Role.CAPTURE,
    Role.TERMINAL,
)
"""When the role claim lists several roles, the first of these it holds is taken."""

REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud")
JWKS_FETCH_TIMEOUT = 10.0
"""Seconds to wait for the JWKS URL."""
MAX_TOKEN_LENGTH = 16_384
"""Longer bearer values are refused before any parsing."""


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (values come from untrusted tokens)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_algorithm(algorithm: str) -> None:
    if algorithm.lower() == "none":
        raise ValueError(
            f"{ENV_ALGORITHMS}: 'none' (unsigned tokens) is never accepted; "
            "only asymmetric algorithms may be configured"
        )
    if algorithm.upper().startswith("HS"):
        raise ValueError(
            f"{ENV_ALGORITHMS}: {algorithm!r} is symmetric (HMAC); with a JWKS only "
            "asymmetric algorithms may be configured: " + ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
        )
    if algorithm not in ASYMMETRIC_ALGORITHMS:
        raise ValueError(
            f"{ENV_ALGORITHMS}: unknown algorithm {algorithm!r}; known: "
            + ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
        )


@dataclass(frozen=True)
class JwtSettings:
    """Where the provider's keys are, whose tokens are accepted, where role and institution
    are in them. Invalid settings raise :class:`ValueError` naming the setting."""

    jwks_url: str | None
    jwks_file: str | None
    issuer: str | None
    audience: str | None
    role_claim: str = "tracecode_role"
    institution_claim: str = "tracecode_institution"
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway: float = 30
    """Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``."""
    jwks_lifespan: float = 300
    """Seconds a key set fetched from ``jwks_url`` is used before it is fetched again."""
    jwks_refetch_cooldown: float = 30
    """Least seconds between two fetches of ``jwks_url`` caused by an unknown ``kid``."""

    def __post_init__(self) -> None:
        if self.jwks_url and self.jwks_file:
            raise ValueError(f"set only one of {ENV_JWKS_URL} and {ENV_JWKS_FILE}, not both")
        if not self.jwks_url and not self.jwks_file:
            raise ValueError(f"one of {ENV_JWKS_URL} and {ENV_JWKS_FILE} is needed")
        if self.jwks_url:
            parsed = urlparse(self.jwks_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ValueError(f"{ENV_JWKS_URL} must be an http or https URL")
        if not self.issuer:
            raise ValueError(
                f"{ENV_ISSUER} is required with a JWKS: without it, a token of any issuer "
                "whose keys are in the set would be accepted"
            )
        if not self.audience:
            raise ValueError(
                f"{ENV_AUDIENCE} is required with a JWKS: without it, a token the provider "
                "issued for another service would be accepted"
            )
        if not self.role_claim:
            raise ValueError(f"{ENV_ROLE_CLAIM} must not be empty")
        if not self.institution_claim:
            raise ValueError(f"{ENV_INSTITUTION_CLAIM} must not be empty")
        if not self.algorithms:
            raise ValueError(f"{ENV_ALGORITHMS} must name at least one algorithm")
        for algorithm in self.algorithms:
            _check_algorithm(algorithm)
        if not (math.isfinite(self.leeway) and self.leeway >= 0):
            raise ValueError("the JWT leeway must be a finite number of seconds, at least 0")
        if not (math.isfinite(self.jwks_lifespan) and self.jwks_lifespan > 0):
            raise ValueError("the JWKS lifespan must be a finite number of seconds, above 0")
        if not (math.isfinite(self.jwks_refetch_cooldown) and self.jwks_refetch_cooldown >= 0):
            raise ValueError("the JWKS refetch cooldown must be a finite number of seconds")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> JwtSettings | None:
        """The settings from ``TRACECODE_JWT_*``; None when no JWKS is configured (then
        JWTs are not accepted). Raises :class:`ValueError` naming a wrong setting."""

        def get(name: str) -> str | None:
            return env.get(name, "").strip() or None

        jwks_url, jwks_file = get(ENV_JWKS_URL), get(ENV_JWKS_FILE)
        if jwks_url is None and jwks_file is None:
            return None
        algorithms = DEFAULT_ALGORITHMS
        listed = get(ENV_ALGORITHMS)
        if listed is not None:
            algorithms = tuple(part.strip() for part in listed.split(",") if part.strip())
        return cls(
            jwks_url=jwks_url,
            jwks_file=jwks_file,
            issuer=get(ENV_ISSUER),
            audience=get(ENV_AUDIENCE),
            role_claim=get(ENV_ROLE_CLAIM) or "tracecode_role",
            institution_claim=get(ENV_INSTITUTION_CLAIM) or "tracecode_institution",
            algorithms=algorithms,
        )


class InvalidToken(Exception):
    """A bearer JWT that is not accepted; the message says why (never the token itself)."""


def _signing_keys(key_set: PyJWKSet) -> list[PyJWK]:
    """The keys of a set that may verify signatures (``use`` is ``sig`` or absent)."""
    return [key for key in key_set.keys if key.public_key_use in ("sig", None)]


def _load_key_file(path: str) -> list[PyJWK]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{ENV_JWKS_FILE}: {path} cannot be read as JSON: {error}") from error
    if not isinstance(document, dict):
        raise ValueError(f"{ENV_JWKS_FILE}: {path} is not a JWK set (a JSON object)")
    try:
        keys = _signing_keys(PyJWKSet.from_dict(document))
    except jwt.PyJWTError as error:
        raise ValueError(f"{ENV_JWKS_FILE}: {path} holds no usable key: {error}") from error
    if not keys:
        raise ValueError(f"{ENV_JWKS_FILE}: {path} holds no signing key")
    return keys


_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet ({error})"),
    (jwt.InvalidIssuerError, "wrong issuer: the token was not issued by the configured issuer"),
    (jwt.InvalidAudienceError, "wrong audience: the token is not meant for this service"),
    (jwt.MissingRequiredClaimError, "the token lacks the required {claim!r} claim"),
    (jwt.InvalidSignatureError, "bad signature: the token was not signed by the key it names"),
    (jwt.InvalidAlgorithmError, "algorithm not accepted: {error}"),
    (jwt.DecodeError, "malformed token: {error}"),
)
"""What each PyJWT error means, in words for the 401 answer; the first that fits is said
(a bad signature is also a ``DecodeError``)."""


def _reason(error: jwt.PyJWTError) -> str:
    for kind, words in _REASONS:
        if isinstance(error, kind):
            return words.format(error=error, claim=getattr(error, "claim", None))
    return f"invalid token: {error}"


class JwtVerifier:
    """Verifies bearer JWTs against the configured key set and gives their principal.

    Building it with a ``jwks_file`` reads the file (a :class:`ValueError` when it cannot
    be used); with a ``jwks_url`` nothing is fetched until the first token."""

    def __init__(self, settings: JwtSettings) -> None:
        self.settings = settings
        self._client: PyJWKClient | None = None
        self._file_keys: list[PyJWK] = []
        if settings.jwks_url:
            try:
                self._client = PyJWKClient(
                    settings.jwks_url,
                    cache_jwk_set=True,
                    lifespan=settings.jwks_lifespan,
                    cooldown_duration=settings.jwks_refetch_cooldown,
                    timeout=JWKS_FETCH_TIMEOUT,
                )
            except jwt.PyJWTError as error:
                raise ValueError(f"{ENV_JWKS_URL}: {error}") from error
        elif settings.jwks_file:
            self._file_keys = _load_key_file(settings.jwks_file)

    def principal(self, token: str) -> Principal:
        """The principal ``token`` stands for; :class:`InvalidToken` when it is not valid."""
        if not isinstance(token, str) or not token.strip():
            raise InvalidToken("the bearer token is empty")
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken(f"the bearer token is longer than {MAX_TOKEN_LENGTH} characters")
        settings = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken(f"malformed token: {error}") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in settings.algorithms:
            raise InvalidToken(
                f"algorithm not accepted: the token's alg is {_shown(algorithm)}; accepted: "
                + ", ".join(settings.algorithms)
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("malformed token: the kid header is not a string")
        key = self._key(kid)
        if key.algorithm_name != algorithm:
            # PyJWT (≥ 2.13) refuses this too; saying it here gives the clearer reason.
            raise InvalidToken(
                f"algorithm not accepted: the token's alg {algorithm} does not fit its key "
                f"{_shown(kid)}, which is for {key.algorithm_name}"
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(settings.algorithms),
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(_reason(error)) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("the token's sub claim is not a non-empty string")
        role = self._role(claims)
        return Principal(
            subject=f"jwt {subject}",
            role=role,
            institution=self._institution(claims, role),
            via="jwt",
        )

    def _key(self, kid: str | None) -> PyJWK:
        """The key of the set that ``kid`` names (or the set's only key, without ``kid``)."""
        if self._client is None:
            return self._pick(self._file_keys, kid, f"the key file {self.settings.jwks_file}")
        url = self.settings.jwks_url
        try:
            if kid is None:
                return self._pick(
                    _signing_keys(self._client.get_jwk_set()), None, f"the key set at {url}"
                )
            self._client.get_signing_keys()  # the (cached) set: a failure here is the set's
        except jwt.PyJWKClientConnectionError as error:
            raise InvalidToken(f"the key set at {url} cannot be fetched: {error}") from None
        except (jwt.PyJWTError, ValueError) as error:
            raise InvalidToken(f"the key set at {url} cannot be used: {error}") from None
        try:
            return self._client.get_signing_key(kid)  # refetches the set for an unseen kid
        except jwt.PyJWKClientConnectionError as error:
            raise InvalidToken(f"the key set at {url} cannot be fetched: {error}") from None
        except jwt.PyJWKClientError:
            raise InvalidToken(
                f"unknown key id {_shown(kid)}: the key set at {url} has no such key"
            ) from None
        except (jwt.PyJWTError, ValueError) as error:
            raise InvalidToken(f"the key set at {url} cannot be used: {error}") from None

    @staticmethod
    def _pick(keys: list[PyJWK], kid: str | None, where: str) -> PyJWK:
        if kid is None:
            if len(keys) == 1:
                return keys[0]
            raise InvalidToken(
                f"the token names no key (no kid header) and {where} holds {len(keys)} keys"
            )
        for key in keys:
            if key.key_id == kid:
                return key
        raise InvalidToken(f"unknown key id {_shown(kid)}: {where} has no such key")

    def _role(self, claims: Mapping[str, Any]) -> Role:
        name = self.settings.role_claim
        value = claims.get(name)
        if value is None:
            raise InvalidToken(f"the token has no {name!r} claim (its role)")
        known = {role.value: role for role in Role}
        if isinstance(value, str):
            if value not in known:
                raise InvalidToken(
                    f"unknown role {_shown(value)} in the {name!r} claim; known: "
                    + ", ".join(role.value for role in ROLE_PREFERENCE)
                )
            return known[value]
        if not isinstance(value, list):
            raise InvalidToken(f"the {name!r} claim must be a role or a list of roles")
        held = {known[item] for item in value if isinstance(item, str) and item in known}
        for role in ROLE_PREFERENCE:
            if role in held:
                return role
        raise InvalidToken(
            f"the {name!r} claim names no known role; known: "
            + ", ".join(role.value for role in ROLE_PREFERENCE)
        )

    def _institution(self, claims: Mapping[str, Any], role: Role) -> str:
        name = self.settings.institution_claim
        value = claims.get(name)
        if value is None or value == "":
            if role is Role.REGULATOR:
                return ""
            raise InvalidToken(
                f"the token has no {name!r} claim (its institution), "
                f"which the role {role.value} needs"
            )
        if not isinstance(value, str) or not value.strip():
            raise InvalidToken(f"the {name!r} claim must be a non-empty string")
        return value
