"""``GET /events`` over every GS1 JSON-LD example, one parameter family at a time.

Each expectation is computed here, from the stored events, by a few lines written for the
test (plain dict look-ups and string comparisons), not by :mod:`epcis.query`: if the
engine and the test disagree, one of them misread the standard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from ledger.application import Ledger
from ledger.settings import store_settings
from tests.conftest import EXAMPLES
from tests.http_support import http_client

Event = dict[str, Any]


class Stored:
    def __init__(self, client: TestClient, events: list[Event]) -> None:
        self.client = client
        self.events = events

    def query(self, params: str, **headers: str) -> list[Event]:
        """Every result of the query, following the ``Link`` pages."""
        url: str | None = "/events?" + params
        found: list[Event] = []
        while url is not None:
            response = self.client.get(url, headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            found += body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            link = response.headers.get("link")
            url = link[1 : link.index(">")] if link else None
        return found


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    path = tmp_path_factory.mktemp("gs1") / "ledger.db"
    ledger = Ledger(store_settings(f"sqlite:///{path}"))
    try:
        with http_client(ledger) as client:
            for example in sorted((EXAMPLES / "json").rglob("*.jsonld")):
                response = client.post(
                    "/capture",
                    content=example.read_bytes(),
                    headers={
                        "Content-Type": "application/ld+json",
                        # GS1's examples reuse eventIDs across files: keep what is new
                        "GS1-Capture-Error-Behaviour": "proceed",
                    },
                )
                assert response.status_code == 202, (example, response.text)
            events = [s.as_epcis() for s in ledger.stored_events()]
            assert len(events) > 40
            yield Stored(client, events)
    finally:
        ledger.close()


def key(event: Event) -> tuple[str, bool, str]:
    return (event["eventID"], "errorDeclaration" in event, event["recordTime"])


def keys(events: list[Event]) -> list[tuple[str, bool, str]]:
    return sorted(key(e) for e in events)


# -- the test's own reading of the events ----------------------------------------------------


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def bare(value: Any, urn: str, web: str) -> Any:
    if isinstance(value, str):
        for prefix in (urn, web):
            if value.startswith(prefix):
                return value[len(prefix) :]
    return value


def biz_step(e: Event) -> Any:
    return bare(e.get("bizStep"), "urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-")


def disposition(e: Event) -> Any:
    return bare(e.get("disposition"), "urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-")


def epcs(e: Event, *fields: str) -> list[str]:
    out: list[str] = []
    for f in fields:
        value = e.get(f)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out += [v for v in value if isinstance(v, str)]
    return out


def classes(e: Event, *fields: str) -> list[str]:
    return [q["epcClass"] for f in fields for q in e.get(f) or [] if "epcClass" in q]


def quantities(e: Event) -> list[float]:
    lists = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
    return [float(q["quantity"]) for f in lists for q in e.get(f) or [] if "quantity" in q]


def typed(e: Event, key_: str, type_: str) -> list[str]:
    short = type_
    return [
        item[key_]
        for item in e.get(key_ + "List") or []
        if bare(item.get("type"), "urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-") == short
        or bare(item.get("type"), "urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-") == short
    ]


def reports(e: Event) -> list[dict[str, Any]]:
    return [r for el in e.get("sensorElementList") or [] for r in el.get("sensorReport") or []]


SGTIN_2017 = "urn:epc:id:sgtin:0614141.107346.2017"
SGTIN_2017_DL = "https://id.gs1.org/01/10614141073464/21/2017"
SGLN = "urn:epc:id:sgln:0614141.00777.0"
SGLN_DL = "https://id.gs1.org/414/0614141007772"
T0 = "2019-10-21T11:00:00%2B02:00"  # a time inside the examples' range ('+' encoded)

CASES: list[tuple[str, Callable[[Event], bool]]] = [
    ("eventType=ObjectEvent", lambda e: e["type"] == "ObjectEvent"),
    (
        "eventType=AggregationEvent|TransformationEvent",
        lambda e: e["type"] in ("AggregationEvent", "TransformationEvent"),
    ),
    ("GE_eventTime=" + T0, lambda e: instant(e["eventTime"]) >= instant(unquote(T0))),
    ("LT_eventTime=" + T0, lambda e: instant(e["eventTime"]) < instant(unquote(T0))),
    ("EQ_action=ADD", lambda e: e.get("action") == "ADD"),
    ("EQ_action=OBSERVE|DELETE", lambda e: e.get("action") in ("OBSERVE", "DELETE")),
    ("EQ_bizStep=shipping", lambda e: biz_step(e) == "shipping"),
    (
        "EQ_bizStep=urn:epcglobal:cbv:bizstep:receiving",
        lambda e: biz_step(e) == "receiving",
    ),
    ("EQ_disposition=in_progress", lambda e: disposition(e) == "in_progress"),
    (
        "EQ_persistentDisposition_set=completeness_verified",
        lambda e: (
            "completeness_verified"
            in [
                bare(v, "urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-")
                for v in (e.get("persistentDisposition") or {}).get("set", [])
            ]
        ),
    ),
    (
        "EQ_readPoint=" + SGLN,
        lambda e: (e.get("readPoint") or {}).get("id") in (SGLN, SGLN_DL),
    ),
    (
        "EQ_bizLocation=urn:epc:id:sgln:0012345.11111.0",
        lambda e: (
            (e.get("bizLocation") or {}).get("id")
            in ("urn:epc:id:sgln:0012345.11111.0", "https://id.gs1.org/414/0012345111112")
        ),
    ),
    (
        "EQ_transformationID=urn:epc:id:gdti:0614141.12345.400",
        lambda e: e.get("transformationID") == "urn:epc:id:gdti:0614141.12345.400",
    ),
    (
        "MATCH_epc=" + SGTIN_2017,
        lambda e: bool({SGTIN_2017, SGTIN_2017_DL} & set(epcs(e, "epcList", "childEPCs"))),
    ),
    (
        "MATCH_epc=" + SGTIN_2017_DL,  # the Digital Link of the same item
        lambda e: bool({SGTIN_2017, SGTIN_2017_DL} & set(epcs(e, "epcList", "childEPCs"))),
    ),
    (
        "MATCH_epc=urn:epc:idpat:sgtin:0614141.107346.*",
        lambda e: any(
            v.startswith("urn:epc:id:sgtin:0614141.107346.")
            or v.startswith("https://id.gs1.org/01/10614141073464/21/")
            for v in epcs(e, "epcList", "childEPCs")
        ),
    ),
    (
        "MATCH_parentID=urn:epc:id:sscc:0614141.1234567890",
        lambda e: (
            e.get("parentID")
            in ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908")
        ),
    ),
    (
        "MATCH_inputEPC=urn:epc:id:sgtin:4012345.011122.25",
        lambda e: "urn:epc:id:sgtin:4012345.011122.25" in epcs(e, "inputEPCList"),
    ),
    (
        "MATCH_outputEPC=urn:epc:idpat:sgtin:4012345.077889.*",
        lambda e: any(
            v.startswith("urn:epc:id:sgtin:4012345.077889.") for v in epcs(e, "outputEPCList")
        ),
    ),
    (
        "MATCH_anyEPC=urn:epc:id:sscc:0614141.1234567890",
        lambda e: (
            "urn:epc:id:sscc:0614141.1234567890"
            in epcs(e, "epcList", "childEPCs", "inputEPCList", "outputEPCList", "parentID")
            or "https://id.gs1.org/00/106141412345678908"
            in epcs(e, "epcList", "childEPCs", "inputEPCList", "outputEPCList", "parentID")
        ),
    ),
    (
        "MATCH_epcClass=urn:epc:class:lgtin:4012345.012345.998877",
        lambda e: bool(
            {
                "urn:epc:class:lgtin:4012345.012345.998877",
                "https://id.gs1.org/01/04012345123456/10/998877",
            }
            & set(classes(e, "quantityList", "childQuantityList"))
        ),
    ),
    (
        "MATCH_inputEPCClass=urn:epc:idpat:sgtin:4012345.055555.*",
        lambda e: any(
            c.startswith(
                ("urn:epc:class:lgtin:4012345.055555.", "urn:epc:idpat:sgtin:4012345.055555.")
            )
            for c in classes(e, "inputQuantityList")
        ),
    ),
    (
        "MATCH_anyEPCClass=urn:epc:idpat:sgtin:4012345.098765.*",
        lambda e: any(
            c.startswith(
                (
                    "urn:epc:class:lgtin:4012345.098765.",
                    "urn:epc:idpat:sgtin:4012345.098765.",
                    "https://id.gs1.org/01/04012345987652",  # the same GTIN (0 4012345 98765 2)
                )
            )
            for c in classes(
                e, "quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"
            )
        ),
    ),
    ("GE_quantity=100", lambda e: any(q >= 100 for q in quantities(e))),
    ("LT_quantity=10", lambda e: any(q < 10 for q in quantities(e))),
    ("EQ_quantity=200", lambda e: 200.0 in quantities(e)),
    (
        "EQ_eventID=ni:///sha-256;87b5f18a69993e1ddea8f0cf7e4b38a4fc33d8d00d5f1d2f67f4a6f1e0d4b17f?ver=CBV2.0",
        lambda e: (
            e["eventID"]
            == "ni:///sha-256;87b5f18a69993e1ddea8f0cf7e4b38a4fc33d8d00d5f1d2f67f4a6f1e0d4b17f?ver=CBV2.0"
        ),
    ),
    ("EXISTS_errorDeclaration=true", lambda e: "errorDeclaration" in e),
    (
        "GE_errorDeclarationTime=2020-01-15T00:00:00Z",
        lambda e: (
            "errorDeclaration" in e
            and instant(e["errorDeclaration"]["declarationTime"]) >= instant("2020-01-15T00:00:00Z")
        ),
    ),
    (
        "EQ_errorReason=incorrect_data",
        lambda e: (
            bare(
                (e.get("errorDeclaration") or {}).get("reason"),
                "urn:epcglobal:cbv:er:",
                "https://ref.gs1.org/cbv/ER-",
            )
            == "incorrect_data"
        ),
    ),
    (
        "EQ_bizTransaction_po=http://transaction.acme.com/po/12345678",
        lambda e: "http://transaction.acme.com/po/12345678" in typed(e, "bizTransaction", "po"),
    ),
    (
        "EQ_source_location=urn:epc:id:sgln:4012345.00225.0",
        lambda e: "urn:epc:id:sgln:4012345.00225.0" in typed(e, "source", "location"),
    ),
    (
        "EQ_destination_owning_party=urn:epc:id:pgln:0614141.00001",
        lambda e: "urn:epc:id:pgln:0614141.00001" in typed(e, "destination", "owning_party"),
    ),
    ("EXISTS_sensorElementList=true", lambda e: bool(e.get("sensorElementList"))),
    ("EQ_type=Temperature", lambda e: any(r.get("type") == "Temperature" for r in reports(e))),
    (
        "GE_value_CEL=20",
        lambda e: any(
            r.get("uom") == "CEL" and isinstance(r.get("value"), (int, float)) and r["value"] >= 20
            for r in reports(e)
        ),
    ),
    (
        "EQ_example:myField=Example of a vendor/user extension",
        lambda e: e.get("example:myField") == "Example of a vendor/user extension",
    ),
    ("EXISTS_example:myField", lambda e: "example:myField" in e),
    ("EXISTS_ILMD_cbvmda:lotNumber", lambda e: "cbvmda:lotNumber" in (e.get("ilmd") or {})),
    (
        "EQ_INNER_ext2:string=string",
        lambda e: any(
            isinstance(v, dict) and v.get("ext2:string") == "string"
            for k, v in e.items()
            if ":" in k
        ),
    ),
]


@pytest.mark.parametrize(("params", "oracle"), CASES, ids=[c[0][:60] for c in CASES])
def test_each_parameter_family(
    stored: Stored, params: str, oracle: Callable[[Event], bool]
) -> None:
    expected = [e for e in stored.events if oracle(e)]
    assert keys(stored.query(params + "&perPage=7")) == keys(expected)


def test_the_cases_are_not_vacuous(stored: Stored) -> None:
    """Most families select some but not all events (a query that matched nothing, or
    everything, would not show that the engine tells events apart)."""
    selective = [
        p for p, oracle in CASES if 0 < sum(map(oracle, stored.events)) < len(stored.events)
    ]
    assert len(selective) >= len(CASES) - 4, sorted(p for p, o in CASES if p not in selective)


def test_conditions_combine_with_and(stored: Stored) -> None:
    expected = [
        e
        for e in stored.events
        if e["type"] == "ObjectEvent" and biz_step(e) == "shipping" and e.get("action") == "OBSERVE"
    ]
    got = stored.query("eventType=ObjectEvent&EQ_bizStep=shipping&EQ_action=OBSERVE")
    assert keys(got) == keys(expected) and expected


def test_record_time_ranges(stored: Stored) -> None:
    times = sorted(e["recordTime"] for e in stored.events)
    middle = times[len(times) // 2]
    later = [e for e in stored.events if instant(e["recordTime"]) >= instant(middle)]
    earlier = [e for e in stored.events if instant(e["recordTime"]) < instant(middle)]
    assert keys(stored.query("GE_recordTime=" + middle)) == keys(later)
    assert keys(stored.query("LT_recordTime=" + middle)) == keys(earlier)


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_order_by_event_time(stored: Stored, direction: str) -> None:
    got = stored.query(f"orderBy=eventTime&orderDirection={direction}&perPage=9")
    moments = [instant(e["eventTime"]) for e in got]
    assert moments == sorted(moments, reverse=direction == "DESC")
    assert len(got) == len(stored.events)


def test_event_count_limit_takes_the_first_n(stored: Stored) -> None:
    got = stored.query("orderBy=eventTime&orderDirection=ASC&eventCountLimit=5&perPage=2")
    earliest = sorted(instant(e["eventTime"]) for e in stored.events)[:5]
    assert [instant(e["eventTime"]) for e in got] == earliest


def test_order_by_an_extension_field(stored: Stored) -> None:
    got = stored.query("EXISTS_ext1:int&orderBy=ext1:int&orderDirection=ASC")
    values = [float(e["ext1:int"]) for e in got]
    assert values == sorted(values) and values


def test_max_event_count(stored: Stored) -> None:
    n = len([e for e in stored.events if e["type"] == "AggregationEvent"])
    assert len(stored.query(f"eventType=AggregationEvent&maxEventCount={n}")) == n
    response = stored.client.get(f"/events?eventType=AggregationEvent&maxEventCount={n - 1}")
    assert response.status_code == 413
    assert response.json()["type"] == "epcisException:QueryTooLargeException"


def test_extension_prefix_from_the_gs1_extensions_header(stored: Stored) -> None:
    expected = [e for e in stored.events if "example:myField" in e]
    got = stored.query("EXISTS_ns:myField", **{"GS1-Extensions": "ns=http://ns.example.com/epcis/"})
    assert keys(got) == keys(expected) and expected


def test_results_in_xml(stored: Stored) -> None:
    response = stored.client.get(
        "/events?eventType=ObjectEvent&perPage=500", headers={"Accept": "application/xml"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    objects = [e for e in stored.events if e["type"] == "ObjectEvent"]
    assert response.text.count("<ObjectEvent>") == len(objects)
