"""Who may call what: every endpoint × every role, through the HTTP API.

``EXPECTED`` is the contract of issue 10 written out per endpoint (the roles allowed); a
test fails when the app has a route the table does not name, so a new endpoint cannot ship
without saying who may call it. Allowed calls must work (no 401/403, no 5xx); the rest are
403 problem+json naming the roles that may; without credentials, or with a key that is
unknown, revoked or mangled, 401 problem+json with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from adapters.bootstrap import http_app
from adapters.http.app import ROUTERS
from adapters.nhsa.owed import NhsaOwes
from ledger.access import LOCAL, Principal, Role
from ledger.api_keys import KeyRing
from ledger.application import Ledger
from ledger.master_data_import import import_master_data
from ledger.named_queries import NamedQueries
from ledger.patient_register import remember
from ledger.patients import pseudonym
from ledger.settings import store_settings
from ledger.stocktake import OpenRequest, open_stocktake
from projections.outbox import listed, outbox_runner
from tests.http_support import RoleKeys
from tests.ledger_contract import document, event
from tests.master_data_support import PRODUCTS, csv_bytes
from tests.scan_support import LOCATIONS, box

CAPTURE = {Role.CAPTURE}
READERS = {Role.READER, Role.AUDITOR, Role.REGULATOR, Role.ADMIN}
CODES = READERS | {Role.TERMINAL}
JOBS = {Role.CAPTURE, Role.READER, Role.AUDITOR, Role.ADMIN}
ADMIN = {Role.ADMIN}
COUNT = {Role.TERMINAL, Role.ADMIN}
AUDIT = {Role.AUDITOR}
REVEAL = {Role.ADMIN, Role.AUDITOR}
PUBLIC = "public"

RESOURCES = ("eventTypes", "epcs", "bizSteps", "bizLocations", "readPoints", "dispositions")
CODE = "urn:epc:id:sgtin:0614141.107346.1"

EXPECTED: dict[tuple[str, str], set[Role] | str] = {
    ("POST", "/capture"): CAPTURE,
    ("OPTIONS", "/capture"): CAPTURE,
    ("GET", "/capture"): JOBS,
    ("GET", "/capture/{capture_id}"): JOBS,
    ("OPTIONS", "/capture/{capture_id}"): JOBS,
    ("POST", "/events"): CAPTURE,
    ("OPTIONS", "/events"): CAPTURE | READERS,
    ("GET", "/events"): READERS,
    ("GET", "/events/{event_id:path}"): READERS,
    ("OPTIONS", "/events/{event_id:path}"): READERS,
    ("GET", "/codes/{code:path}"): CODES,
    ("GET", "/codes/{code:path}/hierarchy"): CODES,
    ("GET", "/stock"): READERS,
    ("GET", "/trails"): READERS,
    ("GET", "/reconciliation"): READERS,
    ("POST", "/reconciliation/books"): ADMIN,
    ("GET", "/reconciliation/books"): READERS,
    ("DELETE", "/nextPageToken/{token}"): READERS,
    ("POST", "/queries"): ADMIN,
    ("GET", "/queries"): READERS,
    ("OPTIONS", "/queries"): READERS,
    ("GET", "/queries/{name}"): READERS,
    ("DELETE", "/queries/{name}"): ADMIN,
    ("OPTIONS", "/queries/{name}"): READERS,
    ("GET", "/queries/{name}/events"): READERS,
    ("OPTIONS", "/queries/{name}/events"): READERS,
    ("POST", "/queries/{name}/subscriptions"): ADMIN,
    ("GET", "/queries/{name}/subscriptions"): ADMIN,
    ("OPTIONS", "/queries/{name}/subscriptions"): ADMIN,
    ("GET", "/queries/{name}/subscriptions/{subscription_id}"): ADMIN,
    ("DELETE", "/queries/{name}/subscriptions/{subscription_id}"): ADMIN,
    ("OPTIONS", "/queries/{name}/subscriptions/{subscription_id}"): ADMIN,
    ("WEBSOCKET", "/queries/{name}/events"): READERS,
    ("GET", "/audit/export"): AUDIT,
    ("GET", "/audit/verify"): AUDIT,
    ("POST", "/audit/verify"): AUDIT,
    ("POST", "/audit/checkpoint"): AUDIT,
    ("POST", "/keys"): ADMIN,
    ("GET", "/keys"): ADMIN,
    ("DELETE", "/keys/{key_id}"): ADMIN,
    ("GET", "/patients/{pseudonym}"): REVEAL,
    ("DELETE", "/patients/{pseudonym}"): ADMIN,
    ("POST", "/masterdata"): ADMIN,
    ("GET", "/masterdata/products"): READERS,
    ("GET", "/masterdata/locations"): READERS,
    ("GET", "/masterdata/operators"): READERS,
    ("POST", "/scans"): {Role.TERMINAL},
    ("GET", "/pools"): READERS,
    ("GET", "/metrics/quality"): READERS,
    ("GET", "/metrics"): READERS,
    ("GET", "/outbox"): READERS,
    ("GET", "/outbox/{msgid}"): READERS,
    ("POST", "/outbox/retry"): ADMIN,
    ("POST", "/rules"): ADMIN,
    ("GET", "/rules"): READERS,
    ("GET", "/rules/decide"): CODES,
    ("POST", "/stocktakes"): COUNT,
    ("GET", "/stocktakes"): CODES,
    ("GET", "/stocktakes/{stocktake_id}"): CODES,
    ("POST", "/stocktakes/{stocktake_id}/close"): COUNT,
    ("GET", "/health"): PUBLIC,
}
for _resource in RESOURCES:
    EXPECTED[("GET", f"/{_resource}")] = READERS
    EXPECTED[("OPTIONS", f"/{_resource}")] = READERS
    EXPECTED[("GET", f"/{_resource}/{{value:path}}")] = READERS
    EXPECTED[("GET", f"/{_resource}/{{value:path}}/events")] = READERS
    EXPECTED[("OPTIONS", f"/{_resource}/{{value:path}}/events")] = READERS
SAMPLES = {
    "eventTypes": "ObjectEvent",
    "epcs": CODE,
    "bizSteps": "receiving",
    "readPoints": "urn:epc:id:sgln:0614141.00001.0",
    "bizLocations": "urn:epc:id:sgln:0614141.00001.9",
    "dispositions": "in_progress",
}
"""A value of each top-level resource the fixture's event names."""
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@dataclass
class World:
    """A served ledger with a capture, a named query and a subscription of H1, and a key
    of each role (H1; the regulator of none)."""

    client: TestClient
    keys: RoleKeys
    ledger: Ledger
    capture_id: str
    event_id: str
    subscription_id: str
    pseudonym: str
    stocktake_id: str
    msgid: str

    def fill(self, path: str) -> str:
        for resource, value in SAMPLES.items():
            path = path.replace(f"/{resource}/{{value:path}}", f"/{resource}/{value}")
        if path == "/trails":
            return f"/trails?code={CODE}"
        if path == "/pools":
            return "/pools?location=WH"
        if path == "/reconciliation":
            return "/reconciliation?location=WH&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"
        if path == "/rules/decide":
            return "/rules/decide?product=XB02&location=WH&quantity=20&institution=H1"
        values = {
            "{capture_id}": self.capture_id,
            "{event_id:path}": self.event_id.replace("?", "%3F"),
            "{code:path}": CODE,
            "{token}": "anything",
            "{name}": "q1",
            "{subscription_id}": self.subscription_id,
            "{key_id}": "0000000000000000",
            "{pseudonym}": self.pseudonym,
            "{stocktake_id}": self.stocktake_id,
            "{msgid}": self.msgid,
            "{value:path}": "urn:epcglobal:cbv:bizstep:receiving",
        }
        for name, value in values.items():
            path = path.replace(name, value)
        return path


JSONLD = {"Content-Type": "application/ld+json"}


def _body(method: str, path: str, serial: int) -> dict[str, Any]:
    if method != "POST":
        return {}
    if path == "/capture":
        return {"content": document(event(serial)), "headers": JSONLD}
    if path == "/events":
        one = {k: v for k, v in event(serial).items() if k != "example:ward"}
        return {"content": json.dumps(one).encode(), "headers": JSONLD}
    if path == "/queries":
        return {"json": {"name": f"made{serial}", "query": {}}}
    if path == "/keys":
        return {"json": {"role": "reader", "label": f"made {serial}"}}
    if path == "/audit/checkpoint":
        return {}
    if path == "/masterdata":
        csv = f"id,name,kind,parent,institution_code\nL{serial},病区,ward,,H1\n"
        return {"content": csv.encode(), "headers": {"Content-Type": "text/csv"}}
    if path == "/scans":
        return {"json": {"operation": "receive", "location": "WH", "codes": [box(serial)]}}
    if path == "/rules":
        rules = f"rules:\n  - {{name: r{serial}, then: {{must_scan: true}}}}\n"
        return {"content": rules.encode(), "headers": {"Content-Type": "application/yaml"}}
    if path == "/reconciliation/books":
        books = f"location,product,lot,quantity\nWH,XB02,L{serial},1\n"
        return {"content": books.encode(), "headers": {"Content-Type": "text/csv"}}
    if path == "/stocktakes":  # a place each for the terminal and the admin: counts may not overlap
        return {"json": {"location": {1: "W3", 5: "ENT"}.get(serial % 10, "WH")}}
    if path == "/outbox/retry":
        return {"json": {"platform": "nhsa"}}
    if path == "/audit/verify":
        return {"json": {"position": 0}}  # not a usable checkpoint: 400 (allowed)
    return {"json": {"dest": "http://127.0.0.1:9/hook", "secret": "s", "stream": True}}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path = tmp_path_factory.mktemp("matrix") / "ledger.db"
    ledger = Ledger(store_settings(f"sqlite:///{path}"))
    keys = RoleKeys.create(ledger)
    patch = pytest.MonkeyPatch()
    patch.setenv("TRACECODE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
    patch.setenv("TRACECODE_SIGNING_KEY", str(path.parent / "signing-key.pem"))
    try:
        with TestClient(http_app(ledger)) as client:
            client.auth = keys
            first = {
                **event(1),
                "bizLocation": {"id": SAMPLES["bizLocations"]},
                "disposition": SAMPLES["dispositions"],
            }
            captured = client.post("/capture", content=document(first), headers=JSONLD)
            assert captured.status_code == 202, captured.text
            job = client.get(captured.headers["Location"]).json()
            made = client.post("/queries", json={"name": "q1", "query": {}})
            assert made.status_code == 201, made.text
            NamedQueries(ledger).define("q1", {}, "2026-01-01T00:00:00Z")  # the regulator's
            subscribed = client.post(
                "/queries/q1/subscriptions", json=_body("POST", "x", 0)["json"]
            )
            assert subscribed.status_code == 201, subscribed.text
            import_master_data(ledger, LOCAL, csv_bytes(LOCATIONS), "H1")
            import_master_data(ledger, LOCAL, csv_bytes(PRODUCTS), "H1")
            patient = remember(ledger, Principal("t", Role.TERMINAL, "H1"), "P1", bytes(32))
            counted = open_stocktake(ledger, LOCAL, OpenRequest("W5", "H1"))
            received = client.post(
                "/scans",
                json={"operation": "receive", "location": "WH", "codes": [box(999)]},
                headers=keys.header(Role.TERMINAL),
            )
            assert received.status_code == 201, received.text
            owed = outbox_runner(ledger, [NhsaOwes(ledger)])
            owed.run_until_caught_up()
            (message,) = listed(owed)
            owed.close()
            yield World(
                client,
                keys,
                ledger,
                job["captureID"],
                job["outcomes"][0]["eventID"],
                subscribed.json()["subscriptionID"],
                patient,
                counted.id,
                message.msgid,
            )
    finally:
        ledger.close()
        patch.undo()


def _routes() -> set[tuple[str, str]]:
    found = set()
    for route in (route for router in ROUTERS for route in router.routes):
        if isinstance(route, APIRoute) and route.path not in DOCS:
            methods = route.methods or set()
            found |= {(method, route.path) for method in methods if method != "HEAD"}
        elif isinstance(route, APIWebSocketRoute):
            found.add(("WEBSOCKET", route.path))
    return found


def test_every_route_says_who_may_call_it(world: World) -> None:
    routes = _routes()
    assert routes - set(EXPECTED) == set(), "routes the access table does not name"
    assert set(EXPECTED) - routes == set(), "the access table names routes that are gone"


CALLS = sorted(k for k, v in EXPECTED.items() if v != PUBLIC and k[0] != "WEBSOCKET")


@pytest.mark.parametrize(("method", "template"), CALLS)
@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_each_role_is_let_through_or_refused_403(
    world: World, method: str, template: str, role: Role
) -> None:
    allowed = EXPECTED[(method, template)]
    assert isinstance(allowed, set)
    serial = 1000 + CALLS.index((method, template)) * 10 + list(Role).index(role)
    kwargs = _body(method, template, serial)
    headers = {**kwargs.pop("headers", {}), **world.keys.header(role)}
    path = world.fill(template)
    if method == "DELETE" and "subscriptions" in template:
        path = path.replace(world.subscription_id, "not-one")  # keep the fixture's
    if method == "DELETE" and template == "/queries/{name}":
        path = "/queries/not-one"
    if method == "DELETE" and template == "/patients/{pseudonym}":
        path = path.replace(world.pseudonym, pseudonym("not one", bytes(32)))  # keep it
    response = world.client.request(method, path, headers=headers, **kwargs)
    assert response.headers["GS1-EPCIS-Version"] == "2.0.0", (method, path)  # on every answer
    if role in allowed:
        assert response.status_code not in (401, 403), (role, method, path, response.text)
        assert response.status_code < 500, response.text
        expected_ok = (method != "DELETE" or "/nextPageToken/" in path) and (
            (method, path) != ("POST", "/audit/verify")
        )
        if expected_ok:
            assert response.status_code < 400, (role, method, path, response.text)
    else:
        assert response.status_code == 403, (role, method, path, response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem["type"] == "epcisException:SecurityException"
        assert problem["role"] == role.value
        assert set(problem["requiredRoles"]) & {r.value for r in allowed}
        assert role.value not in problem["requiredRoles"]


@pytest.mark.parametrize(("method", "template"), CALLS)
def test_without_good_credentials_every_call_is_401(
    world: World, method: str, template: str
) -> None:
    path = world.fill(template)
    revoked_info, revoked = KeyRing(world.ledger).create(Role.ADMIN, "H1")
    KeyRing(world.ledger).revoke(revoked_info.key_id)
    good = world.keys.keys[Role.ADMIN]
    for authorization in (
        None,
        "",
        "Bearer",
        f"Basic {good}",
        f"Bearer {good[:-1]}x",  # one character off
        "Bearer tck_0000000000000000_" + "a" * 43,  # no such key
        f"Bearer {revoked}",
        "Bearer not.a.jwt",  # and this server takes no JWTs
    ):
        headers = {} if authorization is None else {"Authorization": authorization}
        kwargs = _body(method, template, 0)
        headers.update(kwargs.pop("headers", {}))
        response = world.client.request(method, path, headers=headers, auth=None, **kwargs)
        assert response.status_code == 401, (authorization, method, path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["type"] == "epcisException:SecurityException"


def test_health_answers_anyone_and_lists_quarantined_events_only_to_readers(
    world: World,
) -> None:
    anonymous = world.client.get("/health", headers={"Authorization": ""})
    assert anonymous.status_code == 200
    assert "events" not in anonymous.json()["projections"]["quarantined"]
    reader = world.client.get("/health", headers=world.keys.header(Role.READER))
    assert "events" in reader.json()["projections"]["quarantined"]


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_the_websocket_stream_takes_readers_only(world: World, role: Role) -> None:
    with world.client.websocket_connect(
        "/queries/q1/events", headers=world.keys.header(role)
    ) as socket:
        if role in EXPECTED[("WEBSOCKET", "/queries/{name}/events")]:
            socket.send_text("")  # open: nothing to read yet
            return
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
    assert closed.value.code == 4403


def test_a_websocket_without_credentials_is_closed_4401(world: World) -> None:
    with (
        world.client.websocket_connect("/queries/q1/events", headers={"Authorization": ""}) as s,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        s.receive_text()
    assert closed.value.code == 4401
