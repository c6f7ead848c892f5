"""Read your writes: capture answers carry a log position, reads can wait for it (both stores).

Every capture answer says the log position the read models must reach to include it
(``TraceCode-Log-Position``; ``logPosition`` in capture jobs); a read with ``wait_for`` (or
``TraceCode-Wait-For``) is answered once they have, or 503 after a bounded wait; every read
answer says the position it reflects.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.http.freshness import POSITION_HEADER, WAIT_FOR_HEADER
from epcis.identifiers.facts import canonical
from ledger.application import Ledger
from ledger.capture import prepare
from ledger.settings import store_settings
from projections import freshness
from projections.freshness import advance, reached
from projections.runner import ReadModelRunner
from tests.http_support import INSTITUTION
from tests.ledger_contract import document, event
from tests.test_http_capture import Api, assert_problem, open_api
from tests.test_http_reads import code_url
from tests.test_projections_read import BOXES, CASE, GTIN, scenario

VALIDATION = "epcisException:ValidationException"
READS = ["/codes/{code}", "/codes/{code}/hierarchy", "/stock", "/trails"]


def position_of(response: httpx.Response) -> int:
    return int(response.headers[POSITION_HEADER])


def read_urls(code: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (code_url(code), {}),
        (code_url(code, "/hierarchy"), {}),
        ("/stock", {}),
        ("/trails", {"product": GTIN, "lot": "L1"}),
    ]


def test_a_read_waiting_for_a_capture_sees_it(api: Api) -> None:
    commissioned = api.post(document(scenario()[0]))
    assert commissioned.status_code == 202, commissioned.text
    first = position_of(commissioned)
    assert commissioned.json()["logPosition"] == first > 0
    job = api.client.get(commissioned.headers["Location"])
    assert position_of(job) == job.json()["logPosition"] == first
    xml_job = api.client.get(
        commissioned.headers["Location"], headers={"Accept": "application/xml"}
    )
    assert position_of(xml_job) == first

    packed = api.post(document(scenario()[1]))
    assert packed.status_code == 202, packed.text
    second = position_of(packed)
    assert second > first
    for url, params in read_urls(BOXES[0]):
        response = api.client.get(url, params={**params, "wait_for": str(second)})
        assert response.status_code == 200, (url, response.text)
        assert position_of(response) >= second
    status = api.client.get(code_url(BOXES[0]), params={"wait_for": str(second)}).json()
    assert status["parent"] == canonical(CASE)
    # the header works as the query parameter does
    by_header = api.client.get(code_url(CASE, "/hierarchy"), headers={WAIT_FOR_HEADER: str(second)})
    assert by_header.status_code == 200
    assert by_header.json()["children"] == sorted(canonical(b) for b in BOXES)

    # a retry stores nothing new: still a position, covering the events stored before
    again = api.post(document(scenario()[1]))
    assert again.json()["summary"]["alreadyStored"] == 1
    assert position_of(again) > second
    assert api.client.get("/stock", params={"wait_for": position_of(again)}).status_code == 200

    # the job list carries the positions too
    jobs = api.client.get("/capture").json()
    assert [j["logPosition"] for j in jobs] == [first, second, position_of(again)]


def test_post_events_says_its_position(api: Api) -> None:
    body = document(event(1))
    created = api.client.post(
        "/events", content=body, headers={"Content-Type": "application/ld+json"}
    )
    assert created.status_code == 201, created.text
    stored = position_of(created)
    repeated = api.client.post(
        "/events", content=body, headers={"Content-Type": "application/ld+json"}
    )
    assert repeated.status_code == 200
    assert position_of(repeated) > stored
    code = event(1)["epcList"][0]
    seen = api.client.get(code_url(code), params={"wait_for": stored})
    assert seen.status_code == 200, seen.text
    assert seen.json()["last_event"]


def test_a_capture_made_elsewhere_is_waited_for(api: Api) -> None:
    """Written straight into the ledger (as another server process would): the read with
    its position catches the projections up, or waits for the background runner."""
    result = api.ledger.capture(prepare(document(*scenario()[:2]), institution=INSTITUTION))
    assert result.success
    response = api.client.get(code_url(BOXES[1]), params={"wait_for": result.log_position})
    assert response.status_code == 200, response.text
    assert position_of(response) >= result.log_position
    assert response.json()["parent"] == canonical(CASE)


def test_reads_say_the_position_they_reflect_and_skip_a_needless_catch_up(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = api.post(document(scenario()[0]))
    position = position_of(captured)
    for url, params in read_urls(BOXES[0]):  # no wait_for: caught up with the log first
        response = api.client.get(url, params=params)
        assert response.status_code == 200, (url, response.text)
        assert position_of(response) >= position

    def no_catch_up(runner: ReadModelRunner) -> None:
        raise AssertionError("caught up although the projections were there already")

    monkeypatch.setattr(freshness, "catch_up", no_catch_up)
    for url, params in read_urls(BOXES[0]):
        for extra in ({"wait_for": str(position)}, {}):
            response = api.client.get(url, params={**params, **extra})
            assert response.status_code == 200, (url, extra, response.text)
            assert position_of(response) >= position
    unknown = api.client.get(code_url("urn:epc:id:sgtin:0614141.107346.404"))
    assert unknown.status_code == 404 and position_of(unknown) >= position


def test_a_position_not_reached_in_time_is_a_503(api: Api) -> None:
    captured = api.post(document(scenario()[0]))
    future = position_of(captured) + 1_000_000
    for url, params in read_urls(BOXES[0]):
        response = api.client.get(
            url, params={**params, "wait_for": str(future)}, headers={"Prefer": "wait=0.2"}
        )
        body = assert_problem(response, 503, "about:blank")
        assert body["waitBound"] == 0.2, "the client's Prefer: wait bounds the wait"
        assert response.headers["Preference-Applied"] == "wait=0.2"
        assert response.headers["Retry-After"] == "1"
        assert body["waitFor"] == future
        assert body["position"] == position_of(response) >= position_of(captured)
        assert str(future) in body["detail"]


def test_the_servers_wait_bound(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACECODE_READ_WAIT_SECONDS", "0.1")
    with open_api(store_url) as api:
        # Prefer cannot stretch the server's bound
        response = api.client.get(
            "/stock", headers={WAIT_FOR_HEADER: "999999", "Prefer": "wait=60"}
        )
        body = assert_problem(response, 503, "about:blank")
        assert body["waitBound"] == 0.1
        assert response.headers["Preference-Applied"] == "wait=0.1"


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "", "１２"])
def test_a_malformed_position_is_a_400_naming_it(api: Api, value: str) -> None:
    api.post(document(scenario()[0]))
    for url, params in read_urls(BOXES[0]):
        body = assert_problem(
            api.client.get(url, params={**params, "wait_for": value}), 400, VALIDATION
        )
        assert "wait_for" in body["detail"]
        assert body["errors"][0]["query"] == "wait_for"
        body = assert_problem(
            api.client.get(
                url,
                params=params,
                headers={WAIT_FOR_HEADER: value if value.isascii() and value else "x"},
            ),
            400,
            VALIDATION,
        )
        assert WAIT_FOR_HEADER in body["detail"]
        assert body["errors"][0]["header"] == WAIT_FOR_HEADER


def test_openapi_documents_wait_for(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    for path in READS:
        operation = schema["paths"][path]["get"]
        names = {p.get("name") for p in operation["parameters"]}
        assert {"wait_for", WAIT_FOR_HEADER, "Prefer"} <= names, path
        assert "503" in operation["responses"]
    accepted = schema["components"]["schemas"]["CaptureAccepted"]["properties"]
    assert "logPosition" in accepted


# -- the position the views reflect ---------------------------------------------------


@pytest.fixture
def stores(store_url: str) -> Iterator[tuple[Ledger, ReadModelRunner]]:
    ledger = Ledger(store_settings(store_url))
    runner = ReadModelRunner(ledger)
    try:
        yield ledger, runner
    finally:
        runner.close()
        ledger.close()


def test_reached_follows_the_stored_events_not_the_rest_of_the_log(
    stores: tuple[Ledger, ReadModelRunner],
) -> None:
    ledger, runner = stores
    assert reached(ledger, runner) == ledger.log_position()  # nothing to apply
    result = ledger.capture(prepare(document(*scenario()[:2])))
    position = result.log_position
    assert position == ledger.log_position()  # the job is the last thing logged
    behind = reached(ledger, runner)
    assert behind < position
    assert ledger.first_record_after(behind) == behind + 1
    assert advance(ledger, runner) >= position
    # the runner tracks the last stored event; the job after it is covered all the same
    assert runner.position() < position
    assert reached(ledger, runner) == position
    # a capture of known events only: its job is logged, nothing is left to apply
    retry = ledger.capture(prepare(document(*scenario()[:2])))
    assert retry.log_position > position
    assert reached(ledger, runner) == retry.log_position
    assert ledger.job(result.capture_id) is not None
    assert ledger.job(result.capture_id).log_position == position  # type: ignore[union-attr]


def test_the_reported_position_never_claims_unapplied_events(
    stores: tuple[Ledger, ReadModelRunner],
) -> None:
    ledger, runner = stores
    ledger.capture(prepare(document(scenario()[0])))
    ledger.capture(prepare(document(scenario()[1])))
    runner.batch_size = 1
    runner.run_once()  # the commissioning only
    now = reached(ledger, runner)
    pending = ledger.first_record_after(runner.position())
    assert pending is not None and now == pending - 1
