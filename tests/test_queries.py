"""The query interface on both stores: paging, snapshots, top-level resources, named
queries, and every kind of bad query parameter."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from epcis.query import QueryParameterError, from_json, from_query_string, matches
from epcis.query.patterns import PatternError, matcher, parse_pattern
from tests.ledger_contract import document, event
from tests.test_http_capture import Api, assert_problem

QUERY_PARAMETER = "epcisException:QueryParameterException"


def capture(api: Api, *events: dict[str, Any]) -> None:
    for start in range(0, len(events), 10):  # within the test server's capture limit
        response = api.post(document(*events[start : start + 10]))
        assert response.status_code == 202, response.text


def results(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["epcisBody"]["queryResults"]["resultsBody"][
        "eventList"
    ]
    return found


def serials(found: list[dict[str, Any]]) -> list[int]:
    return [int(e["epcList"][0].rsplit(".", 1)[1]) for e in found]


def second_page(api: Api, first_url: str) -> tuple[str, str]:
    """The URL of the page after ``first_url``'s, and its token."""
    url = next_url(api.client.get(first_url))
    assert url is not None
    return url, url.split("nextPageToken=")[1]


def next_url(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    assert link.endswith('>; rel="next"')
    return link[1 : link.index(">")]


# -- paging ----------------------------------------------------------------------------------


def test_pages_cover_the_results_once_in_order(api: Api) -> None:
    capture(api, *[event(n) for n in range(1, 24)])
    url: str | None = "/events?EQ_bizStep=receiving&perPage=5"
    pages: list[list[int]] = []
    while url is not None:
        response = api.client.get(url)
        pages.append(serials(results(response)))
        url = next_url(response)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [s for p in pages for s in p] == list(range(1, 24))


def test_paging_reads_a_snapshot(api: Api) -> None:
    capture(api, *[event(n) for n in range(1, 7)])
    first = api.client.get("/events?perPage=4")
    assert serials(results(first)) == [1, 2, 3, 4]
    capture(api, event(7), event(8))  # captured while the client pages
    url = next_url(first)
    assert url is not None
    second = api.client.get(url)
    assert serials(results(second)) == [5, 6]
    assert next_url(second) is None
    assert serials(results(api.client.get("/events?perPage=100"))) == list(range(1, 9))


def test_a_token_belongs_to_its_query(api: Api) -> None:
    capture(api, *[event(n) for n in range(1, 5)])
    _, token = second_page(api, "/events?perPage=2&EQ_bizStep=receiving")
    other = api.client.get(f"/events?perPage=2&EQ_bizStep=shipping&nextPageToken={token}")
    body = assert_problem(other, 400, QUERY_PARAMETER)
    assert body["errors"] == [
        {
            "query": "nextPageToken",
            "message": "belongs to a different query: repeat the query's parameters",
        }
    ]
    forged = api.client.get("/events?nextPageToken=not-a-token")
    assert assert_problem(forged, 400, QUERY_PARAMETER)["errors"][0]["query"] == "nextPageToken"


def test_order_and_count_limit_across_pages(api: Api) -> None:
    events = []
    for n in range(1, 11):
        e = event(n)
        e["eventTime"] = f"2026-03-01T{20 - n:02d}:00:00.000+08:00"  # later serial, earlier
        events.append(e)
    capture(api, *events)
    url: str | None = "/events?orderBy=eventTime&eventCountLimit=7&perPage=3"
    got: list[int] = []
    while url is not None:
        response = api.client.get(url)
        got += serials(results(response))
        url = next_url(response)
    assert got == [1, 2, 3, 4, 5, 6, 7]  # DESC by default: the latest eventTime first
    asc = results(api.client.get("/events?orderBy=eventTime&orderDirection=ASC&perPage=100"))
    assert serials(asc) == list(range(10, 0, -1))


# -- EPCs: identity and patterns ------------------------------------------------------------


def test_match_epc_by_identity_and_pattern_on_both_stores(api: Api) -> None:
    digital_link = event(1)
    digital_link["epcList"] = ["https://id.gs1.org/01/10614141073464/21/1"]  # = sgtin ….107346.1
    other_item = event(2)
    other_item["epcList"] = ["urn:epc:id:sgtin:0614141.107347.2"]
    capture(api, digital_link, other_item, event(3))

    def ids(params: str) -> list[str]:
        return [e["epcList"][0] for e in results(api.client.get("/events?" + params))]

    assert ids("MATCH_epc=urn:epc:id:sgtin:0614141.107346.1") == [digital_link["epcList"][0]]
    assert ids("MATCH_epc=urn:epc:idpat:sgtin:0614141.107346.*") == [
        digital_link["epcList"][0],
        "urn:epc:id:sgtin:0614141.107346.3",
    ]
    assert ids("MATCH_epc=urn:epc:idpat:sgtin:0614141.*.*") == [
        digital_link["epcList"][0],
        "urn:epc:id:sgtin:0614141.107347.2",
        "urn:epc:id:sgtin:0614141.107346.3",
    ]
    assert ids(
        "MATCH_anyEPC=urn:epc:id:sgtin:0614141.107346.3|urn:epc:id:sgtin:0614141.107347.2"
    ) == [
        "urn:epc:id:sgtin:0614141.107347.2",
        "urn:epc:id:sgtin:0614141.107346.3",
    ]
    assert ids("MATCH_parentID=urn:epc:id:sgtin:0614141.107346.3") == []


def test_epc_patterns_match_digital_links_and_classes() -> None:
    gtin = matcher(["urn:epc:idpat:sgtin:4012345.012345.*"])
    assert gtin.matches("https://id.gs1.org/01/04012345123456/21/x")
    assert gtin.matches("urn:epc:class:lgtin:4012345.012345.LOT7")
    assert gtin.matches("https://id.gs1.org/01/04012345123456/10/LOT7")
    assert gtin.matches("https://id.gs1.org/01/04012345123456")
    assert not gtin.matches("urn:epc:id:sgtin:4012345.012346.1")
    assert not gtin.matches("urn:epc:id:sscc:4012345.0123456789")
    sscc = matcher(["urn:epc:idpat:sscc:0614141.*"])
    assert sscc.matches("https://id.gs1.org/00/106141412345678908")
    exact = matcher(["https://id.gs1.org/00/106141412345678908"])
    assert exact.matches("urn:epc:id:sscc:0614141.1234567890")
    trace_code = matcher(["83927650012345678901"])  # a Chinese 20-digit drug trace code
    assert trace_code.matches("83927650012345678901")
    for bad in (
        "urn:epc:idpat:sgtin:*.012345.*",
        "urn:epc:idpat:sgtin",
        "urn:epc:idpat:sgtin:1*.2.*",
    ):
        with pytest.raises(PatternError):
            parse_pattern(bad)


# -- top-level resources -------------------------------------------------------------------


def test_top_level_resources(api: Api) -> None:
    shipped = event(2)
    shipped["bizStep"] = "shipping"
    shipped["disposition"] = "in_transit"
    shipped["bizLocation"] = {"id": "urn:epc:id:sgln:0614141.00002.0"}
    capture(api, event(1), shipped)
    listing = api.client.get("/bizSteps")
    assert listing.status_code == 200
    assert listing.json() == {
        "@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "type": "Collection",
        "member": ["receiving", "shipping"],
    }
    assert api.client.get("/eventTypes").json()["member"] == ["ObjectEvent"]
    assert api.client.get("/dispositions").json()["member"] == ["in_transit"]
    assert api.client.get("/bizSteps/shipping").json()["member"] == ["events"]
    assert_problem(api.client.get("/bizSteps/picking"), 404, "epcisException:NoSuchNameException")
    assert serials(results(api.client.get("/bizSteps/shipping/events"))) == [2]
    assert serials(results(api.client.get("/dispositions/in_transit/events"))) == [2]
    assert serials(results(api.client.get("/eventTypes/ObjectEvent/events"))) == [1, 2]
    # a location or an EPC in either spelling
    sgln_dl = quote("https://id.gs1.org/414/0614141000029", safe="")
    assert serials(results(api.client.get(f"/bizLocations/{sgln_dl}/events"))) == [2]
    assert serials(
        results(api.client.get("/readPoints/urn:epc:id:sgln:0614141.00001.0/events"))
    ) == [
        1,
        2,
    ]
    epc_dl = quote("https://id.gs1.org/01/10614141073464/21/1", safe="")
    assert api.client.get(f"/epcs/{epc_dl}").status_code == 200
    assert serials(results(api.client.get(f"/epcs/{epc_dl}/events"))) == [1]
    # further parameters narrow a resource's events
    narrowed = api.client.get(
        "/readPoints/urn:epc:id:sgln:0614141.00001.0/events?EQ_bizStep=shipping"
    )
    assert serials(results(narrowed)) == [2]
    paged = api.client.get("/epcs?perPage=1")
    assert len(paged.json()["member"]) == 1
    after = next_url(paged)
    assert after is not None
    assert len(api.client.get(after).json()["member"]) == 1


# -- named queries -------------------------------------------------------------------------


def test_named_queries(api: Api) -> None:
    shipped = event(2)
    shipped["bizStep"] = "shipping"
    capture(api, event(1), shipped)
    created = api.client.post(
        "/queries", json={"name": "shipments", "query": {"EQ_bizStep": ["shipping"]}}
    )
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/queries/shipments"
    again = api.client.post("/queries", json={"name": "shipments", "query": {}})
    assert_problem(again, 409, "epcisException:ResourceAlreadyExistsException")
    assert [q["name"] for q in api.client.get("/queries").json()] == ["shipments"]
    definition = api.client.get("/queries/shipments").json()
    assert definition["query"] == {"EQ_bizStep": ["shipping"]}
    ran = api.client.get("/queries/shipments/events")
    assert serials(results(ran)) == [2]
    assert ran.json()["epcisBody"]["queryResults"]["queryName"] == "shipments"
    extra = api.client.get("/queries/shipments/events?EQ_bizStep=receiving")
    assert assert_problem(extra, 400, QUERY_PARAMETER)["errors"][0]["query"] == "EQ_bizStep"
    assert api.client.delete("/queries/shipments").status_code == 204
    assert_problem(api.client.get("/queries/shipments"), 404, "epcisException:NoSuchNameException")
    assert_problem(
        api.client.get("/queries/shipments/events"), 404, "epcisException:NoSuchNameException"
    )
    assert_problem(
        api.client.delete("/queries/shipments"), 404, "epcisException:NoSuchNameException"
    )
    # a deleted name can be defined again
    redefined = api.client.post(
        "/queries", json={"name": "shipments", "query": {"EQ_bizStep": ["receiving"]}}
    )
    assert redefined.status_code == 201
    assert serials(results(api.client.get("/queries/shipments/events"))) == [1]


@pytest.mark.parametrize(
    ("body", "pointer", "type_"),
    [
        ({"query": {}}, "/name", "epcisException:ValidationException"),
        ({"name": "a b", "query": {}}, "/name", "epcisException:ValidationException"),
        ({"name": "q"}, "/query", "epcisException:ValidationException"),
        (
            {"name": "q", "query": {"EQ_bizStep": "shipping", "bogus": 1}},
            "/query/bogus",
            QUERY_PARAMETER,
        ),
        (
            {"name": "q", "query": {"GE_eventTime": "yesterday"}},
            "/query/GE_eventTime",
            QUERY_PARAMETER,
        ),
    ],
)
def test_bad_named_query_bodies(api: Api, body: dict[str, Any], pointer: str, type_: str) -> None:
    response = api.client.post("/queries", json=body)
    problem = assert_problem(response, 400, type_)
    assert problem["errors"][0]["pointer"] == pointer
    assert api.client.get("/queries").json() == []


def test_a_named_query_body_that_is_not_json(api: Api) -> None:
    response = api.client.post(
        "/queries", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "epcisException:ValidationException")


# -- bad parameters ------------------------------------------------------------------------

BAD: list[tuple[str, str, str]] = [
    ("bogus=1", "bogus", "is not a query parameter of EPCIS 2.0"),
    ("EQ_bizStep=shipping&EQ_bizStep=receiving", "EQ_bizStep", "is given more than once"),
    ("EQ_bizStep=", "EQ_bizStep", "needs one or more values"),
    ("EQ_bizStep=a||b", "EQ_bizStep", "needs one or more values"),
    ("GE_eventTime=yesterday", "GE_eventTime", "is not a date-time"),
    ("LT_recordTime=2026-03-01T08:00:00", "LT_recordTime", "has no time zone"),
    ("GE_quantity=many", "GE_quantity", "is not a number"),
    ("EQ_quantity=1|x", "EQ_quantity", "is not a number"),
    ("EQ_action=MOVE", "EQ_action", "use ADD, OBSERVE or DELETE"),
    ("eventCountLimit=3", "eventCountLimit", "needs orderBy"),
    (
        "orderBy=eventTime&eventCountLimit=3&maxEventCount=4",
        "eventCountLimit",
        "cannot be used together",
    ),
    ("orderBy=eventTime&eventCountLimit=0", "eventCountLimit", "must be at least 1"),
    ("maxEventCount=many", "maxEventCount", "is not an integer"),
    ("orderBy=size", "orderBy", "use eventTime, recordTime or an extension field"),
    ("orderBy=eventTime&orderDirection=UP", "orderDirection", "use ASC or DESC"),
    ("MATCH_epc=urn:epc:idpat:sgtin:*.1.*", "MATCH_epc", "a fixed field follows a '*'"),
    ("EXISTS_errorDeclaration=maybe", "EXISTS_errorDeclaration", "is not true or false"),
    ("EQ_booleanValue=yes", "EQ_booleanValue", "is not true or false"),
    ("HASATTR_ex:thing=a", "HASATTR_ex:thing", "tracecode keeps none for"),
    ("perPage=lots", "perPage", "is not an integer"),
    ("perPage=0", "perPage", "must be between 1 and"),
]


@pytest.mark.parametrize(("params", "parameter", "says"), BAD, ids=[b[0] for b in BAD])
def test_bad_parameters_are_named(api: Api, params: str, parameter: str, says: str) -> None:
    capture(api, event(1))
    before = api.state()
    response = api.client.get("/events?" + params)
    problem = assert_problem(response, 400, QUERY_PARAMETER)
    assert problem["errors"][0]["query"] == parameter
    assert says in problem["errors"][0]["message"]
    assert parameter in problem["detail"]
    assert api.state() == before  # a query never writes


@pytest.mark.parametrize("per_page", ["0", "-1", "10001"])
def test_the_top_level_resources_refuse_a_page_size_out_of_range(api: Api, per_page: str) -> None:
    capture(api, event(1), event(2))
    response = api.client.get(f"/epcs?perPage={per_page}")
    problem = assert_problem(response, 400, QUERY_PARAMETER)
    assert problem["errors"][0]["query"] == "perPage"
    assert "must be between 1 and" in problem["errors"][0]["message"]


def test_a_time_whose_plus_was_not_encoded_still_reads() -> None:
    query = from_query_string([("GE_eventTime", "2026-03-01T08:00:00 08:00")])
    e = event(1)
    assert matches(query, e, {})
    later = from_query_string([("GE_eventTime", "2026-03-01T08:00:01 08:00")])
    assert not matches(later, e, {})


def test_named_query_json_values() -> None:
    query = from_json(
        {
            "@context": [{"ex": "https://ns.example.com/epcis/"}],
            "EQ_ex:ward": ["W1", "W2"],
            "GE_quantity": 5,
            "EXISTS_errorDeclaration": None,
        }
    )
    assert [c.parameter for c in query.conditions] == [
        "EQ_ex:ward",
        "GE_quantity",
        "EXISTS_errorDeclaration",
    ]
    assert query.namespaces == {"ex": "https://ns.example.com/epcis/"}
    e = event(1, ward="W2")
    ns = {"example": "https://ns.example.com/epcis/"}
    ward_only = from_json(
        {"@context": [{"ex": "https://ns.example.com/epcis/"}], "EQ_ex:ward": ["W2"]}
    )
    assert matches(ward_only, e, ns)  # a different prefix for the same namespace
    assert not matches(from_json({"EQ_ex:ward": ["W2"]}), e, ns)  # ex: undeclared
    with pytest.raises(QueryParameterError) as caught:
        from_json({"EQ_bizStep": ["shipping"], "GE_eventTime": ["2026-01-01T00:00:00Z"]})
    assert caught.value.parameter == "GE_eventTime"


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/events", "OPTIONS, GET, POST"),
        ("/eventTypes", "OPTIONS, GET"),
        ("/epcs/urn:epc:id:sgtin:0614141.107346.1/events", "OPTIONS, GET"),
        ("/queries", "OPTIONS, GET, POST"),
        ("/queries/q1", "OPTIONS, GET, DELETE"),
        ("/queries/q1/events", "OPTIONS, GET"),
    ],
)
def test_discovery(api: Api, path: str, allow: str) -> None:
    response = api.client.options(path)
    assert response.status_code == 204
    assert response.headers["Allow"] == allow
    assert response.headers["GS1-EPCIS-Version"] == "2.0.0"


def test_releasing_a_token_is_harmless(api: Api) -> None:
    capture(api, *[event(n) for n in range(1, 4)])
    url, token = second_page(api, "/events?perPage=2")
    assert api.client.delete(f"/nextPageToken/{token}").status_code == 204
    assert serials(results(api.client.get(url))) == [3]  # stateless: it still reads


def test_queries_read_their_writes(api: Api) -> None:
    response = api.post(document(event(1)))
    assert response.status_code == 202
    position = response.headers["TraceCode-Log-Position"]
    answer = api.client.get(f"/events?wait_for={position}&perPage=1")
    assert serials(results(answer)) == [1]
    assert int(answer.headers["TraceCode-Log-Position"]) >= int(position)
    named = api.client.post("/queries", json={"name": "all", "query": {}})
    assert named.status_code == 201
    assert serials(results(api.client.get(f"/queries/all/events?wait_for={position}"))) == [1]
    assert api.client.get(f"/eventTypes?wait_for={position}").json()["member"] == ["ObjectEvent"]
    bad = api.client.get("/events?wait_for=soon")
    assert bad.status_code == 400
