"""Who is asking an HTTP request, and whether its role may.

Every route but ``/health`` and the API docs takes ``Authorization: Bearer …``: an API key
(``tck_…``, created with ``tracecode keys create``; checked against its SHA-256 in the
store) or an
OAuth2 JWT (verified against the configured key set: :mod:`adapters.http.bearer_jwt`).

Good API keys are remembered for up to a second (:class:`RecentKeys`), so a revoked key
stops working within that second in every worker. A request without credentials, or with
ones that do not check out, is answered 401
problem+json with ``WWW-Authenticate: Bearer``; a principal whose role does not hold what
the route needs, 403 naming the roles that do. With authentication turned off (a
development setting, announced loudly at start) every request acts with full rights.

Routes declare what they need as a parameter: ``who: Annotated[Principal,
allow(Permission.READ)]``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Annotated, Any, Protocol

import anyio
from fastapi import Depends, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.http.bearer_jwt import InvalidToken, JwtVerifier
from adapters.http.problems import ProblemError, forbidden
from ledger.access import OPEN, Permission, Principal

KEY_PREFIX = "tck_"


class KeyLookup(Protocol):
    def authenticate(self, key: str) -> Principal | None: ...


KEY_CACHE_ENV = "TRACECODE_KEY_CACHE_SECONDS"
DEFAULT_KEY_CACHE = 1.0


class RecentKeys:
    """API keys checked against the store at most once per ``seconds`` each: a key is one
    indexed read of the store (measured about 65 µs of CPU on SQLite, 190 µs and a round
    trip on PostgreSQL, against about 1.1 ms for a whole single-event capture), so a
    terminal or an engine sending many requests pays it once a second, not every time.

    A new key works at once (what is not remembered is looked up); a revoked one stops
    working within ``seconds`` in every worker (``TRACECODE_KEY_CACHE_SECONDS``, default
    1; 0 checks the store on every request). Only good keys are remembered, by the
    SHA-256 of the key, never the key itself."""

    def __init__(self, keys: KeyLookup, seconds: float, clock: Any = time.monotonic) -> None:
        self.keys = keys
        self.seconds = seconds
        self.clock = clock
        self._known: dict[str, tuple[Principal, float]] = {}

    def authenticate(self, key: str) -> Principal | None:
        if self.seconds <= 0:
            return self.keys.authenticate(key)
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = self.clock()
        known = self._known.get(digest)
        if known is not None and now - known[1] < self.seconds:
            return known[0]
        found = self.keys.authenticate(key)
        if found is None:
            self._known.pop(digest, None)
        else:
            if len(self._known) >= 10_000:  # many keys: start again rather than grow
                self._known.clear()
            self._known[digest] = (found, now)
        return found


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`~ledger.access.Principal`."""

    def __init__(
        self, keys: KeyLookup | None, jwt: JwtVerifier | None = None, *, enabled: bool = True
    ) -> None:
        self.keys = keys
        self.jwt = jwt
        self.enabled = enabled

    def blocks(self, authorization: str | None) -> bool:
        """Whether checking these credentials may wait on the network (a JWT whose key set
        is fetched from a URL): then it is done on a worker thread. An API key is one
        indexed read of the store, done in line."""
        if not self.enabled or self.jwt is None or authorization is None:
            return False
        return KEY_PREFIX not in authorization

    async def resolve(self, headers: Mapping[str, str]) -> Principal:
        """The principal of a request's headers (on a worker thread when checking them may
        wait on the network: :meth:`blocks`), or a 401."""
        header = headers.get("authorization")
        if self.blocks(header):
            found: Principal = await anyio.to_thread.run_sync(self.principal, header)
            return found
        return self.principal(header)

    def principal(self, authorization: str | None) -> Principal:
        """The principal, or a 401 :class:`~adapters.http.problems.ProblemError`."""
        if not self.enabled:
            return OPEN
        if authorization is None or not authorization.strip():
            raise unauthorized("no credentials: send Authorization: Bearer with an API key or JWT")
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise unauthorized("the Authorization header must be: Bearer <API key or JWT>", True)
        if credentials.startswith(KEY_PREFIX):
            found = self.keys.authenticate(credentials) if self.keys is not None else None
            if found is None:
                raise unauthorized("the API key is not known, or was revoked", True)
            return found
        if self.jwt is None:
            raise unauthorized(
                "not an API key (tck_…), and this server accepts no JWTs "
                "(TRACECODE_JWT_JWKS_URL / TRACECODE_JWT_JWKS_FILE are not set)",
                True,
            )
        try:
            return self.jwt.principal(credentials)
        except InvalidToken as exc:
            raise unauthorized(f"the bearer token is not accepted: {exc}", True) from None


def unauthorized(detail: str, invalid: bool = False) -> ProblemError:
    challenge = 'Bearer realm="tracecode"'
    if invalid:
        challenge += ', error="invalid_token"'
    return ProblemError(401, detail, headers={"WWW-Authenticate": challenge})


_bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`tracecode keys create`) or an OAuth2 JWT.",
)


def authenticator_of(app: Any) -> Authenticator:
    authenticator: Authenticator = app.state.tracecode.authenticator
    return authenticator


def allow(permission: Permission, *alternatives: Permission) -> Any:
    """A route parameter's dependency: the principal, once it may do ``permission`` (or one
    of the ``alternatives``)."""
    wanted = (permission, *alternatives)

    async def check(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],  # the scheme
    ) -> Principal:
        principal = await authenticator_of(request.app).resolve(request.headers)
        if not any(principal.may(p) for p in wanted):
            raise forbidden(principal, permission)
        request.state.principal = principal
        return principal

    return Depends(check)


def principal_of(request: Request) -> Principal:
    """The principal :func:`allow` let through for this request."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise RuntimeError(f"{request.url.path} declares no permission (see allow)")
    return principal


READ = allow(Permission.READ)
READ_CODES = allow(Permission.READ_CODES)
ADMIN = allow(Permission.ADMIN)


async def websocket_principal(websocket: WebSocket, permission: Permission) -> Principal:
    """The principal of a WebSocket handshake (the same header), or the 401 / 403."""
    principal = await authenticator_of(websocket.app).resolve(websocket.headers)
    if not principal.may(permission):
        raise forbidden(principal, permission)
    return principal
