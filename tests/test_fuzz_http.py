"""Fuzzing the capture and query endpoints of a real app (hypothesis, bounded budget).

Documents are generated valid (``tests.strategies``), then broken the ways hostile or buggy
clients break them: a value swapped for a huge number, ``NaN``, a deep nesting, a long or
odd string, a key repeated with another value, bytes cut off or flipped, an XML rendering
with a mangled element. Queries mix every parameter family with hostile values. Whatever
comes in, the server must answer without a 5xx, and a capture it refuses must leave the
ledger exactly as it was, while one it takes under ``rollback`` stores every event of the
document (no partial document is ever stored).

The wide run is on SQLite; PostgreSQL gets a small one.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epcis.document import convert
from tests import strategies
from tests.conftest import postgres_database
from tests.test_http_capture import JSONLD, XML, Api, open_api

HOSTILE_VALUES = st.one_of(
    st.just("9" * 5000),
    st.just("1e999"),
    st.just("NaN"),
    st.just("-Infinity"),
    st.just("[" * 300 + "]" * 300),
    st.just('"' + "x" * 70_000 + '"'),
    st.just('"urn:epc:id:sgtin:0614141.107346.' + "A" * 3000 + '"'),
    st.just('"\\ud800"'),
    st.just("null"),
    st.just("{}"),
    st.just("[]"),
    st.just("true"),
    st.just("-0"),
    st.just("1.5e-400"),
    st.text(max_size=40).map(json.dumps),
    st.integers().map(str),
)


@st.composite
def broken_json(draw: st.DrawFn) -> bytes:
    """A valid document (or bare event), with one to three hostile edits."""
    doc: dict[str, Any] = draw(strategies.documents())
    body: Any = doc if draw(st.booleans()) else doc["epcisBody"]["eventList"][0]
    text = json.dumps(body)
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.sampled_from(["value", "repeat", "cut", "flip", "delete"]))
        if edit == "value":
            # swap the value after a random key for a hostile literal
            colons = [i for i, c in enumerate(text) if c == ":" and text[i - 1] == '"']
            if colons:
                at = rng.choice(colons) + 1
                end = _value_end(text, at)
                text = text[:at] + " " + draw(HOSTILE_VALUES) + text[end:]
        elif edit == "repeat":
            keys = [i for i, c in enumerate(text) if c == "{"]
            if not keys:
                continue
            at = rng.choice(keys) + 1
            key = draw(st.sampled_from(["type", "action", "eventID", "epcList", "bizStep"]))
            text = f'{text[:at]}"{key}": {draw(HOSTILE_VALUES)}, {text[at:]}'
        elif not text:
            continue
        elif edit == "cut":
            text = text[: rng.randrange(len(text))]
        elif edit == "flip":
            at = rng.randrange(len(text))
            text = text[:at] + chr(rng.randrange(32, 0x3000)) + text[at + 1 :]
        else:
            body_copy = json.loads(json.dumps(body))
            _delete_somewhere(body_copy, rng)
            text = json.dumps(body_copy)
    return text.encode("utf-8", "surrogatepass")


def _value_end(text: str, start: int) -> int:
    """Where the JSON value starting at ``start`` ends (a rough scan: good enough to cut)."""
    depth = 0
    in_string = False
    i = start
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            if depth == 0:
                return i
            depth -= 1
        elif c == "," and depth == 0:
            return i
        i += 1
    return i


def _delete_somewhere(node: Any, rng: random.Random) -> None:
    while isinstance(node, dict | list) and node:
        if isinstance(node, dict):
            key = rng.choice(list(node))
            if rng.random() < 0.4 or not isinstance(node[key], dict | list):
                del node[key]
                return
            node = node[key]
        else:
            index = rng.randrange(len(node))
            if rng.random() < 0.4 or not isinstance(node[index], dict | list):
                del node[index]
                return
            node = node[index]


@st.composite
def broken_xml(draw: st.DrawFn) -> bytes:
    """A valid document in XML, with an element's text or name mangled, or bytes cut."""
    text = convert(draw(strategies.documents()), "xml").decode()
    rng = random.Random(draw(st.integers(0, 2**32)))
    edit = draw(st.sampled_from(["text", "cut", "name", "entity"]))
    if edit == "text":
        closers = [i for i in range(len(text)) if text.startswith("</", i)]
        at = rng.choice(closers)
        start = text.rfind(">", 0, at) + 1
        hostile = draw(st.sampled_from(["9" * 5000, "1e999", "NaN", "x" * 70_000, "&lt;"]))
        text = text[:start] + hostile + text[at:]
    elif edit == "cut":
        text = text[: rng.randrange(len(text))]
    elif edit == "name":
        opens = [i for i in range(len(text)) if text[i] == "<" and text[i + 1 : i + 2].isalpha()]
        at = rng.choice(opens) + 1
        text = text[:at] + "Bogus" + text[at:]
    else:
        text = text.replace("?>", '?><!DOCTYPE d [<!ENTITY e "x">]>', 1)
    return text.encode()


QUERY_NAMES = [
    "eventType",
    "GE_eventTime",
    "LT_recordTime",
    "EQ_action",
    "EQ_bizStep",
    "EQ_disposition",
    "EQ_readPoint",
    "WD_bizLocation",
    "MATCH_epc",
    "MATCH_anyEPC",
    "MATCH_epcClass",
    "EQ_quantity",
    "GT_quantity_KGM",
    "EQ_eventID",
    "EXISTS_errorDeclaration",
    "EQ_bizTransaction_po",
    "EQ_source_owning_party",
    "EQ_example:ward",
    "GT_INNER_ILMD_example:n",
    "orderBy",
    "orderDirection",
    "eventCountLimit",
    "maxEventCount",
    "perPage",
    "nextPageToken",
    "HASATTR_readPoint",
    "wait_for",
    "as_of",
]
QUERY_VALUES = st.one_of(
    st.sampled_from(
        [
            "ObjectEvent",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "OBSERVE",
            "receiving",
            "urn:epc:idpat:sgtin:0614141.*.*",
            "urn:epc:id:sgtin:0614141.107346.1",
            "9" * 5000,
            "1e999",
            "NaN",
            "-1",
            "x" * 5000,
            "a|b||c",
            "%00",
            "eventTime",
            "ASC",
        ]
    ),
    st.text(max_size=30),
)
QUERIES = st.lists(
    st.tuples(st.one_of(st.sampled_from(QUERY_NAMES), st.text(max_size=20)), QUERY_VALUES),
    max_size=5,
)


def post_and_check(api: Api, path: str, body: bytes, headers: dict[str, str]) -> None:
    before = api.state()
    response = api.client.post(path, content=body, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text[:2000], body[:2000])
    assert len(response.content) < 256 * 1024, "the answer amplifies the request"
    if response.status_code >= 400:
        (head, jobs), (head_before, jobs_before) = api.state(), before
        assert head == head_before, ("a refused capture stored events", body[:2000])
        # a 409 (rollback, an eventID of a different event) keeps its failed job, nothing else
        expected_jobs = len(jobs_before) + (response.status_code == 409)
        assert len(jobs) == expected_jobs, ("a refused capture left a job", body[:2000])
        return
    if path == "/capture":
        job = api.job(response)
        statuses = {o["status"] for o in job["outcomes"]}
        assert statuses <= {"stored", "already-stored"}, ("partial rollback capture", job)


# CI runs a fixed sample (a red CI should mean a change broke something, not that the
# fuzzer got lucky); elsewhere every run explores new inputs. TRACECODE_FUZZ_SCALE widens
# the budget for a longer hunt.
_SCALE = int(os.environ.get("TRACECODE_FUZZ_SCALE", "1"))
_WIDE = settings(
    max_examples=120 * _SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
    derandomize=os.environ.get("CI") == "true",
)
_SMALL = settings(_WIDE, max_examples=40 * _SCALE)
_QUERIES = settings(_WIDE, max_examples=300 * _SCALE)


@pytest.fixture(scope="module")
def sqlite_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path = tmp_path_factory.mktemp("fuzz") / "ledger.db"
    with open_api(f"sqlite:///{path}", max_events=50, max_bytes=1024 * 1024) as api:
        yield api


@_WIDE
@given(body=broken_json(), path=st.sampled_from(["/capture", "/events"]))
def test_broken_json_never_breaks_the_server(sqlite_api: Api, body: bytes, path: str) -> None:
    post_and_check(sqlite_api, path, body, JSONLD)


@_WIDE
@given(body=broken_xml(), path=st.sampled_from(["/capture", "/events"]))
def test_broken_xml_never_breaks_the_server(sqlite_api: Api, body: bytes, path: str) -> None:
    post_and_check(sqlite_api, path, body, XML)


@_QUERIES
@given(params=QUERIES, path=st.sampled_from(["/events", "/epcs", "/bizSteps/receiving/events"]))
def test_hostile_queries_never_break_the_server(
    sqlite_api: Api, params: list[tuple[str, str]], path: str
) -> None:
    response = sqlite_api.client.get(path, params=params)
    assert response.status_code < 500, (params, response.text[:2000])
    assert len(response.content) < 1024 * 1024


@pytest.fixture(scope="module")
def postgres_api() -> Iterator[Api]:
    with postgres_database() as url, open_api(url, max_events=50, max_bytes=1024 * 1024) as api:
        yield api


@_SMALL
@given(body=broken_json(), params=QUERIES)
def test_postgres_fuzz(postgres_api: Api, body: bytes, params: list[tuple[str, str]]) -> None:
    post_and_check(postgres_api, "/capture", body, JSONLD)
    response = postgres_api.client.get("/events", params=params)
    assert response.status_code < 500, (params, response.text[:2000])
