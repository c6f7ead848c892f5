"""Subscriptions: webhooks (signed, retried, durable across restarts) and the WebSocket."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from adapters.bootstrap import http_app
from epcis.query.schedule import ScheduleError, parse_schedule
from ledger.application import Ledger
from ledger.settings import store_settings
from ledger.subscriptions import SubscriptionInfo, Subscriptions
from tests.http_support import http_client, websocket_headers
from tests.ledger_contract import document, event
from tests.test_http_capture import assert_problem

SECRET = "s3cret-token"
CONTROLS = "epcisException:SubscriptionControlsException"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it gets; it can be told to fail."""

    def __init__(self) -> None:
        self.posts: list[tuple[bytes, dict[str, str]]] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    else:
                        receiver.posts.append((body, dict(self.headers.items())))
                self.send_response(503 if failing else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            posts = list(self.posts)
        found: list[dict[str, Any]] = []
        for body, _ in posts:
            doc = json.loads(body)
            found += doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        return found

    def serials(self) -> list[int]:
        return [int(e["epcList"][0].rsplit(".", 1)[1]) for e in self.events()]

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    opened = Receiver()
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def fast_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_WEBHOOK_POLL_SECONDS", "0.05")
    monkeypatch.setenv("TRACECODE_WEBHOOK_BACKOFF_SECONDS", "0.05")
    monkeypatch.setenv("TRACECODE_WEBHOOK_MAX_BACKOFF_SECONDS", "0.2")
    monkeypatch.setenv("TRACECODE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")  # the test receivers


@contextmanager
def server(url: str) -> Iterator[TestClient]:
    ledger = Ledger(store_settings(url))
    try:
        with http_client(ledger) as client:
            yield client
    finally:
        ledger.close()


def capture(client: TestClient, *events: dict[str, Any]) -> None:
    response = client.post(
        "/capture", content=document(*events), headers={"Content-Type": "application/ld+json"}
    )
    assert response.status_code == 202, response.text


def shipped(serial: int) -> dict[str, Any]:
    e = event(serial)
    e["bizStep"] = "shipping"
    return e


def until(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def define_shipments(client: TestClient, query: dict[str, Any] | None = None) -> Response:
    """Define the named query ``shipments`` the subscriptions here are to (every event
    unless ``query`` says otherwise)."""
    return client.post("/queries", json={"name": "shipments", "query": query or {}})


def post_subscription(client: TestClient, dest: str, **extra: Any) -> Response:
    """Ask for a subscription to ``shipments`` calling back ``dest``: the answer."""
    return client.post(
        "/queries/shipments/subscriptions", json={"dest": dest, "secret": SECRET, **extra}
    )


def subscribe(client: TestClient, dest: str, **extra: Any) -> str:
    made = define_shipments(client, {"EQ_bizStep": ["shipping"]})
    assert made.status_code in (201, 409)
    response = post_subscription(client, dest, **extra)
    assert response.status_code == 201, response.text
    body = response.json()
    assert "secret" not in body
    assert (
        response.headers["Location"] == f"/queries/shipments/subscriptions/{body['subscriptionID']}"
    )
    return str(body["subscriptionID"])


def test_a_stream_subscription_delivers_matching_events_signed(
    store_url: str, receiver: Receiver
) -> None:
    with server(store_url) as client:
        capture(client, shipped(1))  # before the subscription: not sent
        subscription = subscribe(client, receiver.url, stream=True)
        capture(client, shipped(2), event(3))  # event 3 is a receiving: not sent
        until(lambda: receiver.serials() == [2])
        body, headers = receiver.posts[0]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["GS1-Signature"], expected)
        results = json.loads(body)["epcisBody"]["queryResults"]
        assert results["subscriptionID"] == subscription
        assert results["queryName"] == "shipments"
        capture(client, shipped(4))
        until(lambda: receiver.serials() == [2, 4])
        shown = client.get(f"/queries/shipments/subscriptions/{subscription}").json()
        assert shown["stream"] is True
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", shown["lastNotifiedAt"])
        assert [
            s["subscriptionID"] for s in client.get("/queries/shipments/subscriptions").json()
        ] == [subscription]


def test_failed_callbacks_are_retried_until_delivered(store_url: str, receiver: Receiver) -> None:
    with server(store_url) as client:
        subscribe(client, receiver.url, stream=True)
        receiver.fail_next = 3
        capture(client, shipped(1))
        until(lambda: receiver.serials() == [1])
        assert receiver.fail_next == 0  # three failures, then the delivery


def test_delivery_resumes_after_a_restart_without_loss(store_url: str, receiver: Receiver) -> None:
    with server(store_url) as client:
        subscribe(client, receiver.url, stream=True)
        capture(client, shipped(1))
        until(lambda: receiver.serials() == [1])
        receiver.fail_next = 10**6  # the receiver goes down…
        capture(client, shipped(2))
        until(lambda: receiver.fail_next < 10**6)  # …a callback for 2 failed
    receiver.fail_next = 0  # the receiver is back while the ledger is down
    with server(store_url) as client:
        capture(client, shipped(3))
        until(lambda: receiver.serials() == [1, 2, 3])


def test_initial_record_time_reaches_back(store_url: str, receiver: Receiver) -> None:
    with server(store_url) as client:
        capture(client, shipped(1))
        subscribe(client, receiver.url, stream=True, initialRecordTime="2000-01-01T00:00:00Z")
        until(lambda: receiver.serials() == [1])


def test_cancelling_stops_deliveries(store_url: str, receiver: Receiver) -> None:
    with server(store_url) as client:
        subscription = subscribe(client, receiver.url, stream=True)
        capture(client, shipped(1))
        until(lambda: receiver.serials() == [1])
        assert client.delete(f"/queries/shipments/subscriptions/{subscription}").status_code == 204
        assert_problem(
            client.get(f"/queries/shipments/subscriptions/{subscription}"),
            404,
            "epcisException:NoSuchNameException",
        )
        other = subscribe(client, receiver.url, stream=True)
        assert client.delete("/queries/shipments").status_code == 204  # ends its subscriptions
        assert_problem(
            client.get(f"/queries/shipments/subscriptions/{other}"),
            404,
            "epcisException:NoSuchNameException",
        )
        capture(client, shipped(2))
        time.sleep(0.5)
        assert receiver.serials() == [1]


def test_a_scheduled_subscription_reports_even_when_empty(
    store_url: str, receiver: Receiver
) -> None:
    with server(store_url) as client:
        subscribe(client, receiver.url, schedule={"second": "[0-59]"}, reportIfEmpty=True)
        until(lambda: len(receiver.posts) >= 1, seconds=5)
        capture(client, shipped(1))
        until(lambda: receiver.serials() == [1], seconds=5)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"secret": SECRET, "stream": True}, "/dest"),
        ({"dest": "ftp://example.com/x", "secret": SECRET, "stream": True}, "/dest"),
        ({"dest": "https://example.com/x", "stream": True}, "/secret"),
        ({"dest": "https://example.com/x", "secret": SECRET}, ""),
        (
            {
                "dest": "https://example.com/x",
                "secret": SECRET,
                "stream": True,
                "schedule": {"hour": "1"},
            },
            "",
        ),
        ({"dest": "https://example.com/x", "secret": SECRET, "stream": False}, "/stream"),
        (
            {"dest": "https://example.com/x", "secret": SECRET, "schedule": {"hour": "25"}},
            "/schedule/hour",
        ),
        (
            {"dest": "https://example.com/x", "secret": SECRET, "schedule": {"fortnight": "1"}},
            "/schedule/fortnight",
        ),
        (
            {
                "dest": "https://example.com/x",
                "secret": SECRET,
                "stream": True,
                "initialRecordTime": "today",
            },
            "/initialRecordTime",
        ),
        (
            {"dest": "https://example.com/x", "secret": SECRET, "stream": True, "colour": "red"},
            "/colour",
        ),
    ],
)
def test_bad_subscriptions_name_the_field(
    store_url: str, body: dict[str, Any], pointer: str
) -> None:
    with server(store_url) as client:
        define_shipments(client)
        response = client.post("/queries/shipments/subscriptions", json=body)
        problem = assert_problem(response, 400, CONTROLS)
        assert problem["errors"][0]["pointer"] == pointer
        assert client.get("/queries/shipments/subscriptions").json() == []


def test_subscribing_to_an_unknown_query_is_404(store_url: str) -> None:
    with server(store_url) as client:
        response = client.post(
            "/queries/nothing/subscriptions",
            json={"dest": "https://example.com/x", "secret": SECRET, "stream": True},
        )
        assert_problem(response, 404, "epcisException:NoSuchNameException")


def test_the_websocket_streams_new_matches(store_url: str) -> None:
    with server(store_url) as client:
        define_shipments(client, {"EQ_bizStep": ["shipping"]})
        capture(client, shipped(1))  # before the socket opened: not streamed
        with client.websocket_connect(
            "/queries/shipments/events", headers=websocket_headers(client)
        ) as socket:
            capture(client, event(2), shipped(3))
            message = json.loads(socket.receive_text())
            found = message["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            assert [e["epcList"][0] for e in found] == ["urn:epc:id:sgtin:0614141.107346.3"]


def test_the_websocket_refuses_an_unknown_query(store_url: str) -> None:
    from starlette.websockets import WebSocketDisconnect

    with (
        server(store_url) as client,
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(
            "/queries/nothing/events", headers=websocket_headers(client)
        ) as socket,
    ):
        socket.receive_text()
    assert closed.value.code == 4404


def test_schedules() -> None:
    from datetime import UTC, datetime

    daily = parse_schedule({"hour": "1", "minute": "5"})
    assert daily.next_after(datetime(2026, 3, 1, 3, 0, tzinfo=UTC)) == datetime(
        2026, 3, 2, 1, 5, 0, tzinfo=UTC
    )
    sundays = parse_schedule({"dayOfWeek": "7", "hour": "[2-3]"})
    assert sundays.next_after(datetime(2026, 3, 2, 0, 0, tzinfo=UTC)) == datetime(
        2026, 3, 8, 2, 0, 0, tzinfo=UTC
    )
    with pytest.raises(ScheduleError):
        parse_schedule({"minute": "[5-1]"})
    with pytest.raises(ScheduleError):
        parse_schedule({})


def test_subscription_discovery(store_url: str) -> None:
    with server(store_url) as client:
        for path, allow in (
            ("/queries/q/subscriptions", "OPTIONS, GET, POST"),
            ("/queries/q/subscriptions/s1", "OPTIONS, GET, DELETE"),
        ):
            response = client.options(path)
            assert response.status_code == 204
            assert response.headers["Allow"] == allow


# -- where webhooks may call (server-side request forgery) --------------------------------

FORBIDDEN_DESTS = [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://127.0.0.1:8080/", "loopback"),
    ("http://[::1]:22/", "loopback"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://[fc00::1]/", "private"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fe80::1%25eth0]/", "zone"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://192.0.0.192/", "special-purpose"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[::ffff:a9fe:a9fe]/", "link-local"),
    ("https://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
    ("http://2130706433/", "loopback"),
    ("http://0x7f.1/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://127.0.0.1./", "loopback"),
    ("http://0177.0.0.1/", "not a valid URL"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("gopher://8.8.8.8/", "http and https"),
]


def assert_refused_dest(response: Any, says: str) -> dict[str, Any]:
    problem = assert_problem(response, 400, CONTROLS)
    assert problem["errors"][0]["pointer"] == "/dest", problem
    assert says in problem["errors"][0]["message"], problem
    return problem


@contextmanager
def server_trusting_no_host(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """A server allowing no webhook host by name (fast_webhooks allows 127.0.0.1), with the
    shipments query defined."""
    monkeypatch.delenv("TRACECODE_WEBHOOK_ALLOW_HOSTS")
    with server(store_url) as client:
        define_shipments(client)
        yield client


def test_forbidden_destinations_are_refused_naming_dest(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with server_trusting_no_host(store_url, monkeypatch) as client:
        for dest, says in FORBIDDEN_DESTS:
            assert_refused_dest(post_subscription(client, dest, stream=True), says)
        assert client.get("/queries/shipments/subscriptions").json() == []


def test_a_name_resolving_to_a_loopback_address_is_refused(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with server_trusting_no_host(store_url, monkeypatch) as client:
        for dest in ("http://localhost:5432/", "http://LOCALHOST/x"):
            response = post_subscription(client, dest, stream=True)
            problem = assert_refused_dest(response, "resolves to")
            assert "loopback" in problem["detail"]
        # a name that does not resolve is refused too
        response = post_subscription(client, "https://no-such-host.invalid/x", stream=True)
        assert_refused_dest(response, "does not resolve")
        assert client.get("/queries/shipments/subscriptions").json() == []


def test_an_allowed_host_name_gets_its_callbacks(
    store_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACECODE_WEBHOOK_ALLOW_HOSTS", " hooks.invalid , LocalHost")
    with server(store_url) as client:
        subscribe(client, receiver.url.replace("127.0.0.1", "localhost"), stream=True)
        capture(client, shipped(1))
        until(lambda: receiver.serials() == [1])


def test_a_bad_allow_setting_stops_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_WEBHOOK_ALLOW_HOSTS", "10.0.0.0/33")
    with pytest.raises(ValueError, match="TRACECODE_WEBHOOK_ALLOW_HOSTS"):
        http_app()


class FakeDNS:
    """``socket.getaddrinfo`` answering for one made-up name (what it answers can change:
    DNS rebinding); every other name goes to the real resolver."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> None:
        self.name, self.address, self.asked = name, address, 0
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host != self.name:
                return real(host, port, *args, **kwargs)
            self.asked += 1
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.address, int(port or 80)))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if " refused: " in r.getMessage()]


Refused = Callable[[], list[str]]


@pytest.fixture
def refused(caplog: pytest.LogCaptureFixture) -> Refused:
    """The refusals the webhook deliveries have logged so far."""
    caplog.set_level(logging.WARNING, logger="tracecode.webhooks")
    return lambda: refusals(caplog)


def test_a_destination_refused_at_delivery_is_not_called_and_keeps_its_place(
    store_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, refused: Refused
) -> None:
    with server(store_url) as client:  # allowed when subscribed…
        subscription = subscribe(client, receiver.url, stream=True)
    monkeypatch.delenv("TRACECODE_WEBHOOK_ALLOW_HOSTS")
    with server(store_url) as client:  # …no longer when delivered
        capture(client, shipped(1))
        until(lambda: len(refused()) >= 2)
        assert receiver.posts == []
        assert "loopback" in refused()[0] and subscription in refused()[0]
        shown = client.get(f"/queries/shipments/subscriptions/{subscription}").json()
        assert "lastNotifiedAt" not in shown
    monkeypatch.setenv("TRACECODE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
    with server(store_url) as client:  # the position did not move: event 1 is still due
        until(lambda: receiver.serials() == [1])


def test_dns_rebinding_to_a_private_address_is_refused_at_delivery(
    store_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, refused: Refused
) -> None:
    monkeypatch.delenv("TRACECODE_WEBHOOK_ALLOW_HOSTS")
    dns = FakeDNS(monkeypatch, "hooks.invalid", "93.184.215.14")  # public when subscribed
    port = receiver.server.server_address[1]
    with server(store_url) as client:
        subscription = subscribe(client, f"http://hooks.invalid:{port}/callback", stream=True)
        dns.address = "127.0.0.1"  # then the name is pointed at the receiver on loopback
        capture(client, shipped(1))
        until(lambda: len(refused()) >= 1)
        assert "resolves to 127.0.0.1, a loopback address" in refused()[0]
        time.sleep(0.3)
        assert receiver.posts == []
        shown = client.get(f"/queries/shipments/subscriptions/{subscription}").json()
        assert "lastNotifiedAt" not in shown


def test_each_callback_connects_to_the_address_it_checked(
    store_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One lookup per connection, and the connection goes to what it returned: a second
    lookup (which DNS rebinding would answer differently) is never made."""
    dns = FakeDNS(monkeypatch, "hooks.invalid", "127.0.0.1")  # allowed by the fixture
    port = receiver.server.server_address[1]
    with server(store_url) as client:
        subscribe(client, f"http://hooks.invalid:{port}/callback", stream=True)
        assert dns.asked == 1  # when subscribing
        capture(client, shipped(1))
        until(lambda: receiver.serials() == [1])
        assert receiver.posts[0][1]["Host"] == f"hooks.invalid:{port}"
        time.sleep(0.2)
        assert dns.asked == 2  # and once for the one callback


def test_credentials_in_dest_are_refused_and_never_shown(
    store_url: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with server(store_url) as client:
        define_shipments(client)
        for dest in ("https://user:hunter2@8.8.8.8/x", "http://hunter2@hooks.invalid/"):
            response = post_subscription(client, dest, stream=True)
            assert_refused_dest(response, "user name or password")
            assert "hunter2" not in response.text
    # A subscription stored before such URLs were refused: shown redacted, not called.
    old = receiver.url.replace("http://", "http://user:hunter2@")
    ledger = Ledger(store_settings(store_url))
    try:
        Subscriptions(ledger).create(
            SubscriptionInfo(
                "old", "shipments", old, SECRET, True, None, False, None, 0, "x", "H1", "H1"
            )
        )
    finally:
        ledger.close()
    with server(store_url) as client:
        capture(client, shipped(1))
        until(lambda: len(refusals(caplog)) >= 1)
        answers = [
            client.get("/queries/shipments/subscriptions"),
            client.get("/queries/shipments/subscriptions/old"),
        ]
        for answer in answers:
            assert answer.status_code == 200
            assert "hunter2" not in answer.text and "user:" not in answer.text
        assert answers[1].json()["dest"] == receiver.url.replace("http://", "http://***@")
    assert receiver.posts == []
    assert "hunter2" not in caplog.text
