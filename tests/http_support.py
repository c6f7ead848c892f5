"""Building the HTTP app for tests through the bootstrap, with requests that carry who asks.

:class:`RoleKeys` gives every request the API key of the role it needs, as an integration
engine with a capture key, a reader key and an admin key would: ``capture`` for ``POST
/capture`` and ``POST /events``, ``admin`` for changes to named queries and for
subscriptions, ``reader`` for everything else. A request that sets its own
``Authorization`` keeps it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi.testclient import TestClient

from adapters.bootstrap import http_app
from ledger.access import Role
from ledger.api_keys import KeyRing
from ledger.application import Ledger

INSTITUTION = "H1"


class RoleKeys(httpx.Auth):
    def __init__(self, keys: dict[Role, str]) -> None:
        self.keys = keys

    @classmethod
    def create(cls, ledger: Ledger, institution: str = INSTITUTION) -> RoleKeys:
        ring = KeyRing(ledger)
        roles = (Role.CAPTURE, Role.READER, Role.ADMIN, Role.AUDITOR, Role.TERMINAL)
        keys = {role: ring.create(role, institution, f"test {role.value}")[1] for role in roles}
        keys[Role.REGULATOR] = ring.create(Role.REGULATOR, "", "test regulator")[1]
        return cls(keys)

    def role_for(self, method: str, path: str) -> Role:
        if method == "POST" and path in ("/capture", "/events"):
            return Role.CAPTURE
        if method in ("POST", "DELETE") and path.startswith("/queries"):
            return Role.ADMIN
        if "/subscriptions" in path:
            return Role.ADMIN
        if method == "OPTIONS" and path.startswith("/queries"):
            return Role.ADMIN
        if method == "OPTIONS" and path in ("/capture", "/events"):
            return Role.CAPTURE
        return Role.READER

    def header(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            role = self.role_for(request.method, request.url.path)
            request.headers["Authorization"] = f"Bearer {self.keys[role]}"
        yield request


@contextmanager
def http_client(ledger: Ledger, **settings: Any) -> Iterator[TestClient]:
    """A TestClient on the bootstrap's app over ``ledger`` (its lifespan running), whose
    requests carry :class:`RoleKeys` of institution H1 (``client.auth``)."""
    keys = RoleKeys.create(ledger)
    app = http_app(ledger, **settings)
    app.state.role_keys = keys  # for requests sent around the TestClient
    with TestClient(app) as client:
        client.auth = keys
        yield client


def websocket_headers(client: TestClient, role: Role = Role.READER) -> dict[str, str]:
    """The ``Authorization`` header a WebSocket handshake of this client sends."""
    auth = client.auth
    assert isinstance(auth, RoleKeys)
    return auth.header(role)


def make_key(store_url: str, role: Role = Role.CAPTURE, institution: str = INSTITUTION) -> str:
    """A new API key in the store at ``store_url`` (for a server started on it)."""
    from ledger.settings import store_settings

    ledger = Ledger(store_settings(store_url))
    try:
        return KeyRing(ledger).create(role, institution, f"test {role.value}")[1]
    finally:
        ledger.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
